//! Temporal consistency of a stylized clip: the warping error. For each frame
//! t, the stylized frame t-1 is warped into frame t along the optical flow of
//! the *input* frames; the error is the mean squared difference to stylized
//! frame t over the pixels the flow is reliable for (Ruder et al.'s mask).
//! A clip that flickers or swims scores high; one that moves with the scene, low.
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::flow::{self, FlowOptions};
use crate::video::{FrameSource, SourceOptions};

#[derive(Debug, Clone, Serialize)]
pub struct WarpingError {
    pub input: String,
    pub output: String,
    pub width: u32,
    pub height: u32,
    /// Per frame t >= 1, in [0, 1] pixel units squared.
    pub per_frame: Vec<f64>,
    pub mean: f64,
    /// Mean fraction of pixels the reliability mask kept.
    pub reliable_fraction: f64,
}

fn open(path: &Path, size: Option<u32>) -> Result<FrameSource> {
    FrameSource::open(
        path,
        &SourceOptions {
            size,
            ..Default::default()
        },
    )
    .map_err(|e| Error::Other(e.to_string()))
}

/// Measures the warping error of `output` (a stylized version of `input`;
/// the input is resized to the output's size). At most `max_frames` frames.
pub fn warping_error(
    input: &Path,
    output: &Path,
    max_frames: Option<usize>,
) -> Result<WarpingError> {
    let out = open(output, None)?;
    let (w, h) = (out.info().width, out.info().height);
    let inp = open(input, Some(w.max(h)))?;
    if (inp.info().width, inp.info().height) != (w, h) {
        return Err(Error::Other(format!(
            "{}: frames are {}x{} at the output's size, but {} has {w}x{h}",
            input.display(),
            inp.info().width,
            inp.info().height,
            output.display()
        )));
    }
    let opts = FlowOptions::default();
    let (mut prev_in, mut prev_out): (Option<flow::Plane>, Option<Vec<f32>>) = (None, None);
    let mut per_frame = Vec::new();
    let mut kept = Vec::new();
    let limit = max_frames.unwrap_or(usize::MAX);
    for (fi, fo) in inp.zip(out).take(limit) {
        let fi = fi.map_err(|e| Error::Other(e.to_string()))?;
        let fo = fo.map_err(|e| Error::Other(e.to_string()))?;
        let gray = flow::gray_from_rgb8(w as usize, h as usize, fi.image.as_raw());
        let styl: Vec<f32> = fo
            .image
            .as_raw()
            .iter()
            .map(|&b| b as f32 / 255.0)
            .collect();
        if let (Some(pg), Some(po)) = (&prev_in, &prev_out) {
            let (back, fwd) = rayon::join(
                || flow::estimate_flow(&gray, pg, &opts),
                || flow::estimate_flow(pg, &gray, &opts),
            );
            let mask = flow::reliability_mask(&back, &fwd);
            let warped = flow::warp(po, 3, &back);
            let (mut num, mut den) = (0f64, 0f64);
            for (p, &m) in mask.iter().enumerate() {
                for c in 0..3 {
                    let d = (styl[3 * p + c] - warped[3 * p + c]) as f64;
                    num += m as f64 * d * d;
                }
                den += 3.0 * m as f64;
            }
            per_frame.push(num / den.max(1.0));
            kept.push(den / (3.0 * mask.len() as f64));
        }
        prev_in = Some(gray);
        prev_out = Some(styl);
    }
    if per_frame.is_empty() {
        return Err(Error::Other(format!(
            "{}: needs at least two frames",
            output.display()
        )));
    }
    let n = per_frame.len() as f64;
    Ok(WarpingError {
        input: input.display().to_string(),
        output: output.display().to_string(),
        width: w,
        height: h,
        mean: per_frame.iter().sum::<f64>() / n,
        reliable_fraction: kept.iter().sum::<f64>() / n,
        per_frame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::VideoWriter;
    use image::RgbImage;

    fn write_clip(path: &Path, frames: &[RgbImage]) {
        let (w, h) = frames[0].dimensions();
        let mut wr =
            VideoWriter::create(path, None, w, h, (25, 1), None, &Default::default()).unwrap();
        for f in frames {
            wr.write(f).unwrap();
        }
        wr.finish().unwrap();
    }

    /// A textured scene panning right by 2 px a frame.
    fn scene(t: u32) -> RgbImage {
        RgbImage::from_fn(64, 48, |x, y| {
            let u = (x + 2 * t) as f32;
            let v = y as f32;
            let r = 128.0 + 100.0 * (u * 0.3).sin() * (v * 0.2).cos();
            let g = 128.0 + 90.0 * (u * 0.13 + v * 0.17).sin();
            image::Rgb([r as u8, g as u8, (u * 2.0 + v) as u8 % 255])
        })
    }

    #[test]
    fn a_clip_that_moves_with_the_scene_scores_below_one_that_flickers() {
        let dir = tempfile::tempdir().unwrap();
        let input: Vec<RgbImage> = (0..6).map(scene).collect();
        // "Stylized" versions: a colour change that follows the motion, and
        // one whose noise changes every frame.
        let steady: Vec<RgbImage> = input
            .iter()
            .map(|f| {
                RgbImage::from_fn(64, 48, |x, y| {
                    let p = f.get_pixel(x, y);
                    image::Rgb([p[1], p[2], p[0]])
                })
            })
            .collect();
        let flicker: Vec<RgbImage> = steady
            .iter()
            .enumerate()
            .map(|(t, f)| {
                // Brightness that jumps from frame to frame, as a restarted
                // optimisation's texture does.
                let up = t % 2 == 0;
                RgbImage::from_fn(64, 48, |x, y| {
                    let p = f.get_pixel(x, y);
                    let d = |v: u8| {
                        if up {
                            v.saturating_add(20)
                        } else {
                            v.saturating_sub(20)
                        }
                    };
                    image::Rgb([d(p[0]), d(p[1]), d(p[2])])
                })
            })
            .collect();
        let (i, s, f) = (
            dir.path().join("in.mkv"),
            dir.path().join("s.mkv"),
            dir.path().join("f.mkv"),
        );
        write_clip(&i, &input);
        write_clip(&s, &steady);
        write_clip(&f, &flicker);
        let es = warping_error(&i, &s, None).unwrap();
        let ef = warping_error(&i, &f, None).unwrap();
        assert_eq!(es.per_frame.len(), 5);
        assert!(es.reliable_fraction > 0.7, "{}", es.reliable_fraction);
        assert!(
            es.mean * 3.0 < ef.mean,
            "steady {} flicker {}",
            es.mean,
            ef.mean
        );
    }
}
