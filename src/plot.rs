//! A small line chart as PNG (no text: the caller says what the axes are),
//! for the warping error over time.
use std::path::Path;

use image::{Rgb, RgbImage};

use crate::error::Result;
use crate::video::write_image_atomic;

pub const COLORS: [[u8; 3]; 6] = [
    [214, 39, 40],
    [255, 127, 14],
    [31, 119, 180],
    [44, 160, 44],
    [148, 103, 189],
    [0, 0, 0],
];

fn line(img: &mut RgbImage, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: Rgb<u8>, thick: i64) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()) as usize).max(1) * 2;
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = ((x0 + t * (x1 - x0)) as i64, (y0 + t * (y1 - y0)) as i64);
        for dx in 0..thick {
            for dy in 0..thick {
                let (px, py) = (x + dx, y + dy);
                if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                    img.put_pixel(px as u32, py as u32, c);
                }
            }
        }
    }
}

/// Plots each series (y over its index) in its own colour (`COLORS` order),
/// y from 0 to the largest value, with grid lines at quarters.
pub fn line_chart(path: &Path, series: &[Vec<f64>]) -> Result<()> {
    let (w, h, m) = (720u32, 300u32, 30f64);
    let mut img = RgbImage::from_pixel(w, h, Rgb([255, 255, 255]));
    let ymax = series
        .iter()
        .flatten()
        .cloned()
        .fold(0f64, f64::max)
        .max(1e-12);
    let n = series.iter().map(Vec::len).max().unwrap_or(1).max(2);
    let (pw, ph) = (w as f64 - 2.0 * m, h as f64 - 2.0 * m);
    let to_px = |i: usize, y: f64| {
        (
            m + pw * i as f64 / (n - 1) as f64,
            m + ph * (1.0 - y / ymax),
        )
    };
    for q in 0..=4 {
        let y = m + ph * q as f64 / 4.0;
        line(&mut img, (m, y), (m + pw, y), Rgb([220, 220, 220]), 1);
    }
    line(&mut img, (m, m), (m, m + ph), Rgb([0, 0, 0]), 1);
    line(&mut img, (m, m + ph), (m + pw, m + ph), Rgb([0, 0, 0]), 1);
    for (s, c) in series.iter().zip(COLORS.iter().cycle()) {
        for i in 1..s.len() {
            line(&mut img, to_px(i - 1, s[i - 1]), to_px(i, s[i]), Rgb(*c), 2);
        }
    }
    write_image_atomic(path, &img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_series_in_their_colours() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.png");
        line_chart(&p, &[vec![1.0, 2.0, 3.0], vec![0.5, 0.5, 0.5]]).unwrap();
        let img = image::open(&p).unwrap().to_rgb8();
        let count = |c: [u8; 3]| img.pixels().filter(|p| p.0 == c).count();
        assert!(count(COLORS[0]) > 100 && count(COLORS[1]) > 100);
    }
}
