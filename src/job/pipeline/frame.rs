//! Optimising one frame of a clip: the start image, the objective with its
//! temporal terms, and the guard against a loss that turns NaN or infinite
//! (retried from the content frame, then with a shorter first step; a broken
//! frame is never returned).
use std::cell::RefCell;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};

use image::RgbImage;

use tch::Tensor;

use crate::config::{InitKind, JobConfig};
use crate::error::{Error, Result};
use crate::imaging::{original_colors, to_image, to_tensor};
use crate::losses::SumLoss;
use crate::optimizer::Lbfgs;
use crate::stylize::{IterateRecord, Schedule, Stylized, Stylizer};
use crate::temporal::{short_pair, FlowPair, History, TemporalTarget};
use crate::tiles::Grid;

use super::event::Event;
use super::hold::StyleHold;
use super::scales::{Coarse, Spent};
use super::setup::{initial_image, schedule, schedule_for};
use super::tiled::{self, Picture};
use crate::job::report::{FrameReport, Retry};

/// The attempts at a frame: its own start, then the content frame, then the
/// content frame with a first step a tenth as long.
const ATTEMPTS: [(Option<InitKind>, f64); 3] = [
    (None, 1.0),
    (Some(InitKind::Content), 1.0),
    (Some(InitKind::Content), 0.1),
];

/// A test hook: says whether to poison the start image of (frame, attempt)
/// with NaN, to exercise the retry path.
pub type StartFault = fn(usize, usize) -> bool;

/// The parts of a frame's optimisation that stay fixed for a job.
pub struct FrameOptimiser<'a> {
    pub cfg: &'a JobConfig,
    pub stylizer: &'a Stylizer,
    pub input: String,
    pub fault: Option<StartFault>,
    /// The last frame's L-BFGS memory, with `optimizer.carry_pairs`.
    pub curvature: Curvature,
    /// The coarse sizes a clip's first frame is painted through (`optimizer.min_size`).
    pub coarse: Option<&'a Coarse>,
    /// The style level pass 1's warm frames are held to.
    pub hold: StyleHold,
    /// The tiles each frame is painted in when it does not fit the memory
    /// budget whole (then no L-BFGS memory is carried between frames).
    pub tiles: Option<Grid>,
}

/// The carried L-BFGS memory starts afresh at every frame whose index is a
/// multiple of this, so that a resumed run can rebuild it (see
/// [`Curvature::replay_from`]) and give the same frames as one never stopped.
pub const CARRY_SPAN: usize = 16;

/// L-BFGS curvature pairs handed from one frame to the next.
#[derive(Default)]
pub struct Curvature(RefCell<Option<Lbfgs>>);

impl Curvature {
    /// The first frame that a resumed run optimises again instead of
    /// loading: the last fresh start of the memory at or before the first
    /// unfinished frame, but not before `start` (where the run's memory is
    /// fresh anyway). Replaying from there rebuilds the memory the frame
    /// would have had.
    pub fn replay_from(first_unfinished: usize, start: usize) -> usize {
        (first_unfinished - first_unfinished % CARRY_SPAN).max(start)
    }

    /// Runs `objective` from `init`, from and into the kept pairs.
    fn run(
        &self,
        stylizer: &Stylizer,
        objective: &SumLoss,
        init: &Tensor,
        sched: &Schedule,
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Stylized {
        let mut kept = self.0.borrow_mut();
        let lbfgs = kept.get_or_insert_with(|| Lbfgs::new(sched.lbfgs.clone()));
        stylizer.run_with(lbfgs, objective, init, sched, on_iter)
    }

    /// Forgets the pairs (after a frame whose loss went non-finite).
    fn forget(&self) {
        *self.0.borrow_mut() = None;
    }
}

/// Where a frame's optimisation starts.
pub enum Start {
    /// Pass 1: the first frame from `run.init`, later ones from the frame
    /// before (`run.frame_init`).
    Chain,
    /// A later pass: its previous-pass result, blended with the warped
    /// neighbour by `optimizer.pass_blend` where the flow is reliable.
    Blend(RgbImage),
}

/// One frame to optimise: its content (1 x 3 x H x W in [0, 1]), the
/// stylized neighbour(s) it is tied to and their flow pairs.
pub struct Task<'t> {
    pub index: usize,
    pub content: &'t Tensor,
    pub history: &'t History,
    pub pairs: &'t [FlowPair],
    pub start: Start,
    /// Whether the temporal loss applies (it also needs a weight above 0).
    pub temporal: bool,
    /// A shard's first frame, started from the texture its lead-in carried:
    /// it may run the first frame's budget, and is held to the level the
    /// lead-in set.
    pub after_lead_in: bool,
}

/// A finished frame.
pub struct Optimised {
    pub result: Stylized,
    /// How it started: an init kind's name, or "blend".
    pub init: &'static str,
    pub retries: Vec<Retry>,
    /// Started afresh: the flow from the frame before carried too little.
    pub new_shot: bool,
    /// The share of pixels the flow from the frame before could not carry.
    pub new_share: Option<f64>,
    /// Its style loss, when it set its shot's level for the style hold.
    pub level: Option<f64>,
}

/// What every attempt at a frame shares: its temporal targets (which a
/// half-size warm start also uses), objective, schedule and the budget
/// after which the style hold may stop it.
struct Problem {
    targets: Vec<TemporalTarget>,
    /// The whole frame's; none when it is painted in tiles, which take
    /// their crops of the content and the targets.
    objective: Option<SumLoss>,
    sched: Schedule,
    budget: Option<usize>,
}

/// How a frame is optimised, decided before its first attempt.
struct Plan {
    /// The share of pixels the flow from the frame before cannot carry.
    new_share: Option<f64>,
    /// The flow carries too little: a new shot, started afresh.
    new_shot: bool,
    /// Painted as a first frame: from `run.init`, coarse to fine.
    first: bool,
    /// Runs from the frame before's L-BFGS memory.
    carry: bool,
    /// Starts with `optimizer.frame_scale_iterations` at half size.
    warm_coarse: bool,
    /// A warm frame of pass 1: it gets the frame budget, which the style
    /// hold may extend.
    warm: bool,
    /// A shard's first frame after its lead-in: held to the level the
    /// lead-in's first frame set, which it keeps as its shard's (a first
    /// frame sets its shot's level from its own style loss).
    keeps_level: bool,
}

impl FrameOptimiser<'_> {
    fn plan(&self, task: &Task) -> Plan {
        let chain = matches!(task.start, Start::Chain);
        let new_share = short_pair(task.pairs).map(FlowPair::new_share);
        // A new shot: the flow from the frame before cannot carry more than
        // `run.new_shot` of its pixels.
        let new_shot = chain && new_share.is_some_and(|s| s > self.cfg.run.new_shot);
        let first = (task.history.is_empty() || new_shot) && chain;
        let warm = chain && !first && !task.after_lead_in;
        Plan {
            new_share,
            new_shot,
            first,
            // Later passes visit frames out of order: no memory to carry there.
            carry: self.cfg.optimizer.carry_pairs && chain,
            warm_coarse: warm && self.cfg.optimizer.frame_scale_iterations > 0,
            warm,
            keeps_level: chain && task.after_lead_in,
        }
    }

    /// Optimises one frame; `on_iter` sees every iteration and may stop it.
    pub fn run(
        &self,
        task: &Task,
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Result<Optimised> {
        let plan = self.plan(task);
        if plan.first || task.after_lead_in || task.index.is_multiple_of(CARRY_SPAN) {
            // Fresh at fixed frames (resume), and at a new shot (the pairs
            // describe the shot before).
            self.curvature.forget();
        }
        let problem = self.problem(task, &plan);
        let mut retries = Vec::new();
        for (attempt, &(_, step)) in ATTEMPTS.iter().enumerate() {
            let (result, init) = self.attempt(task, &plan, &problem, attempt, &mut *on_iter)?;
            if result.losses.total.is_finite() && all_finite(&result.image) {
                return Ok(self.finish(&plan, result, init, retries));
            }
            self.curvature.forget();
            retries.push(Retry {
                init: init.to_string(),
                loss: result.losses.total,
                learning_rate: step,
            });
        }
        Err(Error::NonFinite {
            input: self.input.clone(),
            frame: task.index,
            value: retries.last().map_or(f64::NAN, |r| r.loss),
            attempts: retries.len(),
        })
    }

    fn problem(&self, task: &Task, plan: &Plan) -> Problem {
        let targets = self.temporal_targets(task, !plan.new_shot);
        let objective = match self.tiles {
            Some(_) => None,
            None => Some(self.picture(task, &targets).objective(self.stylizer)),
        };
        let (sched, budget) = self.schedule(plan);
        Problem {
            targets,
            objective,
            sched,
            budget,
        }
    }

    /// Attempt `attempt` of [`ATTEMPTS`] and the name of its start. The
    /// first paints its start (coarse sizes or half size) and runs from the
    /// carried L-BFGS memory; a retry starts afresh from its fallback.
    fn attempt(
        &self,
        task: &Task,
        plan: &Plan,
        problem: &Problem,
        attempt: usize,
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Result<(Stylized, &'static str)> {
        let (fallback, step) = ATTEMPTS[attempt];
        let (init, name) = self.start_image(task, fallback, plan.first, attempt);
        let (init, spent) = match attempt {
            0 => self.painted_start(task, plan, init, &problem.targets, &mut *on_iter)?,
            _ => (init, Spent::default()),
        };
        let sched = shorter(&problem.sched, step);
        let mut hook = self.hold.hook(problem.budget, on_iter);
        let carry = plan.carry && attempt == 0;
        let result = self.optimise(task, problem, carry, &init, &sched, &mut hook);
        let result = Stylized {
            iterations: result.iterations + spent.iterations,
            evaluations: result.evaluations + spent.evaluations,
            seconds: result.seconds + spent.seconds,
            ..result
        };
        Ok((result, name))
    }

    /// Minimises the frame's objective from `init`: whole (from the carried
    /// L-BFGS memory with `carry`), or tile by tile.
    fn optimise(
        &self,
        task: &Task,
        problem: &Problem,
        carry: bool,
        init: &Tensor,
        sched: &Schedule,
        hook: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Stylized {
        match (&problem.objective, &self.tiles) {
            (Some(whole), _) if carry => {
                self.curvature.run(self.stylizer, whole, init, sched, hook)
            }
            (Some(whole), _) => self.stylizer.run(whole, init, sched, hook),
            (None, grid) => {
                let picture = self.picture(task, &problem.targets);
                tiled::run(self.stylizer, grid.as_ref(), &picture, init, sched, hook)
            }
        }
    }

    /// A finite frame. A first frame sets its shot's level for the style
    /// hold; a shard's first frame after its lead-in keeps the lead-in's.
    fn finish(
        &self,
        plan: &Plan,
        result: Stylized,
        init: &'static str,
        retries: Vec<Retry>,
    ) -> Optimised {
        let level = if plan.first {
            Some(result.losses.style)
        } else if plan.keeps_level {
            self.hold.level()
        } else {
            None
        };
        if level.is_some() {
            self.hold.set_level(level);
        }
        Optimised {
            result,
            init,
            retries,
            new_shot: plan.new_shot,
            new_share: plan.new_share,
            level,
        }
    }

    /// The start of a frame's first attempt at full size: `init` painted
    /// through the coarse sizes (a first frame), improved at half size
    /// (`plan.warm_coarse`), or as it is.
    fn painted_start(
        &self,
        task: &Task,
        plan: &Plan,
        init: Tensor,
        targets: &[TemporalTarget],
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Result<(Tensor, Spent)> {
        let (cfg, what, content) = (self.cfg, &self.input, task.content);
        match self.coarse {
            Some(c) if plan.first => c.start(cfg, what, content, &init, on_iter),
            Some(c) if plan.warm_coarse => {
                c.warm_start(cfg, what, content, &init, targets, on_iter)
            }
            _ => Ok((init, Spent::default())),
        }
    }

    /// The first frame's budget for a first frame (or a shard's), else the
    /// frame budget, with more for new pixels in pass 1 and room for the
    /// style hold there; and the budget after which the hold may stop it
    /// (None: it runs its schedule).
    fn schedule(&self, plan: &Plan) -> (Schedule, Option<usize>) {
        if plan.first {
            return (schedule(self.cfg, true), None);
        }
        if plan.keeps_level {
            // Repainted from the carried texture only until it is back at
            // the clip's first frame's level, where one run's frame would
            // be: with all of the first frame's budget it ended below that
            // level, and held the shard's frames there (docs/tuning.md).
            let budget = self.cfg.optimizer.frame_iterations;
            return (schedule(self.cfg, true), Some(budget));
        }
        let share = plan.new_share.filter(|_| plan.warm);
        let budget = self.cfg.optimizer.frame_budget(share);
        // Without a level or with the hold off, `cap` is the budget and the
        // hook never stops the frame.
        let cap = if plan.warm {
            self.hold.cap(budget)
        } else {
            budget
        };
        (
            schedule_for(self.cfg, false, cap),
            plan.warm.then_some(budget),
        )
    }

    /// What the frame's temporal loss ties it to: the stylized frames
    /// before it, when `tied` and the task has a temporal loss.
    fn temporal_targets(&self, task: &Task, tied: bool) -> Vec<TemporalTarget> {
        if self.cfg.loss.temporal_weight > 0.0 && task.temporal && tied {
            task.history
                .temporal_targets(task.pairs, task.content.device())
        } else {
            Vec::new()
        }
    }

    /// What the frame's objective is made of: its content and the
    /// temporal targets, each a term when the loss has a weight.
    fn picture<'p>(&self, task: &Task<'p>, targets: &'p [TemporalTarget]) -> Picture<'p> {
        Picture {
            content: task.content,
            targets,
            temporal_weight: self.cfg.loss.temporal_weight,
        }
    }

    /// The start image of an attempt and its name: the task's own start, or
    /// `fallback` when a retry asks for one.
    fn start_image(
        &self,
        task: &Task,
        fallback: Option<InitKind>,
        first: bool,
        attempt: usize,
    ) -> (Tensor, &'static str) {
        let content = task.content;
        let (init, name) = match (fallback, &task.start) {
            (Some(kind), _) => (initial_image(kind, content), kind.name()),
            (None, Start::Blend(own)) => {
                let own = to_tensor(own, content.device());
                let delta = self.cfg.optimizer.pass_blend;
                let start = task.history.blended_start(&own, delta, task.pairs);
                (start, "blend")
            }
            (None, Start::Chain) => {
                let kind = if first {
                    self.cfg.run.init
                } else {
                    self.cfg.run.frame_init
                };
                let init = task
                    .history
                    .start_image(kind, task.pairs, content.device())
                    .unwrap_or_else(|| initial_image(kind, content));
                (init, kind.name())
            }
        };
        match self.fault {
            Some(poison) if poison(task.index, attempt) => (init.full_like(f64::NAN), name),
            _ => (init, name),
        }
    }
}

impl FrameOptimiser<'_> {
    /// Optimises `task` (whose content frame is `content`), catching
    /// libtorch's errors, and returns the frame as it is saved: 8-bit, in
    /// the content's colours if the job keeps them.
    pub fn image(
        &self,
        task: &Task,
        content: &RgbImage,
        on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Result<(RgbImage, Optimised)> {
        let what = format!("{}: frame {}", self.input, task.index);
        let done = crate::error::catch_torch(&what, || self.run(task, on_iter))??;
        let mut out = done.result.image.shallow_clone();
        if self.cfg.style.original_colors {
            out = original_colors(&to_tensor(content, out.device()), &out);
        }
        Ok((to_image(&out), done))
    }
}

impl Optimised {
    /// Its line in the job report.
    pub fn report(&self, index: usize, source_index: usize, flow_seconds: f64) -> FrameReport {
        let r = &self.result;
        FrameReport {
            index,
            source_index,
            init: self.init.to_string(),
            iterations: r.iterations,
            evaluations: r.evaluations,
            losses: r.losses,
            seconds: r.seconds,
            flow_seconds,
            resumed: false,
            retries: self.retries.clone(),
            new_shot: self.new_shot,
            new_share: self.new_share,
            seam_ratio: r.seam_ratio,
        }
    }
}

/// What `on_iter` does for a job: reports the iteration, and stops the
/// frame once `stop` is set.
pub fn iteration_hook<'e>(
    frame: usize,
    stop: &'e AtomicBool,
    on_event: &'e mut dyn FnMut(Event),
) -> impl FnMut(&IterateRecord) -> ControlFlow<()> + 'e {
    move |record| {
        on_event(Event::Iterate { frame, record });
        if stop.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

fn shorter(sched: &Schedule, step: f64) -> Schedule {
    let mut s = sched.clone();
    s.lbfgs.learning_rate *= step;
    s
}

fn all_finite(t: &Tensor) -> bool {
    t.isfinite().all().int64_value(&[]) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_replays_from_the_last_fresh_memory() {
        assert_eq!(Curvature::replay_from(20, 0), 16);
        assert_eq!(Curvature::replay_from(16, 0), 16);
        assert_eq!(Curvature::replay_from(15, 0), 0);
        // A shard's own start is fresh too.
        assert_eq!(Curvature::replay_from(20, 17), 17);
        assert_eq!(Curvature::replay_from(40, 17), 32);
    }
}
