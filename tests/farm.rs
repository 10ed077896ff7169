//! Scale-out end to end through the binary: a clip in shards and its join,
//! local workers, multi-pass, batch jobs and `vstyle status`, on shipped
//! clips at small size with few iterations.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use vstyle::video::{FrameSource, SourceInfo, SourceOptions};

/// A job file in `dir` for `frames` frames of `clip`, with `extra` TOML.
fn job_file(dir: &Path, clip: &str, frames: usize, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[input]
path = "{clip}"
size = 64
max_frames = {frames}
[style]
images = ["{style}"]
[model]
name = "squeezenet"
[optimizer]
first_frame_iterations = 6
frame_iterations = 3
style_hold = 0  # warm frames run exactly frame_iterations
[run]
device = "cpu"
print_every = 0
[output]
path = "out.mp4"
{extra}
"#,
        clip = common::data(clip).display(),
        style = common::data("starry_night.jpg").display(),
    );
    let path = dir.join("job.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn vstyle(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(common::bin());
    c.args(args).arg("--quiet");
    for (k, v) in env {
        c.env(k, v);
    }
    // The scheduler's variables of the machine running the tests must not leak in.
    c.env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Exit 2 with one `error:` line, which is returned.
fn one_line_error(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<_> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

fn probe(path: &Path) -> (SourceInfo, usize) {
    let src = FrameSource::open(path, &SourceOptions::full_size()).unwrap();
    let info = src.info().clone();
    (info, src.count())
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What `vstyle status` prints for `job`, as a table or JSON.
fn status(job: &Path, json: bool) -> String {
    let mut args = vec!["status", s(job)];
    if json {
        args.push("--json");
    }
    let out = Command::new(common::bin()).args(&args).output().unwrap();
    ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// 12 frames of a clip with audio in 3 even shards (seams at 4 and 8),
/// repaired in windows of 2 frames each side with 2 passes.
fn twelve_frames_in_three_shards(dir: &Path) -> PathBuf {
    let seams = "[shards]\nseam_window = 2\nseam_passes = 2\ncut_search = 0";
    job_file(dir, "bigbuckbunny_2s.mp4", 12, seams)
}

#[test]
fn a_clip_in_shards_joins_with_its_rate_audio_and_repaired_seams() {
    let dir = tempfile::tempdir().unwrap();
    let job = twelve_frames_in_three_shards(dir.path());
    // Shard 1 takes its index from Slurm's variable, shard 2 from Kubernetes'.
    ok(&vstyle(&["run", s(&job), "--shard", "0/3"], &[]));
    ok(&vstyle(
        &["run", s(&job), "--shard", "3"],
        &[("SLURM_ARRAY_TASK_ID", "1")],
    ));
    ok(&vstyle(
        &["run", s(&job), "--shard", "3"],
        &[("JOB_COMPLETION_INDEX", "2")],
    ));
    let work = dir.path().join("out.mp4.work");
    for i in 0..3 {
        let r = report(&work.join(format!("report.shard-{i}-of-3.json")));
        let idx: Vec<u64> = r["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["index"].as_u64().unwrap())
            .collect();
        assert_eq!(idx, (i * 4..i * 4 + 4).collect::<Vec<u64>>(), "shard {i}");
        // Shard 0 starts cold; the others from its texture carried along
        // the flow (the lead-in), with the first frame's full budget (the
        // style hold, which would stop it at the clip's level, is off).
        let first = &r["frames"][0];
        let init = if i == 0 { "content" } else { "prev_warped" };
        assert_eq!(first["init"], init, "shard {i}");
        assert_eq!(first["iterations"], 6, "shard {i}");
        assert_eq!(r["frames"][1]["iterations"], 3, "shard {i}");
    }
    assert!(
        !dir.path().join("out.mp4").exists(),
        "shards leave the video to join"
    );

    ok(&vstyle(&["join", s(&job)], &[]));
    let (info, count) = probe(&dir.path().join("out.mp4"));
    assert_eq!(count, 12);
    assert_eq!(info.frame_rate, (25, 1));
    assert!(info.has_audio, "the input's audio is kept");
    let r = report(&dir.path().join("out.mp4.report.json"));
    assert_eq!(r["frames"].as_array().unwrap().len(), 12);
    let size = std::fs::metadata(dir.path().join("out.mp4")).unwrap().len();
    assert_eq!(r["complete"]["size"], size, "the join records its output");
    let seams = r["seams"].as_array().unwrap();
    let windows: Vec<(u64, u64, u64)> = seams
        .iter()
        .map(|s| {
            (
                s["seam"].as_u64().unwrap(),
                s["first"].as_u64().unwrap(),
                s["end"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(windows, [(4, 2, 6), (8, 6, 10)]);
    for s in seams {
        let dirs: Vec<&str> = s["passes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["direction"].as_str().unwrap())
            .collect();
        assert_eq!(dirs, ["forward", "backward"]);
    }
    // The repaired frames are what the video was made from.
    for i in 2..6 {
        assert!(work
            .join(format!("seams/000004/pass_2/frame_{i:06}.png"))
            .exists());
    }
    assert!(!work.join("seams/000004/pass_2/frame_000006.png").exists());

    // A second join resumes the finished windows and writes the same clip again.
    std::fs::remove_file(dir.path().join("out.mp4")).unwrap();
    ok(&vstyle(&["join", s(&job)], &[]));
    let r = report(&dir.path().join("out.mp4.report.json"));
    assert!(r["seams"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["resumed"] == true));
    assert_eq!(probe(&dir.path().join("out.mp4")).1, 12);
}

#[test]
fn seams_repair_as_tasks_of_their_own_then_the_join_only_encodes() {
    let dir = tempfile::tempdir().unwrap();
    let job = twelve_frames_in_three_shards(dir.path());
    ok(&vstyle(&["run", s(&job), "--shard", "0/3"], &[]));
    ok(&vstyle(&["run", s(&job), "--shard", "1/3"], &[]));
    let e = one_line_error(&vstyle(&["join", s(&job), "--seam", "0/2"], &[]));
    assert!(
        e.contains("shards 2/3 (0 of 4 frames) are not finished"),
        "{e}"
    );
    ok(&vstyle(&["run", s(&job), "--shard", "2/3"], &[]));
    for (seam, want) in [
        ("0/3", "the clip's 3 shards meet at 2 seams (give I/2)"),
        (
            "2/2",
            "--seam 2/2: index 2 is out of range: seams are numbered 0..=1",
        ),
        ("2", "SLURM_ARRAY_TASK_ID"),
    ] {
        let e = one_line_error(&vstyle(&["join", s(&job), "--seam", seam], &[]));
        assert!(e.contains(want), "{seam}: {e}");
    }

    let status = |json: bool| status(&job, json);
    let table = status(false);
    assert!(
        table.contains("seam 1/2 at frame 8: not repaired yet"),
        "{table}"
    );

    // Both seams at once, as two tasks of an array job would.
    let task = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = Command::new(common::bin());
        c.args(["join", s(&job), "--quiet"]).args(args);
        c.env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX");
        c.envs(env.iter().copied());
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = task(&["--seam", "2"], &[("SLURM_ARRAY_TASK_ID", "0")]);
    let second = task(&["--seam", "1/2"], &[]);
    let outs = [first, second].map(|t| t.wait_with_output().unwrap());
    outs.iter().for_each(ok);
    let said = |o: &Output| String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(said(&outs[0]).contains("seam 0/2 at frame 4 (frames 2..6): repaired"));
    assert!(said(&outs[1]).contains("seam 1/2 at frame 8 (frames 6..10): repaired"));
    let work = dir.path().join("out.mp4.work");
    for seam in ["000004", "000008"] {
        assert!(
            work.join("seams").join(seam).join("done").exists(),
            "{seam}"
        );
    }
    assert!(
        !dir.path().join("out.mp4").exists(),
        "a seam task encodes nothing"
    );
    let rows: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    let seams: Vec<(u64, bool)> = rows[0]["seams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["frame"].as_u64().unwrap(),
                s["repaired"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(seams, [(4, true), (8, true)]);
    let again = vstyle(&["join", s(&job), "--seam", "1/2"], &[]);
    ok(&again);
    assert!(said(&again).contains("repaired before"));

    // The join finds both windows done, keeps their passes' reports and encodes.
    ok(&vstyle(&["join", s(&job)], &[]));
    assert_eq!(probe(&dir.path().join("out.mp4")).1, 12);
    let r = report(&dir.path().join("out.mp4.report.json"));
    let seams = r["seams"].as_array().unwrap();
    assert_eq!(seams.len(), 2);
    for seam in seams {
        assert_eq!(seam["resumed"], true);
        let passes = seam["passes"].as_array().unwrap();
        let frames: usize = passes
            .iter()
            .map(|p| p["frames"].as_array().unwrap().len())
            .sum();
        assert_eq!((passes.len(), frames), (2, 8), "{seam}");
    }
}

#[test]
fn join_names_the_unfinished_shards_and_bad_shard_requests_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "carphone.mp4", 9, "");
    ok(&vstyle(&["run", s(&job), "--shard", "1/3"], &[]));
    let e = one_line_error(&vstyle(&["join", s(&job)], &[]));
    assert!(
        e.contains("shards 0/3 (0 of 3 frames), 2/3 (0 of 3 frames) are not finished"),
        "{e}"
    );
    assert!(!dir.path().join("out.mp4").exists());

    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "3/3"], &[]));
    assert!(e.contains("--shard 3/3: index 3 is out of range"), "{e}");
    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "3"], &[]));
    assert!(e.contains("SLURM_ARRAY_TASK_ID"), "{e}");
    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "0/2"], &[]));
    assert!(
        e.contains("split into 3 shards") && e.contains("out.mp4.work"),
        "{e}"
    );
    let e = one_line_error(&vstyle(&["run", s(&job)], &[]));
    assert!(e.contains("run each with --shard I/3"), "{e}");
    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "0/20"], &[]));
    assert!(
        e.contains("shard 0/20 has no frames") && e.contains("only 9"),
        "{e}"
    );

    // Nothing finished was lost on the way.
    let work = dir.path().join("out.mp4.work");
    for i in 3..6 {
        assert!(work.join(format!("frame_{i:06}.png")).exists());
    }
    // A second live worker on the same shard stops at once, naming the first.
    std::fs::write(work.join("lock.shard-0-of-3"), format!("{} 1", hostname())).unwrap();
    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "0/3"], &[]));
    assert!(e.contains("in use by process 1"), "{e}");

    // A lock that cannot be read is refused, not taken for abandoned.
    std::fs::write(work.join("lock.shard-0-of-3"), "garbage").unwrap();
    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "0/3"], &[]));
    assert!(
        e.contains("lock.shard-0-of-3: cannot read this lock file") && e.contains("delete it"),
        "{e}"
    );

    // A lock from another node stands while its heartbeat is fresh, even
    // against a rerun of the same Slurm task; once stale it is taken over.
    let lock = work.join("lock.shard-2-of-3");
    std::fs::write(&lock, "render-node-9 4242 slurm=99_2").unwrap();
    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "2/3"], &[]));
    assert!(e.contains("process 4242 on render-node-9"), "{e}");
    let same_task = [("SLURM_ARRAY_JOB_ID", "99"), ("SLURM_ARRAY_TASK_ID", "2")];
    let e = one_line_error(&vstyle(&["run", s(&job), "--shard", "3"], &same_task));
    assert!(
        e.contains("process 4242 on render-node-9 (Slurm task 99_2)"),
        "{e}"
    );
    let silent = SystemTime::now() - Duration::from_secs(301);
    let file = std::fs::File::options().append(true).open(&lock).unwrap();
    file.set_modified(silent).unwrap();
    ok(&vstyle(&["run", s(&job), "--shard", "3"], &same_task));
    assert!(!lock.exists(), "released after the run");
}

/// `SLURM_JOB_ID=42 vstyle run job.toml` started twice on one node: the
/// second stops at once with one line naming the first, which finishes as
/// if alone.
#[test]
fn a_second_run_in_the_same_slurm_job_stops_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "carphone.mp4", 6, "");
    let mut first = Command::new(common::bin())
        .args(["run", s(&job), "--quiet"])
        .env("SLURM_JOB_ID", "42")
        .env_remove("SLURM_ARRAY_JOB_ID")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lock = dir.path().join("out.mp4.work/lock");
    let started = Instant::now();
    while !lock.exists() {
        assert!(first.try_wait().unwrap().is_none(), "the first run ended");
        assert!(started.elapsed() < Duration::from_secs(120), "no lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Paused, so that it surely still runs while the second one tries.
    let pid = first.id().to_string();
    let signal = |sig: &str| ok(&Command::new("kill").args([sig, &pid]).output().unwrap());
    signal("-STOP");
    let second = vstyle(&["run", s(&job)], &[("SLURM_JOB_ID", "42")]);
    signal("-CONT");
    let e = one_line_error(&second);
    let named = format!("in use by process {pid} on {} (Slurm task 42)", hostname());
    assert!(e.contains(&named) && e.contains("out.mp4.work"), "{e}");
    ok(&first.wait_with_output().unwrap());
    assert_eq!(probe(&dir.path().join("out.mp4")).1, 6);
    assert!(!lock.exists(), "released after the run");
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn workers_run_the_shards_then_join_and_status_follows_along() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(
        dir.path(),
        "carphone.mp4",
        8,
        "[shards]\nseam_window = 1\nseam_passes = 1",
    );
    let status = |json: bool| status(&job, json);
    assert!(status(false).contains("0/8  pending"), "{}", status(false));
    ok(&vstyle(&["run", s(&job), "--shard", "0/2"], &[]));
    let js: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert_eq!(js[0]["state"], "partial");
    assert_eq!(js[0]["shards"][0]["done"], 4);
    assert_eq!(js[0]["shards"][1]["done"], 0);
    let table = status(false);
    assert!(
        table.contains("4/4  shard 0/2") && table.contains("0/4  shard 1/2"),
        "{table}"
    );

    // The workers resume the split the work directory records.
    ok(&vstyle(&["run", s(&job), "--workers", "2"], &[]));
    assert_eq!(probe(&dir.path().join("out.mp4")).1, 8);
    let js: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert_eq!(js[0]["state"], "done");
    assert_eq!(js[0]["done"], 8);
}

#[test]
fn shards_follow_the_calm_cuts_the_work_directory_records() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(
        dir.path(),
        "carphone.mp4",
        20,
        "[shards]\ncut_search = 0.4\nseam_window = 1\nseam_passes = 1",
    );
    ok(&vstyle(&["run", s(&job), "--shard", "0/2"], &[]));
    let work = dir.path().join("out.mp4.work");
    let layout = report(&work.join("shards.json"));
    let cut = layout["cuts"][0].as_u64().unwrap();
    assert!(
        (6..=14).contains(&cut),
        "at most 0.4 of 10 frames from 10: {layout}"
    );
    // Carphone's calmest frame near 10 is not 10 (it is 12), so what
    // follows tells the recorded split from the even one.
    assert_ne!(cut, 10, "{layout}");
    let indices = |i: usize| -> Vec<u64> {
        let r = report(&work.join(format!("report.shard-{i}-of-2.json")));
        let frames = r["frames"].as_array().unwrap();
        frames
            .iter()
            .map(|f| f["index"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(indices(0), (0..cut).collect::<Vec<_>>());
    // A worker with another search keeps the recorded split.
    ok(&vstyle(
        &[
            "run",
            s(&job),
            "--shard",
            "1/2",
            "--set",
            "shards.cut_search=0",
        ],
        &[],
    ));
    assert_eq!(indices(1), (cut..20).collect::<Vec<_>>());
    let out = Command::new(common::bin())
        .args(["status", s(&job)])
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let (a, b) = (cut, 20 - cut);
    assert!(
        table.contains(&format!("{a}/{a}  shard 0/2"))
            && table.contains(&format!("{b}/{b}  shard 1/2")),
        "{table}"
    );
    ok(&vstyle(&["join", s(&job)], &[]));
    let r = report(&dir.path().join("out.mp4.report.json"));
    assert_eq!(r["seams"][0]["seam"].as_u64(), Some(cut), "{}", r["seams"]);
}

#[test]
fn later_passes_alternate_direction_and_make_the_video() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "carphone.mp4", 5, "");
    let passes = [
        "--set",
        "optimizer.passes=3",
        "--set",
        "optimizer.temporal_from_pass=2",
    ];
    ok(&vstyle(&[&["run", s(&job)][..], &passes].concat(), &[]));
    assert_eq!(probe(&dir.path().join("out.mp4")).1, 5);
    let r = report(&dir.path().join("out.mp4.report.json"));
    let passes = r["passes"].as_array().unwrap();
    let order = |p: &serde_json::Value| -> Vec<u64> {
        p["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["index"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(passes.len(), 2);
    assert_eq!(
        (passes[0]["pass"].as_u64(), passes[0]["direction"].as_str()),
        (Some(2), Some("backward"))
    );
    assert_eq!(order(&passes[0]), [4, 3, 2, 1, 0]);
    assert_eq!(order(&passes[1]), [0, 1, 2, 3, 4]);
    // Pass 1 had no temporal loss (it comes in from pass 2); in pass 2
    // every frame is tied to a neighbour (the first it visits to the one
    // on its other side).
    assert!(r["frames"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["losses"]["temporal"] == 0.0));
    let temporal: Vec<f64> = passes[0]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["losses"]["temporal"].as_f64().unwrap())
        .collect();
    assert!(temporal.iter().all(|&t| t > 0.0), "{temporal:?}");
    let work = dir.path().join("out.mp4.work");
    for p in ["pass_2", "pass_3", "content"] {
        assert_eq!(std::fs::read_dir(work.join(p)).unwrap().count(), 5, "{p}");
    }
    assert_ne!(
        std::fs::read(work.join("frame_000002.png")).unwrap(),
        std::fs::read(work.join("pass_3/frame_000002.png")).unwrap(),
        "later passes change the frames"
    );
}

/// `dir/batch.toml`: every pair of `clips` and `styles` (TOML arrays), 2
/// frames each at `size` px into `out/`, SqueezeNet on the CPU.
fn batch_job(dir: &Path, clips: &str, styles: &str, size: u32) -> PathBuf {
    let text = format!(
        r#"
[batch]
clips = {clips}
styles = {styles}
output = "out/{{clip}}_{{style}}.mp4"
[input]
size = {size}
max_frames = 2
[model]
name = "squeezenet"
[optimizer]
first_frame_iterations = 3
frame_iterations = 2
[run]
device = "cpu"
"#
    );
    let job = dir.join("batch.toml");
    std::fs::write(&job, text).unwrap();
    job
}

#[test]
fn a_batch_runs_every_pair_skips_finished_ones_and_names_failures() {
    let dir = tempfile::tempdir().unwrap();
    let style2 = common::data("golden_gate.jpg");
    let clips = format!(
        r#"["{a}", "missing.mp4", "{b}"]"#,
        a = common::data("carphone.mp4").display(),
        b = common::data("bigbuckbunny_2s.mp4").display(),
    );
    let s1 = common::data("starry_night.jpg");
    let styles = format!(
        r#"["{s1}", ["{s1}", "{s2}"]]"#,
        s1 = s1.display(),
        s2 = style2.display()
    );
    let job = batch_job(dir.path(), &clips, &styles, 64);
    let out = vstyle(&["run", s(&job)], &[]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "one line per failed entry and a summary: {err}"
    );
    assert!(
        lines[0].contains("batch.toml: batch entry 2 (missing_starry_night)")
            && lines[0].contains("missing.mp4"),
        "{err}"
    );
    assert!(
        lines[2].contains(
            "2 of 6 batch entries failed: missing_starry_night, missing_starry_night+golden_gate"
        ),
        "{err}"
    );
    for name in [
        "carphone_starry_night",
        "carphone_starry_night+golden_gate",
        "bigbuckbunny_2s_starry_night",
    ] {
        let (_, n) = probe(&dir.path().join(format!("out/{name}.mp4")));
        assert_eq!(n, 2, "{name}");
    }
    // A second run skips what is done and fails again only on the missing clip.
    let out = vstyle(&["run", s(&job)], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("already done, skipped").count(),
        4,
        "{stdout}"
    );
    assert_eq!(out.status.code(), Some(2));

    let st = Command::new(common::bin())
        .args(["status", s(&job), "--json"])
        .output()
        .unwrap();
    let js: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    let states: Vec<&str> = js
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["done", "done", "error", "error", "done", "done"]);
}

#[test]
fn a_batch_output_left_empty_is_made_again_and_a_complete_one_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let clips = format!(r#"["{}"]"#, common::data("carphone.mp4").display());
    let styles = format!(r#"["{}"]"#, common::data("starry_night.jpg").display());
    let job = batch_job(dir.path(), &clips, &styles, 48);
    let video = dir.path().join("out/carphone_starry_night.mp4");
    let run = || {
        let out = vstyle(&["run", s(&job)], &[]);
        ok(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run().contains("carphone_starry_night: done"));
    let made = std::fs::read(&video).unwrap();
    let sealed = &report(&dir.path().join("out/carphone_starry_night.mp4.report.json"))["complete"];
    assert_eq!(sealed["size"], made.len(), "{sealed}");
    assert!(run().contains("carphone_starry_night: already done, skipped"));

    // Emptied after it was published (a crash, a full disk): made again,
    // from the frames in the work directory.
    std::fs::write(&video, b"").unwrap();
    let stdout = run();
    assert!(stdout.contains("carphone_starry_night: done"), "{stdout}");
    assert_eq!(probe(&video).1, 2);
    // Cut short: the same.
    let made = std::fs::read(&video).unwrap();
    std::fs::write(&video, &made[..made.len() / 2]).unwrap();
    assert!(run().contains("carphone_starry_night: done"));
    assert_eq!(probe(&video).1, 2);
    assert!(run().contains("already done, skipped"));
}
