//! vstyle: neural style transfer (Gatys et al.) for images and video clips.
//!
//! Module map: `config` (job files), `device`, `model` (networks and
//! weights), `losses`, `optimizer` (L-BFGS), `stylize` (one picture's
//! optimisation), `imaging` (image files and tensors), `job` (set-up shared
//! by jobs), `still` (the image job).
pub mod config;
pub mod device;
pub mod error;
pub mod flow;
pub mod imaging;
pub mod job;
pub mod losses;
pub mod metrics;
pub mod model;
pub mod optimizer;
pub mod pipeline;
pub mod plot;
pub mod still;
pub mod stylize;
pub mod video;

pub use error::{Error, Result};
