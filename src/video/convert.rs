//! Decoded frames of any pixel format and size to RGB24 of a fixed size, with the colour
//! matrix and range the stream declares.
use std::ffi::c_int;

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::{color, frame};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::*;

/// An owned swscale context. `SwsContext` has no thread affinity; the wrapper is only ever used
/// through `&mut`, so moving it to another thread is sound.
pub(super) struct Scaler(pub(super) scaling::Context);

// SAFETY: see the type's documentation: exclusively owned, never shared between threads.
unsafe impl Send for Scaler {}

/// Sets the YUV matrix / range swscale uses on either side of a conversion.
/// `src_space` / `dst_space` are `AVColorSpace` values (unspecified falls back to BT.601).
pub(super) fn set_colorspace(
    s: &mut Scaler,
    src_space: c_int,
    src_full: bool,
    dst_space: c_int,
    dst_full: bool,
) {
    // SAFETY: the context pointer is valid for the scaler's lifetime; the coefficient tables are
    // static data returned by swscale itself.
    unsafe {
        let inv = ffmpeg::ffi::sws_getCoefficients(src_space);
        let table = ffmpeg::ffi::sws_getCoefficients(dst_space);
        ffmpeg::ffi::sws_setColorspaceDetails(
            s.0.as_mut_ptr(),
            inv,
            src_full as c_int,
            table,
            dst_full as c_int,
            0,
            1 << 16,
            1 << 16,
        );
    }
}

pub(super) fn is_full_range(f: &frame::Video) -> bool {
    f.color_range() == color::Range::JPEG
        || matches!(
            f.format(),
            Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P | Pixel::YUVJ411P
        )
}

/// Converts decoded frames of any pixel format / size to RGB24 of a fixed size.
pub(super) struct RgbConverter {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) key: Option<(Pixel, u32, u32, color::Space, bool)>,
    pub(super) scaler: Option<Scaler>,
    pub(super) rgb: frame::Video,
}

impl RgbConverter {
    pub(super) fn new(width: u32, height: u32) -> Self {
        RgbConverter {
            width,
            height,
            key: None,
            scaler: None,
            rgb: frame::Video::empty(),
        }
    }

    pub(super) fn convert(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        let key = (
            f.format(),
            f.width(),
            f.height(),
            f.color_space(),
            is_full_range(f),
        );
        if self.key != Some(key) || self.scaler.is_none() {
            let downscale =
                (self.width as u64 * self.height as u64) < (f.width() as u64 * f.height() as u64);
            let filter = if downscale {
                scaling::Flags::AREA
            } else {
                scaling::Flags::BICUBIC
            };
            let ctx = scaling::Context::get(
                f.format(),
                f.width(),
                f.height(),
                Pixel::RGB24,
                self.width,
                self.height,
                filter | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
            )
            .map_err(|e| {
                format!(
                    "cannot convert {:?} {}x{} to RGB: {}",
                    f.format(),
                    f.width(),
                    f.height(),
                    one_line(e)
                )
            })?;
            let mut scaler = Scaler(ctx);
            let space = ffmpeg::ffi::AVColorSpace::from(f.color_space()) as c_int;
            set_colorspace(&mut scaler, space, key.4, space, true);
            self.scaler = Some(scaler);
            self.key = Some(key);
        }
        let scaler = self.scaler.as_mut().expect("scaler set above");
        scaler.0.run(f, &mut self.rgb).map_err(one_line)?;
        let (w, h) = (self.width as usize, self.height as usize);
        let stride = self.rgb.stride(0);
        let data = self.rgb.data(0);
        let row = w * 3;
        let mut buf = Vec::with_capacity(row * h);
        for y in 0..h {
            buf.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        RgbImage::from_raw(self.width, self.height, buf)
            .ok_or_else(|| "bad RGB buffer size".to_string())
    }
}

pub(super) fn resize_rgb(img: RgbImage, w: u32, h: u32) -> RgbImage {
    if img.dimensions() == (w, h) {
        img
    } else {
        image::imageops::resize(&img, w, h, image::imageops::FilterType::CatmullRom)
    }
}
