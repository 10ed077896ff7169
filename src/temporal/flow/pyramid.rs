//! Image pyramids and the filters they need: Gaussian blur, resampling,
//! derivatives and the median filter of the flow.

use rayon::prelude::*;

use super::warp::bilinear_setup;
use super::{FlowField, Plane};

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as usize;
    let mut k: Vec<f32> = (0..=2 * radius)
        .map(|i| {
            let d = i as f32 - radius as f32;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// Separable Gaussian blur with clamped borders.
pub(super) fn gaussian_blur(p: &Plane, sigma: f32) -> Plane {
    if sigma <= 0.0 || p.data.is_empty() {
        return p.clone();
    }
    let (w, h) = (p.width, p.height);
    let k = gaussian_kernel(sigma);
    let r = k.len() / 2;
    let mut tmp = vec![0.0f32; w * h];
    tmp.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let src = &p.data[y * w..(y + 1) * w];
        // Row padded with clamped borders.
        let padded: Vec<f32> = (0..w + 2 * r)
            .map(|j| src[j.saturating_sub(r).min(w - 1)])
            .collect();
        for (x, o) in row.iter_mut().enumerate() {
            *o = k
                .iter()
                .zip(&padded[x..x + 2 * r + 1])
                .map(|(a, b)| a * b)
                .sum();
        }
    });
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (j, kv) in k.iter().enumerate() {
            let yy = (y + j).saturating_sub(r).min(h - 1);
            let src = &tmp[yy * w..(yy + 1) * w];
            for (o, s) in row.iter_mut().zip(src) {
                *o += kv * s;
            }
        }
    });
    Plane::from_vec(w, h, out)
}

/// Resamples `p` to `nw x nh` with bilinear interpolation (pixel-centre aligned).
fn resample(p: &Plane, nw: usize, nh: usize) -> Plane {
    let (w, h) = (p.width, p.height);
    let sx = w as f32 / nw as f32;
    let sy = h as f32 / nh as f32;
    let mut out = vec![0.0f32; nw * nh];
    out.par_chunks_mut(nw).enumerate().for_each(|(y, row)| {
        let fy = (y as f32 + 0.5) * sy - 0.5;
        for (x, o) in row.iter_mut().enumerate() {
            let fx = (x as f32 + 0.5) * sx - 0.5;
            *o = bilinear_setup(w, h, fx, fy).sample(&p.data);
        }
    });
    Plane::from_vec(nw, nh, out)
}

pub(super) fn build_pyramid(img: &Plane, sizes: &[(usize, usize)], presmooth: f32) -> Vec<Plane> {
    let mut levels = Vec::with_capacity(sizes.len());
    levels.push(gaussian_blur(img, presmooth));
    for &(lw, lh) in &sizes[1..] {
        let prev = levels.last().expect("finest level");
        // Anti-aliasing for the size ratio between consecutive levels.
        let ratio = lw as f32 / prev.width as f32;
        let sigma = 1.0 / (2.0 * ratio).sqrt();
        let blurred = gaussian_blur(prev, sigma);
        levels.push(resample(&blurred, lw, lh));
    }
    levels
}

pub(super) fn upsample_flow(f: &FlowField, nw: usize, nh: usize) -> FlowField {
    let ku = nw as f32 / f.width as f32;
    let kv = nh as f32 / f.height as f32;
    let up = Plane::from_vec(f.width, f.height, f.u.clone());
    let vp = Plane::from_vec(f.width, f.height, f.v.clone());
    let mut u = resample(&up, nw, nh).data;
    let mut v = resample(&vp, nw, nh).data;
    u.iter_mut().for_each(|a| *a *= ku);
    v.iter_mut().for_each(|a| *a *= kv);
    FlowField {
        width: nw,
        height: nh,
        u,
        v,
    }
}

/// Fourth-order central difference `(a - 8b + 8c - d) / 12` of the samples at offsets
/// -2, -1, +1, +2.
#[inline(always)]
fn d5(m2: f32, m1: f32, p1: f32, p2: f32) -> f32 {
    (m2 - p2 + 8.0 * (p1 - m1)) * (1.0 / 12.0)
}

/// Fourth-order central derivative along x, clamped at the borders.
pub(super) fn derivative_x(p: &Plane) -> Plane {
    let (w, h) = (p.width, p.height);
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let src = &p.data[y * w..(y + 1) * w];
        let at = |x: usize, k: isize| src[(x as isize + k).clamp(0, w as isize - 1) as usize];
        for (x, o) in row.iter_mut().enumerate() {
            *o = if x >= 2 && x + 2 < w {
                d5(src[x - 2], src[x - 1], src[x + 1], src[x + 2])
            } else {
                d5(at(x, -2), at(x, -1), at(x, 1), at(x, 2))
            };
        }
    });
    Plane::from_vec(w, h, out)
}

/// Fourth-order central derivative along y, clamped at the borders.
pub(super) fn derivative_y(p: &Plane) -> Plane {
    let (w, h) = (p.width, p.height);
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let r = |k: isize| {
            let yy = (y as isize + k).clamp(0, h as isize - 1) as usize;
            &p.data[yy * w..(yy + 1) * w]
        };
        let (m2, m1, p1, p2) = (r(-2), r(-1), r(1), r(2));
        for (x, o) in row.iter_mut().enumerate() {
            *o = d5(m2[x], m1[x], p1[x], p2[x]);
        }
    });
    Plane::from_vec(w, h, out)
}

/// Pixels filtered at once by the median exchange networks (one SIMD-friendly lane each).
const MEDIAN_LANES: usize = 8;

/// Compare-exchange of rows `a` and `b` of a lane-parallel exchange network.
macro_rules! exchange {
    ($p:ident; $(($a:expr, $b:expr)),* $(,)?) => {
        $(
            for l in 0..MEDIAN_LANES {
                let (x, y) = ($p[$a][l], $p[$b][l]);
                $p[$a][l] = if x < y { x } else { y };
                $p[$b][l] = if x > y { x } else { y };
            }
        )*
    };
}

/// Lane-wise median of 9 values (exchange network of Paeth, as given by Devillard).
#[inline(always)]
fn median9_lanes(p: &mut [[f32; MEDIAN_LANES]; 9]) -> [f32; MEDIAN_LANES] {
    exchange!(p; (1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
        (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2));
    p[4]
}

/// Lane-wise median of 25 values (exchange network of Paeth, as given by Devillard).
#[inline(always)]
fn median25_lanes(p: &mut [[f32; MEDIAN_LANES]; 25]) -> [f32; MEDIAN_LANES] {
    exchange!(p; (0, 1), (3, 4), (2, 4), (2, 3), (6, 7), (5, 7), (5, 6), (9, 10), (8, 10), (8, 9),
        (12, 13), (11, 13), (11, 12), (15, 16), (14, 16), (14, 15), (18, 19), (17, 19), (17, 18),
        (21, 22), (20, 22), (20, 21), (23, 24), (2, 5), (3, 6), (0, 6), (0, 3), (4, 7), (1, 7),
        (1, 4), (11, 14), (8, 14), (8, 11), (12, 15), (9, 15), (9, 12), (13, 16), (10, 16),
        (10, 13), (20, 23), (17, 23), (17, 20), (21, 24), (18, 24), (18, 21), (19, 22), (8, 17),
        (9, 18), (0, 18), (0, 9), (10, 19), (1, 19), (1, 10), (11, 20), (2, 20), (2, 11),
        (12, 21), (3, 21), (3, 12), (13, 22), (4, 22), (4, 13), (14, 23), (5, 23), (5, 14),
        (15, 24), (6, 24), (6, 15), (7, 16), (7, 19), (13, 21), (15, 23), (7, 13), (7, 15),
        (1, 9), (3, 11), (5, 17), (11, 17), (9, 17), (4, 10), (6, 12), (7, 14), (4, 6), (4, 7),
        (12, 14), (10, 14), (6, 7), (10, 12), (6, 10), (6, 17), (12, 17), (7, 17), (7, 10),
        (12, 18), (7, 12), (10, 18), (12, 20), (10, 20), (10, 12));
    p[12]
}

/// Median filter with a `(2r+1)^2` window (truncated at the borders).
pub(super) fn median_filter(data: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        let mut buf: Vec<f32> = Vec::with_capacity((2 * r + 1) * (2 * r + 1));
        let (y0, y1) = (y.saturating_sub(r), (y + r).min(h - 1));
        let mut x = 0;
        // Interior: blocks of MEDIAN_LANES pixels through an exchange network.
        if (r == 1 || r == 2) && y1 - y0 == 2 * r && w >= 2 * r + MEDIAN_LANES {
            x = r;
            while x + MEDIAN_LANES + r <= w {
                let k = 2 * r + 1;
                if r == 1 {
                    let mut p = [[0.0f32; MEDIAN_LANES]; 9];
                    for (j, pj) in p.iter_mut().enumerate() {
                        let s = (y0 + j / k) * w + x + j % k - r;
                        pj.copy_from_slice(&data[s..s + MEDIAN_LANES]);
                    }
                    row[x..x + MEDIAN_LANES].copy_from_slice(&median9_lanes(&mut p));
                } else {
                    let mut p = [[0.0f32; MEDIAN_LANES]; 25];
                    for (j, pj) in p.iter_mut().enumerate() {
                        let s = (y0 + j / k) * w + x + j % k - r;
                        pj.copy_from_slice(&data[s..s + MEDIAN_LANES]);
                    }
                    row[x..x + MEDIAN_LANES].copy_from_slice(&median25_lanes(&mut p));
                }
                x += MEDIAN_LANES;
            }
        }
        // Everything else (borders, remainders, other radii): selection.
        for (xx, o) in row.iter_mut().enumerate() {
            let done = xx >= r && xx < x;
            if done {
                continue;
            }
            let (x0, x1) = (xx.saturating_sub(r), (xx + r).min(w - 1));
            buf.clear();
            for yy in y0..=y1 {
                buf.extend_from_slice(&data[yy * w + x0..=yy * w + x1]);
            }
            let mid = buf.len() / 2;
            let (_, m, _) = buf.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
            *o = *m;
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_networks_match_sorting() {
        let mut seed = 0x2545_f491_u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            // Few distinct values, so ties are common.
            (seed % 7) as f32
        };
        for _ in 0..2000 {
            let mut p9 = [[0.0f32; MEDIAN_LANES]; 9];
            let mut p25 = [[0.0f32; MEDIAN_LANES]; 25];
            p9.iter_mut().flatten().for_each(|v| *v = next());
            p25.iter_mut().flatten().for_each(|v| *v = next());
            let (c9, c25) = (p9, p25);
            let (m9, m25) = (median9_lanes(&mut p9), median25_lanes(&mut p25));
            for l in 0..MEDIAN_LANES {
                let mut v: Vec<f32> = c9.iter().map(|r| r[l]).collect();
                v.sort_by(f32::total_cmp);
                assert_eq!(m9[l], v[4]);
                let mut v: Vec<f32> = c25.iter().map(|r| r[l]).collect();
                v.sort_by(f32::total_cmp);
                assert_eq!(m25[l], v[12]);
            }
        }
    }

    #[test]
    fn median_filter_matches_naive() {
        let (w, h) = (23, 13);
        let data: Vec<f32> = (0..w * h).map(|i| ((i * 7919 + 13) % 101) as f32).collect();
        for r in [1, 2, 3] {
            let out = median_filter(&data, w, h, r);
            for y in 0..h {
                for x in 0..w {
                    let mut v = Vec::new();
                    for yy in y.saturating_sub(r)..=(y + r).min(h - 1) {
                        for xx in x.saturating_sub(r)..=(x + r).min(w - 1) {
                            v.push(data[yy * w + xx]);
                        }
                    }
                    v.sort_by(f32::total_cmp);
                    assert_eq!(out[y * w + x], v[v.len() / 2], "r={r} ({x}, {y})");
                }
            }
        }
    }

    /// The 25-input exchange network is a median selector for all 2^25 zero-one inputs,
    /// hence (zero-one principle) for all inputs. Slow without optimisation.
    #[test]
    #[ignore]
    fn median25_network_zero_one_exhaustive() {
        let total: u32 = 1 << 25;
        let mut bits = 0u32;
        while bits < total {
            let mut p = [[0.0f32; MEDIAN_LANES]; 25];
            for l in 0..MEDIAN_LANES {
                let b = bits + l as u32;
                for (j, row) in p.iter_mut().enumerate() {
                    row[l] = ((b >> j) & 1) as f32;
                }
            }
            let m = median25_lanes(&mut p);
            for (l, ml) in m.iter().enumerate() {
                let ones = (bits + l as u32).count_ones();
                assert_eq!(
                    *ml,
                    if ones >= 13 { 1.0 } else { 0.0 },
                    "input {:#x}",
                    bits + l as u32
                );
            }
            bits += MEDIAN_LANES as u32;
        }
    }
}
