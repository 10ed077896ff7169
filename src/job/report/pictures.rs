//! The pictures beside a job's HTML report: thumbnails of the input and
//! output at the first, middle and last frames, and per-frame charts.
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::charts::{LineChart, Series};
use crate::error::Result;
use crate::video::{write_image_atomic, FrameSource, SourceOptions};

use super::{FrameReport, JobReport, WarpingError};

/// Thumbnails wider than this are scaled down (the page shows them smaller).
const THUMB_WIDTH: u32 = 320;
const CHART_SIZE: (u32, u32) = (720, 300);

/// One row of the frames table: a frame and its two pictures (file names
/// in the files folder; `None` when that side could not be read).
pub struct Thumb {
    pub role: &'static str,
    /// Position among the job's frames, 0-based.
    pub frame: usize,
    pub input: Option<String>,
    pub output: Option<String>,
}

/// A chart written to the files folder.
pub struct Chart {
    pub file: String,
    pub title: String,
}

/// The first, middle and last of `n` frames, without repeats.
pub fn picks(n: usize) -> Vec<(&'static str, usize)> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    if n == 0 {
        return out;
    }
    for (role, i) in [("first", 0), ("middle", (n - 1) / 2), ("last", n - 1)] {
        if out.iter().all(|&(_, j)| j != i) {
            out.push((role, i));
        }
    }
    out
}

/// The frames at `positions` (0-based, increasing) of a source; stops
/// decoding after the last one.
fn frames_at(source: FrameSource, positions: &[usize]) -> Result<Vec<Option<RgbImage>>> {
    let mut out = vec![None; positions.len()];
    let last = positions.iter().max().copied().unwrap_or(0);
    for (i, frame) in source.enumerate().take(last + 1) {
        let frame = frame?;
        for (slot, &p) in out.iter_mut().zip(positions) {
            if p == i {
                *slot = Some(frame.image.clone());
            }
        }
    }
    Ok(out)
}

/// The video the job wrote, else its image sequence.
pub(super) fn output_source(report: &JobReport) -> Option<PathBuf> {
    let video = report.output.clone().filter(|p| p.exists());
    let frames = report.config.output.frames.as_ref().map(PathBuf::from);
    video.or(frames)
}

fn save_thumb(dir: &Path, name: String, img: &RgbImage) -> Result<String> {
    let img = match img.width() > THUMB_WIDTH {
        true => {
            let h = (img.height() * THUMB_WIDTH / img.width()).max(1);
            image::imageops::resize(img, THUMB_WIDTH, h, image::imageops::FilterType::Triangle)
        }
        false => img.clone(),
    };
    write_image_atomic(&dir.join(&name), &img)?;
    Ok(name)
}

/// Thumbnails of both sides, and why a side has none.
pub struct Thumbs {
    pub rows: Vec<Thumb>,
    pub problems: Vec<String>,
}

/// The frames at `positions` of `path` read with `opts`; a file that cannot
/// be read (moved since the job, a relative path from elsewhere) leaves
/// its side empty, with the reason in `problems`.
fn side(
    path: &Path,
    opts: &SourceOptions,
    positions: &[usize],
    problems: &mut Vec<String>,
) -> Vec<Option<RgbImage>> {
    let read = FrameSource::open(path, opts).map_err(crate::Error::from);
    match read.and_then(|source| frames_at(source, positions)) {
        Ok(frames) => frames,
        Err(e) => {
            problems.push(crate::error::chain(&e));
            vec![None; positions.len()]
        }
    }
}

/// Writes `input_<role>.png` and `output_<role>.png` into `dir`. The input
/// is read with the job's own selection and size; a missing output (a
/// failed job) leaves its side empty.
pub fn thumbnails(report: &JobReport, dir: &Path) -> Result<Thumbs> {
    let picks = picks(report.frames.len());
    let positions: Vec<usize> = picks.iter().map(|p| p.1).collect();
    let mut problems = Vec::new();
    let inputs = side(
        &report.input,
        &report.config.input,
        &positions,
        &mut problems,
    );
    let outputs = match output_source(report) {
        Some(path) => side(
            &path,
            &SourceOptions::full_size(),
            &positions,
            &mut problems,
        ),
        None => vec![None; positions.len()],
    };
    let mut rows = Vec::new();
    for ((&(role, frame), i), o) in picks.iter().zip(inputs).zip(outputs) {
        let save = |side: &str, img: Option<RgbImage>| {
            img.map(|img| save_thumb(dir, format!("{side}_{role}.png"), &img))
                .transpose()
        };
        rows.push(Thumb {
            role,
            frame,
            input: save("input", i)?,
            output: save("output", o)?,
        });
    }
    Ok(Thumbs { rows, problems })
}

/// `value` of each frame, over the frame index.
fn series(name: &str, frames: &[&FrameReport], value: impl Fn(&FrameReport) -> f64) -> Series {
    Series {
        name: name.into(),
        points: frames.iter().map(|r| (r.index as f64, value(r))).collect(),
    }
}

/// One chart of the report: its file, title, y axis and lines.
struct ChartSpec {
    file: &'static str,
    title: String,
    y_label: &'static str,
    log_y: bool,
    series: Vec<Series>,
}

impl ChartSpec {
    fn new(
        file: &'static str,
        title: impl Into<String>,
        y_label: &'static str,
        series: Vec<Series>,
    ) -> Self {
        Self {
            file,
            title: title.into(),
            y_label,
            log_y: false,
            series,
        }
    }

    fn log_y(self) -> Self {
        Self {
            log_y: true,
            ..self
        }
    }

    /// Renders it into `dir`.
    fn write(&self, dir: &Path) -> Result<Chart> {
        let chart = LineChart {
            title: &self.title,
            x_label: "frame",
            y_label: self.y_label,
            log_y: self.log_y,
            series: &self.series,
            size: CHART_SIZE,
        };
        write_image_atomic(&dir.join(self.file), &chart.render()?)?;
        Ok(Chart {
            file: self.file.into(),
            title: self.title.clone(),
        })
    }
}

/// Losses, iterations and seconds per frame (pass 1), and the warping
/// error when it was measured.
pub fn charts(report: &JobReport, dir: &Path) -> Result<Vec<Chart>> {
    // Frames an earlier run finished have no numbers of their own.
    let fresh: Vec<_> = report.frames.iter().filter(|f| !f.resumed).collect();
    let mut specs = frame_charts(&fresh);
    specs.extend(report.eval.as_ref().map(|e| warping_chart(e, report)));
    specs.iter().map(|spec| spec.write(dir)).collect()
}

/// The losses, the iterations and evaluations, and the seconds of `frames`.
fn frame_charts(frames: &[&FrameReport]) -> Vec<ChartSpec> {
    let losses = vec![
        series("total", frames, |r| r.losses.total),
        series("style", frames, |r| r.losses.style),
        series("content", frames, |r| r.losses.content),
        series("temporal", frames, |r| r.losses.temporal),
        series("tv", frames, |r| r.losses.tv),
    ];
    let work = vec![
        series("iterations", frames, |r| r.iterations as f64),
        series("evaluations", frames, |r| r.evaluations as f64),
    ];
    let time = vec![
        series("optimiser", frames, |r| r.seconds),
        series("optical flow", frames, |r| r.flow_seconds),
    ];
    let losses_title = "Weighted losses at the end of each frame";
    let work_title = "L-BFGS iterations and evaluations per frame";
    vec![
        ChartSpec::new("losses.png", losses_title, "loss (log)", losses).log_y(),
        ChartSpec::new("iterations.png", work_title, "count", work),
        ChartSpec::new("seconds.png", "Seconds per frame", "seconds", time),
    ]
}

/// `vstyle eval`'s warping error per frame (frame t against t - 1), with
/// the outputs it was compared with; a joined clip's title names its seams.
fn warping_chart(eval: &WarpingError, report: &JobReport) -> ChartSpec {
    let line = |name: String, e: &WarpingError| Series {
        name,
        points: (e.per_frame.iter().enumerate())
            .map(|(t, v)| (t as f64 + 1.0, *v))
            .collect(),
    };
    let mut lines = vec![line("this clip".into(), eval)];
    lines.extend(
        report
            .compared
            .iter()
            .map(|c| line(file_name(&c.output), c)),
    );
    let seams: Vec<String> = report.seams.iter().map(|s| s.seam.to_string()).collect();
    let title = match seams.is_empty() {
        true => "Warping error per frame (lower is steadier)".to_string(),
        false => format!("Warping error per frame, seams at {}", seams.join(", ")),
    };
    ChartSpec::new("warping.png", title, "error", lines)
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map_or(path.to_string(), |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::report::SeamReport;

    #[test]
    fn picks_first_middle_last_once_each() {
        assert_eq!(picks(0), vec![]);
        assert_eq!(picks(1), vec![("first", 0)]);
        assert_eq!(picks(2), vec![("first", 0), ("last", 1)]);
        assert_eq!(picks(36), vec![("first", 0), ("middle", 17), ("last", 35)]);
    }

    fn measured(output: &str, per_frame: Vec<f64>) -> WarpingError {
        WarpingError {
            input: "in.mp4".into(),
            output: output.into(),
            width: 64,
            height: 48,
            mean: per_frame.iter().sum::<f64>() / per_frame.len() as f64,
            per_frame,
            reliable_fraction: 0.9,
        }
    }

    #[test]
    fn a_joined_clip_is_drawn_with_what_it_was_compared_with_and_its_seams() {
        let mut r = crate::job::report::html::tests::report();
        r.seams = [4, 8]
            .map(|seam| SeamReport {
                seam,
                first: seam - 2,
                end: seam + 2,
                resumed: false,
                passes: Vec::new(),
            })
            .to_vec();
        let own = measured("out/sharded.mp4", vec![0.1, 0.3, 0.2]);
        r.compared = vec![measured("out/one.mp4", vec![0.1, 0.1, 0.1])];
        let spec = warping_chart(&own, &r);
        let names: Vec<_> = spec.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["this clip", "one.mp4"]);
        assert_eq!(spec.series[1].points[2], (3.0, 0.1));
        assert!(spec.title.ends_with("seams at 4, 8"), "{}", spec.title);
        let dir = tempfile::tempdir().unwrap();
        let chart = spec.write(dir.path()).unwrap();
        assert!(dir.path().join(chart.file).is_file());
    }
}
