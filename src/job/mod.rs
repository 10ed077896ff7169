//! Jobs: what a user asks vstyle to do, from a config to files on disk.
//!
//! * [`VideoJob`] (`video_job`): a clip, streamed through decoder, flow,
//!   optimiser and encoder stages (`stages`), one frame at a time (`frame`),
//!   holding warm frames to their shot's style level (`hold`),
//!   with a resumable, locked work directory (`workdir`, `lock`, `inputs`), its output paths
//!   (`outputs`), a JSON report (`report`) and an HTML one beside it
//!   (`html`, with its pictures from `report_files`).
//! * [`still`]: one picture.
//! * [`eval`]: the warping error of a finished clip against its input.
//! * `setup`: what every job loads first (device, network, style images)
//!   and the L-BFGS schedule; `scales`: coarse to fine for a first picture.
mod assemble;
pub mod collisions;
mod crossfade;
mod cuts;
pub mod eval;
mod frame;
mod frame_loop;
mod hold;
pub mod html;
pub mod inputs;
pub mod join;
pub mod lock;
mod outputs;
mod passes;
mod report;
mod report_files;
pub mod scales;
mod setup;
pub mod shard;
mod stages;
pub mod still;
mod video_job;
mod workdir;

pub use frame::{StartFault, CARRY_SPAN};
pub use outputs::{inputs, part_path, Outputs};
pub use passes::Direction;
pub use report::{
    verified_done, Complete, FrameReport, JobReport, PassReport, Retry, SeamReport, Totals,
};
pub use setup::{initial_image, schedule, Setup};
pub use shard::{Layout, Shard};
pub use video_job::{Event, VideoJob};
pub use workdir::{fingerprint, pass_dir, FrameDir, WorkDir};
