//! One process at a time per work directory (or shard of it): the lock file
//! names the holder (host and pid). A lock whose holder is gone is taken
//! over; a live holder makes a second worker stop with a clear message
//! instead of writing the same frames and video.
//!
//! A holder on this host is checked by its pid. One on another host (a
//! render node sharing the work directory) cannot be, so the holder touches
//! its file every [`HEARTBEAT`]; a file older than [`STALE`] belongs to a
//! node that died or lost the filesystem, and is taken over.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};

/// Who holds a work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// The Slurm task it runs as (`job_task`), if any.
    pub task: Option<String>,
}

/// This process's Slurm array task or job. Slurm never runs one task twice
/// at a time, so a lock left by the same task is from an earlier run of it
/// (requeued, perhaps onto another node).
fn slurm_task() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

impl Holder {
    fn me() -> Self {
        Self {
            host: host_name(),
            pid: std::process::id(),
            task: slurm_task(),
        }
    }

    fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let host = words.next()?.to_string();
        let pid = words.next()?.parse().ok()?;
        let task = words
            .next()
            .and_then(|w| w.strip_prefix("slurm="))
            .map(str::to_string);
        Some(Self { host, pid, task })
    }

    /// An earlier run of the Slurm task this process runs as.
    fn earlier_run_of_me(&self) -> bool {
        self.task.is_some() && self.task == slurm_task() && self.pid != std::process::id()
    }

    /// Whether the holder may still be running: its pid on this host, its
    /// heartbeat (the lock file's age) on another.
    fn alive(&self, age: Duration) -> bool {
        if self.host == host_name() {
            Path::new("/proc").join(self.pid.to_string()).exists()
        } else {
            age < STALE
        }
    }
}

/// How often a holder touches its lock file.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// A lock file from another host untouched this long is taken over.
pub const STALE: Duration = Duration::from_secs(300);

fn age(path: &Path) -> Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.host, self.pid)?;
        match &self.task {
            Some(t) => write!(f, " slurm={t}"),
            None => Ok(()),
        }
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// The live holder of the lock file `dir/name`, if any (for `vstyle status`).
pub fn live_holder(dir: &Path, name: &str) -> Option<Holder> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).ok()?;
    Holder::parse(&text).filter(|h| h.alive(age(&path)))
}

/// A held lock; dropping it stops the heartbeat and releases the directory.
#[derive(Debug)]
pub struct Lock {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    heartbeat: Option<JoinHandle<()>>,
}

/// Touches `path` every [`HEARTBEAT`] until `stop` is set.
fn heartbeat(path: PathBuf, stop: Arc<AtomicBool>) -> Option<JoinHandle<()>> {
    let tick = Duration::from_millis(200);
    let body = move || {
        let mut since = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            since += tick;
            if since >= HEARTBEAT {
                since = Duration::ZERO;
                let touched = std::fs::File::options().append(true).open(&path);
                let _ = touched.and_then(|f| f.set_modified(SystemTime::now()));
            }
        }
    };
    std::thread::Builder::new()
        .name("vstyle-lock".into())
        .spawn(body)
        .ok()
}

impl Lock {
    /// Takes the lock file `dir/name`, or fails naming its live holder.
    pub fn acquire(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let me = Holder::me();
        for _ in 0..3 {
            if create_with(&path, &me.to_string())? {
                let stop = Arc::new(AtomicBool::new(false));
                let heartbeat = heartbeat(path.clone(), stop.clone());
                return Ok(Self {
                    path,
                    stop,
                    heartbeat,
                });
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            match Holder::parse(&text) {
                Some(h) if h.alive(age(&path)) && !h.earlier_run_of_me() => {
                    return Err(Error::WorkDir {
                        dir: dir.to_path_buf(),
                        message: format!(
                            "is in use by process {} on {}; if that worker is gone, delete {}",
                            h.pid,
                            h.host,
                            path.display()
                        ),
                    })
                }
                // The holder is gone (or the file is unreadable): take it over.
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        Err(Error::WorkDir {
            dir: dir.to_path_buf(),
            message: format!(
                "cannot take {}: other workers keep taking it",
                path.display()
            ),
        })
    }
}

/// Creates `path` holding `text`, atomically and only if it does not exist
/// (a hard link of a finished temporary file): false if it exists.
fn create_with(path: &Path, text: &str) -> Result<bool> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let err = |e: std::io::Error| Error::Output {
        file: path.display().to_string(),
        message: e.to_string(),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".vstyle-lock-")
        .tempfile_in(dir)
        .map_err(err)?;
    std::fs::write(tmp.path(), text).map_err(err)?;
    match std::fs::hard_link(tmp.path(), path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(err(e)),
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.heartbeat.take() {
            let _ = h.join();
        }
        let ours = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| Holder::parse(&t))
            .is_some_and(|h| h == Holder::me());
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_holder_keeps_the_directory_and_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let other = Holder {
            host: host_name(),
            pid: 1, // init: always alive
            task: None,
        };
        std::fs::write(dir.path().join("lock"), other.to_string()).unwrap();
        let e = Lock::acquire(dir.path(), "lock").unwrap_err().to_string();
        assert!(
            e.contains("in use by process 1 on") && e.contains("lock"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn a_dead_holders_lock_is_taken_over_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let gone = Holder {
            host: host_name(),
            pid: dead,
            task: None,
        };
        std::fs::write(dir.path().join("lock"), gone.to_string()).unwrap();
        let lock = Lock::acquire(dir.path(), "lock").unwrap();
        let text = std::fs::read_to_string(dir.path().join("lock")).unwrap();
        assert_eq!(Holder::parse(&text), Some(Holder::me()));
        drop(lock);
        assert!(!dir.path().join("lock").exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "no temporary file is left");
    }

    #[test]
    fn a_holder_on_another_host_counts_while_its_heartbeat_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        std::fs::write(&path, "render-node-7 4242").unwrap();
        let e = Lock::acquire(dir.path(), "lock").unwrap_err().to_string();
        assert!(e.contains("process 4242 on render-node-7"), "{e}");
        // The node went silent longer than STALE: its lock is taken over.
        let old = SystemTime::now() - STALE - Duration::from_secs(1);
        std::fs::File::options()
            .append(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let lock = Lock::acquire(dir.path(), "lock").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(Holder::parse(&text), Some(Holder::me()));
        drop(lock);
    }

    #[test]
    fn holders_read_back_with_their_slurm_task() {
        let h = Holder {
            host: "node-3".into(),
            pid: 77,
            task: Some("4711_2".into()),
        };
        assert_eq!(h.to_string(), "node-3 77 slurm=4711_2");
        assert_eq!(Holder::parse(&h.to_string()), Some(h));
        assert_eq!(Holder::parse("node-3 77").unwrap().task, None);
        assert_eq!(Holder::parse("node-3"), None);
    }
}
