//! Pictures too large for the memory budget are painted in tiles: a still
//! and a short clip at 128 px, tiles forced by a limit just under the whole
//! picture's estimate, against the same job painted whole. The tiles share
//! the whole picture's style targets, so the result keeps its style, and
//! their feathered overlaps leave no visible borders.
mod common;

use std::ops::ControlFlow;
use std::path::Path;

use tch::Device;
use vstyle::config::JobConfig;
use vstyle::imaging::to_tensor;
use vstyle::memory::Shape;
use vstyle::tiles::{seam_ratio, Grid};
use vstyle::video::load_image;

/// The tiled result's whole-picture style loss may exceed the whole
/// painting's by at most this factor. Tiles this small against the
/// network's reach cost style; docs/memory.md has the measured factors.
const STYLE_TOLERANCE: f64 = 2.5;

/// Gradient energy along the tile borders over the rest's: above this the
/// borders would show.
const SEAM_LIMIT: f64 = 1.3;

/// How far under the whole picture's estimate the tiled runs' limit is:
/// room for 2 x 2 tiles of 80 to 88 px at 128 px.
const UNDER: u64 = 14 << 20;

fn job(sets: &[String]) -> JobConfig {
    let style = common::data("starry_night.jpg").display().to_string();
    let mut o = vec![
        format!("style.images=[\"{style}\"]"),
        "run.device=\"cpu\"".to_string(),
        "model.name=\"squeezenet\"".to_string(),
    ];
    o.extend(sets.iter().cloned());
    common::job::config(&o)
}

/// A limit that `cfg`'s job at `w` x `h` does not fit whole.
fn tight_limit(cfg: &JobConfig, w: u32, h: u32, video: bool) -> u64 {
    Shape::of(cfg, w, h, video).estimate().total() - UNDER
}

/// The style loss of the picture saved at `path`, over the whole picture
/// (not per tile), with `cfg`'s network and style targets.
fn whole_style(cfg: &JobConfig, path: &Path) -> f64 {
    let saved = load_image(path).unwrap();
    let (w, h) = saved.dimensions();
    let setup = vstyle::job::Setup::new(cfg).unwrap();
    let stylizer = setup.stylizer(cfg, "test", w, h).unwrap();
    let picture = to_tensor(&saved, Device::Cpu);
    // The content term is not read: the picture serves as its own content.
    let objective = stylizer.objective(&picture);
    stylizer.evaluate(&objective, &picture).style
}

/// The seam ratio of the picture saved at `path` over `grid`.
fn saved_seam_ratio(path: &Path, grid: &Grid) -> f64 {
    seam_ratio(&to_tensor(&load_image(path).unwrap(), Device::Cpu), grid)
}

#[test]
fn a_still_over_its_budget_is_painted_in_tiles_with_the_whole_style() {
    let dir = tempfile::tempdir().unwrap();
    let content = common::data("golden_gate.jpg");
    let sets = vec![
        "input.size=128".to_string(),
        "optimizer.first_frame_iterations=30".to_string(),
    ];
    let whole_cfg = job(&sets);
    let limit = tight_limit(&whole_cfg, 128, 96, false);
    let tiled_cfg = job(&[sets, vec![format!("run.memory_limit={limit}")]].concat());
    let paint = |cfg: &JobConfig, name: &str| {
        let out = dir.path().join(name);
        let s = vstyle::job::pipeline::still::stylize_image(cfg, &content, &out, |_| {
            ControlFlow::Continue(())
        })
        .unwrap();
        (s, out)
    };
    let (whole, whole_out) = paint(&whole_cfg, "whole.png");
    let (tiled, tiled_out) = paint(&tiled_cfg, "tiled.png");
    assert_eq!((whole.tiles, whole.seam_ratio), (None, None));
    let grid = tiled.tiles.expect("over the limit: tiles");
    assert_eq!((grid.cols, grid.rows), (2, 2), "{grid:?}");
    let reported = tiled.seam_ratio.expect("a tiled picture's seam ratio");
    let saved = saved_seam_ratio(&tiled_out, &grid);
    let control = saved_seam_ratio(&whole_out, &grid);
    let (w_style, t_style) = (
        whole_style(&whole_cfg, &whole_out),
        whole_style(&whole_cfg, &tiled_out),
    );
    eprintln!(
        "still 128x96 in {grid:?}: style whole {w_style:.4e}, tiled {t_style:.4e} (x{:.3}); \
         seam ratio reported {reported:.3}, saved {saved:.3}, whole picture over the same grid {control:.3}",
        t_style / w_style
    );
    assert_tiled_like_whole("still", [reported, saved], t_style, w_style);
}

#[test]
fn a_clip_over_its_budget_is_painted_in_tiles_frame_by_frame() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::data("carphone.mp4");
    let (w, h) = common::media::first_frame(&clip, Some(128)).dimensions();
    let eval_cfg = job(&["input.size=128".to_string()]);
    let limit = tight_limit(&eval_cfg, w, h, true);
    let run = |name: &str, limit: Option<u64>| {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        let job = common::TinyJob::new("carphone.mp4", 3)
            .size(128)
            .iterations(20, 8);
        let job = match limit {
            Some(l) => job.set("run.memory_limit", l),
            None => job,
        };
        common::succeeds(&common::vstyle(&["run", common::s(&job.write(&sub))]));
        let report = common::media::json(&sub.join("out.mp4.report.json"));
        (sub.join("out.mp4.work"), report)
    };
    let (whole_work, whole) = run("whole", None);
    let (tiled_work, tiled) = run("tiled", Some(limit));
    assert!(whole["memory"].get("tiles").is_none(), "{whole}");
    let grid: Grid = serde_json::from_value(tiled["memory"]["tiles"].clone()).unwrap();
    assert_eq!((grid.cols, grid.rows), (2, 2), "{grid:?}");
    assert_eq!((grid.width, grid.height), (w, h));
    let frames = tiled["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 3);
    for (i, f) in frames.iter().enumerate() {
        let frame = format!("frame_{i:06}.png");
        let reported = f["seam_ratio"]
            .as_f64()
            .expect("a tiled frame's seam ratio");
        let saved = saved_seam_ratio(&tiled_work.join(&frame), &grid);
        let w_style = whole_style(&eval_cfg, &whole_work.join(&frame));
        let t_style = whole_style(&eval_cfg, &tiled_work.join(&frame));
        eprintln!(
            "clip {w}x{h} frame {i} in {grid:?}: style whole {w_style:.4e}, tiled {t_style:.4e} \
             (x{:.3}); seam ratio reported {reported:.3}, saved {saved:.3}",
            t_style / w_style
        );
        assert_tiled_like_whole(&format!("frame {i}"), [reported, saved], t_style, w_style);
    }
    assert!(whole["frames"][0].get("seam_ratio").is_none());
}

/// No tile border shows (`seam_ratios`: as reported and as saved) and the
/// tiled picture's style loss is within the tolerance of the whole one's.
fn assert_tiled_like_whole(what: &str, seam_ratios: [f64; 2], tiled: f64, whole: f64) {
    assert!(
        seam_ratios.iter().all(|&r| r < SEAM_LIMIT),
        "{what}: seam ratios {seam_ratios:?}"
    );
    assert!(
        tiled < STYLE_TOLERANCE * whole,
        "{what}: style loss tiled {tiled:.4e}, whole {whole:.4e}"
    );
}
