//! Dense optical flow, backward warping and the Ruder et al. reliability mask.
//!
//! # Method
//!
//! [`estimate_flow`] is a coarse-to-fine variational method in the style of Brox et al.
//! (2004) and Sun, Roth & Black ("Secrets of optical flow", 2010): an image pyramid (ratio
//! 0.5), two warping steps per level, a linearised data term combining brightness and
//! gradient constancy (each under its own Charbonnier penalty, so illumination changes and
//! outliers do little harm), a Charbonnier (TV-like) smoothness term, lagged-diffusivity
//! fixed-point iterations solved by red-black SOR, and a 5x5 median filter of the flow after
//! every warp. It was chosen because consecutive video frames mostly move smoothly by a few
//! pixels, where a variational solver gives sub-pixel accuracy at every pixel (patch matching
//! such as DIS relies on the same kind of variational refinement for that), the pyramid
//! covers displacements of tens of pixels, and the whole computation is linear in the number
//! of pixels and parallel over rows with rayon. The red-black ordering makes the SOR sweeps
//! exactly parallel, so the result does not depend on the number of threads.
//!
//! Its speed per pair of frames is in docs/tuning.md ("Optical flow"), with the command that
//! measures it.
//!
//! # Conventions
//!
//! Images are single-channel [`Plane`]s with samples in roughly `[0, 1]` (see
//! [`gray_from_rgb8`]). A [`FlowField`] computed by `estimate_flow(first, second, ..)` says
//! that pixel `(x, y)` of `first` matches `(x + u, y + v)` in `second`, so
//! `warp(second, .., &flow)` approximates `first`.

mod estimate;
#[cfg(test)]
mod fixtures;
mod pyramid;
mod reliability;
mod warp;

pub use estimate::{endpoint_error, estimate_flow};
pub use reliability::reliability_mask;
pub use warp::{warp, warp_bicubic, warp_lanczos};

/// One channel of f32 samples, row-major.
#[derive(Clone, Debug)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane filled with zeros.
    pub fn new(width: usize, height: usize) -> Self {
        Plane {
            width,
            height,
            data: vec![0.0; width * height],
        }
    }

    /// Wraps `data` (row-major, `width * height` samples).
    pub fn from_vec(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), width * height, "plane data length");
        Plane {
            width,
            height,
            data,
        }
    }

    /// Sample at integer coordinates.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }
}

/// Dense displacement: pixel (x, y) of the first frame matches (x + u, y + v) in the second.
#[derive(Clone, Debug)]
pub struct FlowField {
    pub width: usize,
    pub height: usize,
    pub u: Vec<f32>,
    pub v: Vec<f32>,
}

impl FlowField {
    /// The zero field.
    pub fn zeros(width: usize, height: usize) -> Self {
        FlowField {
            width,
            height,
            u: vec![0.0; width * height],
            v: vec![0.0; width * height],
        }
    }

    /// A field given by `f(x, y) -> (u, v)`.
    pub fn from_fn(width: usize, height: usize, f: impl Fn(usize, usize) -> (f32, f32)) -> Self {
        let mut flow = FlowField::zeros(width, height);
        for y in 0..height {
            for x in 0..width {
                let (u, v) = f(x, y);
                flow.u[y * width + x] = u;
                flow.v[y * width + x] = v;
            }
        }
        flow
    }
}

/// Parameters of [`estimate_flow`]. Intensities are assumed to lie in `[0, 1]`.
#[derive(Clone, Debug)]
pub struct FlowOptions {
    /// Size ratio between consecutive pyramid levels, in `(0, 1)`.
    pub pyramid_scale: f32,
    /// The coarsest level keeps both sides at least this long (in pixels).
    pub min_level_size: usize,
    /// Upper bound on the number of pyramid levels (including the finest).
    pub max_levels: usize,
    /// Warping steps (re-linearisations of the data term) per pyramid level.
    pub warps: usize,
    /// Lagged-nonlinearity (robust weight) updates per warping step.
    pub fixed_point_iters: usize,
    /// Red-black SOR sweeps per fixed-point iteration.
    pub sor_iters: usize,
    /// SOR relaxation factor, in `(0, 2)`.
    pub omega: f32,
    /// Weight of the smoothness term.
    pub alpha: f32,
    /// Weight of the gradient-constancy term relative to brightness constancy.
    pub gamma: f32,
    /// Charbonnier epsilon of the data terms (intensity units).
    pub eps_data: f32,
    /// Charbonnier epsilon of the smoothness term (flow-gradient units).
    pub eps_smooth: f32,
    /// Gaussian pre-smoothing of the input images (sigma in pixels, 0 = off).
    pub presmooth_sigma: f32,
    /// Radius of the median filter applied to the flow after each warp (0 = off).
    pub median_radius: usize,
    /// Longer side of the finest level solved (0 = no limit): a larger frame
    /// is solved scaled down to it, and its flow upsampled.
    pub max_side: usize,
}

/// Frames up to 720 px (all the sizes tests and the shipped clips use) are
/// solved in full; 1080p at 720x405, which keeps the flow under a tenth of
/// a frame's time (docs/tuning.md, "Optical flow").
const MAX_SIDE: usize = 720;

impl Default for FlowOptions {
    /// Values tuned on synthetic motions of a photograph and on pairs of the Carphone and
    /// Big Buck Bunny clips. Fewer `warps`, `fixed_point_iters` or `sor_iters` trade accuracy
    /// for speed roughly proportionally.
    fn default() -> Self {
        FlowOptions {
            pyramid_scale: 0.5,
            min_level_size: 10,
            max_levels: 8,
            warps: 2,
            fixed_point_iters: 2,
            sor_iters: 8,
            omega: 1.9,
            alpha: 0.02,
            gamma: 2.0,
            eps_data: 0.001,
            eps_smooth: 0.001,
            presmooth_sigma: 0.5,
            median_radius: 2,
            max_side: MAX_SIDE,
        }
    }
}

/// Luma (BT.601 weights) in `[0, 1]` from interleaved 8-bit RGB.
pub fn gray_from_rgb8(width: usize, height: usize, rgb: &[u8]) -> Plane {
    assert_eq!(rgb.len(), width * height * 3, "rgb buffer length");
    let data = rgb
        .chunks_exact(3)
        .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
        .collect();
    Plane {
        width,
        height,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_from_rgb8_is_bt601_luma() {
        let g = gray_from_rgb8(4, 1, &[0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 255]);
        assert_eq!((g.width, g.height), (4, 1));
        let expect = [0.0, 1.0, 0.299, 0.114];
        for (a, b) in g.data.iter().zip(expect) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }
}
