//! The command line: bad input gets one line naming the file or key, exit
//! code 2, and nothing written.
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::job;
use common::run::one_line_error;
use common::{fails, stderr, succeeds, vstyle};

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// `vstyle COMMAND...` in starry_night's style at 40 px on the CPU, into `out`.
fn small_run(command: &[&str], out: &Path, extra: &[&str]) -> Output {
    let style = p(&common::data("starry_night.jpg"));
    let out = p(out);
    let common = ["-s", &style, "-o", &out, "--size", "40", "--device", "cpu"];
    vstyle(&[command, &common[..], extra].concat())
}

/// `vstyle image` arguments: the content and style images, the output, then more.
fn image_args<'a>(out: &'a str, (c, s): (&'a str, &'a str), more: &[&'a str]) -> Vec<&'a str> {
    [&["-c", c, "-s", s, "-o", out], more].concat()
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
        fails(&[&["image"], extra, &small[..]].concat(), needles);
        assert!(!out.exists(), "{extra:?} left an output");
    };
    let good = (content.as_str(), style.as_str());
    run(
        &image_args(&outs, ("nope.jpg", &style), &[]),
        &["nope.jpg", "not found"],
    );
    run(
        &image_args(&outs, (&content, "missing_style.jpg"), &[]),
        &["missing_style.jpg"],
    );
    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, "not an image").unwrap();
    let bad = p(&bad);
    run(
        &image_args(&outs, (&bad, &style), &[]),
        &["bad.jpg", "not a readable image"],
    );
    let layers = ["--style-layers", "relu1_1,relu9_9"];
    run(
        &image_args(&outs, good, &layers),
        &["relu9_9", "unknown layer"],
    );
    let v16 = p(&common::default_weights("vgg16"));
    let wrong = ["--model", "vgg19", "--weights", &v16];
    run(
        &image_args(&outs, good, &wrong),
        &["vgg16.safetensors", "holds vgg16 weights"],
    );
    let under_file = format!("{content}/x.png");
    run(
        &["-c", &content, "-s", &style, "-o", &under_file],
        &["x.png", "cannot create directory"],
    );
    let tiny_style = ["--style-scale", "0.2"];
    run(
        &image_args(&outs, good, &tiny_style),
        &["style image 1", "relu5_1", "16 px"],
    );
    let negative = ["--style-weight", "-3"];
    run(
        &image_args(&outs, good, &negative),
        &["loss.style_weight", ">= 0"],
    );
    let blend = ["--style-weights", "1,2"];
    run(&image_args(&outs, good, &blend), &["style.blend_weights"]);
    if !tch::Cuda::is_available() {
        let gpu = [
            &["image"],
            &image_args(&outs, good, &["--device", "cuda:0"])[..],
        ]
        .concat();
        fails(&gpu, &["cuda:0", "CUDA is not available"]);
    }
    let none = [
        &["image"],
        &image_args(&outs, good, &["--iterations", "0"])[..],
    ]
    .concat();
    fails(&none, &["optimizer.first_frame_iterations"]);
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
    let o = small_run(
        &["image", "-c", &content],
        &out,
        &["--iterations", "3", "--print-every", "1"],
    );
    let (stdout, err) = (succeeds(&o), stderr(&o));
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
    let o = small_run(
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
    succeeds(&o);
    let err = stderr(&o);
    let lines: Vec<_> = err.lines().filter(|l| l.contains(" iter ")).collect();
    // Frame 0: iterations 2 and 4; frame 1: iteration 2 (of at most 3).
    assert_eq!(lines.len(), 3, "{err}");
    assert!(lines[0].starts_with("frame     0  iter    2"), "{err}");
    assert!(lines[2].starts_with("frame     1  iter    2"), "{err}");
}

#[test]
fn running_out_of_memory_is_one_line_with_a_hint() {
    // A 10 GB address-space limit: libtorch's allocation for a 4000 px
    // picture fails as it would on a full machine or GPU. The memory limit
    // lets the estimate through, so libtorch itself runs out.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("big.png");
    let script = format!(
        "ulimit -v 10000000; exec '{}' image -c '{}' -s '{}' -o '{}' --size 4000 --iterations 1 --device cpu -q --memory-limit 1TiB",
        p(&common::bin()),
        p(&common::data("golden_gate.jpg")),
        p(&common::data("starry_night.jpg")),
        p(&out)
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let needles = [
        "golden_gate.jpg",
        "can't allocate memory",
        "smaller input.size",
    ];
    one_line_error(&o, &needles, "under ulimit -v");
    assert!(!out.exists());
}

/// A job file in `dir` for two frames of carphone at `size`, with `run` keys.
fn memory_job(dir: &Path, size: u32, limit: Option<&str>) -> std::path::PathBuf {
    let job = common::TinyJob::new("carphone.mp4", 2)
        .size(size)
        .unset("model.name");
    match limit {
        Some(l) => job.set("run.memory_limit", common::job::quoted(l)),
        None => job,
    }
    .write(dir)
}

#[test]
fn a_job_estimated_over_its_memory_limit_is_refused_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let needles = ["needs about", "limit of 700 MiB", "smaller input.size"];
    let style = p(&common::data("starry_night.jpg"));
    let limit = ["-s", &style, "--device", "cpu", "--memory-limit", "700MiB"];
    let out = p(&d.join("out.mp4"));
    let clip = p(&common::data("carphone.mp4"));
    let video = ["video", &clip, "-o", &out, "--size", "512"];
    refused_untouched(d, &[&video[..], &limit].concat(), &needles);
    let (image, content) = (p(&d.join("o.png")), p(&common::data("golden_gate.jpg")));
    let args = ["image", "-c", &content, "-o", &image];
    let needles = [&needles[..], &["golden_gate.jpg"]].concat();
    refused_untouched(d, &[&args[..], &limit].concat(), &needles);
    let needles = ["needs about", "limit of 700 MiB", "carphone.mp4"];
    let job = memory_job(d, 512, Some("700MiB"));
    let job = p(&job);
    refused_untouched(d, &["run", &job], &needles);
    // The flag overrides the job file's limit.
    succeeds(&vstyle(&["check", &job, "--memory-limit", "64GiB"]));
}

#[test]
fn a_reader_gone_from_stdout_ends_the_command_quietly_with_141() {
    let dir = tempfile::tempdir().unwrap();
    let job = p(&memory_job(dir.path(), 64, None));
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = common::run::command()
        .args(["check", &job])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(141), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn a_style_pass_over_the_limit_is_refused_naming_style_scale() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let style = p(&common::data("starry_night.jpg"));
    let content = p(&common::data("golden_gate.jpg"));
    let out = p(&d.join("poster.png"));
    let args = [
        "image", "-c", &content, "-s", &style, "-o", &out, "--size", "512",
    ];
    let limit = [
        "--device",
        "cpu",
        "--memory-limit",
        "1GiB",
        "--set",
        "style.scale=8",
    ];
    let needles = [
        "golden_gate.jpg: the style images at 4096 px",
        "more than the limit of 1.0 GiB",
        "smaller style.scale",
    ];
    refused_untouched(d, &[&args[..], &limit].concat(), &needles);
}

#[test]
fn check_prints_the_memory_estimate_and_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let job = p(&memory_job(dir.path(), 64, None));
    let out = succeeds(&vstyle(&["check", &job, "--memory-limit", "3GiB"]));
    let line = out.lines().find(|l| l.contains("memory:")).unwrap_or("");
    assert!(
        line.contains("memory: about") && line.ends_with("MiB at peak (limit 3.0 GiB)"),
        "{out}"
    );
    let small = succeeds(&vstyle(&["check", &job]));
    assert!(small.contains("memory: about"), "{small}");
}

#[test]
fn a_budget_too_small_for_one_tile_is_refused_before_writing() {
    // Over the limit whole, a frame is painted in tiles; 650 MiB leaves
    // SqueezeNet's runtime no room for one 64 px tile.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let needles = [
        "needs about",
        "limit of 650 MiB, even in tiles of 64x64 px",
        "run.memory_limit",
    ];
    let style = p(&common::data("starry_night.jpg"));
    let small = ["--size", "128", "--model", "squeezenet", "--device", "cpu"];
    let limit = [&small[..], &["-s", &style, "--memory-limit", "650MiB"]].concat();
    let (image, content) = (p(&d.join("o.png")), p(&common::data("golden_gate.jpg")));
    let args = ["image", "-c", &content, "-o", &image];
    refused_untouched(d, &[&args[..], &limit].concat(), &needles);
    let (out, clip) = (p(&d.join("out.mp4")), p(&common::data("carphone.mp4")));
    let video = ["video", &clip, "-o", &out];
    refused_untouched(d, &[&video[..], &limit].concat(), &needles);
}

#[test]
fn check_prints_the_tiles_a_frame_over_its_limit_is_painted_in() {
    let dir = tempfile::tempdir().unwrap();
    let job = p(&memory_job(dir.path(), 128, None));
    let out = succeeds(&vstyle(&["check", &job, "--memory-limit", "760MiB"]));
    let line = out.lines().find(|l| l.contains("memory:")).unwrap_or("");
    assert!(
        line.contains("(limit 760 MiB), in ")
            && line.contains(" tiles of ")
            && line.ends_with("px overlap)"),
        "{out}"
    );
    let whole = succeeds(&vstyle(&["check", &job, "--memory-limit", "3GiB"]));
    assert!(!whole.contains(" tiles of "), "{whole}");
}

#[test]
fn a_memory_limit_that_is_not_a_size_is_one_line_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let job = p(&memory_job(dir.path(), 64, Some("3 potatoes")));
    fails(
        &["check", &job],
        &["job.toml", "run.memory_limit", "`3 potatoes` is not a size"],
    );
    let job = p(&memory_job(dir.path(), 64, None));
    fails(
        &["check", &job, "--memory-limit", "lots"],
        &["run.memory_limit", "`lots`"],
    );
}

/// Copies shipped media into `dir`: the tests below try to overwrite them.
fn copy_in(dir: &Path, name: &str) -> std::path::PathBuf {
    let to = dir.join(name);
    std::fs::copy(common::data(name), &to).unwrap();
    to
}

/// Runs a command that must be refused before it writes anything: exit 2,
/// one line naming `needles`, `dir` holding the same files, unchanged.
fn refused_untouched(dir: &Path, args: &[&str], needles: &[&str]) {
    let before = snapshot(dir);
    fails(args, needles);
    assert_eq!(snapshot(dir), before, "{args:?} wrote into {}", p(dir));
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|f| (p(&f), std::fs::read(&f).unwrap_or_default()))
        .collect();
    files.sort();
    files
}

#[test]
fn no_output_overwrites_an_input_or_another_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = p(&copy_in(d, "carphone.mp4"));
    let photo = p(&copy_in(d, "golden_gate.jpg"));
    let style = p(&copy_in(d, "starry_night.jpg"));
    std::os::unix::fs::symlink(&photo, d.join("link.jpg")).unwrap();
    std::fs::hard_link(&photo, d.join("hard.jpg")).unwrap();
    let small = ["--size", "32", "--iterations", "1", "--device", "cpu"];
    let video = |o: &str, extra: &[&str]| -> Vec<String> {
        let mut a = vec!["video", &clip, "-s", &style, "-o", o];
        a.extend_from_slice(&small);
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect()
    };
    let image = |o: &str| -> Vec<String> {
        let mut a = vec!["image", "-c", &photo, "-s", &style, "-o", o];
        a.extend_from_slice(&small);
        a.into_iter().map(String::from).collect()
    };
    let report = format!("output.report=\"{clip}\"");
    let out = p(&d.join("o.mp4"));
    let work = format!("output.work_dir=\"{out}\"");
    let cases: Vec<(Vec<String>, Vec<&str>)> = vec![
        (video(&clip, &[]), vec![&clip, "input"]),
        (video(&out, &["--set", &report]), vec![&clip, "report"]),
        (video(&out, &["--set", &work]), vec![&out, "work directory"]),
        (image(&photo), vec![&photo, "content image"]),
        (image(&style), vec![&style, "style image"]),
        (image(&p(&d.join("link.jpg"))), vec!["link.jpg", &photo]),
        (image(&p(&d.join("hard.jpg"))), vec!["hard.jpg", &photo]),
    ];
    for (args, needles) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused_untouched(d, &args, &needles);
    }
}

#[test]
fn a_batch_or_preview_that_would_write_over_an_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = p(&copy_in(d, "carphone.mp4"));
    let style = p(&copy_in(d, "starry_night.jpg"));
    let job = d.join("batch.toml");
    // `{clip}.mp4` beside the clips is the clip itself.
    let text = format!(
        "[batch]\nclips = [\"{clip}\"]\nstyles = [\"{style}\"]\noutput = \"{}/{{clip}}.mp4\"\n",
        p(d)
    );
    std::fs::write(&job, text).unwrap();
    refused_untouched(d, &["run", &p(&job)], &[&clip, "input"]);
    let preview = [
        "preview", &clip, "-s", &style, "-o", &style, "--device", "cpu",
    ];
    refused_untouched(d, &preview, &[&style, "preview sheet"]);
}

/// A PNG whose header declares `w` x `h` pixels over a few bytes of data.
fn png_declaring(path: &Path, w: u32, h: u32) {
    fn crc(bytes: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in bytes {
            c ^= b as u32;
            for _ in 0..8 {
                c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
            }
        }
        !c
    }
    let chunk = |kind: &[u8], data: &[u8]| {
        let body = [kind, data].concat();
        let len = (data.len() as u32).to_be_bytes();
        [&len[..], &body, &crc(&body).to_be_bytes()].concat()
    };
    let ihdr = [&w.to_be_bytes()[..], &h.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
    let png = [
        &b"\x89PNG\r\n\x1a\n"[..],
        &chunk(b"IHDR", &ihdr),
        &chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
        &chunk(b"IEND", &[]),
    ]
    .concat();
    std::fs::write(path, png).unwrap();
}

#[test]
fn an_image_declaring_gigapixels_is_one_line_before_it_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.png");
    png_declaring(&bomb, 40_000, 40_000);
    let content = p(&common::data("golden_gate.jpg"));
    let out = p(&dir.path().join("o.png"));
    for (c, s) in [(&content, &p(&bomb)), (&p(&bomb), &content)] {
        fails(
            &["image", "-c", c, "-s", s, "-o", &out, "--device", "cpu"],
            &["bomb.png", "declares 40000x40000 pixels"],
        );
    }
    png_declaring(&bomb, 50_000, 50_000);
    fails(
        &["image", "-c", &content, "-s", &p(&bomb), "-o", &out],
        &["bomb.png", "declares 50000x50000"],
    );
    assert!(!Path::new(&out).exists());
}

/// Paths in a job file are taken from the file's directory and printed and
/// recorded tidied: `configs/../out/x.mp4` reads `out/x.mp4`.
#[test]
fn paths_from_a_job_file_in_a_subdirectory_are_printed_and_recorded_without_dot_dot() {
    let dir = tempfile::tempdir().unwrap();
    let configs = dir.path().join("configs");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::copy(common::data("carphone.mp4"), dir.path().join("clip.mp4")).unwrap();
    common::TinyJob::new("carphone.mp4", 2)
        .set("input.path", job::quoted("../clip.mp4"))
        .size(48)
        .iterations(2, 1)
        .output("./../out/x.mp4")
        .write(&configs);
    let run = common::run::command()
        .current_dir(dir.path())
        .args(["run", "configs/job.toml", "--quiet"])
        .output()
        .unwrap();
    let said = succeeds(&run);
    assert!(said.contains("wrote out/x.mp4 ("), "{said}");
    assert!(said.contains("report: out/x.mp4.report.html"), "{said}");
    let report = common::media::json(&dir.path().join("out/x.mp4.report.json"));
    assert_eq!(report["input"], "clip.mp4", "{report}");
    assert_eq!(report["output"], "out/x.mp4", "{report}");
    assert_eq!(report["work_dir"], "out/x.mp4.work", "{report}");
    assert_eq!(report["config"]["output"]["path"], "out/x.mp4", "{report}");
    let text = std::fs::read_to_string(dir.path().join("out/x.mp4.report.json")).unwrap();
    assert!(!text.contains("..") && !text.contains("./"), "{text}");
}
