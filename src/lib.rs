//! vstyle: neural style transfer (Gatys et al.) for images and video clips.
//!
//! Layers, bottom up (a module uses only those below it; see
//! ARCHITECTURE.md):
//! * base: `config` (job files), `device`, `error`, `files` (atomic writes),
//!   `imaging` (pixels and tensors);
//! * media: `video` (decoding, encoding, image sequences and files, audio copy);
//! * temporal: `temporal` (optical flow, masks, warping, start images,
//!   temporal targets, the warping-error metric);
//! * stylize: `model` (networks and weights), `losses`, `optimizer`
//!   (L-BFGS), `stylize` (one picture's optimisation);
//! * job: `job` (the video job and its stages, shards and their join, still
//!   images, evaluation);
//! * farm: `farm` (batch jobs, status, local worker processes, Slurm scripts,
//!   the batch index page); `preview` (contact sheets of settings);
//! * `charts`: plotters charts and text (the HTML report, the preview
//!   sheet, `plot`: the chart of `vstyle eval`).
pub mod charts;
pub mod config;
pub mod device;
pub mod error;
pub mod farm;
pub mod files;
pub mod imaging;
pub mod job;
pub mod losses;
pub mod memory;
pub mod model;
pub mod optimizer;
pub mod paths;
pub mod plot;
pub mod preview;
pub mod stylize;
pub mod temporal;
pub mod tiles;
pub mod video;

pub use error::{Error, Result};
