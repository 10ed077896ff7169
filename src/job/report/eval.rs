//! `vstyle eval`: the warping error (see [`crate::temporal::metric`]) of a
//! stylized clip against the clip it was made from, read from files.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::temporal::metric::WarpingMeter;
use crate::video::{FrameSource, SourceOptions};

use super::{JobReport, WarpingError};

/// Measures the warping error of `output` (a stylized version of `input`;
/// the input is resized to the output's size). At most `max_frames` frames.
pub fn warping_error(
    input: &Path,
    output: &Path,
    max_frames: Option<usize>,
) -> Result<WarpingError> {
    measure(input, SourceOptions::full_size(), output, max_frames)
}

/// The warping error of a finished job's output, against its input read
/// with the job's own frame selection.
pub fn of_report(report: &JobReport) -> Result<WarpingError> {
    let output = super::pictures::output_source(report).ok_or_else(|| Error::Mismatch {
        file: report.input.display().to_string(),
        message: "the job wrote no output to measure".into(),
    })?;
    measure(&report.input, report.config.input.clone(), &output, None)
}

/// Adds `eval` (and the other outputs it was `compared` with) to the JSON
/// report at `json` and writes it again, with its HTML page (whose path is
/// returned).
pub fn attach(json: &Path, eval: WarpingError, compared: Vec<WarpingError>) -> Result<PathBuf> {
    let mut report = JobReport::read(json)?;
    report.eval = Some(eval);
    report.compared = compared;
    let html = super::html::write(&report, json)?;
    report.write(json)?;
    Ok(html)
}

/// `input` is read with `opts` (its size replaced by the output's).
fn measure(
    input: &Path,
    mut opts: SourceOptions,
    output: &Path,
    max_frames: Option<usize>,
) -> Result<WarpingError> {
    let out = FrameSource::open(output, &SourceOptions::full_size())?;
    let (w, h) = (out.info().width, out.info().height);
    opts.size = Some(w.max(h));
    let inp = FrameSource::open(input, &opts)?;
    if (inp.info().width, inp.info().height) != (w, h) {
        return Err(Error::Mismatch {
            file: input.display().to_string(),
            message: format!(
                "frames are {}x{} at the output's size, but {} has {w}x{h}",
                inp.info().width,
                inp.info().height,
                output.display()
            ),
        });
    }
    let mut meter = WarpingMeter::default();
    for (fi, fo) in inp.zip(out).take(max_frames.unwrap_or(usize::MAX)) {
        meter.push(&fi?.image, &fo?.image);
    }
    let (Some(mean), Some(reliable_fraction)) = (meter.mean(), meter.reliable_fraction()) else {
        return Err(Error::Mismatch {
            file: output.display().to_string(),
            message: "needs at least two frames".into(),
        });
    };
    Ok(WarpingError {
        input: input.display().to_string(),
        output: output.display().to_string(),
        width: w,
        height: h,
        per_frame: meter.per_frame,
        mean,
        reliable_fraction,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{Timeline, VideoWriter};
    use image::RgbImage;

    fn write_clip(path: &Path, frames: &[RgbImage]) {
        let (w, h) = frames[0].dimensions();
        let mut wr = VideoWriter::create(
            path,
            None,
            w,
            h,
            &Timeline::constant((25, 1), 0, 0.0),
            None,
            &Default::default(),
        )
        .unwrap();
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
