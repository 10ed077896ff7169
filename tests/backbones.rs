//! Networks load from vstyle weights files (made here in every shape of
//! mistake, and by the importer from real files) and extract named features.
mod common;

use std::collections::HashMap;
use std::path::Path;

use tch::{Device, Kind, Tensor};
use vstyle::config::{ModelName, PoolingKind};
use vstyle::model::Backbone;

fn vgg_shapes(blocks: [usize; 5]) -> Vec<(String, Vec<usize>)> {
    let ch = [64, 128, 256, 512, 512];
    let mut v = Vec::new();
    let mut cin = 3;
    for (b, &n) in blocks.iter().enumerate() {
        for i in 1..=n {
            v.push((format!("conv{}_{i}.weight", b + 1), vec![ch[b], cin, 3, 3]));
            v.push((format!("conv{}_{i}.bias", b + 1), vec![ch[b]]));
            cin = ch[b];
        }
    }
    v
}

/// Writes a vstyle weights file with random tensors of the given shapes.
fn write_weights(path: &Path, arch: &str, shapes: &[(String, Vec<usize>)]) {
    let data: Vec<(String, Vec<u8>, Vec<usize>)> = shapes
        .iter()
        .map(|(n, s)| {
            let count: usize = s.iter().product();
            let t = Tensor::randn([count as i64], (Kind::Float, Device::Cpu)) * 0.05;
            let v: Vec<f32> = t.try_into().unwrap();
            let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.clone(), bytes, s.clone())
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(n, b, s)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let meta: HashMap<String, String> = [
        ("format", "vstyle-weights-1"),
        ("architecture", arch),
        ("channel_order", "bgr"),
        ("input_scale", "255"),
        ("mean", "103.939,116.779,123.68"),
        ("std", "1,1,1"),
        ("source", "test"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    safetensors::serialize_to_file(views, Some(meta), path).unwrap();
}

fn load_err(model: ModelName, path: &Path) -> String {
    match Backbone::load(model, path, PoolingKind::Max, Device::Cpu) {
        Ok(_) => panic!("{} loaded but should not", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn vgg_features_have_the_documented_shapes_and_weights_stay_frozen() {
    let dir = tempfile::tempdir().unwrap();
    for (model, arch, blocks) in [
        (ModelName::Vgg16, "vgg16", [2, 2, 3, 3, 3]),
        (ModelName::Vgg19, "vgg19", [2, 2, 4, 4, 4]),
    ] {
        let p = dir.path().join(format!("{arch}.safetensors"));
        write_weights(&p, arch, &vgg_shapes(blocks));
        for pooling in [PoolingKind::Max, PoolingKind::Avg] {
            let net = Backbone::load(model, &p, pooling, Device::Cpu).unwrap();
            let names = ["relu1_1", "pool2", "relu4_2", "relu5_1"];
            let idx: Vec<usize> = names.iter().map(|n| net.layer_index(n).unwrap()).collect();
            let x =
                Tensor::rand([1, 3, 48, 64], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            let f = net.features(&(&x * 255.0), &idx);
            assert_eq!(f[0].size(), [1, 64, 48, 64]);
            assert_eq!(f[1].size(), [1, 128, 12, 16]);
            assert_eq!(f[2].size(), [1, 512, 6, 8]);
            assert_eq!(f[3].size(), [1, 512, 3, 4]);
            // relu outputs are non-negative.
            assert!(f[0].min().double_value(&[]) >= 0.0);
            f[3].sum(Kind::Float).backward();
            assert!(x.grad().defined(), "the image gets a gradient");
        }
        let net = Backbone::load(model, &p, PoolingKind::Max, Device::Cpu).unwrap();
        let last = if model == ModelName::Vgg16 {
            "relu5_3"
        } else {
            "relu5_4"
        };
        net.layer_index(last).unwrap();
        let e = net.layer_index("relu6_1").unwrap_err().to_string();
        assert!(e.contains("relu6_1") && e.contains("relu4_2"), "{e}");
    }
}

#[test]
fn bad_weights_files_are_named_in_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = vgg_shapes([2, 2, 4, 4, 4]);

    let p = dir.path().join("v16.safetensors");
    write_weights(&p, "vgg16", &vgg_shapes([2, 2, 3, 3, 3]));
    let e = load_err(ModelName::Vgg19, &p);
    assert!(
        e.contains("v16.safetensors") && e.contains("holds vgg16 weights"),
        "{e}"
    );

    let p = dir.path().join("missing.safetensors");
    let mut shapes = good.clone();
    shapes.retain(|(n, _)| n != "conv3_4.bias");
    write_weights(&p, "vgg19", &shapes);
    let e = load_err(ModelName::Vgg19, &p);
    assert!(
        e.contains("missing.safetensors") && e.contains("conv3_4.bias") && e.contains("missing"),
        "{e}"
    );

    let p = dir.path().join("extra.safetensors");
    let mut shapes = good.clone();
    shapes.push(("conv6_1.weight".into(), vec![4, 4, 3, 3]));
    write_weights(&p, "vgg19", &shapes);
    let e = load_err(ModelName::Vgg19, &p);
    assert!(
        e.contains("extra.safetensors") && e.contains("conv6_1.weight"),
        "{e}"
    );

    let p = dir.path().join("shape.safetensors");
    let mut shapes = good.clone();
    shapes[2].1 = vec![64, 32, 3, 3];
    write_weights(&p, "vgg19", &shapes);
    let e = load_err(ModelName::Vgg19, &p);
    assert!(
        e.contains("shape.safetensors")
            && e.contains("conv1_2.weight")
            && e.contains("[64, 32, 3, 3]"),
        "{e}"
    );

    let p = dir.path().join("garbage.safetensors");
    std::fs::write(&p, b"this is not a weights file").unwrap();
    let e = load_err(ModelName::Vgg19, &p);
    assert!(
        e.contains("garbage.safetensors") && e.contains("not a safetensors file"),
        "{e}"
    );

    let e = load_err(ModelName::Vgg19, &dir.path().join("absent.safetensors"));
    assert!(
        e.contains("absent.safetensors") && e.contains("not found"),
        "{e}"
    );
    assert!(!e.contains('\n'));
}

#[test]
fn squeezenet_default_weights_are_the_shipped_file_and_extract_fire_features() {
    // scripts/setup.sh installs the repository's weights/squeezenet1_1.safetensors
    // where --model squeezenet looks for it.
    let installed = common::default_weights("squeezenet1_1");
    let cfg = vstyle::config::ModelConfig {
        name: ModelName::Squeezenet,
        ..Default::default()
    };
    assert_eq!(cfg.weights_path(), installed);
    let shipped = common::repo().join("weights/squeezenet1_1.safetensors");
    let read = |p: &Path| {
        std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup.sh)", p.display()))
    };
    let (a, b) = (read(&installed), read(&shipped));
    assert!(
        a == b,
        "{} ({} bytes) differs from {} ({} bytes): run scripts/setup.sh",
        installed.display(),
        a.len(),
        shipped.display(),
        b.len()
    );

    let net = Backbone::load(
        ModelName::Squeezenet,
        &installed,
        PoolingKind::Max,
        Device::Cpu,
    )
    .unwrap();
    let spec = net.input_spec();
    assert!(spec.bgr);
    assert_eq!(spec.scale, 255.0);
    assert!((spec.mean[0] - 104.006).abs() < 1e-6, "{:?}", spec.mean);
    let names = ["conv1", "fire2", "fire5", "fire9"];
    let idx: Vec<usize> = names.iter().map(|n| net.layer_index(n).unwrap()).collect();
    let img = vstyle::video::load_image(&common::data("golden_gate.jpg")).unwrap();
    let img = vstyle::imaging::resize_longest(&img, 128);
    let x = vstyle::imaging::to_tensor(&img, Device::Cpu) * 255.0;
    let f = net.features(&x, &idx);
    let chans: Vec<i64> = f.iter().map(|t| t.size()[1]).collect();
    assert_eq!(chans, [64, 128, 256, 512]);
    // A trained network responds to a photo: activations are finite and not all zero.
    for t in &f {
        let m = t.mean(Kind::Float).double_value(&[]);
        assert!(m.is_finite() && m > 0.0, "{m}");
    }
    let e = load_err(ModelName::Vgg19, &installed);
    assert!(e.contains("holds squeezenet1_1 weights"), "{e}");
}

#[test]
fn default_weights_are_imagenet_vgg_with_caffe_preprocessing() {
    for (model, name) in [(ModelName::Vgg16, "vgg16"), (ModelName::Vgg19, "vgg19")] {
        let net = Backbone::load(
            model,
            &common::default_weights(name),
            PoolingKind::Max,
            Device::Cpu,
        )
        .unwrap_or_else(|e| panic!("{e} (run scripts/setup.sh)"));
        let spec = net.input_spec();
        assert!(spec.bgr);
        assert_eq!(spec.scale, 255.0);
        assert!((spec.mean[0] - 103.939).abs() < 1e-6);
    }
}

/// A style image's Gram targets computed in strips (a large style image
/// within a memory budget) match the whole image's: each strip sees 96
/// rows of context on each side, and only its own rows count.
#[test]
fn style_grams_in_strips_match_the_whole_picture() {
    let img = vstyle::video::load_image(&common::data("starry_night.jpg")).unwrap();
    let img = vstyle::imaging::resize_longest(&img, 320);
    for (model, file) in [
        (ModelName::Squeezenet, "squeezenet1_1"),
        (ModelName::Vgg19, "vgg19"),
    ] {
        let cfg = vstyle::config::ModelConfig {
            name: model,
            ..Default::default()
        };
        let net = Backbone::load(
            model,
            &common::default_weights(file),
            cfg.pooling(),
            Device::Cpu,
        )
        .unwrap();
        let wanted: Vec<usize> = cfg
            .style_layers()
            .iter()
            .map(|n| net.layer_index(n).unwrap())
            .collect();
        let slots: Vec<usize> = (0..wanted.len()).collect();
        let px = vstyle::imaging::to_tensor(&img, Device::Cpu) * net.pixel_scale();
        let grams =
            |rows| tch::no_grad(|| vstyle::stylize::strip_grams(&net, &px, &wanted, &slots, rows));
        let whole = grams(None);
        // 32-row strips: the 200-row picture in 7 of them.
        let strips = grams(Some(2 * vstyle::stylize::STRIP_HALO + 32));
        for ((w, s), layer) in whole.iter().zip(&strips).zip(cfg.style_layers()) {
            let diff = (s - w).norm().double_value(&[]) / w.norm().double_value(&[]);
            assert!(
                diff < 0.02,
                "{model:?} {layer}: strips differ by {diff:.4} of the whole"
            );
        }
    }
}
