//! RGB images to the encoder's YUV frames, with the output's matrix and range.
use std::ffi::c_int;

use ffmpeg::format::Pixel;
use ffmpeg::frame;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::codec::{CodecError, EncoderSetup};
use crate::video::convert::{set_colorspace, Scaler};
use crate::video::Colour;

/// RGB images to the encoder's frames: padded to the even encoded size by repeating the last
/// column / row, then converted to its pixel format with the output's matrix and range.
pub(super) struct YuvConverter {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) enc_width: u32,
    pub(super) enc_height: u32,
    pixel_format: Pixel,
    colour: Colour,
    scaler: Scaler,
    /// The padded RGB frame, reused.
    rgb: frame::Video,
}

impl YuvConverter {
    pub(super) fn new(
        width: u32,
        height: u32,
        setup: &EncoderSetup,
        pixel_format: Pixel,
    ) -> Result<Self, CodecError> {
        let (enc_width, enc_height) = (setup.width, setup.height);
        let ctx = scaling::Context::get(
            Pixel::RGB24,
            enc_width,
            enc_height,
            pixel_format,
            enc_width,
            enc_height,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INP,
        )
        .map_err(|source| CodecError::Yuv {
            format: format!("{pixel_format:?}"),
            source,
        })?;
        let mut scaler = Scaler(ctx);
        let space = ffmpeg::ffi::AVColorSpace::from(setup.colour.space) as c_int;
        set_colorspace(
            &mut scaler,
            space,
            true,
            space,
            setup.colour.is_full_range(),
        );
        Ok(YuvConverter {
            width,
            height,
            enc_width,
            enc_height,
            pixel_format,
            colour: setup.colour,
            scaler,
            rgb: frame::Video::new(Pixel::RGB24, enc_width, enc_height),
        })
    }

    /// A new frame for the encoder from `image`, which must be `width` x `height`.
    pub(super) fn convert(&mut self, image: &RgbImage) -> Result<frame::Video, ffmpeg::Error> {
        let (w, h) = (self.width as usize, self.height as usize);
        let (ew, eh) = (self.enc_width as usize, self.enc_height as usize);
        let stride = self.rgb.stride(0);
        let src = image.as_raw();
        let dst = self.rgb.data_mut(0);
        for y in 0..eh {
            let sy = y.min(h - 1);
            let row = &mut dst[y * stride..y * stride + ew * 3];
            row[..w * 3].copy_from_slice(&src[sy * w * 3..(sy + 1) * w * 3]);
            if ew > w {
                let last = [
                    src[(sy * w + w - 1) * 3],
                    src[(sy * w + w - 1) * 3 + 1],
                    src[(sy * w + w - 1) * 3 + 2],
                ];
                row[w * 3..].copy_from_slice(&last);
            }
        }
        // A fresh frame each time: the encoder may keep a reference to the previous one.
        let mut yuv = frame::Video::new(self.pixel_format, self.enc_width, self.enc_height);
        self.scaler.0.run(&self.rgb, &mut yuv)?;
        self.colour.tag(&mut yuv);
        Ok(yuv)
    }
}
