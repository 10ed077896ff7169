//! What FFmpeg's muxers make of a path: the container, whether it holds a
//! codec, and the output stream a writer adds.
use std::path::Path;

use ffmpeg::{codec, encoder, format, Rational};
use ffmpeg_next as ffmpeg;

use super::codec::EncoderSetup;

/// The muxer FFmpeg picks for `path`'s extension (null when it knows none).
pub(super) fn guess_muxer(path: &Path) -> *const ffmpeg::ffi::AVOutputFormat {
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
pub(super) fn container_takes(path: &Path, id: codec::Id) -> Option<bool> {
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
pub(super) fn add_video_stream(
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
pub(super) fn stream_time_base(
    octx: &format::context::Output,
    index: usize,
) -> Result<Rational, ffmpeg::Error> {
    octx.stream(index)
        .map(|s| s.time_base())
        .ok_or(ffmpeg::Error::StreamNotFound)
}
