//! The style hold: a warm-started frame whose style loss is still more
//! than `optimizer.style_hold` above its shot's level after its frame
//! budget keeps painting, up to `optimizer.hold_iterations` more.
//!
//! Without it the style creeps up where the motion is fast: each frame
//! starts from the warped one before, whose smear a few iterations do not
//! repaint, and the next frame starts from that. The level is the style
//! loss of the shot's first frame (painted with the first frame's budget);
//! it is kept in the work directory beside that frame, so a resumed run
//! holds to the same level as one never stopped. A shard's first frame
//! after its lead-in keeps the level of the clip's first frame, which the
//! lead-in painted, and is itself held to it, from up to the first frame's
//! budget: so every shard paints at one run's level.
use std::cell::Cell;
use std::ops::ControlFlow;

use crate::config::OptimizerConfig;
use crate::stylize::IterateRecord;

/// The level a job's warm frames are held to.
pub struct StyleHold {
    /// Fraction above the level at which a frame keeps painting (0 = off).
    tolerance: f64,
    /// The most iterations a frame gets beyond its budget (0: the hold is off).
    extra: usize,
    /// The style loss of the current shot's first frame.
    level: Cell<Option<f64>>,
}

impl StyleHold {
    pub fn new(o: &OptimizerConfig) -> Self {
        Self {
            tolerance: o.style_hold,
            extra: if o.holds_style() {
                o.hold_iterations
            } else {
                0
            },
            level: Cell::new(None),
        }
    }

    /// A shot's first frame finished (or was loaded) with this style loss;
    /// None: no level (nothing is held).
    pub fn set_level(&self, style: Option<f64>) {
        self.level.set(style.filter(|s| s.is_finite()));
    }

    /// The current shot's level.
    pub fn level(&self) -> Option<f64> {
        self.level.get()
    }

    /// The style loss above which a warm frame keeps painting; None when
    /// the hold is off or no shot has set its level yet.
    fn threshold(&self) -> Option<f64> {
        self.level
            .get()
            .filter(|_| self.extra > 0)
            .map(|l| l * (1.0 + self.tolerance))
    }

    /// The iterations a warm frame with a `budget` may run.
    pub fn cap(&self, budget: usize) -> usize {
        match self.threshold() {
            Some(_) => budget + self.extra,
            None => budget,
        }
    }

    /// `on_iter`, then a stop once the frame has run its `budget` and its
    /// style loss is at most the threshold (never without a budget).
    pub fn hook<'h>(
        &self,
        budget: Option<usize>,
        on_iter: &'h mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> impl FnMut(&IterateRecord) -> ControlFlow<()> + 'h {
        let stop = budget.zip(self.threshold());
        move |rec| {
            on_iter(rec)?;
            match stop {
                Some((b, t)) if rec.iteration >= b && rec.losses.style <= t => {
                    ControlFlow::Break(())
                }
                // Otherwise the schedule's cap stops it.
                _ => ControlFlow::Continue(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::losses::LossValues;
    use std::time::Duration;

    fn record(iteration: usize, style: f64) -> IterateRecord {
        IterateRecord {
            iteration,
            evaluations: iteration + 1,
            losses: LossValues {
                style,
                ..Default::default()
            },
            elapsed: Duration::ZERO,
        }
    }

    fn hold(tolerance: f64, extra: usize) -> StyleHold {
        StyleHold::new(&OptimizerConfig {
            style_hold: tolerance,
            hold_iterations: extra,
            ..Default::default()
        })
    }

    /// The iterations `hook` lets run of a frame whose style loss after
    /// iteration i is `styles[i - 1]`, with the schedule's cap.
    fn run(h: &StyleHold, budget: usize, styles: &[f64]) -> usize {
        let mut seen = 0;
        let mut inner = |_: &IterateRecord| {
            seen += 1;
            ControlFlow::Continue(())
        };
        let mut hook = h.hook(Some(budget), &mut inner);
        let cap = h.cap(budget);
        let ran = (1..=cap)
            .find(|&i| hook(&record(i, styles[i - 1])).is_break())
            .unwrap_or(cap);
        drop(hook);
        assert_eq!(seen, ran, "the caller's hook sees every iteration");
        ran
    }

    #[test]
    fn a_frame_above_the_level_paints_on_until_it_is_back_or_the_extra_is_spent() {
        let h = hold(0.05, 4);
        h.set_level(Some(100.0));
        assert_eq!(h.threshold(), Some(105.0));
        assert_eq!(h.cap(6), 10);
        let falling = [120., 118., 116., 114., 112., 110., 107., 104., 103., 102.];
        assert_eq!(
            run(&h, 6, &falling),
            8,
            "stops at the first at or below 105"
        );
        let at_level = [104.0; 10];
        assert_eq!(run(&h, 6, &at_level), 6, "never before the budget");
        let stuck = [130.0; 10];
        assert_eq!(run(&h, 6, &stuck), 10, "at most the extra iterations");
    }

    #[test]
    fn without_a_level_or_switched_off_a_frame_runs_its_budget() {
        let h = hold(0.05, 4);
        assert_eq!((h.threshold(), h.cap(6)), (None, 6));
        assert_eq!(run(&h, 6, &[130.0; 6]), 6);
        h.set_level(Some(f64::NAN));
        assert_eq!(h.threshold(), None, "a non-finite level holds nothing");
        for off in [hold(0.0, 4), hold(0.05, 0)] {
            off.set_level(Some(100.0));
            assert_eq!((off.threshold(), off.cap(6)), (None, 6));
            assert_eq!(run(&off, 6, &[130.0; 6]), 6);
        }
    }
}
