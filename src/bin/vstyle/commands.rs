//! One function per command: each turns its arguments into a config, calls
//! the library and prints what it did.
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};
use vstyle::config::JobConfig;
use vstyle::farm::batch::{self, Entry, Outcome};
use vstyle::farm::slurm::SlurmPlan;
use vstyle::farm::status;
use vstyle::farm::workers::Workers;
use vstyle::job::seams::join::JoinOptions;
use vstyle::job::shards::plan::task_index;
use vstyle::job::{Event, JobReport, Layout, Shard, VideoJob};

use crate::cli::{
    ImageArgs, JobArgs, JoinArgs, PreviewArgs, RunArgs, SlurmArgs, VideoArgs, WeightsCommand,
};
use crate::flags::assemble;
use crate::progress::{progress_line, Progress};

/// `vstyle run JOB.toml [--set ...] [--shard I/N | --workers K]`: every
/// entry of a batch in turn (one clip for a plain job).
pub fn run(a: &RunArgs) -> Result<()> {
    let j = &a.job;
    let cfg = job_config(j)?;
    if let Some(k) = a.workers {
        return workers(a, &cfg, k);
    }
    let after = After {
        quiet: j.quiet,
        eval: a.eval,
    };
    let shard = match &a.shard {
        Some(text) => {
            let s = Shard::parse(text, |v| std::env::var(v).ok())?;
            Some(s)
        }
        None => None,
    };
    if cfg.batch.is_none() {
        return video_job(&cfg, shard, after);
    }
    check_budgets(&j.job, &cfg)?;
    each_entry(&cfg, |entry| {
        println!("== {}", entry.name);
        video_job(&entry.cfg, shard, after)
    })
}

/// The job file with `--memory-limit` and `--set`.
fn job_config(j: &JobArgs) -> Result<JobConfig> {
    let flags = crate::flags::memory_flag(j.memory_limit.as_deref());
    assemble(Some(&j.job), flags, &j.set)
}

/// Every entry of a batch against its memory limit, before the first runs.
/// An entry that cannot be estimated (a missing clip) fails on its own turn,
/// named with the others that failed.
fn check_budgets(job: &Path, cfg: &JobConfig) -> Result<()> {
    for e in batch::entries(cfg)? {
        if let Err(err @ vstyle::Error::Memory(_)) = VideoJob::budget(&e.cfg) {
            return Err(err).with_context(|| format!("{}: batch entry {}", job.display(), e.name));
        }
    }
    Ok(())
}

/// What a command does once a clip's job (or join) finished.
#[derive(Clone, Copy)]
pub struct After {
    pub quiet: bool,
    /// Measure the warping error and add it to the reports.
    pub eval: bool,
}

impl After {
    /// Prints where the HTML report is; with `eval`, measures first.
    fn report(&self, cfg: &JobConfig, report: &JobReport) -> Result<()> {
        let json = vstyle::job::Outputs::of(cfg)?.report;
        let mut page = vstyle::job::report::html::html_path(&json);
        if self.eval {
            let e = vstyle::job::report::eval::of_report(report)?;
            println!(
                "warping error {:.6} over {} frames",
                e.mean,
                e.per_frame.len() + 1
            );
            page = vstyle::job::report::eval::attach(&json, e, Vec::new())?;
        }
        if page.exists() {
            println!("report: {}", page.display());
        }
        Ok(())
    }
}

/// Runs `f` on each entry of a batch, prints what happened to each, and
/// fails (after all of them ran) when one failed.
fn each_entry(cfg: &JobConfig, mut f: impl FnMut(&Entry) -> Result<()>) -> Result<()> {
    let entries = batch::entries(cfg)?;
    let outcomes = batch::run_entries(cfg, &entries, &mut f, crate::interrupted)?;
    match vstyle::farm::index::write(cfg, &entries, &outcomes) {
        Ok(path) => println!("index: {}", path.display()),
        Err(e) => eprintln!("warning: no batch index: {}", vstyle::error::chain(&e)),
    }
    report_outcomes(&outcomes)
}

/// Prints each entry's outcome; fails when one failed.
fn report_outcomes(outcomes: &[(String, Outcome)]) -> Result<()> {
    let mut failed = Vec::new();
    for (name, outcome) in outcomes {
        match outcome {
            Outcome::Skipped => println!("{name}: already done, skipped"),
            Outcome::Done => println!("{name}: done"),
            Outcome::Failed { error } => {
                eprintln!("error: {error}");
                failed.push(name.as_str());
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{} of {} batch entries failed: {}",
        failed.len(),
        outcomes.len(),
        failed.join(", ")
    )
}

/// `--workers K`: the shards as worker processes, then the join.
fn workers(a: &RunArgs, cfg: &JobConfig, k: usize) -> Result<()> {
    let max = vstyle::job::shards::plan::MAX_SHARDS;
    anyhow::ensure!(
        (1..=max).contains(&k),
        "--workers {k}: must be in 1..={max}"
    );
    if let Some(n) = a.shards {
        anyhow::ensure!((1..=max).contains(&n), "--shards {n}: must be in 1..={max}");
    }
    let devices = a.devices.clone().unwrap_or_default();
    let on_gpu = devices.iter().any(|d| d.starts_with("cuda"));
    let w = Workers {
        exe: std::env::current_exe().context("cannot find the vstyle executable")?,
        job: a.job.job.clone(),
        sets: worker_sets(&a.job),
        workers: k,
        shards: a.shards.or_else(|| existing_shards(cfg)).unwrap_or(k),
        devices,
        threads: if on_gpu {
            0
        } else {
            vstyle::device::cpu_share(k)
        },
    };
    if !a.job.quiet {
        eprintln!(
            "running {} shards, {k} at a time{}",
            w.shards,
            if w.threads > 0 {
                format!(", {} threads each", w.threads)
            } else {
                String::new()
            }
        );
    }
    let started = std::time::Instant::now();
    w.run(crate::stop_flag(), |line| eprintln!("{line}"))?;
    println!(
        "shards done in {:.1}s; joining",
        started.elapsed().as_secs_f64()
    );
    let opts = JoinOptions {
        workers: k,
        devices: w.devices.clone(),
    };
    join_with(&a.job, &opts, a.eval)
}

/// A worker's `--set`s: the run's, with its `--memory-limit`.
fn worker_sets(j: &JobArgs) -> Vec<String> {
    let limit = j.memory_limit.iter();
    let mut sets: Vec<String> = limit.map(|l| format!("run.memory_limit={l}")).collect();
    sets.extend(j.set.iter().cloned());
    sets
}

/// The shard count a single clip's work directory already records.
fn existing_shards(cfg: &JobConfig) -> Option<usize> {
    let outputs = vstyle::job::Outputs::of(cfg).ok()?;
    Some(Layout::read(&outputs.work_dir).ok()??.shards)
}

/// `vstyle join JOB.toml [--workers K]`: every entry of a batch.
pub fn join(a: &JoinArgs) -> Result<()> {
    let opts = JoinOptions {
        workers: a.workers.unwrap_or(1),
        devices: a.devices.clone().unwrap_or_default(),
    };
    match &a.seam {
        Some(text) => repair_seam(&a.job, &opts, text),
        None => join_with(&a.job, &opts, false),
    }
}

/// `vstyle join JOB.toml --seam I/N`: one seam window, for a scheduler's
/// task; the join after it finds the window done.
fn repair_seam(a: &JobArgs, opts: &JoinOptions, text: &str) -> Result<()> {
    let env = |v: &str| std::env::var(v).ok();
    let (i, n) = task_index("--seam", "seams", text, env)?;
    let cfg = job_config(a)?;
    let repair_one = |cfg: &JobConfig| -> Result<()> {
        let repaired = with_progress(a.quiet, cfg, |stop, on_event| {
            vstyle::job::seams::join::repair_seam(cfg, opts, (i, n), stop, on_event)
        })?;
        match repaired {
            Some(r) => println!(
                "seam {i}/{n} at frame {} (frames {}..{}): {}",
                r.seam,
                r.first,
                r.end,
                if r.resumed {
                    "repaired before"
                } else {
                    "repaired"
                }
            ),
            None => println!("seam {i}/{n}: nothing to repair (shards.seam_window = 0)"),
        }
        Ok(())
    };
    each_clip(&cfg, repair_one)
}

fn join_with(a: &JobArgs, opts: &JoinOptions, eval: bool) -> Result<()> {
    let after = After {
        quiet: a.quiet,
        eval,
    };
    let cfg = job_config(a)?;
    let join_one = |cfg: &JobConfig| -> Result<()> {
        let report = with_progress(a.quiet, cfg, |stop, on_event| {
            vstyle::job::seams::join::join(cfg, opts, stop, on_event)
        })?;
        summary(cfg, &report);
        after.report(cfg, &report)
    };
    each_clip(&cfg, join_one)
}

/// `f` on a job's clip, or on each entry of a batch (see [`each_entry`]).
fn each_clip(cfg: &JobConfig, mut f: impl FnMut(&JobConfig) -> Result<()>) -> Result<()> {
    if cfg.batch.is_none() {
        return f(cfg);
    }
    each_entry(cfg, |entry| f(&entry.cfg))
}

/// Runs `work` with the stop flag (Ctrl-C, SIGTERM) and `cfg`'s progress
/// display, which is closed before the result is looked at.
fn with_progress<T>(
    quiet: bool,
    cfg: &JobConfig,
    work: impl FnOnce(&'static AtomicBool, &mut dyn FnMut(Event)) -> vstyle::Result<T>,
) -> vstyle::Result<T> {
    let mut progress = Progress::new(quiet, cfg.run.print_every);
    let result = work(crate::stop_flag(), &mut |ev| progress.event(ev));
    progress.finish();
    result
}

/// `vstyle status JOB.toml [--json]`.
pub fn status(job: &Path, set: &[String], json: bool) -> Result<()> {
    let cfg = assemble(Some(job), Vec::new(), set)?;
    let rows: Vec<_> = batch::entries(&cfg)?.iter().map(status::of).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    print!("{}", crate::tables::status_table(&rows));
    Ok(())
}

pub fn image(a: &ImageArgs) -> Result<()> {
    let cfg = a.job()?;
    let every = cfg.run.print_every;
    let quiet = a.flags.quiet;
    let s = vstyle::job::pipeline::still::stylize_image(&cfg, &a.content, &a.output, |r| {
        if !quiet && every > 0 && (r.iteration % every == 0 || r.iteration == 1) {
            eprintln!("{}", progress_line("", r));
        }
        ControlFlow::Continue(())
    })?;
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
        return Ok(());
    }
    println!(
        "wrote {} ({}x{}) in {:.1}s on {}: {} iterations, {} evaluations, style loss {:.3e} -> {:.3e}, content loss {:.3e} -> {:.3e}",
        a.output.display(),
        s.width,
        s.height,
        s.seconds,
        s.device,
        s.iterations,
        s.evaluations,
        s.initial.style,
        s.last.style,
        s.initial.content,
        s.last.content
    );
    Ok(())
}

pub fn video_job(cfg: &JobConfig, shard: Option<Shard>, after: After) -> Result<()> {
    // An interrupted job is an error whose variant the caller maps to exit 130.
    let report = with_progress(after.quiet, cfg, |stop, on_event| {
        VideoJob::new(cfg, shard).and_then(|job| job.run(stop, on_event))
    })?;
    if let Some(s) = shard {
        let t = &report.totals;
        println!(
            "shard {s}: {} frames ({} resumed) in {:.1}s on {}; run `vstyle join` when every shard is done",
            t.frames, t.resumed_frames, t.wall_seconds, report.device
        );
        return Ok(());
    }
    summary(cfg, &report);
    after.report(cfg, &report)
}

fn summary(cfg: &JobConfig, report: &JobReport) {
    let t = &report.totals;
    let out = report
        .output
        .as_ref()
        .map(|p| p.display().to_string())
        .or_else(|| cfg.output.frames.clone())
        .unwrap_or_default();
    println!(
        "wrote {out} ({} frames, {}x{}, {} resumed) in {:.1}s on {}: {} iterations, {:.2} frames/min",
        t.frames, report.width, report.height, t.resumed_frames, t.wall_seconds, report.device, t.iterations, t.frames_per_minute
    );
    if !report.seams.is_empty() {
        let frames: usize = report.seams.iter().map(|s| s.end - s.first).sum();
        println!(
            "repaired {} seams ({frames} frames re-optimised)",
            report.seams.len()
        );
    }
}

pub fn video(a: &VideoArgs) -> Result<()> {
    let after = After {
        quiet: a.flags.quiet,
        eval: a.eval,
    };
    video_job(&a.job()?, None, after)
}

/// `vstyle preview JOB.toml|CLIP [--vary KEY=V1,V2 ...] [--frames ...]`.
pub fn preview(a: &PreviewArgs) -> Result<()> {
    anyhow::ensure!(
        !(a.is_job_file() && a.flags.config.is_some()),
        "{}: a job file and --config: give one",
        a.source.display()
    );
    let varies = a
        .vary
        .iter()
        .map(|v| vstyle::preview::parse_vary(v))
        .collect::<Result<Vec<_>, _>>()?;
    let configure = |extra: &[(String, toml::Value)]| a.config(extra);
    let output = match &a.output {
        Some(p) => p.clone(),
        None => default_sheet(&configure(&[])?),
    };
    let opts = vstyle::preview::Options {
        varies,
        frames: a.frames.clone(),
        strip: a.strip,
        size: a.flags.size,
        output,
    };
    let quiet = a.flags.quiet;
    let info = vstyle::preview::run(&configure, &opts, crate::stop_flag(), |c| {
        if !quiet {
            let (first, last) = c.frames;
            eprintln!(
                "[{}/{}] {}, frames {first}-{last}: {:.1}s",
                c.number, c.total, c.label, c.seconds
            );
        }
    })?;
    println!(
        "wrote {} ({} x {} cells, {} runs of {} frames at {}x{}) in {:.1}s; grid in {}",
        opts.output.display(),
        info.rows,
        info.columns,
        info.runs.len(),
        info.strip,
        info.frame_size.0,
        info.frame_size.1,
        info.seconds,
        opts.output.with_extension("json").display()
    );
    Ok(())
}

/// `<output.path>.preview.png`, or `<clip stem>.preview.png` here.
fn default_sheet(cfg: &JobConfig) -> PathBuf {
    match &cfg.output.path {
        Some(p) => {
            let mut name = p.as_os_str().to_os_string();
            name.push(".preview.png");
            PathBuf::from(name)
        }
        None => {
            let stem = cfg.input.path.file_stem().unwrap_or_default();
            PathBuf::from(format!("{}.preview.png", stem.to_string_lossy()))
        }
    }
}

fn find_python() -> PathBuf {
    let venv = vstyle::config::vstyle_home().join("venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

pub fn weights(cmd: &WeightsCommand) -> Result<()> {
    match cmd {
        WeightsCommand::Import {
            input,
            output,
            format,
        } => {
            // The importer is a Python script (it needs torch.load, onnx and
            // scipy); it is built into the binary so it works from anywhere.
            let script = include_str!("../../../scripts/import_weights.py");
            let mut c = std::process::Command::new(find_python());
            c.arg("-c").arg(script).arg(input).arg("-o").arg(output);
            if let Some(f) = format {
                c.arg("--format").arg(f);
            }
            let status = c.status().with_context(|| {
                format!(
                    "cannot run {} (run scripts/setup.sh)",
                    find_python().display()
                )
            })?;
            if !status.success() {
                return Err(crate::ExitWith(status.code().unwrap_or(2)).into());
            }
            Ok(())
        }
    }
}

pub fn eval(
    input: &Path,
    outputs: &[PathBuf],
    json: Option<&Path>,
    plot: Option<&Path>,
    max_frames: Option<usize>,
) -> Result<()> {
    let mut results = Vec::new();
    for (i, o) in outputs.iter().enumerate() {
        let r = vstyle::job::report::eval::warping_error(input, o, max_frames)?;
        let colour = if outputs.len() > 1 && plot.is_some() {
            format!(
                "  (plot colour rgb{:?})",
                vstyle::plot::COLORS[i % vstyle::plot::COLORS.len()]
            )
        } else {
            String::new()
        };
        println!(
            "{}: warping error {:.6} over {} frames at {}x{}, {:.1}% of pixels reliable{colour}",
            o.display(),
            r.mean,
            r.per_frame.len() + 1,
            r.width,
            r.height,
            100.0 * r.reliable_fraction
        );
        results.push(r);
    }
    // Beside a job's report (default name), the result joins it, with the
    // other outputs measured in the same call to compare it with.
    for (i, o) in outputs.iter().enumerate() {
        let json = report_beside(o);
        if json.exists() {
            let mut others = results.clone();
            let own = others.remove(i);
            let page = vstyle::job::report::eval::attach(&json, own, others)?;
            eprintln!("added to {}", page.display());
        }
    }
    if let Some(p) = json {
        vstyle::files::write_atomic(p, |w| serde_json::to_writer_pretty(w, &results))?;
    }
    if let Some(p) = plot {
        let series: Vec<(String, Vec<f64>)> = results
            .iter()
            .map(|r| (r.output.clone(), r.per_frame.clone()))
            .collect();
        vstyle::plot::line_chart(p, &series)?;
    }
    Ok(())
}

/// The JSON report a job writes by default beside `output`.
fn report_beside(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_os_string();
    name.push(".report.json");
    PathBuf::from(name)
}

/// `vstyle check JOB.toml`: every entry of a batch; the first bad one is
/// the error.
pub fn check(job: &Path, set: &[String], memory_limit: Option<&str>) -> Result<()> {
    let cfg = assemble(Some(job), crate::flags::memory_flag(memory_limit), set)?;
    let entries = batch::entries(&cfg)?;
    for e in &entries {
        let (info, memory) = VideoJob::check(&e.cfg).map_err(|err| match cfg.batch {
            Some(_) => anyhow::Error::from(err).context(format!(
                "{}: batch entry {}",
                job.display(),
                e.name
            )),
            None => err.into(),
        })?;
        let name = match cfg.batch {
            Some(_) => format!("{} [{}]", job.display(), e.name),
            None => job.display().to_string(),
        };
        print_checked(&name, &info);
        println!("  memory: {memory}");
    }
    Ok(())
}

fn print_checked(name: &str, info: &vstyle::video::SourceInfo) {
    println!(
        "{}: ok ({}, {} frames at {}x{}, {}/{} fps{})",
        name,
        info.path.display(),
        info.frame_count.map_or("?".to_string(), |n| n.to_string()),
        info.width,
        info.height,
        info.frame_rate.0,
        info.frame_rate.1,
        if info.has_audio { ", audio" } else { "" }
    );
    for note in info.notes() {
        println!("  input: {note}");
    }
}

/// `vstyle slurm JOB.toml --shards N [--submit]`: the array and join scripts,
/// written beside the job's work directory unless --script-dir says where.
pub fn slurm(a: &SlurmArgs) -> Result<()> {
    // Absolute, so the config's relative paths (and the work directory)
    // resolve the same on every node, whatever directory a task starts in.
    let job = std::path::absolute(&a.job)
        .with_context(|| format!("{}: cannot resolve the path", a.job.display()))?;
    let cfg = assemble(Some(&job), Vec::new(), &[])?;
    let script_dir = match &a.script_dir {
        Some(d) => std::path::absolute(d)
            .with_context(|| format!("{}: cannot resolve the path", d.display()))?,
        // A batch has a work directory per entry: its scripts go beside the job file.
        None if cfg.batch.is_some() => job.with_extension("slurm"),
        None => vstyle::job::Outputs::of(&cfg)?.work_dir.join("slurm"),
    };
    let plan = SlurmPlan {
        job,
        shards: a.shards,
        gres: a.gres.clone(),
        partition: a.partition.clone(),
        time: a.time.clone(),
        cpus_per_task: a.cpus_per_task,
        vstyle: std::env::current_exe().context("cannot locate the vstyle executable")?,
        script_dir,
    };
    let scripts = plan.write()?;
    let seams = scripts.seams.as_ref();
    if !a.submit {
        let seam_script = seams.map_or(String::new(), |s| {
            format!(", {} ({} seams)", s.display(), scripts.shards - 1)
        });
        println!(
            "wrote {} ({} shards){seam_script} and {}; logs will go to {}",
            scripts.array.display(),
            scripts.shards,
            scripts.join.display(),
            scripts.log_dir.display()
        );
        println!("submit with:");
        for c in scripts.submit_commands() {
            println!("  {c}");
        }
        return Ok(());
    }
    let ids = scripts.submit()?;
    let seam_job = ids.seams.map_or(String::new(), |id| {
        format!(", seam job {id} ({} seams)", scripts.shards - 1)
    });
    println!(
        "submitted array job {} ({} shards){seam_job} and join job {} (runs once every task succeeded); logs in {}",
        ids.array,
        scripts.shards,
        ids.join,
        scripts.log_dir.display()
    );
    Ok(())
}
