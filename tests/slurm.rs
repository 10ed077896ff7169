//! The Slurm render farm end to end: a one-node cluster on this machine
//! (`scripts/slurm/cluster.sh`) runs `vstyle slurm JOB --shards 3 --submit`,
//! that is three array tasks and then the join job, and the joined video
//! must hold the whole clip: its frames, frame rate and audio, and a report.
//!
//! Needs root and apt (`scripts/slurm/install.sh` installs Slurm and MUNGE).
//! Without them the test fails; `VSTYLE_SKIP_SLURM=1` skips it instead.
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::media::{json, probe};
use common::steady::Steadiness;
use common::TinyJob;

/// Longest wait for the jobs to leave the queue.
const DEADLINE: Duration = Duration::from_secs(240);

/// Said on stderr directly: libtest captures `eprintln!` of passing tests.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn script(name: &str) -> PathBuf {
    common::repo().join("scripts/slurm").join(name)
}

/// What a command printed, stdout then stderr: parsed (`scontrol`) as well
/// as shown.
fn text(out: &Output) -> String {
    format!("{}{}", common::stdout(out), common::stderr(out))
}

/// The one-node cluster; stopped on drop, so also when an assertion fails.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
    running: bool,
}

impl Cluster {
    fn start(dir: &Path) -> Result<Self, String> {
        let out = Command::new("bash")
            .arg(script("cluster.sh"))
            .arg("start")
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run cluster.sh: {e}"))?;
        let mut cluster = Self {
            dir: dir.to_path_buf(),
            conf: dir.join("slurm.conf"),
            running: true,
        };
        if !out.status.success() {
            cluster.running = false;
            return Err(format!("cluster.sh start failed:\n{}", text(&out)));
        }
        Ok(cluster)
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        match self.command(program).args(args).output() {
            Ok(out) => text(&out),
            Err(e) => format!("cannot run {program}: {e}"),
        }
    }

    /// The daemons' pids, from the pid files `cluster.sh` had them write.
    fn daemon_pids(&self) -> Vec<(String, u32)> {
        ["munged", "slurmctld", "slurmd"]
            .iter()
            .filter_map(|name| {
                let file = self.dir.join("run").join(format!("{name}.pid"));
                let pid = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
                Some((name.to_string(), pid))
            })
            .collect()
    }

    fn stop(&mut self) -> String {
        if !self.running {
            return String::new();
        }
        self.running = false;
        match Command::new("bash")
            .arg(script("cluster.sh"))
            .arg("stop")
            .arg(&self.dir)
            .output()
        {
            Ok(out) => text(&out),
            Err(e) => format!("cannot run cluster.sh stop: {e}"),
        }
    }

    /// The controller's and the node daemon's logs, last lines.
    fn daemon_logs(&self) -> String {
        let mut s = String::new();
        for name in ["slurmctld.log", "slurmd.log"] {
            let path = self.dir.join("log").join(name);
            let body = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = body.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            s += &format!("--- {} (last 30 lines)\n{tail}\n", path.display());
        }
        s
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let out = self.stop();
        if !out.is_empty() {
            say(&out);
        }
    }
}

/// Every file in the jobs' log directory, then the daemons' logs.
fn all_logs(cluster: &Cluster, log_dir: &Path) -> String {
    let mut s = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(log_dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    if files.is_empty() {
        s += &format!("(no job logs in {})\n", log_dir.display());
    }
    for f in files {
        let body = std::fs::read_to_string(&f).unwrap_or_default();
        s += &format!("--- {}\n{body}\n", f.display());
    }
    s + &cluster.daemon_logs()
}

fn alive(pid: u32, name: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name)
}

/// `JobState` and `ExitCode` of every job (or array task) `scontrol` shows.
fn job_states(cluster: &Cluster, id: u64) -> Vec<(String, String, String)> {
    let shown = cluster.run("scontrol", &["-o", "show", "job", &id.to_string()]);
    let field = |line: &str, key: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .unwrap_or("?")
            .to_string()
    };
    shown
        .lines()
        .filter(|l| l.starts_with("JobId="))
        .map(|l| {
            (
                field(l, "JobId="),
                field(l, "JobState="),
                field(l, "ExitCode="),
            )
        })
        .collect()
}

fn write_job(dir: &Path) -> PathBuf {
    TinyJob::new("bigbuckbunny_2s.mp4", 12)
        .iterations(3, 2)
        .unset("run.print_every")
        .output(dir.join("out.mp4"))
        .write(dir)
}

/// The ids in "submitted array job N (...), seam job S (...) and join job M ...".
fn submitted_ids(stdout: &str) -> Option<(u64, u64, u64)> {
    let after = |key: &str| -> Option<u64> {
        let rest = &stdout[stdout.find(key)? + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    Some((
        after("array job ")?,
        after("seam job ")?,
        after("join job ")?,
    ))
}

#[test]
fn a_job_sharded_over_a_slurm_array_joins_into_the_whole_clip() {
    if std::env::var("VSTYLE_SKIP_SLURM").as_deref() == Ok("1") {
        say("slurm: skipped (VSTYLE_SKIP_SLURM=1): the Slurm end-to-end test did not run");
        return;
    }
    let install = Command::new("bash")
        .arg(script("install.sh"))
        .output()
        .expect("cannot run bash");
    assert!(
        install.status.success(),
        "cannot install Slurm (needs root and apt; set VSTYLE_SKIP_SLURM=1 to skip this test):\n{}",
        text(&install)
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(&tmp.path().join("cluster")).unwrap_or_else(|e| {
        panic!("cannot start a Slurm cluster (set VSTYLE_SKIP_SLURM=1 to skip this test): {e}")
    });

    let job = write_job(tmp.path());
    let cfg = vstyle::config::JobConfig::assemble(Some(&job), Vec::new(), &[]).unwrap();
    let outputs = vstyle::job::Outputs::of(&cfg).unwrap();
    let log_dir = outputs.work_dir.join("slurm/logs");

    let started = Instant::now();
    let out = cluster
        .command(common::bin().to_str().unwrap())
        .arg("slurm")
        .arg(&job)
        .args(["--shards", "3", "--submit"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "vstyle slurm failed:\n{}", text(&out));
    let (array, seams, join) = submitted_ids(&stdout)
        .unwrap_or_else(|| panic!("no job ids in the output of vstyle slurm:\n{stdout}"));
    say(&format!(
        "slurm: array job {array}, seam job {seams}, join job {join}"
    ));

    // Until both jobs have left the queue (the join is cancelled when a shard fails).
    loop {
        let queue = match cluster
            .command("squeue")
            .args(["-h", "-o", "%i %T %r"])
            .output()
        {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
            Ok(o) => format!("squeue failed: {}", text(&o)),
            Err(e) => format!("cannot run squeue: {e}"),
        };
        if queue.trim().is_empty() {
            break;
        }
        if started.elapsed() > DEADLINE {
            panic!(
                "the jobs were still queued after {DEADLINE:?}:\n{queue}\n{}",
                all_logs(&cluster, &log_dir)
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    say(&format!(
        "slurm: the queue emptied after {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    let tasks = job_states(&cluster, array);
    let seam_tasks = job_states(&cluster, seams);
    let joined = job_states(&cluster, join);

    // The daemons that cluster.sh started are gone once it stops them.
    let pids = cluster.daemon_pids();
    assert_eq!(pids.len(), 3, "pid files: {pids:?}");
    let stopped = cluster.stop();
    let left: Vec<_> = pids.iter().filter(|(n, p)| alive(*p, n)).collect();
    assert!(
        left.is_empty(),
        "still running after stop: {left:?}\n{stopped}"
    );

    let ok = |states: &[(String, String, String)]| {
        states
            .iter()
            .all(|(_, state, code)| state == "COMPLETED" && code == "0:0")
    };
    assert!(
        tasks.len() == 3
            && ok(&tasks)
            && seam_tasks.len() == 2
            && ok(&seam_tasks)
            && joined.len() == 1
            && ok(&joined),
        "not every job completed: array tasks {tasks:?}, seam tasks {seam_tasks:?}, join {joined:?}\n{}",
        all_logs(&cluster, &log_dir)
    );

    let video = outputs.video.clone().unwrap();
    assert!(video.is_file(), "no joined video at {}", video.display());
    let (info, frames) = probe(&video);
    assert_eq!(frames, 12, "frames in {}", video.display());
    assert_eq!(info.frame_rate, (25, 1));
    assert!(info.has_audio, "the AAC track was not kept");
    let report = json(&outputs.report);
    assert_eq!(report["frames"].as_array().map(Vec::len), Some(12));
    // The seam tasks repaired both windows; the join found them done.
    let seams = report["seams"].as_array().unwrap();
    assert_eq!(seams.len(), 2, "{seams:?}");
    for seam in seams {
        assert_eq!(seam["resumed"], true, "{seam}");
        assert!(!seam["passes"].as_array().unwrap().is_empty(), "{seam}");
    }
    let clip = common::data("bigbuckbunny_2s.mp4");
    Steadiness::measure(&job, &video, &clip, 12).assert_goals("3 shards on a Slurm array");
}
