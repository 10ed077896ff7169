//! Jobs: what a user asks vstyle to do, from a config to files on disk.
//! Five folders, each one concern, each using only those listed before it:
//!
//! * [`report`]: the JSON report, the HTML page beside it with its
//!   pictures, and `vstyle eval`'s warping error.
//! * [`store`]: the work on disk: output paths and their collisions with
//!   inputs, the work directory with its lock and its inputs' identity.
//! * [`shards`]: how a clip is split for parallel runs (`plan`: shards,
//!   their layout and the part one run covers; `cuts`: where they meet).
//! * [`pipeline`]: one run: a clip through decoder, flow, optimiser and
//!   encoder stages ([`VideoJob`]), a still ([`pipeline::still`]), passes,
//!   coarse to fine and the set-up every job loads first.
//! * [`seams`]: `vstyle join`: shards joined, their seams repaired.
pub mod pipeline;
pub mod report;
pub mod seams;
pub mod shards;
pub mod store;

pub use pipeline::event::Event;
pub use pipeline::frame::{StartFault, CARRY_SPAN};
pub use pipeline::setup::{initial_image, schedule, Setup};
pub use pipeline::video_job::VideoJob;
pub use report::{
    verified_done, Complete, Direction, FrameReport, JobReport, PassReport, Retry, SeamReport,
    Totals,
};
pub use shards::plan::{Layout, Shard};
pub use store::outputs::{inputs, part_path, Outputs};
pub use store::workdir::{fingerprint, pass_dir, FrameDir, WorkDir};
