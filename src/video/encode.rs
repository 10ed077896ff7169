//! `VideoWriter`: RGB frames to a video file (H.264 by default), with audio copied.
use std::ffi::c_int;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::{codec, color, encoder, format, frame, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::*;

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Encoder name (e.g. "libx264", "mpeg4"). `None`: libx264 if the build has it, else mpeg4,
    /// libopenh264, libxvid or any other H.264 / MPEG-4 encoder that opens.
    pub codec: Option<String>,
    /// Quality: x264/x265 CRF (default 18); for quantizer-based encoders (mpeg4, ...) mapped to a
    /// fixed quantizer (crf / 6, at least 1).
    pub crf: u8,
    /// Pixel format name as FFmpeg spells it (default "yuv420p"); if the encoder cannot take it,
    /// the encoder's first supported format is used.
    pub pixel_format: String,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            codec: None,
            crf: 18,
            pixel_format: "yuv420p".into(),
        }
    }
}

/// Encodes RGB frames into a video file, optionally with audio copied from another file.
pub struct VideoWriter {
    pub(super) path: PathBuf,
    pub(super) octx: format::context::Output,
    pub(super) encoder: encoder::video::Encoder,
    pub(super) codec_name: String,
    pub(super) stream_index: usize,
    pub(super) enc_tb: Rational,
    pub(super) ost_tb: Rational,
    pub(super) frame_rate: Rational,
    pub(super) yuv: YuvConverter,
    pub(super) frames: usize,
    pub(super) audio: Option<AudioCopy>,
}

/// Encoders tried, in order, when none is requested.
pub(super) const DEFAULT_ENCODERS: [&str; 4] = ["libx264", "mpeg4", "libopenh264", "libxvid"];

/// What the encoder is opened with.
struct EncoderSetup {
    width: u32,
    height: u32,
    time_base: Rational,
    frame_rate: Rational,
    global_header: bool,
    crf: u8,
    pixel_format: Pixel,
}

fn open_encoder(
    codec: ffmpeg::Codec,
    s: &EncoderSetup,
) -> Result<(encoder::video::Encoder, Pixel), String> {
    let formats: Vec<Pixel> = codec
        .video()
        .map_err(one_line)?
        .formats()
        .map(|f| f.collect())
        .unwrap_or_default();
    let pixel_format = if formats.is_empty() || formats.contains(&s.pixel_format) {
        s.pixel_format
    } else {
        formats[0]
    };
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(one_line)?;
    enc.set_width(s.width);
    enc.set_height(s.height);
    enc.set_format(pixel_format);
    enc.set_time_base(s.time_base);
    enc.set_frame_rate(Some(s.frame_rate));
    enc.set_colorspace(color::Space::BT709);
    enc.set_color_range(color::Range::MPEG);
    // SAFETY: plain field writes on a valid, not yet opened codec context.
    unsafe {
        let ctx = enc.as_mut_ptr();
        (*ctx).color_primaries = ffmpeg::ffi::AVColorPrimaries::AVCOL_PRI_BT709;
        (*ctx).color_trc = ffmpeg::ffi::AVColorTransferCharacteristic::AVCOL_TRC_BT709;
    }
    let mut flags = codec::Flags::empty();
    if s.global_header {
        flags |= codec::Flags::GLOBAL_HEADER;
    }
    let mut dict = Dictionary::new();
    let name = codec.name();
    if name.starts_with("libx264") || name == "libx265" {
        dict.set("crf", &s.crf.to_string());
    } else if matches!(
        codec.id(),
        codec::Id::MPEG4
            | codec::Id::MPEG2VIDEO
            | codec::Id::MPEG1VIDEO
            | codec::Id::H263
            | codec::Id::MJPEG
    ) {
        let q = (s.crf as i32 / 6).clamp(1, 31);
        flags |= codec::Flags::QSCALE;
        enc.set_global_quality(q * ffmpeg::ffi::FF_QP2LAMBDA);
    }
    enc.set_flags(flags);
    let opened = enc.open_with(dict).map_err(one_line)?;
    Ok((opened, pixel_format))
}

impl EncoderSetup {
    /// The frame size rounded up to even numbers, time base 1/`frame_rate` (reduced).
    fn new(
        width: u32,
        height: u32,
        frame_rate: (i32, i32),
        octx: &format::context::Output,
        crf: u8,
        pixel_format: Pixel,
    ) -> Self {
        let (fr_num, fr_den) = reduce(frame_rate.0 as i64, frame_rate.1 as i64);
        EncoderSetup {
            width: width + width % 2,
            height: height + height % 2,
            time_base: Rational::new(fr_den, fr_num),
            frame_rate: Rational::new(fr_num, fr_den),
            global_header: octx.format().flags().contains(format::Flags::GLOBAL_HEADER),
            crf,
            pixel_format,
        }
    }
}

/// An encoder, opened, and the pixel format it takes.
type Opened = (ffmpeg::Codec, (encoder::video::Encoder, Pixel));

/// The requested pixel format, once the frame size and rate are known to be usable.
fn checked_pixel_format(
    width: u32,
    height: u32,
    frame_rate: (i32, i32),
    opts: &EncoderOptions,
) -> Result<Pixel, String> {
    if width == 0 || height == 0 {
        return Err(format!("bad frame size {width}x{height}"));
    }
    if frame_rate.0 <= 0 || frame_rate.1 <= 0 {
        return Err(format!("bad frame rate {}/{}", frame_rate.0, frame_rate.1));
    }
    opts.pixel_format
        .parse()
        .map_err(|_| format!("unknown pixel format {:?}", opts.pixel_format))
}

/// Opens the encoder called `name`, or by default the first one that opens.
fn open_chosen(name: Option<&str>, setup: &EncoderSetup) -> Result<Opened, String> {
    match name {
        Some(name) => open_named(name, setup),
        None => open_default(setup),
    }
}

/// Opens the video encoder called `name`.
fn open_named(name: &str, setup: &EncoderSetup) -> Result<Opened, String> {
    let codec = encoder::find_by_name(name)
        .filter(|c| c.is_video())
        .ok_or_else(|| format!("video encoder {name} is not in this FFmpeg build"))?;
    let opened = open_encoder(codec, setup).map_err(|e| format!("cannot open {name}: {e}"))?;
    Ok((codec, opened))
}

/// Opens the first encoder that works: [`DEFAULT_ENCODERS`], then any H.264 or MPEG-4 one.
/// The error lists why each one failed.
fn open_default(setup: &EncoderSetup) -> Result<Opened, String> {
    let mut candidates: Vec<ffmpeg::Codec> = DEFAULT_ENCODERS
        .iter()
        .filter_map(|n| encoder::find_by_name(n))
        .collect();
    candidates.extend(encoder::find(codec::Id::H264));
    candidates.extend(encoder::find(codec::Id::MPEG4));
    let mut failures = Vec::new();
    for codec in candidates {
        match open_encoder(codec, setup) {
            Ok(opened) => return Ok((codec, opened)),
            Err(e) => failures.push(format!("{}: {e}", codec.name())),
        }
    }
    Err(if failures.is_empty() {
        "no H.264 or MPEG-4 encoder in this FFmpeg build".into()
    } else {
        failures.join("; ")
    })
}

/// Adds the output stream `encoder` writes to; returns its index.
fn add_video_stream(
    octx: &mut format::context::Output,
    codec: ffmpeg::Codec,
    encoder: &encoder::video::Encoder,
    setup: &EncoderSetup,
) -> Result<usize, ffmpeg::Error> {
    let mut ost = octx.add_stream(codec)?;
    ost.set_parameters(encoder);
    ost.set_time_base(setup.time_base);
    ost.set_avg_frame_rate(setup.frame_rate);
    ost.set_rate(setup.frame_rate);
    Ok(ost.index())
}

/// The time base the muxer chose for stream `index` (known once the header is written).
fn stream_time_base(
    octx: &format::context::Output,
    index: usize,
) -> Result<Rational, ffmpeg::Error> {
    octx.stream(index)
        .map(|s| s.time_base())
        .ok_or(ffmpeg::Error::StreamNotFound)
}

/// RGB images to the encoder's frames: padded to the even encoded size by repeating the last
/// column / row, then converted to its pixel format (BT.709, limited range).
pub(super) struct YuvConverter {
    width: u32,
    height: u32,
    enc_width: u32,
    enc_height: u32,
    pixel_format: Pixel,
    scaler: Scaler,
    /// The padded RGB frame, reused.
    rgb: frame::Video,
}

impl YuvConverter {
    fn new(
        width: u32,
        height: u32,
        setup: &EncoderSetup,
        pixel_format: Pixel,
    ) -> Result<Self, String> {
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
        .map_err(|e| format!("cannot convert RGB to {pixel_format:?}: {}", one_line(e)))?;
        let mut scaler = Scaler(ctx);
        let bt709 = ffmpeg::ffi::AVColorSpace::AVCOL_SPC_BT709 as c_int;
        set_colorspace(&mut scaler, bt709, true, bt709, false);
        Ok(YuvConverter {
            width,
            height,
            enc_width,
            enc_height,
            pixel_format,
            scaler,
            rgb: frame::Video::new(Pixel::RGB24, enc_width, enc_height),
        })
    }

    /// A new frame for the encoder from `image`, which must be `width` x `height`.
    fn convert(&mut self, image: &RgbImage) -> Result<frame::Video, ffmpeg::Error> {
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
        Ok(yuv)
    }
}

impl VideoWriter {
    /// Creates `path`. The container comes from `format` if given (e.g. "mp4"), else from the
    /// extension. Odd dimensions are padded to even ones by repeating the last column / row.
    /// Frame `i` gets pts `i` in a time base of 1/`frame_rate`.
    ///
    /// `audio_from`: `(file, start, end)` copies the first audio stream of `file` unchanged (stream
    /// copy, timestamps rescaled), limited to `start..end` seconds of that file (the span of the
    /// frames written, see [`FrameSource::audio_span`]) and to the duration of the frames actually
    /// written. A file without audio adds no audio stream.
    pub fn create(
        path: &Path,
        format: Option<&str>,
        width: u32,
        height: u32,
        frame_rate: (i32, i32),
        audio_from: Option<(&Path, f64, f64)>,
        opts: &EncoderOptions,
    ) -> Result<Self, VideoError> {
        init();
        let invalid = |reason| VideoError::InvalidOptions {
            path: path.to_path_buf(),
            reason,
        };
        let pixel_format =
            checked_pixel_format(width, height, frame_rate, opts).map_err(invalid)?;
        let write_err = |e: ffmpeg::Error| VideoError::Write {
            path: path.to_path_buf(),
            reason: one_line(e),
        };
        let codec_err = |reason: String| VideoError::Codec {
            path: path.to_path_buf(),
            reason,
        };
        let mut octx = match format {
            Some(f) => format::output_as(&path, f),
            None => format::output(&path),
        }
        .map_err(write_err)?;
        let setup = EncoderSetup::new(width, height, frame_rate, &octx, opts.crf, pixel_format);
        let (codec, (encoder, pixel_format)) =
            open_chosen(opts.codec.as_deref(), &setup).map_err(codec_err)?;
        let stream_index =
            add_video_stream(&mut octx, codec, &encoder, &setup).map_err(write_err)?;
        let mut audio = match audio_from {
            Some((source, start, end)) => AudioCopy::add(&mut octx, path, source, start, end)?,
            None => None,
        };
        octx.write_header().map_err(write_err)?;
        let ost_tb = stream_time_base(&octx, stream_index).map_err(write_err)?;
        if let Some(a) = audio.as_mut() {
            a.out_tb = stream_time_base(&octx, a.out_index).map_err(write_err)?;
        }
        let yuv = YuvConverter::new(width, height, &setup, pixel_format).map_err(codec_err)?;

        Ok(VideoWriter {
            path: path.to_path_buf(),
            octx,
            encoder,
            codec_name: codec.name().to_string(),
            stream_index,
            enc_tb: setup.time_base,
            ost_tb,
            frame_rate: setup.frame_rate,
            yuv,
            frames: 0,
            audio,
        })
    }

    /// Name of the encoder in use (e.g. "libx264").
    pub fn codec_name(&self) -> &str {
        &self.codec_name
    }

    /// Size of the encoded video (the frame size rounded up to even numbers).
    pub fn encoded_size(&self) -> (u32, u32) {
        (self.yuv.enc_width, self.yuv.enc_height)
    }

    pub(super) fn encode_error(&self, e: impl Display) -> VideoError {
        VideoError::Encode {
            path: self.path.clone(),
            frame: self.frames,
            reason: one_line(e),
        }
    }

    /// Writes the packets the encoder has ready.
    pub(super) fn drain(&mut self) -> Result<(), VideoError> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {
                    packet.set_stream(self.stream_index);
                    if packet.duration() == 0 {
                        packet.set_duration(1);
                    }
                    packet.rescale_ts(self.enc_tb, self.ost_tb);
                    packet.set_position(-1);
                    packet
                        .write_interleaved(&mut self.octx)
                        .map_err(|e| VideoError::Write {
                            path: self.path.clone(),
                            reason: one_line(e),
                        })?;
                }
                Err(e) if is_eagain(&e) => return Ok(()),
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(e) => return Err(self.encode_error(e)),
            }
        }
    }

    pub(super) fn pump_audio(&mut self, until: f64) -> Result<(), VideoError> {
        match self.audio.as_mut() {
            Some(a) => a.pump(&mut self.octx, &self.path, until),
            None => Ok(()),
        }
    }

    pub(super) fn seconds(&self, frames: usize) -> f64 {
        frames as f64 * f64::from(self.frame_rate.invert())
    }

    /// Encodes one frame (it must have the size given to [`VideoWriter::create`]).
    pub fn write(&mut self, image: &RgbImage) -> Result<(), VideoError> {
        if image.dimensions() != (self.yuv.width, self.yuv.height) {
            return Err(self.encode_error(format!(
                "frame is {}x{} but the video is {}x{}",
                image.width(),
                image.height(),
                self.yuv.width,
                self.yuv.height
            )));
        }
        let mut yuv = self.yuv.convert(image).map_err(|e| self.encode_error(e))?;
        yuv.set_pts(Some(self.frames as i64));
        yuv.set_kind(ffmpeg::picture::Type::None);
        self.encoder
            .send_frame(&yuv)
            .map_err(|e| self.encode_error(e))?;
        self.frames += 1;
        self.drain()?;
        self.pump_audio(self.seconds(self.frames))
    }

    /// Flushes the encoder, copies the remaining audio and writes the trailer. Returns the number
    /// of frames written; writing no frame at all is an error.
    pub fn finish(mut self) -> Result<usize, VideoError> {
        if self.frames == 0 {
            return Err(self.encode_error("no frames were written"));
        }
        self.encoder.send_eof().map_err(|e| self.encode_error(e))?;
        self.drain()?;
        self.pump_audio(self.seconds(self.frames))?;
        self.octx.write_trailer().map_err(|e| VideoError::Write {
            path: self.path.clone(),
            reason: one_line(e),
        })?;
        Ok(self.frames)
    }
}
