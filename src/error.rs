//! The library's error type. Each variant's message is one line that names
//! the file (and key, tensor or frame) at fault; an error it wraps is its
//! source, printed after it by [`chain`] (or anyhow's `{:#}`), never inside
//! its own message. The binary picks the exit code by matching on the variant.
use std::path::PathBuf;

use crate::charts::ChartError;
use crate::config::ConfigError;
use crate::device::DeviceError;
use crate::farm::slurm::SlurmError;
use crate::farm::workers::WorkerError;
use crate::memory::MemoryError;
use crate::model::ModelError;
use crate::video::VideoError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// Decoding, encoding or opening a video or image sequence.
    #[error(transparent)]
    Video(#[from] VideoError),
    /// A chart or label of a report or preview sheet.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// A job whose estimated peak memory exceeds its limit.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// Slurm scripts that cannot be written or submitted.
    #[error(transparent)]
    Slurm(#[from] SlurmError),
    /// The worker processes of `--workers`.
    #[error(transparent)]
    Workers(#[from] WorkerError),
    /// A picture a job needs (a style image, a saved frame) that cannot be read.
    #[error("{file}")]
    Image {
        file: String,
        #[source]
        source: crate::video::Cause,
    },
    /// A job report that cannot be read back (`vstyle eval`, `--eval`, a batch index).
    #[error("{}: {what}", .file.display())]
    Report {
        file: PathBuf,
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A record in a work directory (split, shard report, inputs) that
    /// cannot be parsed: never guessed at.
    #[error("{}: damaged (delete the work directory {} to start over)", .file.display(), .work_dir.display())]
    Damaged {
        file: PathBuf,
        work_dir: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: cannot write: {message}")]
    Output { file: String, message: String },
    /// A file that could not be written or put in place.
    #[error("{}: cannot write", .file.display())]
    Write {
        file: PathBuf,
        #[source]
        source: crate::files::WriteError,
    },
    /// An output that is one of the inputs, or another output.
    #[error("{}: {message}", .output.display())]
    Collision { output: PathBuf, message: String },
    /// A work directory that belongs to another job.
    #[error("{}: {message}", .dir.display())]
    WorkDir { dir: PathBuf, message: String },
    /// A lock file that cannot be read or parsed: never taken for abandoned.
    #[error("{}: cannot read this lock file (if no worker holds it any more, delete it)", .file.display())]
    LockUnreadable {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process took this one's lock: it stops before writing more.
    #[error("{}: this process no longer holds the lock ({by}); stopped without writing", .file.display())]
    LockLost { file: PathBuf, by: String },
    /// An input is not the file the frames in a work directory were made
    /// from (replaced, edited, gone): resuming would mix two clips.
    #[error("{} changed since the frames in {} were made ({how}); delete {} to start over", .file.display(), .work_dir.display(), .work_dir.display())]
    InputChanged {
        file: PathBuf,
        work_dir: PathBuf,
        how: String,
    },
    /// An input whose identity cannot be read (size, time, content).
    #[error("{}: cannot identify the input", .file.display())]
    Input {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Stopped by a signal after saving the finished frames.
    #[error("interrupted after {frames} finished frames (kept in {}); run the same command again to resume", .work_dir.display())]
    Interrupted { frames: usize, work_dir: PathBuf },
    /// libtorch refused an operation: out of memory, a bad device, ...
    #[error("{what}: {message}{hint}")]
    Torch {
        what: String,
        message: String,
        hint: &'static str,
    },
    /// The loss or its gradient stayed NaN or infinite after every retry.
    #[error("{input}: frame {frame}: the loss became {value} on every attempt ({attempts}); the frame was not written")]
    NonFinite {
        input: String,
        frame: usize,
        value: f64,
        attempts: usize,
    },
    /// A worker thread of a job panicked.
    #[error("{input}: the {stage} thread failed near frame {frame}: {message}")]
    Worker {
        input: String,
        stage: &'static str,
        frame: usize,
        message: String,
    },
    #[error("{}: no frames to process", .input.display())]
    NoFrames { input: PathBuf },
    /// The clip broke off: the frames before the break are kept in the work
    /// directory, but no output that looks complete is written. The cause
    /// leads the line (with its whole chain), so it is no source of this one.
    #[error("{}; the {kept} frames before it are kept in {}", chain(.cause.as_ref()), .work_dir.display())]
    Partial {
        cause: Box<Error>,
        kept: usize,
        work_dir: PathBuf,
    },
    /// Two inputs that must agree do not (e.g. sizes in `vstyle eval`).
    #[error("{file}: {message}")]
    Mismatch { file: String, message: String },
}

impl Error {
    /// The record `file` of `work_dir` that does not parse.
    pub fn damaged(
        file: &std::path::Path,
        work_dir: &std::path::Path,
        source: serde_json::Error,
    ) -> Self {
        Error::Damaged {
            file: file.to_path_buf(),
            work_dir: work_dir.to_path_buf(),
            source,
        }
    }

    /// Whether the job (or the workers running its shards) stopped on
    /// request rather than failing.
    pub fn is_interrupted(&self) -> bool {
        matches!(
            self,
            Error::Interrupted { .. } | Error::Workers(WorkerError::Interrupted)
        )
    }

    /// A libtorch error as one line: its first line, plus a hint when it is
    /// about memory (the commonest cause a user can act on).
    pub fn torch(what: impl Into<String>, e: impl std::fmt::Display) -> Self {
        let text = e.to_string();
        // tch's panics wrap the C++ message: `... Err` value: Torch("...")`.
        let inner = text
            .split_once("Torch(\"")
            .map_or(text.as_str(), |(_, m)| m);
        // Its Debug form escapes the backtrace's newlines: keep the first line.
        let message = inner
            .split("\\n")
            .flat_map(str::lines)
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("libtorch error")
            .trim_end_matches("\")")
            .to_string();
        let lower = text.to_ascii_lowercase();
        let hint = if lower.contains("out of memory") || lower.contains("can't allocate") {
            "; try a smaller input.size, or another device"
        } else {
            ""
        };
        Error::Torch {
            what: what.into(),
            message,
            hint,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `e` and every error beneath it on one line, `a: b: c`, as the binary
/// prints it: for a message that embeds another error.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut line = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        next = cause.source();
    }
    line
}

/// Runs `f`, turning a panic (tch panics on libtorch errors such as out of
/// memory) into a one-line [`Error::Torch`] about `what`.
pub fn catch_torch<T>(what: &str, f: impl FnOnce() -> T) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|payload| Error::torch(what, panic_message(payload.as_ref())))
}

/// The text of a panic payload, as one line.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panicked".into());
    one_line(&text)
}

/// `text`'s non-empty lines, trimmed, joined by spaces.
pub fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torch_errors_are_one_line_with_a_memory_hint() {
        let e = Error::torch(
            "clip.mp4: frame 3",
            "CUDA out of memory. Tried to allocate 2.00 GiB\nException raised from malloc at ...\nframe #0: c10::...",
        );
        assert!(e
            .to_string()
            .ends_with("2.00 GiB; try a smaller input.size, or another device"));
        // As tch's panics print it: the C++ text inside a Debug string.
        let escaped = Error::torch(
            "a.png",
            r#"called `Result::unwrap()` on an `Err` value: Torch("DefaultCPUAllocator: can't allocate memory: you tried to allocate 2560000000 bytes.\nframe #0: c10::ThrowEnforceNotMet")"#,
        )
        .to_string();
        assert_eq!(
            escaped,
            "a.png: DefaultCPUAllocator: can't allocate memory: you tried to allocate 2560000000 bytes.; try a smaller input.size, or another device"
        );
        let s = e.to_string();
        assert_eq!(s.lines().count(), 1, "{s}");
        assert!(
            s.starts_with("clip.mp4: frame 3: CUDA out of memory"),
            "{s}"
        );
        assert!(s.contains("smaller input.size"), "{s}");
        let other = Error::torch("x", "Expected all tensors to be on the same device").to_string();
        assert!(!other.contains("input.size"), "{other}");
    }

    #[test]
    fn a_panicking_libtorch_call_becomes_a_torch_error() {
        let r: Result<()> = catch_torch("a.png", || {
            let t = tch::Tensor::zeros([2, 3], (tch::Kind::Float, tch::Device::Cpu));
            // Mismatched shapes: libtorch throws, tch panics.
            let _ = t.matmul(&t);
        });
        let s = r.unwrap_err().to_string();
        assert!(s.starts_with("a.png: "), "{s}");
        assert_eq!(s.lines().count(), 1, "{s}");
        assert!(!s.contains("Torch(\""), "{s}");
    }

    #[test]
    fn a_written_file_prints_its_cause_once() {
        let e = Error::Write {
            file: "out/a.json".into(),
            source: crate::files::WriteError::SyncDir(std::io::Error::other("disk gone")),
        };
        let want = "out/a.json: cannot write: cannot sync the directory: disk gone";
        assert_eq!(chain(&e), want);
        assert_eq!(format!("{:#}", anyhow::Error::from(e)), want);
    }

    #[test]
    fn partial_carries_its_cause_chain_once() {
        let inner = Error::Write {
            file: "a.png".into(),
            source: std::io::Error::other("full").into(),
        };
        let e = Error::Partial {
            cause: Box::new(inner),
            kept: 2,
            work_dir: "w".into(),
        };
        let want = "a.png: cannot write: full; the 2 frames before it are kept in w";
        assert_eq!(format!("{:#}", anyhow::Error::from(e)), want);
    }

    #[test]
    fn the_workers_interrupt_is_an_interrupt() {
        let e = Error::from(crate::farm::workers::WorkerError::Interrupted);
        assert!(e.is_interrupted());
        let failed = crate::farm::workers::WorkerError::Failed { list: "0/2".into() };
        assert!(!Error::from(failed).is_interrupted());
    }

    #[test]
    fn partial_names_the_cause_and_the_kept_frames() {
        let e = Error::Partial {
            cause: Box::new(Error::NoFrames {
                input: "a.mp4".into(),
            }),
            kept: 4,
            work_dir: "a.mp4.work".into(),
        };
        assert_eq!(
            e.to_string(),
            "a.mp4: no frames to process; the 4 frames before it are kept in a.mp4.work"
        );
        assert!(!e.is_interrupted());
    }
}
