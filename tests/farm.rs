//! Scale-out end to end through the binary: a clip in shards and its join,
//! local workers, multi-pass, batch jobs and `vstyle status`, on shipped
//! clips at small size with few iterations.
mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::media::{json as report, probe};
use common::run::{command, one_line_error, vstyle_env};
use common::steady::Steadiness;
use common::{fails, s, stdout, succeeds, vstyle, TinyJob};

/// A job file in `dir` for `frames` frames of `clip`; warm frames run
/// exactly their iterations.
fn job_file(dir: &Path, clip: &str, frames: usize) -> PathBuf {
    TinyJob::new(clip, frames).no_style_hold().write(dir)
}

/// What `vstyle status` prints for `job`, as a table or JSON.
fn status(job: &Path, json: bool) -> String {
    let mut args = vec!["status", s(job)];
    if json {
        args.push("--json");
    }
    succeeds(&vstyle(&args))
}

/// 12 frames of a clip with audio in 3 even shards (seams at 4 and 8),
/// repaired in windows of 2 frames each side with 2 passes.
fn twelve_frames_in_three_shards(dir: &Path) -> PathBuf {
    TinyJob::new("bigbuckbunny_2s.mp4", 12)
        .no_style_hold()
        .seams(2, 2)
        .write(dir)
}

#[test]
fn a_clip_in_shards_joins_with_its_rate_audio_and_repaired_seams() {
    let dir = tempfile::tempdir().unwrap();
    let job = twelve_frames_in_three_shards(dir.path());
    // Shard 1 takes its index from Slurm's variable, shard 2 from Kubernetes'.
    succeeds(&vstyle(&["run", s(&job), "--shard", "0/3", "--quiet"]));
    succeeds(&vstyle_env(
        &["run", s(&job), "--shard", "3", "--quiet"],
        &[("SLURM_ARRAY_TASK_ID", "1")],
    ));
    succeeds(&vstyle_env(
        &["run", s(&job), "--shard", "3", "--quiet"],
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

    // The join holds its seam windows to the memory budget first.
    let args = ["join", s(&job), "--quiet", "--memory-limit", "1MiB"];
    fails(&args, &["needs about", "limit of 1 MiB"]);
    assert!(!dir.path().join("out.mp4").exists());
    succeeds(&vstyle(&["join", s(&job), "--quiet"]));
    let (info, count) = probe(&dir.path().join("out.mp4"));
    assert_eq!(count, 12);
    assert_eq!(info.frame_rate, (25, 1));
    assert!(info.has_audio, "the input's audio is kept");
    let joined = report(&dir.path().join("out.mp4.report.json"));
    assert!(joined["memory"]["estimate"].as_u64() > Some(0), "{joined}");
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
    succeeds(&vstyle(&["join", s(&job), "--quiet"]));
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
    succeeds(&vstyle(&["run", s(&job), "--shard", "0/3", "--quiet"]));
    succeeds(&vstyle(&["run", s(&job), "--shard", "1/3", "--quiet"]));
    let e = fails(&["join", s(&job), "--seam", "0/2", "--quiet"], &[]);
    assert!(
        e.contains("shards 2/3 (0 of 4 frames) are not finished"),
        "{e}"
    );
    succeeds(&vstyle(&["run", s(&job), "--shard", "2/3", "--quiet"]));
    for (seam, want) in [
        ("0/3", "the clip's 3 shards meet at 2 seams (give I/2)"),
        (
            "2/2",
            "--seam 2/2: index 2 is out of range: seams are numbered 0..=1",
        ),
        ("2", "SLURM_ARRAY_TASK_ID"),
    ] {
        let e = fails(&["join", s(&job), "--seam", seam, "--quiet"], &[]);
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
        command()
            .args(["join", s(&job), "--quiet"])
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = task(&["--seam", "2"], &[("SLURM_ARRAY_TASK_ID", "0")]);
    let second = task(&["--seam", "1/2"], &[]);
    let outs = [first, second].map(|t| t.wait_with_output().unwrap());
    outs.iter().for_each(|o| {
        succeeds(o);
    });
    let said = stdout;
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
    let again = vstyle(&["join", s(&job), "--seam", "1/2", "--quiet"]);
    succeeds(&again);
    assert!(said(&again).contains("repaired before"));

    // The join finds both windows done, keeps their passes' reports and encodes.
    succeeds(&vstyle(&["join", s(&job), "--quiet"]));
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
    let job = job_file(dir.path(), "carphone.mp4", 9);
    succeeds(&vstyle(&["run", s(&job), "--shard", "1/3", "--quiet"]));
    let e = fails(&["join", s(&job), "--quiet"], &[]);
    assert!(
        e.contains("shards 0/3 (0 of 3 frames), 2/3 (0 of 3 frames) are not finished"),
        "{e}"
    );
    assert!(!dir.path().join("out.mp4").exists());

    let e = fails(&["run", s(&job), "--shard", "3/3", "--quiet"], &[]);
    assert!(e.contains("--shard 3/3: index 3 is out of range"), "{e}");
    let e = fails(&["run", s(&job), "--shard", "3", "--quiet"], &[]);
    assert!(e.contains("SLURM_ARRAY_TASK_ID"), "{e}");
    let e = fails(&["run", s(&job), "--shard", "0/2", "--quiet"], &[]);
    assert!(
        e.contains("split into 3 shards") && e.contains("out.mp4.work"),
        "{e}"
    );
    let e = fails(&["run", s(&job), "--quiet"], &[]);
    assert!(e.contains("run each with --shard I/3"), "{e}");
    let e = fails(&["run", s(&job), "--shard", "0/20", "--quiet"], &[]);
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
    let e = fails(&["run", s(&job), "--shard", "0/3", "--quiet"], &[]);
    assert!(e.contains("in use by process 1"), "{e}");

    // A lock that cannot be read is refused, not taken for abandoned.
    std::fs::write(work.join("lock.shard-0-of-3"), "garbage").unwrap();
    let e = fails(&["run", s(&job), "--shard", "0/3", "--quiet"], &[]);
    assert!(
        e.contains("lock.shard-0-of-3: cannot read this lock file") && e.contains("delete it"),
        "{e}"
    );

    // A lock from another node stands while its heartbeat is fresh, even
    // against a rerun of the same Slurm task; once stale it is taken over.
    let lock = work.join("lock.shard-2-of-3");
    std::fs::write(&lock, "render-node-9 4242 slurm=99_2").unwrap();
    let e = fails(&["run", s(&job), "--shard", "2/3", "--quiet"], &[]);
    assert!(e.contains("process 4242 on render-node-9"), "{e}");
    // A rerun of the same Slurm task (a requeue) waits for it to go
    // silent, saying so; a heartbeat meanwhile shows it alive: it stops.
    let same_task = [("SLURM_ARRAY_JOB_ID", "99"), ("SLURM_ARRAY_TASK_ID", "2")];
    let mut rerun = command()
        .args(["run", s(&job), "--shard", "3", "--quiet"])
        .envs(same_task)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(rerun.stderr.take().unwrap());
    let mut waiting = String::new();
    err.read_line(&mut waiting).unwrap();
    assert!(
        waiting.contains("lock.shard-2-of-3: waiting for render-node-9 4242 slurm=99_2 (this Slurm task's earlier run)"),
        "{waiting}"
    );
    let beat = std::fs::File::options().append(true).open(&lock).unwrap();
    beat.set_modified(SystemTime::now() + Duration::from_secs(1))
        .unwrap();
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    assert_eq!(rerun.wait().unwrap().code(), Some(2), "{rest}");
    assert_eq!(rest.lines().count(), 1, "one line: {rest}");
    assert!(
        rest.contains("process 4242 on render-node-9 (Slurm task 99_2)"),
        "{rest}"
    );
    let silent = SystemTime::now() - Duration::from_secs(301);
    let file = std::fs::File::options().append(true).open(&lock).unwrap();
    file.set_modified(silent).unwrap();
    succeeds(&vstyle_env(
        &["run", s(&job), "--shard", "3", "--quiet"],
        &same_task,
    ));
    assert!(!lock.exists(), "released after the run");
}

/// `SLURM_JOB_ID=42 vstyle run job.toml` started twice on one node: the
/// second stops at once with one line naming the first, which finishes as
/// if alone.
#[test]
fn a_second_run_in_the_same_slurm_job_stops_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "carphone.mp4", 6);
    let mut first = command()
        .args(["run", s(&job), "--quiet"])
        .env("SLURM_JOB_ID", "42")
        .env_remove("SLURM_ARRAY_JOB_ID")
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
    let signal = |sig: &str| succeeds(&Command::new("kill").args([sig, &pid]).output().unwrap());
    signal("-STOP");
    let second = vstyle_env(&["run", s(&job), "--quiet"], &[("SLURM_JOB_ID", "42")]);
    signal("-CONT");
    let e = one_line_error(&second, &[], "the second run");
    let named = format!("in use by process {pid} on {} (Slurm task 42)", hostname());
    assert!(e.contains(&named) && e.contains("out.mp4.work"), "{e}");
    succeeds(&first.wait_with_output().unwrap());
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
    let job = TinyJob::new("carphone.mp4", 8)
        .no_style_hold()
        .set("shards.seam_window", 1)
        .set("shards.seam_passes", 1)
        .write(dir.path());
    let status = |json: bool| status(&job, json);
    assert!(status(false).contains("0/8  pending"), "{}", status(false));
    succeeds(&vstyle(&["run", s(&job), "--shard", "0/2", "--quiet"]));
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
    succeeds(&vstyle(&["run", s(&job), "--workers", "2", "--quiet"]));
    assert_eq!(probe(&dir.path().join("out.mp4")).1, 8);
    let js: serde_json::Value = serde_json::from_str(&status(true)).unwrap();
    assert_eq!(js[0]["state"], "done");
    assert_eq!(js[0]["done"], 8);
}

/// Issue 28's goals with local workers: without the seam repair this job
/// is 1.36x one run's warping error, its seams 2.1x and 2.0x.
#[test]
fn workers_shard_a_clip_as_steadily_as_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let clip = common::data("bigbuckbunny_2s.mp4");
    let job = TinyJob::new("bigbuckbunny_2s.mp4", 12)
        .iterations(3, 2)
        .write(dir.path());
    let args = ["run", s(&job), "--shards", "3", "--workers", "3", "--quiet"];
    succeeds(&vstyle(&args));
    let out = dir.path().join("out.mp4");
    Steadiness::measure(&job, &out, &clip, 12).assert_goals("3 shards on 3 local workers");
}

#[test]
fn shards_follow_the_calm_cuts_the_work_directory_records() {
    let dir = tempfile::tempdir().unwrap();
    let job = TinyJob::new("carphone.mp4", 20)
        .no_style_hold()
        .seams(1, 1)
        .set("shards.cut_search", 0.4)
        .write(dir.path());
    succeeds(&vstyle(&["run", s(&job), "--shard", "0/2", "--quiet"]));
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
    let set = ["--set", "shards.cut_search=0", "--quiet"];
    succeeds(&vstyle(
        &[&["run", s(&job), "--shard", "1/2"][..], &set].concat(),
    ));
    assert_eq!(indices(1), (cut..20).collect::<Vec<_>>());
    let table = stdout(&vstyle(&["status", s(&job)]));
    let (a, b) = (cut, 20 - cut);
    assert!(
        table.contains(&format!("{a}/{a}  shard 0/2"))
            && table.contains(&format!("{b}/{b}  shard 1/2")),
        "{table}"
    );
    succeeds(&vstyle(&["join", s(&job), "--quiet"]));
    let r = report(&dir.path().join("out.mp4.report.json"));
    assert_eq!(r["seams"][0]["seam"].as_u64(), Some(cut), "{}", r["seams"]);
}

#[test]
fn later_passes_alternate_direction_and_make_the_video() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path(), "carphone.mp4", 5);
    let passes = [
        "--set",
        "optimizer.passes=3",
        "--set",
        "optimizer.temporal_from_pass=2",
    ];
    succeeds(&vstyle(
        &[&["run", s(&job), "--quiet"][..], &passes].concat(),
    ));
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
/// frames each at `size` px into `out/`.
fn batch_job(dir: &Path, clips: &str, styles: &str, size: u32) -> PathBuf {
    TinyJob::batch(clips, styles, 2)
        .size(size)
        .iterations(3, 2)
        .unset("run.print_every")
        .write(dir)
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
    let out = vstyle(&["run", s(&job), "--quiet"]);
    let err = common::stderr(&out);
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
    let out = vstyle(&["run", s(&job), "--quiet"]);
    let said = stdout(&out);
    assert_eq!(said.matches("already done, skipped").count(), 4, "{said}");
    assert_eq!(out.status.code(), Some(2));

    let st = vstyle(&["status", s(&job), "--json"]);
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
    let run = || succeeds(&vstyle(&["run", s(&job), "--quiet"]));
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
