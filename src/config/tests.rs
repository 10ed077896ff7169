use super::*;
use std::path::Path;

fn minimal() -> String {
    "[style]\nimages = [\"s.jpg\"]\n".to_string()
}

#[test]
fn defaults_fill_missing_sections() {
    let c = JobConfig::from_toml_str(&minimal(), "job.toml", &[]).unwrap();
    c.validate("job.toml").unwrap();
    assert_eq!(c.model.name, ModelName::Vgg19);
    assert_eq!(c.model.content_layers(), vec!["relu4_2"]);
    assert_eq!(c.model.style_layers().len(), 5);
    assert_eq!(c.blend_weights(), vec![1.0]);
}

#[test]
fn a_frame_with_new_pixels_gets_more_iterations() {
    let mut o = OptimizerConfig::default();
    assert_eq!(o.frame_budget(Some(0.3)), o.frame_iterations);
    o.new_pixel_iterations = 40;
    assert_eq!(o.frame_budget(None), o.frame_iterations);
    assert_eq!(o.frame_budget(Some(0.0)), o.frame_iterations);
    assert_eq!(o.frame_budget(Some(0.3)), o.frame_iterations + 12);
}

#[test]
fn vgg_coarse_sizes_get_two_thirds_of_the_full_sizes_iterations_unless_given() {
    use ModelName::*;
    let mut o = OptimizerConfig::default();
    assert_eq!(o.scale_iterations(Vgg19), 40);
    assert_eq!(o.scale_iterations(Vgg16), 40);
    assert_eq!(o.scale_iterations(Squeezenet), 60);
    o.first_frame_iterations = 1;
    assert_eq!(o.scale_iterations(Vgg19), 1);
    o.first_frame_iterations = 500;
    assert_eq!(o.scale_iterations(Vgg19), 334);
    o.scale_iterations = Some(200);
    assert_eq!(o.scale_iterations(Vgg19), 200);
    assert_eq!(o.scale_iterations(Squeezenet), 200);
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = format!(
        "{}\n[loss]\ncontent_weight = 1\nstlye_weight = 3\n",
        minimal()
    );
    let e = JobConfig::from_toml_str(&text, "job.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("job.toml:6:"), "{e}");
    assert!(e.contains("stlye_weight"), "{e}");
    assert!(!e.contains('\n'));
}

#[test]
fn bad_syntax_names_line() {
    let e = JobConfig::from_toml_str("[style]\nimages = [\"a.jpg\"\n", "j.toml", &[])
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("j.toml:"), "{e}");
}

#[test]
fn impossible_values_are_rejected_with_key() {
    for (set, key) in [
        ("loss.style_weight=-1", "loss.style_weight"),
        ("optimizer.frame_iterations=0", "optimizer.frame_iterations"),
        ("input.step=0", "input.step"),
        ("run.device=\"tpu\"", "run.device"),
        ("style.scale=0", "style.scale"),
        ("run.init=\"prev\"", "run.init"),
    ] {
        let o = parse_override(set).unwrap();
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &[o]).unwrap();
        let e = c.validate("job.toml").unwrap_err().to_string();
        assert!(e.starts_with(&format!("job.toml: {key}:")), "{set}: {e}");
    }
}

#[test]
fn values_beyond_the_bounds_are_rejected_with_file_and_key() {
    for (set, key) in [
        ("input.step=4000000000", "input.step"),
        ("input.step=10001", "input.step"),
        ("input.size=4097", "input.size"),
        ("input.size=15", "input.size"),
        (
            "optimizer.first_frame_iterations=100001",
            "optimizer.first_frame_iterations",
        ),
        (
            "optimizer.frame_iterations=9223372036854775807",
            "optimizer.frame_iterations",
        ),
        (
            "optimizer.max_evaluations=1000001",
            "optimizer.max_evaluations",
        ),
        ("optimizer.history_size=1001", "optimizer.history_size"),
        ("optimizer.stop_window=10001", "optimizer.stop_window"),
        ("loss.long_term=[2, 101]", "loss.long_term"),
        (
            "loss.long_term=[2, 3, 4, 5, 6, 7, 8, 9, 10]",
            "loss.long_term",
        ),
        ("loss.long_term=[1]", "loss.long_term"),
        ("style.blend_weights=[1e308, 1e308]", "style.blend_weights"),
        ("output.frames=\"f_%070000d.png\"", "output.frames"),
        ("output.frames=\"f_%021d.png\"", "output.frames"),
        ("output.frames=\"f_%s.png\"", "output.frames"),
        ("output.frames=\"f_%d_%d.png\"", "output.frames"),
        ("output.frames=\"\"", "output.frames"),
        ("shards.cut_search=0.5", "shards.cut_search"),
        ("shards.cut_search=-0.1", "shards.cut_search"),
    ] {
        let mut o = vec![parse_override(set).unwrap()];
        if key == "style.blend_weights" {
            o.push(parse_override("style.images=[\"a.jpg\", \"b.jpg\"]").unwrap());
        }
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
        let e = c.validate("job.toml").unwrap_err().to_string();
        assert!(e.starts_with(&format!("job.toml: {key}:")), "{set}: {e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // The style images may not grow past the bound either.
    let o = [
        parse_override("input.size=1024").unwrap(),
        parse_override("style.scale=4.5").unwrap(),
    ];
    let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
    let e = c.validate("job.toml").unwrap_err().to_string();
    assert!(e.starts_with("job.toml: style.scale:"), "{e}");
    assert!(e.contains("4608 px"), "{e}");
}

#[test]
fn values_at_the_bounds_are_accepted() {
    let o: Vec<_> = [
        "input.step=10000",
        "input.size=4096",
        "input.start=4000000000",
        "optimizer.first_frame_iterations=100000",
        "optimizer.frame_iterations=100000",
        "optimizer.max_evaluations=1000000",
        "optimizer.history_size=1000",
        "optimizer.stop_window=10000",
        "loss.long_term=[2, 3, 4, 5, 6, 7, 8, 100]",
        "output.frames=\"out/f_%020d.png\"",
        "shards.cut_search=0.4",
    ]
    .iter()
    .map(|s| parse_override(s).unwrap())
    .collect();
    let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
    c.validate("job.toml").unwrap();
    for frames in ["f_%d.png", "f_%5d.png", "frames", "out/f_%05d.jpg"] {
        let o = [parse_override(&format!("output.frames=\"{frames}\"")).unwrap()];
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
        c.validate("job.toml").unwrap();
    }
}

#[test]
fn overrides_set_nested_keys() {
    let o = [
        parse_override("optimizer.frame_iterations=50").unwrap(),
        parse_override("run.device=cpu").unwrap(),
        parse_override("style.blend_weights=[3, 1]").unwrap(),
        parse_override("style.images=[\"a.jpg\", \"b.jpg\"]").unwrap(),
    ];
    let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
    c.validate("job.toml").unwrap();
    assert_eq!(c.optimizer.frame_iterations, 50);
    assert_eq!(c.run.device, "cpu");
    assert_eq!(c.blend_weights(), vec![0.75, 0.25]);
    let bad = parse_override("optimizer.frame_itrations=5").unwrap();
    let e = JobConfig::from_toml_str(&minimal(), "job.toml", &[bad])
        .unwrap_err()
        .to_string();
    assert!(e.contains("frame_itrations"), "{e}");
    assert!(parse_override("novalue").is_err());
}

#[test]
fn file_paths_are_relative_to_the_file_and_set_paths_to_the_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        "[input]\npath = \"clip.mp4\"\n[style]\nimages = [\"s.jpg\"]\n",
    )
    .unwrap();
    let o = [parse_override("output.path=out.mp4").unwrap()];
    let c = JobConfig::load(&job, &o).unwrap();
    assert_eq!(c.input.path, dir.path().join("clip.mp4"));
    assert_eq!(c.style.images[0], dir.path().join("s.jpg"));
    assert_eq!(c.output.path.as_deref(), Some(Path::new("out.mp4")));
}

#[test]
fn loss_weights_follow_the_model_unless_given() {
    use PoolingKind::{Avg, Max};
    let vgg = ModelName::Vgg19.default_loss_weights(Avg);
    let vgg_max = ModelName::Vgg19.default_loss_weights(Max);
    let sq = ModelName::Squeezenet.default_loss_weights(Max);
    assert_eq!((vgg.content, vgg.style, vgg.tv), (50.0, 1000.0, 1e-3));
    assert_eq!((vgg_max.content, vgg_max.style), (5.0, 100.0));
    assert_eq!(ModelName::Vgg16.default_loss_weights(Avg), vgg);
    assert!(sq.style > vgg_max.style, "{sq:?}");
    let loss = |c: &JobConfig| (c.loss.content_weight, c.loss.style_weight, c.loss.tv_weight);
    let sets = |s: &[&str]| -> Vec<_> { s.iter().map(|s| parse_override(s).unwrap()).collect() };

    // Nothing given: the model's pooling and defaults, whether the model
    // or the pooling come from the file or from --set.
    let c = JobConfig::from_toml_str(&minimal(), "job.toml", &[]).unwrap();
    assert_eq!(c.model.pooling(), Avg);
    assert_eq!(loss(&c), (vgg.content, vgg.style, vgg.tv));
    let c =
        JobConfig::from_toml_str(&minimal(), "job.toml", &sets(&["model.pooling=max"])).unwrap();
    assert_eq!(loss(&c), (vgg_max.content, vgg_max.style, vgg_max.tv));
    let text = format!("{}[model]\nname = \"squeezenet\"\n", minimal());
    let c = JobConfig::from_toml_str(&text, "job.toml", &[]).unwrap();
    assert_eq!(loss(&c), (sq.content, sq.style, sq.tv));
    let c = JobConfig::from_toml_str(&minimal(), "job.toml", &sets(&["model.name=squeezenet"]))
        .unwrap();
    assert_eq!(loss(&c), (sq.content, sq.style, sq.tv));
    // Other [loss] keys do not count as giving the weights.
    let c = JobConfig::from_toml_str(
        &minimal(),
        "job.toml",
        &sets(&["model.name=squeezenet", "loss.temporal_weight=7"]),
    )
    .unwrap();
    assert_eq!(loss(&c), (sq.content, sq.style, sq.tv));
    assert_eq!(c.loss.temporal_weight, 7.0);

    // An explicit value wins, in the file or from --set (even one equal
    // to VGG's default), and only that key is taken from it.
    let text = format!(
        "{}[model]\nname = \"squeezenet\"\n[loss]\nstyle_weight = 100\n",
        minimal()
    );
    let c = JobConfig::from_toml_str(&text, "job.toml", &[]).unwrap();
    assert_eq!(loss(&c), (sq.content, 100.0, sq.tv));
    let c = JobConfig::from_toml_str(
        &minimal(),
        "job.toml",
        &sets(&[
            "model.name=squeezenet",
            "loss.content_weight=2",
            "loss.tv_weight=0",
        ]),
    )
    .unwrap();
    assert_eq!(loss(&c), (2.0, sq.style, 0.0));
    let c =
        JobConfig::from_toml_str(&minimal(), "job.toml", &sets(&["loss.style_weight=3"])).unwrap();
    assert_eq!(loss(&c), (vgg.content, 3.0, vgg.tv));
}

#[test]
fn config_round_trips_through_toml() {
    let c = JobConfig::default();
    let text = toml::to_string(&c).unwrap();
    let back = JobConfig::from_toml_str(&text, "x", &[]).unwrap();
    assert_eq!(back.source, "x");
    // Where a config came from is not one of its settings.
    assert_eq!(
        JobConfig {
            source: c.source.clone(),
            ..back
        },
        c
    );
}
