//! Passes after the first (manuelruder/artistic-videos' multi-pass): a pass
//! walks a range of frames forwards or backwards; each frame starts from
//! its previous-pass result blended with the warped neighbour the pass
//! comes from, and from `optimizer.temporal_from_pass` on, a temporal loss
//! ties it to that neighbour and to the one on the other side (its
//! previous-pass result, or the fixed frame beyond the range). The seam repair of a sharded clip runs the
//! same passes over a window with the frames outside it held fixed.
//!
//! Every frame is read from and written to a [`FrameDir`], so a pass
//! resumes frame by frame after a kill, and nothing holds the clip.
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use image::RgbImage;

use crate::error::Result;
use crate::imaging::to_tensor;
use crate::temporal::{pair_between, FlowPair, History, TemporalPlan};

use super::event::Event;
use super::frame::{iteration_hook, FrameOptimiser, Start, Task};
use crate::job::report::{Direction, FrameReport, PassReport};
use crate::job::store::workdir::FrameDir;

/// One pass over `frames`.
pub struct Pass<'d> {
    /// Counted from 1 (pass 1 is the job's streaming pass).
    pub number: usize,
    pub frames: Range<usize>,
    pub direction: Direction,
    /// The frames' previous-pass results.
    pub input: &'d FrameDir,
    pub output: &'d FrameDir,
    /// The input frames at the job's size.
    pub content: &'d FrameDir,
    /// Where the fixed frame just outside `frames` that the pass comes from
    /// lies (a seam window's neighbour); None for a pass over a whole clip.
    pub anchor: Option<&'d FrameDir>,
    /// Whether the temporal loss ties each frame to that neighbour.
    pub temporal: bool,
}

impl Pass<'_> {
    fn order(&self) -> Vec<usize> {
        match self.direction {
            Direction::Forward => self.frames.clone().collect(),
            Direction::Backward => self.frames.clone().rev().collect(),
        }
    }

    /// The anchor's index, if it has one inside the clip.
    fn anchor_index(&self, total: usize) -> Option<usize> {
        self.anchor?;
        match self.direction {
            Direction::Forward => self.frames.start.checked_sub(1),
            Direction::Backward => (self.frames.end < total).then_some(self.frames.end),
        }
    }
}

/// Runs passes with a job's optimiser.
pub struct PassRunner<'a> {
    pub optimiser: &'a FrameOptimiser<'a>,
    /// Frames in the whole clip.
    pub total: usize,
}

/// The stylized neighbour a frame is tied to, with its content frame.
struct Neighbour {
    stylized: RgbImage,
    content: RgbImage,
}

impl PassRunner<'_> {
    /// Announces and runs `pass`; None when `stop` was set (finished frames
    /// are saved).
    pub fn run(
        &self,
        pass: &Pass,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<PassReport>> {
        on_event(Event::Pass {
            number: pass.number,
            direction: pass.direction,
            frames: pass.frames.len(),
        });
        let mut neighbour = match pass.anchor_index(self.total) {
            Some(a) => Some(Neighbour {
                stylized: pass
                    .anchor
                    .expect("an anchor index has a directory")
                    .get(a)?,
                content: pass.content.get(a)?,
            }),
            None => None,
        };
        let mut frames = Vec::new();
        for index in pass.order() {
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
            let content = pass.content.get(index)?;
            let (stylized, report) = match pass.output.load(index)? {
                Some(done) => (done, FrameReport::resumed(index, index)),
                None => {
                    let Some(done) =
                        self.frame(pass, index, &content, &neighbour, stop, on_event)?
                    else {
                        return Ok(None);
                    };
                    on_event(Event::FrameDone(&done.1));
                    done
                }
            };
            frames.push(report);
            neighbour = Some(Neighbour { stylized, content });
        }
        Ok(Some(PassReport {
            pass: pass.number,
            direction: pass.direction,
            first: pass.frames.start,
            end: pass.frames.end,
            frames,
        }))
    }

    /// The neighbour on the side the pass goes to: its previous-pass result
    /// inside the range, the fixed frame beyond it (with an anchor).
    fn other_side(&self, pass: &Pass, index: usize) -> Result<Option<Neighbour>> {
        let next = match pass.direction {
            Direction::Forward => index.checked_add(1),
            Direction::Backward => index.checked_sub(1),
        };
        let Some(j) = next.filter(|&j| j < self.total) else {
            return Ok(None);
        };
        let from = match (pass.frames.contains(&j), pass.anchor) {
            (true, _) => pass.input,
            (false, Some(anchor)) => anchor,
            (false, None) => return Ok(None),
        };
        Ok(Some(Neighbour {
            stylized: from.get(j)?,
            content: pass.content.get(j)?,
        }))
    }

    fn frame(
        &self,
        pass: &Pass,
        index: usize,
        content: &RgbImage,
        neighbour: &Option<Neighbour>,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<Option<(RgbImage, FrameReport)>> {
        let flow_start = Instant::now();
        // Tied to both sides, a range settles between its neighbours
        // instead of carrying one side into the other (a seam window is
        // held at both ends; docs/temporal.md "Multi-pass" has the numbers).
        let other = self.other_side(pass, index)?;
        let ties: Vec<&Neighbour> = neighbour.iter().chain(other.iter()).collect();
        let (history, pairs) = tied_to(&ties, content);
        let flow_seconds = flow_start.elapsed().as_secs_f64();
        let tensor = to_tensor(content, self.optimiser.stylizer.device());
        let task = Task {
            index,
            content: &tensor,
            history: &history,
            pairs: &pairs,
            start: Start::Blend(pass.input.get(index)?),
            temporal: pass.temporal,
            after_lead_in: false,
        };
        let (img, done) = {
            let mut hook = iteration_hook(index, stop, on_event);
            self.optimiser.image(&task, content, &mut hook)?
        };
        if stop.load(Ordering::SeqCst) {
            return Ok(None);
        }
        pass.output.save(index, &img)?;
        Ok(Some((img, done.report(index, index, flow_seconds))))
    }
}

/// The history and flow pairs that tie a frame (content `current`) to
/// `ties`, first the neighbour the pass comes from: `ties[k]` is frame
/// "t - (k + 1)" of the history, whatever side of the frame it lies on.
fn tied_to(ties: &[&Neighbour], current: &RgbImage) -> (History, Vec<FlowPair>) {
    let plan = TemporalPlan {
        offsets: (1..=ties.len().max(1)).collect(),
        flow: true,
        weight: 0.0,
    };
    let mut history = History::new(&plan);
    for n in ties.iter().rev() {
        history.push(n.stylized.clone());
    }
    let pairs = ties
        .iter()
        .enumerate()
        .map(|(k, n)| FlowPair {
            offset: k + 1,
            ..pair_between(&n.content, current)
        })
        .collect();
    (history, pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_passes_alternate_and_anchors_sit_on_the_side_a_pass_comes_from() {
        assert_eq!(Direction::of_pass(1), Direction::Forward);
        assert_eq!(Direction::of_pass(2), Direction::Backward);
        assert_eq!(Direction::of_pass(3), Direction::Forward);
        let dir = FrameDir::new("x".into());
        let pass = |direction, frames: Range<usize>, anchor| Pass {
            number: 2,
            frames,
            direction,
            input: &dir,
            output: &dir,
            content: &dir,
            anchor,
            temporal: true,
        };
        let fwd = pass(Direction::Forward, 4..8, Some(&dir));
        assert_eq!(fwd.order(), [4, 5, 6, 7]);
        assert_eq!(fwd.anchor_index(10), Some(3));
        let back = pass(Direction::Backward, 4..8, Some(&dir));
        assert_eq!(back.order(), [7, 6, 5, 4]);
        assert_eq!(back.anchor_index(10), Some(8));
        assert_eq!(back.anchor_index(8), None, "no frame after the clip");
        assert_eq!(
            pass(Direction::Forward, 0..3, Some(&dir)).anchor_index(10),
            None
        );
        assert_eq!(pass(Direction::Forward, 4..8, None).anchor_index(10), None);
    }
}
