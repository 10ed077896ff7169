//! Layer tables of the three networks and their tensor names in the weights file.
use std::path::Path;

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
    let mut layers = Vec::new();
    let mut take = |name: &str, shape: &[i64]| file.take(path, name, shape);
    match model {
        ModelName::Vgg16 | ModelName::Vgg19 => {
            let mut cin = 3;
            for (b, (&n, &c)) in vgg_blocks(model)
                .iter()
                .zip(VGG_CHANNELS.iter())
                .enumerate()
            {
                for i in 1..=n {
                    let name = format!("conv{}_{i}", b + 1);
                    let weight = take(&format!("{name}.weight"), &[c, cin, 3, 3])?;
                    let bias = take(&format!("{name}.bias"), &[c])?;
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
        }
        ModelName::Squeezenet => {
            let pool = |name: &str| Layer {
                name: name.to_string(),
                op: Op::Pool {
                    kernel: 3,
                    stride: 2,
                    ceil: true,
                },
            };
            layers.push(Layer {
                name: "conv1".into(),
                op: Op::Conv {
                    weight: take("conv1.weight", &[64, 3, 3, 3])?,
                    bias: take("conv1.bias", &[64])?,
                    stride: 2,
                    padding: 0,
                    relu: true,
                },
            });
            layers.push(pool("pool1"));
            let mut cin = 64;
            for (k, &(s, e)) in FIRES.iter().enumerate() {
                let n = k + 2;
                let mut pair = |part: &str, shape: [i64; 4]| -> Result<_, ModelError> {
                    Ok((
                        take(&format!("fire{n}.{part}.weight"), &shape)?,
                        take(&format!("fire{n}.{part}.bias"), &shape[..1])?,
                    ))
                };
                let op = Op::Fire {
                    squeeze: pair("squeeze", [s, cin, 1, 1])?,
                    expand1x1: pair("expand1x1", [e, s, 1, 1])?,
                    expand3x3: pair("expand3x3", [e, s, 3, 3])?,
                };
                layers.push(Layer {
                    name: format!("fire{n}"),
                    op,
                });
                cin = 2 * e;
                if n == 3 || n == 5 {
                    layers.push(pool(&format!("pool{n}")));
                }
            }
        }
    }
    Ok(layers)
}
