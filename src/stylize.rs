//! One picture's optimisation: style targets computed once, a content target
//! per picture, the summed objective, and L-BFGS on the pixels with progress
//! reported through one `IterateRecord` that any front end can consume.
use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::time::{Duration, Instant};

use image::RgbImage;
use tch::{Kind, Tensor};

use crate::config::{LossConfig, ModelConfig};
use crate::imaging;
use crate::losses::{ContentLoss, LossValues, RangeLoss, StyleLoss, SumLoss, TvLoss};
use crate::model::{Backbone, ModelError};
use crate::optimizer::{Lbfgs, LbfgsOptions, StopReason};

/// A style image and its share of the blended style target.
pub struct StyleImage {
    pub image: RgbImage,
    pub weight: f64,
}

/// Progress of one optimisation, after each L-BFGS iteration.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct IterateRecord {
    pub iteration: usize,
    pub evaluations: usize,
    pub losses: LossValues,
    #[serde(skip)]
    pub elapsed: Duration,
}

/// When to stop one picture.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub lbfgs: LbfgsOptions,
    /// Stop when the loss fell by less than this fraction over `stop_window` iterations (0 = never).
    pub stop_tolerance: f64,
    pub stop_window: usize,
}

/// The result of one picture.
pub struct Stylized {
    /// 1 x 3 x H x W in [0, 1].
    pub image: Tensor,
    pub iterations: usize,
    pub evaluations: usize,
    pub losses: LossValues,
    pub seconds: f64,
    pub reason: StopReason,
    /// Painted in tiles: the gradient energy along the tile borders over
    /// the rest of the picture's (`tiles::seam_ratio`).
    pub seam_ratio: Option<f64>,
}

/// The parts of the objective that stay fixed for a whole job.
pub struct Stylizer {
    backbone: Rc<Backbone>,
    /// Layer indices the objective extracts, deepest last.
    wanted: Vec<usize>,
    content_slots: Vec<usize>,
    style_slots: Vec<usize>,
    style_targets: Vec<Tensor>,
    weights: LossConfig,
}

fn slot_of(wanted: &mut Vec<usize>, idx: usize) -> usize {
    wanted.iter().position(|&w| w == idx).unwrap_or_else(|| {
        wanted.push(idx);
        wanted.len() - 1
    })
}

/// The style images with their longest side `side`, checked against the network.
fn resize_styles(
    backbone: &Backbone,
    styles: &[StyleImage],
    side: u32,
    wanted: &[usize],
) -> Result<Vec<RgbImage>, ModelError> {
    styles
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let img = imaging::resize_longest(&s.image, side);
            let (w, h) = img.dimensions();
            backbone.check_size(
                &format!("style image {} after style.scale", i + 1),
                w,
                h,
                wanted,
            )?;
            Ok(img)
        })
        .collect()
}

/// Rows of context above and below a strip of a style image: a multiple
/// of the networks' largest stride (32), so strips keep the pooling grid,
/// and about half the receptive field of VGG's deepest style layer.
pub const STRIP_HALO: i64 = 96;

/// The Gram matrix of each of `slots` (indices into `wanted`) of a picture
/// in the network's pixel units (1 x 3 x H x W), computed in horizontal
/// strips when it is taller than `max_rows` (None: whole): each strip runs
/// with [`STRIP_HALO`] rows of context on each side, and only its own rows
/// count, so the sum is the whole picture's up to the context beyond the
/// halo. This keeps a large style image's pass within a memory budget.
pub fn strip_grams(
    backbone: &Backbone,
    px: &Tensor,
    wanted: &[usize],
    slots: &[usize],
    max_rows: Option<i64>,
) -> Vec<Tensor> {
    let height = px.size()[2];
    let body = max_rows.map(|r| ((r - 2 * STRIP_HALO) / 32 * 32).max(32));
    let Some(body) = body.filter(|&b| b < height) else {
        let feats = backbone.features(px, wanted);
        return slots
            .iter()
            .map(|&s| crate::losses::gram(&feats[s]))
            .collect();
    };
    let mut sums: Vec<Option<Tensor>> = slots.iter().map(|_| None).collect();
    let mut positions = vec![0i64; slots.len()];
    for top in (0..height).step_by(body as usize) {
        let bottom = (top + body).min(height);
        let from = (top - STRIP_HALO).max(0);
        let to = (bottom + STRIP_HALO).min(height);
        let feats = backbone.features(&px.narrow(2, from, to - from), wanted);
        for (k, &slot) in slots.iter().enumerate() {
            let f = &feats[slot];
            let (_, c, rows, _) = f.size4().expect("activations are 4-d");
            let ratio = rows as f64 / (to - from) as f64;
            let first = ((top - from) as f64 * ratio).round() as i64;
            let last = (((bottom - from) as f64 * ratio).round() as i64).min(rows);
            if last <= first {
                continue;
            }
            let own = f.narrow(2, first, last - first).reshape([c, -1]);
            positions[k] += own.size()[1];
            let g = own.mm(&own.tr());
            sums[k] = Some(match sums[k].take() {
                Some(acc) => acc + g,
                None => g,
            });
        }
    }
    sums.into_iter()
        .zip(positions)
        .map(|(sum, n)| {
            let sum = sum.expect("every strip has rows");
            let c = sum.size()[0];
            sum / (c * n.max(1)) as f64
        })
        .collect()
}

/// Per style slot, the Gram matrices of the `resized` style images, blended
/// by their weights; in strips of at most `max_rows` rows (None: whole).
fn blended_grams(
    backbone: &Backbone,
    styles: &[StyleImage],
    resized: &[RgbImage],
    style_slots: &[usize],
    wanted: &[usize],
    max_pixels: Option<u64>,
) -> Vec<Tensor> {
    let scale = backbone.pixel_scale();
    tch::no_grad(|| {
        let mut targets: Vec<Option<Tensor>> = style_slots.iter().map(|_| None).collect();
        let total: f64 = styles
            .iter()
            .map(|s| s.weight)
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        for (s, img) in styles.iter().zip(resized) {
            let px = imaging::to_tensor(img, backbone.device()) * scale;
            let max_rows = max_pixels.map(|p| (p / u64::from(img.width()).max(1)) as i64);
            let grams = strip_grams(backbone, &px, wanted, style_slots, max_rows);
            for (t, g) in targets.iter_mut().zip(grams) {
                let g = g * (s.weight / total);
                *t = Some(match t.take() {
                    Some(acc) => acc + g,
                    None => g,
                });
            }
        }
        targets
            .into_iter()
            .map(|t| t.expect("at least one style image"))
            .collect()
    })
}

impl Stylizer {
    /// Resolves layer names and computes the blended style Gram targets, once.
    /// Style images are resized so their longest side is `style_scale` times
    /// the output's longest side (`output_longest`), and passed through the
    /// network in strips of at most `max_style_pixels` (None: whole).
    pub fn new(
        backbone: Rc<Backbone>,
        model: &ModelConfig,
        weights: &LossConfig,
        styles: &[StyleImage],
        (style_scale, output_longest): (f64, u32),
        max_style_pixels: Option<u64>,
    ) -> Result<Self, ModelError> {
        let mut wanted = Vec::new();
        let mut slots = |names: Vec<String>| {
            names
                .iter()
                .map(|n| backbone.layer_index(n).map(|i| slot_of(&mut wanted, i)))
                .collect::<Result<Vec<_>, _>>()
        };
        let content_slots = slots(model.content_layers())?;
        let style_slots = slots(model.style_layers())?;
        let side = ((output_longest as f64 * style_scale).round() as u32).max(1);
        let resized = resize_styles(&backbone, styles, side, &wanted)?;
        let style_targets = blended_grams(
            &backbone,
            styles,
            &resized,
            &style_slots,
            &wanted,
            max_style_pixels,
        );
        Ok(Self {
            backbone,
            wanted,
            content_slots,
            style_slots,
            style_targets,
            weights: weights.clone(),
        })
    }

    /// Where the network, and so every tensor of the objective, lives.
    pub fn device(&self) -> tch::Device {
        self.backbone.device()
    }

    /// Layer indices whose activations the objective reads, in slot order.
    pub fn wanted(&self) -> &[usize] {
        &self.wanted
    }

    /// Evaluates `objective` at a [0, 1] image without gradients.
    pub fn evaluate(&self, objective: &SumLoss, image01: &Tensor) -> LossValues {
        tch::no_grad(|| {
            let px = self.to_pixels(image01);
            let feats = self.backbone.features(&px, &self.wanted);
            let (_, per) = objective.eval(&px, &feats);
            objective.values(&per)
        })
    }

    /// Content, style and TV terms for one content picture (1 x 3 x H x W in [0, 1]).
    pub fn objective(&self, content: &Tensor) -> SumLoss {
        self.objective_shifted(content, None)
    }

    /// The style Gram targets, one per style layer.
    pub fn style_targets(&self) -> &[Tensor] {
        &self.style_targets
    }

    /// The Gram matrices of a [0, 1] picture at the style layers, in the
    /// order of the style targets, without gradients.
    pub fn grams(&self, image01: &Tensor) -> Vec<Tensor> {
        tch::no_grad(|| {
            let feats = self
                .backbone
                .features(&self.to_pixels(image01), &self.wanted);
            self.style_slots
                .iter()
                .map(|&slot| crate::losses::gram(&feats[slot]))
                .collect()
        })
    }

    /// As [`Stylizer::objective`], with each style target moved by its
    /// `shift`: what one tile of a picture must reach for the whole
    /// picture to reach the targets.
    pub fn objective_shifted(&self, content: &Tensor, shift: Option<&[Tensor]>) -> SumLoss {
        let scale = self.backbone.pixel_scale();
        let mut sum = SumLoss::default();
        if self.weights.content_weight > 0.0 {
            let feats = tch::no_grad(|| self.backbone.features(&(content * scale), &self.wanted));
            for &slot in &self.content_slots {
                sum.push(
                    self.weights.content_weight,
                    ContentLoss {
                        slot,
                        target: feats[slot].shallow_clone(),
                    },
                );
            }
        }
        for (i, (&slot, target)) in self.style_slots.iter().zip(&self.style_targets).enumerate() {
            let target = match shift {
                Some(s) => target + &s[i],
                None => target.shallow_clone(),
            };
            sum.push(self.weights.style_weight, StyleLoss { slot, target });
        }
        sum.push(self.weights.tv_weight, TvLoss);
        sum.push(self.weights.range_weight, RangeLoss { max: scale });
        sum
    }

    /// Pixel-space value (network units) of a [0, 1] image.
    pub fn to_pixels(&self, image01: &Tensor) -> Tensor {
        image01 * self.backbone.pixel_scale()
    }

    /// Minimises `objective` from `init` (1 x 3 x H x W in [0, 1]).
    /// `on_iter` sees every iteration; Break stops early.
    pub fn run(
        &self,
        objective: &SumLoss,
        init: &Tensor,
        schedule: &Schedule,
        on_iter: impl FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Stylized {
        let mut lbfgs = Lbfgs::new(schedule.lbfgs.clone());
        self.run_with(&mut lbfgs, objective, init, schedule, on_iter)
    }

    /// As [`Stylizer::run`], starting from the curvature pairs `lbfgs` kept from
    /// another picture (the frame before) and keeping this run's for the next.
    pub fn run_with(
        &self,
        lbfgs: &mut Lbfgs,
        objective: &SumLoss,
        init: &Tensor,
        schedule: &Schedule,
        mut on_iter: impl FnMut(&IterateRecord) -> ControlFlow<()>,
    ) -> Stylized {
        *lbfgs.options_mut() = schedule.lbfgs.clone();
        // A first step of at least a hundredth of an intensity level where the gradient is
        // largest: far above the float spacing that stalls PyTorch's step on large
        // pictures, and below the step a warm start takes anyway.
        let floor = self.backbone.pixel_scale() / 255.0 / 100.0;
        lbfgs.options_mut().min_first_move.get_or_insert(floor);
        lbfgs.restart_keeping_curvature();
        let scale = self.backbone.pixel_scale();
        let start = Instant::now();
        let mut x = (init.detach() * scale).to_kind(Kind::Float);
        let recent = Recent::default();
        let closure = |x: &Tensor| {
            let (loss, per, grad) = self.loss_and_gradient(objective, x);
            recent.push(loss, per);
            (loss, grad)
        };
        let mut plateau = Plateau::new(schedule);
        let outcome = lbfgs.minimize(&mut x, closure, |info| {
            let rec = IterateRecord {
                iteration: info.iteration,
                evaluations: info.evaluations,
                losses: recent.values_for(objective, info.loss),
                elapsed: start.elapsed(),
            };
            if plateau.reached(info.loss) {
                return ControlFlow::Break(());
            }
            on_iter(&rec)
        });
        let losses = recent.values_for(objective, outcome.loss);
        let reason = if plateau.hit {
            StopReason::ChangeTolerance
        } else {
            outcome.reason
        };
        Stylized {
            image: (x / scale).clamp(0.0, 1.0),
            iterations: outcome.iterations,
            evaluations: outcome.evaluations,
            losses,
            seconds: start.elapsed().as_secs_f64(),
            reason,
            seam_ratio: None,
        }
    }

    /// Loss, per-term losses and gradient at `x` (pixel units).
    fn loss_and_gradient(&self, objective: &SumLoss, x: &Tensor) -> (f64, Tensor, Tensor) {
        // The optimiser may call this inside its own no_grad section.
        tch::with_grad(|| {
            let leaf = x.detach().set_requires_grad(true);
            let feats = self.backbone.features(&leaf, &self.wanted);
            let (total, per) = objective.eval(&leaf, &feats);
            total.backward();
            (total.double_value(&[]), per, leaf.grad())
        })
    }
}

/// The per-term losses of recent evaluations, to report the terms of the point each iteration
/// accepted (the optimiser reports only its total).
#[derive(Default)]
struct Recent(RefCell<Vec<(f64, Tensor)>>);

impl Recent {
    const KEPT: usize = 32;

    fn push(&self, loss: f64, per: Tensor) {
        let mut r = self.0.borrow_mut();
        if r.len() >= Self::KEPT {
            drop(r.remove(0));
        }
        r.push((loss, per));
    }

    /// The terms of the latest evaluation with this total, else of the latest one.
    fn values_for(&self, objective: &SumLoss, loss: f64) -> LossValues {
        let r = self.0.borrow();
        r.iter()
            .rev()
            .find(|(l, _)| *l == loss)
            .or(r.last())
            .map(|(_, per)| objective.values(per))
            .unwrap_or_default()
    }
}

/// The early stop of a [`Schedule`]: the loss fell by less than `stop_tolerance` (a fraction)
/// over the last `stop_window` iterations.
struct Plateau {
    tolerance: f64,
    window: usize,
    history: Vec<f64>,
    /// It stopped the run.
    hit: bool,
}

impl Plateau {
    fn new(schedule: &Schedule) -> Self {
        Self {
            tolerance: schedule.stop_tolerance,
            window: schedule.stop_window,
            history: Vec::new(),
            hit: false,
        }
    }

    /// Records one iteration's loss; true when the run should stop.
    fn reached(&mut self, loss: f64) -> bool {
        self.history.push(loss);
        let w = self.window;
        if self.tolerance > 0.0 && self.history.len() > w {
            let old = self.history[self.history.len() - 1 - w];
            if old.is_finite() && (old - loss) <= self.tolerance * old.abs() {
                self.hit = true;
            }
        }
        self.hit
    }
}
