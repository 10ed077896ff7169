//! Style transfer on real pictures at small size: the style loss must fall by
//! a large factor while the picture keeps the content's layout.
mod common;

use std::ops::ControlFlow;

use tch::{Device, Kind, Tensor};
use vstyle::config::{JobConfig, ModelName};
use vstyle::imaging::{resize_longest, to_tensor};
use vstyle::video::load_image as read_image;

fn job(sets: &[&str]) -> JobConfig {
    let style = common::data("starry_night.jpg").display().to_string();
    let mut o = vec![
        format!("style.images=[\"{style}\"]"),
        "run.device=\"cpu\"".to_string(),
    ];
    o.extend(sets.iter().map(|s| s.to_string()));
    common::job::config(&o)
}

/// Pearson correlation of two blurred luminance maps: the layout of a picture.
fn layout_correlation(a: &Tensor, b: &Tensor) -> f64 {
    let lum = |t: &Tensor| {
        let y = t.mean_dim([1i64].as_slice(), true, Kind::Float);
        let y = y
            .avg_pool2d([4, 4], [4, 4], [0, 0], false, true, None::<i64>)
            .flatten(0, -1);
        &y - y.mean(Kind::Float)
    };
    let (x, y) = (lum(a), lum(b));
    let num = (&x * &y).sum(Kind::Float).double_value(&[]);
    let den = (x.square().sum(Kind::Float).double_value(&[])
        * y.square().sum(Kind::Float).double_value(&[]))
    .sqrt();
    num / den
}

/// golden_gate.jpg painted at 64 px with 40 iterations, and where it lies.
struct Painted {
    _dir: tempfile::TempDir,
    out: std::path::PathBuf,
    content_path: std::path::PathBuf,
    cfg: JobConfig,
    summary: vstyle::job::pipeline::still::ImageSummary,
}

fn paint(sets: &[&str], mut on_iter: impl FnMut(&vstyle::stylize::IterateRecord)) -> Painted {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let content_path = common::data("golden_gate.jpg");
    let mut all = vec!["input.size=64", "optimizer.first_frame_iterations=40"];
    all.extend_from_slice(sets);
    let cfg = job(&all);
    let summary = vstyle::job::pipeline::still::stylize_image(&cfg, &content_path, &out, |r| {
        on_iter(r);
        ControlFlow::Continue(())
    })
    .unwrap();
    Painted {
        _dir: dir,
        out,
        content_path,
        cfg,
        summary,
    }
}

/// Paints golden_gate.jpg at 64 px with 40 iterations and checks that the
/// style loss falls by a large factor while the photo's layout survives.
fn paints_the_style_and_keeps_the_layout(
    sets: &[&str],
) -> vstyle::job::pipeline::still::ImageSummary {
    let mut seen = Vec::new();
    let p = paint(sets, |r| seen.push(r.losses.total));
    let (s, out, content_path) = (p.summary, p.out, p.content_path);
    assert_eq!((s.width, s.height), (64, 48));
    assert_eq!(s.iterations, 40);
    assert_eq!(seen.len(), 40, "one record per iteration");
    // Thresholds: from the content image the style term starts ~50-100x
    // (VGG-19) or ~46x (SqueezeNet) above where 40 iterations take it
    // (measured); 10x leaves room for other BLAS builds.
    assert!(
        s.last.style * 10.0 < s.initial.style,
        "style loss {:.3e} -> {:.3e}",
        s.initial.style,
        s.last.style
    );
    assert!(s.last.total < s.initial.total);

    let content = to_tensor(
        &resize_longest(&read_image(&content_path).unwrap(), 64),
        Device::Cpu,
    );
    let output = to_tensor(&read_image(&out).unwrap(), Device::Cpu);
    let style = to_tensor(
        &image::imageops::resize(
            &read_image(&common::data("starry_night.jpg")).unwrap(),
            64,
            48,
            image::imageops::FilterType::Triangle,
        ),
        Device::Cpu,
    );
    // The pixels changed substantially (texture painted over the photo) ...
    let changed = (&output - &content)
        .abs()
        .mean(Kind::Float)
        .double_value(&[]);
    assert!(changed > 0.05, "mean abs change {changed}");
    // ... but the layout is the content's, not the painting's.
    let keep = layout_correlation(&output, &content);
    let other = layout_correlation(&output, &style);
    assert!(
        keep > 0.6 && keep > other + 0.3,
        "layout correlation with content {keep}, with style {other}"
    );
    s
}

#[test]
fn style_loss_falls_by_a_large_factor_and_the_layout_survives() {
    paints_the_style_and_keeps_the_layout(&[]);
}

#[test]
fn squeezenet_with_its_default_loss_weights_stylizes() {
    // Only the model is named: the shipped weights and the model's own loss
    // weights (no --style-weight) must do the job.
    let cfg = job(&["model.name=\"squeezenet\""]);
    let w = ModelName::Squeezenet.default_loss_weights(cfg.model.pooling());
    assert_eq!(
        (
            cfg.loss.content_weight,
            cfg.loss.style_weight,
            cfg.loss.tv_weight
        ),
        (w.content, w.style, w.tv)
    );
    let s = paints_the_style_and_keeps_the_layout(&["model.name=\"squeezenet\""]);
    // The model's weights matter: here the style loss falls ~46x with them
    // and only ~13x with VGG's style weight (100), measured; 20x tells the
    // two apart with room for other BLAS builds.
    assert!(
        s.last.style * 20.0 < s.initial.style,
        "style loss {:.3e} -> {:.3e}",
        s.initial.style,
        s.last.style
    );
}

#[test]
fn original_colors_and_blends_and_noise_init_run() {
    let dir = tempfile::tempdir().unwrap();
    let content_path = common::data("golden_gate.jpg");
    let scream = common::data("the_scream.jpg").display().to_string();
    let starry = common::data("starry_night.jpg").display().to_string();
    let blend = format!("style.images=[\"{starry}\", \"{scream}\"]");
    let out_a = dir.path().join("a.png");
    let cfg = job(&[
        &blend,
        "style.blend_weights=[0.7, 0.3]",
        "input.size=48",
        "optimizer.first_frame_iterations=8",
        "style.original_colors=true",
        "run.init=\"noise\"",
        "style.scale=1.5",
    ]);
    let s = vstyle::job::pipeline::still::stylize_image(&cfg, &content_path, &out_a, |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(s.last.total < s.initial.total);
    // With original colours the output's chroma follows the content.
    let content = to_tensor(
        &resize_longest(&read_image(&content_path).unwrap(), 48),
        Device::Cpu,
    );
    let output = to_tensor(&read_image(&out_a).unwrap(), Device::Cpu);
    let chroma = |t: &Tensor| {
        let m = t
            .mean_dim([2i64, 3].as_slice(), false, Kind::Float)
            .flatten(0, -1);
        let v: Vec<f32> = m.try_into().unwrap();
        (v[2] - v[0]) as f64
    };
    assert!(
        (chroma(&content) - chroma(&output)).abs() < 0.1,
        "{} vs {}",
        chroma(&content),
        chroma(&output)
    );
}

#[test]
fn coarse_to_fine_paints_small_sizes_first_and_ends_lower() {
    // golden_gate at 96 px: 48 and 68 px first (20 iterations each), then 20 at 96 px,
    // against the same 20 at 96 px alone.
    let dir = tempfile::tempdir().unwrap();
    let content = common::data("golden_gate.jpg");
    let run = |sets: &[&str]| {
        let mut all = vec!["model.name=\"squeezenet\"", "input.size=96"];
        all.push("optimizer.first_frame_iterations=20");
        all.extend_from_slice(sets);
        let mut records = 0;
        let out = dir.path().join("out.png");
        let s = vstyle::job::pipeline::still::stylize_image(&job(&all), &content, &out, |_| {
            records += 1;
            ControlFlow::Continue(())
        })
        .unwrap();
        (s, records)
    };
    let (single, _) = run(&["optimizer.min_size=0"]);
    let (coarse, records) = run(&["optimizer.min_size=48", "optimizer.scale_iterations=20"]);
    assert_eq!((coarse.width, coarse.height), (96, 72));
    assert_eq!(coarse.iterations, 60, "20 at each of 48, 68 and 96 px");
    assert_eq!(records, 60, "one record per iteration, at every size");
    assert_eq!(single.iterations, 20);
    assert!(
        coarse.last.total < single.last.total,
        "coarse to fine {:.4e}, one size {:.4e}",
        coarse.last.total,
        single.last.total
    );
}

/// The style loss of the saved picture (8-bit, clamped to what a picture can
/// show), moved by each of `shifts` px to the right (wrapping round), against
/// the one the optimiser reported, as ratios. One painting serves every shift.
fn saved_over_reported<const N: usize>(sets: &[&str], shifts: [i64; N]) -> [f64; N] {
    let p = paint(sets, |_| {});
    let (cfg, s) = (&p.cfg, &p.summary);
    let setup = vstyle::job::Setup::new(cfg).unwrap();
    let stylizer = setup.stylizer(cfg, "test", s.width, s.height).unwrap();
    let content = resize_longest(&read_image(&p.content_path).unwrap(), 64);
    let objective = stylizer.objective(&to_tensor(&content, Device::Cpu));
    let saved = to_tensor(&read_image(&p.out).unwrap(), Device::Cpu);
    let style = |shift: i64| {
        stylizer
            .evaluate(&objective, &saved.roll([shift], [3]))
            .style
    };
    shifts.map(|d| style(d) / s.last.style)
}

#[test]
fn the_saved_picture_has_the_style_the_report_claims_and_average_pooling_keeps_it_moved() {
    // With max pooling the optimiser buys style with pixels outside [0, 1]:
    // without the range term the saved (clamped, 8-bit) picture's style
    // loss is 1.66x the reported one here (3.6x on a 128 px video frame
    // after 100 iterations). With it the optimum stays in range (0.2%
    // measured). The default, average pooling, keeps it too.
    let max = "model.pooling=\"max\"";
    let lost = saved_over_reported(&[max, "loss.range_weight=0"], [0])[0];
    assert!(
        lost > 1.2,
        "max pooling without the range term: saved / reported {lost}"
    );
    let [max_kept, max_moved] = saved_over_reported(&[max], [0, 1]);
    let [avg_kept, avg_moved] = saved_over_reported(&[], [0, 1]);
    for (pooling, kept) in [("max", max_kept), ("average", avg_kept)] {
        assert!(
            (kept - 1.0).abs() < 0.05,
            "{pooling} pooling: saved / reported style {kept}"
        );
    }
    // A warm start is the frame before, moved along the flow. Through max
    // pooling the optimum locks its texture onto the pooling grid, so a
    // one-pixel move costs much of its style; through average pooling (the
    // default) little. Here x1.12 against x1.89 (the wrapped column adds
    // some of it); carphone at 128 px, without wrapping: x1.03 against x1.61.
    assert!(avg_moved < 1.3, "average pooling, moved 1 px: x{avg_moved}");
    assert!(
        max_moved > 1.4 * avg_moved,
        "max pooling x{max_moved}, average x{avg_moved}"
    );
}
