//! Frame-to-frame coherence, in one place: which earlier frames a frame is
//! tied to (short and long term), the optical flow and reliability masks of
//! those pairs, warping stylized frames along them, the start image of a
//! frame, the targets of the temporal loss, and the warping-error metric.
//!
//! Works on pixels (`RgbImage`, [`flow::Plane`]) and tensors; knows nothing
//! of networks, files or jobs.
pub mod flow;
pub mod metric;

use std::collections::VecDeque;

use image::RgbImage;
use tch::{Device, Tensor};

use crate::config::{InitKind, JobConfig};
use crate::imaging::rgb_f32_to_tensor;
use flow::{FlowField, FlowOptions, Plane};

/// What the temporal side of a job needs, read off its config.
#[derive(Debug, Clone)]
pub struct TemporalPlan {
    /// Offsets k of the frames t-k a frame is tied to: 1, then the long-term ones.
    pub offsets: Vec<usize>,
    /// Whether any flow is needed (warped starts or a temporal loss).
    pub flow: bool,
    /// Weight of each temporal term (0 = no temporal loss).
    pub weight: f64,
}

impl TemporalPlan {
    pub fn of(cfg: &JobConfig) -> Self {
        let weight = cfg.loss.temporal_weight;
        let mut offsets = vec![1];
        if weight > 0.0 {
            offsets.extend(cfg.loss.long_term.iter().copied());
        }
        offsets.sort_unstable();
        offsets.dedup();
        Self {
            offsets,
            flow: cfg.run.frame_init == InitKind::PrevWarped || weight > 0.0,
            weight,
        }
    }

    /// How many earlier stylized frames must be kept.
    pub fn history(&self) -> usize {
        self.offsets.iter().copied().max().unwrap_or(1)
    }
}

/// The flow from frame t back to frame t-k and how far it can be trusted.
pub struct FlowPair {
    pub offset: usize,
    /// Flow from frame t to frame t-k (for backward warping of t-k into t).
    pub flow: FlowField,
    /// Per pixel in [0, 1]: Ruder et al.'s reliability, less what a shorter
    /// offset already covers.
    pub mask: Vec<f32>,
}

impl FlowPair {
    /// The share of pixels the flow cannot carry over (disoccluded, entering
    /// the picture, at motion boundaries), in [0, 1].
    pub fn new_share(&self) -> f64 {
        let reliable: f64 = self.mask.iter().map(|&m| f64::from(m)).sum();
        1.0 - reliable / self.mask.len().max(1) as f64
    }
}

/// The pair with the frame just before, if the flow was computed.
pub fn short_pair(pairs: &[FlowPair]) -> Option<&FlowPair> {
    pairs.iter().find(|p| p.offset == 1)
}

/// Computes, frame by frame, the flow pairs of each new frame to its
/// predecessors; keeps only the gray planes it still needs.
pub struct FlowTracker {
    plan: TemporalPlan,
    options: FlowOptions,
    grays: VecDeque<Plane>,
}

impl FlowTracker {
    pub fn new(plan: TemporalPlan) -> Self {
        Self {
            plan,
            options: FlowOptions::default(),
            grays: VecDeque::new(),
        }
    }

    /// The pairs of `frame` to the frames before it, short-term first (none
    /// when the plan needs no flow).
    pub fn push(&mut self, frame: &RgbImage) -> Vec<FlowPair> {
        if !self.plan.flow {
            return Vec::new();
        }
        let (w, h) = frame.dimensions();
        let gray = flow::gray_from_rgb8(w as usize, h as usize, frame.as_raw());
        let mut covered = vec![0f32; (w * h) as usize];
        let mut pairs = Vec::new();
        for &k in &self.plan.offsets {
            if k > self.grays.len() {
                break;
            }
            let prev = &self.grays[self.grays.len() - k];
            let (back, fwd) = flow_both_ways(&gray, prev, &self.options);
            let mut mask = flow::reliability_mask(&back, &fwd);
            // Long-term terms only count where no shorter term does.
            for (m, c) in mask.iter_mut().zip(covered.iter_mut()) {
                let own = (*m - *c).max(0.0);
                *c = (*c + own).min(1.0);
                *m = own;
            }
            pairs.push(FlowPair {
                offset: k,
                flow: back,
                mask,
            });
        }
        self.grays.push_back(gray);
        if self.grays.len() > self.plan.history() {
            self.grays.pop_front();
        }
        pairs
    }
}

/// The flow pair from frame `current` back to `neighbour` (on either side
/// of it in time), with its reliability mask.
pub fn pair_between(neighbour: &RgbImage, current: &RgbImage) -> FlowPair {
    let (w, h) = current.dimensions();
    let gray = |img: &RgbImage| flow::gray_from_rgb8(w as usize, h as usize, img.as_raw());
    let (back, fwd) = flow_both_ways(&gray(current), &gray(neighbour), &FlowOptions::default());
    let mask = flow::reliability_mask(&back, &fwd);
    FlowPair {
        offset: 1,
        flow: back,
        mask,
    }
}

/// Flow from `current` to `previous` and back, computed in parallel.
pub fn flow_both_ways(
    current: &Plane,
    previous: &Plane,
    opts: &FlowOptions,
) -> (FlowField, FlowField) {
    rayon::join(
        || flow::estimate_flow(current, previous, opts),
        || flow::estimate_flow(previous, current, opts),
    )
}

/// An 8-bit RGB image as interleaved [0, 1] samples.
pub fn rgb_to_f32(img: &RgbImage) -> Vec<f32> {
    img.as_raw().iter().map(|&b| b as f32 / 255.0).collect()
}

/// Warps a stylized frame (kept as 8-bit) along `flow` into the current
/// frame: 1 x 3 x H x W in [0, 1]. Lanczos-3: warped again every frame, a
/// softer kernel blurs the finest strokes, which the next frame must paint
/// again (docs/tuning.md).
pub fn warp_to_tensor(img: &RgbImage, flow: &FlowField, device: Device) -> Tensor {
    let (w, h) = img.dimensions();
    rgb_f32_to_tensor(&flow::warp_lanczos(&rgb_to_f32(img), 3, flow), w, h, device)
}

/// A mask as a 1 x 1 x H x W tensor.
pub fn mask_to_tensor(mask: &[f32], w: u32, h: u32, device: Device) -> Tensor {
    Tensor::from_slice(mask)
        .view([1, 1, h as i64, w as i64])
        .to_device(device)
}

/// The stylized frames kept for the temporal terms, newest last.
pub struct History {
    frames: VecDeque<RgbImage>,
    keep: usize,
}

impl History {
    pub fn new(plan: &TemporalPlan) -> Self {
        Self {
            frames: VecDeque::new(),
            keep: plan.history(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn push(&mut self, img: RgbImage) {
        self.frames.push_back(img);
        if self.frames.len() > self.keep {
            self.frames.pop_front();
        }
    }

    /// Stylized frame t-k, if kept.
    pub fn back(&self, k: usize) -> Option<&RgbImage> {
        (k >= 1 && k <= self.frames.len()).then(|| &self.frames[self.frames.len() - k])
    }

    /// The start image of the current frame for a `prev` or `prev_warped`
    /// init, on `device`; None for the first frame or another kind of start.
    /// The whole warped frame, as artistic-videos starts: where the flow is
    /// unreliable the warp still drags strokes along, which a few iterations
    /// repaint, while pixels taken from the content frame stayed half-painted
    /// (docs/tuning.md).
    pub fn start_image(
        &self,
        kind: InitKind,
        pairs: &[FlowPair],
        device: Device,
    ) -> Option<Tensor> {
        let prev = self.back(1)?;
        match (kind, short_pair(pairs)) {
            (InitKind::Prev, _) | (InitKind::PrevWarped, None) => {
                Some(crate::imaging::to_tensor(prev, device))
            }
            (InitKind::PrevWarped, Some(pair)) => Some(warp_to_tensor(prev, &pair.flow, device)),
            _ => None,
        }
    }

    /// A later pass's start (artistic-videos' multi-pass): `own` (the frame's
    /// previous-pass result, 1 x 3 x H x W) where the neighbour's flow is
    /// unreliable, else `delta` of the warped neighbour and the rest `own`.
    pub fn blended_start(&self, own: &Tensor, delta: f64, pairs: &[FlowPair]) -> Tensor {
        match (self.back(1), short_pair(pairs)) {
            (Some(neighbour), Some(pair)) => {
                let (w, h) = neighbour.dimensions();
                let m = mask_to_tensor(&pair.mask, w, h, own.device()) * delta;
                warp_to_tensor(neighbour, &pair.flow, own.device()) * &m + own * (1.0 - &m)
            }
            _ => own.copy(),
        }
    }

    /// One target per pair whose earlier frame is kept: the warped stylized
    /// frame t-k ([0, 1]) and its mask.
    pub fn temporal_targets(&self, pairs: &[FlowPair], device: Device) -> Vec<TemporalTarget> {
        pairs
            .iter()
            .filter_map(|p| {
                let prev = self.back(p.offset)?;
                let (w, h) = prev.dimensions();
                Some(TemporalTarget {
                    warped: warp_to_tensor(prev, &p.flow, device),
                    mask: mask_to_tensor(&p.mask, w, h, device),
                })
            })
            .collect()
    }
}

/// What one temporal loss term pulls towards.
pub struct TemporalTarget {
    /// 1 x 3 x H x W in [0, 1].
    pub warped: Tensor,
    /// 1 x 1 x H x W in [0, 1].
    pub mask: Tensor,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(init: InitKind, weight: f64, long: &[usize]) -> JobConfig {
        let mut c = JobConfig::default();
        c.run.frame_init = init;
        c.loss.temporal_weight = weight;
        c.loss.long_term = long.to_vec();
        c
    }

    #[test]
    fn plan_offsets_follow_the_temporal_settings() {
        let p = TemporalPlan::of(&cfg(InitKind::PrevWarped, 1e3, &[4, 2, 2]));
        assert_eq!(p.offsets, [1, 2, 4]);
        assert!(p.flow);
        assert_eq!(p.history(), 4);
        // Long-term offsets only matter with a temporal loss.
        let p = TemporalPlan::of(&cfg(InitKind::PrevWarped, 0.0, &[4]));
        assert_eq!(p.offsets, [1]);
        assert!(p.flow);
        let p = TemporalPlan::of(&cfg(InitKind::Prev, 0.0, &[]));
        assert!(!p.flow);
    }

    #[test]
    fn tracker_gives_pairs_once_predecessors_exist_and_masks_do_not_overlap() {
        let plan = TemporalPlan::of(&cfg(InitKind::PrevWarped, 1e3, &[2]));
        let mut t = FlowTracker::new(plan);
        let frame = |s: u32| {
            RgbImage::from_fn(48, 40, |x, y| {
                let v = (((x + s) as f32 * 0.4).sin() * 60.0
                    + (y as f32 * 0.3).cos() * 60.0
                    + 128.0) as u8;
                image::Rgb([v, v / 2, 255 - v])
            })
        };
        assert!(t.push(&frame(0)).is_empty());
        assert_eq!(t.push(&frame(1)).len(), 1);
        let pairs = t.push(&frame(2));
        assert_eq!(pairs.iter().map(|p| p.offset).collect::<Vec<_>>(), [1, 2]);
        for i in 0..pairs[0].mask.len() {
            let sum = pairs[0].mask[i] + pairs[1].mask[i];
            assert!(sum <= 1.0 + 1e-6, "pixel {i}: {sum}");
        }
    }

    #[test]
    fn history_keeps_what_the_plan_needs() {
        let plan = TemporalPlan::of(&cfg(InitKind::PrevWarped, 1e3, &[3]));
        let mut h = History::new(&plan);
        for i in 0..5u8 {
            h.push(RgbImage::from_pixel(2, 2, image::Rgb([i, 0, 0])));
        }
        assert_eq!(h.back(1).unwrap()[(0, 0)].0[0], 4);
        assert_eq!(h.back(3).unwrap()[(0, 0)].0[0], 2);
        assert!(h.back(4).is_none());
        assert!(h.back(0).is_none());
    }
}
