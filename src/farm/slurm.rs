//! Slurm scripts for a sharded job: an array job with one task per shard
//! (`vstyle run JOB --shard N`, the shard index from `SLURM_ARRAY_TASK_ID`),
//! an array job with one task per seam between them (`vstyle join JOB
//! --seam M`), and a join job (`vstyle join JOB`) that encodes once every
//! task succeeded. Each job waits for the one before (`afterok`).
//!
//! The templates are `scripts/slurm/array.sbatch` (both arrays) and
//! `join.sbatch`, built into the binary so an installed `vstyle` needs no
//! checkout. Their `{{name}}` placeholders are filled in one pass, so a
//! value that happens to contain braces is never read as a placeholder.
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

const ARRAY_TEMPLATE: &str = include_str!("../../scripts/slurm/array.sbatch");
const JOIN_TEMPLATE: &str = include_str!("../../scripts/slurm/join.sbatch");

/// The most shards one job may be split into (also a common `MaxArraySize`).
pub const MAX_SHARDS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("--shards {0}: must be between 1 and {MAX_SHARDS}")]
    Shards(usize),
    #[error("--cpus-per-task {0}: must be at least 1")]
    Cpus(u32),
    /// A value that would break the `#SBATCH` line it goes into.
    #[error("{option} {value:?}: {reason}")]
    Option {
        option: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("{path:?}: {reason}")]
    Path { path: PathBuf, reason: &'static str },
    /// A template names a placeholder the plan does not fill (a bug).
    #[error("{template}: unknown placeholder {{{{{name}}}}}")]
    Template {
        template: &'static str,
        name: String,
    },
    #[error("{}: cannot write", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sbatch not found: install Slurm's client or run without --submit")]
    SbatchNotFound,
    #[error("`{command}` failed: {message}")]
    Sbatch { command: String, message: String },
    #[error("cannot run `{command}`")]
    SbatchStart {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` printed {output:?}, not a job id")]
    JobId { command: String, output: String },
    /// Jobs are queued but the next one is not: say how to recover. The
    /// recovery ends the line, so the cause is inside it, not a source.
    #[error("job(s) {queued} are queued but {script} is not ({}); cancel them with `scancel {queued}` and submit again", chain(.cause.as_ref()))]
    NotSubmitted {
        /// The queued ids, space-separated.
        queued: String,
        script: String,
        cause: Box<SlurmError>,
    },
}

use crate::error::{chain, Result};

/// What this module's helpers return; the public functions return [`crate::Result`].
type SlurmResult<T> = std::result::Result<T, SlurmError>;

/// What to render: one job file split into `shards` array tasks.
#[derive(Debug, Clone)]
pub struct SlurmPlan {
    /// The job file, absolute (the tasks may start in another directory).
    pub job: PathBuf,
    pub shards: usize,
    /// Generic resources per task, e.g. `gpu:1`.
    pub gres: Option<String>,
    pub partition: Option<String>,
    /// Time limit per task, e.g. `02:00:00` or `1-12:00:00`.
    pub time: Option<String>,
    pub cpus_per_task: u32,
    /// The vstyle executable the tasks run, absolute.
    pub vstyle: PathBuf,
    /// Where the scripts are written; their logs go to `logs/` inside it.
    pub script_dir: PathBuf,
}

/// The scripts as text; no seam array for one shard.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub array: String,
    pub seams: Option<String>,
    pub join: String,
}

/// The scripts as written, ready for `sbatch`.
#[derive(Debug, Clone)]
pub struct Scripts {
    pub array: PathBuf,
    pub seams: Option<PathBuf>,
    pub join: PathBuf,
    pub log_dir: PathBuf,
    pub shards: usize,
}

/// The ids `sbatch` gave the jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    pub array: u64,
    pub seams: Option<u64>,
    pub join: u64,
}

impl SlurmPlan {
    pub fn log_dir(&self) -> PathBuf {
        self.script_dir.join("logs")
    }

    /// Checks every value before it goes into a script: a shard count in
    /// range, absolute paths, and nothing that would end an `#SBATCH` line
    /// early or start a new one.
    pub fn validate(&self) -> Result<()> {
        if !(1..=MAX_SHARDS).contains(&self.shards) {
            return Err(SlurmError::Shards(self.shards).into());
        }
        if self.cpus_per_task == 0 {
            return Err(SlurmError::Cpus(self.cpus_per_task).into());
        }
        for path in [&self.job, &self.vstyle, &self.script_dir] {
            check_path(path)?;
        }
        // The log path goes into `#SBATCH --output`, where Slurm splits at
        // whitespace and reads % as a pattern.
        let logs = self.log_dir();
        if logs
            .to_string_lossy()
            .chars()
            .any(|c| c.is_whitespace() || c == '%')
        {
            return Err(SlurmError::Path {
                path: logs,
                reason: "the log directory must not contain whitespace or % (Slurm reads them in --output); pass another --script-dir",
            }
            .into());
        }
        let options = [
            ("--gres", &self.gres),
            ("--partition", &self.partition),
            ("--time", &self.time),
        ];
        for (option, value) in options {
            if let Some(v) = value {
                check_option(option, v)?;
            }
        }
        Ok(())
    }

    /// The `#SBATCH` lines for the optional resources, one per line.
    fn resources(&self) -> String {
        let mut lines = Vec::new();
        if let Some(g) = &self.gres {
            lines.push(format!("#SBATCH --gres={g}"));
        }
        if let Some(p) = &self.partition {
            lines.push(format!("#SBATCH --partition={p}"));
        }
        if let Some(t) = &self.time {
            lines.push(format!("#SBATCH --time={t}"));
        }
        lines.join("\n")
    }

    /// `vstyle-<job file stem>`, in characters any Slurm accepts in a name.
    fn job_name(&self) -> String {
        let stem = self
            .job
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let clean: String = stem
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        format!("vstyle-{clean}")
    }

    pub fn render(&self) -> Result<Rendered> {
        self.validate()?;
        let vstyle = shell_quote(self.vstyle.as_os_str());
        let job = shell_quote(self.job.as_os_str());
        let common = vec![
            ("job_file", self.job.display().to_string()),
            ("cpus_per_task", self.cpus_per_task.to_string()),
            ("resources", self.resources()),
            ("log_dir", self.log_dir().display().to_string()),
        ];
        let seams = self.shards - 1;
        let join_job = "the join job (join.sbatch)";
        let shards = ArrayJob {
            step: "step 1: one array task per shard",
            name: self.job_name(),
            task: "shard",
            count: self.shards,
            command: format!("{vstyle} run {job} --shard {}", self.shards),
            next: if seams > 0 {
                "the seam job (seams.sbatch)"
            } else {
                join_job
            },
        };
        let seam_job = ArrayJob {
            step: "step 2: one array task per seam between two shards",
            name: format!("{}-seams", self.job_name()),
            task: "seam",
            count: seams,
            command: format!("{vstyle} join {job} --seam {seams}"),
            next: join_job,
        };
        let mut join = common.clone();
        join.extend([
            ("job_name", self.job_name()),
            ("job", job),
            ("vstyle", vstyle),
        ]);
        Ok(Rendered {
            array: shards.render(&common)?,
            seams: (seams > 0).then(|| seam_job.render(&common)).transpose()?,
            join: fill("join.sbatch", JOIN_TEMPLATE, &join)?,
        })
    }

    /// Renders and writes `array.sbatch`, `seams.sbatch` (more than one
    /// shard) and `join.sbatch` into the script directory, and makes the log
    /// directory (Slurm does not create it).
    pub fn write(&self) -> Result<Scripts> {
        let rendered = self.render()?;
        let log_dir = self.log_dir();
        std::fs::create_dir_all(&log_dir).map_err(|source| SlurmError::Write {
            path: log_dir.clone(),
            source,
        })?;
        let write = |name: &str, text: &str| -> SlurmResult<PathBuf> {
            let path = self.script_dir.join(name);
            write_script(&path, text)?;
            Ok(path)
        };
        Ok(Scripts {
            array: write("array.sbatch", &rendered.array)?,
            seams: rendered
                .seams
                .map(|text| write("seams.sbatch", &text))
                .transpose()?,
            join: write("join.sbatch", &rendered.join)?,
            log_dir,
            shards: self.shards,
        })
    }
}

/// One array job's own values for `array.sbatch`.
struct ArrayJob {
    step: &'static str,
    name: String,
    /// What one task is: `shard` or `seam`.
    task: &'static str,
    count: usize,
    /// The command a task runs, quoted for the shell.
    command: String,
    /// The job that waits for this one.
    next: &'static str,
}

impl ArrayJob {
    fn render(self, common: &[(&'static str, String)]) -> SlurmResult<String> {
        let mut values = common.to_vec();
        values.extend([
            ("step", self.step.to_string()),
            ("job_name", self.name),
            ("task", self.task.to_string()),
            ("tasks", self.count.to_string()),
            ("last_task", (self.count - 1).to_string()),
            ("command", self.command),
            ("next", self.next.to_string()),
        ]);
        fill("array.sbatch", ARRAY_TEMPLATE, &values)
    }
}

/// Fills `{{name}}` placeholders in one pass. A placeholder alone on its
/// line whose value is empty takes its line with it.
fn fill(template: &'static str, text: &str, values: &[(&str, String)]) -> SlurmResult<String> {
    let mut out = String::with_capacity(text.len() + 512);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err(SlurmError::Template {
                template,
                name: after.lines().next().unwrap_or("").to_string(),
            });
        };
        let name = &after[..end];
        let value = values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| SlurmError::Template {
                template,
                name: name.to_string(),
            })?;
        rest = &after[end + 2..];
        let whole_line = (out.is_empty() || out.ends_with('\n')) && rest.starts_with('\n');
        if value.is_empty() && whole_line {
            rest = &rest[1..];
        }
        out.push_str(value);
    }
    out.push_str(rest);
    Ok(out)
}

fn write_script(path: &Path, text: &str) -> SlurmResult<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let err = |source| SlurmError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    // Through a temporary file: sbatch never reads half a script.
    let mut tmp = tempfile::Builder::new()
        .prefix(".vstyle-")
        .permissions(std::fs::Permissions::from_mode(0o755))
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// A word as a POSIX shell reads it back: unchanged when it is plain,
/// otherwise in single quotes.
pub fn shell_quote(word: &OsStr) -> String {
    let s = word.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn command_line(program: &OsStr, args: &[OsString]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(OsString::as_os_str))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Scripts {
    /// `sbatch` arguments that submit the array job and print its id.
    pub fn array_args(&self) -> Vec<OsString> {
        vec!["--parsable".into(), self.array.clone().into()]
    }

    /// `sbatch` arguments that submit `script` to run after job `after`
    /// succeeded.
    pub fn after_args(script: &Path, after: u64) -> Vec<OsString> {
        vec![
            "--parsable".into(),
            format!("--dependency=afterok:{after}").into(),
            script.into(),
        ]
    }

    /// The shell commands that submit the jobs by hand, one per line.
    pub fn submit_commands(&self) -> Vec<String> {
        let array = command_line("sbatch".as_ref(), &self.array_args());
        // --parsable prints `id;cluster` on a multi-cluster site.
        let after = |script: &Path| {
            format!(
                "sbatch --parsable --dependency=afterok:${{id%%;*}} {}",
                shell_quote(script.as_os_str())
            )
        };
        let mut lines = vec![format!("id=$({array})")];
        lines.extend(self.seams.as_deref().map(|s| format!("id=$({})", after(s))));
        lines.push(after(&self.join));
        lines
    }

    /// Submits the array job, then the seam job and the join job, each
    /// depending on the one before.
    pub fn submit(&self) -> Result<Submitted> {
        self.submit_with("sbatch".as_ref())
    }

    /// As [`Scripts::submit`], with another `sbatch` program.
    pub fn submit_with(&self, sbatch: &OsStr) -> Result<Submitted> {
        let mut queued = vec![run_sbatch(sbatch, &self.array_args())?];
        for script in self.seams.iter().chain([&self.join]) {
            let after = queued[queued.len() - 1];
            let id = run_sbatch(sbatch, &Self::after_args(script, after)).map_err(|e| {
                SlurmError::NotSubmitted {
                    queued: queued
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                    script: shell_quote(script.as_os_str()),
                    cause: Box::new(e),
                }
            })?;
            queued.push(id);
        }
        Ok(Submitted {
            array: queued[0],
            seams: self.seams.as_ref().map(|_| queued[1]),
            join: queued[queued.len() - 1],
        })
    }
}

/// Runs `sbatch --parsable ...` and reads the job id it prints.
fn run_sbatch(program: &OsStr, args: &[OsString]) -> SlurmResult<u64> {
    let command = command_line(program, args);
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SlurmError::SbatchNotFound,
            _ => SlurmError::SbatchStart {
                command: command.clone(),
                source: e,
            },
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let message = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map_or_else(|| out.status.to_string(), str::to_string);
        return Err(SlurmError::Sbatch { command, message });
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    parse_job_id(&stdout).ok_or_else(|| SlurmError::JobId {
        command,
        output: stdout.trim().to_string(),
    })
}

/// The id in `sbatch --parsable` output: `123` or `123;cluster`.
fn parse_job_id(stdout: &str) -> Option<u64> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty())?;
    line.split(';').next()?.parse().ok()
}

/// A path a script names: absolute (the tasks may start elsewhere) and
/// without control characters.
fn check_path(path: &Path) -> SlurmResult<()> {
    let reason = if !path.is_absolute() {
        "must be absolute (the tasks may start in another directory)"
    } else if path.to_string_lossy().chars().any(char::is_control) {
        "a control character in a path would break the script"
    } else {
        return Ok(());
    };
    Err(SlurmError::Path {
        path: path.to_path_buf(),
        reason,
    })
}

/// An `#SBATCH` option's value: one word, and a Slurm time for `--time`.
fn check_option(option: &'static str, v: &str) -> SlurmResult<()> {
    let time = |v: &str| {
        v.chars()
            .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
    };
    let reason = if v.is_empty() {
        "must not be empty"
    } else if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        "must not contain whitespace"
    } else if option == "--time" && !time(v) {
        "expected a Slurm time such as 02:00:00 or 1-12:00:00"
    } else {
        return Ok(());
    };
    Err(SlurmError::Option {
        option,
        value: v.to_string(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(shards: usize) -> SlurmPlan {
        SlurmPlan {
            job: "/farm/jobs/my clip.toml".into(),
            shards,
            gres: None,
            partition: None,
            time: None,
            cpus_per_task: 4,
            vstyle: "/opt/vstyle/bin/vstyle".into(),
            script_dir: "/farm/out/clip.mp4.work/slurm".into(),
        }
    }

    fn sbatch_lines(script: &str) -> Vec<&str> {
        script
            .lines()
            .filter(|l| l.starts_with("#SBATCH"))
            .collect()
    }

    #[test]
    fn every_placeholder_is_filled() {
        let mut p = plan(3);
        p.gres = Some("gpu:1".into());
        p.partition = Some("gpu".into());
        p.time = Some("02:00:00".into());
        for r in [plan(3).render().unwrap(), p.render().unwrap()] {
            for text in [&r.array, r.seams.as_ref().unwrap(), &r.join] {
                assert!(!text.contains("{{"), "{text}");
                assert!(!text.contains("}}"), "{text}");
                assert!(text.starts_with("#!/bin/bash\n"), "{text}");
            }
        }
    }

    #[test]
    fn the_array_covers_the_shards_and_runs_each_one() {
        let r = plan(3).render().unwrap();
        let lines = sbatch_lines(&r.array);
        assert!(lines.contains(&"#SBATCH --array=0-2"), "{lines:?}");
        assert!(lines.contains(&"#SBATCH --cpus-per-task=4"), "{lines:?}");
        assert!(
            lines.contains(&"#SBATCH --job-name=vstyle-my_clip"),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"#SBATCH --output=/farm/out/clip.mp4.work/slurm/logs/shard-%a.log"),
            "{lines:?}"
        );
        // Paths with spaces are quoted for the shell.
        assert!(
            r.array
                .contains("/opt/vstyle/bin/vstyle run '/farm/jobs/my clip.toml' --shard 3 &\n"),
            "{}",
            r.array
        );
        assert!(
            r.join
                .contains("exec /opt/vstyle/bin/vstyle join '/farm/jobs/my clip.toml'\n"),
            "{}",
            r.join
        );
        let one = plan(1).render().unwrap();
        assert!(sbatch_lines(&one.array).contains(&"#SBATCH --array=0-0"));
        assert!(one.seams.is_none(), "one shard has no seams");
    }

    #[test]
    fn the_seam_array_repairs_each_seam_between_the_shards() {
        let r = plan(3).render().unwrap();
        let seams = r.seams.unwrap();
        let lines = sbatch_lines(&seams);
        for want in [
            "#SBATCH --array=0-1",
            "#SBATCH --job-name=vstyle-my_clip-seams",
            "#SBATCH --output=/farm/out/clip.mp4.work/slurm/logs/seam-%a.log",
            "#SBATCH --signal=B:TERM@120",
            "#SBATCH --requeue",
        ] {
            assert!(lines.contains(&want), "{want} missing from {lines:?}");
        }
        assert!(
            seams.contains("/opt/vstyle/bin/vstyle join '/farm/jobs/my clip.toml' --seam 2 &\n"),
            "{seams}"
        );
        assert!(seams.contains("trap on_term TERM"), "{seams}");
    }

    #[test]
    fn signal_requeue_and_append_lines_are_present() {
        let r = plan(2).render().unwrap();
        let lines = sbatch_lines(&r.array);
        for want in [
            "#SBATCH --signal=B:TERM@120",
            "#SBATCH --requeue",
            "#SBATCH --open-mode=append",
        ] {
            assert!(lines.contains(&want), "{want} missing from {lines:?}");
        }
        // The shell passes TERM on to vstyle and waits for its exit code.
        assert!(r.array.contains("trap on_term TERM"), "{}", r.array);
        assert!(r.array.contains("kill -TERM \"$pid\""), "{}", r.array);
        assert!(r.array.contains("wait \"$pid\""), "{}", r.array);
        let join = sbatch_lines(&r.join);
        assert!(
            join.contains(&"#SBATCH --kill-on-invalid-dep=yes"),
            "{join:?}"
        );
        assert!(join.contains(&"#SBATCH --requeue"), "{join:?}");
        // Every directive comes before the first command, or sbatch ignores it.
        for text in [&r.array, r.seams.as_ref().unwrap(), &r.join] {
            let lines: Vec<&str> = text.lines().collect();
            let first_command = lines
                .iter()
                .position(|l| !l.is_empty() && !l.starts_with('#'))
                .unwrap();
            let last_directive = lines
                .iter()
                .rposition(|l| l.starts_with("#SBATCH"))
                .unwrap();
            assert!(last_directive < first_command, "{text}");
        }
    }

    #[test]
    fn gres_partition_and_time_only_when_given() {
        let bare = plan(2).render().unwrap();
        for text in [&bare.array, &bare.join] {
            assert!(!text.contains("--gres"), "{text}");
            assert!(!text.contains("--partition"), "{text}");
            assert!(!text.contains("--time"), "{text}");
            // The empty placeholder leaves no blank line among the directives.
            assert!(!text.contains("\n\n#SBATCH"), "{text}");
        }
        let mut p = plan(2);
        p.gres = Some("gpu:1".into());
        let r = p.render().unwrap();
        for text in [&r.array, r.seams.as_ref().unwrap(), &r.join] {
            let lines = sbatch_lines(text);
            assert!(lines.contains(&"#SBATCH --gres=gpu:1"), "{lines:?}");
            assert!(!text.contains("--partition") && !text.contains("--time"));
        }
        p.partition = Some("render".into());
        p.time = Some("1-12:00:00".into());
        let r = p.render().unwrap();
        let lines = sbatch_lines(&r.array);
        assert!(lines.contains(&"#SBATCH --partition=render"), "{lines:?}");
        assert!(lines.contains(&"#SBATCH --time=1-12:00:00"), "{lines:?}");
    }

    fn scripts(seams: bool) -> Scripts {
        Scripts {
            array: "/s/array.sbatch".into(),
            seams: seams.then(|| "/s/seams.sbatch".into()),
            join: "/s/join.sbatch".into(),
            log_dir: "/s/logs".into(),
            shards: 3,
        }
    }

    #[test]
    fn each_job_is_submitted_after_the_one_before_succeeds() {
        let s = scripts(true);
        assert_eq!(s.array_args(), ["--parsable", "/s/array.sbatch"]);
        assert_eq!(
            Scripts::after_args(&s.join, 41),
            ["--parsable", "--dependency=afterok:41", "/s/join.sbatch"]
        );
        let after =
            |script: &str| format!("sbatch --parsable --dependency=afterok:${{id%%;*}} {script}");
        assert_eq!(
            s.submit_commands(),
            [
                "id=$(sbatch --parsable /s/array.sbatch)".to_string(),
                format!("id=$({})", after("/s/seams.sbatch")),
                after("/s/join.sbatch"),
            ]
        );
        assert_eq!(scripts(false).submit_commands().len(), 2);

        // A fake sbatch that queues the first job, then fails.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("sbatch");
        let calls = dir.path().join("calls");
        let body = format!(
            "#!/bin/sh\necho x >> {c}\n[ $(wc -l < {c}) -eq 1 ] && echo 41 && exit 0\necho 'queue full' >&2\nexit 1\n",
            c = calls.display()
        );
        std::fs::write(&fake, body).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = s.submit_with(fake.as_os_str()).unwrap_err().to_string();
        assert!(
            e.starts_with("job(s) 41 are queued but /s/seams.sbatch is not (")
                && e.contains("queue full")
                && e.ends_with("cancel them with `scancel 41` and submit again"),
            "{e}"
        );
    }

    #[test]
    fn bad_plans_are_one_line_errors_naming_the_value() {
        let msg = |p: SlurmPlan| {
            let s = p.render().unwrap_err().to_string();
            assert_eq!(s.lines().count(), 1, "{s}");
            s
        };
        assert_eq!(msg(plan(0)), "--shards 0: must be between 1 and 10000");
        assert_eq!(
            msg(plan(10_001)),
            "--shards 10001: must be between 1 and 10000"
        );
        assert!(plan(10_000).render().is_ok());
        let mut p = plan(2);
        p.cpus_per_task = 0;
        assert_eq!(msg(p), "--cpus-per-task 0: must be at least 1");
        let mut p = plan(2);
        p.gres = Some("gpu:1\n#SBATCH --x".into());
        assert!(msg(p).starts_with("--gres \"gpu:1\\n#SBATCH --x\": must not contain whitespace"));
        let mut p = plan(2);
        p.time = Some("2h".into());
        assert!(msg(p).contains("expected a Slurm time"));
        let mut p = plan(2);
        p.job = "job.toml".into();
        assert!(msg(p).starts_with("\"job.toml\": must be absolute"));
        let mut p = plan(2);
        p.script_dir = "/farm/my out".into();
        assert!(msg(p).starts_with("\"/farm/my out/logs\": the log directory"));
    }

    #[test]
    fn values_are_never_read_as_placeholders() {
        let mut p = plan(2);
        p.job = "/jobs/{{shards}}.toml".into();
        let r = p.render().unwrap();
        assert!(
            r.array.contains("run '/jobs/{{shards}}.toml' --shard 2"),
            "{}",
            r.array
        );
        assert!(matches!(
            fill("t", "a {{nope}} b", &[]),
            Err(SlurmError::Template { .. })
        ));
    }

    #[test]
    fn scripts_are_written_with_their_log_directory() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = plan(2);
        p.script_dir = dir.path().join("slurm");
        let s = p.write().unwrap();
        assert!(s.log_dir.is_dir());
        assert_eq!(
            std::fs::read_to_string(&s.array).unwrap(),
            p.render().unwrap().array
        );
        assert!(std::fs::read_to_string(&s.join).unwrap().contains(" join "));
        let seams = std::fs::read_to_string(s.seams.as_ref().unwrap()).unwrap();
        assert!(seams.contains(" --seam 1 &"), "{seams}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&s.array).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
    }

    #[test]
    fn sbatch_failures_name_the_command() {
        let s = scripts(true);
        let e = s.submit_with("/nonexistent/sbatch".as_ref()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sbatch not found: install Slurm's client or run without --submit"
        );
        // `echo` exits 0 but prints no id.
        let e = s.submit_with("echo".as_ref()).unwrap_err().to_string();
        assert_eq!(
            e,
            "`echo --parsable /s/array.sbatch` printed \"--parsable /s/array.sbatch\", not a job id"
        );
        let e = s.submit_with("false".as_ref()).unwrap_err().to_string();
        assert!(
            e.starts_with("`false --parsable /s/array.sbatch` failed: exit status: 1"),
            "{e}"
        );
        assert_eq!(parse_job_id("12\n"), Some(12));
        assert_eq!(parse_job_id("77;cluster2\n"), Some(77));
        assert_eq!(parse_job_id("Submitted batch job 5\n"), None);
    }
}
