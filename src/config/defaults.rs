//! Defaults that depend on the network (pooling, loss weights, layers,
//! weights file, coarse-size iterations) and on other settings.

use std::path::PathBuf;

use super::{ModelConfig, ModelName, OptimizerConfig, PoolingKind, ShardsConfig};

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
    /// the flow loses much of its style (docs/tuning.md). SqueezeNet keeps
    /// max pooling, which its loss weights were tuned with.
    pub fn default_pooling(self) -> PoolingKind {
        match self {
            ModelName::Vgg19 | ModelName::Vgg16 => PoolingKind::Avg,
            ModelName::Squeezenet => PoolingKind::Max,
        }
    }
    /// Iterations at each coarse size when the full size gets `full`. VGG's
    /// coarse pictures converge sooner, so two thirds lose no style;
    /// SqueezeNet's lose some and cost little (docs/tuning.md).
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
            // Averaged features are smaller (docs/tuning.md). Ten times the
            // weights keep the terms at max pooling's magnitude, so the
            // pixel-space terms (TV, temporal, range) keep their balance
            // against them.
            (ModelName::Vgg19 | ModelName::Vgg16, PoolingKind::Avg) => LossWeights {
                content: 50.0,
                style: 1000.0,
                tv: 1e-3,
            },
            // SqueezeNet's unweighted style loss is far smaller than VGG's,
            // so its style term needs a larger weight: 3000 is where the
            // style stops improving and the content keeps fading
            // (docs/tuning.md).
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

impl ShardsConfig {
    /// Iterations per frame and seam pass. A seam frame starts from a blend
    /// of two textures, which a frame's budget does not repaint; beyond
    /// twice that budget more iterations gain nothing (docs/tuning.md).
    pub fn seam_iterations(&self, o: &OptimizerConfig) -> usize {
        self.seam_iterations.unwrap_or(2 * o.warm_iterations())
    }
}
