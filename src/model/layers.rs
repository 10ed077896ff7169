//! Layer tables of the three networks and their tensor names in the weights file.
use std::path::Path;

use tch::Tensor;

use super::{Layer, ModelError, ModelName, Op, WeightsFile};

/// The `architecture` metadata value a weights file must carry for `model`.
pub fn architecture_name(model: ModelName) -> &'static str {
    match model {
        ModelName::Vgg19 => "vgg19",
        ModelName::Vgg16 => "vgg16",
        ModelName::Squeezenet => "squeezenet1_1",
    }
}

/// Convolutions per VGG block.
fn vgg_blocks(model: ModelName) -> [usize; 5] {
    match model {
        ModelName::Vgg16 => [2, 2, 3, 3, 3],
        _ => [2, 2, 4, 4, 4],
    }
}

const VGG_CHANNELS: [i64; 5] = [64, 128, 256, 512, 512];

/// (squeeze, expand) channels of fire2..fire9.
const FIRES: [(i64, i64); 8] = [
    (16, 64),
    (16, 64),
    (32, 128),
    (32, 128),
    (48, 192),
    (48, 192),
    (64, 256),
    (64, 256),
];

pub(crate) fn build(
    model: ModelName,
    file: &mut WeightsFile,
    path: &Path,
) -> Result<Vec<Layer>, ModelError> {
    let mut tensors = Tensors { file, path };
    match model {
        ModelName::Vgg16 | ModelName::Vgg19 => vgg(vgg_blocks(model), &mut tensors),
        ModelName::Squeezenet => squeezenet(&mut tensors),
    }
}

/// The weights file being taken apart, with its path for error messages.
struct Tensors<'a> {
    file: &'a mut WeightsFile,
    path: &'a Path,
}

impl Tensors<'_> {
    fn take(&mut self, name: &str, shape: &[i64]) -> Result<Tensor, ModelError> {
        self.file.take(self.path, name, shape)
    }
}

/// Five blocks of 3x3 convolutions (`blocks[b]` in block `b`), each block ending in a 2x2 pool.
fn vgg(blocks: [usize; 5], tensors: &mut Tensors<'_>) -> Result<Vec<Layer>, ModelError> {
    let mut layers = Vec::new();
    let mut cin = 3;
    for (b, (&n, &c)) in blocks.iter().zip(VGG_CHANNELS.iter()).enumerate() {
        for i in 1..=n {
            let name = format!("conv{}_{i}", b + 1);
            let weight = tensors.take(&format!("{name}.weight"), &[c, cin, 3, 3])?;
            let bias = tensors.take(&format!("{name}.bias"), &[c])?;
            layers.push(Layer {
                name,
                op: Op::Conv {
                    weight,
                    bias,
                    stride: 1,
                    padding: 1,
                    relu: false,
                },
            });
            layers.push(Layer {
                name: format!("relu{}_{i}", b + 1),
                op: Op::Relu,
            });
            cin = c;
        }
        layers.push(Layer {
            name: format!("pool{}", b + 1),
            op: Op::Pool {
                kernel: 2,
                stride: 2,
                ceil: false,
            },
        });
    }
    Ok(layers)
}

/// SqueezeNet 1.1 features: conv1, then fire2..fire9 with pools after conv1, fire3 and fire5.
fn squeezenet(tensors: &mut Tensors<'_>) -> Result<Vec<Layer>, ModelError> {
    let pool = |name: &str| Layer {
        name: name.to_string(),
        op: Op::Pool {
            kernel: 3,
            stride: 2,
            ceil: true,
        },
    };
    let mut layers = vec![Layer {
        name: "conv1".into(),
        op: Op::Conv {
            weight: tensors.take("conv1.weight", &[64, 3, 3, 3])?,
            bias: tensors.take("conv1.bias", &[64])?,
            stride: 2,
            padding: 0,
            relu: true,
        },
    }];
    layers.push(pool("pool1"));
    let mut cin = 64;
    for (k, &(s, e)) in FIRES.iter().enumerate() {
        let n = k + 2;
        layers.push(Layer {
            name: format!("fire{n}"),
            op: fire(n, cin, (s, e), tensors)?,
        });
        cin = 2 * e;
        if n == 3 || n == 5 {
            layers.push(pool(&format!("pool{n}")));
        }
    }
    Ok(layers)
}

/// Fire module `n` on `cin` channels with `s` squeeze and `e` + `e` expand channels.
fn fire(
    n: usize,
    cin: i64,
    (s, e): (i64, i64),
    tensors: &mut Tensors<'_>,
) -> Result<Op, ModelError> {
    let mut pair = |part: &str, shape: [i64; 4]| -> Result<_, ModelError> {
        Ok((
            tensors.take(&format!("fire{n}.{part}.weight"), &shape)?,
            tensors.take(&format!("fire{n}.{part}.bias"), &shape[..1])?,
        ))
    };
    Ok(Op::Fire {
        squeeze: pair("squeeze", [s, cin, 1, 1])?,
        expand1x1: pair("expand1x1", [e, s, 1, 1])?,
        expand3x3: pair("expand3x3", [e, s, 3, 3])?,
    })
}
