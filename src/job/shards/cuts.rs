//! Where a clip's shards meet. A seam shows least where the picture moves
//! least, and not at all at a new shot or a held frame (one the input
//! repeats), so each cut moves from the even split to one of those within
//! `FAR` times `shards.cut_search` of a shard's length, else to the frame
//! within `shards.cut_search` that the input itself carries best along the
//! flow: that score follows one run's stylized warping error (see
//! docs/tuning.md).
use std::ops::Range;

use crate::config::{JobConfig, MAX_CUT_SEARCH};
use crate::error::Result;
use crate::temporal::metric::WarpingMeter;
use crate::video::FrameSource;

/// Frames are scored at most this size: the choice needs the motion, not
/// the detail.
const SCORE_SIZE: u32 = 128;

/// A cut reaches this many times further for a held frame or a new shot:
/// no seam shows there, which is worth shards of less even length.
const FAR: f64 = 4.0;

/// A frame whose score is under this share of the scored frames' median is
/// held: the input repeats it, while a moving frame scores far above it.
const HELD: f64 = 0.1;

/// Where shard `i` of `count` starts in a clip of `total` frames when the
/// clip is split evenly (`i == count`: the end).
pub fn even_bound(i: usize, count: usize, total: usize) -> usize {
    // In u128: a container may declare any count.
    (i as u128 * total as u128 / count as u128) as usize
}

/// The first frame of every shard but the first, for `shards` shards of a
/// clip of `frames` frames. Deterministic, so workers that lay out a clip
/// at once agree.
pub fn calm_cuts(cfg: &JobConfig, shards: usize, frames: usize) -> Result<Vec<usize>> {
    let even: Vec<usize> = (1..shards).map(|i| even_bound(i, shards, frames)).collect();
    let per_shard = frames as f64 / shards as f64;
    let near = (cfg.shards.cut_search * per_shard) as usize;
    let far = ((cfg.shards.cut_search * FAR).min(MAX_CUT_SEARCH) * per_shard) as usize;
    // The even cuts are at least `frames / shards` apart: the searches of
    // two neighbours never meet, so no shard comes out empty.
    let far = far.min((frames / shards).saturating_sub(1) / 2);
    if far == 0 || frames < 3 {
        return Ok(even);
    }
    let searches: Vec<Range<usize>> = even
        .iter()
        .map(|&c| c.saturating_sub(far).max(1)..(c + far + 1).min(frames))
        .collect();
    let scores = score(cfg, &searches)?;
    let held = HELD * median(scores.iter().flatten().copied().filter(|&s| s >= 0.0));
    Ok(even
        .iter()
        .zip(&searches)
        .zip(&scores)
        .map(|((&even, search), scores)| {
            let search = Search {
                even,
                first: search.start,
                scores,
            };
            search.still(held).unwrap_or_else(|| search.calmest(near))
        })
        .collect())
}

/// One cut's candidates: the frames from `first` on, scored.
struct Search<'a> {
    even: usize,
    first: usize,
    scores: &'a [f64],
}

impl Search<'_> {
    fn frames(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        (self.first..).zip(self.scores.iter().copied())
    }

    /// The new shot or held frame (score under `held`) nearest the even
    /// cut; of two as near, the lower score.
    fn still(&self, held: f64) -> Option<usize> {
        self.frames()
            .filter(|&(_, s)| s < held)
            .min_by(|(a, sa), (b, sb)| {
                a.abs_diff(self.even)
                    .cmp(&b.abs_diff(self.even))
                    .then(sa.total_cmp(sb))
            })
            .map(|(t, _)| t)
    }

    /// The frame within `near` of the even cut with the lowest score; of
    /// equal ones, the nearest to the even cut.
    fn calmest(&self, near: usize) -> usize {
        self.frames()
            .filter(|&(t, _)| t.abs_diff(self.even) <= near)
            .min_by(|(a, sa), (b, sb)| {
                sa.total_cmp(sb)
                    .then(a.abs_diff(self.even).cmp(&b.abs_diff(self.even)))
            })
            .map_or(self.even, |(t, _)| t)
    }
}

/// The median of `scores`, 0 if there are none.
fn median(scores: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = scores.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Per search, each frame's score: its warping error against the frame
/// before, or -1 where the flow cannot carry `run.new_shot` of its pixels.
fn score(cfg: &JobConfig, searches: &[Range<usize>]) -> Result<Vec<Vec<f64>>> {
    let mut opts = cfg.input.clone();
    opts.size = Some(opts.size.map_or(SCORE_SIZE, |s| s.min(SCORE_SIZE)));
    opts.max_frames = searches.last().map(|r| r.end);
    let mut meters: Vec<WarpingMeter> = searches.iter().map(|_| WarpingMeter::default()).collect();
    for frame in FrameSource::open(&cfg.input.path, &opts)? {
        let frame = frame?;
        for (search, meter) in searches.iter().zip(&mut meters) {
            if (search.start - 1..search.end).contains(&frame.index) {
                meter.push(&frame.image, &frame.image);
            }
        }
    }
    let new_shot = cfg.run.new_shot;
    Ok(meters
        .into_iter()
        .map(|m| {
            m.per_frame
                .iter()
                .zip(&m.reliable)
                .map(|(&e, &kept)| if 1.0 - kept > new_shot { -1.0 } else { e })
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{imageops, RgbImage};
    use std::path::Path;

    fn picture(name: &str) -> RgbImage {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name);
        let img = image::open(path).unwrap().to_rgb8();
        imageops::resize(&img, 240, 180, imageops::FilterType::Triangle)
    }

    /// 40 frames panning 3 px a frame, but frame 17 repeats frame 16 and
    /// frames from `shot` on show another picture.
    fn clip(dir: &Path, shot: usize) -> JobConfig {
        let (a, b) = (picture("tubingen.jpg"), picture("golden_gate.jpg"));
        for t in 0..40 {
            let x = 3 * if t > 16 { t - 1 } else { t } as u32;
            let src = if t >= shot { &b } else { &a };
            let frame = imageops::crop_imm(src, x, 40, 96, 72).to_image();
            frame.save(dir.join(format!("f{t:03}.png"))).unwrap();
        }
        let mut cfg = JobConfig::default();
        cfg.input.path = dir.to_path_buf();
        cfg.input.size = Some(96);
        cfg.shards.cut_search = 0.2;
        cfg
    }

    #[test]
    fn cuts_move_to_a_held_frame_or_a_new_shot_within_the_far_reach() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = clip(dir.path(), 40);
        for (search, cut) in [(0.2, 17), (0.1, 17), (0.03, 20), (0.0, 20)] {
            cfg.shards.cut_search = search;
            let cuts = calm_cuts(&cfg, 2, 40).unwrap();
            assert_eq!(cuts, [cut], "cut_search {search}");
        }
        // Frame 23 is as far as 17 and starts a new shot.
        let cfg = clip(dir.path(), 23);
        assert_eq!(calm_cuts(&cfg, 2, 40).unwrap(), [23]);
    }

    #[test]
    fn neighbouring_cuts_never_meet() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = clip(dir.path(), 40);
        cfg.shards.cut_search = 0.1;
        // 15 shards: the even cuts 16 and 18 both reach the held frame 17.
        for shards in [8, 10, 15] {
            let cuts = calm_cuts(&cfg, shards, 40).unwrap();
            assert!(
                cuts.windows(2).all(|w| w[0] < w[1]),
                "{shards} shards: {cuts:?}"
            );
            assert!(cuts[0] > 0 && cuts[cuts.len() - 1] < 40, "{cuts:?}");
        }
    }

    fn search(even: usize, first: usize, scores: &[f64]) -> usize {
        let search = Search {
            even,
            first,
            scores,
        };
        search.still(0.05).unwrap_or_else(|| search.calmest(2))
    }

    #[test]
    fn a_still_frame_wins_then_the_calmest_near_one_and_ties_go_to_the_even_cut() {
        assert_eq!(search(20, 16, &[0.3, 0.1, 0.2, 0.2, 0.4]), 19);
        assert_eq!(search(20, 18, &[0.2, 0.5, 0.2, 0.3]), 20);
        assert_eq!(search(20, 19, &[0.2, 0.5, 0.2]), 19);
        assert_eq!(search(20, 18, &[0.2, 0.5, -1.0]), 20);
        assert_eq!(search(20, 14, &[0.01, 0.3, 0.1, 0.2, 0.2, 0.2]), 14);
        assert_eq!(
            search(
                20,
                14,
                &[0.0, 0.3, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.2, 0.3, -1.0]
            ),
            24
        );
        assert_eq!(
            search(20, 14, &[0.0, 0.3, 0.1, 0.2, 0.2, 0.2, 0.3, 0.3, 0.2, -1.0]),
            23
        );
        assert_eq!(search(20, 20, &[]), 20);
    }
}
