//! The Ruder et al. reliability mask: forward-backward consistency and
//! motion boundaries.

use rayon::prelude::*;

use super::warp::bilinear_setup;
use super::FlowField;

/// Ruder et al. reliability: 1.0 where `forward` (t->s) and `backward` (s->t, evaluated at the
/// forward-displaced position) agree, 0.0 at occlusions/disocclusions and at motion boundaries.
///
/// With `w = forward(x)` and `ŵ = backward(x + w)` (bilinear), a pixel is unreliable when
/// `|w + ŵ|² > 0.01 (|w|² + |ŵ|²) + 0.5` (disocclusion), when
/// `|∇u|² + |∇v|² > 0.01 |w|² + 0.002` for the forward field (motion boundary, central
/// differences), or when `x + w` lies outside the image (content entering the frame).
pub fn reliability_mask(forward: &FlowField, backward: &FlowField) -> Vec<f32> {
    let (w, h) = (forward.width, forward.height);
    assert_eq!(
        (w, h),
        (backward.width, backward.height),
        "reliability_mask: fields differ in size"
    );
    let mut mask = vec![0.0f32; w * h];
    if w == 0 || h == 0 {
        return mask;
    }
    mask.par_chunks_mut(w).enumerate().for_each(|(y, row)| {
        for (x, m) in row.iter_mut().enumerate() {
            let i = y * w + x;
            let (fu, fv) = (forward.u[i], forward.v[i]);
            let (px, py) = (x as f32 + fu, y as f32 + fv);
            if !(px >= -0.5 && px <= w as f32 - 0.5 && py >= -0.5 && py <= h as f32 - 0.5) {
                *m = 0.0;
                continue;
            }
            let s = bilinear_setup(w, h, px, py);
            let bu = s.sample(&backward.u);
            let bv = s.sample(&backward.v);
            let (su, sv) = (fu + bu, fv + bv);
            let fw2 = fu * fu + fv * fv;
            if su * su + sv * sv > 0.01 * (fw2 + bu * bu + bv * bv) + 0.5 {
                *m = 0.0;
                continue;
            }
            let (ux, vx) = central_diff_x(forward, x, y);
            let (uy, vy) = central_diff_y(forward, x, y);
            if ux * ux + uy * uy + vx * vx + vy * vy > 0.01 * fw2 + 0.002 {
                *m = 0.0;
                continue;
            }
            *m = 1.0;
        }
    });
    mask
}

/// The two samples a central difference at `i` of an axis of length `n`
/// uses (one-sided at the ends), and their distance; None if `n < 2`.
#[inline]
fn diff_span(i: usize, n: usize) -> Option<(usize, usize, f32)> {
    if n < 2 {
        None
    } else if i == 0 {
        Some((0, 1, 1.0))
    } else if i == n - 1 {
        Some((n - 2, n - 1, 1.0))
    } else {
        Some((i - 1, i + 1, 2.0))
    }
}

#[inline]
fn central_diff_x(f: &FlowField, x: usize, y: usize) -> (f32, f32) {
    let w = f.width;
    let Some((a, b, d)) = diff_span(x, w) else {
        return (0.0, 0.0);
    };
    let (ia, ib) = (y * w + a, y * w + b);
    ((f.u[ib] - f.u[ia]) / d, (f.v[ib] - f.v[ia]) / d)
}

#[inline]
fn central_diff_y(f: &FlowField, x: usize, y: usize) -> (f32, f32) {
    let w = f.width;
    let Some((a, b, d)) = diff_span(y, f.height) else {
        return (0.0, 0.0);
    };
    let (ia, ib) = (a * w + x, b * w + x);
    ((f.u[ib] - f.u[ia]) / d, (f.v[ib] - f.v[ia]) / d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::flow::fixtures::*;
    use crate::temporal::flow::*;

    // ----- reliability mask ------------------------------------------------------------

    /// A textured square moving `shift` pixels to the right over a static textured
    /// background: returns (frame t-1, frame t, square top-left at t-1, side).
    fn occlusion_scene(shift: usize) -> (Plane, Plane, (usize, usize), usize) {
        let bg = textured_base();
        let (w, h) = (bg.width, bg.height);
        let (x0, y0, side) = (50usize, 42usize, 36usize);
        // Object texture: the background upside down and inverted, so it differs from what
        // it covers.
        let object = |ox: usize, oy: usize| 1.0 - bg.get(w - 1 - ox - 20, h - 1 - oy - 20);
        let frame = |left: usize| {
            let mut f = bg.clone();
            for oy in 0..side {
                for ox in 0..side {
                    f.data[(y0 + oy) * w + left + ox] = object(ox, oy);
                }
            }
            f
        };
        (frame(x0), frame(x0 + shift), (x0, y0), side)
    }

    #[test]
    fn mask_of_exact_flows_marks_disocclusion_and_boundaries() {
        let (w, h, shift) = (160usize, 120usize, 6usize);
        let (x0, y0, side) = (50usize, 42usize, 36usize);
        let in_obj = |x: usize, y: usize, left: usize| {
            x >= left && x < left + side && y >= y0 && y < y0 + side
        };
        // t -> t-1: the object at t moves back by `shift`; t-1 -> t: forward by `shift`.
        let forward = FlowField::from_fn(w, h, |x, y| {
            if in_obj(x, y, x0 + shift) {
                (-(shift as f32), 0.0)
            } else {
                (0.0, 0.0)
            }
        });
        let backward = FlowField::from_fn(w, h, |x, y| {
            if in_obj(x, y, x0) {
                (shift as f32, 0.0)
            } else {
                (0.0, 0.0)
            }
        });
        let mask = reliability_mask(&forward, &backward);
        for y in 0..h {
            for x in 0..w {
                let m = mask[y * w + x];
                assert!(m == 0.0 || m == 1.0);
                let band = x >= x0 && x < x0 + shift && y >= y0 && y < y0 + side;
                // Within one pixel of the object's outline at t (motion boundary).
                let near_edge = (y + 1 >= y0 && y <= y0 + side)
                    && (x + 1 >= x0 + shift && x <= x0 + shift + side)
                    && !(x > x0 + shift
                        && x + 1 < x0 + shift + side
                        && y > y0
                        && y + 1 < y0 + side);
                if band {
                    assert_eq!(m, 0.0, "disoccluded pixel ({x}, {y}) marked reliable");
                } else if !near_edge {
                    assert_eq!(m, 1.0, "pixel ({x}, {y}) marked unreliable");
                }
            }
        }
        // Motion boundary: the left and right edges of the object are unreliable.
        for y in y0 + 1..y0 + side - 1 {
            assert_eq!(mask[y * w + x0 + shift], 0.0);
            assert_eq!(mask[y * w + x0 + shift + side - 1], 0.0);
        }
    }

    #[test]
    fn mask_of_estimated_flows_on_occlusion_scene() {
        let shift = 6usize;
        let (prev, cur, (x0, y0), side) = occlusion_scene(shift);
        let (w, h) = (cur.width, cur.height);
        let opts = FlowOptions::default();
        let forward = estimate_flow(&cur, &prev, &opts);
        let backward = estimate_flow(&prev, &cur, &opts);
        let mask = reliability_mask(&forward, &backward);

        let frac = |pred: &dyn Fn(usize, usize) -> bool, value: f32| {
            let (mut n, mut hit) = (0usize, 0usize);
            for y in 0..h {
                for x in 0..w {
                    if pred(x, y) {
                        n += 1;
                        hit += usize::from(mask[y * w + x] == value);
                    }
                }
            }
            assert!(n > 0);
            hit as f64 / n as f64
        };
        let xt = x0 + shift; // object's left edge at t
                             // Disoccluded band: background at t that the object covered at t-1.
        let band = |x: usize, y: usize| x >= x0 && x < xt && y >= y0 && y < y0 + side;
        // Static background well away from the object (in both frames) and the borders.
        let far_bg = |x: usize, y: usize| {
            let dist_x = if x + 8 < x0 || x >= xt + side + 8 {
                8
            } else {
                0
            };
            let dist_y = if y + 8 < y0 || y >= y0 + side + 8 {
                8
            } else {
                0
            };
            x >= 4 && y >= 4 && x + 4 < w && y + 4 < h && dist_x.max(dist_y) >= 8
        };
        // Object interior at t.
        let inside = |x: usize, y: usize| {
            x >= xt + 4 && x + 4 < xt + side && y >= y0 + 4 && y + 4 < y0 + side
        };
        let band0 = frac(&band, 0.0);
        let bg1 = frac(&far_bg, 1.0);
        let obj1 = frac(&inside, 1.0);
        eprintln!(
            "mask: band unreliable {band0:.3}, far background reliable {bg1:.3}, object interior reliable {obj1:.3}"
        );
        assert!(
            band0 >= 0.9,
            "only {band0:.3} of the disoccluded band is masked out"
        );
        assert!(
            bg1 >= 0.95,
            "only {bg1:.3} of the static background is reliable"
        );
        assert!(
            obj1 >= 0.9,
            "only {obj1:.3} of the object interior is reliable"
        );

        // Where the mask says reliable, the warped previous frame matches the current one.
        let warped = warp(&prev.data, 1, &forward);
        let (mut err, mut n) = (0.0f64, 0usize);
        for i in 0..w * h {
            if mask[i] == 1.0 {
                err += (warped[i] - cur.data[i]).abs() as f64;
                n += 1;
            }
        }
        let mae = err / n as f64;
        eprintln!("mean abs error of the warped frame on reliable pixels: {mae:.5}");
        assert!(mae < 0.01);
    }

    #[test]
    fn mask_uniform_motion_is_reliable_except_entering_border() {
        let (w, h) = (40, 30);
        let forward = FlowField::from_fn(w, h, |_, _| (2.0, 0.0));
        let backward = FlowField::from_fn(w, h, |_, _| (-2.0, 0.0));
        let mask = reliability_mask(&forward, &backward);
        for y in 0..h {
            for x in 0..w {
                // x + 2 leaves the image for the last two columns (beyond the half-pixel slack).
                let expect = if x + 2 < w { 1.0 } else { 0.0 };
                assert_eq!(mask[y * w + x], expect, "({x}, {y})");
            }
        }
        // Inconsistent backward flow: everything is a disocclusion.
        let wrong = FlowField::from_fn(w, h, |_, _| (2.0, 0.0));
        assert!(reliability_mask(&forward, &wrong).iter().all(|&m| m == 0.0));
    }
}
