//! Tiles of a picture too large for the memory budget: the grid (overlapping
//! tiles, as large as the budget allows), cropping, pasting back with
//! feathered overlaps, and how visible the tile borders are in the result.
use std::ops::Range;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// The smallest tile side: below it a tile holds too little texture for the
/// network's deeper layers.
pub const MIN_TILE: u32 = 64;

/// The smallest overlap of two tiles, in pixels.
const MIN_OVERLAP: u32 = 16;

/// How far from an interior tile edge the seam metric looks, in pixels.
pub const SEAM_BAND: u32 = 2;

/// Overlapping tiles covering a `width` x `height` picture, `cols` x `rows`
/// of `tile_w` x `tile_h`, each overlapping its neighbours by at least
/// `overlap` pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub cols: u32,
    pub rows: u32,
    pub tile_w: u32,
    pub tile_h: u32,
    pub overlap: u32,
    pub width: u32,
    pub height: u32,
}

/// One tile's place in the picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub col: u32,
    pub row: u32,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

fn down8(v: u64) -> u64 {
    v / 8 * 8
}

/// Tiles along one side of `length`, each `tile` long, overlapping by at
/// least `overlap`.
fn count(length: u32, tile: u32, overlap: u32) -> u32 {
    if tile >= length {
        return 1;
    }
    (length - overlap).div_ceil(tile - overlap)
}

/// Where tile `i` of `n` starts along a side: spread evenly from 0 to the end.
fn start(i: u32, n: u32, length: u32, tile: u32) -> u32 {
    if n <= 1 {
        return 0;
    }
    let span = (length - tile) as f64;
    (span * i as f64 / (n - 1) as f64).round() as u32
}

impl Grid {
    /// The grid of the largest tiles of at most `max_area` pixels (sides
    /// multiples of 8, nearly square) over `width` x `height`; None when
    /// `max_area` is below one [`MIN_TILE`] square.
    pub fn fit(width: u32, height: u32, max_area: u64) -> Option<Self> {
        let min = MIN_TILE as u64;
        if max_area < min * min {
            return None;
        }
        let side = down8((max_area as f64).sqrt() as u64).max(min);
        let tile_w = side.min(width as u64);
        let tile_h = down8(max_area / tile_w).max(min).min(height as u64);
        let (tile_w, tile_h) = (tile_w as u32, tile_h as u32);
        let overlap = (tile_w.min(tile_h) / 8).div_ceil(8) * 8;
        let overlap = overlap.max(MIN_OVERLAP);
        Some(Self {
            cols: count(width, tile_w, overlap),
            rows: count(height, tile_h, overlap),
            tile_w,
            tile_h,
            overlap,
            width,
            height,
        })
    }

    /// The tiles, row by row.
    pub fn tiles(&self) -> Vec<Tile> {
        let mut out = Vec::new();
        for r in 0..self.rows {
            for c in 0..self.cols {
                out.push(Tile {
                    col: c,
                    row: r,
                    x: start(c, self.cols, self.width, self.tile_w),
                    y: start(r, self.rows, self.height, self.tile_h),
                    w: self.tile_w,
                    h: self.tile_h,
                });
            }
        }
        out
    }

    /// Pixels of one tile.
    pub fn tile_area(&self) -> u64 {
        self.tile_w as u64 * self.tile_h as u64
    }

    /// The tile's blending weights (1 x 1 x h x w). Two neighbours share
    /// more pixels than the overlap when the tiles are spread over the
    /// picture; they blend over a band of `overlap` pixels in the middle of
    /// what they share (averaging two textures wider would wash them out):
    /// the one before falls linearly from 1 to 0 across it as the one after
    /// rises, so that the two sum to 1.
    pub fn feather(&self, tile: &Tile, device: tch::Device) -> Tensor {
        let x = self.ramp(Side::Across, tile.col, tile.x, tile.w, device);
        let y = self.ramp(Side::Down, tile.row, tile.y, tile.h, device);
        let x = x.view([1, 1, 1, tile.w as i64]);
        (y.view([1, 1, tile.h as i64, 1]) * x).contiguous()
    }

    /// The blending bands along a side of `length` with `n` tiles of
    /// `tile`: where each begins (in the picture) and its width.
    fn bands(&self, n: u32, length: u32, tile: u32) -> Vec<(u32, u32)> {
        let starts: Vec<u32> = (0..n).map(|i| start(i, n, length, tile)).collect();
        starts
            .windows(2)
            .map(|p| {
                let shared = p[0] + tile - p[1];
                let band = shared.min(self.overlap);
                (p[1] + (shared - band) / 2, band)
            })
            .collect()
    }

    /// The weights along one side of tile `i` (at `at`, `len` long):
    /// rising across the band it shares with the tile before, 1, falling
    /// across the band it shares with the tile after; 0 beyond.
    fn ramp(&self, side: Side, i: u32, at: u32, len: u32, device: tch::Device) -> Tensor {
        let bands = self.bands_of(side);
        let kind = (Kind::Float, device);
        let pos = Tensor::arange_start(at as i64, (at + len) as i64, kind) + 0.5;
        let mut w = Tensor::ones([len as i64], kind);
        if i > 0 {
            let (from, band) = bands[i as usize - 1];
            let rising = (&pos - from as f64) / band as f64;
            w = w.minimum(&rising.clamp(0.0, 1.0));
        }
        if let Some(&(from, band)) = bands.get(i as usize) {
            let falling = ((from + band) as f64 - &pos) / band as f64;
            w = w.minimum(&falling.clamp(0.0, 1.0));
        }
        w
    }

    fn bands_of(&self, side: Side) -> Vec<(u32, u32)> {
        match side {
            Side::Across => self.bands(self.cols, self.width, self.tile_w),
            Side::Down => self.bands(self.rows, self.height, self.tile_h),
        }
    }

    /// The seams: every blending band widened by [`SEAM_BAND`] pixels each
    /// side (where one tile's pixels give way to the next's), as ranges of
    /// x across and of y down.
    fn seams(&self) -> (Vec<Range<u32>>, Vec<Range<u32>>) {
        let widen = |bands: Vec<(u32, u32)>| {
            bands
                .into_iter()
                .map(|(from, band)| from.saturating_sub(SEAM_BAND)..from + band + SEAM_BAND)
                .collect::<Vec<_>>()
        };
        (
            widen(self.bands_of(Side::Across)),
            widen(self.bands_of(Side::Down)),
        )
    }
}

/// Along the picture's width or its height.
#[derive(Clone, Copy)]
enum Side {
    Across,
    Down,
}

impl Tile {
    /// This tile of a 1 x C x H x W picture.
    pub fn crop(&self, t: &Tensor) -> Tensor {
        t.narrow(2, self.y as i64, self.h as i64)
            .narrow(3, self.x as i64, self.w as i64)
    }
}

/// Tiles pasted back: the feathered sum and the sum of the weights, and
/// the latest tile's pixels wherever one was pasted (over the start), from
/// which the next tile starts where its feather is still 0.
pub struct Blend {
    sum: Tensor,
    weight: Tensor,
    canvas: Tensor,
}

impl Blend {
    /// An empty blend over `start` (1 x C x H x W).
    pub fn new(start: &Tensor) -> Self {
        let (_, _, h, w) = start.size4().expect("a picture is 4-d");
        Self {
            sum: start.zeros_like(),
            weight: Tensor::zeros([1, 1, h, w], (Kind::Float, start.device())),
            canvas: start.copy(),
        }
    }

    /// Adds `image`, the result of `tile`, weighted by its feather.
    pub fn add(&mut self, grid: &Grid, tile: &Tile, image: &Tensor) {
        let f = grid.feather(tile, image.device());
        let _ = tile.crop(&self.sum).g_add_(&(image * &f));
        let _ = tile.crop(&self.weight).g_add_(&f);
        tile.crop(&self.canvas).copy_(image);
    }

    /// The picture so far: the blend where tiles have weight, else the
    /// latest tile's pixels, else the start. Once every tile is added, the
    /// blend.
    pub fn current(&self) -> Tensor {
        let weighted = self.weight.gt(0.0);
        let blended = &self.sum / self.weight.clamp_min(f64::MIN_POSITIVE);
        blended.where_self(&weighted, &self.canvas)
    }
}

/// Mean gradient energy (|dx| + |dy|, averaged over channels) on the
/// seams, the blending bands and [`SEAM_BAND`] pixels either side, over the
/// same energy everywhere else: about 1 when the tile borders cannot be
/// told from the rest of the picture; above 1 when edges show there, below
/// when the blend washed the texture out.
pub fn seam_ratio(image: &Tensor, grid: &Grid) -> f64 {
    let energy = gradient_energy(image);
    let band = seam_mask(grid, image.device());
    let all = energy.sum(Kind::Double).double_value(&[]);
    let on = (&energy * &band).sum(Kind::Double).double_value(&[]);
    let off = all - on;
    let n_on = band.sum(Kind::Double).double_value(&[]);
    let n_off = band.numel() as f64 - n_on;
    if n_on == 0.0 || n_off == 0.0 || off == 0.0 {
        return 1.0;
    }
    (on / n_on) / (off / n_off)
}

/// |dx| + |dy| per pixel (1 x 1 x H x W), forward differences, zero at the
/// last column and row.
fn gradient_energy(image: &Tensor) -> Tensor {
    let dx = (image.narrow(3, 1, image.size()[3] - 1) - image.narrow(3, 0, image.size()[3] - 1))
        .abs()
        .constant_pad_nd([0, 1, 0, 0]);
    let dy = (image.narrow(2, 1, image.size()[2] - 1) - image.narrow(2, 0, image.size()[2] - 1))
        .abs()
        .constant_pad_nd([0, 0, 0, 1]);
    (dx + dy).mean_dim([1i64].as_slice(), true, Kind::Float)
}

/// 1 on the seams, else 0 (1 x 1 x H x W).
fn seam_mask(grid: &Grid, device: tch::Device) -> Tensor {
    let (xs, ys) = grid.seams();
    let on = |len: u32, seams: &[Range<u32>]| {
        let v: Vec<f32> = (0..len)
            .map(|i| f32::from(u8::from(seams.iter().any(|r| r.contains(&i)))))
            .collect();
        Tensor::from_slice(&v).to_device(device)
    };
    let cols = on(grid.width, &xs).view([1, 1, 1, grid.width as i64]);
    let rows = on(grid.height, &ys).view([1, 1, grid.height as i64, 1]);
    (cols + rows).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn the_grid_covers_the_picture_with_tiles_within_the_area() {
        for (w, h, area) in [
            (128, 96, 4096),
            (128, 96, 6000),
            (1000, 700, 90_000),
            (64, 300, 5000),
        ] {
            let g = Grid::fit(w, h, area).unwrap();
            assert!(g.tile_area() <= area.max(4096), "{g:?}");
            assert!(g.tile_w.is_multiple_of(8) || g.tile_w == w, "{g:?}");
            assert!(
                g.overlap >= MIN_OVERLAP && g.overlap.is_multiple_of(8),
                "{g:?}"
            );
            let tiles = g.tiles();
            assert_eq!(tiles.len() as u32, g.cols * g.rows);
            let last = tiles.last().unwrap();
            assert_eq!((last.x + last.w, last.y + last.h), (w, h), "{g:?}");
            for pair in tiles.windows(2).filter(|p| p[0].y == p[1].y) {
                assert!(pair[0].x + pair[0].w >= pair[1].x + g.overlap, "{g:?}");
            }
        }
        assert_eq!(Grid::fit(128, 96, 64 * 64 - 1), None);
    }

    #[test]
    fn feathered_tiles_paste_a_picture_back_unchanged() {
        tch::manual_seed(4);
        let picture = Tensor::rand([1, 3, 96, 128], (Kind::Float, Device::Cpu));
        let g = Grid::fit(128, 96, 4096).unwrap();
        assert!(g.cols > 1 && g.rows > 1, "{g:?}");
        let mut blend = Blend::new(&picture.zeros_like());
        for t in g.tiles() {
            blend.add(&g, &t, &t.crop(&picture));
        }
        let back = blend.current();
        let err = (back - &picture).abs().max().double_value(&[]);
        assert!(err < 1e-5, "{err}");
        // In an overlap the two feathers sum to 1.
        let t = g.tiles();
        let (a, b) = (g.feather(&t[0], Device::Cpu), g.feather(&t[1], Device::Cpu));
        let shared = (t[0].x + t[0].w - t[1].x) as i64;
        let sum = a.narrow(3, t[0].w as i64 - shared, shared) + b.narrow(3, 0, shared);
        let row = sum.narrow(2, 0, 1);
        assert!((row - 1.0).abs().max().double_value(&[]) < 1e-5);
    }

    #[test]
    fn the_seam_ratio_is_one_for_even_texture_and_tells_seams_both_ways() {
        tch::manual_seed(5);
        let g = Grid::fit(128, 96, 4096).unwrap();
        let size = [1, 3, 96, 128];
        let noise = || Tensor::rand(size, (Kind::Float, Device::Cpu));
        let even = seam_ratio(&noise(), &g);
        assert!((even - 1.0).abs() < 0.1, "{even}");
        // Lines where each tile gives way to the next: edges that show.
        let lined = noise() * 0.25;
        let (xs, ys) = g.seams();
        let ends = |r: &Range<u32>| [r.start + SEAM_BAND, r.end - SEAM_BAND - 1];
        for (dim, ranges) in [(3, xs), (2, ys)] {
            for at in ranges.iter().flat_map(ends) {
                let _ = lined.narrow(dim, at as i64, 1).fill_(1.0);
            }
        }
        let edged = seam_ratio(&lined, &g);
        assert!(edged > 1.3, "{edged}");
        // Tiles of unrelated texture averaged across the bands: washed out.
        let mut blend = Blend::new(&noise());
        for t in g.tiles() {
            blend.add(&g, &t, &t.crop(&noise()));
        }
        let washed = seam_ratio(&blend.current(), &g);
        assert!(washed < 0.95, "{washed}");
    }
}
