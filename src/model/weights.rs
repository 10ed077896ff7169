//! The one weights format of vstyle: safetensors with metadata saying what
//! network it is and what input it expects (see scripts/import_weights.py).
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

use super::ModelError;

/// What the first layer expects: input = (pixel * scale - mean) / std, channels in `channel_order`.
#[derive(Debug, Clone, PartialEq)]
pub struct InputSpec {
    pub bgr: bool,
    /// Pixel value of white (255 for Caffe-origin weights, 1 for torchvision).
    pub scale: f64,
    pub mean: [f64; 3],
    pub std: [f64; 3],
}

pub struct WeightsFile {
    pub architecture: String,
    pub input: InputSpec,
    pub source: String,
    pub tensors: HashMap<String, Tensor>,
}

fn triple(file: &str, key: &str, v: Option<&String>) -> Result<[f64; 3], ModelError> {
    let bad = || ModelError::Weights {
        file: file.to_string(),
        message: format!("metadata `{key}` must be three comma-separated numbers"),
    };
    let v = v.ok_or_else(bad)?;
    let nums: Vec<f64> = v
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    nums.try_into().map_err(|_| bad())
}

fn weights_error(file: &str, message: String) -> ModelError {
    ModelError::Weights {
        file: file.to_string(),
        message,
    }
}

impl InputSpec {
    /// Channel order, scale, mean and std from the file's metadata.
    fn from_metadata(file: &str, md: &HashMap<String, String>) -> Result<Self, ModelError> {
        let werr = |message: String| weights_error(file, message);
        let bgr = match md.get("channel_order").map(String::as_str) {
            Some("bgr") => true,
            Some("rgb") => false,
            _ => return Err(werr("metadata `channel_order` must be rgb or bgr".into())),
        };
        let scale: f64 = md
            .get("input_scale")
            .and_then(|s| s.parse().ok())
            .filter(|s: &f64| *s > 0.0)
            .ok_or_else(|| werr("metadata `input_scale` must be a positive number".into()))?;
        let input = InputSpec {
            bgr,
            scale,
            mean: triple(file, "mean", md.get("mean"))?,
            std: triple(file, "std", md.get("std"))?,
        };
        if input.std.iter().any(|s| *s <= 0.0) {
            return Err(werr("metadata `std` must be positive".into()));
        }
        Ok(input)
    }
}

/// Every tensor of the file on `device`, frozen; all must be F32.
fn frozen_tensors(
    file: &str,
    st: &safetensors::SafeTensors,
    device: Device,
) -> Result<HashMap<String, Tensor>, ModelError> {
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(weights_error(
                file,
                format!("{name}: dtype {:?}, expected F32", view.dtype()),
            ));
        }
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::from_data_size(view.data(), &shape, Kind::Float)
            .to_device(device)
            .set_requires_grad(false);
        tensors.insert(name, t);
    }
    Ok(tensors)
}

impl WeightsFile {
    /// Reads the file onto `device`; tensors are frozen (no gradients).
    pub fn load(path: &Path, device: Device) -> Result<Self, ModelError> {
        let file = path.display().to_string();
        let werr = |message: String| weights_error(&file, message);
        let bytes = std::fs::read(path).map_err(|e| {
            werr(if e.kind() == std::io::ErrorKind::NotFound {
                "not found (scripts/setup.sh makes the default weights; `vstyle weights import` converts others)".into()
            } else {
                format!("cannot read: {e}")
            })
        })?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| werr(format!("not a safetensors file: {e}")))?;
        let st = safetensors::SafeTensors::deserialize(&bytes)
            .map_err(|e| werr(format!("not a safetensors file: {e}")))?;
        let md = meta.metadata().clone().unwrap_or_default();
        if md.get("format").map(String::as_str) != Some("vstyle-weights-1") {
            return Err(werr(
                "no vstyle metadata (format=vstyle-weights-1): convert it with `vstyle weights import`".into(),
            ));
        }
        let architecture = md
            .get("architecture")
            .cloned()
            .ok_or_else(|| werr("metadata `architecture` missing".into()))?;
        Ok(Self {
            architecture,
            input: InputSpec::from_metadata(&file, &md)?,
            source: md.get("source").cloned().unwrap_or_default(),
            tensors: frozen_tensors(&file, &st, device)?,
        })
    }

    /// Takes out a tensor of the expected shape, or says which one is wrong.
    pub fn take(&mut self, file: &Path, name: &str, shape: &[i64]) -> Result<Tensor, ModelError> {
        let t = self
            .tensors
            .remove(name)
            .ok_or_else(|| ModelError::Weights {
                file: file.display().to_string(),
                message: format!("tensor `{name}` missing ({} weights)", self.architecture),
            })?;
        if t.size() != shape {
            return Err(ModelError::Weights {
                file: file.display().to_string(),
                message: format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?}",
                    t.size()
                ),
            });
        }
        Ok(t)
    }
}
