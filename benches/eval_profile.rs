//! Where the time of one frame's iteration goes, at one size: the network's
//! forward and backward (convolutions, rectifiers, pooling), the loss terms on
//! top of it (Gram matrices, content, TV), the L-BFGS vector work with a full
//! memory of pairs, and the per-frame conversions (frame to tensor, warp,
//! tensor to frame). Prints milliseconds and shares.
//!
//!     cargo bench --bench eval_profile -- [--size PX] [--repeats N] [--model NAME]
use std::cell::Cell;
use std::ops::ControlFlow;
use std::time::Instant;

use tch::{Kind, Tensor};
use vstyle::config::{parse_override, JobConfig};
use vstyle::imaging::{to_image, to_tensor};
use vstyle::job::Setup;
use vstyle::optimizer::{Lbfgs, LbfgsOptions, LineSearch};
use vstyle::temporal::flow::FlowField;
use vstyle::temporal::warp_to_tensor;

fn arg(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

/// Mean milliseconds of `f` over `n` runs, after one warm-up run.
fn time_ms(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() * 1e3 / n as f64
}

/// Milliseconds per L-BFGS iteration spent outside the closure, with a full
/// memory of `history` pairs, on `n` unknowns (a cheap, ill-conditioned
/// quadratic objective).
fn lbfgs_ms(n: i64, history: usize) -> f64 {
    let cpu = (Kind::Float, tch::Device::Cpu);
    let target = Tensor::rand([n], cpu);
    // Curvatures over 5 decades: far from converged after 2 x history iterations.
    let scale = (Tensor::rand([n], cpu) * 11.5).exp();
    // Seconds spent in the closure so far, read at each iteration's end.
    let in_closure = Cell::new(0.0);
    let quadratic = |x: &Tensor| {
        let t = Instant::now();
        let d = x - &target;
        let loss = (&d * &d * &scale).sum(Kind::Float).double_value(&[]) / 2.0;
        let grad = &d * &scale;
        in_closure.set(in_closure.get() + t.elapsed().as_secs_f64());
        (loss, grad)
    };
    let mut lbfgs = Lbfgs::new(LbfgsOptions {
        max_iter: 2 * history,
        history_size: history,
        line_search: LineSearch::StrongWolfe,
        tolerance_grad: 0.0,
        tolerance_change: 0.0,
        ..LbfgsOptions::default()
    });
    let mut x = Tensor::zeros([n], cpu);
    let mut last = (Instant::now(), 0.0);
    let mut outside = Vec::new();
    let outcome = lbfgs.minimize(&mut x, quadratic, |info| {
        let (wall, closure) = (last.0.elapsed().as_secs_f64(), in_closure.get() - last.1);
        if info.iteration > history {
            outside.push(wall - closure);
        }
        last = (Instant::now(), in_closure.get());
        ControlFlow::Continue(())
    });
    assert!(
        !outside.is_empty(),
        "the quadratic converged before the memory was full: {outcome:?}"
    );
    outside.iter().sum::<f64>() * 1e3 / outside.len() as f64
}

fn main() {
    let size: u32 = arg("--size", "256").parse().expect("--size PX");
    let n: usize = arg("--repeats", "10").parse().expect("--repeats N");
    let model = arg("--model", "vgg19");
    let root = env!("CARGO_MANIFEST_DIR");
    let sets = [
        format!("style.images=[\"{root}/tests/data/starry_night.jpg\"]"),
        format!("model.name=\"{model}\""),
        "run.device=\"cpu\"".to_string(),
    ];
    let o: Vec<_> = sets.iter().map(|s| parse_override(s).unwrap()).collect();
    let cfg = JobConfig::from_toml_str("", "bench", &o).unwrap();
    let setup = Setup::new(&cfg).expect("set-up (run scripts/setup.sh)");
    let frame = image::open(format!("{root}/tests/data/carphone_040.png"))
        .unwrap()
        .to_rgb8();
    let (w, h) = vstyle::imaging::fit_longest(frame.width(), frame.height(), size);
    let frame = image::imageops::resize(&frame, w, h, image::imageops::FilterType::Triangle);
    let stylizer = setup.stylizer(&cfg, "bench", w, h).unwrap();
    let content = to_tensor(&frame, setup.device);
    let objective = stylizer.objective(&content);
    let x = content.detach().set_requires_grad(true);
    let wanted = stylizer.wanted().to_vec();

    let network = time_ms(n, || {
        let feats = setup.backbone.features(&stylizer.to_pixels(&x), &wanted);
        let sum = feats
            .iter()
            .fold(Tensor::zeros([], (Kind::Float, setup.device)), |a, f| {
                a + f.sum(Kind::Float)
            });
        sum.backward();
        let _ = x.grad().zero_();
    });
    // The loss terms alone: on the network's outputs, cut from the network.
    let px = stylizer.to_pixels(&x).detach();
    let outputs: Vec<Tensor> = tch::no_grad(|| setup.backbone.features(&px, &wanted));
    let losses = time_ms(n, || {
        let feats: Vec<Tensor> = outputs
            .iter()
            .map(|f| f.detach().set_requires_grad(true))
            .collect();
        let (total, _) = objective.eval(&px, &feats);
        total.backward();
    });
    let lbfgs = lbfgs_ms(3 * i64::from(w) * i64::from(h), cfg.optimizer.history_size);
    let flow = FlowField::from_fn(w as usize, h as usize, |x, y| {
        (0.3 + 0.01 * x as f32, -0.2 + 0.01 * y as f32)
    });
    let convert = time_ms(n, || {
        let t = to_tensor(&frame, setup.device);
        let warped = warp_to_tensor(&frame, &flow, setup.device);
        let _ = to_image(&(t + warped - 0.5).clamp(0.0, 1.0));
    });
    let iteration = network + losses + lbfgs;
    println!(
        "{model} at {w}x{h} on the CPU ({} threads), mean of {n} runs:",
        tch::get_num_threads()
    );
    println!("{:<44} {:>9} {:>8}", "part", "ms", "share");
    let row =
        |name: &str, ms: f64, of: f64| println!("{name:<44} {ms:9.1} {:7.1}%", 100.0 * ms / of);
    row("network forward + backward", network, iteration);
    row(
        "loss terms (Gram, content, TV) + backward",
        losses,
        iteration,
    );
    row("L-BFGS vector work, full memory", lbfgs, iteration);
    row(
        "one iteration (1 evaluation): the sum",
        iteration,
        iteration,
    );
    row("per frame: to tensor, warp, to image", convert, iteration);
}
