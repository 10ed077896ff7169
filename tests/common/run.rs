//! Running the binary and checking how it ended.
use std::ffi::OsStr;
use std::process::{Command, Output};

/// The binary, with its tensor maths on one thread (the tests run several
/// at once, and OpenMP's spinning threads on a busy 2-core machine make a
/// run ten times slower) and without the scheduler's variables of the
/// machine running the tests, which would make it a shard.
pub fn command() -> Command {
    let mut c = Command::new(super::bin());
    c.env("OMP_NUM_THREADS", "1")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env_remove("JOB_COMPLETION_INDEX");
    c
}

/// `vstyle ARGS...`, run to its end.
pub fn vstyle(args: &[impl AsRef<OsStr>]) -> Output {
    command().args(args).output().expect("run vstyle")
}

/// `vstyle ARGS...` with `env` set (after the scheduler's are removed).
pub fn vstyle_env(args: &[impl AsRef<OsStr>], env: &[(&str, &str)]) -> Output {
    let mut c = command();
    c.args(args).envs(env.iter().copied());
    c.output().expect("run vstyle")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The exit code and both streams, for a failure message.
pub fn describe(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        stdout(o),
        stderr(o)
    )
}

/// Asserts that the run succeeded; its stdout.
pub fn succeeds(o: &Output) -> String {
    assert!(o.status.success(), "{}", describe(o));
    stdout(o)
}

/// Runs a command that must fail: exit 2 and one `error:` line, all stderr
/// says, containing every needle. That line.
pub fn fails(args: &[impl AsRef<OsStr>], needles: &[&str]) -> String {
    let what = format!("{:?}", args.iter().map(AsRef::as_ref).collect::<Vec<_>>());
    one_line_error(&vstyle(args), needles, &what)
}

/// Like [`fails`], but lines before the `error:` line (warnings, progress)
/// are allowed: the last line holds the error.
pub fn fails_last(args: &[impl AsRef<OsStr>], needles: &[&str]) -> String {
    let what = format!("{:?}", args.iter().map(AsRef::as_ref).collect::<Vec<_>>());
    last_error(&vstyle(args), needles, &what)
}

/// Exit 2 and an `error:` line as the whole of stderr, containing every
/// needle; `what` names the run in a failure message. That line.
pub fn one_line_error(o: &Output, needles: &[&str], what: &str) -> String {
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{what}: {err}");
    last_error(o, needles, what)
}

/// Exit 2 and a last stderr line `error: ...` containing every needle. That line.
pub fn last_error(o: &Output, needles: &[&str], what: &str) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{what}: {err}");
    let last = err.lines().last().unwrap_or_default().to_string();
    assert!(last.starts_with("error: "), "{what}: {err}");
    for n in needles {
        assert!(last.contains(n), "{what}: `{n}` not in {err}");
    }
    last
}
