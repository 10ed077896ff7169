//! Coarse to fine (crowsonkb/style-transfer-pytorch): a picture is painted first at a small
//! size, then at sizes a factor √2 apart, each start the bicubic upsampling of the result
//! below it; the full size then only refines. Most of the iterations run where an
//! evaluation is cheap, and the strokes are laid out at the scale the network sees best.
use std::ops::ControlFlow;

use tch::Tensor;

use crate::config::JobConfig;
use crate::error::{catch_torch, Result};
use crate::imaging::fit_longest;
use crate::memory::Shape;
use crate::stylize::{IterateRecord, Schedule, Stylized, Stylizer};
use crate::temporal::TemporalTarget;
use crate::tiles::Grid;

use super::setup::{schedule_for, Setup};
use super::tiled::{self, Picture};

/// The longest sides below `full`, from `min` up by √2 (the last one within a step of
/// `full`); empty when `min` is not below `full`.
pub fn coarse_sizes(min: u32, full: u32) -> Vec<u32> {
    let mut sizes = Vec::new();
    let mut s = min as f64;
    while (s.round() as u32) < full {
        sizes.push(s.round() as u32);
        s *= std::f64::consts::SQRT_2;
    }
    sizes
}

/// A picture `t` (1 x 3 x H x W) at `w` x `h`: bicubic, antialiased when it shrinks.
pub fn resample(t: &Tensor, w: u32, h: u32) -> Tensor {
    let size = [h as i64, w as i64];
    let shrinks = t.size()[3] > w as i64;
    let out = if shrinks {
        t.internal_upsample_bicubic2d_aa(size, false, None, None)
    } else {
        t.upsample_bicubic2d(size, false, None, None)
    };
    out.clamp(0.0, 1.0)
}

/// One coarse size: its picture size, stylizer, and the tiles it is
/// painted in when it does not fit the memory budget whole.
struct Level {
    w: u32,
    h: u32,
    stylizer: Stylizer,
    tiles: Option<Grid>,
}

/// The stylizers of the coarse sizes of a picture, made once per job.
pub struct Coarse {
    /// Smallest first.
    levels: Vec<Level>,
}

/// What the coarse sizes spent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Spent {
    pub iterations: usize,
    pub evaluations: usize,
    pub seconds: f64,
}

impl Spent {
    /// Counts what `done` spent.
    pub fn add(&mut self, done: &Stylized) {
        self.iterations += done.iterations;
        self.evaluations += done.evaluations;
        self.seconds += done.seconds;
    }
}

impl Coarse {
    /// The levels `optimizer.min_size` asks for (none when it is 0 or not
    /// below the size of `shape`, the full-size job).
    pub fn new(setup: &Setup, cfg: &JobConfig, what: &str, shape: &Shape) -> Result<Self> {
        let (width, height) = (shape.width, shape.height);
        let sizes = match cfg.optimizer.min_size {
            0 => Vec::new(),
            min => coarse_sizes(min, width.max(height)),
        };
        let levels = sizes
            .into_iter()
            .map(|s| {
                let (w, h) = fit_longest(width, height, s);
                Ok(Level {
                    w,
                    h,
                    stylizer: setup.stylizer(cfg, what, w, h)?,
                    tiles: crate::memory::tiles_at(cfg, shape, w, h),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Coarse { levels })
    }

    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Paints `content` from `init` (both full size, in [0, 1]) through the coarse sizes,
    /// `optimizer.scale_iterations` each (default: the network's), and returns the full-size start: the last result
    /// upsampled. `on_iter` sees every iteration.
    pub fn start(
        &self,
        cfg: &JobConfig,
        what: &str,
        content: &Tensor,
        init: &Tensor,
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Result<(Tensor, Spent)> {
        let (full_h, full_w) = (content.size()[2] as u32, content.size()[3] as u32);
        let sched = schedule_for(cfg, true, cfg.optimizer.scale_iterations(cfg.model.name));
        let mut image = init.shallow_clone();
        let mut spent = Spent::default();
        for level in &self.levels {
            let (w, h) = (level.w, level.h);
            let here = resample(&content.detach(), w, h);
            let picture = Picture {
                content: &here,
                targets: &[],
                temporal_weight: cfg.loss.temporal_weight,
            };
            let start = resample(&image, w, h);
            let done = catch_torch(what, || {
                level.paint(&picture, &start, &sched, &mut *on_iter)
            })?;
            spent.add(&done);
            image = done.image;
        }
        Ok((resample(&image, full_w, full_h), spent))
    }

    /// A warm frame's start, improved at the coarse size nearest half its own
    /// (a quarter of the pixels): `optimizer.frame_scale_iterations` there from
    /// `init` shrunk, tied to the temporal `targets` shrunk, then the change
    /// they made, enlarged, added to `init`, so that the detail the warp
    /// carried stays. `init` unchanged without a coarse size.
    pub fn warm_start(
        &self,
        cfg: &JobConfig,
        what: &str,
        content: &Tensor,
        init: &Tensor,
        targets: &[TemporalTarget],
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Result<(Tensor, Spent)> {
        let (full_h, full_w) = (content.size()[2] as u32, content.size()[3] as u32);
        let half = full_w.max(full_h) / 2;
        let level = self
            .levels
            .iter()
            .min_by_key(|l| l.w.max(l.h).abs_diff(half));
        let Some(level) = level else {
            return Ok((init.shallow_clone(), Spent::default()));
        };
        let (w, h) = (level.w, level.h);
        let here = resample(&content.detach(), w, h);
        let targets: Vec<TemporalTarget> = targets
            .iter()
            .map(|t| TemporalTarget {
                warped: resample(&t.warped, w, h),
                mask: resample(&t.mask, w, h),
            })
            .collect();
        let picture = Picture {
            content: &here,
            targets: &targets,
            temporal_weight: cfg.loss.temporal_weight,
        };
        let sched = schedule_for(cfg, false, cfg.optimizer.frame_scale_iterations);
        let start = resample(init, w, h);
        let done = catch_torch(what, || {
            level.paint(&picture, &start, &sched, &mut *on_iter)
        })?;
        // Not `resample`, which clamps to [0, 1]: a change is signed.
        let change = (&done.image - &start).upsample_bicubic2d(
            [full_h as i64, full_w as i64],
            false,
            None,
            None,
        );
        let mut spent = Spent::default();
        spent.add(&done);
        Ok(((init + change).clamp(0.0, 1.0), spent))
    }
}

impl Level {
    fn paint(
        &self,
        picture: &Picture,
        start: &Tensor,
        sched: &Schedule,
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Stylized {
        tiled::run(
            &self.stylizer,
            self.tiles.as_ref(),
            picture,
            start,
            sched,
            on_iter,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_step_by_root_two_below_the_full_size() {
        assert_eq!(coarse_sizes(128, 512), vec![128, 181, 256, 362]);
        assert_eq!(coarse_sizes(128, 256), vec![128, 181]);
        assert_eq!(coarse_sizes(128, 200), vec![128, 181]);
        assert!(coarse_sizes(128, 128).is_empty());
        assert!(coarse_sizes(256, 128).is_empty());
    }

    #[test]
    fn resampling_keeps_the_range_and_a_flat_picture_flat() {
        let flat = Tensor::full([1, 3, 40, 60], 0.25, (tch::Kind::Float, tch::Device::Cpu));
        for (w, h) in [(30, 20), (90, 60)] {
            let r = resample(&flat, w, h);
            assert_eq!(r.size(), vec![1, 3, h as i64, w as i64]);
            let err = (r - 0.25).abs().max().double_value(&[]);
            assert!(err < 1e-5, "{err}");
        }
    }
}
