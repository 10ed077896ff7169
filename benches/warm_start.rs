//! Warm start versus cold start on the shipped clip: for every frame, a cold
//! start (from the content frame) runs a fixed number of iterations; a warm
//! start (from the previous stylized frame) then runs until it reaches the
//! same loss. Prints iterations and seconds per frame for both.
//!
//!     cargo bench --bench warm_start -- [--frames N] [--size PX] [--iterations K]
use std::ops::ControlFlow;

use vstyle::config::{parse_override, JobConfig};
use vstyle::imaging::{to_image, to_tensor};
use vstyle::job::{schedule, Setup};
use vstyle::stylize::Stylizer;
use vstyle::video::{FrameSource, SourceOptions};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let frames = arg("--frames", 10);
    let size = arg("--size", 128) as u32;
    let k = arg("--iterations", 100);
    let root = env!("CARGO_MANIFEST_DIR");
    let sets = [
        format!("style.images=[\"{root}/tests/data/starry_night.jpg\"]"),
        format!("optimizer.first_frame_iterations={k}"),
        format!("optimizer.frame_iterations={}", 3 * k),
        "optimizer.stop_tolerance=0".to_string(),
    ];
    let o: Vec<_> = sets.iter().map(|s| parse_override(s).unwrap()).collect();
    let cfg = JobConfig::from_toml_str("", "bench", &o).unwrap();
    let setup = Setup::new(&cfg).expect("set-up (run scripts/setup.sh)");
    let clip = format!("{root}/tests/data/carphone.mp4");
    let source = FrameSource::open(
        clip.as_ref(),
        &SourceOptions {
            size: Some(size),
            max_frames: Some(frames),
            ..SourceOptions::full_size()
        },
    )
    .unwrap();
    let (w, h) = (source.info().width, source.info().height);
    let stylizer = Stylizer::new(
        setup.backbone.clone(),
        &cfg.model,
        &cfg.loss,
        &setup.styles,
        (1.0, w.max(h)),
        None,
    )
    .unwrap();
    println!("carphone.mp4, {frames} frames at {w}x{h}, {:?}; cold start: {k} iterations from the content frame", setup.device);
    println!(
        "{:>5} {:>12} {:>10} {:>10} {:>12} {:>10} {:>10}",
        "frame", "cold loss", "cold its", "cold s", "warm loss", "warm its", "warm s"
    );
    let cold_sched = schedule(&cfg, true);
    let warm_sched = schedule(&cfg, false);
    let mut prev = None;
    let (mut ci, mut cs, mut wi, mut ws, mut n) = (0usize, 0f64, 0usize, 0f64, 0usize);
    for f in source {
        let f = f.unwrap();
        let content = to_tensor(&f.image, setup.device);
        let objective = stylizer.objective(&content);
        let cold = stylizer.run(&objective, &content, &cold_sched, |_| {
            ControlFlow::Continue(())
        });
        let Some(p) = prev.take() else {
            println!(
                "{:>5} {:>12.4e} {:>10} {:>10.2} {:>12} {:>10} {:>10}",
                f.index, cold.losses.total, cold.iterations, cold.seconds, "-", "-", "-"
            );
            prev = Some(to_image(&cold.image));
            continue;
        };
        let target = cold.losses.total;
        let warm = stylizer.run(&objective, &to_tensor(&p, setup.device), &warm_sched, |r| {
            if r.losses.total <= target {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        println!(
            "{:>5} {:>12.4e} {:>10} {:>10.2} {:>12.4e} {:>10} {:>10.2}",
            f.index,
            cold.losses.total,
            cold.iterations,
            cold.seconds,
            warm.losses.total,
            warm.iterations,
            warm.seconds
        );
        ci += cold.iterations;
        cs += cold.seconds;
        wi += warm.iterations;
        ws += warm.seconds;
        n += 1;
        prev = Some(to_image(&warm.image));
    }
    let n = n.max(1) as f64;
    println!(
        "frames 1..: cold {:.1} iterations, {:.2} s per frame; warm {:.1} iterations, {:.2} s per frame to the same loss; warm/cold iterations {:.2}",
        ci as f64 / n,
        cs / n,
        wi as f64 / n,
        ws / n,
        wi as f64 / ci.max(1) as f64
    );
}
