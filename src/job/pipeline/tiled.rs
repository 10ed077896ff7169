//! A picture painted in tiles when it is too large for the memory budget
//! (`memory::check` chose the grid): every tile is held to the job's one
//! set of style targets, to its own crop of the content and of the
//! temporal targets, and runs its own L-BFGS from its crop of the start
//! (where earlier tiles were painted, what they painted); the results
//! are pasted back with feathered overlaps.
use std::ops::ControlFlow;

use tch::Tensor;

use crate::losses::{LossValues, SumLoss, TemporalLoss};
use crate::stylize::{IterateRecord, Schedule, Stylized, Stylizer};
use crate::temporal::TemporalTarget;
use crate::tiles::{seam_ratio, Blend, Grid, Tile};

/// What a picture's objective is made of, so that a tile can take its crop.
pub struct Picture<'a> {
    /// 1 x 3 x H x W in [0, 1].
    pub content: &'a Tensor,
    pub targets: &'a [TemporalTarget],
    pub temporal_weight: f64,
}

impl Picture<'_> {
    /// The objective of the whole picture: content, style, TV and range
    /// terms, and a temporal term per target.
    pub fn objective(&self, stylizer: &Stylizer) -> SumLoss {
        let mut sum = stylizer.objective(self.content);
        push_temporal(&mut sum, stylizer, self.targets, self.temporal_weight);
        sum
    }

    /// The objective of `tile`: the same terms on its crops, the style
    /// targets moved by `shift`.
    fn tile_objective(
        &self,
        stylizer: &Stylizer,
        tile: &Tile,
        shift: Option<&[Tensor]>,
    ) -> SumLoss {
        let targets: Vec<TemporalTarget> = self
            .targets
            .iter()
            .map(|t| TemporalTarget {
                warped: tile.crop(&t.warped),
                mask: tile.crop(&t.mask),
            })
            .collect();
        let content = tile.crop(self.content);
        let mut sum = stylizer.objective_shifted(&content, shift);
        push_temporal(&mut sum, stylizer, &targets, self.temporal_weight);
        sum
    }
}

/// A temporal term per target.
fn push_temporal(sum: &mut SumLoss, stylizer: &Stylizer, targets: &[TemporalTarget], weight: f64) {
    for t in targets {
        // In the network's pixel units (0-255 for Caffe weights), as
        // artistic-videos, so its weights carry over.
        let loss = TemporalLoss {
            target: stylizer.to_pixels(&t.warped),
            mask: t.mask.shallow_clone(),
        };
        sum.push(weight, loss);
    }
}

/// Paints `picture` from `init` (whole size, [0, 1]) tile by tile over
/// `grid`, in two sweeps of half the iterations each: the first holds
/// every tile to the style targets; in the second each tile minimises the
/// whole picture's style loss with the other tiles as they are. The losses
/// are the second sweep's averaged by area, the counts both sweeps' sums,
/// and the seam ratio of the result is recorded.
pub fn paint(
    stylizer: &Stylizer,
    grid: &Grid,
    picture: &Picture,
    init: &Tensor,
    sched: &Schedule,
    on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
) -> Stylized {
    let mut first = sched.clone();
    first.lbfgs.max_iter = sched.lbfgs.max_iter.div_ceil(2);
    let mut second = sched.clone();
    second.lbfgs.max_iter = sched.lbfgs.max_iter - first.lbfgs.max_iter;
    let (mut image, mut sum) = sweep(stylizer, grid, picture, init, &first, false, on_iter);
    if second.lbfgs.max_iter > 0 {
        let (again, more) = sweep(stylizer, grid, picture, &image, &second, true, on_iter);
        image = again;
        sum.then(more);
    }
    let ratio = seam_ratio(&image, grid);
    sum.into_stylized(image, ratio)
}

/// One pass over the tiles from `start`. With `whole`, each tile's style
/// targets are moved so that reaching them brings the whole picture (the
/// tiles' Gram matrices averaged by area, the others' as they are) to the
/// targets: a tile alone cannot hold every part of a style in proportion,
/// and the whole picture need not hold them in every tile.
fn sweep(
    stylizer: &Stylizer,
    grid: &Grid,
    picture: &Picture,
    start: &Tensor,
    sched: &Schedule,
    whole: bool,
    on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
) -> (Tensor, Sum) {
    let tiles = grid.tiles();
    let mut grams = whole.then(|| Grams::of(stylizer, &tiles, start));
    let mut blend = Blend::new(start);
    let mut sum = Sum::default();
    for (i, tile) in tiles.iter().enumerate() {
        let shift = grams.as_ref().map(|g| g.shift(stylizer.style_targets(), i));
        let objective = picture.tile_objective(stylizer, tile, shift.as_deref());
        let from = tile.crop(&blend.current());
        let done = stylizer.run(&objective, &from, sched, &mut *on_iter);
        if let Some(g) = grams.as_mut() {
            g.set(i, stylizer.grams(&done.image));
        }
        blend.add(grid, tile, &done.image);
        sum.add(&done, (tile.w * tile.h) as f64);
    }
    (blend.current(), sum)
}

/// Each tile's Gram matrices, its share of the picture, and the picture's
/// (the tiles' averaged by area), kept as a running sum.
struct Grams {
    per_tile: Vec<Vec<Tensor>>,
    shares: Vec<f64>,
    whole: Vec<Tensor>,
}

impl Grams {
    fn of(stylizer: &Stylizer, tiles: &[Tile], image: &Tensor) -> Self {
        let total: f64 = tiles.iter().map(|t| (t.w * t.h) as f64).sum();
        let per_tile: Vec<Vec<Tensor>> = tiles
            .iter()
            .map(|t| stylizer.grams(&t.crop(image)))
            .collect();
        let shares: Vec<f64> = tiles.iter().map(|t| (t.w * t.h) as f64 / total).collect();
        let whole = (0..per_tile[0].len())
            .map(|layer| {
                per_tile
                    .iter()
                    .zip(&shares)
                    .map(|(g, s)| &g[layer] * *s)
                    .reduce(|x, y| x + y)
                    .expect("a grid has tiles")
            })
            .collect();
        Self {
            per_tile,
            shares,
            whole,
        }
    }

    /// Tile `i` was painted again: its Gram matrices and the picture's.
    fn set(&mut self, i: usize, grams: Vec<Tensor>) {
        for (layer, g) in grams.iter().enumerate() {
            self.whole[layer] =
                &self.whole[layer] + (g - &self.per_tile[i][layer]) * self.shares[i];
        }
        self.per_tile[i] = grams;
    }

    /// How far tile `i`'s targets move: reaching `targets` + shift, with
    /// the other tiles unchanged, brings the whole picture to `targets`.
    fn shift(&self, targets: &[Tensor], i: usize) -> Vec<Tensor> {
        let share = self.shares[i];
        targets
            .iter()
            .zip(&self.whole)
            .enumerate()
            .map(|(layer, (a, whole))| (&self.per_tile[i][layer] - a) + (a - whole) / share)
            .collect()
    }
}

/// The tiles' results summed, their losses weighted by area.
#[derive(Default)]
struct Sum {
    losses: LossValues,
    area: f64,
    iterations: usize,
    evaluations: usize,
    seconds: f64,
    last: Option<crate::optimizer::StopReason>,
}

impl Sum {
    fn add_losses(&mut self, d: &LossValues, area: f64) {
        let l = &mut self.losses;
        l.total += d.total * area;
        l.content += d.content * area;
        l.style += d.style * area;
        l.tv += d.tv * area;
        l.temporal += d.temporal * area;
        l.range += d.range * area;
        self.area += area;
    }

    /// Adds a later sweep over the same tiles: its counts, and its losses
    /// in place of this one's.
    fn then(&mut self, later: Sum) {
        self.losses = later.losses;
        self.area = later.area;
        self.iterations += later.iterations;
        self.evaluations += later.evaluations;
        self.seconds += later.seconds;
        self.last = later.last;
    }

    fn add(&mut self, done: &Stylized, area: f64) {
        self.add_losses(&done.losses, area);
        self.iterations += done.iterations;
        self.evaluations += done.evaluations;
        self.seconds += done.seconds;
        self.last = Some(done.reason);
    }

    /// The losses averaged by area.
    fn mean(&self) -> LossValues {
        let (l, a) = (&self.losses, self.area.max(1.0));
        LossValues {
            total: l.total / a,
            content: l.content / a,
            style: l.style / a,
            tv: l.tv / a,
            temporal: l.temporal / a,
            range: l.range / a,
        }
    }

    fn into_stylized(self, image: Tensor, seam_ratio: f64) -> Stylized {
        Stylized {
            image,
            iterations: self.iterations,
            evaluations: self.evaluations,
            losses: self.mean(),
            seconds: self.seconds,
            reason: self.last.expect("a grid has tiles"),
            seam_ratio: Some(seam_ratio),
        }
    }
}

/// Evaluates `picture`'s objective at `image` without gradients: whole,
/// or per tile of `grid` averaged by area.
pub fn evaluate(
    stylizer: &Stylizer,
    grid: Option<&Grid>,
    picture: &Picture,
    image: &Tensor,
) -> LossValues {
    let Some(grid) = grid else {
        return stylizer.evaluate(&picture.objective(stylizer), image);
    };
    let mut sum = Sum::default();
    for tile in grid.tiles() {
        let objective = picture.tile_objective(stylizer, &tile, None);
        let losses = stylizer.evaluate(&objective, &tile.crop(image));
        let area = (tile.w * tile.h) as f64;
        sum.add_losses(&losses, area);
    }
    sum.mean()
}

/// Paints `picture` from `init`: whole, or in `grid`'s tiles.
pub fn run(
    stylizer: &Stylizer,
    grid: Option<&Grid>,
    picture: &Picture,
    init: &Tensor,
    sched: &Schedule,
    on_iter: &mut dyn FnMut(&IterateRecord) -> ControlFlow<()>,
) -> Stylized {
    match grid {
        Some(g) => paint(stylizer, g, picture, init, sched, on_iter),
        None => stylizer.run(&picture.objective(stylizer), init, sched, on_iter),
    }
}
