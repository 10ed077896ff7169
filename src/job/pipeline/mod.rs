//! One run of a job. A clip ([`video_job::VideoJob`]) streams through
//! decoder, flow, optimiser and encoder threads (`stages`), pass 1 on the
//! caller's thread (`frame_loop`), one frame's optimisation at a time
//! (`frame`), warm frames held to their shot's style level (`hold`); later
//! passes (`passes`); the video made from frame files (`assemble`). A
//! still is `still`. Every job first loads `setup` (device, network, style
//! targets, schedule); `scales` paints a first picture coarse to fine;
//! `tiled` paints a picture too large for the memory budget in tiles.
pub(crate) mod assemble;
pub mod event;
pub mod frame;
pub(crate) mod frame_loop;
pub(crate) mod hold;
pub(crate) mod passes;
pub mod scales;
pub mod setup;
pub(crate) mod stages;
pub mod still;
pub mod tiled;
pub mod video_job;
