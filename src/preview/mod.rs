//! `vstyle preview`: a contact sheet of a few frames of a clip stylized
//! with a small grid of settings (`--vary`, at most two keys), at a reduced
//! size. Each cell is a real video job (`VideoJob`) over a short run of
//! frames in a temporary directory, so a sheet shows what the job would
//! make; consecutive frames show flicker where settings are temporal.
//!
//! Layer: beside `farm`, above the job layer.
mod sheet;
mod vary;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

pub use sheet::{CellInfo, SheetInfo};
pub use vary::{parse_vary, Vary, MAX_VALUES};

use crate::config::{ConfigError, InitKind, JobConfig};
use crate::error::Result;
use crate::job::store::collisions::Target;
use crate::job::{inputs, pass_dir, VideoJob};
use crate::video::{load_image, FrameSource};

use sheet::Cell;

/// Longest side of a cell's frames unless the command says.
pub const DEFAULT_SIZE: u32 = 96;
/// Consecutive frames per run when a setting ties frames together.
pub const DEFAULT_STRIP: usize = 3;

/// A config with extra `--set`-style overrides: the command's own way of
/// assembling one (job file, flags, `--set`), called once per cell.
pub type Configure<'a> = &'a dyn Fn(&[(String, toml::Value)]) -> Result<JobConfig>;

pub struct Options {
    pub varies: Vec<Vary>,
    /// Positions in the job's frames (default: first, middle, last).
    pub frames: Option<Vec<usize>>,
    /// Frames per run (default: 3 when frames depend on the previous one, else 1).
    pub strip: Option<usize>,
    /// Longest side (default: the job's, at most [`DEFAULT_SIZE`]).
    pub size: Option<u32>,
    pub output: PathBuf,
}

/// One job of the sheet finished.
pub struct CellDone<'a> {
    pub number: usize,
    pub total: usize,
    pub label: &'a str,
    pub frames: (usize, usize),
    pub seconds: f64,
}

fn invalid(key: &str, message: String) -> ConfigError {
    ConfigError::Invalid {
        file: "command line".into(),
        key: key.into(),
        message,
    }
}

/// The settings of each cell, row-major: the first key down, the second across.
fn grid(varies: &[Vary]) -> (usize, usize, Vec<Vec<(usize, usize)>>) {
    let n = |k: usize| varies.get(k).map_or(1, |v| v.values.len());
    let (rows, cols) = (n(0), n(1));
    let cells = (0..rows).flat_map(|r| (0..cols).map(move |c| vec![(0, r), (1, c)]));
    let cells = cells.map(|v| v.into_iter().filter(|&(k, _)| k < varies.len()).collect());
    (rows, cols, cells.collect())
}

/// Whether a frame's result depends on the frame before (then runs of
/// consecutive frames show flicker).
fn temporal(cfg: &JobConfig) -> bool {
    cfg.loss.temporal_weight > 0.0
        || matches!(cfg.run.frame_init, InitKind::Prev | InitKind::PrevWarped)
}

/// The runs (first, last) for the chosen positions, each `strip` long and
/// inside the `n` frames, without repeats.
fn runs(chosen: &[usize], n: usize, strip: usize) -> Result<Vec<(usize, usize)>> {
    let mut out: Vec<(usize, usize)> = Vec::new();
    for &p in chosen {
        if p >= n {
            let message = format!("frame {p}, but the job has {n} frames (0..{})", n - 1);
            return Err(invalid("--frames", message).into());
        }
        let first = p.min(n - strip);
        if !out.iter().any(|r| r.0 == first) {
            out.push((first, first + strip - 1));
        }
    }
    Ok(out)
}

/// A setting of a cell: a key, its value and the value's label.
struct Setting {
    key: String,
    value: toml::Value,
    label: String,
}

/// What a sheet will run, checked before the first job starts.
struct Plan {
    base: JobConfig,
    size: u32,
    rows: usize,
    cols: usize,
    /// Row-major, `rows * cols`.
    cells: Vec<Vec<Setting>>,
    strip: usize,
    runs: Vec<(usize, usize)>,
}

fn sets(settings: &[Setting]) -> Vec<(String, toml::Value)> {
    settings
        .iter()
        .map(|s| (s.key.clone(), s.value.clone()))
        .collect()
}

/// The number of frames the job reads, at the preview size.
fn frame_count(base: &JobConfig, size: u32) -> Result<usize> {
    let input = crate::config::InputConfig {
        size: Some(size),
        ..base.input.clone()
    };
    let source = FrameSource::open(&base.input.path, &input)?;
    let n = match source.info().frame_count {
        Some(n) => n,
        None => source.count(),
    };
    match n {
        0 => Err(crate::Error::NoFrames {
            input: base.input.path.clone(),
        }),
        n => Ok(n),
    }
}

impl Plan {
    fn new(configure: Configure, opts: &Options) -> Result<Self> {
        if opts.varies.len() > 2 {
            let message = format!("{} keys; at most two at a time", opts.varies.len());
            return Err(invalid("--vary", message).into());
        }
        let base = configure(&[])?;
        if base.batch.is_some() {
            let message = "preview takes one clip: use a plain job file, or vary style.images";
            return Err(invalid("batch", message.into()).into());
        }
        let size = (opts.size).unwrap_or(
            base.input
                .size
                .map_or(DEFAULT_SIZE, |s| s.min(DEFAULT_SIZE)),
        );
        let (rows, cols, grid) = grid(&opts.varies);
        let cells: Vec<Vec<Setting>> = grid
            .iter()
            .map(|cell| {
                cell.iter()
                    .map(|&(k, i)| setting(&opts.varies[k], i))
                    .collect()
            })
            .collect();
        // Every cell's settings are checked before the first one runs.
        let mut any_temporal = false;
        for cell in &cells {
            any_temporal |= temporal(&configure(&sets(cell))?);
        }
        let n = frame_count(&base, size)?;
        let strip = (opts.strip)
            .unwrap_or(if any_temporal { DEFAULT_STRIP } else { 1 })
            .clamp(1, n);
        let chosen = (opts.frames.clone()).unwrap_or_else(|| vec![0, (n - 1) / 2, n - 1]);
        let runs = runs(&chosen, n, strip)?;
        Ok(Self {
            base,
            size,
            rows,
            cols,
            cells,
            strip,
            runs,
        })
    }

    /// Runs every cell's jobs in a temporary directory.
    fn run_cells(
        &self,
        configure: Configure,
        stop: &AtomicBool,
        on_cell: &mut dyn FnMut(CellDone),
    ) -> Result<Vec<Cell>> {
        let tmp =
            tempfile::tempdir().map_err(|e| crate::files::write_error(&std::env::temp_dir(), e))?;
        let total = self.cells.len() * self.runs.len();
        let mut done = Vec::new();
        for (k, settings) in self.cells.iter().enumerate() {
            let mut cell = Cell {
                row: k / self.cols,
                col: k % self.cols,
                settings: settings
                    .iter()
                    .map(|s| (s.key.clone(), s.label.clone()))
                    .collect(),
                runs: Vec::new(),
                seconds: 0.0,
            };
            let label = cell.label();
            for &(first, last) in &self.runs {
                let number = k * self.runs.len() + cell.runs.len() + 1;
                let job = CellJob {
                    dir: &tmp.path().join(format!("job_{number}")),
                    size: self.size,
                    first,
                    strip: self.strip,
                };
                let started = Instant::now();
                let mut overrides = sets(settings);
                overrides.extend(job.overrides(&self.base));
                cell.runs.push(job.run(&configure(&overrides)?, stop)?);
                let seconds = started.elapsed().as_secs_f64();
                cell.seconds += seconds;
                let frames = (first, last);
                on_cell(CellDone {
                    number,
                    total,
                    label: &label,
                    frames,
                    seconds,
                });
            }
            done.push(cell);
        }
        Ok(done)
    }
}

fn setting(vary: &Vary, i: usize) -> Setting {
    Setting {
        key: vary.key.clone(),
        value: vary.values[i].clone(),
        label: vary.labels[i].clone(),
    }
}

/// Renders the sheet to `opts.output` (PNG) with its description (JSON).
pub fn run(
    configure: Configure,
    opts: &Options,
    stop: &AtomicBool,
    mut on_cell: impl FnMut(CellDone),
) -> Result<SheetInfo> {
    let wall = Instant::now();
    inputs(&configure(&[])?)
        .write("preview sheet", Target::File(opts.output.clone()))
        .write(
            "sheet description",
            Target::File(opts.output.with_extension("json")),
        )
        .check()?;
    let plan = Plan::new(configure, opts)?;
    let done = plan.run_cells(configure, stop, &mut on_cell)?;
    let title = title(&plan.base, plan.size, plan.strip);
    let (img, cells) = sheet::compose(&title, &done, &plan.runs, plan.rows, plan.cols)?;
    let info = SheetInfo {
        image: opts
            .output
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
        width: img.width(),
        height: img.height(),
        title,
        rows: plan.rows,
        columns: plan.cols,
        row_key: opts.varies.first().map(|v| v.key.clone()),
        column_key: opts.varies.get(1).map(|v| v.key.clone()),
        runs: plan.runs,
        strip: plan.strip,
        frame_size: done[0].runs[0][0].dimensions(),
        cells,
        seconds: wall.elapsed().as_secs_f64(),
    };
    sheet::write(&opts.output, &img, &info)?;
    Ok(info)
}

fn title(cfg: &JobConfig, size: u32, strip: usize) -> String {
    let name = |p: &Path| {
        p.file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned())
    };
    let styles: Vec<String> = cfg.style.images.iter().map(|p| name(p)).collect();
    format!(
        "{} in the style of {} - {} at {size} px, runs of {strip} frames",
        name(&cfg.input.path),
        styles.join(" + "),
        cfg.model.name.as_str()
    )
}

/// One run of frames of one cell, as a job in its own directory.
struct CellJob<'a> {
    dir: &'a Path,
    size: u32,
    /// Position of the run's first frame among the job's frames.
    first: usize,
    strip: usize,
}

impl CellJob<'_> {
    /// The run's frames, at the preview size, written only under `dir`.
    fn overrides(&self, base: &JobConfig) -> Vec<(String, toml::Value)> {
        let path = |name: &str| toml::Value::String(self.dir.join(name).display().to_string());
        let int = |v: usize| toml::Value::Integer(v as i64);
        vec![
            (
                "input.start".into(),
                int(base.input.start + self.first * base.input.step),
            ),
            ("input.max_frames".into(), int(self.strip)),
            ("input.size".into(), int(self.size as usize)),
            ("output.path".into(), path("out.mp4")),
            ("output.frames".into(), path("f_%05d.png")),
            ("output.work_dir".into(), path("work")),
            ("output.report".into(), path("report.json")),
        ]
    }

    /// Runs the job and reads its frames back from the work directory.
    fn run(&self, cfg: &JobConfig, stop: &AtomicBool) -> Result<Vec<image::RgbImage>> {
        VideoJob::new(cfg, None)?.without_html().run(stop, |_| {})?;
        let frames = pass_dir(&self.dir.join("work"), cfg.optimizer.passes);
        (0..self.strip)
            .map(|i| load_image(&frames.file(i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_stay_inside_the_clip_without_repeats() {
        assert_eq!(
            runs(&[0, 17, 35], 36, 3).unwrap(),
            [(0, 2), (17, 19), (33, 35)]
        );
        assert_eq!(runs(&[0, 1, 2], 3, 3).unwrap(), [(0, 2)]);
        let e = runs(&[40], 36, 3).unwrap_err().to_string();
        assert!(e.contains("--frames") && e.contains("36 frames"), "{e}");
    }

    #[test]
    fn two_keys_make_rows_by_columns() {
        let v = |key: &str, n: usize| Vary {
            key: key.into(),
            values: (0..n).map(|i| toml::Value::Integer(i as i64)).collect(),
            labels: (0..n).map(|i| i.to_string()).collect(),
        };
        let (rows, cols, cells) = grid(&[v("a", 3), v("b", 2)]);
        assert_eq!((rows, cols, cells.len()), (3, 2, 6));
        assert_eq!(cells[3], [(0, 1), (1, 1)]);
        let (rows, cols, cells) = grid(&[]);
        assert_eq!((rows, cols), (1, 1));
        assert_eq!(cells, [Vec::<(usize, usize)>::new()]);
    }
}
