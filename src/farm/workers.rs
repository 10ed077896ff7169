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
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;
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
    #[error("cannot start {exe}")]
    Spawn {
        exe: String,
        #[source]
        source: std::io::Error,
    },
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
    /// The worker process for `shard` in pool slot `slot`.
    fn command(&self, shard: Shard, slot: usize) -> Command {
        let mut c = Command::new(&self.exe);
        c.arg("run")
            .arg(&self.job)
            .arg("--shard")
            .arg(shard.to_string())
            .arg("--quiet");
        for s in &self.sets {
            c.arg("--set").arg(s);
        }
        // By slot, not by shard: a slot's next shard goes to the device its
        // last one freed, so no two workers share one.
        if !self.devices.is_empty() {
            let d = &self.devices[slot % self.devices.len()];
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

    /// Runs every shard, `workers` at a time: each slot takes the next
    /// shard as soon as its last one ends, so shards of unequal length
    /// (calm cuts) keep every slot busy. Each output line goes to `on_line`
    /// prefixed with its shard. Once `stop` is set, each running worker
    /// gets a TERM (it saves its finished frames and exits 130) and no
    /// shard starts.
    pub fn run(
        &self,
        stop: &AtomicBool,
        on_line: impl Fn(&str) + Sync,
    ) -> crate::Result<Vec<Exit>> {
        let slots = self.workers.clamp(1, self.shards.max(1));
        let pool = Pool {
            next: AtomicUsize::new(0),
            running: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            exits: Mutex::new(Vec::new()),
            spawn_error: Mutex::new(None),
        };
        thread::scope(|scope| {
            let busy: Vec<_> = (0..slots)
                .map(|slot| {
                    let (pool, on_line) = (&pool, &on_line);
                    scope.spawn(move || self.serve(slot, pool, stop, on_line))
                })
                .collect();
            pool.pass_on_stop(&busy, stop);
        });
        if let Some(e) = pool.spawn_error.into_inner().expect("no slot panics") {
            return Err(e.into());
        }
        let mut exits = pool.exits.into_inner().expect("no slot panics");
        exits.sort_by_key(|e| e.shard.index);
        if stop.load(Ordering::SeqCst) || exits.iter().any(|e| e.code == Some(130)) {
            return Err(WorkerError::Interrupted.into());
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
            }
            .into())
        }
    }

    /// One slot of the pool: shard after shard until none is left, a
    /// worker was interrupted or one could not start.
    fn serve(&self, slot: usize, pool: &Pool, stop: &AtomicBool, on_line: &(impl Fn(&str) + Sync)) {
        loop {
            let index = pool.next.fetch_add(1, Ordering::SeqCst);
            if index >= self.shards || stop.load(Ordering::SeqCst) || pool.halted() {
                return;
            }
            let shard = Shard {
                index,
                count: self.shards,
            };
            let child = match self.command(shard, slot).spawn() {
                Ok(c) => c,
                Err(e) => {
                    *pool.spawn_error.lock().expect("no slot panics") = Some(WorkerError::Spawn {
                        exe: self.exe.display().to_string(),
                        source: e,
                    });
                    return;
                }
            };
            pool.running[slot].store(child.id(), Ordering::SeqCst);
            let exit = wait_relaying(shard, child, on_line);
            pool.running[slot].store(0, Ordering::SeqCst);
            pool.exits.lock().expect("no slot panics").push(exit);
        }
    }
}

/// What the slots share.
struct Pool {
    /// The next shard to start.
    next: AtomicUsize,
    /// Each slot's running worker (pid; 0: none).
    running: Vec<AtomicU32>,
    exits: Mutex<Vec<Exit>>,
    spawn_error: Mutex<Option<WorkerError>>,
}

impl Pool {
    /// Whether no shard may start: a worker was interrupted or one could
    /// not be started.
    fn halted(&self) -> bool {
        let interrupted = (self.exits.lock().expect("no slot panics"))
            .iter()
            .any(|e| e.code == Some(130));
        interrupted || self.spawn_error.lock().expect("no slot panics").is_some()
    }

    /// Sends TERM to the running workers once `stop` is set; returns when
    /// every slot has ended.
    fn pass_on_stop(&self, slots: &[thread::ScopedJoinHandle<'_, ()>], stop: &AtomicBool) {
        let mut sent = vec![0u32; self.running.len()];
        while slots.iter().any(|s| !s.is_finished()) {
            if stop.load(Ordering::SeqCst) {
                for (running, sent) in self.running.iter().zip(&mut sent) {
                    let pid = running.load(Ordering::SeqCst);
                    if pid != 0 && pid != *sent {
                        // SAFETY: kill(2) only sends a signal.
                        unsafe {
                            libc::kill(pid as libc::pid_t, libc::SIGTERM);
                        }
                        *sent = pid;
                    }
                }
            }
            thread::sleep(Duration::from_millis(100));
        }
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
            let c = w.command(Shard { index: i, count: 4 }, i % 2);
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
    fn a_free_slot_takes_the_next_shard_on_the_device_it_freed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (exe, log) = (dir.path().join("worker.sh"), dir.path().join("log"));
        // $4 is the shard, $7 its device; shard 0 takes a second.
        let script = format!(
            "#!/bin/sh\necho \"start $4 $7\" >> {0}\n[ \"$4\" = 0/3 ] && sleep 1\necho \"end $4\" >> {0}\n",
            log.display()
        );
        std::fs::write(&exe, script).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let w = Workers {
            exe,
            job: "job.toml".into(),
            sets: Vec::new(),
            workers: 2,
            shards: 3,
            devices: vec!["cuda:0".into(), "cuda:1".into()],
            threads: 0,
        };
        assert_eq!(w.run(&AtomicBool::new(false), |_| {}).unwrap().len(), 3);
        let log = std::fs::read_to_string(log).unwrap();
        let at = |line: &str| log.lines().position(|l| l.starts_with(line)).unwrap();
        let device =
            |shard: &str| log.lines().nth(at(&format!("start {shard}"))).unwrap()[10..].to_string();
        assert!(
            at("start 2/3") < at("end 0/3"),
            "shard 2 waited for shard 0:\n{log}"
        );
        assert_eq!(device("2/3"), device("1/3"), "{log}");
        assert_ne!(device("0/3"), device("1/3"), "{log}");
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
