//! Feature extractors (VGG-19, VGG-16, SqueezeNet 1.1) with named layers,
//! frozen weights and a forward pass that stops at the deepest layer asked for.
pub mod layers;
pub mod weights;

use std::path::Path;
use tch::{Device, Tensor};

pub use crate::config::{ModelName, PoolingKind};
pub use weights::{InputSpec, WeightsFile};

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{file}: {message}")]
    Weights { file: String, message: String },
    #[error("{what} is {width}x{height} px, but layer {layer} of {model} needs at least {min} px per side; raise input.size or style.scale")]
    TooSmall {
        what: String,
        width: u32,
        height: u32,
        layer: String,
        model: String,
        min: u32,
    },
    #[error("unknown layer `{name}` for {model}; layers are: {known}")]
    UnknownLayer {
        name: String,
        model: String,
        known: String,
    },
}

pub(crate) enum Op {
    Conv {
        weight: Tensor,
        bias: Tensor,
        stride: i64,
        padding: i64,
        relu: bool,
    },
    Relu,
    Pool {
        kernel: i64,
        stride: i64,
        ceil: bool,
    },
    Fire {
        squeeze: (Tensor, Tensor),
        expand1x1: (Tensor, Tensor),
        expand3x3: (Tensor, Tensor),
    },
}

pub(crate) struct Layer {
    pub name: String,
    pub op: Op,
}

/// A pretrained network cut to its feature layers.
pub struct Backbone {
    model: ModelName,
    layers: Vec<Layer>,
    pooling: PoolingKind,
    input: InputSpec,
    mean: Tensor,
    std: Tensor,
    device: Device,
}

impl Backbone {
    /// Loads `weights` for `model`; a file of another architecture, or with a
    /// missing, extra or misshapen tensor, is an error naming the file.
    pub fn load(
        model: ModelName,
        weights: &Path,
        pooling: PoolingKind,
        device: Device,
    ) -> Result<Self, ModelError> {
        let mut file = WeightsFile::load(weights, device)?;
        let expected = layers::architecture_name(model);
        if file.architecture != expected {
            return Err(ModelError::Weights {
                file: weights.display().to_string(),
                message: format!(
                    "holds {} weights, but model {} was asked for",
                    file.architecture,
                    model.as_str()
                ),
            });
        }
        let layers = layers::build(model, &mut file, weights)?;
        if let Some(extra) = file.tensors.keys().min() {
            return Err(ModelError::Weights {
                file: weights.display().to_string(),
                message: format!("unexpected tensor `{extra}` for {expected}"),
            });
        }
        let input = file.input.clone();
        let mean = Tensor::from_slice(&input.mean.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        let std = Tensor::from_slice(&input.std.map(|v| v as f32))
            .view([1, 3, 1, 1])
            .to_device(device);
        Ok(Self {
            model,
            layers,
            pooling,
            input,
            mean,
            std,
            device,
        })
    }

    pub fn model(&self) -> ModelName {
        self.model
    }
    pub fn device(&self) -> Device {
        self.device
    }
    pub fn input_spec(&self) -> &InputSpec {
        &self.input
    }
    /// Pixel value of white in the space the optimiser works in.
    pub fn pixel_scale(&self) -> f64 {
        self.input.scale
    }
    pub fn layer_names(&self) -> impl Iterator<Item = &str> {
        self.layers.iter().map(|l| l.name.as_str())
    }

    /// Index of a named layer.
    pub fn layer_index(&self, name: &str) -> Result<usize, ModelError> {
        self.layers
            .iter()
            .position(|l| l.name == name)
            .ok_or_else(|| ModelError::UnknownLayer {
                name: name.to_string(),
                model: self.model.as_str().to_string(),
                known: self.layer_names().collect::<Vec<_>>().join(", "),
            })
    }

    /// The smallest side an input may have for `layer` to get at least one pixel.
    pub fn min_side(&self, layer: usize) -> u32 {
        let fits = |mut n: i64| {
            for l in &self.layers[..=layer] {
                n = match &l.op {
                    Op::Conv {
                        weight,
                        stride,
                        padding,
                        ..
                    } => {
                        let k = weight.size()[2];
                        (n + 2 * padding - k) / stride + 1
                    }
                    Op::Relu | Op::Fire { .. } => n,
                    Op::Pool {
                        kernel,
                        stride,
                        ceil,
                    } => {
                        let span = n - kernel;
                        if span < 0 {
                            return false;
                        }
                        if *ceil {
                            (span + stride - 1) / stride + 1
                        } else {
                            span / stride + 1
                        }
                    }
                };
                if n < 1 {
                    return false;
                }
            }
            true
        };
        (1..4096).find(|&n| fits(n as i64)).unwrap_or(4096)
    }

    /// Errors when a `width` x `height` picture is too small for the layers at `wanted`.
    pub fn check_size(
        &self,
        what: &str,
        width: u32,
        height: u32,
        wanted: &[usize],
    ) -> Result<(), ModelError> {
        let Some(&deepest) = wanted.iter().max() else {
            return Ok(());
        };
        let min = self.min_side(deepest);
        if width.min(height) < min {
            return Err(ModelError::TooSmall {
                what: what.to_string(),
                width,
                height,
                layer: self.layers[deepest].name.clone(),
                model: self.model.as_str().to_string(),
                min,
            });
        }
        Ok(())
    }

    /// RGB pixels in [0, pixel_scale] (N x 3 x H x W) to the network's input.
    pub fn normalize(&self, pixels: &Tensor) -> Tensor {
        let x = if self.input.bgr {
            pixels.flip([1])
        } else {
            pixels.shallow_clone()
        };
        (x - &self.mean) / &self.std
    }

    /// Activations of the layers at `wanted` (indices from `layer_index`), in
    /// that order, for RGB pixels in [0, pixel_scale]. Stops after the deepest.
    pub fn features(&self, pixels: &Tensor, wanted: &[usize]) -> Vec<Tensor> {
        let Some(&deepest) = wanted.iter().max() else {
            return Vec::new();
        };
        let mut out: Vec<Option<Tensor>> = wanted.iter().map(|_| None).collect();
        let mut x = self.normalize(pixels);
        let mut kept = false;
        for (i, layer) in self.layers[..=deepest].iter().enumerate() {
            x = match layer.op {
                // A convolution's output that nobody keeps can be rectified in
                // place: saves a full-size allocation per layer (conv backward
                // does not need its output).
                Op::Relu if !kept && i > 0 => {
                    let mut y = x;
                    let _ = y.relu_();
                    y
                }
                _ => self.apply(&layer.op, &x),
            };
            kept = false;
            for (slot, _) in wanted.iter().enumerate().filter(|(_, &w)| w == i) {
                out[slot] = Some(x.shallow_clone());
                kept = true;
            }
        }
        out.into_iter()
            .map(|t| t.expect("every wanted layer was visited"))
            .collect()
    }

    fn apply(&self, op: &Op, x: &Tensor) -> Tensor {
        let conv = |x: &Tensor, (w, b): &(Tensor, Tensor), pad: i64| {
            x.conv2d(w, Some(b), [1, 1], [pad, pad], [1, 1], 1).relu()
        };
        match op {
            Op::Conv {
                weight,
                bias,
                stride,
                padding,
                relu,
            } => {
                let y = x.conv2d(
                    weight,
                    Some(bias),
                    [*stride, *stride],
                    [*padding, *padding],
                    [1, 1],
                    1,
                );
                if *relu {
                    y.relu()
                } else {
                    y
                }
            }
            Op::Relu => x.relu(),
            Op::Pool {
                kernel,
                stride,
                ceil,
            } => match self.pooling {
                PoolingKind::Max => x.max_pool2d(
                    [*kernel, *kernel],
                    [*stride, *stride],
                    [0, 0],
                    [1, 1],
                    *ceil,
                ),
                PoolingKind::Avg => x.avg_pool2d(
                    [*kernel, *kernel],
                    [*stride, *stride],
                    [0, 0],
                    *ceil,
                    true,
                    None::<i64>,
                ),
            },
            Op::Fire {
                squeeze,
                expand1x1,
                expand3x3,
            } => {
                let s = conv(x, squeeze, 0);
                Tensor::cat(&[conv(&s, expand1x1, 0), conv(&s, expand3x3, 1)], 1)
            }
        }
    }
}
