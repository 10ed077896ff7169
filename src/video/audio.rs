//! Stream copy of one audio stream of another file, cut to the span of the video written.
use std::path::{Path, PathBuf};

use ffmpeg::{codec, encoder, format, media, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::*;

/// Stream copy of one audio stream, cut to a time span, pumped as video is written.
pub(super) struct AudioCopy {
    pub(super) source_path: PathBuf,
    pub(super) input: format::context::Input,
    pub(super) in_index: usize,
    pub(super) out_index: usize,
    pub(super) in_tb: Rational,
    pub(super) out_tb: Rational,
    /// Source timestamp (in `in_tb`) that maps to output time 0.
    pub(super) shift: i64,
    /// Length of the span, seconds.
    pub(super) span: f64,
    pub(super) pending: Option<Packet>,
    pub(super) done: bool,
}

/// Whether the output format can hold a stream of codec `id` as it is.
pub(super) fn muxer_stores(octx: &format::context::Output, id: codec::Id) -> bool {
    // SAFETY: querying static muxer capabilities with valid pointers.
    let supported = unsafe {
        ffmpeg::ffi::avformat_query_codec(
            octx.format().as_ptr(),
            ffmpeg::ffi::AVCodecID::from(id),
            ffmpeg::ffi::FF_COMPLIANCE_NORMAL,
        )
    };
    supported != 0
}

/// Seconds of `input` that are time 0: its first video frame if it has video, else the
/// container start.
fn time_origin(input: &format::context::Input) -> f64 {
    input
        .streams()
        .best(media::Type::Video)
        .filter(|v| v.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE)
        .map(|v| v.start_time() as f64 * f64::from(v.time_base()))
        .unwrap_or_else(|| {
            // SAFETY: reading a plain field of a valid format context.
            let st = unsafe { (*input.as_ptr()).start_time };
            if st == ffmpeg::ffi::AV_NOPTS_VALUE {
                0.0
            } else {
                st as f64 / ffmpeg::ffi::AV_TIME_BASE as f64
            }
        })
}

/// Adds a stream-copy output stream with `params`; returns its index.
fn add_copy_stream(
    octx: &mut format::context::Output,
    params: codec::Parameters,
    time_base: Rational,
) -> Result<usize, ffmpeg::Error> {
    let mut ost = octx.add_stream(encoder::find(codec::Id::None))?;
    ost.set_parameters(params);
    ost.set_time_base(time_base);
    // SAFETY: the stream and its codec parameters were just allocated by libavformat.
    unsafe {
        (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
    }
    Ok(ost.index())
}

impl AudioCopy {
    /// Opens `source` and adds a copy of its first audio stream to `octx`; `Ok(None)` if it has
    /// no audio.
    pub(super) fn add(
        octx: &mut format::context::Output,
        out_path: &Path,
        source: &Path,
        start: f64,
        end: f64,
    ) -> Result<Option<AudioCopy>, VideoError> {
        let err = |reason: String| VideoError::Audio {
            path: out_path.to_path_buf(),
            source_path: source.to_path_buf(),
            reason,
        };
        let input = format::input(&source).map_err(|e| err(one_line(e)))?;
        let Some(ist) = input
            .streams()
            .find(|s| s.parameters().medium() == media::Type::Audio)
        else {
            return Ok(None);
        };
        let in_index = ist.index();
        let in_tb = ist.time_base();
        let params = ist.parameters();
        if !muxer_stores(octx, params.id()) {
            return Err(err(format!(
                "audio codec {:?} cannot be stored in format {} without re-encoding",
                params.id(),
                octx.format().name()
            )));
        }
        let shift = ((time_origin(&input) + start) / f64::from(in_tb)).round() as i64;
        let out_index = add_copy_stream(octx, params, in_tb).map_err(|e| err(one_line(e)))?;
        Ok(Some(AudioCopy {
            source_path: source.to_path_buf(),
            input,
            in_index,
            out_index,
            in_tb,
            out_tb: in_tb,
            shift,
            span: (end - start).max(0.0),
            pending: None,
            done: false,
        }))
    }

    /// Copies audio packets that start before `until` seconds (output time).
    pub(super) fn pump(
        &mut self,
        octx: &mut format::context::Output,
        out_path: &Path,
        until: f64,
    ) -> Result<(), VideoError> {
        let err = |reason: String| VideoError::Audio {
            path: out_path.to_path_buf(),
            source_path: self.source_path.clone(),
            reason,
        };
        let until = until.min(self.span);
        while !self.done {
            let mut packet = match self.pending.take() {
                Some(p) => p,
                None => {
                    let mut p = Packet::empty();
                    match p.read(&mut self.input) {
                        Ok(()) if p.stream() == self.in_index => p,
                        Ok(()) => continue,
                        Err(ffmpeg::Error::Eof) => {
                            self.done = true;
                            break;
                        }
                        Err(e) => return Err(err(one_line(e))),
                    }
                }
            };
            let Some(ts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            let rel = ts - self.shift;
            if rel < 0 || packet.dts().is_some_and(|d| d - self.shift < 0) {
                continue; // before the span
            }
            let t = rel as f64 * f64::from(self.in_tb);
            if t >= self.span {
                self.done = true;
                break;
            }
            if t >= until {
                self.pending = Some(packet);
                break;
            }
            packet.set_pts(packet.pts().map(|v| v - self.shift));
            packet.set_dts(packet.dts().map(|v| v - self.shift));
            packet.rescale_ts(self.in_tb, self.out_tb);
            packet.set_stream(self.out_index);
            packet.set_position(-1);
            packet
                .write_interleaved(octx)
                .map_err(|e| err(one_line(e)))?;
        }
        Ok(())
    }
}
