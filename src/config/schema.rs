//! The TOML schema: one struct per section of a job file, with the
//! defaults a job gets for what it leaves out.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where frames come from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InputConfig {
    /// A video file, an image directory, a printf pattern (frames/%05d.png) or one image.
    pub path: PathBuf,
    /// First source frame (0-based).
    pub start: usize,
    /// Exclusive end frame.
    pub end: Option<usize>,
    /// Take every n-th frame.
    pub step: usize,
    pub max_frames: Option<usize>,
    /// Longest side of the processed frames in pixels; None keeps the source size.
    pub size: Option<u32>,
    /// Frame rate of an image sequence (video files carry their own timing); default 25.
    pub fps: Option<f64>,
}

impl Default for InputConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::new(),
            start: 0,
            end: None,
            step: 1,
            max_frames: None,
            size: Some(512),
            fps: None,
        }
    }
}

impl InputConfig {
    /// Every frame at the source's own size.
    pub fn full_size() -> Self {
        Self {
            size: None,
            ..Self::default()
        }
    }
}

/// Where results go.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutputConfig {
    /// Output video (or image, for `vstyle image`).
    pub path: Option<PathBuf>,
    /// Also write every frame as an image, e.g. "out/frame_%05d.png".
    pub frames: Option<String>,
    /// Where finished frames are kept for resuming; default: `<output>.work` beside the output.
    pub work_dir: Option<PathBuf>,
    /// JSON report; default: `<output>.report.json`.
    pub report: Option<PathBuf>,
    /// Encoder name (default: libx264 when FFmpeg has it).
    pub codec: Option<String>,
    /// Pixel format as FFmpeg names it (yuv420p10le, yuv422p10le, ...); default yuv420p
    /// where the encoder takes it.
    pub pix_fmt: Option<String>,
    /// x264 constant rate factor (quality; lower is better).
    pub crf: u8,
    /// Copy the input's audio track.
    pub audio: bool,
}

impl Default for OutputConfig {
    fn default() -> Self {
        Self {
            path: None,
            frames: None,
            work_dir: None,
            report: None,
            codec: None,
            pix_fmt: None,
            crf: 18,
            audio: true,
        }
    }
}

/// Many clips and styles in one job file: each (clip, style) pair is one
/// output video, named by the `output` template.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub clips: Vec<PathBuf>,
    /// Each a style image, or a list of images blended by
    /// `style.blend_weights`; empty: `style.images` as one style.
    pub styles: Vec<StyleChoice>,
    /// The output path of a pair: `{clip}` is the clip's file stem, `{style}`
    /// the style image's (a blend's joined by `+`).
    pub output: String,
}

/// One style of a batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum StyleChoice {
    One(PathBuf),
    Blend(Vec<PathBuf>),
}

impl StyleChoice {
    pub fn images(&self) -> Vec<PathBuf> {
        match self {
            StyleChoice::One(p) => vec![p.clone()],
            StyleChoice::Blend(v) => v.clone(),
        }
    }
}

/// The artwork(s) to imitate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StyleConfig {
    pub images: Vec<PathBuf>,
    /// One weight per style image; default equal weights. Normalised to sum 1.
    pub blend_weights: Option<Vec<f64>>,
    /// Style images are resized to this fraction of the output's longest side.
    pub scale: f64,
    /// Keep the content's colours (luminance-only transfer).
    pub original_colors: bool,
}

impl Default for StyleConfig {
    fn default() -> Self {
        Self {
            images: Vec::new(),
            blend_weights: None,
            scale: 1.0,
            original_colors: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ModelName {
    Vgg19,
    Vgg16,
    Squeezenet,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PoolingKind {
    Max,
    Avg,
}

/// The feature extractor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub name: ModelName,
    /// safetensors weights file; default `$VSTYLE_HOME/weights/<name>.safetensors`.
    pub weights: Option<PathBuf>,
    /// Default: the network's ([`ModelName::default_pooling`]).
    pub pooling: Option<PoolingKind>,
    /// Default: the classic choice for the network (VGG: relu4_2).
    pub content_layers: Option<Vec<String>>,
    /// Default: VGG relu1_1..relu5_1.
    pub style_layers: Option<Vec<String>>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            name: ModelName::Vgg19,
            weights: None,
            pooling: None,
            content_layers: None,
            style_layers: None,
        }
    }
}

/// Loss weights. `content_weight`, `style_weight` and `tv_weight` that a job
/// file (with its `--set` overrides) leaves out come from the model
/// ([`ModelName::default_loss_weights`]); `Default` holds VGG-19's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LossConfig {
    pub content_weight: f64,
    pub style_weight: f64,
    pub tv_weight: f64,
    /// Weight of the temporal loss against the warped previous stylized frame
    /// (0 = off). In network pixel units, as artistic-videos: 1e3 there too.
    pub temporal_weight: f64,
    /// Weight of the penalty on pixel values outside [0, 1] (0 = off: with
    /// max pooling the optimum then leaves the range and the saved, clamped
    /// frame differs from it).
    pub range_weight: f64,
    /// Extra temporal terms against frames t-k (e.g. [2, 4]).
    pub long_term: Vec<usize>,
}

impl Default for LossConfig {
    fn default() -> Self {
        let vgg = ModelName::Vgg19;
        let w = vgg.default_loss_weights(vgg.default_pooling());
        Self {
            content_weight: w.content,
            style_weight: w.style,
            tv_weight: w.tv,
            temporal_weight: 1e3,
            range_weight: 1e5,
            long_term: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LineSearchKind {
    StrongWolfe,
    None,
}

/// L-BFGS schedule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// Iterations for a still image or the first frame of a clip.
    pub first_frame_iterations: usize,
    /// At most this many iterations for each later (warm-started) frame.
    pub frame_iterations: usize,
    /// Function evaluations per picture; default 5/4 of the iterations plus 25.
    pub max_evaluations: Option<usize>,
    /// Curvature pairs L-BFGS keeps. 50, not PyTorch's 100: on whole clips
    /// the loss and steadiness are the same, and the vector work halves.
    pub history_size: usize,
    pub line_search: LineSearchKind,
    pub tolerance_grad: f64,
    pub tolerance_change: f64,
    /// Stop a frame early when the loss fell by less than this fraction over `stop_window` iterations (0 = never).
    pub stop_tolerance: f64,
    pub stop_window: usize,
    /// Passes over the clip (artistic-videos' multi-pass): pass 1 runs
    /// forward as usual, later passes alternate direction.
    pub passes: usize,
    /// Weight of the warped neighbour in a later pass's start image (its
    /// previous-pass result has the rest), where the flow is reliable.
    pub pass_blend: f64,
    /// The first pass with a temporal loss (towards the neighbour the pass comes from).
    pub temporal_from_pass: usize,
    /// Start each frame's L-BFGS with the curvature pairs of the frame before
    /// (consecutive frames pose nearly the same problem).
    pub carry_pairs: bool,
    /// Coarse to fine for a still image, a clip's first frame and a new
    /// shot: painted first with this longest side, then at sizes √2 apart up
    /// to the full one (0 = off).
    pub min_size: u32,
    /// Iterations at each size below the full one (default: the network's,
    /// [`ModelName::default_scale_iterations`]).
    pub scale_iterations: Option<usize>,
    /// Extra iterations a later frame gets per share of pixels its flow cannot
    /// carry (disoccluded, or moved in from the border): they start from the
    /// warped frame's smear and still need painting. 0 = every frame gets
    /// `frame_iterations`.
    pub new_pixel_iterations: usize,
    /// Iterations a later frame first runs at the coarse size nearest half
    /// its own (a quarter of the cost each), before `frame_iterations` at
    /// full size; 0 = off. Needs a coarse size (`min_size`).
    pub frame_scale_iterations: usize,
    /// A warm frame whose style loss is still more than this fraction above
    /// its shot's first frame's after `frame_iterations` keeps painting (up
    /// to `hold_iterations` more), so the style does not creep up over fast
    /// motion; 0 = off.
    pub style_hold: f64,
    /// The most iterations the style hold adds to a frame.
    pub hold_iterations: usize,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            first_frame_iterations: 60,
            frame_iterations: 4,
            max_evaluations: None,
            history_size: 50,
            line_search: LineSearchKind::StrongWolfe,
            tolerance_grad: 1e-5,
            tolerance_change: 1e-9,
            stop_tolerance: 2e-3,
            stop_window: 3,
            passes: 1,
            pass_blend: 0.5,
            temporal_from_pass: 1,
            carry_pairs: true,
            min_size: 64,
            scale_iterations: None,
            new_pixel_iterations: 0,
            frame_scale_iterations: 0,
            style_hold: 0.04,
            hold_iterations: 4,
        }
    }
}

impl OptimizerConfig {
    /// Iterations at each coarse size: `scale_iterations`, or the network's
    /// default ([`ModelName::default_scale_iterations`]).
    pub fn scale_iterations(&self, model: ModelName) -> usize {
        self.scale_iterations
            .unwrap_or(model.default_scale_iterations(self.first_frame_iterations))
    }

    /// Whether the style hold can add iterations to a warm frame.
    pub fn holds_style(&self) -> bool {
        self.style_hold > 0.0 && self.hold_iterations > 0
    }

    /// The most a warm frame runs without new pixels: its budget, and the
    /// style hold's iterations when the hold is on.
    pub fn warm_iterations(&self) -> usize {
        let hold = if self.holds_style() {
            self.hold_iterations
        } else {
            0
        };
        self.frame_iterations + hold
    }

    /// A later frame's budget when `new_share` of its pixels are new.
    pub fn frame_budget(&self, new_share: Option<f64>) -> usize {
        let extra = new_share.unwrap_or(0.0) * self.new_pixel_iterations as f64;
        self.frame_iterations + extra.round() as usize
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum InitKind {
    Content,
    Noise,
    /// The previous stylized frame, as it is.
    Prev,
    /// The previous stylized frame warped along the optical flow.
    PrevWarped,
}

impl InitKind {
    /// The name used in job files and reports.
    pub fn name(self) -> &'static str {
        match self {
            InitKind::Content => "content",
            InitKind::Noise => "noise",
            InitKind::Prev => "prev",
            InitKind::PrevWarped => "prev_warped",
        }
    }
}

/// How to run: device, seed, initialisation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// cpu, cuda, cuda:N or auto.
    pub device: String,
    pub seed: i64,
    /// Start of the first frame (content or noise).
    pub init: InitKind,
    /// Start of every later frame.
    pub frame_init: InitKind,
    /// Print progress lines at most every this many iterations (0 = only per frame).
    pub print_every: usize,
    /// CPU threads for libtorch (0 = its default, one per core); workers
    /// sharing a machine split the cores.
    pub threads: usize,
    /// A frame whose flow from the frame before cannot carry more than this
    /// share of its pixels starts a new shot: from `init`, with the first
    /// frame's budget, no temporal loss and no carried pairs (1 = never).
    pub new_shot: f64,
    /// The most memory a job may need at its peak, e.g. `3GiB` (default:
    /// what the device has, less a margin); a larger estimate is refused.
    pub memory_limit: Option<crate::memory::SizeText>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            device: "auto".into(),
            seed: 0,
            init: InitKind::Content,
            frame_init: InitKind::PrevWarped,
            print_every: 50,
            threads: 0,
            new_shot: 0.5,
            memory_limit: None,
        }
    }
}

/// How a clip split into shards is joined: the seams between shards are
/// re-optimised over a window of frames on each side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ShardsConfig {
    /// Frames on each side of a seam that the join re-optimises (0 = none).
    pub seam_window: usize,
    /// Passes over each seam window, alternating direction.
    pub seam_passes: usize,
    /// The temporal weight in seam windows, relative to `loss.temporal_weight`.
    /// Below 1 a window repaints more of the crossfade it starts from (a
    /// blend of two textures, twice a frame's style loss), above it the
    /// seams settle better; 0.85 balances the two (docs/tuning.md).
    pub seam_temporal_scale: f64,
    /// At most this many L-BFGS iterations per frame and seam pass
    /// (default: twice what a warm frame may run,
    /// [`OptimizerConfig::warm_iterations`]).
    pub seam_iterations: Option<usize>,
    /// Each shard but the first starts by stylizing the clip's first frame
    /// (as the first shard does) and carrying it along the flow to its own
    /// first frame, so all shards start from one texture and are held to
    /// one style level (the style hold's).
    pub lead_in: bool,
    /// How far a cut between two shards may move from the even split, as a
    /// share of a shard's length, to the frame where the input moves least:
    /// a seam shows least there (0: the even split). To a new shot or a
    /// held frame, where no seam shows, it may move four times as far (at
    /// most `MAX_CUT_SEARCH`).
    pub cut_search: f64,
}

impl Default for ShardsConfig {
    fn default() -> Self {
        Self {
            seam_window: 12,
            seam_passes: 3,
            seam_temporal_scale: 0.85,
            seam_iterations: None,
            lead_in: true,
            cut_search: 0.1,
        }
    }
}

/// A whole job file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobConfig {
    pub input: InputConfig,
    pub output: OutputConfig,
    pub style: StyleConfig,
    pub model: ModelConfig,
    pub loss: LossConfig,
    pub optimizer: OptimizerConfig,
    pub run: RunConfig,
    pub shards: ShardsConfig,
    /// Present in a batch job file.
    pub batch: Option<BatchConfig>,
    /// Where the settings came from (the job file, or "command line"), for
    /// errors found after loading.
    #[serde(skip)]
    pub source: String,
}

impl JobConfig {
    /// The normalised blend weights, one per style image.
    pub fn blend_weights(&self) -> Vec<f64> {
        let n = self.style.images.len().max(1);
        let w = self
            .style
            .blend_weights
            .clone()
            .unwrap_or_else(|| vec![1.0; n]);
        let s: f64 = w.iter().sum();
        w.iter().map(|x| x / s).collect()
    }
}
