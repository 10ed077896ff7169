//! Stream copy of one audio stream of another file, cut to the span of the video written.
use std::path::{Path, PathBuf};

use ffmpeg::{codec, encoder, format, media, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::*;

/// The input's audio in the output: copied as it is where the container holds its codec,
/// else re-encoded to AAC.
pub(super) enum AudioOut {
    Copy(Box<AudioCopy>),
    Encode(Box<AudioEncode>),
}

/// A file's first audio stream, opened for reading.
pub(super) struct AudioSource {
    pub(super) path: PathBuf,
    pub(super) input: format::context::Input,
    pub(super) index: usize,
}

impl AudioSource {
    /// Opens `source`; `Ok(None)` when it has no audio. Errors name the output too.
    pub(super) fn open(source: &Path, out_path: &Path) -> Result<Option<Self>, VideoError> {
        let input = format::input(&source).map_err(|e| audio_error(out_path, source, e))?;
        let index = input
            .streams()
            .find(|s| s.parameters().medium() == media::Type::Audio)
            .map(|s| s.index());
        Ok(index.map(|index| AudioSource {
            path: source.to_path_buf(),
            input,
            index,
        }))
    }

    pub(super) fn stream(&self) -> format::stream::Stream<'_> {
        self.input
            .stream(self.index)
            .expect("the index of a stream of this input")
    }

    pub(super) fn codec(&self) -> codec::Id {
        self.stream().parameters().id()
    }
}

/// An error about the audio that `out_path` takes from `source`.
pub(super) fn audio_error(out_path: &Path, source: &Path, e: impl Into<Cause>) -> VideoError {
    VideoError::Audio {
        path: out_path.to_path_buf(),
        source_path: source.to_path_buf(),
        reason: e.into(),
    }
}

/// The audio codec of `source`'s first audio stream, when `output`'s container cannot hold
/// it as it is (so it is re-encoded to AAC): for the report.
pub fn audio_reencoded(source: &Path, output: &Path) -> Option<String> {
    let id = AudioSource::open(source, output).ok()??.codec();
    let format = container_for(output)?;
    let octx = format::output_as(&"/dev/null", &format).ok()?;
    (!muxer_stores(&octx, id))
        .then(|| format!("audio re-encoded to AAC: a {format} file cannot hold {id:?} as it is"))
}

impl AudioOut {
    /// Adds `source`'s first audio stream (cut to `start..end` seconds) to `octx`: a copy
    /// where the container holds its codec, else AAC. `Ok(None)` if it has no audio.
    pub(super) fn add(
        octx: &mut format::context::Output,
        out_path: &Path,
        source: &Path,
        start: f64,
        end: f64,
    ) -> Result<Option<AudioOut>, VideoError> {
        let Some(audio) = AudioSource::open(source, out_path)? else {
            return Ok(None);
        };
        if muxer_stores(octx, audio.codec()) {
            let copy = AudioCopy::add(octx, out_path, audio, start, end)?;
            return Ok(Some(AudioOut::Copy(Box::new(copy))));
        }
        let encode = AudioEncode::add(octx, out_path, audio, (start, end))?;
        Ok(Some(AudioOut::Encode(Box::new(encode))))
    }

    pub(super) fn out_index(&self) -> usize {
        match self {
            AudioOut::Copy(c) => c.out_index,
            AudioOut::Encode(e) => e.out_index,
        }
    }

    /// The time base the muxer chose for the stream, once the header is written.
    pub(super) fn set_out_tb(&mut self, tb: Rational) {
        match self {
            AudioOut::Copy(c) => c.out_tb = tb,
            AudioOut::Encode(e) => e.out_tb = tb,
        }
    }

    /// Writes the audio up to `until` seconds of output time; `last` also
    /// flushes an encoder (the video ends at `until`).
    pub(super) fn pump(
        &mut self,
        octx: &mut format::context::Output,
        out_path: &Path,
        until: f64,
        last: bool,
    ) -> Result<(), VideoError> {
        match self {
            AudioOut::Copy(c) => c.pump(octx, out_path, until),
            AudioOut::Encode(e) if last => e.finish(octx, out_path, until),
            AudioOut::Encode(e) => e.pump(octx, out_path, until),
        }
    }
}

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
pub(super) fn time_origin(input: &format::context::Input) -> f64 {
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
    /// Adds a copy of `audio`'s stream to `octx`.
    pub(super) fn add(
        octx: &mut format::context::Output,
        out_path: &Path,
        audio: AudioSource,
        start: f64,
        end: f64,
    ) -> Result<AudioCopy, VideoError> {
        let (in_index, in_tb, params) = {
            let ist = audio.stream();
            (ist.index(), ist.time_base(), ist.parameters())
        };
        let shift = ((time_origin(&audio.input) + start) / f64::from(in_tb)).round() as i64;
        let out_index = add_copy_stream(octx, params, in_tb)
            .map_err(|e| audio_error(out_path, &audio.path, e))?;
        Ok(AudioCopy {
            source_path: audio.path,
            input: audio.input,
            in_index,
            out_index,
            in_tb,
            out_tb: in_tb,
            shift,
            span: (end - start).max(0.0),
            pending: None,
            done: false,
        })
    }

    /// Copies audio packets that start before `until` seconds (output time).
    pub(super) fn pump(
        &mut self,
        octx: &mut format::context::Output,
        out_path: &Path,
        until: f64,
    ) -> Result<(), VideoError> {
        let source = self.source_path.clone();
        let err = |reason: Cause| audio_error(out_path, &source, reason);
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
                        Err(e) => return Err(err(e.into())),
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
            packet.write_interleaved(octx).map_err(|e| err(e.into()))?;
        }
        Ok(())
    }
}
