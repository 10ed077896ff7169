//! The warping error, the temporal-consistency measure of `vstyle eval`: for
//! each frame t, stylized frame t-1 is warped into frame t along the optical
//! flow of the *input* frames, and the error is the mean squared difference
//! to stylized frame t over the pixels the flow is reliable for (Ruder et
//! al.'s mask). A clip that flickers or swims scores high; one that moves
//! with the scene, low. This type takes frames; reading files is the caller's.
use image::RgbImage;

use super::flow::{self, FlowOptions, Plane};
use super::{flow_both_ways, rgb_to_f32};

/// Accumulates the warping error over (input, stylized) frame pairs.
#[derive(Default)]
pub struct WarpingMeter {
    options: FlowOptions,
    previous: Option<(Plane, Vec<f32>)>,
    /// Per frame t >= 1, in [0, 1] pixel units squared.
    pub per_frame: Vec<f64>,
    /// Per frame t >= 1, the fraction of pixels the mask kept.
    pub reliable: Vec<f64>,
}

impl WarpingMeter {
    /// Adds frame t: the input frame and its stylized version, of equal size.
    pub fn push(&mut self, input: &RgbImage, stylized: &RgbImage) {
        let (w, h) = input.dimensions();
        let gray = flow::gray_from_rgb8(w as usize, h as usize, input.as_raw());
        let styl = rgb_to_f32(stylized);
        if let Some((pg, po)) = &self.previous {
            let (back, fwd) = flow_both_ways(&gray, pg, &self.options);
            let mask = flow::reliability_mask(&back, &fwd);
            let warped = flow::warp(po, 3, &back);
            let (error, kept) = masked_mse(&styl, &warped, &mask);
            self.per_frame.push(error);
            self.reliable.push(kept);
        }
        self.previous = Some((gray, styl));
    }

    /// Mean of the per-frame errors (None before two frames).
    pub fn mean(&self) -> Option<f64> {
        mean(&self.per_frame)
    }

    /// Mean fraction of pixels the masks kept.
    pub fn reliable_fraction(&self) -> Option<f64> {
        mean(&self.reliable)
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Mask-weighted MSE of two RGB buffers, and the fraction of pixels kept.
fn masked_mse(a: &[f32], b: &[f32], mask: &[f32]) -> (f64, f64) {
    let (mut num, mut den) = (0f64, 0f64);
    for (p, &m) in mask.iter().enumerate() {
        for c in 0..3 {
            let d = (a[3 * p + c] - b[3 * p + c]) as f64;
            num += m as f64 * d * d;
        }
        den += 3.0 * m as f64;
    }
    (num / den.max(1.0), den / (3.0 * mask.len() as f64))
}
