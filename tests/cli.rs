//! The command line: bad input gets one line naming the file or key, exit
//! code 2, and nothing written.
mod common;

use std::path::Path;
use std::process::Command;

fn vstyle(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(common::bin()).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `vstyle COMMAND...` in starry_night's style at 40 px on the CPU, into `out`.
fn small_run(command: &[&str], out: &Path, extra: &[&str]) -> (i32, String, String) {
    let style = p(&common::data("starry_night.jpg"));
    let out = p(out);
    let common = ["-s", &style, "-o", &out, "--size", "40", "--device", "cpu"];
    vstyle(&[command, &common[..], extra].concat())
}

/// Runs a failing command: exit 2, one `error:` line containing every needle.
fn fails(args: &[&str], needles: &[&str]) {
    let (code, _, err) = vstyle(args);
    assert_eq!(code, 2, "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "{args:?}: `{n}` not in {err}");
    }
}

#[test]
fn image_command_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.png");
    let outs = p(&out);
    let content = p(&common::data("golden_gate.jpg"));
    let style = p(&common::data("starry_night.jpg"));
    let small = ["--size", "32", "--iterations", "2", "--device", "cpu"];
    let run = |extra: &[&str], needles: &[&str]| {
        let mut a = vec!["image"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&small);
        fails(&a, needles);
        assert!(!out.exists(), "{extra:?} left an output");
    };
    run(
        &["-c", "nope.jpg", "-s", &style, "-o", &outs],
        &["nope.jpg", "not found"],
    );
    run(
        &["-c", &content, "-s", "missing_style.jpg", "-o", &outs],
        &["missing_style.jpg"],
    );
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, "not an image").unwrap();
    run(
        &["-c", &p(&bad), "-s", &style, "-o", &outs],
        &["bad.jpg", "not a readable image"],
    );
    run(
        &[
            "-c",
            &content,
            "-s",
            &style,
            "-o",
            &outs,
            "--style-layers",
            "relu1_1,relu9_9",
        ],
        &["relu9_9", "unknown layer"],
    );
    let v16 = p(&common::default_weights("vgg16"));
    run(
        &[
            "-c",
            &content,
            "-s",
            &style,
            "-o",
            &outs,
            "--model",
            "vgg19",
            "--weights",
            &v16,
        ],
        &["vgg16.safetensors", "holds vgg16 weights"],
    );
    let under_file = format!("{content}/x.png");
    run(
        &["-c", &content, "-s", &style, "-o", &under_file],
        &["x.png", "cannot create directory"],
    );
    run(
        &[
            "-c",
            &content,
            "-s",
            &style,
            "-o",
            &outs,
            "--style-scale",
            "0.2",
        ],
        &["style image 1", "relu5_1", "16 px"],
    );
    run(
        &[
            "-c",
            &content,
            "-s",
            &style,
            "-o",
            &outs,
            "--style-weight",
            "-3",
        ],
        &["loss.style_weight", ">= 0"],
    );
    run(
        &[
            "-c",
            &content,
            "-s",
            &style,
            "-o",
            &outs,
            "--style-weights",
            "1,2",
        ],
        &["style.blend_weights"],
    );
    if !tch::Cuda::is_available() {
        let mut a = vec![
            "image", "-c", &content, "-s", &style, "-o", &outs, "--size", "32", "--device",
            "cuda:0",
        ];
        a.extend_from_slice(&["--iterations", "2"]);
        fails(&a, &["cuda:0", "CUDA is not available"]);
    }
    fails(
        &[
            "image",
            "-c",
            &content,
            "-s",
            &style,
            "-o",
            &outs,
            "--iterations",
            "0",
        ],
        &["optimizer.first_frame_iterations"],
    );
}

#[test]
fn job_file_errors_name_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = p(&dir.path().join("o.png"));
    let content = p(&common::data("golden_gate.jpg"));
    let cfg = dir.path().join("job.toml");
    std::fs::write(
        &cfg,
        "[style]\nimages = [\"x.jpg\"]\n[loss]\nstyle_wieght = 3\n",
    )
    .unwrap();
    fails(
        &["image", "-c", &content, "-o", &out, "--config", &p(&cfg)],
        &["job.toml:4:", "style_wieght"],
    );
    std::fs::write(&cfg, "[style\nimages = 3\n").unwrap();
    fails(
        &["image", "-c", &content, "-o", &out, "--config", &p(&cfg)],
        &["job.toml:1:"],
    );
    fails(
        &["check", &p(&dir.path().join("absent.toml"))],
        &["absent.toml"],
    );
    fails(
        &[
            "image",
            "-c",
            &content,
            "-o",
            &out,
            "--set",
            "optimizer.nonsense=1",
        ],
        &["nonsense"],
    );
}

#[test]
fn image_command_writes_the_picture_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.png");
    let content = p(&common::data("golden_gate.jpg"));
    let (code, stdout, err) = small_run(
        &["image", "-c", &content],
        &out,
        &["--iterations", "3", "--print-every", "1"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("3 iterations"), "{stdout}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("iter")).count(),
        3,
        "{err}"
    );
    let img = image::open(&out).unwrap();
    assert_eq!((img.width(), img.height()), (40, 30));
}

#[test]
fn a_video_in_a_log_prints_its_iterations_every_print_every() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.mp4");
    let clip = p(&common::data("carphone.mp4"));
    let (code, _, err) = small_run(
        &["video", &clip],
        &out,
        &[
            "--max-frames",
            "2",
            "--first-iterations",
            "4",
            "--iterations",
            "3",
            "--print-every",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let lines: Vec<_> = err.lines().filter(|l| l.contains(" iter ")).collect();
    // Frame 0: iterations 2 and 4; frame 1: iteration 2 (of at most 3).
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].starts_with("frame     0  iter    2"), "{err}");
    assert!(lines[2].starts_with("frame     1  iter    2"), "{err}");
}

#[test]
fn running_out_of_memory_is_one_line_with_a_hint() {
    // A 10 GB address-space limit: libtorch's allocation for a 4000 px
    // picture fails as it would on a full machine or GPU.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.png");
    let script = format!(
        "ulimit -v 10000000; exec '{}' image -c '{}' -s '{}' -o '{}' --size 4000 --iterations 1 --device cpu -q",
        p(&common::bin()),
        p(&common::data("golden_gate.jpg")),
        p(&common::data("starry_night.jpg")),
        p(&out)
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("golden_gate.jpg"),
        "{err}"
    );
    assert!(lines[0].contains("can't allocate memory"), "{err}");
    assert!(lines[0].contains("smaller input.size"), "{err}");
    assert!(!out.exists());
}
