//! The still-image job: one content picture, painted and written atomically.
use std::ops::ControlFlow;
use std::path::Path;

use super::scales::Coarse;
use super::setup::{initial_image, schedule, Setup};
use super::tiled::{self, Picture};
use crate::config::JobConfig;
use crate::error::{catch_torch, Result};
use crate::files::check_writable;
use crate::imaging::{self, to_image, to_tensor};
use crate::job::store::collisions::Target;
use crate::losses::LossValues;
use crate::memory::Shape;
use crate::optimizer::StopReason;
use crate::stylize::IterateRecord;
use crate::tiles::Grid;
use crate::video::{load_image, write_image_atomic};

/// What a still-image run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageSummary {
    pub width: u32,
    pub height: u32,
    pub iterations: usize,
    pub evaluations: usize,
    /// Losses at the start image and at the result.
    pub initial: LossValues,
    pub last: LossValues,
    pub seconds: f64,
    pub device: String,
    /// The tiles it was painted in, when too large to paint whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tiles: Option<Grid>,
    /// Painted in tiles: how visible their borders are (about 1: not at all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seam_ratio: Option<f64>,
    #[serde(skip)]
    pub reason: Option<StopReason>,
}

/// Paints `content` in the configured style and writes `output`.
pub fn stylize_image(
    cfg: &JobConfig,
    content: &Path,
    output: &Path,
    mut on_iter: impl FnMut(&IterateRecord) -> ControlFlow<()>,
) -> Result<ImageSummary> {
    let mut claims = crate::job::store::outputs::inputs(cfg);
    claims
        .read("content image", content)
        .write("output image", Target::File(output.to_path_buf()))
        .check()?;
    let mut picture = load_image(content)?;
    if let Some(size) = cfg.input.size {
        picture = imaging::resize_longest(&picture, size);
    }
    let (w, h) = picture.dimensions();
    let what = content.display().to_string();
    let shape = Shape::of(cfg, w, h, false);
    let grid = crate::memory::check(cfg, &what, &shape)?.tiles;
    check_writable(output, true)?;
    let setup = Setup::new(cfg)?;
    let stylizer = setup.stylizer(cfg, &what, w, h)?;
    let content_t = to_tensor(&picture, setup.device);
    let whole = Picture {
        content: &content_t,
        targets: &[],
        temporal_weight: cfg.loss.temporal_weight,
    };
    let init = initial_image(cfg.run.init, &content_t);
    let initial = tiled::evaluate(&stylizer, grid.as_ref(), &whole, &init);
    let sched = schedule(cfg, true);
    let started = std::time::Instant::now();
    let coarse = Coarse::new(&setup, cfg, &what, &shape)?;
    let (init, spent) = coarse.start(cfg, &what, &content_t, &init, &mut on_iter)?;
    let result = catch_torch(&what, || {
        tiled::run(
            &stylizer,
            grid.as_ref(),
            &whole,
            &init,
            &sched,
            &mut on_iter,
        )
    })?;
    let mut out = result.image;
    if cfg.style.original_colors {
        out = imaging::original_colors(&content_t, &out);
    }
    write_image_atomic(output, &to_image(&out))?;
    Ok(ImageSummary {
        width: w,
        height: h,
        iterations: result.iterations + spent.iterations,
        evaluations: result.evaluations + spent.evaluations,
        initial,
        last: result.losses,
        seconds: started.elapsed().as_secs_f64(),
        device: format!("{:?}", setup.device),
        tiles: grid,
        seam_ratio: result.seam_ratio,
        reason: Some(result.reason),
    })
}
