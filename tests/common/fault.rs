//! For the fault-injection tests (mutated streams, mutated configs,
//! kill -9): a seeded PRNG, running the binary under a deadline, and the
//! checks every run must pass.
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// SplitMix64: small, fast and fixed, so a seed names the same variants on
/// every machine and every run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n >= 1`).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "empty range");
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..hi` (`lo < hi`).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Outcome {
    /// `None` when a signal ended it (or the deadline did).
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
    pub seconds: f64,
}

/// What one run did, and what was wrong with it.
pub struct Checked {
    pub code: Option<i32>,
    pub seconds: f64,
    pub problems: Vec<String>,
    pub stderr: String,
}

impl Checked {
    /// The run's outcome with the contract's violations and `extra` ones.
    pub fn of(o: Outcome, extra: Vec<String>) -> Self {
        let mut problems = contract_violations(&o);
        problems.extend(extra);
        Self {
            code: o.code,
            seconds: o.seconds,
            problems,
            stderr: o.stderr,
        }
    }
}

fn signal_of(status: &ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Runs `cmd` with its output captured; after `deadline` it is killed
/// (SIGKILL) and the outcome says it timed out.
pub fn run_with_deadline(mut cmd: Command, deadline: Duration) -> Outcome {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vstyle");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for vstyle") {
            break s;
        }
        if started.elapsed() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for killed vstyle");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The readers end at EOF, which comes with the exit (vstyle starts no children).
    let text = |h: std::thread::JoinHandle<Vec<u8>>| {
        String::from_utf8_lossy(&h.join().unwrap_or_default()).into_owned()
    };
    Outcome {
        code: status.code(),
        signal: signal_of(&status),
        timed_out,
        stdout: text(out),
        stderr: text(err),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The rules for every run on bad input: it ends by itself within the
/// deadline with exit code 0 or 2, never panics, and a failure says so in
/// exactly one `error:` line (the last), after at most some `warning:` lines.
/// A success prints no `error:` line. Returns what broke, if anything.
pub fn contract_violations(o: &Outcome) -> Vec<String> {
    let mut v = Vec::new();
    if o.timed_out {
        v.push(format!("hang: killed after {:.0} s", o.seconds));
    } else if let Some(sig) = o.signal {
        v.push(format!("killed by signal {sig}"));
    }
    for needle in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        if o.stderr.contains(needle) || o.stdout.contains(needle) {
            v.push(format!("panic text `{needle}` in the output"));
        }
    }
    let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors = lines.iter().filter(|l| l.starts_with("error:")).count();
    let other: Vec<&&str> = lines
        .iter()
        .filter(|l| !l.starts_with("error:") && !l.starts_with("warning:"))
        .collect();
    let last_is_error = lines.last().is_some_and(|l| l.starts_with("error:"));
    match o.code {
        Some(0) if errors > 0 => v.push("exit 0 with an `error:` line".into()),
        Some(2) if errors != 1 => v.push(format!("exit 2 with {errors} `error:` lines")),
        Some(2) if !last_is_error => v.push("the `error:` line is not the last line".into()),
        Some(0) | Some(2) | None => {}
        Some(c) => v.push(format!("exit code {c} (want 0 or 2)")),
    }
    if !other.is_empty() {
        v.push(format!(
            "{} stderr line(s) that are neither `error:` nor `warning:`, first: {:?}",
            other.len(),
            other[0]
        ));
    }
    v
}

/// Stderr shortened for a failure message.
pub fn excerpt(s: &str) -> String {
    const MAX: usize = 600;
    if s.len() <= MAX {
        s.trim_end().to_string()
    } else {
        let mut cut = MAX;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}... ({} bytes)", &s[..cut], s.len())
    }
}

/// Runs `jobs` on `threads` worker threads, in order of index, and returns
/// the results in the same order.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= items.len() {
                    break;
                }
                let r = f(i, &items[i]);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// Prints the outcome counts per category and the runs that broke the
/// contract, then fails the test if there are any.
pub fn summarise(
    what: &str,
    table: &std::collections::BTreeMap<&str, std::collections::BTreeMap<String, usize>>,
    failures: &[String],
    total: usize,
) {
    for (category, codes) in table {
        let counts: Vec<String> = codes.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        eprintln!("  {category:<24} {}", counts.join(", "));
    }
    eprintln!("  runs breaking the contract: {}", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {total} {what} broke the contract:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
