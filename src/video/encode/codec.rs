//! Which encoder a video gets, with which pixel format and quality settings.
use std::path::Path;

use ffmpeg::format::Pixel;
use ffmpeg::{codec, encoder, format, Dictionary, Rational};
use ffmpeg_next as ffmpeg;

use super::container::{container_takes, guess_muxer};
use super::EncoderOptions;
use crate::error::chain;
use crate::video::audio::muxer_stores;
use crate::video::{init, Colour, Timeline};

/// Why an encoder cannot be chosen or opened. The messages are one line.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Ffmpeg(#[from] ffmpeg::Error),
    #[error("{codec} cannot take pixel format {wanted} (it takes {takes})")]
    PixelFormat {
        codec: String,
        wanted: String,
        takes: String,
    },
    #[error("unknown pixel format {0:?}")]
    UnknownPixelFormat(String),
    #[error("bad frame size {0}x{1}")]
    FrameSize(u32, u32),
    #[error("bad frame rate {0}/{1}")]
    FrameRate(i32, i32),
    #[error("video encoder {0} is not in this FFmpeg build")]
    NotInBuild(String),
    #[error("cannot open {name}")]
    Open {
        name: String,
        #[source]
        source: Box<CodecError>,
    },
    #[error("cannot convert RGB to {format}")]
    Yuv {
        format: String,
        #[source]
        source: ffmpeg::Error,
    },
    #[error("no default video encoder in this FFmpeg build that the container takes")]
    NoDefault,
    /// Each default encoder tried, and why it failed.
    #[error("{}", failures(.0))]
    AllFailed(Vec<(String, CodecError)>),
}

fn failures(all: &[(String, CodecError)]) -> String {
    let each: Vec<String> = all
        .iter()
        .map(|(c, e)| format!("{c}: {}", chain(e)))
        .collect();
    each.join("; ")
}

/// Encoders tried, in order, when none is requested.
/// VP9 last: WebM takes nothing else of these.
const DEFAULT_ENCODERS: [&str; 6] = [
    "libx264",
    "mpeg4",
    "libopenh264",
    "libxvid",
    "libvpx-vp9",
    "libvpx",
];

/// What the encoder is opened with.
pub(super) struct EncoderSetup {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) time_base: Rational,
    pub(super) frame_rate: Rational,
    global_header: bool,
    crf: u8,
    /// The pixel format asked for, if any.
    pixel_format: Option<Pixel>,
    pub(super) colour: Colour,
}

/// The pixel format to open `codec` with: the one asked for, which it must take, else
/// yuv420p if it takes that, else its first.
pub(super) fn encoder_pixel_format(
    codec: ffmpeg::Codec,
    wanted: Option<Pixel>,
) -> Result<Pixel, CodecError> {
    let formats: Vec<Pixel> = codec
        .video()
        .map_err(CodecError::Ffmpeg)?
        .formats()
        .map(|f| f.collect())
        .unwrap_or_default();
    let takes = |p: Pixel| formats.is_empty() || formats.contains(&p);
    match wanted {
        Some(p) if takes(p) => Ok(p),
        Some(p) => Err(CodecError::PixelFormat {
            codec: codec.name().to_string(),
            wanted: pixel_name(p),
            takes: formats
                .iter()
                .map(|&f| pixel_name(f))
                .collect::<Vec<_>>()
                .join(", "),
        }),
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
) -> Result<(encoder::video::Encoder, Pixel), CodecError> {
    let pixel_format = encoder_pixel_format(codec, s.pixel_format)?;
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(CodecError::Ffmpeg)?;
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
    let opened = enc.open_with(dict).map_err(CodecError::Ffmpeg)?;
    Ok((opened, pixel_format))
}

impl EncoderSetup {
    /// The frame size rounded up to even numbers, the timeline's time base and rate;
    /// `global_header` when the container wants the codec's headers out of band.
    pub(super) fn new(
        width: u32,
        height: u32,
        timeline: &Timeline,
        global_header: bool,
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
            global_header,
            crf: opts.crf,
            pixel_format,
            colour: opts.colour,
        }
    }
}

/// An encoder, opened, and the pixel format it takes.
type Opened = (ffmpeg::Codec, (encoder::video::Encoder, Pixel));

/// The requested pixel format, once the frame size and rate are known to be usable.
pub(super) fn checked_pixel_format(
    width: u32,
    height: u32,
    timeline: &Timeline,
    opts: &EncoderOptions,
) -> Result<Option<Pixel>, CodecError> {
    if width == 0 || height == 0 {
        return Err(CodecError::FrameSize(width, height));
    }
    let (rate, tb) = (timeline.rate, timeline.time_base);
    if rate.0 <= 0 || rate.1 <= 0 || tb.0 <= 0 || tb.1 <= 0 {
        return Err(CodecError::FrameRate(rate.0, rate.1));
    }
    match &opts.pixel_format {
        None => Ok(None),
        Some(name) => match name.parse::<Pixel>() {
            Ok(Pixel::None) | Err(_) => Err(CodecError::UnknownPixelFormat(name.clone())),
            Ok(p) => Ok(Some(p)),
        },
    }
}

/// Opens the encoder called `name`, or by default the first one that opens and that the
/// container `octx` can hold.
pub(super) fn open_chosen(
    name: Option<&str>,
    setup: &EncoderSetup,
    octx: &format::context::Output,
) -> Result<Opened, CodecError> {
    match name {
        Some(name) => open_named(name, setup),
        None => open_default(setup, |id| muxer_stores(octx, id)),
    }
}

/// Opens the video encoder called `name`.
fn open_named(name: &str, setup: &EncoderSetup) -> Result<Opened, CodecError> {
    let codec = encoder::find_by_name(name)
        .filter(|c| c.is_video())
        .ok_or_else(|| CodecError::NotInBuild(name.to_string()))?;
    let opened = open_encoder(codec, setup).map_err(|e| CodecError::Open {
        name: name.to_string(),
        source: Box::new(e),
    })?;
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
fn open_default(
    setup: &EncoderSetup,
    takes: impl Fn(codec::Id) -> bool,
) -> Result<Opened, CodecError> {
    let candidates = default_encoders(takes);
    let mut failures = Vec::new();
    for codec in candidates {
        match open_encoder(codec, setup) {
            Ok(opened) => return Ok((codec, opened)),
            Err(e) => failures.push((codec.name().to_string(), e)),
        }
    }
    Err(if failures.is_empty() {
        CodecError::NoDefault
    } else {
        CodecError::AllFailed(failures)
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
    let wanted = checked_pixel_format(2, 2, &any, opts)
        .map_err(|e| EncoderProblem::PixelFormat(e.to_string()))?;
    if guess_muxer(path).is_null() {
        return Err(EncoderProblem::Container(format!(
            "no container is known for {} (use .mp4, .mov, .mkv, .webm or .avi)",
            path.display()
        )));
    }
    let codec = match &opts.codec {
        Some(name) => encoder::find_by_name(name)
            .filter(|c| c.is_video())
            .ok_or_else(|| CodecError::NotInBuild(name.clone()).to_string()),
        None => default_encoders(|id| container_takes(path, id) != Some(false))
            .into_iter()
            .next()
            .ok_or_else(|| "no default video encoder that this container takes".to_string()),
    }
    .map_err(EncoderProblem::Codec)?;
    encoder_pixel_format(codec, wanted).map_err(|e| EncoderProblem::PixelFormat(e.to_string()))?;
    match container_takes(path, codec.id()) {
        Some(false) => Err(EncoderProblem::Codec(format!(
            "{} cannot be stored in a .{} file",
            codec.name(),
            path.extension().and_then(|e| e.to_str()).unwrap_or("")
        ))),
        _ => Ok(()),
    }
}
