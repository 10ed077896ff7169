//! Pass 1 of a video job on the caller's thread: frames with their flow
//! pairs come in, each is taken from the work directory (resume) or
//! optimised from the frame before and saved there, then handed to the
//! encoder.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;

use image::RgbImage;

use crate::config::JobConfig;
use crate::error::{Error, Result};
use crate::imaging::to_tensor;
use crate::temporal::History;
use crate::video::VideoError;

use super::event::Event;
use super::frame::{iteration_hook, FrameOptimiser, Start, Task};
use super::stages::{Encoder, Prepared};
use crate::job::report::FrameReport;
use crate::job::store::workdir::WorkDir;

/// How a loop over frames ended.
pub enum LoopEnd {
    Finished,
    Interrupted,
    Failed(Error),
}

/// The optimiser's side of pass 1: frames in, finished frames out.
pub struct FrameLoop<'j> {
    pub cfg: &'j JobConfig,
    pub work: &'j WorkDir,
    /// Index in the clip of the first frame the decoder yields (a shard's start).
    pub first_index: usize,
    /// Frames before this index are a shard's lead-in: the first is
    /// stylized as the shard before did it, the others only carry its
    /// texture along the flow; none is saved, reported or encoded.
    pub lead_in_end: usize,
    /// Finished frames before this index are loaded from the work
    /// directory; later ones are optimised again (carried pairs, resume).
    pub resume_before: usize,
    pub optimiser: &'j FrameOptimiser<'j>,
    pub history: History,
    pub reports: Vec<FrameReport>,
    pub warnings: Vec<String>,
}

impl FrameLoop<'_> {
    pub fn run(
        &mut self,
        prepared: Receiver<Result<Prepared, VideoError>>,
        encoder: &Encoder,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> LoopEnd {
        for item in prepared {
            let mut prep = match item {
                Ok(p) => p,
                Err(e) => return LoopEnd::Failed(e.into()),
            };
            prep.frame.index += self.first_index;
            if prep.frame.index < self.lead_in_end {
                match self.lead_in(&prep, stop, on_event) {
                    Ok(Some(img)) => self.history.push(img),
                    Ok(None) => return LoopEnd::Interrupted,
                    Err(e) => return LoopEnd::Failed(e),
                }
                continue;
            }
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

    /// A lead-in frame: the first optimised from its own start as usual,
    /// the others their start image only. None when stopped.
    fn lead_in(
        &mut self,
        prep: &Prepared,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<RgbImage>> {
        let device = self.optimiser.stylizer.device();
        let content = to_tensor(&prep.frame.image, device);
        let kind = self.cfg.run.frame_init;
        if let Some(start) = self.history.start_image(kind, &prep.pairs, device) {
            return Ok(Some(crate::imaging::to_image(&start)));
        }
        let task = Task {
            index: prep.frame.index,
            content: &content,
            history: &self.history,
            pairs: &prep.pairs,
            start: Start::Chain,
            temporal: false,
            after_lead_in: false,
        };
        let mut hook = iteration_hook(prep.frame.index, stop, on_event);
        let (img, _) = self.optimiser.image(&task, &prep.frame.image, &mut hook)?;
        Ok((!stop.load(Ordering::SeqCst)).then_some(img))
    }

    /// One frame: taken from the work directory, or optimised and saved
    /// there. None when stopped in the middle.
    fn frame(
        &mut self,
        prep: &Prepared,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<(RgbImage, FrameReport)>> {
        let index = prep.frame.index;
        if self.cfg.optimizer.passes > 1 && !self.work.content().has(index) {
            // Later passes read the frames back in any order.
            self.work.content().save(index, &prep.frame.image)?;
        }
        if index < self.resume_before {
            if let Some(img) = self.work.pass(1).load(index)? {
                if let Some(level) = self.work.pass(1).level(index)? {
                    self.optimiser.hold.set_level(Some(level));
                }
                return Ok(Some((img, resumed_report(prep))));
            }
        }
        let content = to_tensor(&prep.frame.image, self.optimiser.stylizer.device());
        // After a lead-in the carried texture is only a start: the shard's
        // first frame is stylized in full, not held to that start.
        let after_lead_in = index == self.lead_in_end && self.first_index < index;
        let task = Task {
            index,
            content: &content,
            history: &self.history,
            pairs: &prep.pairs,
            start: Start::Chain,
            temporal: self.cfg.optimizer.temporal_from_pass <= 1 && !after_lead_in,
            after_lead_in,
        };
        let (img, done) = {
            let mut hook = iteration_hook(index, stop, on_event);
            self.optimiser.image(&task, &prep.frame.image, &mut hook)?
        };
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        if let Some(level) = done.level {
            self.work.pass(1).save_level(index, level)?;
        }
        self.work.pass(1).save(index, &img)?;
        let report = done.report(index, prep.frame.source_index, prep.flow_seconds);
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
}

fn resumed_report(prep: &Prepared) -> FrameReport {
    FrameReport {
        resumed: true,
        flow_seconds: prep.flow_seconds,
        ..FrameReport::resumed(prep.frame.index, prep.frame.source_index)
    }
}
