//! Frame input and video output.
//!
//! * [`FrameSource`] yields RGB frames lazily from a video file (decoded with FFmpeg), a directory of
//!   images, a printf-style image pattern (`frames/%05d.png`) or a single image, with range / step /
//!   resize options applied. A video is turned upright by its display matrix, deinterlaced where
//!   the stream is flagged interlaced, and deep (10-bit and up) formats go through 16-bit RGB,
//!   dithered to 8 bits; an image has its EXIF orientation applied, alpha laid over white and
//!   CMYK or grey converted.
//! * [`Timeline`] gives each selected frame its presentation time, read from the packets: a
//!   constant rate stays exact and a variable-frame-rate clip keeps its pauses.
//! * [`VideoWriter`] encodes RGB frames with the codec and pixel format asked for, checked before
//!   any work ([`check_encoder`]), or by default libx264 where the build has it, else the first
//!   of the other H.264 / MPEG-4 / VP9 encoders that opens and the container holds, in yuv420p
//!   where the encoder takes it. Odd sizes are padded to even by repeating the last column / row;
//!   each frame keeps its input time. The first audio stream of another file is stream-copied,
//!   or re-encoded to AAC where the container cannot hold it, cut to the span of the frames.
//! * [`read_image`] / [`write_image_atomic`] handle single images.
//!
//! Colour handling ([`Colour`]): decoded YUV is converted with the matrix and range the stream
//! declares; a stream that names no matrix is read as players read it (BT.601 below 720 lines,
//! BT.709 from 720). The output is converted and tagged with the input's description, an
//! untagged input's as BT.709, in the input's range (limited when it names none).
//!
//! Both [`FrameSource`] and [`VideoWriter`] are `Send` (not `Sync`): each can be moved to its own
//! thread so that decoding, stylization and encoding overlap.

use std::path::PathBuf;
use std::sync::Once;

use ffmpeg_next as ffmpeg;

pub use image::RgbImage;

mod audio;
mod audio_encode;
mod colour;
mod convert;
mod decode;
mod deinterlace;
mod encode;
mod image_file;
mod orientation;
pub mod pattern;
mod select;
mod source;
mod timeline;

pub use audio::audio_reencoded;
use audio_encode::AudioEncode;
pub use colour::Colour;
use convert::{resize_rgb, RgbConverter};
use decode::Decoder;
use deinterlace::{field_order, Deinterlacer};
pub use encode::{
    check_encoder, container_for, CodecError, EncoderOptions, EncoderProblem, VideoWriter,
};
pub use image_file::{load_image, read_image, write_image_atomic};
pub use orientation::Orientation;
use pattern::Pattern;
pub use select::SourceOptions;
use select::{pick, selection_count, target_dims, Pick};
pub use source::{input_files, Frame, FrameSource, SourceInfo, SourceKind};
use timeline::packet_times;
pub use timeline::Timeline;

/// Errors of this module. Every message is one line and names the file it is about; what
/// went wrong beneath it is the [`Cause`], its source.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("input not found: {}", .path.display())]
    NotFound { path: PathBuf },
    #[error("cannot open {}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        reason: Cause,
    },
    #[error("invalid options for {}", .path.display())]
    InvalidOptions {
        path: PathBuf,
        #[source]
        reason: Cause,
    },
    #[error("cannot decode {} at frame {frame}", .path.display())]
    Decode {
        path: PathBuf,
        frame: usize,
        #[source]
        reason: Cause,
    },
    #[error("cannot read image {}", .path.display())]
    Image {
        path: PathBuf,
        #[source]
        reason: Cause,
    },
    #[error(
        "image {} (frame {frame}) is {}x{} but the sequence is {}x{}",
        .path.display(), .found.0, .found.1, .expected.0, .expected.1
    )]
    SizeMismatch {
        path: PathBuf,
        frame: usize,
        expected: (u32, u32),
        found: (u32, u32),
    },
    #[error("missing image {} in sequence {}", .path.display(), .pattern.display())]
    MissingFrame { path: PathBuf, pattern: PathBuf },
    #[error("no images found for {}", .path.display())]
    NoImages { path: PathBuf },
    #[error("no usable video encoder for {}", .path.display())]
    Codec {
        path: PathBuf,
        #[source]
        reason: Cause,
    },
    #[error("cannot encode {} at frame {frame}", .path.display())]
    Encode {
        path: PathBuf,
        frame: usize,
        #[source]
        reason: Cause,
    },
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        reason: Cause,
    },
    #[error("cannot copy audio from {} into {}", .source_path.display(), .path.display())]
    Audio {
        path: PathBuf,
        source_path: PathBuf,
        #[source]
        reason: Cause,
    },
}

/// What lies beneath a [`VideoError`]: FFmpeg's, the encoder's or a file's own error, a step
/// that failed on one of them, or a reason of vstyle's (nothing beneath).
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Ffmpeg(#[from] ffmpeg::Error),
    #[error(transparent)]
    Codec(#[from] encode::CodecError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Image(#[from] image::ImageError),
    /// An error of this module beneath another's (a picture a job needs).
    #[error(transparent)]
    Video(Box<VideoError>),
    /// A step (`cannot open the video decoder`) and the error it met.
    #[error("{step}")]
    Step {
        step: String,
        #[source]
        source: Box<Cause>,
    },
    #[error("{0}")]
    Reason(String),
}

impl Cause {
    /// This cause beneath `step`.
    pub(crate) fn within(self, step: impl Into<String>) -> Cause {
        Cause::Step {
            step: step.into(),
            source: Box::new(self),
        }
    }
}

impl From<String> for Cause {
    fn from(reason: String) -> Self {
        Cause::Reason(reason)
    }
}

impl From<&str> for Cause {
    fn from(reason: &str) -> Self {
        Cause::Reason(reason.to_string())
    }
}

/// Initialises FFmpeg once and limits its log output to errors.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // `init` only registers devices in FFmpeg >= 4; failing that is harmless for files.
        let _ = ffmpeg::init();
        // vstyle reports decoding problems itself, in one line; FFmpeg's own
        // messages are for debugging (VSTYLE_FFMPEG_LOG=error|warning|info).
        let level = match std::env::var("VSTYLE_FFMPEG_LOG").as_deref() {
            Ok("error") => ffmpeg::log::Level::Error,
            Ok("warning") => ffmpeg::log::Level::Warning,
            Ok("info") => ffmpeg::log::Level::Info,
            _ => ffmpeg::log::Level::Quiet,
        };
        ffmpeg::log::set_level(level);
    });
}

pub(crate) fn is_eagain(e: &ffmpeg::Error) -> bool {
    matches!(e, ffmpeg::Error::Other { errno } if *errno == ffmpeg::error::EAGAIN)
}

pub(crate) fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

pub(crate) fn reduce(num: i64, den: i64) -> (i32, i32) {
    let g = gcd(num, den).max(1);
    let (mut n, mut d) = (num / g, den / g);
    // Keep within i32 (only matters for absurd rates).
    while n > i32::MAX as i64 || d > i32::MAX as i64 {
        n /= 2;
        d /= 2;
    }
    (n as i32, d.max(1) as i32)
}

#[cfg(test)]
mod tests;
