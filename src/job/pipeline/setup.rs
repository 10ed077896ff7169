//! What every job sets up from its config before optimising: the device, the
//! network, the style images and the L-BFGS schedule.
use std::rc::Rc;

use tch::{Device, Kind, Tensor};

use crate::config::{InitKind, JobConfig, LineSearchKind};
use crate::device::select_device;
use crate::error::{catch_torch, Result};
use crate::model::Backbone;
use crate::optimizer::{LbfgsOptions, LineSearch};
use crate::stylize::{Schedule, StyleImage, Stylizer};
use crate::video::load_image;

/// Device, network and style images of a job.
pub struct Setup {
    pub device: Device,
    pub backbone: Rc<Backbone>,
    pub styles: Vec<StyleImage>,
}

impl Setup {
    /// Reads the style images first (cheap, and the commonest mistake), then
    /// the weights.
    pub fn new(cfg: &JobConfig) -> Result<Self> {
        let styles = cfg
            .style
            .images
            .iter()
            .zip(cfg.blend_weights())
            .map(|(p, weight)| {
                Ok(StyleImage {
                    image: load_image(p)?,
                    weight,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let device = select_device(&cfg.run.device)?;
        if cfg.run.threads > 0 {
            tch::set_num_threads(cfg.run.threads as i32);
        }
        tch::manual_seed(cfg.run.seed);
        if device.is_cuda() {
            // Every frame of a job has one size (a few more for coarse to
            // fine): cuDNN's autotuner pays for its first search many times.
            tch::Cuda::cudnn_set_benchmark(true);
        }
        let weights = cfg.model.weights_path();
        let what = weights.display().to_string();
        let backbone = catch_torch(&what, || {
            Backbone::load(cfg.model.name, &weights, cfg.model.pooling(), device)
        })??;
        Ok(Self {
            device,
            backbone: Rc::new(backbone),
            styles,
        })
    }
}

impl Setup {
    /// The job's fixed objective parts for pictures of `width` x `height`
    /// (`what` names them in the error when they are too small).
    pub fn stylizer(
        &self,
        cfg: &JobConfig,
        what: &str,
        width: u32,
        height: u32,
    ) -> Result<Stylizer> {
        let stylizer = catch_torch(&format!("{what}: style targets"), || {
            Stylizer::new(
                self.backbone.clone(),
                &cfg.model,
                &cfg.loss,
                &self.styles,
                (cfg.style.scale, width.max(height)),
                crate::memory::style_pixels_cap(cfg, self.backbone.model()),
            )
        })??;
        self.backbone
            .check_size(what, width, height, stylizer.wanted())?;
        Ok(stylizer)
    }
}

/// The L-BFGS schedule for the first picture (`first`) or a later frame.
pub fn schedule(cfg: &JobConfig, first: bool) -> Schedule {
    let o = &cfg.optimizer;
    let max_iter = if first {
        o.first_frame_iterations
    } else {
        o.frame_iterations
    };
    schedule_for(cfg, first, max_iter)
}

/// As [`schedule`], with `max_iter` iterations.
pub fn schedule_for(cfg: &JobConfig, first: bool, max_iter: usize) -> Schedule {
    let o = &cfg.optimizer;
    Schedule {
        lbfgs: LbfgsOptions {
            max_iter,
            // PyTorch's 5/4 of the iterations, plus room for the first line
            // search, which starts from a tiny step and brackets outwards.
            max_eval: Some(o.max_evaluations.unwrap_or(max_iter * 5 / 4 + 25)),
            history_size: o.history_size,
            tolerance_grad: o.tolerance_grad,
            tolerance_change: o.tolerance_change,
            learning_rate: 1.0,
            // The stylizer sets it from the network's pixel scale.
            min_first_move: None,
            line_search: match o.line_search {
                LineSearchKind::StrongWolfe => LineSearch::StrongWolfe,
                LineSearchKind::None => LineSearch::None,
            },
        },
        // The first picture runs its full budget, like neural-style's num_iterations.
        stop_tolerance: if first { 0.0 } else { o.stop_tolerance },
        stop_window: o.stop_window,
    }
}

/// A start image that does not depend on a previous frame.
pub fn initial_image(kind: InitKind, content: &Tensor) -> Tensor {
    match kind {
        InitKind::Noise => {
            // Mean colour of the content plus noise, like neural-style's small
            // noise around the mean pixel.
            let mean = content.mean_dim([2i64, 3].as_slice(), true, Kind::Float);
            (content.randn_like() * 0.1 + mean).clamp(0.0, 1.0)
        }
        _ => content.copy(),
    }
}
