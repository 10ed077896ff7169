//! The video job: frames stream from a decoder thread through a flow thread to
//! the optimiser (this thread) and on to an encoder thread, joined by bounded
//! channels so the clip is never held in memory. Every finished frame is
//! written atomically to a work directory; a second run of the same job
//! resumes after the last one, and the final video appears only when complete.
use std::collections::VecDeque;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread;
use std::time::Instant;

use image::RgbImage;
use serde::Serialize;
use tch::{Device, Tensor};

use crate::config::{InitKind, JobConfig};
use crate::error::{Error, Result};
use crate::flow::{self, FlowField, FlowOptions, Plane};
use crate::imaging::{self, read_image, to_image, to_tensor, write_image_atomic};
use crate::job::{initial_image, schedule, Setup};
use crate::losses::{LossValues, TemporalLoss};
use crate::stylize::IterateRecord;
use crate::video::{
    EncoderOptions, Frame, FrameSource, SourceInfo, SourceOptions, VideoError, VideoWriter,
};

/// Frames decoded ahead of the optimiser, and finished frames waiting for the encoder.
const QUEUE: usize = 4;

/// What the pipeline tells its front end.
pub enum Event<'a> {
    Start {
        total: Option<usize>,
        resumed: usize,
        width: u32,
        height: u32,
        device: String,
    },
    Iterate {
        frame: usize,
        record: &'a IterateRecord,
    },
    FrameDone(&'a FrameReport),
    Warning(String),
}

/// One frame in the report.
#[derive(Debug, Clone, Serialize)]
pub struct FrameReport {
    pub index: usize,
    pub source_index: usize,
    pub init: &'static str,
    pub iterations: usize,
    pub evaluations: usize,
    pub losses: LossValues,
    pub seconds: f64,
    /// Time the flow thread spent on this frame's flow fields (overlapped with the optimiser).
    pub flow_seconds: f64,
    /// Taken from the work directory of an earlier run.
    pub resumed: bool,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Totals {
    pub frames: usize,
    pub resumed_frames: usize,
    pub iterations: usize,
    pub evaluations: usize,
    pub optimise_seconds: f64,
    pub flow_seconds: f64,
    pub wall_seconds: f64,
    pub frames_per_minute: f64,
}

/// The JSON report written beside the output.
#[derive(Debug, Clone, Serialize)]
pub struct JobReport {
    pub input: PathBuf,
    pub output: Option<PathBuf>,
    pub work_dir: PathBuf,
    pub width: u32,
    pub height: u32,
    pub device: String,
    pub frames: Vec<FrameReport>,
    pub totals: Totals,
    pub warnings: Vec<String>,
    pub config: JobConfig,
}

/// A decoded frame with the flow fields to its predecessors.
struct Prepared {
    frame: Frame,
    /// (offset k, flow from this frame to frame t-k, reliability mask), short-term first.
    flows: Vec<(usize, FlowField, Vec<f32>)>,
    flow_seconds: f64,
}

fn source_options(cfg: &JobConfig) -> SourceOptions {
    SourceOptions {
        start: cfg.input.start,
        end: cfg.input.end,
        step: cfg.input.step,
        max_frames: cfg.input.max_frames,
        size: cfg.input.size,
    }
}

/// Paths the job writes.
pub struct Outputs {
    pub video: Option<PathBuf>,
    pub work_dir: PathBuf,
    pub report: PathBuf,
}

impl Outputs {
    pub fn of(cfg: &JobConfig) -> Result<Self> {
        let base = cfg
            .output
            .path
            .clone()
            .or_else(|| {
                cfg.output
                    .frames
                    .as_ref()
                    .map(|f| PathBuf::from(f).with_file_name("frames"))
            })
            .ok_or_else(|| {
                Error::Config(crate::config::ConfigError::Invalid {
                    file: "job".into(),
                    key: "output.path".into(),
                    message: "set output.path (a video) or output.frames (an image pattern)".into(),
                })
            })?;
        let with_suffix = |s: &str| {
            let mut p = base.clone().into_os_string();
            p.push(s);
            PathBuf::from(p)
        };
        Ok(Self {
            video: cfg.output.path.clone(),
            work_dir: cfg
                .output
                .work_dir
                .clone()
                .unwrap_or_else(|| with_suffix(".work")),
            report: cfg
                .output
                .report
                .clone()
                .unwrap_or_else(|| with_suffix(".report.json")),
        })
    }
}

impl Outputs {
    /// Fails early on an output that cannot be written; with `create`,
    /// missing directories are made.
    fn check(&self, cfg: &JobConfig, create: bool) -> Result<()> {
        if let Some(v) = &self.video {
            imaging::check_writable(v, create)?;
        }
        imaging::check_writable(&self.report, create)?;
        if let Some(f) = &cfg.output.frames {
            imaging::check_writable(&pattern_path(f, 0), create)?;
        }
        Ok(())
    }
}

/// Which settings decide the pixels of the result; a work directory made
/// under other settings cannot be resumed.
fn fingerprint(cfg: &JobConfig) -> String {
    let mut c = cfg.clone();
    c.output = Default::default();
    c.run.print_every = 0;
    c.run.device = String::new();
    serde_json::to_string_pretty(&c).unwrap_or_default()
}

fn frame_file(work: &Path, index: usize) -> PathBuf {
    work.join(format!("frame_{index:06}.png"))
}

/// Expands a printf-like pattern (`%05d`, `%d`) with `index`.
fn pattern_path(pattern: &str, index: usize) -> PathBuf {
    if let Some(pos) = pattern.find('%') {
        let rest = &pattern[pos + 1..];
        if let Some(d) = rest.find('d') {
            let width: usize = rest[..d].trim_start_matches('0').parse().unwrap_or(0);
            return PathBuf::from(format!(
                "{}{index:0width$}{}",
                &pattern[..pos],
                &rest[d + 1..]
            ));
        }
    }
    PathBuf::from(format!("{pattern}{index:06}.png"))
}

/// Prepares the work directory: creates it, or checks that it belongs to this job.
fn open_work_dir(cfg: &JobConfig, work: &Path) -> Result<()> {
    let err = |message: String| Error::Output {
        file: work.display().to_string(),
        message,
    };
    std::fs::create_dir_all(work).map_err(|e| err(e.to_string()))?;
    let stamp = work.join("job.json");
    let fp = fingerprint(cfg);
    match std::fs::read_to_string(&stamp) {
        Ok(old) if old == fp => Ok(()),
        Ok(_) => Err(Error::Other(format!(
            "{}: holds frames of a job with other settings; delete it or set output.work_dir",
            work.display()
        ))),
        Err(_) => {
            let has_frames = std::fs::read_dir(work)
                .map_err(|e| err(e.to_string()))?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("frame_"));
            if has_frames {
                return Err(Error::Other(format!(
                    "{}: holds frames but no job.json; delete it or set output.work_dir",
                    work.display()
                )));
            }
            imaging::write_atomic(&stamp, |w| {
                w.write_all(fp.as_bytes()).map_err(|e| e.to_string())
            })
        }
    }
}

fn needs_flow(cfg: &JobConfig) -> bool {
    cfg.run.frame_init == InitKind::PrevWarped || cfg.loss.temporal_weight > 0.0
}

/// Offsets of the temporal terms: 1 (short-term) and the long-term ones.
fn offsets(cfg: &JobConfig) -> Vec<usize> {
    let mut v = vec![1];
    if cfg.loss.temporal_weight > 0.0 {
        v.extend(cfg.loss.long_term.iter().copied());
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn rgb_to_f32(img: &RgbImage) -> Vec<f32> {
    img.as_raw().iter().map(|&b| b as f32 / 255.0).collect()
}

/// The flow thread: gray planes of recent frames, flow from each frame to its
/// predecessors at the wanted offsets, and Ruder et al.'s reliability masks
/// (long-term masks exclude pixels a shorter term already covers).
fn flow_stage(
    frames: Receiver<Result<Frame, VideoError>>,
    out: SyncSender<Result<Prepared, VideoError>>,
    offsets: Vec<usize>,
    enabled: bool,
) {
    let opts = FlowOptions::default();
    let keep = offsets.iter().copied().max().unwrap_or(1);
    let mut grays: VecDeque<Plane> = VecDeque::new();
    for item in frames {
        let frame = match item {
            Ok(f) => f,
            Err(e) => {
                let _ = out.send(Err(e));
                return;
            }
        };
        let start = Instant::now();
        let mut flows = Vec::new();
        if enabled {
            let (w, h) = frame.image.dimensions();
            let gray = flow::gray_from_rgb8(w as usize, h as usize, frame.image.as_raw());
            let mut covered = vec![0f32; (w * h) as usize];
            for &k in &offsets {
                if k > grays.len() {
                    break;
                }
                let prev = &grays[grays.len() - k];
                let (back, fwd) = rayon::join(
                    || flow::estimate_flow(&gray, prev, &opts),
                    || flow::estimate_flow(prev, &gray, &opts),
                );
                let mut mask = flow::reliability_mask(&back, &fwd);
                for (m, c) in mask.iter_mut().zip(covered.iter_mut()) {
                    let own = (*m - *c).max(0.0);
                    *c = (*c + own).min(1.0);
                    *m = own;
                }
                flows.push((k, back, mask));
            }
            grays.push_back(gray);
            if grays.len() > keep {
                grays.pop_front();
            }
        }
        let prepared = Prepared {
            frame,
            flows,
            flow_seconds: start.elapsed().as_secs_f64(),
        };
        if out.send(Ok(prepared)).is_err() {
            return;
        }
    }
}

/// The encoder thread: writes frames to the temporary video and the optional
/// image sequence; renames the video into place only after `finish`.
struct Encoder {
    tx: Option<SyncSender<(usize, RgbImage)>>,
    handle: Option<thread::JoinHandle<Result<usize>>>,
    abort: std::sync::Arc<AtomicBool>,
}

impl Encoder {
    fn start(
        cfg: &JobConfig,
        info: &SourceInfo,
        audio_span: (f64, f64),
        video: Option<PathBuf>,
    ) -> Result<Self> {
        let (tx, rx) = sync_channel::<(usize, RgbImage)>(QUEUE);
        let abort = std::sync::Arc::new(AtomicBool::new(false));
        let writer = match &video {
            Some(path) => {
                let part = part_path(path);
                let format = path
                    .extension()
                    .and_then(|e| e.to_str())
                    .map(str::to_string);
                let audio_src = info.path.clone();
                let audio = (cfg.output.audio && info.has_audio).then_some((
                    audio_src.as_path(),
                    audio_span.0,
                    audio_span.1,
                ));
                let opts = EncoderOptions {
                    codec: cfg.output.codec.clone(),
                    crf: cfg.output.crf,
                    ..Default::default()
                };
                let w = VideoWriter::create(
                    &part,
                    format.as_deref(),
                    info.width,
                    info.height,
                    info.frame_rate,
                    audio,
                    &opts,
                )
                .map_err(|e| Error::Output {
                    file: path.display().to_string(),
                    message: e.to_string(),
                })?;
                Some((w, part, path.clone()))
            }
            None => None,
        };
        let frames_pattern = cfg.output.frames.clone();
        let abort2 = abort.clone();
        let handle = thread::spawn(move || -> Result<usize> {
            let mut writer = writer;
            let mut count = 0;
            let out_err = |file: &Path, e: VideoError| Error::Output {
                file: file.display().to_string(),
                message: e.to_string(),
            };
            for (index, img) in rx {
                if let Some((w, part, _)) = writer.as_mut() {
                    w.write(&img).map_err(|e| out_err(part, e))?;
                }
                if let Some(p) = &frames_pattern {
                    write_image_atomic(&pattern_path(p, index), &img)?;
                }
                count += 1;
            }
            if let Some((w, part, path)) = writer {
                if abort2.load(Ordering::SeqCst) || count == 0 {
                    drop(w);
                    let _ = std::fs::remove_file(&part);
                    return Ok(count);
                }
                w.finish().map_err(|e| out_err(&part, e))?;
                std::fs::rename(&part, &path).map_err(|e| Error::Output {
                    file: path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
            Ok(count)
        });
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
            abort,
        })
    }

    fn send(&self, index: usize, img: RgbImage) -> Result<()> {
        if let Some(tx) = &self.tx {
            if tx.send((index, img)).is_err() {
                // The encoder stopped early: its error comes out of `finish`.
                return Err(Error::Other("the encoder stopped".into()));
            }
        }
        Ok(())
    }

    /// Closes the stream; with `abort`, the temporary video is deleted.
    fn finish(mut self, abort: bool) -> Result<usize> {
        self.abort.store(abort, Ordering::SeqCst);
        self.tx.take();
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Error::Other("the encoder thread panicked".into())),
            None => Ok(0),
        }
    }
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

fn init_name(kind: InitKind) -> &'static str {
    match kind {
        InitKind::Content => "content",
        InitKind::Noise => "noise",
        InitKind::Prev => "prev",
        InitKind::PrevWarped => "prev_warped",
    }
}

/// Warps a [0, 1] stylized frame (kept as 8-bit) along `flow` into the current frame.
fn warp_image(img: &RgbImage, flow: &FlowField, device: Device) -> Tensor {
    let (w, h) = img.dimensions();
    let warped = flow::warp(&rgb_to_f32(img), 3, flow);
    Tensor::from_slice(&warped)
        .view([h as i64, w as i64, 3])
        .permute([2, 0, 1])
        .unsqueeze(0)
        .to_device(device)
}

fn mask_tensor(mask: &[f32], w: u32, h: u32, device: Device) -> Tensor {
    Tensor::from_slice(mask)
        .view([1, 1, h as i64, w as i64])
        .to_device(device)
}

/// Opens the input and checks the whole set-up without optimising anything.
pub fn check(cfg: &JobConfig) -> Result<SourceInfo> {
    let source = FrameSource::open(&cfg.input.path, &source_options(cfg)).map_err(video_err)?;
    let info = source.info().clone();
    let setup = Setup::new(cfg)?;
    setup.stylizer(
        cfg,
        &cfg.input.path.display().to_string(),
        info.width,
        info.height,
    )?;
    Outputs::of(cfg)?.check(cfg, false)?;
    Ok(info)
}

fn video_err(e: VideoError) -> Error {
    Error::Other(e.to_string())
}

/// Runs a video job. `stop` (set by Ctrl-C) ends it after saving the frames
/// finished so far; the error then says how to resume.
pub fn run(
    cfg: &JobConfig,
    stop: &AtomicBool,
    mut on_event: impl FnMut(Event),
) -> Result<JobReport> {
    let wall = Instant::now();
    let outs = Outputs::of(cfg)?;
    outs.check(cfg, true)?;
    let source = FrameSource::open(&cfg.input.path, &source_options(cfg)).map_err(video_err)?;
    let info = source.info().clone();
    let setup = Setup::new(cfg)?;
    let stylizer = setup.stylizer(
        cfg,
        &cfg.input.path.display().to_string(),
        info.width,
        info.height,
    )?;
    open_work_dir(cfg, &outs.work_dir)?;
    let device = setup.device;
    let audio_span = source.audio_span(info.frame_count.unwrap_or(usize::MAX / 4));

    // Decoder and flow threads run ahead of the optimiser.
    let (dec_tx, dec_rx) = sync_channel(QUEUE);
    let decoder = thread::spawn(move || {
        for item in source {
            let stop_after = item.is_err();
            if dec_tx.send(item).is_err() || stop_after {
                break;
            }
        }
    });
    let (prep_tx, prep_rx) = sync_channel(2);
    let offs = offsets(cfg);
    let use_flow = needs_flow(cfg);
    let flows = thread::spawn(move || flow_stage(dec_rx, prep_tx, offs, use_flow));
    let encoder = Encoder::start(cfg, &info, audio_span, outs.video.clone())?;

    let resumed_total = (0..)
        .take_while(|&i| frame_file(&outs.work_dir, i).exists())
        .count();
    on_event(Event::Start {
        total: info.frame_count,
        resumed: resumed_total,
        width: info.width,
        height: info.height,
        device: format!("{device:?}"),
    });

    let keep = offs_max(cfg);
    let mut history: VecDeque<RgbImage> = VecDeque::new();
    let mut reports = Vec::new();
    let mut warnings = Vec::new();
    let mut failure: Option<Error> = None;
    let mut interrupted = false;
    for item in prep_rx.iter() {
        let prep = match item {
            Ok(p) => p,
            Err(e) => {
                let msg = format!("{e}; keeping the {} frames before it", reports.len());
                if reports.is_empty() {
                    failure = Some(Error::Other(e.to_string()));
                } else {
                    on_event(Event::Warning(msg.clone()));
                    warnings.push(msg);
                    failure = Some(Error::Other(e.to_string()));
                }
                break;
            }
        };
        let index = prep.frame.index;
        let done_file = frame_file(&outs.work_dir, index);
        let (result_img, report) = if done_file.exists() {
            let img = read_image(&done_file)?;
            let r = FrameReport {
                index,
                source_index: prep.frame.source_index,
                init: "resumed",
                iterations: 0,
                evaluations: 0,
                losses: LossValues::default(),
                seconds: 0.0,
                flow_seconds: prep.flow_seconds,
                resumed: true,
            };
            (img, r)
        } else {
            let content = to_tensor(&prep.frame.image, device);
            let mut objective = stylizer.objective(&content);
            let first = history.is_empty();
            let (w, h) = prep.frame.image.dimensions();
            let init_kind = if first {
                cfg.run.init
            } else {
                cfg.run.frame_init
            };
            let short = prep.flows.iter().find(|(k, _, _)| *k == 1);
            let init = match (init_kind, history.back()) {
                (InitKind::Prev, Some(prev)) => to_tensor(prev, device),
                (InitKind::PrevWarped, Some(prev)) => match short {
                    Some((_, flow, mask)) => {
                        // Disoccluded pixels start from the content frame.
                        let m = mask_tensor(mask, w, h, device);
                        warp_image(prev, flow, device) * &m + &content * (1.0 - &m)
                    }
                    None => to_tensor(prev, device),
                },
                (kind, _) => initial_image(kind, &content),
            };
            if cfg.loss.temporal_weight > 0.0 {
                for (k, flow, mask) in &prep.flows {
                    if *k > history.len() {
                        continue;
                    }
                    let prev = &history[history.len() - k];
                    let target = stylizer.to_pixels(&warp_image(prev, flow, device));
                    // In the network's pixel units (0-255 for Caffe weights),
                    // as artistic-videos, so its weights carry over.
                    objective.push(
                        cfg.loss.temporal_weight,
                        TemporalLoss {
                            target,
                            mask: mask_tensor(mask, w, h, device),
                        },
                    );
                }
            }
            let sched = schedule(cfg, first);
            let result = stylizer.run(&objective, &init, &sched, |rec| {
                on_event(Event::Iterate {
                    frame: index,
                    record: rec,
                });
                if stop.load(Ordering::SeqCst) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if stop.load(Ordering::SeqCst) {
                interrupted = true;
                break;
            }
            let mut out = result.image;
            if cfg.style.original_colors {
                out = imaging::original_colors(&content, &out);
            }
            let img = to_image(&out);
            write_image_atomic(&done_file, &img)?;
            let r = FrameReport {
                index,
                source_index: prep.frame.source_index,
                init: init_name(init_kind),
                iterations: result.iterations,
                evaluations: result.evaluations,
                losses: result.losses,
                seconds: result.seconds,
                flow_seconds: prep.flow_seconds,
                resumed: false,
            };
            (img, r)
        };
        on_event(Event::FrameDone(&report));
        reports.push(report);
        if let Err(e) = encoder.send(index, result_img.clone()) {
            failure = Some(e);
            break;
        }
        history.push_back(result_img);
        if history.len() > keep {
            history.pop_front();
        }
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
    }
    drop(prep_rx);
    let abort = interrupted || (failure.is_some() && reports.is_empty());
    let encoded = encoder.finish(abort);
    let _ = flows.join();
    let _ = decoder.join();
    if interrupted {
        return Err(Error::Other(format!(
            "interrupted after {} finished frames (kept in {}); run the same command again to resume",
            reports.len(),
            outs.work_dir.display()
        )));
    }
    encoded?;
    if reports.is_empty() {
        return Err(failure.unwrap_or_else(|| {
            Error::Other(format!(
                "{}: no frames to process",
                cfg.input.path.display()
            ))
        }));
    }
    let mut totals = Totals {
        frames: reports.len(),
        resumed_frames: reports.iter().filter(|r| r.resumed).count(),
        ..Default::default()
    };
    for r in &reports {
        totals.iterations += r.iterations;
        totals.evaluations += r.evaluations;
        totals.optimise_seconds += r.seconds;
        totals.flow_seconds += r.flow_seconds;
    }
    totals.wall_seconds = wall.elapsed().as_secs_f64();
    let fresh = totals.frames - totals.resumed_frames;
    totals.frames_per_minute = fresh as f64 * 60.0 / totals.wall_seconds.max(1e-9);
    let report = JobReport {
        input: cfg.input.path.clone(),
        output: outs.video.clone(),
        work_dir: outs.work_dir.clone(),
        width: info.width,
        height: info.height,
        device: format!("{device:?}"),
        frames: reports,
        totals,
        warnings,
        config: cfg.clone(),
    };
    write_report(&outs.report, &report)?;
    if let Some(e) = failure {
        // The frames before the break are kept and encoded; still say it failed.
        return Err(Error::Other(format!(
            "{e}; the {} frames before it were written",
            report.frames.len()
        )));
    }
    Ok(report)
}

fn offs_max(cfg: &JobConfig) -> usize {
    offsets(cfg).into_iter().max().unwrap_or(1)
}

fn write_report(path: &Path, report: &JobReport) -> Result<()> {
    imaging::write_atomic(path, |w| {
        serde_json::to_writer_pretty(w, report).map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand() {
        assert_eq!(
            pattern_path("out/f_%05d.png", 7),
            PathBuf::from("out/f_00007.png")
        );
        assert_eq!(pattern_path("f%d.jpg", 12), PathBuf::from("f12.jpg"));
        assert_eq!(
            part_path(Path::new("a/b.mp4")),
            PathBuf::from("a/b.mp4.part")
        );
    }

    #[test]
    fn fingerprint_ignores_output_and_device() {
        let mut a = JobConfig::default();
        let mut b = a.clone();
        b.output.crf = 30;
        b.run.device = "cuda".into();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        a.loss.style_weight = 1.0;
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
