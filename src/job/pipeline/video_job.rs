//! The video job as an object with stages: set-up (`VideoJob::new`: outputs,
//! source, network and style targets), then `run`: the decoder and flow
//! threads feed pass 1 on this thread (`frame_loop`), which hands finished
//! frames to the encoder thread; later passes (`passes`) read and write the
//! work directory, and the video is then made from it. A shard's run stops
//! at its frames; `join` makes the video.
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::config::{ConfigError, JobConfig};
use crate::error::{Error, Result};
use crate::memory::{Budget, Shape};
use crate::stylize::Stylizer;

use super::event::Event;
use crate::temporal::{History, TemporalPlan};
use crate::video::{FrameSource, SourceInfo};

use super::assemble;
use super::frame::{Curvature, FrameOptimiser, StartFault};
use super::frame_loop::{FrameLoop, LoopEnd};
use super::hold::StyleHold;
use super::passes::{Pass, PassRunner};
use super::scales::Coarse;
use super::setup::Setup;
use super::stages::{self, Encoder, Sinks};
use crate::job::report::{html, Complete, Direction, FrameReport, JobReport, PassReport, Totals};
use crate::job::shards::plan::{Part, Shard};
use crate::job::store::outputs::Outputs;
use crate::job::store::workdir::{FrameDir, WorkDir};

/// A video job, set up and ready to run.
pub struct VideoJob<'a> {
    cfg: &'a JobConfig,
    outputs: Outputs,
    /// Taken by the decoder thread when the job runs.
    source: Option<FrameSource>,
    /// Of the frames this run reads (a shard's, when it runs one).
    info: SourceInfo,
    part: Part,
    /// Seconds of the input's audio that the whole clip covers.
    audio_span: (f64, f64),
    setup: Setup,
    stylizer: Stylizer,
    /// The coarse sizes of the first frame (`optimizer.min_size`).
    coarse: Coarse,
    fault: Option<StartFault>,
    /// Whether an HTML report goes beside the JSON one.
    html: bool,
    memory: Budget,
}

/// Whether the shard's first frame is already in the work directory (then
/// its lead-in is not needed).
fn resumable(outputs: &Outputs, part: &Part) -> bool {
    crate::job::store::workdir::pass_dir(&outputs.work_dir, 1).has(part.frames.start)
}

/// What a run produced, for its report.
struct Done {
    frames: Vec<FrameReport>,
    passes: Vec<PassReport>,
    warnings: Vec<String>,
}

impl<'a> VideoJob<'a> {
    /// Checks the outputs (creating missing directories), opens the input,
    /// loads the network and computes the style targets. With a shard, the
    /// run covers only its frames, writes them to the work directory and
    /// leaves the video to `join`.
    pub fn new(cfg: &'a JobConfig, shard: Option<Shard>) -> Result<Self> {
        let outputs = Outputs::of(cfg)?;
        outputs.check(cfg, true)?;
        Self::with_outputs(cfg, outputs, shard)
    }

    fn with_outputs(cfg: &'a JobConfig, outputs: Outputs, shard: Option<Shard>) -> Result<Self> {
        if cfg.input.path.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                file: cfg.source.clone(),
                key: "input.path".into(),
                message: "set the clip, image sequence or image to read".into(),
            }
            .into());
        }
        let whole = FrameSource::open(&cfg.input.path, &cfg.input)?;
        let count = whole.info().frame_count;
        let audio_span = whole.audio_span(count.unwrap_or(usize::MAX / 4));
        let (source, part) = match shard {
            None => (whole, Part::whole(count)),
            Some(s) => {
                let mut part = Part::shard(cfg, s, count, &outputs.work_dir)?;
                if cfg.shards.lead_in && !resumable(&outputs, &part) {
                    part = part.with_lead_in();
                }
                let opts = part.input(&cfg.input);
                (FrameSource::open(&cfg.input.path, &opts)?, part)
            }
        };
        let info = source.info().clone();
        if let Some(video) = &outputs.video {
            assemble::check_encoder(cfg, &info, video)?;
        }
        let what = cfg.input.path.display().to_string();
        let shape = Shape::of(cfg, info.width, info.height, true);
        let memory = crate::memory::check(cfg, &what, &shape)?;
        let setup = Setup::new(cfg)?;
        let stylizer = setup.stylizer(cfg, &what, info.width, info.height)?;
        let coarse = Coarse::new(&setup, cfg, &what, &shape)?;
        Ok(Self {
            cfg,
            outputs,
            source: Some(source),
            info,
            part,
            audio_span,
            setup,
            stylizer,
            coarse,
            fault: None,
            html: true,
            memory,
        })
    }

    /// Sets up everything a run needs without optimising or writing
    /// anything: what it reads, and the memory it is estimated to need.
    pub fn check(cfg: &JobConfig) -> Result<(SourceInfo, Budget)> {
        let outputs = Outputs::of(cfg)?;
        outputs.check(cfg, false)?;
        let job = VideoJob::with_outputs(cfg, outputs, None)?;
        Ok((job.info, job.memory))
    }

    /// The memory `cfg`'s clip is estimated to need, held to its limit,
    /// from the input's size alone: a batch checks every entry with it
    /// before the first starts.
    pub fn budget(cfg: &JobConfig) -> Result<Budget> {
        let info = FrameSource::open(&cfg.input.path, &cfg.input)?
            .info()
            .clone();
        let shape = Shape::of(cfg, info.width, info.height, true);
        let what = cfg.input.path.display().to_string();
        Ok(crate::memory::check(cfg, &what, &shape)?)
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

    /// Writes no HTML report (a preview's cells need only their frames).
    pub fn without_html(mut self) -> Self {
        self.html = false;
        self
    }

    /// Runs the job. `stop` (set by Ctrl-C) ends it after saving the frames
    /// finished so far.
    pub fn run(mut self, stop: &AtomicBool, mut on_event: impl FnMut(Event)) -> Result<JobReport> {
        let wall = Instant::now();
        let o = &self.outputs;
        let work = WorkDir::open(self.cfg, &o.inputs, &o.work_dir, &self.part.lock_name())?;
        self.part.claim(work.path())?;
        if self.part.shard.is_none() {
            work.remove_stale_temporaries()?;
        }
        // A clip in one pass streams to the encoder; otherwise the video is
        // made from the work directory after the last pass (or by `join`).
        let streaming = self.part.shard.is_none() && self.cfg.optimizer.passes == 1;
        let sinks = match streaming {
            true => assemble::sinks(self.cfg, &self.outputs, &self.info, self.audio_span)?
                .held_by(work.held()),
            false => Sinks::none(),
        };
        let encoder = Encoder::start(sinks);
        let source = self.source.take().expect("a job runs once");
        let optimiser = self.optimiser();
        let (end, mut encoded, mut done) =
            self.first_pass(source, &work, &optimiser, encoder, stop, &mut on_event);
        let end = match end {
            LoopEnd::Finished => {
                let frames = self.part.frames.start..self.part.frames.start + done.frames.len();
                let passes = &mut done.passes;
                self.later_passes(&work, &optimiser, frames, passes, stop, &mut on_event)
            }
            other => other,
        };
        if matches!(end, LoopEnd::Finished) && !streaming && self.part.shard.is_none() {
            encoded = self.encode_from(&work.pass(self.cfg.optimizer.passes), done.frames.len());
        }
        self.finish(end, encoded, done, wall)
    }

    /// Where pass 1 stops loading finished frames: everywhere without
    /// carried pairs; with them, where the replay that rebuilds the memory
    /// starts.
    fn resume_before(&self, work: &WorkDir) -> usize {
        if !self.cfg.optimizer.carry_pairs {
            return usize::MAX;
        }
        let start = self.part.frames.start;
        let unfinished = (start..).find(|&i| !work.pass(1).has(i));
        Curvature::replay_from(unfinished.unwrap_or(start), start)
    }

    fn optimiser(&self) -> FrameOptimiser<'_> {
        FrameOptimiser {
            cfg: self.cfg,
            stylizer: &self.stylizer,
            input: self.cfg.input.path.display().to_string(),
            fault: self.fault,
            curvature: Default::default(),
            coarse: (!self.coarse.is_empty()).then_some(&self.coarse),
            hold: StyleHold::new(&self.cfg.optimizer),
            tiles: self.memory.tiles,
        }
    }

    /// Pass 1: announces the job (with the finished frames it will load),
    /// then decoder and flow threads feed the frame loop, which feeds the
    /// encoder.
    fn first_pass(
        &self,
        source: FrameSource,
        work: &WorkDir,
        optimiser: &FrameOptimiser,
        encoder: Encoder,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> (LoopEnd, Result<usize>, Done) {
        let resume_before = self.resume_before(work);
        let part = &self.part.frames;
        on_event(Event::Start {
            total: self.info.frame_count,
            resumed: work.pass(1).count(part.start..resume_before.min(part.end)),
            width: self.info.width,
            height: self.info.height,
            device: format!("{:?}", self.setup.device),
            notes: assemble::input_notes(self.cfg, &self.info, &self.outputs),
        });
        let (frames, decoder) = stages::decode(source);
        let (prepared, flow) = stages::flow(frames, TemporalPlan::of(self.cfg));
        let mut state = FrameLoop {
            cfg: self.cfg,
            work,
            first_index: self.part.lead_in,
            lead_in_end: self.part.frames.start,
            resume_before,
            optimiser,
            history: History::new(&TemporalPlan::of(self.cfg)),
            reports: Vec::new(),
            warnings: Vec::new(),
        };
        let end = state.run(prepared, &encoder, stop, on_event);
        let input = &self.cfg.input.path;
        // Workers are joined before the encoder decides: a panicked decoder
        // must not leave a short video that looks complete.
        let end = match (end, decoder.join(input), flow.join(input)) {
            (LoopEnd::Finished, Err(e), _) | (LoopEnd::Finished, _, Err(e)) => LoopEnd::Failed(e),
            (end, _, _) => end,
        };
        let abort = !matches!(end, LoopEnd::Finished);
        let encoded = encoder.finish(abort, input);
        let done = Done {
            frames: state.reports,
            passes: Vec::new(),
            warnings: state.warnings,
        };
        (end, encoded, done)
    }

    /// Passes 2.. over `frames`, each resuming from its directory.
    fn later_passes(
        &self,
        work: &WorkDir,
        optimiser: &FrameOptimiser,
        frames: std::ops::Range<usize>,
        out: &mut Vec<PassReport>,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> LoopEnd {
        let runner = PassRunner {
            optimiser,
            total: frames.end,
        };
        let content = work.content();
        for number in 2..=self.cfg.optimizer.passes {
            let (input, output) = (work.pass(number - 1), work.pass(number));
            let pass = Pass {
                number,
                frames: frames.clone(),
                direction: Direction::of_pass(number),
                input: &input,
                output: &output,
                content: &content,
                anchor: None,
                temporal: number >= self.cfg.optimizer.temporal_from_pass,
            };
            match runner.run(&pass, stop, on_event) {
                Ok(Some(report)) => out.push(report),
                Ok(None) => return LoopEnd::Interrupted,
                Err(e) => return LoopEnd::Failed(e),
            }
        }
        LoopEnd::Finished
    }

    fn encode_from(&self, frames: &FrameDir, count: usize) -> Result<usize> {
        let mut sinks = assemble::sinks(self.cfg, &self.outputs, &self.info, self.audio_span)?;
        if let Some(h) = frames.held() {
            sinks = sinks.held_by(h.clone());
        }
        assemble::encode_files(sinks, count, |i| frames.file(i), &self.cfg.input.path)
    }

    /// Decides the outcome: the report is written whenever a frame was
    /// done; an interrupted or failed job returns its error.
    fn finish(
        &self,
        end: LoopEnd,
        encoded: Result<usize>,
        done: Done,
        wall: Instant,
    ) -> Result<JobReport> {
        let work_dir = self.outputs.work_dir.clone();
        let failure = match end {
            LoopEnd::Interrupted => {
                return Err(Error::Interrupted {
                    frames: done.frames.len(),
                    work_dir,
                })
            }
            LoopEnd::Failed(e) => Some(e),
            LoopEnd::Finished => encoded.err(),
        };
        // Another process has the work directory now: not even a report.
        if let Some(e @ Error::LockLost { .. }) = failure {
            return Err(e);
        }
        if done.frames.is_empty() {
            return Err(failure.unwrap_or_else(|| Error::NoFrames {
                input: self.cfg.input.path.clone(),
            }));
        }
        let mut report = self.report(done, wall);
        if let (None, None, Some(video)) = (&failure, self.part.shard, &self.outputs.video) {
            report.complete = Some(Complete::of(video)?);
        }
        let json = self.part.report_file(&self.outputs.report, &work_dir);
        if self.html && self.part.shard.is_none() {
            html::write_or_warn(&mut report, &json);
        }
        report.write(&json)?;
        match failure {
            None => Ok(report),
            Some(e) => Err(Error::Partial {
                cause: Box::new(e),
                kept: report.frames.len(),
                work_dir,
            }),
        }
    }

    fn report(&self, done: Done, wall: Instant) -> JobReport {
        JobReport {
            input: self.cfg.input.path.clone(),
            output: self.outputs.video.clone(),
            work_dir: self.outputs.work_dir.clone(),
            shard: self.part.shard.map(|s| s.to_string()),
            width: self.info.width,
            height: self.info.height,
            source: assemble::input_notes(self.cfg, &self.info, &self.outputs),
            device: format!("{:?}", self.setup.device),
            totals: Totals::of(&done.frames, wall.elapsed().as_secs_f64()),
            frames: done.frames,
            passes: done.passes,
            seams: Vec::new(),
            warnings: done.warnings,
            machine: crate::device::Machine::this(),
            complete: None,
            eval: None,
            compared: Vec::new(),
            memory: Some(self.memory),
            config: self.cfg.clone(),
        }
    }
}
