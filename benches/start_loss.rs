//! What a warm start keeps of the frame it comes from. Stylizes carphone's
//! frame 0 (100 iterations from the content frame), then prints the style
//! loss of that result as the optimiser reported it, once clamped and
//! rounded to 8 bits (the saved frame), shifted by whole and sub-pixel
//! amounts and warped along the flow into frame 1 (frame 1's objective),
//! with the Lanczos kernel warped starts use and the bicubic one before
//! it. A loss far above the reported one is style the next frame has to
//! paint again.
//!
//!     cargo bench --bench start_loss -- [--size PX] [--set KEY=VALUE]...
use std::ops::ControlFlow;

use tch::Tensor;
use vstyle::config::{parse_override, JobConfig};
use vstyle::imaging::{rgb_f32_to_tensor, to_image, to_tensor};
use vstyle::job::{schedule, Setup};
use vstyle::losses::SumLoss;
use vstyle::temporal::flow::{warp_bicubic, FlowField};
use vstyle::temporal::{rgb_to_f32, warp_to_tensor, FlowTracker, TemporalPlan};
use vstyle::video::{FrameSource, SourceOptions};

/// `--size PX` and every `--set KEY=VALUE`.
fn args() -> (u32, Vec<String>) {
    let args: Vec<String> = std::env::args().collect();
    let mut size = 128;
    let mut sets = Vec::new();
    for pair in args.windows(2) {
        match pair[0].as_str() {
            "--size" => size = pair[1].parse().expect("--size PX"),
            "--set" => sets.push(pair[1].clone()),
            _ => {}
        }
    }
    (size, sets)
}

fn shifted(img: &image::RgbImage, dx: f32, dy: f32) -> FlowField {
    FlowField::from_fn(img.width() as usize, img.height() as usize, |_, _| (dx, dy))
}

fn main() {
    let (size, extra) = args();
    let root = env!("CARGO_MANIFEST_DIR");
    let mut sets = vec![
        format!("style.images=[\"{root}/tests/data/starry_night.jpg\"]"),
        "optimizer.first_frame_iterations=100".to_string(),
        "optimizer.stop_tolerance=0".to_string(),
    ];
    sets.extend(extra);
    let o: Vec<_> = sets.iter().map(|s| parse_override(s).unwrap()).collect();
    let cfg = JobConfig::from_toml_str("", "bench", &o).unwrap();
    let setup = Setup::new(&cfg).expect("set-up (run scripts/setup.sh)");
    let clip = format!("{root}/tests/data/carphone.mp4");
    let options = SourceOptions {
        size: Some(size),
        max_frames: Some(2),
        ..SourceOptions::full_size()
    };
    let source = FrameSource::open(clip.as_ref(), &options).unwrap();
    let (w, h) = (source.info().width, source.info().height);
    let frames: Vec<_> = source.map(|f| f.unwrap().image).collect();
    let stylizer = setup.stylizer(&cfg, "bench", w, h).unwrap();
    let objective = |i: usize| stylizer.objective(&to_tensor(&frames[i], setup.device));
    let (first, second) = (objective(0), objective(1));
    println!(
        "carphone frame 0 at {w}x{h}, {:?}, pooling {:?}, range_weight {}",
        setup.device,
        cfg.model.pooling(),
        cfg.loss.range_weight
    );
    let content = to_tensor(&frames[0], setup.device);
    let result = stylizer.run(&first, &content, &schedule(&cfg, true), |_| {
        ControlFlow::Continue(())
    });
    let reported = result.losses.style;
    let style = |objective: &SumLoss, t: &Tensor| stylizer.evaluate(objective, t).style / reported;
    println!(
        "{:34} style {reported:.4e}  x1.00",
        "reported by the optimiser"
    );
    let saved = to_image(&result.image);
    let kept = style(&first, &to_tensor(&saved, setup.device));
    println!("{:34} x{kept:.2}", "saved (clamped, 8-bit)");
    // Each warp of the saved frame with the kernel a warped start uses
    // (Lanczos) and with the bicubic one it replaced.
    let line = |name: &str, objective: &SumLoss, flow: &FlowField| {
        let bicubic = warp_bicubic(&rgb_to_f32(&saved), 3, flow);
        let bicubic = style(objective, &rgb_f32_to_tensor(&bicubic, w, h, setup.device));
        let lanczos = style(objective, &warp_to_tensor(&saved, flow, setup.device));
        println!("{name:34} x{lanczos:.2} (bicubic x{bicubic:.2})");
    };
    for (dx, dy) in [(1.0, 0.0), (0.5, 0.0), (0.25, 0.25), (0.5, 0.5)] {
        line(
            &format!("shifted by ({dx}, {dy}) px"),
            &first,
            &shifted(&saved, dx, dy),
        );
    }
    let mut tracker = FlowTracker::new(TemporalPlan::of(&cfg));
    tracker.push(&frames[0]);
    let pairs = tracker.push(&frames[1]);
    line(
        "warped into frame 1 (its objective)",
        &second,
        &pairs[0].flow,
    );
}
