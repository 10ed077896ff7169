//! The start of a seam window. Each shard's texture is carried across the
//! seam along the flow (the last frame of the earlier shard warped forward
//! frame by frame, the first of the later one backward), and the two are
//! crossfaded over the window, so the window's passes begin from a gradual
//! change instead of a cut they would have to spread themselves.
use std::ops::Range;

use image::RgbImage;

use crate::error::Result;
use crate::temporal::flow::warp_lanczos;
use crate::temporal::{pair_between, rgb_to_f32};

use crate::job::store::workdir::FrameDir;

/// Writes the crossfaded start of every frame of `frames` (around a seam)
/// to `out`, from the shards' results `finals` in a clip of `total`
/// frames; skipped when it is there.
///
/// Each side is carried from the fixed frame just outside the window (or
/// its own first one at the clip's ends) through the whole window, so the
/// two sequences are equally smooth everywhere and the crossfade has no
/// kink at the seam, where one shard's frames give way to the other's.
pub fn crossfade(
    frames: Range<usize>,
    total: usize,
    finals: &FrameDir,
    content: &FrameDir,
    out: &FrameDir,
) -> Result<()> {
    if out.count(frames.clone()) == frames.len() {
        return Ok(());
    }
    let own = |i: usize| -> Result<Vec<f32>> { Ok(rgb_to_f32(&finals.get(i)?)) };
    let (w, h) = finals.get(frames.start)?.dimensions();
    let carried = |order: Vec<usize>, before: Option<usize>| -> Result<Vec<Vec<f32>>> {
        let mut prev = match before {
            Some(b) => Some((own(b)?, content.get(b)?)),
            None => None,
        };
        let mut seq = Vec::new();
        for i in order {
            let here = content.get(i)?;
            let img = match &prev {
                Some((img, from)) => carry(img, from, &here, img),
                None => own(i)?,
            };
            seq.push(img.clone());
            prev = Some((img, here));
        }
        Ok(seq)
    };
    let forward: Vec<usize> = frames.clone().collect();
    let earlier = carried(forward.clone(), frames.start.checked_sub(1))?;
    let backward: Vec<usize> = forward.iter().rev().copied().collect();
    let mut later = carried(backward, (frames.end < total).then_some(frames.end))?;
    later.reverse();
    let n = frames.len() as f32 + 1.0;
    for (k, i) in frames.clone().enumerate() {
        let alpha = (k as f32 + 1.0) / n;
        let mixed: Vec<u8> = earlier[k]
            .iter()
            .zip(&later[k])
            .map(|(a, b)| {
                (((1.0 - alpha) * a + alpha * b) * 255.0)
                    .round()
                    .clamp(0.0, 255.0) as u8
            })
            .collect();
        let img = RgbImage::from_raw(w, h, mixed).expect("a frame's worth of pixels");
        out.save(i, &img)?;
    }
    Ok(())
}

/// `stylized` (of the frame with content `from`) warped into the frame with
/// content `to`; where the flow is unreliable, `fallback` shows through.
/// The carried sequences hold their own pixels there: falling back to the
/// shards' results would switch from one shard to the other at the seam.
fn carry(stylized: &[f32], from: &RgbImage, to: &RgbImage, fallback: &[f32]) -> Vec<f32> {
    let pair = pair_between(from, to);
    let warped = warp_lanczos(stylized, 3, &pair.flow);
    warped
        .chunks(3)
        .zip(fallback.chunks(3))
        .zip(&pair.mask)
        .flat_map(|((wp, fb), &m)| (0..3).map(move |c| m * wp[c] + (1.0 - m) * fb[c]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_still_scene_ramps_evenly_from_one_shard_to_the_other() {
        let dir = tempfile::tempdir().unwrap();
        let finals = FrameDir::new(dir.path().join("finals"));
        let content = FrameDir::new(dir.path().join("content"));
        let out = FrameDir::new(dir.path().join("out"));
        let scene = RgbImage::from_fn(24, 16, |x, y| {
            image::Rgb([(x * 9) as u8, (y * 13) as u8, 90])
        });
        for i in 0..8 {
            content.save(i, &scene).unwrap();
            let v = if i < 4 { 0 } else { 250 };
            finals
                .save(i, &RgbImage::from_pixel(24, 16, image::Rgb([v, v, v])))
                .unwrap();
        }
        crossfade(1..7, 8, &finals, &content, &out).unwrap();
        let levels: Vec<u8> = (1..7).map(|i| out.get(i).unwrap()[(12, 8)].0[0]).collect();
        // Six frames, alpha = 1/7 .. 6/7 of the later shard's 250.
        let want: Vec<u8> = (1..7)
            .map(|k| (250.0 * k as f32 / 7.0).round() as u8)
            .collect();
        for (got, want) in levels.iter().zip(&want) {
            assert!(got.abs_diff(*want) <= 2, "{levels:?} vs {want:?}");
        }
        assert!(!out.has(0) && !out.has(7), "only the window is written");
    }
}
