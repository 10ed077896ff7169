//! L-BFGS minimiser with an optional strong-Wolfe line search, on tch tensors.
//!
//! The algorithm follows PyTorch's `torch.optim.LBFGS` (itself derived from
//! minFunc and Torch7's `optim`): two-loop recursion over a bounded history of
//! curvature pairs, pairs kept only when `y·s > 1e-10`, the initial Hessian
//! scaled by `y·s / y·y`, a first step of `min(1, 1/|g|₁)·lr`, and a
//! strong-Wolfe line search (`c1 = 1e-4`, `c2 = 0.9`) that brackets with
//! cubic extrapolation and then zooms with safeguarded cubic interpolation.
//!
//! Differences from PyTorch, all on the side of robustness:
//! * the point returned is always the best point evaluated (the start
//!   included), so `x` never gets worse than where a line search started, and
//!   [`Outcome::loss`] is the loss at the returned `x`;
//! * a non-finite loss (or gradient) at a trial point is treated as "too far"
//!   and bisected away from; a non-finite loss at the start, or on a
//!   fixed-step iteration, stops the run with `x` at the last finite point;
//! * a line search spends at most 25 evaluations and never more than what is
//!   left of `max_eval` (but each iteration may always evaluate once);
//! * with [`LineSearch::None`] the last iteration is evaluated too (PyTorch
//!   skips it), so that the reported loss is the loss at `x`;
//! * the curvature pair of a continued run is `s = x - x_prev` (the actual
//!   displacement), so changing `x` between calls (e.g. clamping it) still
//!   gives a consistent secant pair.
//!
//! The closure is always called with autograd enabled (as PyTorch does), on a
//! tensor that does not require gradients and must not be modified; the
//! optimiser's own tensors never require gradients, so no graph is recorded.
//! All vectors stay on `x`'s device and kind; host synchronisation is limited
//! to scalars (losses, directional derivatives, norms). The two-loop
//! recursion keeps its coefficients on the device.

use std::collections::VecDeque;
use std::fmt;
use std::ops::ControlFlow;

use tch::{Device, Kind, Tensor};

/// Sufficient-decrease (Armijo) constant of the strong-Wolfe conditions.
const WOLFE_C1: f64 = 1e-4;
/// Curvature constant of the strong-Wolfe conditions.
const WOLFE_C2: f64 = 0.9;
/// Most function evaluations one line search may spend.
const MAX_LINE_SEARCH_EVALS: usize = 25;
/// Curvature pairs with `y·s` at or below this are dropped.
const MIN_CURVATURE: f64 = 1e-10;

/// How the step length is chosen along each L-BFGS direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineSearch {
    /// Fixed step of `learning_rate` (the first iteration is scaled by
    /// `min(1, 1/|g|₁)` as in PyTorch).
    None,
    /// Strong-Wolfe line search with cubic interpolation.
    #[default]
    StrongWolfe,
}

/// Settings of [`Lbfgs`]; the defaults are PyTorch's (with the strong-Wolfe
/// line search switched on).
#[derive(Debug, Clone)]
pub struct LbfgsOptions {
    /// Iterations in one [`Lbfgs::minimize`] call.
    pub max_iter: usize,
    /// Function evaluations in one call; `None` means `max_iter * 5 / 4`.
    pub max_eval: Option<usize>,
    /// Number of curvature pairs kept.
    pub history_size: usize,
    /// Stop when `max |grad| <= tolerance_grad`.
    pub tolerance_grad: f64,
    /// Stop when the directional derivative, the step or the loss change is
    /// below this.
    pub tolerance_change: f64,
    /// Initial step length of every line search (the fixed step without one).
    pub learning_rate: f64,
    /// Step-length strategy.
    pub line_search: LineSearch,
    /// The least that the first, steepest-descent step moves the coordinate with the
    /// largest gradient (`None`: PyTorch's `min(1, 1/|g|_1)` alone). PyTorch's step
    /// shrinks with the number of coordinates and the size of the gradient; on a large
    /// picture it falls below the float precision of the pixels and the run stops
    /// without moving.
    pub min_first_move: Option<f64>,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        Self {
            max_iter: 20,
            max_eval: None,
            history_size: 100,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            learning_rate: 1.0,
            line_search: LineSearch::StrongWolfe,
            min_first_move: None,
        }
    }
}

impl LbfgsOptions {
    /// The evaluation budget of one call: `max_eval`, or `max_iter * 5 / 4`.
    pub fn effective_max_eval(&self) -> usize {
        self.max_eval.unwrap_or(self.max_iter * 5 / 4)
    }
}

/// Why [`Lbfgs::minimize`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `max_iter` iterations were done.
    MaxIterations,
    /// The evaluation budget is spent.
    MaxEvaluations,
    /// `max |grad| <= tolerance_grad`.
    GradientTolerance,
    /// No more progress: directional derivative, step or loss change below
    /// `tolerance_change`, or a non-finite loss/gradient made further steps
    /// impossible.
    ChangeTolerance,
    /// The iteration callback returned `ControlFlow::Break`.
    Stopped,
}

/// What the iteration callback is told after each iteration.
#[derive(Debug, Clone, Copy)]
pub struct IterationInfo {
    /// Iteration number within this call, from 1.
    pub iteration: usize,
    /// Evaluations so far within this call (the initial one included).
    pub evaluations: usize,
    /// Loss at the new `x`.
    pub loss: f64,
}

/// Result of one [`Lbfgs::minimize`] call.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Iterations done (steps attempted) in this call.
    pub iterations: usize,
    /// Closure evaluations in this call.
    pub evaluations: usize,
    /// Loss at the returned `x`.
    pub loss: f64,
    /// Why the call returned.
    pub reason: StopReason,
}

/// One curvature pair of the L-BFGS memory (flat tensors).
struct Pair {
    s: Tensor,
    y: Tensor,
    rho: f64,
}

/// Point and gradient at the start of the last iteration (flat tensors).
struct Anchor {
    x: Tensor,
    g: Tensor,
}

/// The caller's closure on flat tensors, counting its calls.
struct Evaluator<F> {
    closure: F,
    /// Shape of the caller's `x`.
    shape: Vec<i64>,
    kind: Kind,
    device: Device,
    count: usize,
}

impl<F: FnMut(&Tensor) -> (f64, Tensor)> Evaluator<F> {
    fn new(closure: F, x: &Tensor) -> Self {
        Self {
            closure,
            shape: x.size(),
            kind: x.kind(),
            device: x.device(),
            count: 0,
        }
    }

    /// Loss and flat gradient (a copy on `x`'s device and kind) at the flat point `xf`.
    fn call(&mut self, xf: &Tensor) -> (f64, Tensor) {
        self.count += 1;
        // Like PyTorch, the closure always runs with autograd enabled.
        let (loss, grad) = tch::with_grad(|| (self.closure)(&xf.view(self.shape.as_slice())));
        assert_eq!(
            grad.numel(),
            xf.numel(),
            "L-BFGS closure returned a gradient with {} elements for {} parameters",
            grad.numel(),
            xf.numel()
        );
        let grad = tch::no_grad(|| {
            grad.detach()
                .to_device(self.device)
                .to_kind(self.kind)
                .reshape([-1])
                .copy()
        });
        (loss, grad)
    }
}

/// The current point of a run (flat tensors).
struct Iterate {
    x: Tensor,
    loss: f64,
    grad: Tensor,
    /// `x` is no longer the caller's start point.
    moved: bool,
}

impl Iterate {
    fn move_to(&mut self, x: Tensor, loss: f64, grad: Tensor) {
        self.x = x;
        self.loss = loss;
        self.grad = grad;
        self.moved = true;
    }
}

/// What one iteration did: step length `t` along `d`, from a point with loss `prev_loss`.
struct Step {
    t: f64,
    d: Tensor,
    prev_loss: f64,
}

/// L-BFGS minimiser; keeps its curvature history between calls.
pub struct Lbfgs {
    options: LbfgsOptions,
    history: VecDeque<Pair>,
    /// Scale of the initial inverse Hessian, `y·s / y·y` of the newest pair.
    h_diag: f64,
    /// `None` until the first iteration (after `new` or `reset`).
    anchor: Option<Anchor>,
}

impl fmt::Debug for Lbfgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lbfgs")
            .field("options", &self.options)
            .field("history_len", &self.history.len())
            .field("h_diag", &self.h_diag)
            .field("started", &self.anchor.is_some())
            .finish()
    }
}

impl Lbfgs {
    /// A minimiser with empty history.
    pub fn new(options: LbfgsOptions) -> Self {
        Self {
            options,
            history: VecDeque::new(),
            h_diag: 1.0,
            anchor: None,
        }
    }

    /// The settings.
    pub fn options(&self) -> &LbfgsOptions {
        &self.options
    }

    /// The settings, to change between calls (e.g. `max_iter`); the kept
    /// history stays valid as long as the objective does not change.
    pub fn options_mut(&mut self) -> &mut LbfgsOptions {
        &mut self.options
    }

    /// Number of curvature pairs currently kept.
    pub fn history_len(&self) -> usize {
        self.history.len()
    }

    /// Starts the next [`Lbfgs::minimize`] from a new point while keeping the
    /// curvature pairs: for a problem close to the last one (the next frame of a
    /// clip), whose first step then needs no search for its scale.
    pub fn restart_keeping_curvature(&mut self) {
        self.anchor = None;
    }

    /// Forget the curvature history (e.g. when the objective changes).
    pub fn reset(&mut self) {
        self.history.clear();
        self.h_diag = 1.0;
        self.anchor = None;
    }

    /// Minimises from `x` (a plain tensor, requires_grad false), updating it in place.
    ///
    /// `closure(x)` returns (loss, gradient) at x; the gradient has x's shape,
    /// kind and device (it is copied, so the closure may reuse its buffer).
    /// `on_iter` is called after every iteration; `ControlFlow::Break` stops
    /// early ([`StopReason::Stopped`]).
    ///
    /// On return `x` holds the best point of the last line search (the start
    /// of it included) and [`Outcome::loss`] is the loss there. A second call
    /// continues with the kept history; call [`Lbfgs::reset`] first when the
    /// objective has changed.
    pub fn minimize<F, C>(&mut self, x: &mut Tensor, closure: F, mut on_iter: C) -> Outcome
    where
        F: FnMut(&Tensor) -> (f64, Tensor),
        C: FnMut(&IterationInfo) -> ControlFlow<()>,
    {
        let mut evaluate = Evaluator::new(closure, x);
        // Flat working copy of x (a copy, so that the kept anchor never
        // aliases the caller's tensor); `x` itself is written once, at the end.
        let xk = tch::no_grad(|| x.detach().reshape([-1]).copy());
        let (loss, grad) = evaluate.call(&xk);
        let mut cur = Iterate {
            x: xk,
            loss,
            grad,
            moved: false,
        };
        let mut iterations = 0usize;

        let reason = 'run: {
            if let Some(reason) = self.stop_at_start(&cur) {
                break 'run reason;
            }
            loop {
                let step = match self.step(&mut cur, &mut evaluate) {
                    Ok(step) => step,
                    Err(reason) => break 'run reason,
                };
                iterations += 1;
                let info = IterationInfo {
                    iteration: iterations,
                    evaluations: evaluate.count,
                    loss: cur.loss,
                };
                if on_iter(&info).is_break() {
                    break 'run StopReason::Stopped;
                }
                if let Some(reason) = self.stop_after(&info, &cur, &step) {
                    break 'run reason;
                }
            }
        };

        if cur.moved {
            tch::no_grad(|| x.copy_(&cur.x.view(evaluate.shape.as_slice())));
        }
        Outcome {
            iterations,
            evaluations: evaluate.count,
            loss: cur.loss,
            reason,
        }
    }

    /// Why not to take a single step from the start point, if there is a reason.
    fn stop_at_start(&self, cur: &Iterate) -> Option<StopReason> {
        if !cur.loss.is_finite() {
            Some(StopReason::ChangeTolerance)
        } else if max_abs(&cur.grad) <= self.options.tolerance_grad {
            Some(StopReason::GradientTolerance)
        } else if self.options.max_iter == 0 {
            Some(StopReason::MaxIterations)
        } else {
            None
        }
    }

    /// One iteration: a direction from the memory, then a step along it that moves `cur`.
    fn step<F>(
        &mut self,
        cur: &mut Iterate,
        evaluate: &mut Evaluator<F>,
    ) -> Result<Step, StopReason>
    where
        F: FnMut(&Tensor) -> (f64, Tensor),
    {
        // Plain steepest descent, of unknown scale: the first step is shortened.
        let first = self.anchor.is_none() && self.history.is_empty();
        let d = self.direction(&cur.x, &cur.grad);
        self.anchor = Some(Anchor {
            x: cur.x.shallow_clone(),
            g: cur.grad.shallow_clone(),
        });

        let opts = &self.options;
        let gtd = dot(&cur.grad, &d);
        // Not a descent direction (or NaN): nothing more to gain.
        if gtd.is_nan() || gtd > -opts.tolerance_change {
            return Err(StopReason::ChangeTolerance);
        }
        let t_init = if first {
            let floor = opts.min_first_move.map_or(0.0, |m| m / max_abs(&cur.grad));
            (1.0 / l1_norm(&cur.grad)).min(1.0).max(floor) * opts.learning_rate
        } else {
            opts.learning_rate
        };
        let prev_loss = cur.loss;
        let t = self.advance(cur, evaluate, &d, gtd, t_init)?;
        Ok(Step { t, d, prev_loss })
    }

    /// Moves `cur` along `d` (directional derivative `gtd`): by a line search from step
    /// `t_init`, or by that fixed step. Returns the step length.
    fn advance<F>(
        &self,
        cur: &mut Iterate,
        evaluate: &mut Evaluator<F>,
        d: &Tensor,
        gtd: f64,
        t_init: f64,
    ) -> Result<f64, StopReason>
    where
        F: FnMut(&Tensor) -> (f64, Tensor),
    {
        let opts = &self.options;
        match opts.line_search {
            LineSearch::StrongWolfe => {
                let budget = opts
                    .effective_max_eval()
                    .saturating_sub(evaluate.count)
                    .clamp(1, MAX_LINE_SEARCH_EVALS);
                let found = strong_wolfe(
                    &mut |x: &Tensor| evaluate.call(x),
                    &cur.x,
                    d,
                    cur.loss,
                    &cur.grad,
                    gtd,
                    t_init,
                    opts.tolerance_change,
                    budget,
                );
                if let Some(x_new) = found.x {
                    cur.move_to(x_new, found.f, found.g);
                }
                Ok(found.t)
            }
            LineSearch::None => {
                let x_new = step_point(&cur.x, d, t_init);
                let (f_new, g_new) = evaluate.call(&x_new);
                if !f_new.is_finite() {
                    // Keep the last finite point.
                    return Err(StopReason::ChangeTolerance);
                }
                cur.move_to(x_new, f_new, g_new);
                Ok(t_init)
            }
        }
    }

    /// Why to stop after an iteration that took `step` to `cur`, if there is a reason.
    fn stop_after(&self, info: &IterationInfo, cur: &Iterate, step: &Step) -> Option<StopReason> {
        let opts = &self.options;
        if info.iteration >= opts.max_iter {
            Some(StopReason::MaxIterations)
        } else if info.evaluations >= opts.effective_max_eval() {
            Some(StopReason::MaxEvaluations)
        } else if max_abs(&cur.grad) <= opts.tolerance_grad {
            Some(StopReason::GradientTolerance)
        } else if step.t * max_abs(&step.d) <= opts.tolerance_change
            || (cur.loss - step.prev_loss).abs() < opts.tolerance_change
        {
            Some(StopReason::ChangeTolerance)
        } else {
            None
        }
    }

    /// Updates the memory with the pair ending at `(x, g)` and returns the
    /// L-BFGS descent direction `-H g` (flat).
    fn direction(&mut self, x: &Tensor, g: &Tensor) -> Tensor {
        let Some(anchor) = self.anchor.take() else {
            return self.two_loop(g);
        };
        let s = x - &anchor.x;
        let y = g - &anchor.g;
        drop(anchor);
        let ys = dot(&y, &s);
        if ys > MIN_CURVATURE && ys.is_finite() {
            let yy = dot(&y, &y);
            if self.options.history_size > 0 {
                if self.history.len() >= self.options.history_size {
                    self.history.pop_front();
                }
                self.history.push_back(Pair {
                    s,
                    y,
                    rho: 1.0 / ys,
                });
            }
            self.h_diag = ys / yy;
        }
        self.two_loop(g)
    }

    /// `-H g` from the kept pairs (`-g` without any); the coefficients stay on the device.
    fn two_loop(&self, g: &Tensor) -> Tensor {
        let mut q = -g;
        let mut alphas = Vec::with_capacity(self.history.len());
        for pair in self.history.iter().rev() {
            let alpha = pair.s.dot(&q) * pair.rho;
            let _ = q.addcmul_(&pair.y, &(-&alpha));
            alphas.push(alpha);
        }
        let mut r = q * self.h_diag;
        for (pair, alpha) in self.history.iter().zip(alphas.iter().rev()) {
            let beta = pair.y.dot(&r) * pair.rho;
            let _ = r.addcmul_(&pair.s, &(alpha - beta));
        }
        r
    }
}

/// `x + t d`, computed the same way for every trial point.
fn step_point(x: &Tensor, d: &Tensor, t: f64) -> Tensor {
    x + d * t
}

fn dot(a: &Tensor, b: &Tensor) -> f64 {
    a.dot(b).double_value(&[])
}

fn max_abs(a: &Tensor) -> f64 {
    a.abs().max().double_value(&[])
}

fn l1_norm(a: &Tensor) -> f64 {
    a.abs().sum(a.kind()).double_value(&[])
}

/// Minimiser of the cubic through `(x1, f1, g1)` and `(x2, f2, g2)`, clamped
/// to `bounds` (default: between the two points); the middle of the bounds
/// when the cubic has no minimum or the data are not finite.
fn cubic_minimizer(
    (x1, f1, g1): (f64, f64, f64),
    (x2, f2, g2): (f64, f64, f64),
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let disc = d1 * d1 - g1 * g2;
    if disc >= 0.0 {
        let d2 = disc.sqrt();
        let pos = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        if pos.is_finite() {
            return pos.max(lo).min(hi);
        }
    }
    0.5 * (lo + hi)
}

/// A trial step along the search direction (scalars only).
#[derive(Debug, Clone, Copy)]
struct Probe {
    t: f64,
    f: f64,
    gtd: f64,
}

impl Probe {
    fn triple(&self) -> (f64, f64, f64) {
        (self.t, self.f, self.gtd)
    }
}

/// Result of a line search: the best point evaluated.
struct Found {
    /// Step length of the best point (0 when no trial beat the start).
    t: f64,
    f: f64,
    g: Tensor,
    /// The best point, `None` when it is the start.
    x: Option<Tensor>,
}

/// Evaluates trial points along `d` and remembers the best finite one.
struct Searcher<'a, E> {
    evaluate: &'a mut E,
    x0: &'a Tensor,
    d: &'a Tensor,
    /// Loss and directional derivative at `x0`.
    f0: f64,
    gtd0: f64,
    max_evals: usize,
    evals: usize,
    best: Found,
}

impl<E: FnMut(&Tensor) -> (f64, Tensor)> Searcher<'_, E> {
    fn probe(&mut self, t: f64) -> Probe {
        let x = step_point(self.x0, self.d, t);
        let (f, g) = (self.evaluate)(&x);
        self.evals += 1;
        let gtd = dot(&g, self.d);
        if !(f.is_finite() && gtd.is_finite()) {
            // Unusable point: behaves as an infinitely high one.
            return Probe {
                t,
                f: f64::INFINITY,
                gtd: f64::NAN,
            };
        }
        if f < self.best.f {
            self.best = Found {
                t,
                f,
                g,
                x: Some(x),
            };
        }
        Probe { t, f, gtd }
    }

    /// Sufficient decrease.
    fn armijo(&self, p: &Probe) -> bool {
        p.f <= self.f0 + WOLFE_C1 * p.t * self.gtd0
    }

    /// Strong curvature condition.
    fn curvature(&self, p: &Probe) -> bool {
        p.gtd.abs() <= -WOLFE_C2 * self.gtd0
    }

    /// Bracketing phase: grows the step from `t_init` until an interval is
    /// known to contain a point satisfying the strong-Wolfe conditions.
    /// `None` when a trial already satisfies them or the budget is spent.
    fn bracket(&mut self, t_init: f64) -> Option<[Probe; 2]> {
        let mut prev = Probe {
            t: 0.0,
            f: self.f0,
            gtd: self.gtd0,
        };
        let mut cur = self.probe(t_init);
        loop {
            if !self.armijo(&cur) || (self.evals > 2 && cur.f >= prev.f) {
                return Some([prev, cur]);
            }
            if self.curvature(&cur) {
                return None;
            }
            if cur.gtd >= 0.0 {
                return Some([prev, cur]);
            }
            if self.evals >= self.max_evals {
                return None;
            }
            let bounds = (cur.t + 0.01 * (cur.t - prev.t), cur.t * 10.0);
            let t_next = cubic_minimizer(prev.triple(), cur.triple(), Some(bounds));
            prev = cur;
            cur = self.probe(t_next);
        }
    }

    /// Zoom phase: shrinks `bracket` around a strong-Wolfe point.
    fn zoom(&mut self, mut bracket: [Probe; 2], d_norm: f64, tolerance_change: f64) {
        let order = |b: &[Probe; 2]| if b[0].f <= b[1].f { (0, 1) } else { (1, 0) };
        let (mut low, mut high) = order(&bracket);
        let mut insufficient_progress = false;
        while self.evals < self.max_evals {
            if (bracket[1].t - bracket[0].t).abs() * d_norm < tolerance_change {
                break;
            }
            let t = cubic_minimizer(bracket[0].triple(), bracket[1].triple(), None);
            let t = safeguard(t, &bracket, &mut insufficient_progress);
            let p = self.probe(t);
            if !self.armijo(&p) || p.f >= bracket[low].f {
                bracket[high] = p;
                (low, high) = order(&bracket);
            } else {
                let done = self.curvature(&p);
                if !done && p.gtd * (bracket[high].t - bracket[low].t) >= 0.0 {
                    bracket[high] = bracket[low];
                }
                bracket[low] = p;
                if done {
                    break;
                }
            }
        }
    }
}

/// Keeps a zoom trial `t` away from the ends of the bracket: at most one
/// trial in a row may land within 10% of an end.
fn safeguard(mut t: f64, bracket: &[Probe; 2], insufficient_progress: &mut bool) -> f64 {
    let lo = bracket[0].t.min(bracket[1].t);
    let hi = bracket[0].t.max(bracket[1].t);
    let eps = 0.1 * (hi - lo);
    if (hi - t).min(t - lo) < eps {
        if *insufficient_progress || t >= hi || t <= lo {
            t = if (t - hi).abs() < (t - lo).abs() {
                hi - eps
            } else {
                lo + eps
            };
            *insufficient_progress = false;
        } else {
            *insufficient_progress = true;
        }
    } else {
        *insufficient_progress = false;
    }
    t
}

/// Strong-Wolfe line search along `d` from `x0` (loss `f0`, gradient `g0`,
/// directional derivative `gtd0 < 0`), starting with step `t_init` and
/// spending at most `max_evals >= 1` evaluations. Returns the best point
/// evaluated (possibly the start itself).
#[allow(clippy::too_many_arguments)]
fn strong_wolfe<E: FnMut(&Tensor) -> (f64, Tensor)>(
    evaluate: &mut E,
    x0: &Tensor,
    d: &Tensor,
    f0: f64,
    g0: &Tensor,
    gtd0: f64,
    t_init: f64,
    tolerance_change: f64,
    max_evals: usize,
) -> Found {
    let d_norm = max_abs(d);
    let mut s = Searcher {
        evaluate,
        x0,
        d,
        f0,
        gtd0,
        max_evals,
        evals: 0,
        best: Found {
            t: 0.0,
            f: f0,
            g: g0.shallow_clone(),
            x: None,
        },
    };
    if let Some(bracket) = s.bracket(t_init) {
        s.zoom(bracket, d_norm, tolerance_change);
    }
    s.best
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// Deterministic uniform numbers in [-1, 1) (splitmix64), independent of
    /// libtorch's global generator, which parallel tests share.
    fn uniform(n: usize, seed: u64) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                z ^= z >> 31;
                (z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    fn vector(values: &[f64], kind: Kind, device: Device) -> Tensor {
        Tensor::from_slice(values).to_kind(kind).to_device(device)
    }

    fn norm(t: &Tensor) -> f64 {
        t.to_kind(Kind::Double).norm().double_value(&[])
    }

    /// Chained Rosenbrock `Σ 100 (x[i+1] - x[i]²)² + (1 - x[i])²`, with its
    /// analytic gradient.
    fn rosenbrock(x: &Tensor) -> (f64, Tensor) {
        let n = x.size()[0];
        let a = x.narrow(0, 0, n - 1);
        let b = x.narrow(0, 1, n - 1);
        let r = &b - &a * &a;
        let u = 1f64 - &a;
        let f = (&r * &r).sum(Kind::Double) * 100.0 + (&u * &u).sum(Kind::Double);
        let ga = &a * &r * (-400.0) - &u * 2.0;
        let gb = &r * 200.0;
        let zero = Tensor::zeros([1], (x.kind(), x.device()));
        let g = Tensor::cat(&[&ga, &zero], 0) + Tensor::cat(&[&zero, &gb], 0);
        (f.double_value(&[]), g)
    }

    fn rosenbrock_start(n: usize) -> Tensor {
        let v: Vec<f64> = (0..n)
            .map(|i| if i % 2 == 0 { -1.2 } else { 1.0 })
            .collect();
        vector(&v, Kind::Double, Device::Cpu)
    }

    /// `f(x) = ½ (x - x*)ᵀ Q Λ Qᵀ (x - x*)`, with Λ log-spaced in
    /// `[1, condition]` and Q a product of three Householder reflections.
    struct Quadratic {
        lambda: Tensor,
        reflections: Vec<Tensor>,
        x_star: Tensor,
    }

    impl Quadratic {
        fn new(n: usize, condition: f64, seed: u64, kind: Kind, device: Device) -> Self {
            let lambda = Tensor::logspace(0.0, condition.log10(), n as i64, 10.0, (kind, device));
            let reflections = (1..=3)
                .map(|k| {
                    let v = vector(&uniform(n, seed + k), kind, device);
                    &v / norm(&v)
                })
                .collect();
            let x_star = vector(&uniform(n, seed), kind, device);
            Self {
                lambda,
                reflections,
                x_star,
            }
        }

        /// Largest eigenvalue (Lipschitz constant of the gradient).
        fn lipschitz(&self) -> f64 {
            self.lambda.max().double_value(&[])
        }

        fn reflect(v: &Tensor, z: &Tensor) -> Tensor {
            z - v * (v.dot(z) * 2.0)
        }

        fn eval(&self, x: &Tensor) -> (f64, Tensor) {
            let e = x.reshape([-1]) - &self.x_star;
            // z = Qᵀ e with Q = H1 H2 H3 (each H symmetric).
            let z = self.reflections.iter().fold(e, |z, v| Self::reflect(v, &z));
            let lz = &self.lambda * &z;
            let f = (&z * &lz).sum(Kind::Double).double_value(&[]) * 0.5;
            let g = self
                .reflections
                .iter()
                .rev()
                .fold(lz, |z, v| Self::reflect(v, &z));
            (f, g.reshape(x.size()))
        }

        fn relative_error(&self, x: &Tensor, x0: &Tensor) -> f64 {
            norm(&(x.reshape([-1]) - &self.x_star)) / norm(&(x0.reshape([-1]) - &self.x_star))
        }
    }

    /// Plain gradient descent with a fixed step; returns the final loss
    /// (infinite when it diverged).
    fn gradient_descent(
        f: impl Fn(&Tensor) -> (f64, Tensor),
        x0: &Tensor,
        step: f64,
        evaluations: usize,
    ) -> (f64, Tensor) {
        let mut x = x0.copy();
        let mut loss = f64::INFINITY;
        for _ in 0..evaluations {
            let (l, g) = f(&x);
            loss = l;
            if !l.is_finite() || l > 1e30 {
                return (f64::INFINITY, x);
            }
            x = &x - g * step;
        }
        (loss, x)
    }

    fn no_callback(_: &IterationInfo) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }

    /// `Outcome::loss` is the loss at the returned `x`.
    fn assert_loss_at_x(outcome: &Outcome, x: &Tensor, f: impl Fn(&Tensor) -> (f64, Tensor)) {
        let (loss, _) = f(x);
        assert_eq!(
            outcome.loss, loss,
            "reported loss {} but closure(x) = {}",
            outcome.loss, loss
        );
    }

    fn options(max_iter: usize) -> LbfgsOptions {
        LbfgsOptions {
            max_iter,
            max_eval: Some(100 * max_iter),
            tolerance_grad: 0.0,
            tolerance_change: 0.0,
            ..LbfgsOptions::default()
        }
    }

    #[test]
    fn defaults_follow_pytorch() {
        let o = LbfgsOptions::default();
        assert_eq!(o.max_iter, 20);
        assert_eq!(o.max_eval, None);
        assert_eq!(o.effective_max_eval(), 25);
        assert_eq!(o.history_size, 100);
        assert_eq!(o.tolerance_grad, 1e-7);
        assert_eq!(o.tolerance_change, 1e-9);
        assert_eq!(o.learning_rate, 1.0);
        assert_eq!(o.line_search, LineSearch::StrongWolfe);
    }

    #[test]
    fn cubic_minimizer_is_exact_on_cubics_and_safe_on_bad_data() {
        // f(t) = (t - 1)² (a degenerate cubic): minimum at 1.
        let p = |t: f64| (t, (t - 1.0) * (t - 1.0), 2.0 * (t - 1.0));
        assert!((cubic_minimizer(p(0.0), p(3.0), None) - 1.0).abs() < 1e-12);
        assert!((cubic_minimizer(p(3.0), p(0.0), None) - 1.0).abs() < 1e-12);
        // f(t) = t³ - 3t: local minimum at 1.
        let c = |t: f64| (t, t * t * t - 3.0 * t, 3.0 * t * t - 3.0);
        assert!((cubic_minimizer(c(0.0), c(2.0), None) - 1.0).abs() < 1e-12);
        // Clamped to the bounds.
        assert_eq!(cubic_minimizer(p(0.0), p(3.0), Some((2.0, 5.0))), 2.0);
        // Non-finite data: middle of the interval.
        let bad = (4.0, f64::INFINITY, f64::NAN);
        assert_eq!(cubic_minimizer(p(0.0), bad, None), 2.0);
    }

    #[test]
    fn line_search_returns_a_strong_wolfe_point() {
        let x0 = rosenbrock_start(10);
        let (f0, g0) = rosenbrock(&x0);
        let d = -&g0;
        let gtd0 = dot(&g0, &d);
        let mut evals = 0;
        let mut f = |x: &Tensor| {
            evals += 1;
            rosenbrock(x)
        };
        // A deliberately far first trial forces bracketing and zooming.
        let found = strong_wolfe(&mut f, &x0, &d, f0, &g0, gtd0, 1.0, 1e-9, 25);
        let x = found.x.expect("the line search must find a better point");
        let (f1, g1) = rosenbrock(&x);
        assert_eq!(found.f, f1);
        assert!(found.t > 0.0 && found.t < 1.0);
        assert!(f1 <= f0 + WOLFE_C1 * found.t * gtd0, "Armijo fails");
        assert!(dot(&g1, &d).abs() <= -WOLFE_C2 * gtd0, "curvature fails");
        assert!(evals > 1 && evals <= 25, "{evals} evaluations");
    }

    #[test]
    fn two_loop_matches_dense_bfgs_and_skips_negative_curvature() {
        let n = 6;
        let opts = (Kind::Double, Device::Cpu);
        let m = vector(&uniform(n * n, 21), Kind::Double, Device::Cpu).reshape([6, 6]);
        let a = m.matmul(&m.tr()) + Tensor::eye(6, opts);
        let points: Vec<Tensor> = (0..4)
            .map(|k| vector(&uniform(n, 30 + k), Kind::Double, Device::Cpu))
            .collect();
        let grad = |x: &Tensor| a.mv(x);

        let mut opt = Lbfgs::new(LbfgsOptions {
            history_size: 2,
            ..LbfgsOptions::default()
        });
        // No anchor yet: steepest descent.
        let d = opt.direction(&points[0], &grad(&points[0]));
        assert!(d.equal(&-grad(&points[0])));
        opt.anchor = Some(Anchor {
            x: points[0].shallow_clone(),
            g: grad(&points[0]),
        });
        for x in &points[1..] {
            let g = grad(x);
            let _ = opt.direction(x, &g);
            opt.anchor = Some(Anchor {
                x: x.shallow_clone(),
                g,
            });
        }
        // Three pairs seen, two kept.
        assert_eq!(opt.history_len(), 2);

        // A pair with negative curvature (y = -s) is not kept.
        let x_bad = &points[3] + 0.5;
        let g_bad = grad(&points[3]) - 0.5;
        let h_diag = opt.h_diag;
        let d = opt.direction(&x_bad, &g_bad);
        assert_eq!(opt.history_len(), 2);
        assert_eq!(opt.h_diag, h_diag);

        // Dense BFGS update of H0 = h_diag I with the kept pairs, oldest first.
        let mut h = Tensor::eye(6, opts) * h_diag;
        for pair in &opt.history {
            let (s, y) = (pair.s.unsqueeze(1), pair.y.unsqueeze(1));
            let left = Tensor::eye(6, opts) - s.matmul(&y.tr()) * pair.rho;
            h = left.matmul(&h).matmul(&left.tr()) + s.matmul(&s.tr()) * pair.rho;
        }
        let dense = -h.mv(&g_bad);
        let diff = norm(&(&d - &dense)) / norm(&dense);
        assert!(
            diff < 1e-12,
            "two-loop vs dense BFGS: relative difference {diff:e}"
        );
        let newest = opt.history.back().unwrap();
        let ys = dot(&newest.y, &newest.s);
        assert!((h_diag - ys / dot(&newest.y, &newest.y)).abs() < 1e-15);
        assert_eq!(newest.rho, 1.0 / ys);
    }

    #[test]
    fn line_search_returns_the_best_point_it_evaluated() {
        let x0 = rosenbrock_start(10);
        let (f0, g0) = rosenbrock(&x0);
        let d = -&g0;
        let gtd0 = dot(&g0, &d);
        // Far first trials with small budgets end on worse points.
        for (t_init, max_evals) in [(100.0, 1), (100.0, 2), (100.0, 3), (1.0, 2), (1.0, 25)] {
            let mut losses = Vec::new();
            let mut f = |x: &Tensor| {
                let (l, g) = rosenbrock(x);
                losses.push(l);
                (l, g)
            };
            let found = strong_wolfe(&mut f, &x0, &d, f0, &g0, gtd0, t_init, 1e-9, max_evals);
            assert!(losses.len() <= max_evals);
            let best = losses.iter().copied().fold(f0, f64::min);
            assert_eq!(found.f, best, "t_init {t_init}, losses {losses:?}");
            match &found.x {
                None => assert_eq!((found.t, found.f), (0.0, f0)),
                Some(x) => {
                    assert_eq!(rosenbrock(x).0, found.f);
                    assert!(x.equal(&step_point(&x0, &d, found.t)));
                }
            }
        }

        // Through `minimize`: a far step that the budget cannot repair
        // leaves x where it was.
        let mut x = x0.copy();
        let out = Lbfgs::new(LbfgsOptions {
            max_iter: 1,
            max_eval: Some(2),
            learning_rate: 1e4,
            ..LbfgsOptions::default()
        })
        .minimize(&mut x, rosenbrock, no_callback);
        assert_eq!(out.evaluations, 2);
        assert_eq!(out.loss, f0);
        assert!(x.equal(&x0));
    }

    #[test]
    fn rosenbrock_lbfgs_far_ahead_of_gradient_descent() {
        let n = 200;
        let target = 1e-8;
        let x0 = rosenbrock_start(n);
        let mut x = x0.copy();
        let mut opt = Lbfgs::new(LbfgsOptions {
            max_iter: 5000,
            max_eval: Some(5000),
            tolerance_grad: 0.0,
            tolerance_change: 0.0,
            ..LbfgsOptions::default()
        });
        let mut reached = None;
        let out = opt.minimize(&mut x, rosenbrock, |info| {
            if info.loss < target {
                reached = Some(info.evaluations);
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let lbfgs_evals = reached.expect("L-BFGS did not reach the target");
        assert_eq!(out.reason, StopReason::Stopped);
        assert_eq!(out.evaluations, lbfgs_evals);
        assert!(out.loss < target);
        assert_loss_at_x(&out, &x, rosenbrock);
        let err = (&x - 1.0).abs().max().double_value(&[]);
        assert!(err < 1e-3, "max |x - 1| = {err}");
        assert!(
            lbfgs_evals < 1500,
            "L-BFGS needed {lbfgs_evals} evaluations"
        );

        // Gradient descent, best fixed step of a sweep, 10x the evaluations.
        let budget = 10 * lbfgs_evals;
        let mut best_gd = f64::INFINITY;
        let mut stable = 0;
        for step in [1e-4, 2e-4, 5e-4, 1e-3, 2e-3] {
            let (loss, _) = gradient_descent(rosenbrock, &x0, step, budget);
            eprintln!("rosenbrock GD step {step:e}: loss {loss:e} after {budget} evaluations");
            if loss.is_finite() {
                stable += 1;
                best_gd = best_gd.min(loss);
            }
        }
        eprintln!(
            "rosenbrock n={n}: L-BFGS {lbfgs_evals} evaluations to f < {target:e}; \
             GD best loss {best_gd:e} after {budget}"
        );
        assert!(stable >= 2, "the step sweep must contain stable steps");
        assert!(
            best_gd > 1e4 * target,
            "GD reached {best_gd:e} with 10x the evaluations"
        );
    }

    #[test]
    fn ill_conditioned_quadratic_lbfgs_far_ahead_of_gradient_descent() {
        let n = 1000;
        let q = Quadratic::new(n, 1e4, 7, Kind::Double, Device::Cpu);
        let x0 = Tensor::zeros([n as i64], (Kind::Double, Device::Cpu));
        let eval = |x: &Tensor| q.eval(x);
        // Relative error of the loss, (f - f*) / (f0 - f*) with f* = 0.
        let f0 = eval(&x0).0;
        let tolerance = 1e-6;

        let mut x = x0.copy();
        let mut opt = Lbfgs::new(LbfgsOptions {
            max_iter: 2000,
            max_eval: Some(2000),
            tolerance_grad: 0.0,
            tolerance_change: 0.0,
            ..LbfgsOptions::default()
        });
        let mut reached = None;
        let out = opt.minimize(&mut x, eval, |info| {
            if info.loss / f0 <= tolerance {
                reached = Some(info.evaluations);
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let lbfgs_evals = reached.expect("L-BFGS did not reach the target");
        assert_loss_at_x(&out, &x, eval);
        assert!(out.loss / f0 <= tolerance);
        assert!(lbfgs_evals < 400, "L-BFGS needed {lbfgs_evals} evaluations");

        // Gradient descent with the classical step 1/L, 10x the evaluations.
        let budget = 10 * lbfgs_evals;
        let (gd_loss, gd_x) = gradient_descent(eval, &x0, 1.0 / q.lipschitz(), budget);
        eprintln!(
            "quadratic n={n} cond=1e4: L-BFGS (f-f*)/(f0-f*) = {:e} after {lbfgs_evals} \
             evaluations (|x-x*|/|x0-x*| = {:e}); GD step 1/L: {:e} after {budget} \
             (|x-x*|/|x0-x*| = {:e})",
            out.loss / f0,
            q.relative_error(&x, &x0),
            gd_loss / f0,
            q.relative_error(&gd_x, &x0),
        );
        assert!(
            gd_loss / f0 > 100.0 * tolerance,
            "GD reached relative error {:e} with 10x the evaluations",
            gd_loss / f0
        );
    }

    #[test]
    fn float32_matrix_parameters_keep_shape_and_kind() {
        let q = Quadratic::new(500, 1e3, 11, Kind::Float, Device::Cpu);
        let x0 = Tensor::zeros([20, 25], (Kind::Float, Device::Cpu));
        let mut x = x0.copy();
        let mut opt = Lbfgs::new(LbfgsOptions {
            max_iter: 200,
            ..LbfgsOptions::default()
        });
        let out = opt.minimize(&mut x, |x| q.eval(x), no_callback);
        assert_eq!(x.size(), vec![20, 25]);
        assert_eq!(x.kind(), Kind::Float);
        assert!(!x.requires_grad());
        assert_loss_at_x(&out, &x, |x| q.eval(x));
        let err = q.relative_error(&x, &x0);
        assert!(err < 1e-3, "relative error {err:e} ({out:?})");
    }

    #[test]
    fn autograd_closure_works_even_inside_no_grad() {
        // x may even require gradients itself; it is still updated in place.
        let mut x = Tensor::zeros([3, 4], (Kind::Float, Device::Cpu)).set_requires_grad(true);
        let target = Tensor::arange(12, (Kind::Float, Device::Cpu)).reshape([3, 4]);
        let f = |x: &Tensor| {
            let leaf = x.detach().set_requires_grad(true);
            let e = &leaf - &target;
            let loss = (&e * &e).sum(Kind::Float);
            loss.backward();
            (loss.double_value(&[]), leaf.grad())
        };
        let out = tch::no_grad(|| {
            Lbfgs::new(LbfgsOptions {
                max_iter: 50,
                ..LbfgsOptions::default()
            })
            .minimize(&mut x, f, no_callback)
        });
        assert!(out.loss < 1e-6, "{out:?}");
        assert!(x.allclose(&target, 1e-4, 1e-4, false));
        assert!(x.requires_grad());
        assert_loss_at_x(&out, &x, f);
    }

    #[test]
    fn gradient_tolerance_at_the_minimum_returns_immediately() {
        let x_star = Tensor::ones([50], (Kind::Double, Device::Cpu));
        let mut x = x_star.copy();
        let mut calls = 0;
        let mut iters = 0;
        let mut opt = Lbfgs::new(LbfgsOptions::default());
        let out = opt.minimize(
            &mut x,
            |x| {
                calls += 1;
                rosenbrock(x)
            },
            |_| {
                iters += 1;
                ControlFlow::Continue(())
            },
        );
        assert_eq!(out.reason, StopReason::GradientTolerance);
        assert_eq!(
            (out.iterations, out.evaluations, calls, iters),
            (0, 1, 1, 0)
        );
        assert_eq!(out.loss, 0.0);
        assert!(x.equal(&x_star));

        // Reaching the tolerance during a run is reported too.
        let q = Quadratic::new(30, 10.0, 3, Kind::Double, Device::Cpu);
        let mut x = Tensor::zeros([30], (Kind::Double, Device::Cpu));
        let out = Lbfgs::new(LbfgsOptions {
            max_iter: 500,
            tolerance_grad: 1e-6,
            tolerance_change: 0.0,
            ..LbfgsOptions::default()
        })
        .minimize(&mut x, |x| q.eval(x), no_callback);
        assert_eq!(out.reason, StopReason::GradientTolerance, "{out:?}");
        let (_, g) = q.eval(&x);
        assert!(max_abs(&g) <= 1e-6);
        assert!(out.iterations < 500);
    }

    #[test]
    fn max_iter_is_honoured_and_the_callback_sees_every_iteration() {
        let mut x = rosenbrock_start(100);
        let mut calls = 0;
        let mut seen = Vec::new();
        let mut opt = Lbfgs::new(options(7));
        let out = opt.minimize(
            &mut x,
            |x| {
                calls += 1;
                rosenbrock(x)
            },
            |info| {
                seen.push(*info);
                ControlFlow::Continue(())
            },
        );
        assert_eq!(out.reason, StopReason::MaxIterations);
        assert_eq!(out.iterations, 7);
        assert_eq!(out.evaluations, calls);
        let iterations: Vec<usize> = seen.iter().map(|i| i.iteration).collect();
        assert_eq!(iterations, (1..=7).collect::<Vec<_>>());
        assert!(seen.windows(2).all(|w| w[0].evaluations < w[1].evaluations));
        assert!(seen.windows(2).all(|w| w[1].loss <= w[0].loss));
        assert_eq!(seen.last().unwrap().evaluations, calls);
        assert_eq!(seen.last().unwrap().loss, out.loss);
        assert_loss_at_x(&out, &x, rosenbrock);
    }

    #[test]
    fn max_eval_is_honoured() {
        for max_eval in [1, 2, 5, 13] {
            let mut x = rosenbrock_start(100);
            let mut calls = 0;
            let mut opt = Lbfgs::new(LbfgsOptions {
                max_iter: 1000,
                max_eval: Some(max_eval),
                ..LbfgsOptions::default()
            });
            let out = opt.minimize(
                &mut x,
                |x| {
                    calls += 1;
                    rosenbrock(x)
                },
                no_callback,
            );
            assert_eq!(
                out.reason,
                StopReason::MaxEvaluations,
                "max_eval {max_eval}"
            );
            assert_eq!(out.evaluations, calls);
            // The start is always evaluated, and every iteration may evaluate once.
            assert_eq!(calls, max_eval.max(2), "max_eval {max_eval}");
            assert_loss_at_x(&out, &x, rosenbrock);
        }
    }

    #[test]
    fn callback_break_stops_the_run() {
        let mut x = rosenbrock_start(100);
        let mut opt = Lbfgs::new(options(100));
        let out = opt.minimize(&mut x, rosenbrock, |info| {
            if info.iteration == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert_eq!(out.reason, StopReason::Stopped);
        assert_eq!(out.iterations, 3);
        assert_loss_at_x(&out, &x, rosenbrock);
        assert!(out.loss < rosenbrock(&rosenbrock_start(100)).0);
    }

    #[test]
    fn fixed_step_without_line_search() {
        let q = Quadratic::new(50, 100.0, 5, Kind::Double, Device::Cpu);
        let x0 = Tensor::zeros([50], (Kind::Double, Device::Cpu));
        let mut x = x0.copy();
        let mut calls = 0;
        let mut opt = Lbfgs::new(LbfgsOptions {
            max_iter: 300,
            tolerance_grad: 1e-10,
            tolerance_change: 0.0,
            line_search: LineSearch::None,
            ..LbfgsOptions::default()
        });
        let out = opt.minimize(
            &mut x,
            |x| {
                calls += 1;
                q.eval(x)
            },
            no_callback,
        );
        // Exactly one evaluation per iteration (plus the start).
        assert_eq!(out.evaluations, out.iterations + 1);
        assert_eq!(calls, out.evaluations);
        assert_loss_at_x(&out, &x, |x| q.eval(x));
        let err = q.relative_error(&x, &x0);
        eprintln!("fixed step: {out:?}, relative error {err:e}");
        assert!(err < 1e-6, "relative error {err:e} ({out:?})");

        // The first step is min(1, 1/|g|₁)·lr along -g.
        let mut x = x0.copy();
        let (_, g0) = q.eval(&x0);
        let lr = 0.5;
        let out = Lbfgs::new(LbfgsOptions {
            max_iter: 1,
            learning_rate: lr,
            line_search: LineSearch::None,
            ..LbfgsOptions::default()
        })
        .minimize(&mut x, |x| q.eval(x), no_callback);
        assert_eq!((out.iterations, out.evaluations), (1, 2));
        let t = (1.0 / l1_norm(&g0)).min(1.0) * lr;
        let expected = &x0 - &g0 * t;
        assert!(x.allclose(&expected, 1e-12, 1e-15, false));
    }

    #[test]
    fn warm_continuation_equals_one_long_run_and_reset_forgets() {
        let opts = LbfgsOptions {
            max_iter: 40,
            max_eval: Some(1000),
            tolerance_grad: 0.0,
            tolerance_change: 0.0,
            ..LbfgsOptions::default()
        };
        let mut long = rosenbrock_start(100);
        let out_long = Lbfgs::new(opts.clone()).minimize(&mut long, rosenbrock, no_callback);
        assert_eq!(out_long.iterations, 40);

        // The same 40 iterations in calls of 1, 1, 2, 6, 10 and 20.
        let chunks = [1, 1, 2, 6, 10, 20];
        let mut chunked = rosenbrock_start(100);
        let mut opt = Lbfgs::new(opts.clone());
        let mut out = None;
        for chunk in chunks {
            opt.options_mut().max_iter = chunk;
            out = Some(opt.minimize(&mut chunked, rosenbrock, no_callback));
        }
        assert!(opt.history_len() > 0);
        assert!(
            chunked.equal(&long),
            "continued runs must follow the same path"
        );
        assert_eq!(out.unwrap().loss, out_long.loss);

        // Without the kept history (a new optimiser per call) the path differs.
        let mut fresh = rosenbrock_start(100);
        for chunk in chunks {
            let mut o = Lbfgs::new(LbfgsOptions {
                max_iter: chunk,
                ..opts.clone()
            });
            o.minimize(&mut fresh, rosenbrock, no_callback);
        }
        assert!(!fresh.equal(&long));

        // After reset the optimiser behaves exactly like a new one.
        opt.reset();
        assert_eq!(opt.history_len(), 0);
        let mut a = rosenbrock_start(100);
        let mut b = rosenbrock_start(100);
        let oa = opt.minimize(&mut a, rosenbrock, no_callback);
        let ob = Lbfgs::new(opt.options().clone()).minimize(&mut b, rosenbrock, no_callback);
        assert!(a.equal(&b));
        assert_eq!((oa.evaluations, oa.loss), (ob.evaluations, ob.loss));
    }

    #[test]
    fn a_first_step_below_float_precision_is_raised_by_min_first_move() {
        // A million float32 coordinates at 100 pulled towards 50: PyTorch's first step
        // moves each by 1/n = 1e-6, below the spacing of floats near 100 (7.6e-6), as a
        // large picture's pixels do; the run then ends where it began.
        let n = 1_000_000;
        let f = |x: &Tensor| {
            let e = x - 50.0;
            ((&e * &e).sum(Kind::Double).double_value(&[]) * 0.5, e)
        };
        let run = |min_first_move| {
            let mut x = Tensor::full([n], 100.0, (Kind::Float, Device::Cpu));
            let opts = LbfgsOptions {
                max_iter: 5,
                min_first_move,
                ..LbfgsOptions::default()
            };
            Lbfgs::new(opts).minimize(&mut x, f, no_callback)
        };
        let start = 0.5 * 2500.0 * n as f64;
        let stuck = run(None);
        assert_eq!(
            stuck.loss, start,
            "PyTorch's first step cannot move a float near 100"
        );
        let moved = run(Some(1.0));
        assert!(moved.loss < 1e-3 * start, "{} from {start}", moved.loss);
    }

    #[test]
    fn kept_curvature_solves_a_nearby_problem_in_fewer_evaluations() {
        // Two quadratics with the same Hessian and different minima, as two
        // frames share their style term and differ in content. Small enough
        // that the kept pairs span the space: the mechanism, not the gain on
        // real frames (scripts/bench_carry.sh measures that).
        let first = Quadratic::new(12, 1e3, 7, Kind::Double, Device::Cpu);
        let mut second = Quadratic::new(12, 1e3, 7, Kind::Double, Device::Cpu);
        second.x_star = &second.x_star + vector(&uniform(12, 99), Kind::Double, Device::Cpu) * 0.1;
        let opts = LbfgsOptions {
            max_iter: 1000,
            max_eval: Some(5000),
            tolerance_grad: 1e-6,
            tolerance_change: 0.0,
            ..LbfgsOptions::default()
        };
        // The second starts where the first ended, as a frame starts from the one before.
        let mut solved = Tensor::zeros([12], (Kind::Double, Device::Cpu));
        let mut carried = Lbfgs::new(opts.clone());
        carried.minimize(&mut solved, |x| first.eval(x), no_callback);
        carried.restart_keeping_curvature();
        let mut x_warm = solved.copy();
        let warm = carried.minimize(&mut x_warm, |x| second.eval(x), no_callback);
        let mut x_cold = solved.copy();
        let cold = Lbfgs::new(opts).minimize(&mut x_cold, |x| second.eval(x), no_callback);
        assert_eq!(warm.reason, StopReason::GradientTolerance);
        assert_eq!(cold.reason, StopReason::GradientTolerance);
        assert!(
            warm.evaluations * 2 < cold.evaluations,
            "kept pairs: {} evaluations, fresh: {}",
            warm.evaluations,
            cold.evaluations
        );
        assert!(second.relative_error(&x_warm, &solved) < 1e-3);
    }

    /// `½|x - 5|²`, undefined (NaN) where any coordinate exceeds 2.
    fn cliff(x: &Tensor) -> (f64, Tensor) {
        if x.max().double_value(&[]) > 2.0 {
            return (f64::NAN, x.full_like(f64::NAN));
        }
        let e = x - 5.0;
        ((&e * &e).sum(Kind::Double).double_value(&[]) * 0.5, e)
    }

    #[test]
    fn non_finite_trial_points_are_backed_away_from() {
        let x0 = Tensor::zeros([20], (Kind::Double, Device::Cpu));
        let mut x = x0.copy();
        let mut opt = Lbfgs::new(LbfgsOptions {
            max_iter: 50,
            ..LbfgsOptions::default()
        });
        let out = opt.minimize(&mut x, cliff, no_callback);
        assert!(out.loss.is_finite(), "{out:?}");
        assert_loss_at_x(&out, &x, cliff);
        assert!(x.max().double_value(&[]) <= 2.0);
        assert!(out.loss < cliff(&x0).0);
        // Close to the cliff edge at 2 (loss ½·20·3² = 90).
        assert!(out.loss < 91.0, "{out:?}");
    }

    #[test]
    fn non_finite_loss_with_fixed_step_keeps_the_last_finite_point() {
        let x0 = Tensor::zeros([20], (Kind::Double, Device::Cpu));
        let mut x = x0.copy();
        let mut opt = Lbfgs::new(LbfgsOptions {
            max_iter: 50,
            learning_rate: 1e6,
            line_search: LineSearch::None,
            ..LbfgsOptions::default()
        });
        let out = opt.minimize(&mut x, cliff, no_callback);
        assert_eq!(out.reason, StopReason::ChangeTolerance);
        assert_eq!((out.iterations, out.evaluations), (0, 2));
        assert!(x.equal(&x0));
        assert_eq!(out.loss, cliff(&x0).0);

        // Non-finite at the start: nothing is changed.
        let mut x = Tensor::full([20], 3.0, (Kind::Double, Device::Cpu));
        let out = Lbfgs::new(LbfgsOptions::default()).minimize(&mut x, cliff, no_callback);
        assert_eq!(out.reason, StopReason::ChangeTolerance);
        assert_eq!((out.iterations, out.evaluations), (0, 1));
        assert!(out.loss.is_nan());
        assert_eq!(x.min().double_value(&[]), 3.0);
    }

    #[test]
    fn stays_on_the_device_of_x() {
        if !tch::Cuda::is_available() {
            eprintln!("CUDA not available: device test skipped");
            return;
        }
        let device = Device::Cuda(0);
        let q = Quadratic::new(4096, 1e3, 13, Kind::Float, device);
        let x0 = Tensor::zeros([64, 64], (Kind::Float, device));
        let mut x = x0.copy();
        let out = Lbfgs::new(LbfgsOptions {
            max_iter: 300,
            ..LbfgsOptions::default()
        })
        .minimize(&mut x, |x| q.eval(x), no_callback);
        assert_eq!(x.device(), device);
        assert_eq!(x.kind(), Kind::Float);
        assert_loss_at_x(&out, &x, |x| q.eval(x));
        let err = q.relative_error(&x, &x0);
        eprintln!("CUDA: {out:?}, relative error {err:e}");
        assert!(err < 1e-3, "relative error {err:e}");
    }
}
