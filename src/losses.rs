//! The objective, composed of small loss types (after crowsonkb's
//! style-transfer-pytorch): content, style (Gram), total variation, temporal,
//! each scaled by a weight and summed. Every loss is normalised so that its
//! weight does not depend on the image size.
use tch::{Kind, Tensor};

/// What a loss term measures; used to group values in progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TermKind {
    Content,
    Style,
    Tv,
    Temporal,
    Range,
}

/// One differentiable term. `pixels` is the image being optimised
/// (1 x 3 x H x W, pixel space); `features` are the activations of the layers
/// the objective extracts, in the order the objective lists them.
pub trait Loss: Send {
    fn kind(&self) -> TermKind;
    fn eval(&self, pixels: &Tensor, features: &[Tensor]) -> Tensor;
}

/// Gram matrix of a 1 x C x H x W activation, divided by C*H*W so that style
/// targets from an image of one size serve outputs of another.
pub fn gram(features: &Tensor) -> Tensor {
    let (_, c, h, w) = features.size4().expect("activations are 4-d");
    let f = features.view([c, h * w]);
    f.mm(&f.tr()) / ((c * h * w) as f64)
}

/// Mean squared distance of an activation to a target activation.
pub struct ContentLoss {
    pub slot: usize,
    pub target: Tensor,
}

impl Loss for ContentLoss {
    fn kind(&self) -> TermKind {
        TermKind::Content
    }
    fn eval(&self, _: &Tensor, features: &[Tensor]) -> Tensor {
        (&features[self.slot] - &self.target)
            .square()
            .mean(Kind::Float)
    }
}

/// Mean squared distance of a Gram matrix to a (blended) target Gram matrix.
pub struct StyleLoss {
    pub slot: usize,
    pub target: Tensor,
}

impl Loss for StyleLoss {
    fn kind(&self) -> TermKind {
        TermKind::Style
    }
    /// The value is `mean((G - A)^2)`; its gradient with respect to the
    /// activation F is written out, `4 (G - A) F / (C^2 C H W)` (G and A are
    /// symmetric), because autograd through `F F^T` spends two matrix products
    /// on it where one does. The returned tensor carries that gradient through
    /// a linear surrogate whose value cancels.
    fn eval(&self, _: &Tensor, features: &[Tensor]) -> Tensor {
        let f = &features[self.slot];
        let (_, c, h, w) = f.size4().expect("activations are 4-d");
        let (value, slope) = tch::no_grad(|| {
            let detached = f.detach();
            let diff = gram(&detached) - &self.target;
            let slope = diff.mm(&detached.view([c, h * w])) * (4.0 / ((c * c * c * h * w) as f64));
            (diff.square().mean(Kind::Float), slope.view([1, c, h, w]))
        });
        if !f.requires_grad() {
            return value;
        }
        let surrogate = (f * slope).sum(Kind::Float);
        // Zero in value (exactly), the gradient in backward.
        value + (&surrogate - surrogate.detach())
    }
}

/// Total variation: mean squared difference of neighbouring pixels.
pub struct TvLoss;

impl Loss for TvLoss {
    fn kind(&self) -> TermKind {
        TermKind::Tv
    }
    fn eval(&self, pixels: &Tensor, _: &[Tensor]) -> Tensor {
        let (_, _, h, w) = pixels.size4().expect("image is 4-d");
        let dx = pixels.narrow(3, 1, w - 1) - pixels.narrow(3, 0, w - 1);
        let dy = pixels.narrow(2, 1, h - 1) - pixels.narrow(2, 0, h - 1);
        dx.square().mean(Kind::Float) + dy.square().mean(Kind::Float)
    }
}

/// Squared excursion of each pixel value outside what a picture can show,
/// `[0, max]` (pixel space). Without it, and with max pooling, the optimiser
/// buys style with values far outside that range, and the saved (clamped)
/// frame loses most of it: VGG-19 at 128 px, 100 iterations, reported style
/// 1.73e6 against 6.31e6 once clamped (average pooling strays far less).
/// A warm start inherits the clamped frame, so it pays too.
pub struct RangeLoss {
    pub max: f64,
}

impl Loss for RangeLoss {
    fn kind(&self) -> TermKind {
        TermKind::Range
    }
    fn eval(&self, pixels: &Tensor, _: &[Tensor]) -> Tensor {
        // The excursion is what clamping would remove; one pass of kernels
        // fewer than summing the parts above and below.
        (pixels - pixels.clamp(0.0, self.max))
            .square()
            .mean(Kind::Float)
    }
}

/// Masked squared distance to a target image (the previous stylized frame
/// warped into this one), per pixel of the frame (Ruder et al.).
pub struct TemporalLoss {
    pub target: Tensor,
    /// 1 x 1 x H x W weights in [0, 1]: 0 where the warp is unreliable.
    pub mask: Tensor,
}

impl Loss for TemporalLoss {
    fn kind(&self) -> TermKind {
        TermKind::Temporal
    }
    fn eval(&self, pixels: &Tensor, _: &[Tensor]) -> Tensor {
        ((pixels - &self.target).square() * &self.mask).mean(Kind::Float)
    }
}

/// A loss times its weight.
pub struct Scaled {
    pub weight: f64,
    pub loss: Box<dyn Loss>,
}

/// The summed objective, with the value of each kind of term kept for reports.
#[derive(Default)]
pub struct SumLoss {
    pub terms: Vec<Scaled>,
}

/// Loss values of one evaluation, by kind (weighted).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LossValues {
    pub total: f64,
    pub content: f64,
    pub style: f64,
    pub tv: f64,
    pub temporal: f64,
    /// The range term (absent from reports written before it existed).
    #[serde(default)]
    pub range: f64,
}

impl SumLoss {
    pub fn push(&mut self, weight: f64, loss: impl Loss + 'static) {
        // A zero weight would only cost time.
        if weight > 0.0 {
            self.terms.push(Scaled {
                weight,
                loss: Box::new(loss),
            });
        }
    }

    /// The weighted sum (a scalar tensor that carries the graph) and, per term,
    /// its weighted value (detached; read with one host transfer by `values`).
    pub fn eval(&self, pixels: &Tensor, features: &[Tensor]) -> (Tensor, Tensor) {
        let parts: Vec<Tensor> = self
            .terms
            .iter()
            .map(|t| t.loss.eval(pixels, features) * t.weight)
            .collect();
        if parts.is_empty() {
            let z = pixels.sum(Kind::Float) * 0.0;
            return (z.shallow_clone(), z.detach().view([1]));
        }
        let stacked = Tensor::stack(&parts, 0);
        (stacked.sum(Kind::Float), stacked.detach())
    }

    /// Groups per-term values (from `eval`) by kind.
    pub fn values(&self, per_term: &Tensor) -> LossValues {
        let v: Vec<f64> = per_term
            .to_kind(Kind::Double)
            .to_device(tch::Device::Cpu)
            .try_into()
            .unwrap_or_default();
        let mut out = LossValues::default();
        for (t, x) in self.terms.iter().zip(v) {
            out.total += x;
            match t.loss.kind() {
                TermKind::Content => out.content += x,
                TermKind::Style => out.style += x,
                TermKind::Tv => out.tv += x,
                TermKind::Temporal => out.temporal += x,
                TermKind::Range => out.range += x,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn gram_is_size_independent_for_tiled_images() {
        tch::manual_seed(1);
        let f = Tensor::rand([1, 8, 6, 5], (Kind::Float, Device::Cpu));
        let big = f.repeat([1, 1, 2, 3]);
        let d = (gram(&f) - gram(&big)).abs().max().double_value(&[]);
        assert!(d < 1e-5, "{d}");
    }

    #[test]
    fn losses_are_zero_at_their_targets_and_positive_elsewhere() {
        tch::manual_seed(2);
        let img = Tensor::rand([1, 3, 10, 12], (Kind::Float, Device::Cpu));
        let feats = vec![Tensor::rand([1, 4, 5, 6], (Kind::Float, Device::Cpu))];
        let c = ContentLoss {
            slot: 0,
            target: feats[0].copy(),
        };
        let s = StyleLoss {
            slot: 0,
            target: gram(&feats[0]),
        };
        assert_eq!(c.eval(&img, &feats).double_value(&[]), 0.0);
        assert!(s.eval(&img, &feats).double_value(&[]).abs() < 1e-12);
        let other = vec![&feats[0] * 1.5];
        assert!(c.eval(&img, &other).double_value(&[]) > 0.0);
        assert!(s.eval(&img, &other).double_value(&[]) > 0.0);
        let flat = Tensor::ones([1, 3, 10, 12], (Kind::Float, Device::Cpu));
        assert_eq!(TvLoss.eval(&flat, &feats).double_value(&[]), 0.0);
        assert!(TvLoss.eval(&img, &feats).double_value(&[]) > 0.0);
    }

    #[test]
    fn style_gradient_matches_autograd_through_the_gram_matrix() {
        tch::manual_seed(3);
        let cpu = (Kind::Double, Device::Cpu);
        let f = Tensor::rand([1, 5, 4, 6], cpu).set_requires_grad(true);
        let target = gram(&Tensor::rand([1, 5, 7, 3], cpu));
        let plain = (gram(&f) - &target).square().mean(Kind::Double);
        let expected = Tensor::run_backward(&[&plain], &[&f], false, false).remove(0);
        let s = StyleLoss { slot: 0, target };
        let written = s.eval(&f, &[f.shallow_clone()]);
        let got = Tensor::run_backward(&[&written], &[&f], false, false).remove(0);
        // The value is a float like every loss's; the gradient keeps F's kind.
        let value_gap = (written.double_value(&[]) / plain.double_value(&[]) - 1.0).abs();
        assert!(value_gap < 1e-6, "{value_gap}");
        let rel = ((&got - &expected).norm() / expected.norm()).double_value(&[]);
        assert!(rel < 1e-10, "relative gradient error {rel}");
    }

    #[test]
    fn range_loss_is_zero_inside_and_pushes_back_outside() {
        let inside = Tensor::from_slice(&[0.0f32, 128.0, 255.0]).view([1, 3, 1, 1]);
        let range = RangeLoss { max: 255.0 };
        assert_eq!(range.eval(&inside, &[]).double_value(&[]), 0.0);
        let out = Tensor::from_slice(&[-2.0f32, 128.0, 259.0])
            .view([1, 3, 1, 1])
            .set_requires_grad(true);
        let value = range.eval(&out, &[]);
        assert!((value.double_value(&[]) - (4.0 + 16.0) / 3.0).abs() < 1e-5);
        let grad = Tensor::run_backward(&[&value], &[&out], false, false).remove(0);
        let g: Vec<f32> = grad.flatten(0, -1).try_into().unwrap();
        assert!(g[0] < 0.0 && g[1] == 0.0 && g[2] > 0.0, "{g:?}");
    }

    #[test]
    fn temporal_loss_ignores_masked_pixels() {
        let target = Tensor::zeros([1, 3, 4, 4], (Kind::Float, Device::Cpu));
        let img = target.ones_like();
        let mask = Tensor::zeros([1, 1, 4, 4], (Kind::Float, Device::Cpu));
        let t = TemporalLoss {
            target: target.copy(),
            mask: mask.copy(),
        };
        assert_eq!(t.eval(&img, &[]).double_value(&[]), 0.0);
        let _ = mask.narrow(3, 0, 2).fill_(1.0);
        let t = TemporalLoss { target, mask };
        assert!((t.eval(&img, &[]).double_value(&[]) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn sum_groups_weighted_values_by_kind() {
        let img = Tensor::rand([1, 3, 6, 6], (Kind::Float, Device::Cpu));
        let feats = vec![Tensor::rand([1, 2, 3, 3], (Kind::Float, Device::Cpu))];
        let mut sum = SumLoss::default();
        sum.push(
            2.0,
            ContentLoss {
                slot: 0,
                target: feats[0].zeros_like(),
            },
        );
        sum.push(3.0, TvLoss);
        sum.push(0.0, TvLoss);
        assert_eq!(sum.terms.len(), 2);
        let (total, per) = sum.eval(&img, &feats);
        let v = sum.values(&per);
        let c = 2.0 * feats[0].square().mean(Kind::Float).double_value(&[]);
        assert!((v.content - c).abs() < 1e-5);
        assert!((v.total - total.double_value(&[])).abs() < 1e-4);
        assert!((v.total - v.content - v.tv).abs() < 1e-6);
    }
}
