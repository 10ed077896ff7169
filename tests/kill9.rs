//! kill -9: a video job killed with SIGKILL (no handler runs, nothing is
//! flushed) at several points - as it starts, while a frame is optimised,
//! right after a frame is saved, as the last frame goes to the encoder, after
//! the video is renamed into place - and then run again with the same
//! command until it succeeds, gives the same video as a run never
//! interrupted, and leaves no `.part` or temporary file behind.
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::media::{decode, json};
use common::run::command;
use common::{fault, job, TinyJob};

const FRAMES: usize = 8;
/// Longest a single run may take before it counts as a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// VGG on a few layers with the temporal loss, every frame its full budget
/// (frame times are steady), into `dir/out.mp4`.
fn job_file(dir: &Path) -> PathBuf {
    let layers = |names: &[&str]| format!("{names:?}");
    TinyJob::new("carphone.mp4", FRAMES)
        .unset("model.name")
        .set(
            "model.style_layers",
            layers(&["relu1_1", "relu2_1", "relu3_1"]),
        )
        .set("model.content_layers", layers(&["relu3_1"]))
        .temporal(1e3)
        .iterations(12, 8)
        .set("optimizer.stop_tolerance", "0.0")
        .unset("run.print_every")
        .set("run.frame_init", job::quoted("prev_warped"))
        .output(dir.join("out.mp4"))
        .write(dir)
}

/// A running `vstyle run`, its stderr collected line by line as it comes.
struct Live {
    child: Child,
    stderr: Arc<Mutex<String>>,
    started: Instant,
}

impl Live {
    fn start(job: &Path) -> Self {
        Self::run(job, &[])
    }

    /// `vstyle run JOB ARGS...`.
    fn run(job: &Path, args: &[&str]) -> Self {
        let mut child = command()
            .arg("run")
            .arg(job)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vstyle");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Self {
            child,
            stderr,
            started: Instant::now(),
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Polls until `ready`; `false` when the process ended first.
    fn wait_until(&mut self, ready: impl Fn(&Self) -> bool) -> bool {
        loop {
            if ready(self) {
                return true;
            }
            if self.child.try_wait().unwrap().is_some() {
                return false;
            }
            assert!(
                self.started.elapsed() < RUN_DEADLINE,
                "hang: no progress in {RUN_DEADLINE:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGKILL; `true` when the process was still running.
    fn kill9(&mut self) -> bool {
        let running = self.child.try_wait().unwrap().is_none();
        // `Child::kill` sends SIGKILL on Unix.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        running
    }

    /// Waits for the end; the exit code (`None`: a signal).
    fn finish(mut self) -> (Option<i32>, String) {
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if self.started.elapsed() > RUN_DEADLINE {
                self.child.kill().unwrap();
                panic!("hang: killed after {RUN_DEADLINE:?}:\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the reader take the last lines.
        std::thread::sleep(Duration::from_millis(100));
        (status.code(), self.stderr())
    }
}

fn frame_file(dir: &Path, i: usize) -> PathBuf {
    dir.join("out.mp4.work").join(format!("frame_{i:06}.png"))
}

fn frames_done(dir: &Path) -> usize {
    (0..FRAMES).filter(|&i| frame_file(dir, i).exists()).count()
}

fn work_images(dir: &Path) -> Vec<image::RgbImage> {
    (0..FRAMES)
        .map(|i| image::open(frame_file(dir, i)).unwrap().to_rgb8())
        .collect()
}

/// Files a finished job must not leave: the video's `.part` and the
/// temporary files of atomic writes (`.vstyle-*`), beside the output and in
/// the work directory.
fn leftovers(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for d in [dir.to_path_buf(), dir.join("out.mp4.work")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".part") || name.starts_with(".vstyle") || name.starts_with(".tmp") {
                found.push(d.join(name).display().to_string());
            }
        }
    }
    found
}

/// Runs the job again until it exits 0 (at most three times); the stderr of
/// each run that did not succeed goes to `problems`.
fn rerun_to_success(job: &Path, problems: &mut Vec<String>, what: &str) -> bool {
    for attempt in 1..=3 {
        let (code, err) = Live::start(job).finish();
        if code == Some(0) {
            eprintln!("  {what}: rerun {attempt} exited 0");
            return true;
        }
        problems.push(format!(
            "{what}: rerun {attempt} exited {code:?}:\n{}",
            fault::excerpt(&err)
        ));
    }
    false
}

/// Where a kill lands.
struct KillPoint {
    name: &'static str,
    /// The event to wait for: a stderr line or a file appearing.
    after: Event,
    /// Then wait this fraction of a frame's optimisation time.
    delay: f64,
    /// A kill that lands must leave no final video (frames were missing).
    mid_job: bool,
}

enum Event {
    /// The job has started ("stylizing N frames" on stderr): the work
    /// directory is open and the encoder has created `out.mp4.part`.
    Started,
    Frame(usize),
    Video,
}

#[test]
fn a_job_killed_with_sigkill_anywhere_resumes_to_the_same_video() {
    let root = tempfile::tempdir().unwrap();
    let mut problems: Vec<String> = Vec::new();

    // The uninterrupted run.
    let whole = root.path().join("whole");
    std::fs::create_dir_all(&whole).unwrap();
    let (code, err) = Live::start(&job_file(&whole)).finish();
    assert_eq!(code, Some(0), "the uninterrupted run fails:\n{err}");
    let reference = decode(&whole.join("out.mp4")).1;
    assert_eq!(reference.len(), FRAMES);
    let reference_work = work_images(&whole);
    let report = json(&whole.join("out.mp4.report.json"));
    let seconds: Vec<f64> = report["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["seconds"].as_f64().unwrap())
        .collect();
    let first_frame = seconds[0];
    let mut later = seconds[1..].to_vec();
    later.sort_by(f64::total_cmp);
    let frame = later[later.len() / 2];
    eprintln!("reference: frame 0 took {first_frame:.2} s, later frames {frame:.2} s (median)");

    // One job directory, killed again and again.
    let dir = root.path().join("killed");
    std::fs::create_dir_all(&dir).unwrap();
    let job = job_file(&dir);
    let points = [
        KillPoint {
            name: "as it starts (out.mp4.part just created)",
            after: Event::Started,
            delay: 0.0,
            mid_job: true,
        },
        KillPoint {
            name: "while frame 0 is optimised",
            after: Event::Started,
            delay: 0.5 * first_frame / frame,
            mid_job: true,
        },
        KillPoint {
            name: "right after frame 2 is saved",
            after: Event::Frame(2),
            delay: 0.0,
            mid_job: true,
        },
        KillPoint {
            name: "while frame 5 is optimised",
            after: Event::Frame(4),
            delay: 0.5,
            mid_job: true,
        },
        KillPoint {
            name: "as the last frame is saved (encoding, finishing)",
            after: Event::Frame(FRAMES - 1),
            delay: 0.0,
            mid_job: false,
        },
        KillPoint {
            name: "after the video is renamed into place (report)",
            after: Event::Video,
            delay: 0.0,
            mid_job: false,
        },
    ];
    let mut landed = Vec::new();
    for p in &points {
        let before = frames_done(&dir);
        if let Event::Frame(i) = p.after {
            assert!(
                !frame_file(&dir, i).exists(),
                "{}: frame {i} is done already; the kill points are out of order",
                p.name
            );
        }
        let mut live = Live::start(&job);
        let reached = live.wait_until(|l| match p.after {
            Event::Started => l.stderr().contains("stylizing"),
            Event::Frame(i) => frame_file(&dir, i).exists(),
            Event::Video => dir.join("out.mp4").exists(),
        });
        if reached && p.delay > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(p.delay * frame));
        }
        let killed = reached && live.kill9();
        let after = frames_done(&dir);
        let exists = |p: PathBuf| if p.exists() { "yes" } else { "no" };
        eprintln!(
            "  kill {}: {} after {:.2} s; frames done {before} -> {after}; out.mp4.part: {}, out.mp4: {}",
            p.name,
            if killed {
                "landed"
            } else {
                "missed (the run ended first)"
            },
            live.started.elapsed().as_secs_f64(),
            exists(dir.join("out.mp4.part")),
            exists(dir.join("out.mp4")),
        );
        if !killed {
            let (code, err) = live.finish();
            if code != Some(0) {
                problems.push(format!("{}: the run exited {code:?}:\n{err}", p.name));
            }
            if p.mid_job {
                problems.push(format!("{}: the kill did not land mid-job", p.name));
            }
            continue;
        }
        landed.push(p.name);
        if p.mid_job && dir.join("out.mp4").exists() {
            problems.push(format!(
                "{}: a job killed with {after} of {FRAMES} frames done left a final video",
                p.name
            ));
        }
    }
    assert!(
        landed.len() >= 5,
        "only {} kills landed: {landed:?}",
        landed.len()
    );
    if rerun_to_success(&job, &mut problems, "after the kills") {
        compare(
            &dir,
            &reference,
            &reference_work,
            &mut problems,
            "killed 6 times",
        );
    }

    // SIGKILL inside an atomic write leaves its temporary file (the rename
    // never happens). Made here as such a kill would leave it, at a point
    // that cannot be hit reliably by timing.
    let torn = root.path().join("torn");
    std::fs::create_dir_all(&torn).unwrap();
    let job = job_file(&torn);
    let mut live = Live::start(&job);
    assert!(live.wait_until(|_| frame_file(&torn, 1).exists()));
    assert!(live.kill9(), "the run ended before frame 2");
    let png = std::fs::read(frame_file(&torn, 1)).unwrap();
    std::fs::write(
        torn.join("out.mp4.work/.vstyle-Xk9q2Z"),
        &png[..png.len() / 2],
    )
    .unwrap();
    if rerun_to_success(&job, &mut problems, "after a kill inside a write") {
        compare(
            &torn,
            &reference,
            &reference_work,
            &mut problems,
            "killed inside a write",
        );
    }

    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

fn compare(
    dir: &Path,
    reference: &[image::RgbImage],
    reference_work: &[image::RgbImage],
    problems: &mut Vec<String>,
    what: &str,
) {
    let video = decode(&dir.join("out.mp4")).1;
    if video.len() != reference.len() {
        problems.push(format!(
            "{what}: {} frames, the uninterrupted run has {}",
            video.len(),
            reference.len()
        ));
    } else if let Some(i) = (0..video.len()).find(|&i| video[i] != reference[i]) {
        problems.push(format!(
            "{what}: decoded frame {i} differs from the uninterrupted run's"
        ));
    }
    if work_images(dir) != reference_work {
        problems.push(format!(
            "{what}: the saved frames differ from the uninterrupted run's"
        ));
    }
    let left = leftovers(dir);
    if !left.is_empty() {
        problems.push(format!("{what}: left behind: {left:?}"));
    }
    if !dir.join("out.mp4.report.json").exists() {
        problems.push(format!("{what}: no report"));
    }
}

/// A shard's worker killed with SIGKILL leaves its lock (naming a process
/// that is gone) and its saved frames. The same command, run again with the
/// other shard never started, takes the lock over, loads the saved frames and
/// finishes the shard with the frames an uninterrupted worker makes.
#[test]
fn a_shard_killed_with_sigkill_resumes_on_its_own() {
    let root = tempfile::tempdir().unwrap();
    // Without carried pairs a resume loads every saved frame (with them it
    // replays from the shard's start, which is covered above).
    let args = ["--shard", "1/2", "--set", "optimizer.carry_pairs=false"];
    let shard = FRAMES / 2..FRAMES;
    let whole = root.path().join("whole");
    std::fs::create_dir_all(&whole).unwrap();
    let (code, err) = Live::run(&job_file(&whole), &args).finish();
    assert_eq!(code, Some(0), "the uninterrupted shard fails:\n{err}");

    let dir = root.path().join("killed");
    std::fs::create_dir_all(&dir).unwrap();
    let job = job_file(&dir);
    let mut live = Live::run(&job, &args);
    let second = shard.start + 1;
    assert!(
        live.wait_until(|_| frame_file(&dir, second).exists()),
        "the shard ended before frame {second} was saved:\n{}",
        live.stderr()
    );
    assert!(live.kill9(), "the shard ended before the kill");
    let saved = shard
        .clone()
        .filter(|&i| frame_file(&dir, i).exists())
        .count();
    let lock = dir.join("out.mp4.work/lock.shard-1-of-2");
    assert!(lock.exists(), "the killed worker's lock is gone");

    let (code, err) = Live::run(&job, &args).finish();
    assert_eq!(code, Some(0), "the rerun fails:\n{err}");
    if saved < shard.len() {
        let resumed = format!("resuming after {saved} finished frames");
        assert!(err.contains(&resumed), "no '{resumed}' in:\n{err}");
    }
    assert!(!lock.exists(), "the rerun left its lock");
    for i in 0..FRAMES {
        let (a, b) = (frame_file(&whole, i), frame_file(&dir, i));
        if shard.contains(&i) {
            let same = image::open(&a).unwrap().to_rgb8() == image::open(&b).unwrap().to_rgb8();
            assert!(same, "frame {i} differs from the uninterrupted shard's");
        } else {
            assert!(!b.exists(), "frame {i} belongs to the other shard");
        }
    }
}
