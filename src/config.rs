//! Job configuration: one TOML schema shared by `vstyle image`, `vstyle video`
//! and `vstyle run`, split by concern (input, output, style, model, loss,
//! optimizer, run). Unknown keys are rejected; every error names the file and
//! the key (and the line, where the TOML parser knows it).

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
    #[error("--set {0}: expected KEY=VALUE, e.g. optimizer.frame_iterations=50")]
    BadOverride(String),
}

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

impl ModelName {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelName::Vgg19 => "vgg19",
            ModelName::Vgg16 => "vgg16",
            ModelName::Squeezenet => "squeezenet",
        }
    }
    /// File name of the default weights under `$VSTYLE_HOME/weights`.
    pub fn default_weights_file(self) -> &'static str {
        match self {
            ModelName::Vgg19 => "vgg19.safetensors",
            ModelName::Vgg16 => "vgg16.safetensors",
            ModelName::Squeezenet => "squeezenet1_1.safetensors",
        }
    }
    /// The pooling a job gets unless it sets `model.pooling`. VGG averages,
    /// as Gatys et al. recommend for synthesis: a texture optimised through
    /// max pooling locks onto the pooling grid, so a warm start shifted by
    /// the flow loses much of its style (carphone frame 0 at 128 px, warped
    /// into frame 1: x3.56 its style loss with max pooling, x1.37 with
    /// average; `cargo bench --bench start_loss`). SqueezeNet keeps max
    /// pooling, which its loss weights were tuned with.
    pub fn default_pooling(self) -> PoolingKind {
        match self {
            ModelName::Vgg19 | ModelName::Vgg16 => PoolingKind::Avg,
            ModelName::Squeezenet => PoolingKind::Max,
        }
    }
    /// Iterations at each coarse size when the full size gets `full`. VGG's
    /// coarse pictures converge sooner: 40 at each coarse size reach the
    /// style loss 60 do on frame 1 (carphone at 128 px: 1.048e6 against
    /// 1.044e6; at 256 px 6.98e5 against 7.00e5, in 52 s against 59 s), where
    /// 30 lose 1-2%. SqueezeNet's lose 4-12% with two thirds and cost little.
    pub fn default_scale_iterations(self, full: usize) -> usize {
        match self {
            ModelName::Vgg19 | ModelName::Vgg16 => (2 * full).div_ceil(3),
            ModelName::Squeezenet => full,
        }
    }
    /// The content, style and TV weights that suit the network's default
    /// weights and layers with this pooling; a job that does not set
    /// `loss.content_weight`, `loss.style_weight` or `loss.tv_weight` gets
    /// these.
    pub fn default_loss_weights(self, pooling: PoolingKind) -> LossWeights {
        match (self, pooling) {
            // jcjohnson/neural-style's values for the Caffe VGG weights.
            (ModelName::Vgg19 | ModelName::Vgg16, PoolingKind::Max) => LossWeights {
                content: 5.0,
                style: 100.0,
                tv: 1e-3,
            },
            // Averaged features are smaller: carphone at 256 px, stylized
            // alike, has 9.5x lower content and style losses than with max
            // pooling. Ten times the weights keep the terms at max pooling's
            // magnitude, so the pixel-space terms (TV, temporal, range) keep
            // their balance against them.
            (ModelName::Vgg19 | ModelName::Vgg16, PoolingKind::Avg) => LossWeights {
                content: 50.0,
                style: 1000.0,
                tv: 1e-3,
            },
            // SqueezeNet's unweighted style loss is far smaller than VGG's
            // (golden gate vs starry night at 256 px: 1.1e3 against
            // VGG-19's 1.2e6), so its style term needs a larger weight. On
            // that pair at 192-256 px, judged by VGG-19's style loss of the
            // results, the style improves up to about 3000 and then stalls
            // while the content keeps fading: 3000 is that knee.
            (ModelName::Squeezenet, _) => LossWeights {
                content: 5.0,
                style: 3000.0,
                tv: 1e-3,
            },
        }
    }
}

/// Per-model default loss weights (see [`ModelName::default_loss_weights`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LossWeights {
    pub content: f64,
    pub style: f64,
    pub tv: f64,
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

impl ModelConfig {
    pub fn pooling(&self) -> PoolingKind {
        self.pooling.unwrap_or(self.name.default_pooling())
    }
    pub fn content_layers(&self) -> Vec<String> {
        self.content_layers.clone().unwrap_or_else(|| {
            let l: &[&str] = match self.name {
                ModelName::Vgg19 | ModelName::Vgg16 => &["relu4_2"],
                ModelName::Squeezenet => &["fire5"],
            };
            l.iter().map(|s| s.to_string()).collect()
        })
    }
    pub fn style_layers(&self) -> Vec<String> {
        self.style_layers.clone().unwrap_or_else(|| {
            let l: &[&str] = match self.name {
                ModelName::Vgg19 | ModelName::Vgg16 => {
                    &["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]
                }
                ModelName::Squeezenet => &["conv1", "fire2", "fire3", "fire5", "fire7"],
            };
            l.iter().map(|s| s.to_string()).collect()
        })
    }
    /// The weights file to load.
    pub fn weights_path(&self) -> PathBuf {
        self.weights.clone().unwrap_or_else(|| {
            vstyle_home()
                .join("weights")
                .join(self.name.default_weights_file())
        })
    }
}

/// `$VSTYLE_HOME`, default `~/.cache/vstyle`: the venv and default weights.
pub fn vstyle_home() -> PathBuf {
    if let Some(h) = std::env::var_os("VSTYLE_HOME") {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    home.join(".cache").join("vstyle")
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
    /// seams settle better: carphone's repaired clip was 6.8% less stylized
    /// than one run with 1.0, 5.4% with 0.9, 4.7% with 0.85, 3.9% with 0.8,
    /// while bigbuckbunny's worst seam went 1.53x, 1.41x, 1.38x, 1.50x.
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

impl ShardsConfig {
    /// Iterations per frame and seam pass. A seam frame starts from a blend
    /// of two textures, which a frame's budget does not repaint: with 6 a
    /// frame, carphone's repaired clip had a style loss 13% above one
    /// run's, with 12, 5.3%, with 16, 4.3%, with 18 or 24 no less.
    pub fn seam_iterations(&self, o: &OptimizerConfig) -> usize {
        self.seam_iterations.unwrap_or(2 * o.warm_iterations())
    }
}

/// A setting from a command-line flag: the config key it stands for (a
/// `--set` of the same key wins) and how it changes the config.
pub struct Flag {
    pub key: &'static str,
    pub apply: Box<dyn FnOnce(&mut JobConfig)>,
}

impl Flag {
    pub fn new(key: &'static str, apply: impl FnOnce(&mut JobConfig) + 'static) -> Self {
        Self {
            key,
            apply: Box::new(apply),
        }
    }
}

/// Which of the model-dependent loss weights a job gives itself; the others
/// follow the model ([`ModelName::default_loss_weights`]).
#[derive(Debug, Default)]
struct GivenLossWeights {
    content: bool,
    style: bool,
    tv: bool,
}

impl GivenLossWeights {
    fn of(table: &toml::Table) -> Self {
        let loss = table.get("loss").and_then(|l| l.as_table());
        let has = |key: &str| loss.is_some_and(|l| l.contains_key(key));
        Self {
            content: has("content_weight"),
            style: has("style_weight"),
            tv: has("tv_weight"),
        }
    }

    fn mark(&mut self, key: &str) {
        match key {
            "loss.content_weight" => self.content = true,
            "loss.style_weight" => self.style = true,
            "loss.tv_weight" => self.tv = true,
            _ => {}
        }
    }

    fn fill_model_defaults(&self, cfg: &mut JobConfig) {
        let w = cfg.model.name.default_loss_weights(cfg.model.pooling());
        let l = &mut cfg.loss;
        for (given, slot, default) in [
            (self.content, &mut l.content_weight, w.content),
            (self.style, &mut l.style_weight, w.style),
            (self.tv, &mut l.tv_weight, w.tv),
        ] {
            if !given {
                *slot = default;
            }
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

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn parse_error(file: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
    ConfigError::Parse {
        file: file.to_string(),
        line,
        column,
        message: e.message().trim().replace('\n', " "),
    }
}

/// Parses `KEY=VALUE`; VALUE is read as TOML when it parses (numbers, booleans,
/// arrays) and as a plain string otherwise.
pub fn parse_override(s: &str) -> Result<(String, toml::Value), ConfigError> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| ConfigError::BadOverride(s.to_string()))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::BadOverride(s.to_string()));
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    Ok((key.to_string(), parsed))
}

fn set_dotted(table: &mut toml::Table, key: &str, value: toml::Value) -> Result<(), String> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = table;
    for p in parts {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{p}` is not a table"))?;
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

/// Bounds of the numeric settings. Larger values parse, but no machine runs
/// them: an L-BFGS history of 100 pictures of 4096 px is already 32 GB.
pub const MIN_SIZE: u32 = 16;
pub const MAX_SIZE: u32 = 4096;
/// Every 10000th frame: one frame in 5.5 minutes of 30 fps video.
pub const MAX_STEP: usize = 10_000;
/// Highest `input.fps` taken (a slow-motion capture rate, with room to spare).
pub const MAX_FPS: f64 = 1000.0;
pub const MAX_ITERATIONS: usize = 100_000;
pub const MAX_EVALUATIONS: usize = 1_000_000;
pub const MAX_HISTORY: usize = 1_000;
pub const MAX_STOP_WINDOW: usize = 10_000;
pub const MAX_PASSES: usize = 100;
/// Frames on each side of a seam that the join re-optimises.
pub const MAX_SEAM_WINDOW: usize = 1_000;
/// The largest `shards.cut_search`.
pub const MAX_CUT_SEARCH: f64 = 0.4;
/// Long-term temporal terms: each keeps that many frames and adds two flows per frame.
pub const MAX_LONG_TERM_OFFSET: usize = 100;
pub const MAX_LONG_TERM_TERMS: usize = 8;
/// The widest number in an image pattern (`%020d`); a usize has at most 20 digits.
pub const MAX_PATTERN_WIDTH: usize = 20;

/// An image pattern for `output.frames`: without `%`, frame numbers are
/// appended; with it, the `%` must start `%d` or `%0Nd` (N <= 20), once.
fn check_frames_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("must not be empty".into());
    }
    let Some(pos) = pattern.find('%') else {
        return Ok(());
    };
    let rest = &pattern[pos + 1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let usage = format!("expected one %d or %0Nd (N <= {MAX_PATTERN_WIDTH}), e.g. out/f_%05d.png");
    if !rest[digits..].starts_with('d') || rest[digits + 1..].contains('%') {
        return Err(format!("`{pattern}`: {usage}"));
    }
    let width = rest[..digits].trim_start_matches('0');
    if width.len() > 2 || width.parse::<usize>().unwrap_or(0) > MAX_PATTERN_WIDTH {
        return Err(format!("`{pattern}`: number width too large; {usage}"));
    }
    Ok(())
}

impl JobConfig {
    /// Reads a job file, applies `--set` overrides, validates. Relative paths in
    /// the file are taken relative to the file's directory.
    pub fn load(path: &Path, overrides: &[(String, toml::Value)]) -> Result<Self, ConfigError> {
        Self::assemble(Some(path), Vec::new(), overrides)
    }

    /// The config a command runs: the job file (or the defaults), then the
    /// command's typed flags, then `--set` overrides, which win over both.
    /// Paths in the file are relative to the file; those of flags and `--set`,
    /// to the working directory. Loss weights that none of them gives follow
    /// the model. Validated.
    pub fn assemble(
        file: Option<&Path>,
        flags: Vec<Flag>,
        overrides: &[(String, toml::Value)],
    ) -> Result<Self, ConfigError> {
        let name = file.map_or("command line".to_string(), |p| p.display().to_string());
        let text = match file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                file: name.clone(),
                source,
            })?,
            None => String::new(),
        };
        let (mut cfg, mut given) = Self::parse(&text, &name, overrides)?;
        let set_keys: Vec<&str> = overrides.iter().map(|(k, _)| k.as_str()).collect();
        if let Some(path) = file {
            cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")), &set_keys);
        }
        for flag in flags.into_iter().filter(|f| !set_keys.contains(&f.key)) {
            given.mark(flag.key);
            (flag.apply)(&mut cfg);
        }
        given.fill_model_defaults(&mut cfg);
        cfg.validate(&name)?;
        cfg.source = name;
        Ok(cfg)
    }

    /// Parses TOML text with overrides; `file` names it in errors. Loss
    /// weights the text leaves out follow the model. No validation.
    pub fn from_toml_str(
        text: &str,
        file: &str,
        overrides: &[(String, toml::Value)],
    ) -> Result<Self, ConfigError> {
        let (mut cfg, given) = Self::parse(text, file, overrides)?;
        given.fill_model_defaults(&mut cfg);
        cfg.source = file.to_string();
        Ok(cfg)
    }

    fn parse(
        text: &str,
        file: &str,
        overrides: &[(String, toml::Value)],
    ) -> Result<(Self, GivenLossWeights), ConfigError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
        for (k, v) in overrides {
            set_dotted(&mut table, k, v.clone()).map_err(|message| ConfigError::Invalid {
                file: file.to_string(),
                key: k.clone(),
                message,
            })?;
        }
        let given = GivenLossWeights::of(&table);
        let cfg: JobConfig = if overrides.is_empty() {
            // Straight from the text, so errors carry line numbers.
            toml::from_str(text).map_err(|e| parse_error(file, text, &e))?
        } else {
            JobConfig::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid {
                file: file.to_string(),
                key: "--set".into(),
                message: e.message().trim().replace('\n', " "),
            })?
        };
        Ok((cfg, given))
    }

    fn resolve_paths(&mut self, base: &Path, skip: &[&str]) {
        let fix = |key: &str, p: &mut PathBuf| {
            if !skip.contains(&key) && !p.as_os_str().is_empty() && p.is_relative() {
                *p = crate::paths::tidy(&base.join(&*p));
            }
        };
        fix("input.path", &mut self.input.path);
        if let Some(p) = self.output.path.as_mut() {
            fix("output.path", p)
        }
        if let Some(p) = self.output.work_dir.as_mut() {
            fix("output.work_dir", p)
        }
        if let Some(p) = self.output.report.as_mut() {
            fix("output.report", p)
        }
        if let Some(f) = self.output.frames.as_mut() {
            if !skip.contains(&"output.frames") && Path::new(f).is_relative() {
                *f = crate::paths::tidy(&base.join(&*f)).display().to_string();
            }
        }
        for p in &mut self.style.images {
            fix("style.images", p)
        }
        if let Some(b) = self.batch.as_mut() {
            b.clips.iter_mut().for_each(|p| fix("batch.clips", p));
            for choice in &mut b.styles {
                match choice {
                    StyleChoice::One(p) => fix("batch.styles", p),
                    StyleChoice::Blend(v) => v.iter_mut().for_each(|p| fix("batch.styles", p)),
                }
            }
            if !skip.contains(&"batch.output") && Path::new(&b.output).is_relative() {
                b.output = crate::paths::tidy(&base.join(&b.output))
                    .display()
                    .to_string();
            }
        }
        if let Some(p) = self.model.weights.as_mut() {
            fix("model.weights", p)
        }
    }

    /// Checks values that parse but make no sense, section by section.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let c = Checker { file };
        match &self.batch {
            Some(b) => c.batch(b, self)?,
            None => c.style(&self.style)?,
        }
        c.loss(&self.loss)?;
        c.input(&self.input, self.style.scale)?;
        c.optimizer(&self.optimizer)?;
        c.output(&self.output)?;
        c.run(&self.run)?;
        c.shards(&self.shards)?;
        c.model(&self.model)
    }

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

/// Validation of one config, naming `file` and the key in every error.
struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn bad(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            key: key.to_string(),
            message,
        }
    }

    fn nonneg(&self, key: &str, v: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(self.bad(key, format!("must be a number >= 0 (got {v})")))
        }
    }

    fn within(&self, key: &str, v: usize, lo: usize, hi: usize) -> Result<(), ConfigError> {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.bad(key, format!("must be in {lo}..={hi} (got {v})")))
        }
    }

    fn style(&self, style: &StyleConfig) -> Result<(), ConfigError> {
        if style.images.is_empty() {
            return Err(self.bad("style.images", "at least one style image is needed".into()));
        }
        if let Some(w) = &style.blend_weights {
            self.blend_weights(w, style.images.len())?;
        }
        if !(style.scale.is_finite() && style.scale > 0.0 && style.scale <= 8.0) {
            return Err(self.bad(
                "style.scale",
                format!("must be in (0, 8] (got {})", style.scale),
            ));
        }
        Ok(())
    }

    fn batch(&self, b: &BatchConfig, cfg: &JobConfig) -> Result<(), ConfigError> {
        if b.clips.is_empty() {
            return Err(self.bad("batch.clips", "list at least one clip".into()));
        }
        if b.styles.is_empty() {
            self.style(&cfg.style)?;
        }
        if let Some(i) = b.styles.iter().position(|s| s.images().is_empty()) {
            return Err(self.bad(&format!("batch.styles[{i}]"), "an empty blend".into()));
        }
        for (key, set) in [
            ("output.path", cfg.output.path.is_some()),
            ("output.frames", cfg.output.frames.is_some()),
            ("output.work_dir", cfg.output.work_dir.is_some()),
            ("output.report", cfg.output.report.is_some()),
        ] {
            if set {
                return Err(self.bad(key, "a batch names its outputs with batch.output".into()));
            }
        }
        let needs = [
            ("{clip}", b.clips.len() > 1),
            ("{style}", b.styles.len() > 1),
        ];
        if b.output.is_empty() {
            return Err(self.bad(
                "batch.output",
                "set a template like out/{clip}_{style}.mp4".into(),
            ));
        }
        for (field, needed) in needs {
            if needed && !b.output.contains(field) {
                return Err(self.bad(
                    "batch.output",
                    format!(
                        "`{}` must contain {field}, or the outputs collide",
                        b.output
                    ),
                ));
            }
        }
        Ok(())
    }

    fn blend_weights(&self, w: &[f64], images: usize) -> Result<(), ConfigError> {
        let key = "style.blend_weights";
        if w.len() != images {
            return Err(self.bad(
                key,
                format!("{} weights for {images} style images", w.len()),
            ));
        }
        for &x in w {
            self.nonneg(key, x)?;
        }
        let sum = w.iter().sum::<f64>();
        if sum <= 0.0 {
            return Err(self.bad(key, "must not all be 0".into()));
        }
        if !sum.is_finite() {
            return Err(self.bad(key, format!("their sum must be finite (got {sum})")));
        }
        Ok(())
    }

    fn loss(&self, loss: &LossConfig) -> Result<(), ConfigError> {
        self.nonneg("loss.content_weight", loss.content_weight)?;
        self.nonneg("loss.style_weight", loss.style_weight)?;
        self.nonneg("loss.tv_weight", loss.tv_weight)?;
        self.nonneg("loss.temporal_weight", loss.temporal_weight)?;
        self.nonneg("loss.range_weight", loss.range_weight)?;
        if loss.long_term.len() > MAX_LONG_TERM_TERMS {
            return Err(self.bad(
                "loss.long_term",
                format!(
                    "at most {MAX_LONG_TERM_TERMS} offsets (got {})",
                    loss.long_term.len()
                ),
            ));
        }
        if let Some(&k) = loss
            .long_term
            .iter()
            .find(|&&k| !(2..=MAX_LONG_TERM_OFFSET).contains(&k))
        {
            return Err(self.bad(
                "loss.long_term",
                format!(
                    "offsets must be in 2..={MAX_LONG_TERM_OFFSET} (got {k}; 1 is the short-term term)"
                ),
            ));
        }
        Ok(())
    }

    fn input(&self, input: &InputConfig, style_scale: f64) -> Result<(), ConfigError> {
        if let Some(s) = input.size {
            self.sizes(s, style_scale)?;
        }
        self.within("input.step", input.step, 1, MAX_STEP)?;
        if input.max_frames == Some(0) {
            return Err(self.bad("input.max_frames", "must be >= 1".into()));
        }
        if let Some(fps) = input.fps {
            if !(fps.is_finite() && fps > 0.0 && fps <= MAX_FPS) {
                return Err(self.bad(
                    "input.fps",
                    format!("must be a rate in frames per second, above 0 and at most {MAX_FPS} (got {fps})"),
                ));
            }
        }
        if let Some(end) = input.end {
            if end <= input.start {
                return Err(self.bad(
                    "input.end",
                    format!("must be > input.start ({})", input.start),
                ));
            }
        }
        Ok(())
    }

    fn sizes(&self, s: u32, style_scale: f64) -> Result<(), ConfigError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&s) {
            return Err(self.bad(
                "input.size",
                format!("must be in {MIN_SIZE}..={MAX_SIZE} pixels (got {s})"),
            ));
        }
        // The style images are resized to size x scale before their Gram matrices are taken.
        let side = s as f64 * style_scale;
        if side.round() > MAX_SIZE as f64 {
            return Err(self.bad(
                "style.scale",
                format!(
                    "the style images would be {side:.0} px (input.size {s} x style.scale {style_scale}); at most {MAX_SIZE}"
                ),
            ));
        }
        Ok(())
    }

    fn optimizer(&self, o: &OptimizerConfig) -> Result<(), ConfigError> {
        let iterations = [
            ("optimizer.first_frame_iterations", o.first_frame_iterations),
            ("optimizer.frame_iterations", o.frame_iterations),
        ];
        for (key, n) in iterations {
            self.within(key, n, 1, MAX_ITERATIONS)?;
        }
        if let Some(m) = o.max_evaluations {
            self.within("optimizer.max_evaluations", m, 1, MAX_EVALUATIONS)?;
        }
        self.within("optimizer.history_size", o.history_size, 1, MAX_HISTORY)?;
        self.nonneg("optimizer.tolerance_grad", o.tolerance_grad)?;
        self.nonneg("optimizer.tolerance_change", o.tolerance_change)?;
        self.nonneg("optimizer.stop_tolerance", o.stop_tolerance)?;
        self.nonneg("optimizer.style_hold", o.style_hold)?;
        self.within("optimizer.stop_window", o.stop_window, 1, MAX_STOP_WINDOW)?;
        if o.min_size != 0 {
            self.within(
                "optimizer.min_size",
                o.min_size as usize,
                MIN_SIZE as usize,
                MAX_SIZE as usize,
            )?;
        }
        if let Some(n) = o.scale_iterations {
            self.within("optimizer.scale_iterations", n, 1, MAX_ITERATIONS)?;
        }
        let extra = [
            ("optimizer.new_pixel_iterations", o.new_pixel_iterations),
            ("optimizer.frame_scale_iterations", o.frame_scale_iterations),
            ("optimizer.hold_iterations", o.hold_iterations),
        ];
        for (key, n) in extra {
            self.within(key, n, 0, MAX_ITERATIONS)?;
        }
        self.within("optimizer.passes", o.passes, 1, MAX_PASSES)?;
        self.within(
            "optimizer.temporal_from_pass",
            o.temporal_from_pass,
            1,
            MAX_PASSES,
        )?;
        self.fraction("optimizer.pass_blend", o.pass_blend)
    }

    fn fraction(&self, key: &str, v: f64) -> Result<(), ConfigError> {
        self.between(key, v, 0.0, 1.0)
    }

    /// `v` in `[lo, hi]` (a NaN is not).
    fn between(&self, key: &str, v: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.bad(key, format!("must be in [{lo}, {hi}] (got {v})")))
        }
    }

    fn shards(&self, s: &ShardsConfig) -> Result<(), ConfigError> {
        self.within("shards.seam_window", s.seam_window, 0, MAX_SEAM_WINDOW)?;
        self.within("shards.seam_passes", s.seam_passes, 1, MAX_PASSES)?;
        if let Some(n) = s.seam_iterations {
            self.within("shards.seam_iterations", n, 1, MAX_ITERATIONS)?;
        }
        self.nonneg("shards.seam_temporal_scale", s.seam_temporal_scale)?;
        // Below half a shard, neighbouring cuts' searches cannot overlap.
        self.between("shards.cut_search", s.cut_search, 0.0, MAX_CUT_SEARCH)
    }

    fn output(&self, output: &OutputConfig) -> Result<(), ConfigError> {
        if output.crf > 51 {
            return Err(self.bad(
                "output.crf",
                format!("must be in 0..=51 (got {})", output.crf),
            ));
        }
        if let Some(f) = &output.frames {
            check_frames_pattern(f).map_err(|m| self.bad("output.frames", m))?;
        }
        Ok(())
    }

    fn run(&self, run: &RunConfig) -> Result<(), ConfigError> {
        crate::device::parse_device(&run.device)
            .map_err(|e| self.bad("run.device", e.to_string()))?;
        if matches!(run.init, InitKind::Prev | InitKind::PrevWarped) {
            return Err(self.bad(
                "run.init",
                "the first frame has no previous frame: use content or noise".into(),
            ));
        }
        self.fraction("run.new_shot", run.new_shot)
    }

    fn model(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        for (key, layers) in [
            ("model.content_layers", &model.content_layers),
            ("model.style_layers", &model.style_layers),
        ] {
            if layers.as_ref().is_some_and(|v| v.is_empty()) {
                return Err(self.bad(key, "must name at least one layer".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> String {
        "[style]\nimages = [\"s.jpg\"]\n".to_string()
    }

    #[test]
    fn defaults_fill_missing_sections() {
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &[]).unwrap();
        c.validate("job.toml").unwrap();
        assert_eq!(c.model.name, ModelName::Vgg19);
        assert_eq!(c.model.content_layers(), vec!["relu4_2"]);
        assert_eq!(c.model.style_layers().len(), 5);
        assert_eq!(c.blend_weights(), vec![1.0]);
    }

    #[test]
    fn a_frame_with_new_pixels_gets_more_iterations() {
        let mut o = OptimizerConfig::default();
        assert_eq!(o.frame_budget(Some(0.3)), o.frame_iterations);
        o.new_pixel_iterations = 40;
        assert_eq!(o.frame_budget(None), o.frame_iterations);
        assert_eq!(o.frame_budget(Some(0.0)), o.frame_iterations);
        assert_eq!(o.frame_budget(Some(0.3)), o.frame_iterations + 12);
    }

    #[test]
    fn vgg_coarse_sizes_get_two_thirds_of_the_full_sizes_iterations_unless_given() {
        use ModelName::*;
        let mut o = OptimizerConfig::default();
        assert_eq!(o.scale_iterations(Vgg19), 40);
        assert_eq!(o.scale_iterations(Vgg16), 40);
        assert_eq!(o.scale_iterations(Squeezenet), 60);
        o.first_frame_iterations = 1;
        assert_eq!(o.scale_iterations(Vgg19), 1);
        o.first_frame_iterations = 500;
        assert_eq!(o.scale_iterations(Vgg19), 334);
        o.scale_iterations = Some(200);
        assert_eq!(o.scale_iterations(Vgg19), 200);
        assert_eq!(o.scale_iterations(Squeezenet), 200);
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let text = format!(
            "{}\n[loss]\ncontent_weight = 1\nstlye_weight = 3\n",
            minimal()
        );
        let e = JobConfig::from_toml_str(&text, "job.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("job.toml:6:"), "{e}");
        assert!(e.contains("stlye_weight"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn bad_syntax_names_line() {
        let e = JobConfig::from_toml_str("[style]\nimages = [\"a.jpg\"\n", "j.toml", &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("j.toml:"), "{e}");
    }

    #[test]
    fn impossible_values_are_rejected_with_key() {
        for (set, key) in [
            ("loss.style_weight=-1", "loss.style_weight"),
            ("optimizer.frame_iterations=0", "optimizer.frame_iterations"),
            ("input.step=0", "input.step"),
            ("run.device=\"tpu\"", "run.device"),
            ("style.scale=0", "style.scale"),
            ("run.init=\"prev\"", "run.init"),
        ] {
            let o = parse_override(set).unwrap();
            let c = JobConfig::from_toml_str(&minimal(), "job.toml", &[o]).unwrap();
            let e = c.validate("job.toml").unwrap_err().to_string();
            assert!(e.starts_with(&format!("job.toml: {key}:")), "{set}: {e}");
        }
    }

    #[test]
    fn values_beyond_the_bounds_are_rejected_with_file_and_key() {
        for (set, key) in [
            ("input.step=4000000000", "input.step"),
            ("input.step=10001", "input.step"),
            ("input.size=4097", "input.size"),
            ("input.size=15", "input.size"),
            (
                "optimizer.first_frame_iterations=100001",
                "optimizer.first_frame_iterations",
            ),
            (
                "optimizer.frame_iterations=9223372036854775807",
                "optimizer.frame_iterations",
            ),
            (
                "optimizer.max_evaluations=1000001",
                "optimizer.max_evaluations",
            ),
            ("optimizer.history_size=1001", "optimizer.history_size"),
            ("optimizer.stop_window=10001", "optimizer.stop_window"),
            ("loss.long_term=[2, 101]", "loss.long_term"),
            (
                "loss.long_term=[2, 3, 4, 5, 6, 7, 8, 9, 10]",
                "loss.long_term",
            ),
            ("loss.long_term=[1]", "loss.long_term"),
            ("style.blend_weights=[1e308, 1e308]", "style.blend_weights"),
            ("output.frames=\"f_%070000d.png\"", "output.frames"),
            ("output.frames=\"f_%021d.png\"", "output.frames"),
            ("output.frames=\"f_%s.png\"", "output.frames"),
            ("output.frames=\"f_%d_%d.png\"", "output.frames"),
            ("output.frames=\"\"", "output.frames"),
            ("shards.cut_search=0.5", "shards.cut_search"),
            ("shards.cut_search=-0.1", "shards.cut_search"),
        ] {
            let mut o = vec![parse_override(set).unwrap()];
            if key == "style.blend_weights" {
                o.push(parse_override("style.images=[\"a.jpg\", \"b.jpg\"]").unwrap());
            }
            let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
            let e = c.validate("job.toml").unwrap_err().to_string();
            assert!(e.starts_with(&format!("job.toml: {key}:")), "{set}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
        // The style images may not grow past the bound either.
        let o = [
            parse_override("input.size=1024").unwrap(),
            parse_override("style.scale=4.5").unwrap(),
        ];
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
        let e = c.validate("job.toml").unwrap_err().to_string();
        assert!(e.starts_with("job.toml: style.scale:"), "{e}");
        assert!(e.contains("4608 px"), "{e}");
    }

    #[test]
    fn values_at_the_bounds_are_accepted() {
        let o: Vec<_> = [
            "input.step=10000",
            "input.size=4096",
            "input.start=4000000000",
            "optimizer.first_frame_iterations=100000",
            "optimizer.frame_iterations=100000",
            "optimizer.max_evaluations=1000000",
            "optimizer.history_size=1000",
            "optimizer.stop_window=10000",
            "loss.long_term=[2, 3, 4, 5, 6, 7, 8, 100]",
            "output.frames=\"out/f_%020d.png\"",
            "shards.cut_search=0.4",
        ]
        .iter()
        .map(|s| parse_override(s).unwrap())
        .collect();
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
        c.validate("job.toml").unwrap();
        for frames in ["f_%d.png", "f_%5d.png", "frames", "out/f_%05d.jpg"] {
            let o = [parse_override(&format!("output.frames=\"{frames}\"")).unwrap()];
            let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
            c.validate("job.toml").unwrap();
        }
    }

    #[test]
    fn overrides_set_nested_keys() {
        let o = [
            parse_override("optimizer.frame_iterations=50").unwrap(),
            parse_override("run.device=cpu").unwrap(),
            parse_override("style.blend_weights=[3, 1]").unwrap(),
            parse_override("style.images=[\"a.jpg\", \"b.jpg\"]").unwrap(),
        ];
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &o).unwrap();
        c.validate("job.toml").unwrap();
        assert_eq!(c.optimizer.frame_iterations, 50);
        assert_eq!(c.run.device, "cpu");
        assert_eq!(c.blend_weights(), vec![0.75, 0.25]);
        let bad = parse_override("optimizer.frame_itrations=5").unwrap();
        let e = JobConfig::from_toml_str(&minimal(), "job.toml", &[bad])
            .unwrap_err()
            .to_string();
        assert!(e.contains("frame_itrations"), "{e}");
        assert!(parse_override("novalue").is_err());
    }

    #[test]
    fn file_paths_are_relative_to_the_file_and_set_paths_to_the_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "[input]\npath = \"clip.mp4\"\n[style]\nimages = [\"s.jpg\"]\n",
        )
        .unwrap();
        let o = [parse_override("output.path=out.mp4").unwrap()];
        let c = JobConfig::load(&job, &o).unwrap();
        assert_eq!(c.input.path, dir.path().join("clip.mp4"));
        assert_eq!(c.style.images[0], dir.path().join("s.jpg"));
        assert_eq!(c.output.path.as_deref(), Some(Path::new("out.mp4")));
    }

    #[test]
    fn loss_weights_follow_the_model_unless_given() {
        use PoolingKind::{Avg, Max};
        let vgg = ModelName::Vgg19.default_loss_weights(Avg);
        let vgg_max = ModelName::Vgg19.default_loss_weights(Max);
        let sq = ModelName::Squeezenet.default_loss_weights(Max);
        assert_eq!((vgg.content, vgg.style, vgg.tv), (50.0, 1000.0, 1e-3));
        assert_eq!((vgg_max.content, vgg_max.style), (5.0, 100.0));
        assert_eq!(ModelName::Vgg16.default_loss_weights(Avg), vgg);
        assert!(sq.style > vgg_max.style, "{sq:?}");
        let loss = |c: &JobConfig| (c.loss.content_weight, c.loss.style_weight, c.loss.tv_weight);
        let sets =
            |s: &[&str]| -> Vec<_> { s.iter().map(|s| parse_override(s).unwrap()).collect() };

        // Nothing given: the model's pooling and defaults, whether the model
        // or the pooling come from the file or from --set.
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &[]).unwrap();
        assert_eq!(c.model.pooling(), Avg);
        assert_eq!(loss(&c), (vgg.content, vgg.style, vgg.tv));
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &sets(&["model.pooling=max"]))
            .unwrap();
        assert_eq!(loss(&c), (vgg_max.content, vgg_max.style, vgg_max.tv));
        let text = format!("{}[model]\nname = \"squeezenet\"\n", minimal());
        let c = JobConfig::from_toml_str(&text, "job.toml", &[]).unwrap();
        assert_eq!(loss(&c), (sq.content, sq.style, sq.tv));
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &sets(&["model.name=squeezenet"]))
            .unwrap();
        assert_eq!(loss(&c), (sq.content, sq.style, sq.tv));
        // Other [loss] keys do not count as giving the weights.
        let c = JobConfig::from_toml_str(
            &minimal(),
            "job.toml",
            &sets(&["model.name=squeezenet", "loss.temporal_weight=7"]),
        )
        .unwrap();
        assert_eq!(loss(&c), (sq.content, sq.style, sq.tv));
        assert_eq!(c.loss.temporal_weight, 7.0);

        // An explicit value wins, in the file or from --set (even one equal
        // to VGG's default), and only that key is taken from it.
        let text = format!(
            "{}[model]\nname = \"squeezenet\"\n[loss]\nstyle_weight = 100\n",
            minimal()
        );
        let c = JobConfig::from_toml_str(&text, "job.toml", &[]).unwrap();
        assert_eq!(loss(&c), (sq.content, 100.0, sq.tv));
        let c = JobConfig::from_toml_str(
            &minimal(),
            "job.toml",
            &sets(&[
                "model.name=squeezenet",
                "loss.content_weight=2",
                "loss.tv_weight=0",
            ]),
        )
        .unwrap();
        assert_eq!(loss(&c), (2.0, sq.style, 0.0));
        let c = JobConfig::from_toml_str(&minimal(), "job.toml", &sets(&["loss.style_weight=3"]))
            .unwrap();
        assert_eq!(loss(&c), (vgg.content, 3.0, vgg.tv));
    }

    #[test]
    fn config_round_trips_through_toml() {
        let c = JobConfig::default();
        let text = toml::to_string(&c).unwrap();
        let back = JobConfig::from_toml_str(&text, "x", &[]).unwrap();
        assert_eq!(back.source, "x");
        // Where a config came from is not one of its settings.
        assert_eq!(
            JobConfig {
                source: c.source.clone(),
                ..back
            },
            c
        );
    }
}
