//! The video job as an object with stages: set-up (`VideoJob::new`: outputs,
//! source, network and style targets), then `run`: the decoder and flow
//! threads feed the optimiser on this thread, which hands finished frames to
//! the encoder thread; the work directory keeps every finished frame, and the
//! report is written at the end.
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::config::{ConfigError, JobConfig};
use crate::error::{Error, Result};
use crate::imaging::{original_colors, to_image, to_tensor};
use crate::losses::LossValues;
use crate::stylize::{IterateRecord, Stylizer};
use crate::temporal::{History, TemporalPlan};
use crate::video::{EncoderOptions, FrameSource, SourceInfo, VideoWriter};

use super::frame::{FrameOptimiser, Optimised, StartFault};
use super::outputs::{part_path, Outputs};
use super::report::{FrameReport, JobReport, Totals};
use super::setup::Setup;
use super::stages::{self, Encoder, Prepared, Sinks};
use super::workdir::WorkDir;

/// What a running job tells its front end.
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

/// A video job, set up and ready to run.
pub struct VideoJob<'a> {
    cfg: &'a JobConfig,
    outputs: Outputs,
    /// Taken by the decoder thread when the job runs.
    source: Option<FrameSource>,
    info: SourceInfo,
    setup: Setup,
    stylizer: Stylizer,
    fault: Option<StartFault>,
}

/// How the frame loop ended.
enum LoopEnd {
    Finished,
    Interrupted,
    Failed(Error),
}

impl<'a> VideoJob<'a> {
    /// Checks the outputs (creating missing directories), opens the input,
    /// loads the network and computes the style targets.
    pub fn new(cfg: &'a JobConfig) -> Result<Self> {
        let outputs = Outputs::of(cfg)?;
        outputs.check(true)?;
        Self::with_outputs(cfg, outputs)
    }

    fn with_outputs(cfg: &'a JobConfig, outputs: Outputs) -> Result<Self> {
        if cfg.input.path.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                file: cfg.source.clone(),
                key: "input.path".into(),
                message: "set the clip, image sequence or image to read".into(),
            }
            .into());
        }
        let source = FrameSource::open(&cfg.input.path, &cfg.input)?;
        let info = source.info().clone();
        let setup = Setup::new(cfg)?;
        let what = cfg.input.path.display().to_string();
        let stylizer = setup.stylizer(cfg, &what, info.width, info.height)?;
        Ok(Self {
            cfg,
            outputs,
            source: Some(source),
            info,
            setup,
            stylizer,
            fault: None,
        })
    }

    /// Sets up everything a run needs without optimising or writing anything.
    pub fn check(cfg: &JobConfig) -> Result<SourceInfo> {
        let outputs = Outputs::of(cfg)?;
        outputs.check(false)?;
        Ok(VideoJob::with_outputs(cfg, outputs)?.info)
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// Test hook: poisons chosen start images with NaN.
    #[doc(hidden)]
    pub fn with_start_fault(mut self, fault: StartFault) -> Self {
        self.fault = Some(fault);
        self
    }

    /// Runs the job. `stop` (set by Ctrl-C) ends it after saving the frames
    /// finished so far.
    pub fn run(mut self, stop: &AtomicBool, mut on_event: impl FnMut(Event)) -> Result<JobReport> {
        let wall = Instant::now();
        let work = WorkDir::open(self.cfg, &self.outputs.work_dir)?;
        let source = self.source.take().expect("a job runs once");
        let audio_span = source.audio_span(self.info.frame_count.unwrap_or(usize::MAX / 4));
        let encoder = Encoder::start(self.sinks(audio_span)?);
        let (frames, decoder) = stages::decode(source);
        let (prepared, flow) = stages::flow(frames, TemporalPlan::of(self.cfg));
        on_event(Event::Start {
            total: self.info.frame_count,
            resumed: work.finished(),
            width: self.info.width,
            height: self.info.height,
            device: format!("{:?}", self.setup.device),
        });
        let mut state = FrameLoop {
            cfg: self.cfg,
            work: &work,
            optimiser: FrameOptimiser {
                cfg: self.cfg,
                stylizer: &self.stylizer,
                input: self.cfg.input.path.display().to_string(),
                fault: self.fault,
            },
            history: History::new(&TemporalPlan::of(self.cfg)),
            reports: Vec::new(),
            warnings: Vec::new(),
        };
        let end = state.run(prepared, &encoder, stop, &mut on_event);
        let input = self.cfg.input.path.clone();
        // Workers are joined before the encoder decides: a panicked decoder
        // must not leave a short video that looks complete.
        let end = match (end, decoder.join(&input), flow.join(&input)) {
            (LoopEnd::Finished, Err(e), _) | (LoopEnd::Finished, _, Err(e)) => LoopEnd::Failed(e),
            (end, _, _) => end,
        };
        let abort = !matches!(end, LoopEnd::Finished);
        let encoded = encoder.finish(abort, &input);
        let (reports, warnings) = (state.reports, state.warnings);
        self.finish(end, encoded, reports, warnings, wall)
    }

    fn sinks(&self, audio_span: (f64, f64)) -> Result<Sinks> {
        let video = match &self.outputs.video {
            Some(path) => Some((self.writer(path, audio_span)?, path.clone())),
            None => None,
        };
        Ok(Sinks {
            video,
            frames: self.outputs.frames.clone(),
        })
    }

    fn writer(&self, path: &Path, audio_span: (f64, f64)) -> Result<VideoWriter> {
        let info = &self.info;
        let format = path.extension().and_then(|e| e.to_str());
        let audio = (self.cfg.output.audio && info.has_audio).then_some((
            info.path.as_path(),
            audio_span.0,
            audio_span.1,
        ));
        let opts = EncoderOptions {
            codec: self.cfg.output.codec.clone(),
            crf: self.cfg.output.crf,
            ..Default::default()
        };
        let (w, h, rate) = (info.width, info.height, info.frame_rate);
        VideoWriter::create(&part_path(path), format, w, h, rate, audio, &opts).map_err(|e| {
            Error::Output {
                file: path.display().to_string(),
                message: e.to_string(),
            }
        })
    }

    /// Decides the outcome: the report is written whenever a frame was
    /// done; an interrupted or failed job returns its error.
    fn finish(
        &self,
        end: LoopEnd,
        encoded: Result<usize>,
        frames: Vec<FrameReport>,
        warnings: Vec<String>,
        wall: Instant,
    ) -> Result<JobReport> {
        let work_dir = self.outputs.work_dir.clone();
        let failure = match end {
            LoopEnd::Interrupted => {
                return Err(Error::Interrupted {
                    frames: frames.len(),
                    work_dir,
                })
            }
            LoopEnd::Failed(e) => Some(e),
            LoopEnd::Finished => encoded.err(),
        };
        if frames.is_empty() {
            return Err(failure.unwrap_or_else(|| Error::NoFrames {
                input: self.cfg.input.path.clone(),
            }));
        }
        let report = self.report(frames, warnings, wall);
        report.write(&self.outputs.report)?;
        match failure {
            None => Ok(report),
            Some(e) => Err(Error::Partial {
                source: Box::new(e),
                kept: report.frames.len(),
                work_dir,
            }),
        }
    }

    fn report(&self, frames: Vec<FrameReport>, warnings: Vec<String>, wall: Instant) -> JobReport {
        JobReport {
            input: self.cfg.input.path.clone(),
            output: self.outputs.video.clone(),
            work_dir: self.outputs.work_dir.clone(),
            width: self.info.width,
            height: self.info.height,
            device: format!("{:?}", self.setup.device),
            totals: Totals::of(&frames, wall.elapsed().as_secs_f64()),
            frames,
            warnings,
            config: self.cfg.clone(),
        }
    }
}

/// The optimiser's side of a run: frames in, finished frames out.
struct FrameLoop<'j> {
    cfg: &'j JobConfig,
    work: &'j WorkDir,
    optimiser: FrameOptimiser<'j>,
    history: History,
    reports: Vec<FrameReport>,
    warnings: Vec<String>,
}

impl FrameLoop<'_> {
    fn run(
        &mut self,
        prepared: std::sync::mpsc::Receiver<Result<Prepared, crate::video::VideoError>>,
        encoder: &Encoder,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> LoopEnd {
        for item in prepared {
            let prep = match item {
                Ok(p) => p,
                Err(e) => return LoopEnd::Failed(e.into()),
            };
            let (img, report) = match self.frame(&prep, stop, on_event) {
                Ok(Some(done)) => done,
                Ok(None) => return LoopEnd::Interrupted,
                Err(e) => return LoopEnd::Failed(e),
            };
            on_event(Event::FrameDone(&report));
            self.reports.push(report);
            if !encoder.send(prep.frame.index, img.clone()) {
                // The encoder stopped; its error comes out of `finish`.
                return LoopEnd::Finished;
            }
            self.history.push(img);
            if stop.load(Ordering::SeqCst) {
                return LoopEnd::Interrupted;
            }
        }
        LoopEnd::Finished
    }

    /// One frame: taken from the work directory, or optimised and saved
    /// there. None when stopped in the middle.
    fn frame(
        &mut self,
        prep: &Prepared,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<(image::RgbImage, FrameReport)>> {
        let index = prep.frame.index;
        if let Some(img) = self.work.load(index)? {
            return Ok(Some((img, resumed_report(prep))));
        }
        let done = self.optimise(prep, stop, on_event)?;
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let Optimised {
            result,
            init,
            retries,
        } = done;
        let device = result.image.device();
        let mut out = result.image;
        if self.cfg.style.original_colors {
            out = original_colors(&to_tensor(&prep.frame.image, device), &out);
        }
        let img = to_image(&out);
        self.work.save(index, &img)?;
        let report = FrameReport {
            index,
            source_index: prep.frame.source_index,
            init: init.name(),
            iterations: result.iterations,
            evaluations: result.evaluations,
            losses: result.losses,
            seconds: result.seconds,
            flow_seconds: prep.flow_seconds,
            resumed: false,
            retries,
        };
        for r in &report.retries {
            let w = format!(
                "frame {index}: the loss became {} from a {} start (step {}); retried",
                r.loss, r.init, r.learning_rate
            );
            on_event(Event::Warning(w.clone()));
            self.warnings.push(w);
        }
        Ok(Some((img, report)))
    }

    fn optimise(
        &mut self,
        prep: &Prepared,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Optimised> {
        let index = prep.frame.index;
        let device = self.optimiser.stylizer.device();
        let what = format!("{}: frame {index}", self.optimiser.input);
        crate::error::catch_torch(&what, || {
            let content = to_tensor(&prep.frame.image, device);
            let mut on_iter = |rec: &IterateRecord| {
                on_event(Event::Iterate {
                    frame: index,
                    record: rec,
                });
                if stop.load(Ordering::SeqCst) {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            let history = &self.history;
            self.optimiser
                .run(index, &content, history, &prep.pairs, &mut on_iter)
        })?
    }
}

fn resumed_report(prep: &Prepared) -> FrameReport {
    FrameReport {
        index: prep.frame.index,
        source_index: prep.frame.source_index,
        init: "resumed",
        iterations: 0,
        evaluations: 0,
        losses: LossValues::default(),
        seconds: 0.0,
        flow_seconds: prep.flow_seconds,
        resumed: true,
        retries: Vec::new(),
    }
}
