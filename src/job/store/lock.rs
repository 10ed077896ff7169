//! One process at a time per work directory (or shard or seam of it): the
//! lock file names the holder (host, pid and a token of its own). A lock
//! whose holder is dead is taken over; a live holder, or a file that cannot
//! be read, makes a second worker stop with a clear message instead of
//! writing the same frames and video.
//!
//! A holder on this host is checked by its pid. One on another host (a
//! render node sharing the work directory) cannot be, so the holder touches
//! its file every [`HEARTBEAT`]; a file older than [`STALE`] by the file
//! system's clock (not this host's, which may be skewed) belongs to a node
//! that died or lost the filesystem, and is taken over. A requeued Slurm
//! task that finds its own earlier run's lock from another node waits for
//! that heartbeat to go stale, then takes over; a heartbeat that moves on
//! meanwhile is a live run, which keeps the lock.
//!
//! Taking over is atomic: a contender first creates a guard file named
//! after the stale instance (inode and mtime) exclusively, and only the
//! guard's creator checks that the lock is still that instance, moves it
//! aside, and creates its own only if what it moved was that instance
//! (putting back anything else). The holder checks its token at each heartbeat and
//! before each write ([`Held::ensure_held`]), so one that lost its lock
//! anyway (a guard's creator stalled past [`GUARD_STALE`]) stops.
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::error::{Error, Result};
use crate::files::write_error;

/// Who holds a work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub host: String,
    pub pid: u32,
    /// The Slurm task it runs as (`job_task`), if any: for information only.
    pub task: Option<String>,
    /// Unique to one acquisition (absent in files of older versions).
    pub token: Option<String>,
}

/// This process's Slurm array task or job, recorded for `vstyle status`.
fn slurm_task() -> Option<String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// A token no other acquisition (in any process, on any host) shares.
fn new_token() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    // RandomState is seeded randomly per process; the rest tells apart
    // acquisitions within one.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNT.fetch_add(1, Ordering::SeqCst));
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write(host_name().as_bytes());
    format!("{:016x}", h.finish())
}

impl Holder {
    fn me() -> Self {
        Self {
            host: host_name(),
            pid: std::process::id(),
            task: slurm_task(),
            token: Some(new_token()),
        }
    }

    /// Reads `host pid [token=T] [slurm=TASK]` (the older `host pid
    /// [slurm=TASK]` too).
    fn parse(text: &str) -> Option<Self> {
        let mut words = text.split_whitespace();
        let host = words.next()?.to_string();
        let pid = words.next()?.parse().ok()?;
        let (mut task, mut token) = (None, None);
        for w in words {
            match w.split_once('=') {
                Some(("slurm", t)) => task = Some(t.to_string()),
                Some(("token", t)) => token = Some(t.to_string()),
                _ => return None,
            }
        }
        Some(Self {
            host,
            pid,
            task,
            token,
        })
    }

    /// The lock file's text.
    fn text(&self) -> String {
        match &self.token {
            Some(t) => format!("{} {} token={t}{}", self.host, self.pid, self.slurm()),
            None => format!("{} {}{}", self.host, self.pid, self.slurm()),
        }
    }

    fn slurm(&self) -> String {
        self.task
            .as_ref()
            .map_or(String::new(), |t| format!(" slurm={t}"))
    }

    /// Whether the holder may still be running: its pid on this host, its
    /// heartbeat (the file's `mtime`, under [`STALE`] old at `now`) on
    /// another.
    fn alive(&self, mtime: SystemTime, now: SystemTime) -> bool {
        if self.host == host_name() {
            Path::new("/proc").join(self.pid.to_string()).exists()
        } else {
            now.duration_since(mtime).unwrap_or_default() < STALE
        }
    }
}

/// `host pid [slurm=TASK]`: who holds it, for messages and `vstyle status`.
impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}{}", self.host, self.pid, self.slurm())
    }
}

/// How often a holder touches its lock file.
pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// A lock file from another host untouched this long is taken over.
pub const STALE: Duration = Duration::from_secs(300);
/// A takeover guard this old was left by a contender that died in the few
/// system calls it holds it for; the next generation of guard may be made.
pub const GUARD_STALE: Duration = Duration::from_secs(60);
/// Generations of guard tried before giving up (each needs the ones before
/// it older than [`GUARD_STALE`]).
const GUARD_GENERATIONS: usize = 8;
/// How long a contender waits for another's takeover to settle.
const TAKEOVER_WAIT: Duration = Duration::from_secs(10);
/// How often a requeued task looks whether its earlier run's lock is stale.
const REQUEUE_POLL: Duration = Duration::from_secs(2);

/// The time now by the clock of the file system of `dir`: the mtime of a
/// file just made there (this host's clock when that cannot be done).
fn fs_now(dir: &Path) -> SystemTime {
    tempfile::Builder::new()
        .prefix(".vstyle-lock-clock-")
        .tempfile_in(dir)
        .ok()
        .and_then(|t| t.as_file().metadata().ok())
        .and_then(|m| m.modified().ok())
        .unwrap_or_else(SystemTime::now)
}

/// How long ago `mtime` was, by the clock of the file system of `dir`.
fn fs_age(dir: &Path, mtime: SystemTime) -> Duration {
    fs_now(dir).duration_since(mtime).unwrap_or_default()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// One instance of a lock file, as one read saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    holder: Holder,
    text: String,
    ino: u64,
    mtime: SystemTime,
}

impl Seen {
    /// Alive by the clock of the lock's file system (a contender writes
    /// there anyway).
    fn alive(&self, path: &Path) -> bool {
        self.holder.alive(self.mtime, fs_now(parent(path)))
    }

    /// The lock of this Slurm task's own earlier run on another node: a
    /// requeued task starts while the heartbeat of the node that died is
    /// still fresh.
    fn requeued_from(&self, me: &Holder) -> bool {
        self.holder.host != me.host && me.task.is_some() && self.holder.task == me.task
    }

    /// The same file rewritten in place: a heartbeat.
    fn beat_since(&self, earlier: &Seen) -> bool {
        self.ino == earlier.ino && self.text == earlier.text && self.mtime != earlier.mtime
    }

    fn mtime_ns(&self) -> u128 {
        self.mtime
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    }
}

/// A lock file's text that is no holder.
fn invalid(text: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("holds {:?}", text.trim()),
    )
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

fn unreadable(path: &Path, source: std::io::Error) -> Error {
    Error::LockUnreadable {
        file: path.to_path_buf(),
        source,
    }
}

/// The lock file at `path`: None when there is none; an error when it
/// cannot be read or parsed (never taken for an abandoned lock).
fn read(path: &Path) -> Result<Option<Seen>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(path, e)),
    };
    // Text and inode from one open file: one instance.
    let meta = file.metadata().map_err(|e| unreadable(path, e))?;
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| unreadable(path, e))?;
    let holder = Holder::parse(&text).ok_or_else(|| unreadable(path, invalid(&text)))?;
    let mtime = meta.modified().map_err(|e| unreadable(path, e))?;
    Ok(Some(Seen {
        holder,
        text,
        ino: meta.ino(),
        mtime,
    }))
}

/// The live holder of the lock file `dir/name`, if any (for `vstyle
/// status`). A heartbeat's age is by this host's clock: status only reads
/// a work directory, so it cannot ask the file system for the time there.
pub fn live_holder(dir: &Path, name: &str) -> Option<Holder> {
    read(&dir.join(name))
        .ok()
        .flatten()
        .filter(|s| s.holder.alive(s.mtime, SystemTime::now()))
        .map(|s| s.holder)
}

/// A cheap, cloneable handle on a held lock: writers ask it before each
/// frame saved and each output renamed into place.
#[derive(Debug, Clone)]
pub struct Held(Arc<HeldState>);

#[derive(Debug)]
struct HeldState {
    path: PathBuf,
    token: String,
    /// Set by the heartbeat once the file no longer holds our token.
    lost: AtomicBool,
}

impl Held {
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    fn ours(&self, text: &str) -> bool {
        Holder::parse(text).is_some_and(|h| h.token.as_deref() == Some(self.0.token.as_str()))
    }

    /// Ok while the lock file still holds this process's token; otherwise
    /// a one-line [`Error::LockLost`] naming who took it.
    pub fn ensure_held(&self) -> Result<()> {
        let text = std::fs::read_to_string(self.path());
        if !self.0.lost.load(Ordering::SeqCst) && text.as_deref().is_ok_and(|t| self.ours(t)) {
            return Ok(());
        }
        self.0.lost.store(true, Ordering::SeqCst);
        let by = match &text {
            Ok(t) => match Holder::parse(t) {
                Some(h) => format!("taken by {h}"),
                None => format!("it now holds {:?}", t.trim()),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "its file is gone".into(),
            Err(e) => format!("cannot read it: {e}"),
        };
        Err(Error::LockLost {
            file: self.path().to_path_buf(),
            by,
        })
    }

    /// One heartbeat: rewrites the file's own bytes in place (so its mtime
    /// comes from the file system's clock) if it still holds our token.
    /// False once it does not (the file is gone or names another holder);
    /// a read that fails for another reason skips the beat.
    fn beat(&self) -> bool {
        let file = std::fs::File::options()
            .read(true)
            .write(true)
            .open(self.path());
        let mut file = match file {
            Ok(f) => f,
            Err(e) => return e.kind() != std::io::ErrorKind::NotFound,
        };
        let mut text = String::new();
        if file.read_to_string(&mut text).is_err() {
            return true;
        }
        if !self.ours(&text) {
            return false;
        }
        // The same bytes at the same place: a reader never sees a change.
        let _ = file.write_all_at(text.as_bytes(), 0);
        true
    }
}

/// A held lock; dropping it stops the heartbeat and releases the file.
#[derive(Debug)]
pub struct Lock {
    held: Held,
    stop: Arc<AtomicBool>,
    heartbeat: Option<JoinHandle<()>>,
}

/// Beats every [`HEARTBEAT`] until `stop` is set or the lock is lost.
fn heartbeat(held: Held, stop: Arc<AtomicBool>) -> Option<JoinHandle<()>> {
    let tick = Duration::from_millis(200);
    let body = move || {
        let mut since = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(tick);
            since += tick;
            if since >= HEARTBEAT {
                since = Duration::ZERO;
                if !held.beat() {
                    held.0.lost.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    };
    std::thread::Builder::new()
        .name("vstyle-lock".into())
        .spawn(body)
        .ok()
}

impl Lock {
    /// Takes the lock file `dir/name`, or fails naming its live holder (or
    /// the file, when it cannot be read).
    pub fn acquire(dir: &Path, name: &str) -> Result<Self> {
        let path = dir.join(name);
        let me = Holder::me();
        let text = me.text();
        let mut deadline = Instant::now() + TAKEOVER_WAIT;
        loop {
            if create_with(&path, &text)? {
                return Ok(Self::start(path, me));
            }
            match read(&path)? {
                Some(seen) if seen.alive(&path) => {
                    if !seen.requeued_from(&me) {
                        return Err(in_use(dir, &path, &seen.holder));
                    }
                    outwait(&path, &seen)?;
                    deadline = Instant::now() + TAKEOVER_WAIT;
                    continue;
                }
                Some(seen) => {
                    if take_over(&path, &seen, &text)? {
                        return Ok(Self::start(path, me));
                    }
                }
                // Released since: create it again.
                None => continue,
            }
            if Instant::now() > deadline {
                return Err(Error::WorkDir {
                    dir: dir.to_path_buf(),
                    message: format!(
                        "another worker is taking over {}; try again",
                        path.display()
                    ),
                });
            }
            // Another contender holds the guard: let it finish.
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Takes `dir/name` like [`Lock::acquire`], and refuses while a rival
    /// lock of the same work directory is held: a whole-clip run (`lock`)
    /// and the runs of its shards and seams never write it at once. The
    /// rivals are checked after ours is taken, so of two that race at
    /// least one sees the other.
    pub fn acquire_exclusive(dir: &Path, name: &str) -> Result<Self> {
        let lock = Self::acquire(dir, name)?;
        for rival in rivals(dir, name)? {
            let path = dir.join(&rival);
            if let Some(seen) = read(&path)?.filter(|s| s.alive(&path)) {
                // Dropping ours releases it.
                return Err(Error::WorkDir {
                    dir: dir.to_path_buf(),
                    message: format!(
                        "is in use by process {} on {} ({rival}): a whole-clip run and the shards or seams of a job cannot run at once",
                        seen.holder.pid, seen.holder.host
                    ),
                });
            }
        }
        Ok(lock)
    }

    fn start(path: PathBuf, me: Holder) -> Self {
        let held = Held(Arc::new(HeldState {
            path,
            token: me.token.unwrap_or_default(),
            lost: AtomicBool::new(false),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let heartbeat = heartbeat(held.clone(), stop.clone());
        Self {
            held,
            stop,
            heartbeat,
        }
    }

    /// A handle to check, before writing, that the lock is still ours.
    pub fn held(&self) -> Held {
        self.held.clone()
    }
}

/// The lock files in `dir` that exclude `name`: for the whole clip's `lock`
/// every shard's and seam's, for those `lock`.
fn rivals(dir: &Path, name: &str) -> Result<Vec<String>> {
    if name != "lock" {
        return Ok(vec!["lock".into()]);
    }
    let entries = std::fs::read_dir(dir).map_err(|e| write_error(dir, e))?;
    Ok(entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("lock.shard-") || n.starts_with("lock.seam-"))
        .filter(|n| !n.contains(".takeover-"))
        .collect())
}

fn in_use(dir: &Path, path: &Path, h: &Holder) -> Error {
    Error::WorkDir {
        dir: dir.to_path_buf(),
        message: format!(
            "is in use by process {} on {}{}; if that worker is gone, delete {}",
            h.pid,
            h.host,
            h.task
                .as_ref()
                .map_or(String::new(), |t| format!(" (Slurm task {t})")),
            path.display()
        ),
    }
}

/// Waits while `seen`, the lock of this Slurm task's earlier run on another
/// node, ages towards [`STALE`]: Ok once it went stale untouched or the
/// file changed (look again); a heartbeat means that run is alive after
/// all, and it keeps the lock.
fn outwait(path: &Path, seen: &Seen) -> Result<()> {
    let dir = parent(path);
    eprintln!(
        "{}: waiting for {} (this Slurm task's earlier run) to go silent for {} s before taking over",
        path.display(),
        seen.holder,
        STALE.as_secs()
    );
    loop {
        let age = fs_age(dir, seen.mtime);
        if age >= STALE {
            return Ok(());
        }
        std::thread::sleep(REQUEUE_POLL.min(STALE - age));
        match read(path)? {
            Some(now) if now == *seen => {}
            Some(now) if now.beat_since(seen) => return Err(in_use(dir, path, &now.holder)),
            _ => return Ok(()),
        }
    }
}

/// Replaces the stale lock `seen` at `path` with one holding `text`, if
/// this process is the one contender to make the guard for that instance:
/// true when it did.
fn take_over(path: &Path, seen: &Seen, text: &str) -> Result<bool> {
    let Some((guard, older)) = make_guard(path, seen, text)? else {
        return Ok(false);
    };
    let won = replace_under_guard(path, seen, text);
    if won.as_ref().is_ok_and(|&w| w) {
        // Guards of contenders that died at it are of no more use.
        for g in older {
            let _ = std::fs::remove_file(g);
        }
    }
    let _ = std::fs::remove_file(&guard);
    won
}

/// With the guard held: still the same stale instance (inode, mtime and
/// text)? Then put ours in its place.
fn replace_under_guard(path: &Path, seen: &Seen, text: &str) -> Result<bool> {
    if read(path)?.as_ref() != Some(seen) {
        return Ok(false);
    }
    publish(path, seen, text)
}

/// Moves the lock at `path` aside and, if what moved is the stale instance
/// `seen`, creates ours without replacing anything; anything else (a newer
/// holder's lock, made once this process's guard went stale while it
/// stood still after its check) is linked back unless a lock was made
/// meanwhile. No step overwrites a lock another process published, so two
/// processes never both hold it.
fn publish(path: &Path, seen: &Seen, text: &str) -> Result<bool> {
    let aside = parent(path).join(format!(".vstyle-lock-aside-{}", new_token()));
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(unreadable(path, e)),
    }
    let moved = read(&aside).ok().flatten();
    if moved.as_ref() == Some(seen) {
        let _ = std::fs::remove_file(&aside);
        return create_with(path, text);
    }
    let _ = std::fs::hard_link(&aside, path);
    let _ = std::fs::remove_file(&aside);
    Ok(false)
}

/// The guard `<lock>.takeover-<inode>-<mtime_ns>[-<generation>]` for the
/// stale instance `seen`, created exclusively, with the older generations'
/// guards (left by contenders that died); None when another live
/// contender holds one.
fn make_guard(path: &Path, seen: &Seen, text: &str) -> Result<Option<(PathBuf, Vec<PathBuf>)>> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let base = format!("{name}.takeover-{}-{}", seen.ino, seen.mtime_ns());
    let mut older = Vec::new();
    for generation in 0..GUARD_GENERATIONS {
        let guard = match generation {
            0 => path.with_file_name(&base),
            g => path.with_file_name(format!("{base}-{g}")),
        };
        if create_with(&guard, text)? {
            return Ok(Some((guard, older)));
        }
        let mtime = std::fs::metadata(&guard).and_then(|m| m.modified());
        match mtime {
            Ok(t) if fs_age(parent(path), t) >= GUARD_STALE => older.push(guard),
            // Held by a live contender, or removed as it finished.
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Creates `path` holding `text`, readable by all, atomically and only if
/// it does not exist (a hard link of a finished temporary file): false if
/// it exists.
fn create_with(path: &Path, text: &str) -> Result<bool> {
    let err = |e: std::io::Error| write_error(path, e);
    let tmp = tempfile::Builder::new()
        .prefix(".vstyle-lock-")
        .tempfile_in(parent(path))
        .map_err(err)?;
    // Set on the file, not at its creation: the umask does not narrow it,
    // and `vstyle status` of any user in the group names the holder.
    let mode = std::fs::Permissions::from_mode(0o644);
    tmp.as_file().set_permissions(mode).map_err(err)?;
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
        let ours = std::fs::read_to_string(self.held.path()).is_ok_and(|t| self.held.ours(&t));
        if ours {
            let _ = std::fs::remove_file(self.held.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Child, Command, Stdio};

    /// Set in a re-run of this test binary: it acts as a contender (see
    /// [`contender`]); the value is `<root>|<rounds>`.
    const CONTENDER: &str = "VSTYLE_TEST_LOCK_CONTENDER";

    /// A holder on this host whose process is gone.
    fn dead_holder() -> Holder {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        Holder {
            host: host_name(),
            pid,
            task: None,
            token: None,
        }
    }

    /// Writes `path` whole (a reader never sees part of it).
    fn put(path: &Path, text: &str) {
        let tmp = path.with_extension("tmp-put");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    fn set_mtime(path: &Path, t: SystemTime) {
        let f = std::fs::File::options().append(true).open(path).unwrap();
        f.set_modified(t).unwrap();
    }

    fn wait_for(what: &str, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            assert!(Instant::now() < deadline, "waited a minute for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn round_dir(root: &Path, r: usize) -> PathBuf {
        root.join(format!("round-{r}"))
    }

    /// `(suffix, text)` of the files in `dir` named `<prefix><suffix>`.
    fn files(dir: &Path, prefix: &str) -> Vec<(String, String)> {
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_prefix(prefix).map(str::to_string))
            .filter(|s| !s.ends_with("tmp-put"))
            .map(|s| {
                let text = std::fs::read_to_string(dir.join(format!("{prefix}{s}")));
                (s, text.unwrap_or_default())
            })
            .collect();
        out.sort();
        out
    }

    /// Contender processes, killed if the test fails before they end.
    struct Contenders(Vec<Child>);

    impl Contenders {
        /// `n` re-runs of this test binary contending on `root`'s rounds.
        fn start(n: usize, root: &Path, rounds: usize, env: &[(&str, &str)]) -> Self {
            let exe = std::env::current_exe().unwrap();
            let spawn = |_| {
                let mut c = Command::new(&exe);
                c.args([
                    "--exact",
                    "job::store::lock::tests::contender",
                    "--nocapture",
                ])
                .env(CONTENDER, format!("{}|{rounds}", root.display()))
                .env_remove("SLURM_ARRAY_JOB_ID")
                .env_remove("SLURM_ARRAY_TASK_ID")
                .env_remove("SLURM_JOB_ID")
                .stdout(Stdio::null());
                c.envs(env.iter().copied());
                c.spawn().unwrap()
            };
            Self((0..n).map(spawn).collect())
        }

        fn finish(mut self) {
            for c in &mut self.0 {
                assert!(c.wait().unwrap().success(), "a contender failed");
            }
            self.0.clear();
        }
    }

    impl Drop for Contenders {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Not a test of its own: a no-op unless [`CONTENDER`] is set. Then, in
    /// each round's directory, it writes `ready-<pid>`, waits for `go`,
    /// tries to take `lock` and writes `result-<pid>` ("won" or the error).
    /// It holds what it won until `<root>/done` appears.
    #[test]
    fn contender() {
        let Ok(spec) = std::env::var(CONTENDER) else {
            return;
        };
        let (root, rounds) = spec.rsplit_once('|').unwrap();
        let (root, rounds) = (PathBuf::from(root), rounds.parse().unwrap());
        let me = std::process::id();
        let mut won = Vec::new();
        for r in 0..rounds {
            let dir = round_dir(&root, r);
            put(&dir.join(format!("ready-{me}")), "");
            wait_for("go", || dir.join("go").exists());
            let result = match Lock::acquire(&dir, "lock") {
                Ok(lock) => {
                    won.push(lock);
                    "won".to_string()
                }
                Err(e) => e.to_string(),
            };
            put(&dir.join(format!("result-{me}")), &result);
        }
        wait_for("done", || root.join("done").exists());
    }

    #[test]
    fn of_twenty_processes_taking_over_a_stale_lock_exactly_one_wins_fifty_times() {
        const PROCESSES: usize = 20;
        const ROUNDS: usize = 50;
        let started = Instant::now();
        let root = tempfile::tempdir().unwrap();
        let stale = dead_holder().text();
        for r in 0..ROUNDS {
            let dir = round_dir(root.path(), r);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("lock"), &stale).unwrap();
        }
        let kids = Contenders::start(PROCESSES, root.path(), ROUNDS, &[]);
        for r in 0..ROUNDS {
            // All at once: each round starts when every contender is ready.
            let dir = round_dir(root.path(), r);
            wait_for("ready", || files(&dir, "ready-").len() == PROCESSES);
            put(&dir.join("go"), "");
        }
        for r in 0..ROUNDS {
            let dir = round_dir(root.path(), r);
            wait_for("results", || files(&dir, "result-").len() == PROCESSES);
            let results = files(&dir, "result-");
            let winners: Vec<_> = results.iter().filter(|(_, t)| t == "won").collect();
            assert_eq!(winners.len(), 1, "round {r}: {results:#?}");
            let winner = &winners[0].0;
            let lock = std::fs::read_to_string(dir.join("lock")).unwrap();
            assert_eq!(Holder::parse(&lock).unwrap().pid.to_string(), *winner);
            for (_, e) in results.iter().filter(|(_, t)| t != "won") {
                let named = e.contains(&format!("in use by process {winner} on"));
                assert!(named || e.contains("taking over"), "round {r}: {e}");
            }
            let guards = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(".takeover-"))
                .count();
            assert_eq!(guards, 0, "round {r}: a guard is left");
        }
        put(&root.path().join("done"), "");
        kids.finish();
        for r in 0..ROUNDS {
            let lock = round_dir(root.path(), r).join("lock");
            assert!(!lock.exists(), "round {r}: the winner released it");
        }
        eprintln!(
            "{PROCESSES} processes x {ROUNDS} rounds: one winner each, {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    #[test]
    fn the_same_slurm_job_does_not_take_over_a_live_holder_on_this_host() {
        let root = tempfile::tempdir().unwrap();
        // This (live) process, as Slurm job 42.
        let here = Holder {
            token: Some("abc".into()),
            task: Some("42".into()),
            ..Holder::me()
        };
        let dir = round_dir(root.path(), 0);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("lock"), here.text()).unwrap();
        std::fs::write(dir.join("go"), "").unwrap();
        let kids = Contenders::start(1, root.path(), 1, &[("SLURM_JOB_ID", "42")]);
        wait_for("result", || files(&dir, "result-").len() == 1);
        let (_, e) = &files(&dir, "result-")[0];
        let want = format!("in use by process {} on", here.pid);
        assert!(e.contains(&want) && e.contains("Slurm task 42"), "{e}");
        put(&root.path().join("done"), "");
        kids.finish();
    }

    #[test]
    fn a_requeued_slurm_task_waits_out_its_dead_run_but_not_a_live_one() {
        let root = tempfile::tempdir().unwrap();
        // Its earlier run on render-node-9, as Slurm job 42: in round 0 the
        // node died (the heartbeat is just short of stale); in round 1 it
        // lives and beats every second.
        let there = "render-node-9 4242 token=def slurm=42";
        for r in 0..2 {
            let dir = round_dir(root.path(), r);
            std::fs::create_dir(&dir).unwrap();
            std::fs::write(dir.join("lock"), there).unwrap();
            std::fs::write(dir.join("go"), "").unwrap();
        }
        let dead = round_dir(root.path(), 0).join("lock");
        set_mtime(&dead, SystemTime::now() - STALE + Duration::from_secs(2));
        let started = Instant::now();
        let kids = Contenders::start(1, root.path(), 2, &[("SLURM_JOB_ID", "42")]);
        let dir = round_dir(root.path(), 0);
        wait_for("result", || files(&dir, "result-").len() == 1);
        assert_eq!(files(&dir, "result-")[0].1, "won");
        assert!(started.elapsed() >= Duration::from_secs(1), "it waited");

        let dir = round_dir(root.path(), 1);
        let live = dir.join("lock");
        while files(&dir, "result-").is_empty() {
            assert!(started.elapsed() < Duration::from_secs(60), "no result");
            set_mtime(&live, SystemTime::now());
            std::thread::sleep(Duration::from_secs(1));
        }
        let (_, e) = &files(&dir, "result-")[0];
        assert!(e.contains("in use by process 4242 on render-node-9"), "{e}");
        put(&root.path().join("done"), "");
        kids.finish();
        let text = std::fs::read_to_string(&live).unwrap();
        assert_eq!(text, there, "the live holder's lock is untouched");
    }

    #[test]
    fn a_contender_that_stood_still_under_its_guard_never_displaces_a_newer_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        std::fs::write(&path, dead_holder().text()).unwrap();
        let seen = read(&path).unwrap().unwrap();
        // A makes its guard and finds the stale instance still there ...
        let frozen = Holder {
            token: Some("frozen".into()),
            ..Holder::me()
        };
        let (guard, _) = make_guard(&path, &seen, &frozen.text()).unwrap().unwrap();
        assert_eq!(read(&path).unwrap().as_ref(), Some(&seen));
        // ... then stands still for over a minute: B takes over.
        set_mtime(
            &guard,
            SystemTime::now() - GUARD_STALE - Duration::from_secs(1),
        );
        let b = Lock::acquire(dir.path(), "lock").unwrap();
        // A wakes where it stopped, and must not replace B's lock.
        assert!(!publish(&path, &seen, &frozen.text()).unwrap());
        b.held().ensure_held().unwrap();
        let holder = Holder::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(holder.token.as_deref(), Some(b.held.0.token.as_str()));
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["lock"], "nothing set aside is left");
        // On the stale instance itself, publishing takes it.
        drop(b);
        std::fs::write(&path, dead_holder().text()).unwrap();
        let seen = read(&path).unwrap().unwrap();
        assert!(publish(&path, &seen, &frozen.text()).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), frozen.text());
    }

    #[test]
    fn telling_who_holds_a_lock_writes_nothing_into_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.shard-0-of-2");
        std::fs::write(&path, "render-node-7 4242 token=x").unwrap();
        let before = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::open(dir.path())
            .unwrap()
            .set_modified(before)
            .unwrap();
        let holder = live_holder(dir.path(), "lock.shard-0-of-2").unwrap();
        assert_eq!(holder.pid, 4242);
        let mtime = std::fs::metadata(dir.path()).unwrap().modified().unwrap();
        assert_eq!(mtime, before, "no file was made or removed there");
        set_mtime(&path, SystemTime::now() - STALE - Duration::from_secs(1));
        assert_eq!(live_holder(dir.path(), "lock.shard-0-of-2"), None);
    }

    #[test]
    fn a_lock_that_cannot_be_read_is_refused_never_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.shard-1-of-4");
        for text in ["", "  \n", "node-1", "node-1 pid", "node-1 7 flavour=x"] {
            std::fs::write(&path, text).unwrap();
            let e = Lock::acquire(dir.path(), "lock.shard-1-of-4").unwrap_err();
            let e = e.to_string();
            assert!(Holder::parse(text).is_none(), "{text:?}");
            assert!(
                e.starts_with(&path.display().to_string()) && e.contains("delete it"),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1, "{e}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        assert_eq!(live_holder(dir.path(), "lock.shard-1-of-4"), None);
    }

    #[test]
    fn a_live_holder_keeps_the_directory_and_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let other = Holder {
            host: host_name(),
            pid: 1, // init: always alive
            task: None,
            token: None,
        };
        std::fs::write(dir.path().join("lock"), other.text()).unwrap();
        let e = Lock::acquire(dir.path(), "lock").unwrap_err().to_string();
        assert!(
            e.contains("in use by process 1 on") && e.contains("lock"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
        assert_eq!(live_holder(dir.path(), "lock"), Some(other));
    }

    #[test]
    fn a_dead_holders_lock_is_taken_over_readable_by_all_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        std::fs::write(&path, dead_holder().text()).unwrap();
        let lock = Lock::acquire(dir.path(), "lock").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let me = Holder::parse(&text).unwrap();
        assert_eq!((me.host, me.pid), (host_name(), std::process::id()));
        assert_eq!(me.token.as_deref(), Some(lock.held.0.token.as_str()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{mode:o}");
        drop(lock);
        assert!(!path.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(names.is_empty(), "no temporary or guard file is left");
        // A fresh lock is readable by all too.
        let lock = Lock::acquire(dir.path(), "lock").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{mode:o}");
        drop(lock);
    }

    #[test]
    fn a_holder_on_another_host_counts_while_its_heartbeat_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        std::fs::write(&path, "render-node-7 4242").unwrap();
        let e = Lock::acquire(dir.path(), "lock").unwrap_err().to_string();
        assert!(e.contains("process 4242 on render-node-7"), "{e}");
        // The node went silent longer than STALE: its lock is taken over.
        set_mtime(&path, SystemTime::now() - STALE - Duration::from_secs(1));
        let lock = Lock::acquire(dir.path(), "lock").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(Holder::parse(&text).unwrap().pid, std::process::id());
        drop(lock);
    }

    #[test]
    fn a_guard_left_by_a_dead_contender_gives_way_after_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        std::fs::write(&path, dead_holder().text()).unwrap();
        let seen = read(&path).unwrap().unwrap();
        let guard = dir
            .path()
            .join(format!("lock.takeover-{}-{}", seen.ino, seen.mtime_ns()));
        // Fresh: its maker is at work, so no one else may take over.
        std::fs::write(&guard, "node 1").unwrap();
        assert!(make_guard(&path, &seen, "me 2").unwrap().is_none());
        assert!(!take_over(&path, &seen, "me 2").unwrap());
        // A minute old: its maker died; the next generation goes ahead.
        set_mtime(
            &guard,
            SystemTime::now() - GUARD_STALE - Duration::from_secs(1),
        );
        let lock = Lock::acquire(dir.path(), "lock").unwrap();
        assert!(!guard.exists(), "the dead contender's guard is cleared");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the lock: {names:?}");
        drop(lock);
    }

    #[test]
    fn a_holder_that_lost_its_lock_knows_and_leaves_the_new_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock.seam-2");
        let lock = Lock::acquire(dir.path(), "lock.seam-2").unwrap();
        let held = lock.held();
        held.ensure_held().unwrap();
        // A heartbeat rewrites the text in place, and moves the mtime on.
        let mine = std::fs::read_to_string(&path).unwrap();
        let old = SystemTime::now() - Duration::from_secs(100);
        set_mtime(&path, old);
        assert!(held.beat());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), mine);
        assert!(std::fs::metadata(&path).unwrap().modified().unwrap() > old);

        let theirs = "node-2 77 token=zz slurm=5_2";
        put(&path, theirs);
        let e = held.ensure_held().unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: this process no longer holds the lock (taken by node-2 77 slurm=5_2); stopped without writing",
                path.display()
            )
        );
        assert!(!held.beat(), "a heartbeat sees it lost");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), theirs);
        drop(lock);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            theirs,
            "not ours to remove"
        );

        let lock = Lock::acquire(dir.path(), "lock").unwrap();
        std::fs::remove_file(dir.path().join("lock")).unwrap();
        let e = lock.held().ensure_held().unwrap_err().to_string();
        assert!(e.contains("its file is gone"), "{e}");
    }

    #[test]
    fn a_whole_clip_run_and_its_shards_and_seams_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let shard = Lock::acquire_exclusive(d, "lock.shard-0-of-2").unwrap();
        let e = Lock::acquire_exclusive(d, "lock").unwrap_err().to_string();
        assert!(
            e.contains("(lock.shard-0-of-2)") && e.contains("cannot run at once"),
            "{e}"
        );
        assert!(
            !d.join("lock").exists(),
            "the refused run released its lock"
        );
        drop(shard);

        // A dead shard's lock does not stand in the way.
        std::fs::write(d.join("lock.shard-1-of-2"), dead_holder().text()).unwrap();
        let whole = Lock::acquire_exclusive(d, "lock").unwrap();
        for name in ["lock.seam-0", "lock.shard-1-of-2"] {
            let e = Lock::acquire_exclusive(d, name).unwrap_err().to_string();
            assert!(e.contains("(lock)"), "{name}: {e}");
        }
        // The join holds `lock`, then takes every shard and seam lock itself.
        let all: Vec<_> = ["lock.shard-0-of-2", "lock.shard-1-of-2", "lock.seam-0"]
            .iter()
            .map(|n| Lock::acquire(d, n).unwrap())
            .collect();
        drop(all);
        drop(whole);

        std::fs::write(d.join("lock.seam-3"), "garbage").unwrap();
        let e = Lock::acquire_exclusive(d, "lock").unwrap_err().to_string();
        assert!(e.contains("lock.seam-3") && e.contains("delete it"), "{e}");
    }

    #[test]
    fn holders_read_back_with_their_slurm_task_and_token() {
        let h = Holder {
            host: "node-3".into(),
            pid: 77,
            task: Some("4711_2".into()),
            token: Some("00ff".into()),
        };
        assert_eq!(h.text(), "node-3 77 token=00ff slurm=4711_2");
        assert_eq!(h.to_string(), "node-3 77 slurm=4711_2");
        assert_eq!(Holder::parse(&h.text()), Some(h.clone()));
        // The format before tokens.
        let old = Holder::parse("node-3 77 slurm=4711_2").unwrap();
        assert_eq!((old.task, old.token), (h.task, None));
        assert_eq!(Holder::parse("node-3 77").unwrap().task, None);
        assert_eq!(Holder::parse("node-3"), None);
        assert_ne!(Holder::me().token, Holder::me().token);
    }
}
