//! Test images and synthetic motions shared by the flow tests.

use std::path::PathBuf;

use super::pyramid::gaussian_blur;
use super::warp::cubic_weights;
use super::{gray_from_rgb8, FlowField, Plane};

/// Media shipped in the repository.
pub(super) fn media_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

pub(super) fn test_data(name: &str) -> PathBuf {
    media_dir().join(name)
}

/// Loads an image as luma, resized (triangle filter) to `size` when given.
pub(super) fn load_gray(path: &std::path::Path, size: Option<(u32, u32)>) -> Plane {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .to_rgb8();
    let img = match size {
        Some((w, h)) if (w, h) != img.dimensions() => {
            image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
        }
        _ => img,
    };
    gray_from_rgb8(img.width() as usize, img.height() as usize, img.as_raw())
}

/// Tuebingen at 160x120, slightly blurred so that it is well sampled and bicubic
/// resampling of it is (nearly) exact.
pub(super) fn textured_base() -> Plane {
    let p = load_gray(&media_dir().join("tubingen.jpg"), Some((160, 120)));
    gaussian_blur(&p, 0.6)
}

pub(super) fn bicubic_at(p: &Plane, x: f32, y: f32) -> f32 {
    let xf = x.floor();
    let yf = y.floor();
    let (wx, wy) = (cubic_weights(x - xf), cubic_weights(y - yf));
    let mut acc = 0.0;
    for (j, wyj) in wy.iter().enumerate() {
        for (i, wxi) in wx.iter().enumerate() {
            let xx = (xf as isize + i as isize - 1).clamp(0, p.width as isize - 1) as usize;
            let yy = (yf as isize + j as isize - 1).clamp(0, p.height as isize - 1) as usize;
            acc += wxi * wyj * p.get(xx, yy);
        }
    }
    acc
}

/// Second frame and true flow for a smooth motion `motion` (frame-1 point -> frame-2
/// point) with inverse `inverse`: frame2(y) = frame1(inverse(y)) by bicubic resampling,
/// flow(x) = motion(x) - x.
pub(super) fn synthesize(
    base: &Plane,
    motion: impl Fn(f32, f32) -> (f32, f32),
    inverse: impl Fn(f32, f32) -> (f32, f32),
) -> (Plane, FlowField) {
    let (w, h) = (base.width, base.height);
    let mut second = Plane::new(w, h);
    for y in 0..h {
        for x in 0..w {
            let (sx, sy) = inverse(x as f32, y as f32);
            second.data[y * w + x] = bicubic_at(base, sx, sy);
        }
    }
    let truth = FlowField::from_fn(w, h, |x, y| {
        let (mx, my) = motion(x as f32, y as f32);
        (mx - x as f32, my - y as f32)
    });
    (second, truth)
}

pub(super) fn mse(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| ((x - y) as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64
}
