//! `VideoWriter`: RGB frames to a video file (H.264 by default), with audio copied.
use std::ffi::c_int;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::{codec, encoder, format, frame, Dictionary, Packet, Rational};
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
    /// Pixel format name as FFmpeg spells it (e.g. "yuv420p10le"); an encoder that cannot
    /// take it is an error. `None`: yuv420p where the encoder takes it (what every player
    /// plays), else the encoder's own first choice (ProRes: 4:2:2 10-bit).
    pub pixel_format: Option<String>,
    /// The colour description written to the output (and the matrix and range its YUV is
    /// made with).
    pub colour: Colour,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            codec: None,
            crf: 18,
            pixel_format: None,
            colour: Colour::default(),
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
    pub(super) timeline: Timeline,
    pub(super) yuv: YuvConverter,
    pub(super) frames: usize,
    pub(super) audio: Option<AudioOut>,
}

/// Encoders tried, in order, when none is requested.
/// VP9 last: WebM takes nothing else of these.
pub(super) const DEFAULT_ENCODERS: [&str; 6] = [
    "libx264",
    "mpeg4",
    "libopenh264",
    "libxvid",
    "libvpx-vp9",
    "libvpx",
];

/// What the encoder is opened with.
struct EncoderSetup {
    width: u32,
    height: u32,
    time_base: Rational,
    frame_rate: Rational,
    global_header: bool,
    crf: u8,
    /// The pixel format asked for, if any.
    pixel_format: Option<Pixel>,
    colour: Colour,
}

/// The pixel format to open `codec` with: the one asked for, which it must take, else
/// yuv420p if it takes that, else its first.
fn encoder_pixel_format(codec: ffmpeg::Codec, wanted: Option<Pixel>) -> Result<Pixel, String> {
    let formats: Vec<Pixel> = codec
        .video()
        .map_err(one_line)?
        .formats()
        .map(|f| f.collect())
        .unwrap_or_default();
    let takes = |p: Pixel| formats.is_empty() || formats.contains(&p);
    match wanted {
        Some(p) if takes(p) => Ok(p),
        Some(p) => Err(format!(
            "{} cannot take pixel format {} (it takes {})",
            codec.name(),
            pixel_name(p),
            formats
                .iter()
                .map(|&f| pixel_name(f))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None if takes(Pixel::YUV420P) => Ok(Pixel::YUV420P),
        None => Ok(formats[0]),
    }
}

/// FFmpeg's name of a pixel format.
fn pixel_name(p: Pixel) -> String {
    p.descriptor()
        .map_or_else(|| format!("{p:?}"), |d| d.name().to_string())
}

fn open_encoder(
    codec: ffmpeg::Codec,
    s: &EncoderSetup,
) -> Result<(encoder::video::Encoder, Pixel), String> {
    let pixel_format = encoder_pixel_format(codec, s.pixel_format)?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(one_line)?;
    enc.set_width(s.width);
    enc.set_height(s.height);
    enc.set_format(pixel_format);
    enc.set_time_base(s.time_base);
    enc.set_frame_rate(Some(s.frame_rate));
    enc.set_colorspace(s.colour.space);
    enc.set_color_range(s.colour.range);
    // SAFETY: plain field writes on a valid, not yet opened codec context.
    unsafe {
        let ctx = enc.as_mut_ptr();
        (*ctx).color_primaries = s.colour.primaries.into();
        (*ctx).color_trc = s.colour.transfer.into();
    }
    let mut flags = codec::Flags::empty();
    if s.global_header {
        flags |= codec::Flags::GLOBAL_HEADER;
    }
    let mut dict = Dictionary::new();
    let name = codec.name();
    if name.starts_with("libx264") || name == "libx265" {
        dict.set("crf", &s.crf.to_string());
        if name == "libx265" {
            // x265 prints its settings on stderr unless told not to.
            dict.set("x265-params", "log-level=error");
        }
    } else if name.starts_with("libvpx") {
        // Constant quality (b=0), at a speed fit for many frames.
        dict.set("crf", &s.crf.clamp(4, 63).to_string());
        dict.set("b", "0");
        dict.set("cpu-used", "4");
        dict.set("row-mt", "1");
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
    /// The frame size rounded up to even numbers, the timeline's time base and rate.
    fn new(
        width: u32,
        height: u32,
        timeline: &Timeline,
        octx: &format::context::Output,
        opts: &EncoderOptions,
        pixel_format: Option<Pixel>,
    ) -> Self {
        let (tb_num, tb_den) = timeline.time_base;
        let (fr_num, fr_den) = timeline.rate;
        EncoderSetup {
            width: width + width % 2,
            height: height + height % 2,
            time_base: Rational::new(tb_num, tb_den),
            frame_rate: Rational::new(fr_num, fr_den),
            global_header: octx.format().flags().contains(format::Flags::GLOBAL_HEADER),
            crf: opts.crf,
            pixel_format,
            colour: opts.colour,
        }
    }
}

/// An encoder, opened, and the pixel format it takes.
type Opened = (ffmpeg::Codec, (encoder::video::Encoder, Pixel));

/// The requested pixel format, once the frame size and rate are known to be usable.
fn checked_pixel_format(
    width: u32,
    height: u32,
    timeline: &Timeline,
    opts: &EncoderOptions,
) -> Result<Option<Pixel>, String> {
    if width == 0 || height == 0 {
        return Err(format!("bad frame size {width}x{height}"));
    }
    let (rate, tb) = (timeline.rate, timeline.time_base);
    if rate.0 <= 0 || rate.1 <= 0 || tb.0 <= 0 || tb.1 <= 0 {
        return Err(format!("bad frame rate {}/{}", rate.0, rate.1));
    }
    match &opts.pixel_format {
        None => Ok(None),
        Some(name) => match name.parse::<Pixel>() {
            Ok(Pixel::None) | Err(_) => Err(format!("unknown pixel format {name:?}")),
            Ok(p) => Ok(Some(p)),
        },
    }
}

/// Opens the encoder called `name`, or by default the first one that opens and that the
/// container `octx` can hold.
fn open_chosen(
    name: Option<&str>,
    setup: &EncoderSetup,
    octx: &format::context::Output,
) -> Result<Opened, String> {
    match name {
        Some(name) => open_named(name, setup),
        None => open_default(setup, |id| muxer_stores(octx, id)),
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

/// The encoders tried when none is named: [`DEFAULT_ENCODERS`], then any H.264 or MPEG-4
/// one, those the container `takes`.
fn default_encoders(takes: impl Fn(codec::Id) -> bool) -> Vec<ffmpeg::Codec> {
    let mut candidates: Vec<ffmpeg::Codec> = DEFAULT_ENCODERS
        .iter()
        .filter_map(|n| encoder::find_by_name(n))
        .collect();
    candidates.extend(encoder::find(codec::Id::H264));
    candidates.extend(encoder::find(codec::Id::MPEG4));
    candidates.retain(|c| takes(c.id()));
    candidates
}

/// Opens the first default encoder that works. The error lists why each one failed.
fn open_default(setup: &EncoderSetup, takes: impl Fn(codec::Id) -> bool) -> Result<Opened, String> {
    let candidates = default_encoders(takes);
    let mut failures = Vec::new();
    for codec in candidates {
        match open_encoder(codec, setup) {
            Ok(opened) => return Ok((codec, opened)),
            Err(e) => failures.push(format!("{}: {e}", codec.name())),
        }
    }
    Err(if failures.is_empty() {
        "no default video encoder in this FFmpeg build that the container takes".into()
    } else {
        failures.join("; ")
    })
}

/// A setting that cannot write a file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncoderProblem {
    /// The encoder is missing, is not a video encoder, or the container cannot hold it.
    Codec(String),
    /// The pixel format is unknown, or the encoder cannot take it.
    PixelFormat(String),
    /// FFmpeg knows no container for the file's extension.
    Container(String),
}

/// Checks, without writing anything, that `opts` can write a video to `path`: the encoder
/// exists, takes the pixel format, and the container (from the extension) can hold it.
pub fn check_encoder(path: &Path, opts: &EncoderOptions) -> Result<(), EncoderProblem> {
    init();
    let any = Timeline::constant((25, 1), 0, 0.0);
    let wanted = checked_pixel_format(2, 2, &any, opts).map_err(EncoderProblem::PixelFormat)?;
    if guess_muxer(path).is_null() {
        return Err(EncoderProblem::Container(format!(
            "no container is known for {} (use .mp4, .mov, .mkv, .webm or .avi)",
            path.display()
        )));
    }
    let codec = match &opts.codec {
        Some(name) => encoder::find_by_name(name)
            .filter(|c| c.is_video())
            .ok_or_else(|| format!("video encoder {name} is not in this FFmpeg build")),
        None => default_encoders(|id| container_takes(path, id) != Some(false))
            .into_iter()
            .next()
            .ok_or_else(|| "no default video encoder that this container takes".to_string()),
    }
    .map_err(EncoderProblem::Codec)?;
    encoder_pixel_format(codec, wanted).map_err(EncoderProblem::PixelFormat)?;
    match container_takes(path, codec.id()) {
        Some(false) => Err(EncoderProblem::Codec(format!(
            "{} cannot be stored in a .{} file",
            codec.name(),
            path.extension().and_then(|e| e.to_str()).unwrap_or("")
        ))),
        _ => Ok(()),
    }
}

/// The muxer FFmpeg picks for `path`'s extension (null when it knows none).
fn guess_muxer(path: &Path) -> *const ffmpeg::ffi::AVOutputFormat {
    let Some(name) = path
        .file_name()
        .and_then(|n| std::ffi::CString::new(n.to_string_lossy().as_bytes()).ok())
    else {
        return std::ptr::null();
    };
    // SAFETY: FFmpeg reads the NUL-terminated name and returns a static muxer or null.
    unsafe { ffmpeg::ffi::av_guess_format(std::ptr::null(), name.as_ptr(), std::ptr::null()) }
}

/// The name of the container FFmpeg writes for `path`'s extension ("matroska" for .mkv),
/// for writing through a temporary name with another extension.
pub fn container_for(path: &Path) -> Option<String> {
    let muxer = guess_muxer(path);
    if muxer.is_null() {
        return None;
    }
    // SAFETY: a static muxer's name is a static NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr((*muxer).name) };
    Some(name.to_string_lossy().into_owned())
}

/// Whether the container FFmpeg picks for `path`'s extension can hold `id` (`None` when
/// it knows no container for it: opening the file says so).
fn container_takes(path: &Path, id: codec::Id) -> Option<bool> {
    let muxer = guess_muxer(path);
    if muxer.is_null() {
        return None;
    }
    // SAFETY: querying the static muxer's capabilities.
    let takes = unsafe {
        ffmpeg::ffi::avformat_query_codec(muxer, id.into(), ffmpeg::ffi::FF_COMPLIANCE_NORMAL)
    };
    Some(takes == 1)
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
/// column / row, then converted to its pixel format with the output's matrix and range.
pub(super) struct YuvConverter {
    width: u32,
    height: u32,
    enc_width: u32,
    enc_height: u32,
    pixel_format: Pixel,
    colour: Colour,
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
        self.colour.tag(&mut yuv);
        Ok(yuv)
    }
}

impl VideoWriter {
    /// Creates `path`. The container comes from `format` if given (e.g. "mp4"), else from the
    /// extension. Odd dimensions are padded to even ones by repeating the last column / row.
    /// Frame `i` is shown at `timeline.pts(i)`.
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
        timeline: &Timeline,
        audio_from: Option<(&Path, f64, f64)>,
        opts: &EncoderOptions,
    ) -> Result<Self, VideoError> {
        init();
        let invalid = |reason| VideoError::InvalidOptions {
            path: path.to_path_buf(),
            reason,
        };
        let pixel_format = checked_pixel_format(width, height, timeline, opts).map_err(invalid)?;
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
        let setup = EncoderSetup::new(width, height, timeline, &octx, opts, pixel_format);
        let (codec, (encoder, pixel_format)) =
            open_chosen(opts.codec.as_deref(), &setup, &octx).map_err(codec_err)?;
        let stream_index =
            add_video_stream(&mut octx, codec, &encoder, &setup).map_err(write_err)?;
        let mut audio = match audio_from {
            Some((source, start, end)) => AudioOut::add(&mut octx, path, source, start, end)?,
            None => None,
        };
        octx.write_header().map_err(write_err)?;
        let ost_tb = stream_time_base(&octx, stream_index).map_err(write_err)?;
        if let Some(a) = audio.as_mut() {
            a.set_out_tb(stream_time_base(&octx, a.out_index()).map_err(write_err)?);
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
            timeline: timeline.clone(),
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
                        let at = packet.pts().unwrap_or(0);
                        packet.set_duration(self.timeline.duration_at(at));
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
        self.timeline.seconds(frames)
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
        yuv.set_pts(Some(self.timeline.pts(self.frames)));
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
        let until = self.seconds(self.frames);
        if let Some(a) = self.audio.as_mut() {
            a.finish(&mut self.octx, &self.path, until)?;
        }
        self.octx.write_trailer().map_err(|e| VideoError::Write {
            path: self.path.clone(),
            reason: one_line(e),
        })?;
        Ok(self.frames)
    }
}
