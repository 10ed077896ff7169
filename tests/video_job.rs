//! The video job end to end on shipped clips at small size: frames, rates,
//! audio, resume after an interruption, and bad input.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use common::media::decode;
use common::run::{command, one_line_error};
use common::{fails_last, stderr, succeeds, vstyle};
use vstyle::config::JobConfig;
use vstyle::job::{Event, JobReport, VideoJob};
use vstyle::video::{FrameSource, SourceOptions};

fn job(input: &Path, output: &Path, sets: &[&str]) -> JobConfig {
    let mut o = vec![
        format!("input.path=\"{}\"", input.display()),
        format!("output.path=\"{}\"", output.display()),
        format!(
            "style.images=[\"{}\"]",
            common::data("starry_night.jpg").display()
        ),
        "run.device=\"cpu\"".into(),
        "input.size=48".into(),
        "optimizer.first_frame_iterations=6".into(),
        "optimizer.frame_iterations=3".into(),
        // Warm frames run exactly their budget unless a test holds the style.
        "optimizer.style_hold=0".into(),
    ];
    o.extend(sets.iter().map(|s| s.to_string()));
    common::job::config(&o)
}

fn run(
    cfg: &JobConfig,
    stop: &AtomicBool,
    on_event: impl FnMut(Event),
) -> vstyle::Result<JobReport> {
    VideoJob::new(cfg, None)?.run(stop, on_event)
}

/// `got` equals `want` frame for frame; a failure names the frames that
/// differ instead of printing every byte.
fn assert_same<T: PartialEq>(want: &[T], got: &[T], what: &str) {
    let differ: Vec<usize> = (0..want.len().min(got.len()))
        .filter(|&i| want[i] != got[i])
        .collect();
    assert!(
        want.len() == got.len() && differ.is_empty(),
        "{what}: {} frames against {}; frames that differ: {differ:?}",
        got.len(),
        want.len()
    );
}

fn work_frames(work: &Path) -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(work)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("frame_") && name.ends_with(".png")
        })
        .collect();
    names.sort();
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

#[test]
fn clip_keeps_rate_and_count_and_writes_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let frames = dir.path().join("seq/f_%03d.png");
    std::fs::create_dir_all(dir.path().join("seq")).unwrap();
    let cfg = job(
        &common::data("carphone.mp4"),
        &out,
        &[
            "input.max_frames=5",
            &format!("output.frames=\"{}\"", frames.display()),
        ],
    );
    let mut iterates = 0;
    let stop = AtomicBool::new(false);
    let report = run(&cfg, &stop, |e| {
        if let Event::Iterate { .. } = e {
            iterates += 1
        }
    })
    .unwrap();
    assert_eq!(report.frames.len(), 5);
    assert_eq!(iterates, report.totals.iterations);
    assert_eq!(report.frames[0].init, "content");
    assert_eq!(report.frames[1].init, "prev_warped");
    let (info, decoded) = decode(&out);
    assert_eq!(decoded.len(), 5);
    assert_eq!(info.frame_rate, (30000, 1001));
    assert_eq!((info.width, info.height), (48, 40));
    assert!(!info.has_audio);
    for i in 0..5 {
        assert!(dir.path().join(format!("seq/f_{i:03}.png")).exists());
    }
    let json = common::media::json(&dir.path().join("out.mp4.report.json"));
    assert_eq!(json["frames"].as_array().unwrap().len(), 5);
    assert_eq!(json["config"]["input"]["max_frames"], 5);
    assert!(json["frames"][0]["losses"]["style"].as_f64().unwrap() > 0.0);
    // No temporary files remain beside the output.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.contains(".part") && !n.starts_with(".vstyle")),
        "{names:?}"
    );
}

#[test]
fn audio_track_is_copied_and_frame_rate_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bunny.mp4");
    let cfg = job(
        &common::data("bigbuckbunny_2s.mp4"),
        &out,
        &[
            "input.max_frames=10",
            "optimizer.first_frame_iterations=2",
            "optimizer.frame_iterations=1",
        ],
    );
    run(&cfg, &AtomicBool::new(false), |_| {}).unwrap();
    let (info, decoded) = decode(&out);
    assert_eq!(decoded.len(), 10);
    assert_eq!(info.frame_rate, (25, 1));
    assert!(info.has_audio, "the AAC track was copied");
}

#[test]
fn an_interrupted_job_resumes_to_the_same_video() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.mp4");
    let parts = dir.path().join("parts.mp4");
    // The style hold on, with a first frame painted well enough that warm
    // frames paint on past their budget: the frames a resume replays need
    // the level the run kept beside frame 0.
    let sets = [
        "input.max_frames=19",
        "run.frame_init=\"prev_warped\"",
        "loss.temporal_weight=50",
        "optimizer.first_frame_iterations=400",
        "optimizer.style_hold=0.002",
    ];
    let first = run(
        &job(&common::data("carphone.mp4"), &whole, &sets),
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    let replayed = &first.frames[16..];
    assert!(
        replayed.iter().any(|f| f.iterations > 3),
        "the hold never fired where the resume replays: {replayed:?}"
    );

    // Stop after frame 17, as Ctrl-C would.
    let cfg = job(&common::data("carphone.mp4"), &parts, &sets);
    let stop = AtomicBool::new(false);
    let err = run(&cfg, &stop, |e| {
        if let Event::FrameDone(r) = e {
            if r.index == 17 {
                stop.store(true, Ordering::SeqCst);
            }
        }
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    assert!(!parts.exists(), "no half video");
    assert_eq!(work_frames(&dir.path().join("parts.mp4.work")).len(), 18);

    let mut resumed = None;
    let report = run(&cfg, &AtomicBool::new(false), |e| {
        if let Event::Start { resumed: r, .. } = e {
            resumed = Some(r)
        }
    })
    .unwrap();
    // Frames 16 and 17 are optimised again: the L-BFGS memory that frame 18
    // carries on starts afresh at frame 16.
    assert_eq!(resumed, Some(16));
    assert_eq!(report.totals.resumed_frames, 16);
    assert_same(
        &work_frames(&dir.path().join("whole.mp4.work")),
        &work_frames(&dir.path().join("parts.mp4.work")),
        "the resumed job's work frames (PNG bytes)",
    );
    assert_same(
        &decode(&whole).1,
        &decode(&parts).1,
        "the resumed job's video frames",
    );

    // Other settings may not reuse the work directory.
    let other = job(
        &common::data("carphone.mp4"),
        &parts,
        &["input.max_frames=19", "loss.style_weight=1"],
    );
    let e = run(&other, &AtomicBool::new(false), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("parts.mp4.work") && e.contains("other settings"),
        "{e}"
    );
}

#[test]
fn bad_video_inputs_are_named_and_nothing_finished_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).display().to_string();
    let style = common::data("starry_night.jpg").display().to_string();
    let base = [
        "--size",
        "32",
        "--first-iterations",
        "1",
        "--iterations",
        "1",
        "--device",
        "cpu",
        "-q",
    ];
    let video = |input: &str, out: &str, extra: &[&str], needles: &[&str]| {
        let mut a = vec!["video", input, "-s", &style, "-o", out];
        a.extend_from_slice(&base);
        a.extend_from_slice(extra);
        fails_last(&a, needles)
    };
    video(&d("absent.mp4"), &d("o1.mp4"), &[], &["absent.mp4"]);
    std::fs::write(dir.path().join("text.mp4"), "hello, not a video").unwrap();
    video(&d("text.mp4"), &d("o2.mp4"), &[], &["text.mp4"]);
    video(
        &common::data("carphone.mp4").display().to_string(),
        &d("o3.mp4"),
        &["--set", "input.start=500"],
        &["no frames"],
    );
    assert!(!dir.path().join("o3.mp4").exists());
    std::fs::write(dir.path().join("plain_file"), "x").unwrap();
    video(
        &common::data("carphone.mp4").display().to_string(),
        &d("plain_file/o4.mp4"),
        &[],
        &["o4.mp4", "cannot create directory"],
    );
    video(
        &common::data("carphone.mp4").display().to_string(),
        &d("o5.mp4"),
        &["--style-weight", "-1"],
        &["loss.style_weight"],
    );
    video(
        &common::data("carphone.mp4").display().to_string(),
        &d("o6.mp4"),
        &["--set", "optimizer.frame_iterations=0"],
        &["optimizer.frame_iterations"],
    );
    let v16 = common::default_weights("vgg16").display().to_string();
    video(
        &common::data("carphone.mp4").display().to_string(),
        &d("o7.mp4"),
        &["--weights", &v16],
        &["vgg16.safetensors", "holds vgg16"],
    );

    // An image sequence with a gap, and one with frames of two sizes.
    let seq = dir.path().join("seq");
    std::fs::create_dir_all(&seq).unwrap();
    let img = image::RgbImage::from_pixel(40, 30, image::Rgb([100, 120, 140]));
    for i in [0, 1, 3] {
        img.save(seq.join(format!("f_{i:03}.png"))).unwrap();
    }
    video(
        &format!("{}/f_%03d.png", seq.display()),
        &d("o8.mp4"),
        &[],
        &["f_002.png"],
    );
    let seq2 = dir.path().join("seq2");
    std::fs::create_dir_all(&seq2).unwrap();
    img.save(seq2.join("a.png")).unwrap();
    image::RgbImage::from_pixel(30, 30, image::Rgb([1, 2, 3]))
        .save(seq2.join("b.png"))
        .unwrap();
    video(&seq2.display().to_string(), &d("o9.mp4"), &[], &["b.png"]);

    // A truncated clip: the frames before the break are kept in the work
    // directory, the job fails naming the file, and no video that looks
    // complete is left.
    // (Matroska, because an mp4 cut short loses its index and opens not at all.)
    let full = dir.path().join("full.mkv");
    let src = FrameSource::open(
        &common::data("carphone.mp4"),
        &SourceOptions {
            size: Some(64),
            ..SourceOptions::full_size()
        },
    )
    .unwrap();
    let (w, h, times) = (
        src.info().width,
        src.info().height,
        src.info().timeline.clone(),
    );
    let mut writer =
        vstyle::video::VideoWriter::create(&full, None, w, h, &times, None, &Default::default())
            .unwrap();
    for f in src {
        writer.write(&f.unwrap().image).unwrap();
    }
    writer.finish().unwrap();
    let bytes = std::fs::read(&full).unwrap();
    std::fs::write(dir.path().join("cut.mp4"), &bytes[..bytes.len() * 2 / 5]).unwrap();
    let o = vstyle(&[
        "video",
        &d("cut.mp4"),
        "-s",
        &style,
        "-o",
        &d("cut_out.mp4"),
        "--size",
        "24",
        "--first-iterations",
        "1",
        "--iterations",
        "1",
        "--device",
        "cpu",
        "-q",
        "--style-layers",
        "relu1_1,relu2_1,relu3_1",
        "--content-layers",
        "relu3_1",
    ]);
    let err = one_line_error(&o, &["cut.mp4", "frame"], "a clip cut short");
    let kept = work_frames(&dir.path().join("cut_out.mp4.work")).len();
    assert!(kept > 0 && kept < 120, "{kept} frames kept: {err}");
    assert!(
        err.contains(&format!("the {kept} frames before it are kept")),
        "{err}"
    );
    assert!(!dir.path().join("cut_out.mp4").exists());
    assert!(!dir.path().join("cut_out.mp4.part").exists());
}

#[test]
fn job_files_check_and_override() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        format!(
            "[input]\npath = \"{}\"\nsize = 48\n[output]\npath = \"out.mp4\"\n[style]\nimages = [\"{}\"]\n",
            common::data("carphone.mp4").display(),
            common::data("starry_night.jpg").display()
        ),
    )
    .unwrap();
    let stdout = succeeds(&vstyle(&["check", &job.display().to_string()]));
    assert!(
        stdout.contains("ok") && stdout.contains("120 frames") && stdout.contains("48x40"),
        "{stdout}"
    );
    fails_last(
        &[
            "check",
            &job.display().to_string(),
            "--set",
            "optimizer.frame_iterations=0",
        ],
        &["optimizer.frame_iterations"],
    );
    fails_last(
        &[
            "check",
            &job.display().to_string(),
            "--set",
            "input.path=\"nothing.mp4\"",
        ],
        &["nothing.mp4"],
    );
    fails_last(
        &["run", &job.display().to_string(), "--set", "loss.bogus=1"],
        &["bogus"],
    );
    std::fs::write(&job, "[input]\npath = 3 3\n").unwrap();
    fails_last(&["run", &job.display().to_string()], &["job.toml:2:"]);
}

/// `vstyle video` of `frames` frames of `clip` at 48 px, 3 iterations a
/// frame: slow enough to be interrupted part-way.
fn interruptible_args(
    clip: &std::path::Path,
    style: &str,
    out: &std::path::Path,
    frames: usize,
) -> Vec<String> {
    let (clip, out, frames) = (clip.display(), out.display(), frames.to_string());
    let flags = "--size 48 --first-iterations 3 --iterations 3 --device cpu --max-frames";
    let mut args: Vec<String> = [
        "video",
        &clip.to_string(),
        "-s",
        style,
        "-o",
        &out.to_string(),
    ]
    .map(String::from)
    .into();
    args.extend(flags.split(' ').map(String::from));
    args.push(frames);
    args
}

#[test]
fn sigint_saves_finished_frames_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o.mp4");
    let style = common::data("starry_night.jpg").display().to_string();
    let args = interruptible_args(&common::data("carphone.mp4"), &style, &out, 60);
    let work = dir.path().join("o.mp4.work");
    let child = start_until_frame(&args, &work, 17);
    // A second worker on the same job is turned away while the first runs.
    let in_use = format!("in use by process {}", child.id());
    fails_last(&args, &["o.mp4.work", &in_use]);
    let err = interrupt(child);
    assert!(
        err.contains("run the same command again to resume"),
        "{err}"
    );
    assert!(!out.exists(), "no half-written video");
    let kept = work_frames(&work).len();
    assert!((18..60).contains(&kept), "{kept}");
    // Running it again finishes the job from there: from the last frame
    // where the carried L-BFGS memory started afresh.
    let loaded = kept - kept % vstyle::job::CARRY_SPAN;
    let out2 = vstyle(&args);
    succeeds(&out2);
    let err2 = stderr(&out2);
    assert!(
        err2.contains(&format!("resuming after {loaded} finished frames")),
        "{err2}"
    );
    assert_eq!(decode(&out).1.len(), 60);
}

fn frame_exists(work: &Path, index: usize) -> bool {
    work.join(format!("frame_{index:06}.png")).exists()
}

/// Starts the binary with `args` and returns once frame `index` is in `work`.
fn start_until_frame(args: &[String], work: &Path, index: usize) -> std::process::Child {
    let child = command()
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !frame_exists(work, index) {
        assert!(t0.elapsed().as_secs() < 120, "no frame written");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

/// Ctrl-C: the job saves its finished frames and exits 130. Its stderr.
fn interrupt(child: std::process::Child) -> String {
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(130), "{err}");
    err
}

#[test]
fn a_clip_replaced_by_another_of_the_same_size_is_refused_not_resumed() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    std::fs::copy(common::data("carphone.mp4"), &clip).unwrap();
    let out = dir.path().join("o.mp4");
    let style = common::data("starry_night.jpg").display().to_string();
    let args = interruptible_args(&clip, &style, &out, 40);
    let work = dir.path().join("o.mp4.work");
    // Past the first span of carried pairs, so the resume below loads frames.
    interrupt(start_until_frame(&args, &work, vstyle::job::CARRY_SPAN));
    let kept = work_frames(&work);
    assert!((17..40).contains(&kept.len()), "{}", kept.len());

    // Another clip at the same path, padded to the same size.
    let mut other = std::fs::read(common::data("bigbuckbunny_2s.mp4")).unwrap();
    let size = std::fs::metadata(&clip).unwrap().len() as usize;
    assert!(other.len() < size);
    other.resize(size, 0);
    std::fs::write(&clip, &other).unwrap();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = one_line_error(&vstyle(&args), &[], "a changed clip");
    let want = format!(
        "error: {} changed since the frames in {} were made",
        clip.display(),
        work.display()
    );
    assert!(err.starts_with(&want), "{err}");
    assert!(
        err.ends_with(&format!("delete {} to start over", work.display())),
        "{err}"
    );
    assert_eq!(work_frames(&work), kept, "the finished frames are kept");
    assert!(!out.exists());

    // The first clip copied back (a new time, the same bytes) resumes.
    std::fs::copy(common::data("carphone.mp4"), &clip).unwrap();
    let o = vstyle(&args);
    succeeds(&o);
    let err = stderr(&o);
    let loaded = kept.len() - kept.len() % vstyle::job::CARRY_SPAN;
    assert!(
        err.contains(&format!("resuming after {loaded} finished frames")),
        "{err}"
    );
    assert_eq!(decode(&out).1.len(), 40);
}

#[test]
fn warped_starts_and_long_term_temporal_terms_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.mp4");
    let cfg = job(
        &common::data("carphone_083.png").with_file_name("carphone.mp4"),
        &out,
        &[
            "input.start=80",
            "input.max_frames=4",
            "run.frame_init=\"prev_warped\"",
            "loss.temporal_weight=1e3",
            "loss.long_term=[2]",
        ],
    );
    let report = run(&cfg, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(report.frames.len(), 4);
    assert_eq!(
        report.frames[0].losses.temporal, 0.0,
        "frame 1 has no predecessor"
    );
    for f in &report.frames[1..] {
        assert_eq!(f.init, "prev_warped");
        assert!(f.losses.temporal > 0.0, "frame {}: {:?}", f.index, f.losses);
        assert!(f.flow_seconds > 0.0);
    }
    assert_eq!(report.frames[0].source_index, 80);
}

#[test]
fn eval_reports_warping_error_as_json_and_plot() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("e.mp4");
    let cfg = job(&common::data("carphone.mp4"), &out, &["input.max_frames=4"]);
    run(&cfg, &AtomicBool::new(false), |_| {}).unwrap();
    let (json, plot) = (dir.path().join("e.json"), dir.path().join("e.png"));
    let res = command()
        .args([
            "eval",
            "--input",
            &common::data("carphone.mp4").display().to_string(),
        ])
        .args([
            "--output",
            &out.display().to_string(),
            "--json",
            &json.display().to_string(),
        ])
        .args(["--plot", &plot.display().to_string()])
        .output()
        .unwrap();
    assert!(succeeds(&res).contains("warping error"));
    let v = common::media::json(&json);
    assert_eq!(v[0]["per_frame"].as_array().unwrap().len(), 3);
    assert!(v[0]["mean"].as_f64().unwrap() > 0.0);
    assert_eq!(image::open(&plot).unwrap().width(), 720);
    fails_last(
        &[
            "eval",
            "--input",
            "nope.mp4",
            "--output",
            &out.display().to_string(),
        ],
        &["nope.mp4"],
    );
}

/// The start image of frame 1's first attempt is poisoned with NaN.
fn nan_at_frame_1_first_try(frame: usize, attempt: usize) -> bool {
    frame == 1 && attempt == 0
}

/// Every attempt at frame 2 is poisoned.
fn nan_at_frame_2_always(frame: usize, _: usize) -> bool {
    frame == 2
}

#[test]
fn a_nan_loss_is_retried_from_the_content_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nan.mp4");
    let cfg = job(&common::data("carphone.mp4"), &out, &["input.max_frames=3"]);
    let mut warnings = Vec::new();
    let report = VideoJob::new(&cfg, None)
        .unwrap()
        .with_start_fault(nan_at_frame_1_first_try)
        .run(&AtomicBool::new(false), |e| {
            if let Event::Warning(w) = e {
                warnings.push(w)
            }
        })
        .unwrap();
    let f1 = &report.frames[1];
    assert_eq!(f1.retries.len(), 1, "{:?}", f1.retries);
    assert_eq!(f1.retries[0].init, "prev_warped");
    assert!(f1.retries[0].loss.is_nan());
    assert_eq!(
        f1.init, "content",
        "the retry starts from the content frame"
    );
    assert!(f1.losses.total.is_finite() && f1.losses.style > 0.0);
    assert!(report.frames[0].retries.is_empty() && report.frames[2].retries.is_empty());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let json = std::fs::read_to_string(dir.path().join("nan.mp4.report.json")).unwrap();
    assert!(json.contains("\"retries\""), "the report records the retry");
    let (_, decoded) = decode(&out);
    assert_eq!(decoded.len(), 3);
}

#[test]
fn a_frame_that_stays_nan_fails_the_job_and_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nan.mp4");
    let cfg = job(&common::data("carphone.mp4"), &out, &["input.max_frames=4"]);
    let err = VideoJob::new(&cfg, None)
        .unwrap()
        .with_start_fault(nan_at_frame_2_always)
        .run(&AtomicBool::new(false), |_| {})
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("carphone.mp4: frame 2: the loss became NaN"),
        "{msg}"
    );
    assert!(msg.contains("every attempt (3)"), "{msg}");
    assert!(
        matches!(err, vstyle::Error::Partial { kept: 2, .. }),
        "{err:?}"
    );
    let work = dir.path().join("nan.mp4.work");
    assert_eq!(work_frames(&work).len(), 2, "frames 0 and 1 are kept");
    assert!(!frame_exists(&work, 2));
    assert!(!out.exists(), "no video that looks complete");
    assert!(!dir.path().join("nan.mp4.part").exists());
}

#[test]
fn coarse_first_frame_and_carried_pairs_run_in_a_clip() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.mp4");
    let cfg = job(
        &common::data("carphone.mp4"),
        &out,
        &[
            "model.name=\"squeezenet\"",
            "input.size=96",
            "input.max_frames=3",
            "optimizer.min_size=48",
            "optimizer.scale_iterations=4",
            "optimizer.carry_pairs=true",
        ],
    );
    let report = run(&cfg, &AtomicBool::new(false), |_| {}).unwrap();
    assert_eq!(report.frames.len(), 3);
    // 4 iterations at 48 and at 68 px, then 6 at 96 px.
    assert_eq!(report.frames[0].iterations, 14);
    for f in &report.frames[1..] {
        assert!(f.iterations <= 3 && f.losses.total.is_finite(), "{f:?}");
    }
    assert_eq!(decode(&out).1.len(), 3);
}

/// Writes `frames` as a numbered PNG sequence in `dir` and returns the pattern.
fn image_sequence(dir: &Path, frames: &[image::RgbImage]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (i, f) in frames.iter().enumerate() {
        f.save(dir.join(format!("f_{i:03}.png"))).unwrap();
    }
    dir.join("f_%03d.png")
}

/// A 160 x 120 window of `img` (resized to 176 x 144 first), `dx` px from the left.
fn carphone_040() -> image::RgbImage {
    image::open(common::data("carphone_040.png"))
        .unwrap()
        .to_rgb8()
}

fn window(img: &image::RgbImage, dx: u32) -> image::RgbImage {
    let img = image::imageops::resize(img, 176, 144, image::imageops::FilterType::Triangle);
    image::imageops::crop_imm(&img, dx, 8, 160, 120).to_image()
}

#[test]
fn a_cut_starts_a_new_shot_with_the_first_frames_budget() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| image::open(common::data(name)).unwrap().to_rgb8();
    let (a, b) = (open("carphone_040.png"), open("tubingen.jpg"));
    // Two shots panning 2 px a frame, cut after the third frame.
    let frames: Vec<_> = (0..3)
        .map(|t| window(&a, 2 * t))
        .chain((0..2).map(|t| window(&b, 2 * t)))
        .collect();
    let input = image_sequence(&dir.path().join("seq"), &frames);
    let cfg = job(&input, &dir.path().join("cut.mp4"), &["input.size=64"]);
    let report = run(&cfg, &AtomicBool::new(false), |_| {}).unwrap();
    let shots: Vec<_> = report.frames.iter().map(|f| f.new_shot).collect();
    assert_eq!(
        shots,
        [false, false, false, true, false],
        "{:?}",
        report.frames
    );
    let cut = &report.frames[3];
    assert!(cut.new_share.unwrap() > 0.5, "{cut:?}");
    assert_eq!((cut.init.as_str(), cut.iterations), ("content", 6));
    assert_eq!(cut.losses.temporal, 0.0);
    for f in [1, 2, 4].map(|i| &report.frames[i]) {
        assert!(f.new_share.unwrap() < 0.5, "{f:?}");
        assert_eq!(f.init, "prev_warped");
        assert!(f.iterations <= 3 && f.losses.temporal > 0.0, "{f:?}");
    }
}

/// Six frames of carphone with a tight style hold (0.2%, up to 5 more than
/// the 3 a frame), as one run or one shard: the report and every frame's
/// style loss after each iteration.
fn held_run(out: &Path, shard: Option<vstyle::job::Shard>) -> (JobReport, Vec<Vec<f64>>) {
    let sets = [
        "input.max_frames=6",
        "optimizer.first_frame_iterations=60",
        "optimizer.stop_tolerance=0",
        "optimizer.style_hold=0.002",
        "optimizer.hold_iterations=5",
    ];
    let cfg = job(&common::data("carphone.mp4"), out, &sets);
    let mut styles = vec![Vec::new(); 6];
    let report = VideoJob::new(&cfg, shard)
        .unwrap()
        .run(&AtomicBool::new(false), |e| {
            if let Event::Iterate { frame, record } = e {
                styles[frame].push(record.losses.style);
            }
        })
        .unwrap();
    (report, styles)
}

#[test]
fn a_warm_frame_above_its_shots_style_level_paints_on_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let (report, styles) = held_run(&dir.path().join("h.mp4"), None);
    let threshold = report.frames[0].losses.style * 1.002;
    for (f, style) in report.frames.iter().zip(&styles).skip(1) {
        // The first iteration from the budget (3) at or below the level, or
        // the last of the 5 the hold may add.
        let back = (3..8)
            .find(|&i| style.get(i - 1).is_some_and(|&s| s <= threshold))
            .unwrap_or(8);
        assert_eq!(f.iterations, back, "{f:?} {style:?}");
    }
    assert!(
        report.frames[1..].iter().any(|f| f.iterations > 3),
        "the hold never fired: {:?}",
        report.frames
    );
}

#[test]
fn a_shards_first_frame_paints_from_its_lead_in_until_back_at_the_clips_level() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.mp4");
    let shard = vstyle::job::Shard { index: 1, count: 2 };
    let (report, styles) = held_run(&out, Some(shard));
    // The lead-in paints frame 0 as shard 0 does: that is the clip's level.
    let level = *styles[0].last().unwrap();
    let first = &report.frames[0];
    assert_eq!((first.index, first.init.as_str()), (3, "prev_warped"));
    // Its frame budget (3), then on until it is at the level, at most the
    // first frame's budget (60).
    let back = (3..60)
        .find(|&i| styles[3][i - 1] <= level * 1.002)
        .unwrap_or(60);
    assert_eq!(first.iterations, back, "{first:?} {:?}", styles[3]);
    assert!(
        back < 60,
        "never back at the level {level}: {:?}",
        styles[3]
    );
    // The shard keeps the clip's level, for its frames and for a resume.
    let kept = std::fs::read_to_string(out.with_extension("mp4.work").join("frame_000003.level"));
    assert_eq!(kept.unwrap().parse::<f64>().unwrap(), level);
}

#[test]
fn a_still_scene_stops_before_the_frame_budget_and_a_moving_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let still = carphone_040();
    let input = image_sequence(&dir.path().join("still"), &vec![window(&still, 0); 5]);
    // A first frame painted to a plateau, as a clip's is (coarse to fine) at
    // full size; at 48 px that takes a few hundred iterations.
    let budget = [
        "optimizer.first_frame_iterations=300",
        "optimizer.frame_iterations=20",
    ];
    let iterations = |input: &Path, name: &str, sets: &[&str]| -> Vec<usize> {
        let cfg = job(input, &dir.path().join(name), &[&budget[..], sets].concat());
        let report = run(&cfg, &AtomicBool::new(false), |_| {}).unwrap();
        report.frames[2..].iter().map(|f| f.iterations).collect()
    };
    let still = iterations(&input, "still.mp4", &[]);
    let moving = iterations(
        &common::data("carphone.mp4"),
        "moving.mp4",
        &["input.max_frames=5"],
    );
    // The default stop rule: the loss fell by less than 0.2% over 3 iterations.
    assert!(still.iter().all(|&n| n < 20), "still {still:?}");
    let sum = |v: &[usize]| v.iter().sum::<usize>();
    assert!(
        sum(&still) < sum(&moving),
        "still {still:?}, moving {moving:?}"
    );
}

#[test]
fn new_pixels_earn_iterations_and_a_warm_frame_can_start_at_half_size() {
    let dir = tempfile::tempdir().unwrap();
    let a = carphone_040();
    // A pan of 5 px a frame: a strip at the border is new in every frame.
    let frames: Vec<_> = (0..4).map(|t| window(&a, 5 * t)).collect();
    let input = image_sequence(&dir.path().join("pan"), &frames);
    let base = [
        "input.size=64",
        "optimizer.stop_tolerance=0",
        "optimizer.min_size=32",
    ];
    let run_with = |name: &str, sets: &[&str]| {
        let cfg = job(&input, &dir.path().join(name), &[&base[..], sets].concat());
        run(&cfg, &AtomicBool::new(false), |_| {}).unwrap()
    };

    let earned = run_with("earned.mp4", &["optimizer.new_pixel_iterations=100"]);
    for f in &earned.frames[1..] {
        let share = f.new_share.unwrap();
        assert!(share > 0.01, "{f:?}");
        assert_eq!(f.iterations, 3 + (share * 100.0).round() as usize, "{f:?}");
    }

    // 64 px: coarse sizes 32 and 45; half the size is 32.
    let plain = run_with("plain.mp4", &[]);
    let coarse = run_with("coarse.mp4", &["optimizer.frame_scale_iterations=4"]);
    let work = |name: &str| work_frames(&dir.path().join(format!("{name}.mp4.work")));
    let (plain_frames, coarse_frames) = (work("plain"), work("coarse"));
    assert_eq!(
        plain_frames[0], coarse_frames[0],
        "frame 0 is painted as before"
    );
    for i in 1..4 {
        assert_ne!(
            plain_frames[i], coarse_frames[i],
            "frame {i} had no coarse step"
        );
        let (p, c) = (&plain.frames[i], &coarse.frames[i]);
        assert_eq!((p.iterations, c.iterations), (3, 7), "frame {i}");
        assert!(
            c.losses.total.is_finite() && c.losses.temporal > 0.0,
            "{c:?}"
        );
    }
}
