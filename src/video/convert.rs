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

/// The frame's YUV matrix; one it does not name is guessed as players do: BT.709 for HD
/// (720 lines and up), BT.601 below.
fn guessed_space(f: &frame::Video) -> color::Space {
    match f.color_space() {
        color::Space::Unspecified if f.height() >= 720 => color::Space::BT709,
        color::Space::Unspecified => color::Space::BT470BG,
        space => space,
    }
}

/// Bits per component of a pixel format (8 when FFmpeg does not say).
fn depth(format: Pixel) -> u32 {
    // SAFETY: FFmpeg's static descriptor table; null for an unknown format.
    let desc = unsafe { ffmpeg::ffi::av_pix_fmt_desc_get(format.into()) };
    if desc.is_null() {
        return 8;
    }
    // SAFETY: a non-null descriptor from the table, with at least one component.
    unsafe { (*desc).comp[0].depth as u32 }
}

/// A 4x4 ordered-dither threshold in (0, 1): added before 16-bit values are cut to 8 bits,
/// so that a smooth 10-bit ramp becomes a fine pattern of neighbouring levels instead of
/// visible bands (the network sees the ramp's mean).
const BAYER: [[u32; 4]; 4] = [[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]];

/// 16-bit RGB (little-endian rows of `stride` bytes) to 8 bits with the ordered dither.
fn dither_rgb48(data: &[u8], stride: usize, w: usize, h: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = &data[y * stride..y * stride + w * 6];
        for (i, v) in row.chunks_exact(2).enumerate() {
            let v = u16::from_le_bytes([v[0], v[1]]) as u32;
            // 257 steps of 16 bits make one 8-bit level; the threshold spreads the remainder.
            let t = (BAYER[y % 4][(i / 3) % 4] * 2 + 1) * 257 / 32;
            out.push(((v + t) / 257).min(255) as u8);
        }
    }
    out
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

    pub(super) fn convert(&mut self, f: &frame::Video) -> Result<RgbImage, Cause> {
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
                Self::rgb_format(f.format()),
                self.width,
                self.height,
                filter | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
            )
            .map_err(|e| {
                let step = format!(
                    "cannot convert {:?} {}x{} to RGB",
                    f.format(),
                    f.width(),
                    f.height()
                );
                Cause::from(e).within(step)
            })?;
            let mut scaler = Scaler(ctx);
            let space = ffmpeg::ffi::AVColorSpace::from(guessed_space(f)) as c_int;
            set_colorspace(&mut scaler, space, key.4, space, true);
            self.scaler = Some(scaler);
            self.key = Some(key);
        }
        let scaler = self.scaler.as_mut().expect("scaler set above");
        scaler.0.run(f, &mut self.rgb)?;
        let (w, h) = (self.width as usize, self.height as usize);
        let stride = self.rgb.stride(0);
        let data = self.rgb.data(0);
        let buf = if self.rgb.format() == Pixel::RGB24 {
            let row = w * 3;
            (0..h)
                .flat_map(|y| &data[y * stride..y * stride + row])
                .copied()
                .collect()
        } else {
            dither_rgb48(data, stride, w, h)
        };
        RgbImage::from_raw(self.width, self.height, buf).ok_or_else(|| "bad RGB buffer size".into())
    }

    /// RGB24, or 16-bit RGB for sources of more than 8 bits (dithered down afterwards).
    fn rgb_format(source: Pixel) -> Pixel {
        if depth(source) > 8 {
            Pixel::RGB48LE
        } else {
            Pixel::RGB24
        }
    }
}

pub(super) fn resize_rgb(img: RgbImage, w: u32, h: u32) -> RgbImage {
    if img.dimensions() == (w, h) {
        img
    } else {
        image::imageops::resize(&img, w, h, image::imageops::FilterType::CatmullRom)
    }
}
