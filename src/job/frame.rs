//! Optimising one frame of a clip: the start image, the objective with its
//! temporal terms, and the guard against a loss that turns NaN or infinite
//! (retried from the content frame, then with a shorter first step; a broken
//! frame is never returned).
use std::ops::ControlFlow;

use tch::Tensor;

use crate::config::{InitKind, JobConfig};
use crate::error::{Error, Result};
use crate::losses::TemporalLoss;
use crate::stylize::{IterateRecord, Schedule, Stylized, Stylizer};
use crate::temporal::{FlowPair, History};

use super::report::Retry;
use super::setup::{initial_image, schedule};

/// The attempts at a frame: its own start, then the content frame, then the
/// content frame with a first step a tenth as long.
const ATTEMPTS: [(Option<InitKind>, f64); 3] = [
    (None, 1.0),
    (Some(InitKind::Content), 1.0),
    (Some(InitKind::Content), 0.1),
];

/// A test hook: says whether to poison the start image of (frame, attempt)
/// with NaN, to exercise the retry path.
pub type StartFault = fn(usize, usize) -> bool;

/// The parts of a frame's optimisation that stay fixed for a job.
pub struct FrameOptimiser<'a> {
    pub cfg: &'a JobConfig,
    pub stylizer: &'a Stylizer,
    pub input: String,
    pub fault: Option<StartFault>,
}

/// A finished frame.
pub struct Optimised {
    pub result: Stylized,
    pub init: InitKind,
    pub retries: Vec<Retry>,
}

impl FrameOptimiser<'_> {
    /// Optimises frame `index` (content 1 x 3 x H x W in [0, 1]); `on_iter`
    /// sees every iteration and may stop it.
    pub fn run(
        &self,
        index: usize,
        content: &Tensor,
        history: &History,
        pairs: &[FlowPair],
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Result<Optimised> {
        let first = history.is_empty();
        let kind = if first {
            self.cfg.run.init
        } else {
            self.cfg.run.frame_init
        };
        let objective = self.objective(content, history, pairs);
        let sched = schedule(self.cfg, first);
        let mut retries = Vec::new();
        for (attempt, &(start, step)) in ATTEMPTS.iter().enumerate() {
            let init_kind = start.unwrap_or(kind);
            let init = self.start_image(init_kind, content, history, pairs, index, attempt);
            let result =
                self.stylizer
                    .run(&objective, &init, &shorter(&sched, step), &mut *on_iter);
            if result.losses.total.is_finite() && all_finite(&result.image) {
                return Ok(Optimised {
                    result,
                    init: init_kind,
                    retries,
                });
            }
            retries.push(Retry {
                init: init_kind.name(),
                loss: result.losses.total,
                learning_rate: step,
            });
        }
        Err(Error::NonFinite {
            input: self.input.clone(),
            frame: index,
            value: retries.last().map_or(f64::NAN, |r| r.loss),
            attempts: retries.len(),
        })
    }

    fn objective(
        &self,
        content: &Tensor,
        history: &History,
        pairs: &[FlowPair],
    ) -> crate::losses::SumLoss {
        let mut objective = self.stylizer.objective(content);
        let weight = self.cfg.loss.temporal_weight;
        if weight > 0.0 {
            for t in history.temporal_targets(pairs, content.device()) {
                // In the network's pixel units (0-255 for Caffe weights), as
                // artistic-videos, so its weights carry over.
                let target = self.stylizer.to_pixels(&t.warped);
                objective.push(
                    weight,
                    TemporalLoss {
                        target,
                        mask: t.mask,
                    },
                );
            }
        }
        objective
    }

    fn start_image(
        &self,
        kind: InitKind,
        content: &Tensor,
        history: &History,
        pairs: &[FlowPair],
        index: usize,
        attempt: usize,
    ) -> Tensor {
        let init = history
            .start_image(kind, pairs, content)
            .unwrap_or_else(|| initial_image(kind, content));
        match self.fault {
            Some(poison) if poison(index, attempt) => init.full_like(f64::NAN),
            _ => init,
        }
    }
}

fn shorter(sched: &Schedule, step: f64) -> Schedule {
    let mut s = sched.clone();
    s.lbfgs.learning_rate *= step;
    s
}

fn all_finite(t: &Tensor) -> bool {
    t.isfinite().all().int64_value(&[]) != 0
}
