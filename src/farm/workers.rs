//! `vstyle run --workers K`: one machine as a small render farm. The clip
//! is split into shards and K worker processes (this same executable with
//! `--shard I/N`) run them at a time, each on its device; on a CPU the
//! cores are split between them. Processes rather than threads: each
//! worker is exactly what a scheduler would start, with its own lock,
//! libtorch thread pool and crash boundary.
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crate::job::Shard;

/// What the workers run.
#[derive(Debug, Clone)]
pub struct Workers {
    /// The vstyle executable.
    pub exe: PathBuf,
    pub job: PathBuf,
    /// The caller's `--set` overrides, passed on.
    pub sets: Vec<String>,
    /// At most this many at a time.
    pub workers: usize,
    pub shards: usize,
    /// Shared round-robin; empty: the job's own device.
    pub devices: Vec<String>,
    /// CPU threads each worker's libtorch may use (0 = its default).
    pub threads: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("cannot start {exe}: {message}")]
    Spawn { exe: String, message: String },
    #[error("shards {list} failed (their finished frames are kept; run again to resume)")]
    Failed { list: String },
    #[error("interrupted; the workers saved their finished frames (run again to resume)")]
    Interrupted,
}

/// How one worker ended.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub shard: Shard,
    pub code: Option<i32>,
}

impl Workers {
    fn command(&self, shard: Shard) -> Command {
        let mut c = Command::new(&self.exe);
        c.arg("run")
            .arg(&self.job)
            .arg("--shard")
            .arg(shard.to_string())
            .arg("--quiet");
        for s in &self.sets {
            c.arg("--set").arg(s);
        }
        if !self.devices.is_empty() {
            let d = &self.devices[shard.index % self.devices.len()];
            c.arg("--set").arg(format!("run.device={d}"));
        }
        if self.threads > 0 {
            c.arg("--set").arg(format!("run.threads={}", self.threads));
        }
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        // Their own process group: a Ctrl-C on the terminal reaches only
        // this process, which passes one TERM on to each worker.
        c.process_group(0);
        c
    }

    /// Runs every shard, `workers` at a time; each output line goes to
    /// `on_line` prefixed with its shard. Once `stop` is set, each running
    /// worker gets a TERM (it saves its finished frames and exits 130).
    pub fn run(
        &self,
        stop: &AtomicBool,
        on_line: impl Fn(&str) + Sync,
    ) -> Result<Vec<Exit>, WorkerError> {
        let mut exits = Vec::new();
        let shards: Vec<Shard> = Shard::all(self.shards).collect();
        for wave in shards.chunks(self.workers.max(1)) {
            if stop.load(Ordering::SeqCst) {
                return Err(WorkerError::Interrupted);
            }
            let children = wave
                .iter()
                .map(|&s| self.spawn(s))
                .collect::<Result<Vec<_>, _>>()?;
            let pids: Vec<u32> = children.iter().map(|(_, c)| c.id()).collect();
            let alive: Vec<AtomicBool> = pids.iter().map(|_| AtomicBool::new(true)).collect();
            thread::scope(|scope| {
                scope.spawn(|| pass_on_stop(&pids, &alive, stop));
                let handles: Vec<_> = children
                    .into_iter()
                    .zip(&alive)
                    .map(|((shard, child), alive)| {
                        let on_line = &on_line;
                        scope.spawn(move || {
                            let exit = wait_relaying(shard, child, on_line);
                            alive.store(false, Ordering::SeqCst);
                            exit
                        })
                    })
                    .collect();
                for h in handles {
                    exits.push(h.join().expect("a relay thread does not panic"));
                }
            });
            if exits.iter().any(|e| e.code == Some(130)) {
                return Err(WorkerError::Interrupted);
            }
        }
        let failed: Vec<String> = exits
            .iter()
            .filter(|e| e.code != Some(0))
            .map(|e| match e.code {
                Some(c) => format!("{} (exit {c})", e.shard),
                None => format!("{} (killed)", e.shard),
            })
            .collect();
        if failed.is_empty() {
            Ok(exits)
        } else {
            Err(WorkerError::Failed {
                list: failed.join(", "),
            })
        }
    }

    fn spawn(&self, shard: Shard) -> Result<(Shard, Child), WorkerError> {
        let child = self
            .command(shard)
            .spawn()
            .map_err(|e| WorkerError::Spawn {
                exe: self.exe.display().to_string(),
                message: e.to_string(),
            })?;
        Ok((shard, child))
    }
}

/// Sends TERM to the running workers once `stop` is set; returns when
/// none is running.
fn pass_on_stop(pids: &[u32], alive: &[AtomicBool], stop: &AtomicBool) {
    let mut sent = false;
    while alive.iter().any(|a| a.load(Ordering::SeqCst)) {
        if stop.load(Ordering::SeqCst) && !sent {
            for (&pid, a) in pids.iter().zip(alive) {
                if a.load(Ordering::SeqCst) {
                    // SAFETY: kill(2) only sends a signal.
                    unsafe {
                        libc::kill(pid as libc::pid_t, libc::SIGTERM);
                    }
                }
            }
            sent = true;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Relays a worker's output lines, then waits for it.
fn wait_relaying(shard: Shard, mut child: Child, on_line: &(impl Fn(&str) + Sync)) -> Exit {
    let out = child.stdout.take();
    let err = child.stderr.take();
    thread::scope(|scope| {
        if let Some(o) = out {
            scope.spawn(move || relay(shard, o, on_line));
        }
        if let Some(e) = err {
            scope.spawn(move || relay(shard, e, on_line));
        }
    });
    let code = child.wait().ok().and_then(|s| s.code());
    Exit { shard, code }
}

fn relay(shard: Shard, stream: impl std::io::Read, on_line: &(impl Fn(&str) + Sync)) {
    for line in BufReader::new(stream).lines().map_while(Result::ok) {
        on_line(&format!("[shard {shard}] {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_go_round_robin_and_sets_pass_through() {
        let w = Workers {
            exe: "vstyle".into(),
            job: "job.toml".into(),
            sets: vec!["loss.tv_weight=0".into()],
            workers: 2,
            shards: 4,
            devices: vec!["cuda:0".into(), "cuda:1".into()],
            threads: 0,
        };
        let args = |i| {
            let c = w.command(Shard { index: i, count: 4 });
            c.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            args(3),
            "run job.toml --shard 3/4 --quiet --set loss.tv_weight=0 --set run.device=cuda:1"
        );
        assert!(args(2).ends_with("run.device=cuda:0"));
    }

    #[test]
    fn a_failing_worker_is_named_with_its_exit_code() {
        // `false` stands in for a worker that fails at once.
        let w = Workers {
            exe: "false".into(),
            job: "job.toml".into(),
            sets: Vec::new(),
            workers: 2,
            shards: 3,
            devices: Vec::new(),
            threads: 1,
        };
        let e = w
            .run(&AtomicBool::new(false), |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("0/3 (exit 1), 1/3 (exit 1), 2/3 (exit 1)"),
            "{e}"
        );
    }
}
