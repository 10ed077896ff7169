//! Moving pictures between `image` buffers and tensors, resizing, and the
//! colour handling of `original_colors`. (Image files: `video::image_file`.)

use image::{imageops::FilterType, RgbImage};
use tch::{Device, Kind, Tensor};

/// An RGB image as a 1 x 3 x H x W float tensor in [0, 1].
pub fn to_tensor(img: &RgbImage, device: Device) -> Tensor {
    let (w, h) = img.dimensions();
    Tensor::from_slice(img.as_raw())
        .view([h as i64, w as i64, 3])
        .permute([2, 0, 1])
        .unsqueeze(0)
        .to_kind(Kind::Float)
        .to_device(device)
        / 255.0
}

/// Interleaved RGB samples of a `w` x `h` picture as 1 x 3 x H x W on `device`.
pub fn rgb_f32_to_tensor(rgb: &[f32], w: u32, h: u32, device: Device) -> Tensor {
    Tensor::from_slice(rgb)
        .view([h as i64, w as i64, 3])
        .permute([2, 0, 1])
        .unsqueeze(0)
        .to_device(device)
}

/// A 1 x 3 x H x W tensor in [0, 1] (clamped) back to an image.
pub fn to_image(t: &Tensor) -> RgbImage {
    let (_, _, h, w) = t.size4().expect("image tensor is 4-d");
    let bytes = (t.detach().clamp(0.0, 1.0) * 255.0)
        .round()
        .to_kind(Kind::Uint8)
        .squeeze_dim(0)
        .permute([1, 2, 0])
        .contiguous()
        .to_device(Device::Cpu);
    let mut raw = vec![0u8; (w * h * 3) as usize];
    let n = raw.len();
    bytes.copy_data(&mut raw, n);
    RgbImage::from_raw(w as u32, h as u32, raw).expect("buffer size matches")
}

/// Mean absolute difference of two same-sized pictures per channel value,
/// on the 0..255 scale: how far apart two decodes or renders are.
pub fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(
        a.dimensions(),
        b.dimensions(),
        "pictures of different sizes"
    );
    let sum: u64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y) as u64)
        .sum();
    sum as f64 / a.as_raw().len() as f64
}

/// Dimensions with the longest side `longest`, aspect ratio kept.
pub fn fit_longest(w: u32, h: u32, longest: u32) -> (u32, u32) {
    let s = longest as f64 / w.max(h) as f64;
    (
        ((w as f64 * s).round() as u32).max(1),
        ((h as f64 * s).round() as u32).max(1),
    )
}

/// Resizes so the longest side is `longest` (no-op when it already is).
pub fn resize_longest(img: &RgbImage, longest: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let (nw, nh) = fit_longest(w, h, longest);
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    image::imageops::resize(img, nw, nh, FilterType::Lanczos3)
}

const RGB_TO_YUV: [[f64; 3]; 3] = [
    [0.299, 0.587, 0.114],
    [-0.14713, -0.28886, 0.436],
    [0.615, -0.51499, -0.10001],
];
const YUV_TO_RGB: [[f64; 3]; 3] = [
    [1.0, 0.0, 1.13983],
    [1.0, -0.39465, -0.58060],
    [1.0, 2.03211, 0.0],
];

fn mix(t: &Tensor, m: &[[f64; 3]; 3]) -> Tensor {
    let flat: Vec<f32> = m.iter().flatten().map(|&v| v as f32).collect();
    let m = Tensor::from_slice(&flat).view([3, 3]).to_device(t.device());
    // Channel mixing as a 1x1 convolution.
    t.conv2d(
        &m.view([3, 3, 1, 1]),
        None::<Tensor>,
        [1, 1],
        [0, 0],
        [1, 1],
        1,
    )
}

/// Keeps the luminance of `styled` and the colours (chrominance) of `content`,
/// as jcjohnson/neural-style's `-original_colors 1`.
pub fn original_colors(content: &Tensor, styled: &Tensor) -> Tensor {
    let c = mix(content, &RGB_TO_YUV);
    let s = mix(styled, &RGB_TO_YUV);
    let yuv = Tensor::cat(&[s.narrow(1, 0, 1), c.narrow(1, 1, 2)], 1);
    mix(&yuv, &YUV_TO_RGB).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_round_trip_is_exact() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([x as u8 * 30, y as u8 * 50, 200]));
        let t = to_tensor(&img, Device::Cpu);
        assert_eq!(t.size(), [1, 3, 5, 7]);
        assert_eq!(to_image(&t), img);
    }

    #[test]
    fn fit_keeps_aspect() {
        assert_eq!(fit_longest(176, 144, 88), (88, 72));
        assert_eq!(fit_longest(144, 176, 88), (72, 88));
        assert_eq!(
            resize_longest(&RgbImage::new(20, 10), 10).dimensions(),
            (10, 5)
        );
    }

    #[test]
    fn original_colors_keeps_content_chroma_and_styled_luma() {
        let content = Tensor::from_slice(&[0.9f32, 0.2, 0.1])
            .view([1, 3, 1, 1])
            .repeat([1, 1, 4, 4]);
        let styled = Tensor::from_slice(&[0.3f32, 0.3, 0.3])
            .view([1, 3, 1, 1])
            .repeat([1, 1, 4, 4]);
        let out = original_colors(&content, &styled);
        let y = |t: &Tensor| {
            mix(t, &RGB_TO_YUV)
                .narrow(1, 0, 1)
                .mean(Kind::Float)
                .double_value(&[])
        };
        assert!((y(&out) - y(&styled)).abs() < 0.02);
        // Red stays the dominant channel, as in the content.
        let px: Vec<f32> = out
            .narrow(2, 0, 1)
            .narrow(3, 0, 1)
            .flatten(0, -1)
            .try_into()
            .unwrap();
        assert!(px[0] > px[1] && px[0] > px[2], "{px:?}");
    }
}
