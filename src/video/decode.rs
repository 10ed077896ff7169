//! Decoding the best video stream of a file with FFmpeg, and noticing a file that ends early.
use std::path::{Path, PathBuf};

use ffmpeg::{codec, format, frame, media, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::*;

/// Lazily decodes the best video stream of a file.
pub(super) struct Decoder {
    pub(super) path: PathBuf,
    pub(super) input: format::context::Input,
    pub(super) stream_index: usize,
    pub(super) decoder: ffmpeg::decoder::Video,
    pub(super) frame: frame::Video,
    /// Frames received from the decoder so far (the next frame's source index).
    pub(super) decoded: usize,
    pub(super) eof_sent: bool,
    pub(super) finished: bool,
    /// A read / decode error, reported (at the index of the first frame not decoded) once the
    /// frames still buffered in the decoder have been returned.
    pub(super) pending_error: Option<Cause>,
    /// Whether the last packet of the stream read so far was flagged corrupt (a partial packet
    /// at the end means the file is truncated).
    pub(super) last_packet_corrupt: bool,
    /// The duration the file declares for the video, and how far short of it the packets may
    /// end before the file counts as truncated (seconds).
    pub(super) declared: Option<(f64, f64)>,
    /// End time of the latest video packet read (seconds), and the stream's time base.
    pub(super) packets_end: Option<f64>,
    pub(super) time_base: f64,
    /// The stream's field order when it is interlaced; its frames then pass through yadif
    /// (made at the first frame, when its pixel format is known).
    pub(super) field_order: Option<&'static str>,
    pub(super) yadif: Option<Deinterlacer>,
    pub(super) yadif_flushed: bool,
    pub(super) stream_tb: (i32, i32),
}

/// Stream facts gathered at open time.
pub(super) struct StreamFacts {
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) frame_rate: Option<(i32, i32)>,
    pub(super) time_base: (i32, i32),
    pub(super) frames: Option<usize>,
    pub(super) has_audio: bool,
    pub(super) orientation: Orientation,
    pub(super) colour: Colour,
    pub(super) field_order: Option<&'static str>,
}

fn valid(r: Rational) -> bool {
    r.numerator() > 0 && r.denominator() > 0
}

/// More frames than any clip has (a day at 240 fps is 20.7 million): a
/// larger count is a broken or crafted header, taken as unknown.
pub const MAX_DECLARED_FRAMES: usize = 100_000_000;

/// Frames in the stream: as the container counts them, else its duration
/// times the frame rate; None when unknown or beyond belief.
fn frame_count(
    input: &format::context::Input,
    stream: &format::stream::Stream,
    rate: Option<(i32, i32)>,
) -> Option<usize> {
    let count = declared_count(input, stream, rate)?;
    (count <= MAX_DECLARED_FRAMES as f64).then_some(count as usize)
}

fn declared_count(
    input: &format::context::Input,
    stream: &format::stream::Stream,
    rate: Option<(i32, i32)>,
) -> Option<f64> {
    if stream.frames() > 0 {
        return Some(stream.frames() as f64);
    }
    let tb = stream.time_base();
    let secs = if stream.duration() > 0 && valid(tb) {
        Some(stream.duration() as f64 * f64::from(tb))
    } else if input.duration() > 0 {
        Some(input.duration() as f64 / ffmpeg::ffi::AV_TIME_BASE as f64)
    } else {
        None
    };
    match (secs, rate) {
        (Some(s), Some((n, d))) => {
            Some((s * n as f64 / d as f64).round()).filter(|c| c.is_finite())
        }
        _ => None,
    }
}

/// A frame-threaded decoder for the stream (up to 4 threads).
fn open_video_decoder(stream: &format::stream::Stream) -> Result<ffmpeg::decoder::Video, Cause> {
    let mut ctx = codec::context::Context::from_parameters(stream.parameters())?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let mut threading = ffmpeg::threading::Config::kind(ffmpeg::threading::Type::Frame);
    threading.count = threads;
    ctx.set_threading(threading);
    ctx.decoder()
        .video()
        .map_err(|e| Cause::from(e).within("cannot open video decoder"))
}

impl Decoder {
    pub(super) fn open(path: &Path) -> Result<(Self, StreamFacts), VideoError> {
        init();
        let open_err = |reason: Cause| VideoError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let input = format::input(&path).map_err(|e| open_err(e.into()))?;
        let has_audio = input
            .streams()
            .any(|s| s.parameters().medium() == media::Type::Audio);
        let stream = input
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| open_err("no video stream".into()))?;
        let stream_index = stream.index();
        let tb = stream.time_base();
        let frame_rate = [stream.avg_frame_rate(), stream.rate()]
            .into_iter()
            .find(|r| valid(*r))
            .map(|r| reduce(r.numerator() as i64, r.denominator() as i64));
        let frames = frame_count(&input, &stream, frame_rate);
        let decoder = open_video_decoder(&stream).map_err(open_err)?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(open_err("video stream has no dimensions".into()));
        }
        let declared = declared_duration(&input, &stream, frame_rate);
        let facts = StreamFacts {
            width: decoder.width(),
            height: decoder.height(),
            frame_rate,
            time_base: (tb.numerator(), tb.denominator()),
            frames,
            has_audio,
            orientation: Orientation::of_stream(&stream),
            colour: Colour::of_decoder(&decoder),
            field_order: field_order(&stream),
        };
        let dec = Decoder {
            path: path.to_path_buf(),
            input,
            stream_index,
            decoder,
            frame: frame::Video::empty(),
            decoded: 0,
            eof_sent: false,
            finished: false,
            pending_error: None,
            last_packet_corrupt: false,
            declared,
            packets_end: None,
            time_base: if valid(tb) { f64::from(tb) } else { 0.0 },
            field_order: facts.field_order,
            yadif: None,
            yadif_flushed: false,
            stream_tb: facts.time_base,
        };
        Ok((dec, facts))
    }

    pub(super) fn decode_error(&self, e: impl Into<Cause>) -> VideoError {
        VideoError::Decode {
            path: self.path.clone(),
            frame: self.decoded,
            reason: e.into(),
        }
    }

    /// Decodes the next frame into `self.frame` (deinterlaced when the stream is interlaced).
    /// `None` at the end; an error ends the stream (after the frames still buffered in the
    /// decoder have been returned).
    pub(super) fn next_raw(&mut self) -> Option<Result<(), VideoError>> {
        let next = match self.field_order {
            None => self.next_decoded(),
            Some(_) => self.next_deinterlaced(),
        };
        if let Some(Ok(())) = next {
            self.decoded += 1;
        }
        next
    }

    /// The next frame out of yadif, fed from the decoder.
    fn next_deinterlaced(&mut self) -> Option<Result<(), VideoError>> {
        loop {
            if self.yadif.as_mut().is_some_and(|y| y.pull(&mut self.frame)) {
                return Some(Ok(()));
            }
            if self.yadif_flushed {
                return None;
            }
            let fed = match self.next_decoded() {
                Some(Err(e)) => return Some(Err(e)),
                Some(Ok(())) => self.feed_yadif(true),
                None => {
                    self.yadif_flushed = true;
                    self.feed_yadif(false)
                }
            };
            if let Err(reason) = fed {
                self.finished = true;
                return Some(Err(self.decode_error(reason)));
            }
        }
    }

    /// Sends the decoded frame (or, with `frame` false, the end of the stream) to yadif.
    fn feed_yadif(&mut self, frame: bool) -> Result<(), Cause> {
        if self.yadif.is_none() {
            if !frame {
                return Ok(());
            }
            self.yadif = Some(Deinterlacer::new(&self.frame, self.stream_tb)?);
        }
        let yadif = self.yadif.as_mut().expect("made above");
        yadif.push(frame.then_some(&self.frame))
    }

    /// Decodes the next frame into `self.frame`, as the stream has it.
    fn next_decoded(&mut self) -> Option<Result<(), VideoError>> {
        if self.finished {
            return None;
        }
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    return Some(Ok(()));
                }
                Err(e) if is_eagain(&e) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.finished = true;
                    return self.take_pending_error().map(Err);
                }
                Err(e) => {
                    self.finished = true;
                    let err = self
                        .take_pending_error()
                        .unwrap_or_else(|| self.decode_error(e));
                    return Some(Err(err));
                }
            }
            if self.eof_sent {
                // The decoder wants input after EOF: nothing more will come out.
                self.finished = true;
                return self.take_pending_error().map(Err);
            }
            self.feed();
        }
    }

    pub(super) fn take_pending_error(&mut self) -> Option<VideoError> {
        let reason = self.pending_error.take()?;
        Some(self.decode_error(reason))
    }

    /// Sends the next packet of the video stream to the decoder, or EOF (recording a read or
    /// decode error to be reported once the decoder is drained). Corrupt packets in the middle
    /// of the stream are passed on (the decoder conceals them, as the ffmpeg tool does); a
    /// corrupt last packet means the file is truncated, which is reported as an error.
    pub(super) fn feed(&mut self) {
        let mut packet = Packet::empty();
        loop {
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    self.last_packet_corrupt = packet.is_corrupt();
                    if let Some(pts) = packet.pts() {
                        let end = (pts + packet.duration().max(0)) as f64 * self.time_base;
                        self.packets_end = Some(self.packets_end.map_or(end, |e| e.max(end)));
                    }
                    match self.decoder.send_packet(&packet) {
                        Ok(()) => return,
                        Err(e) => {
                            self.pending_error = Some(e.into());
                            break;
                        }
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    if self.last_packet_corrupt {
                        self.pending_error =
                            Some("the file ends with an incomplete packet (truncated?)".into());
                    } else if let (Some((secs, slack)), Some(end)) =
                        (self.declared, self.packets_end)
                    {
                        if end + slack < secs {
                            self.pending_error = Some(Cause::from(format!(
                                "the video ends after {end:.2} s but the file declares {secs:.2} s (truncated?)"
                            )));
                        }
                    }
                    break;
                }
                Err(e) => {
                    self.pending_error = Some(e.into());
                    break;
                }
            }
        }
        let _ = self.decoder.send_eof();
        self.eof_sent = true;
    }
}

/// The video's declared duration in seconds and the shortfall allowed before a file counts as
/// truncated: the stream's own duration (or Matroska's per-track DURATION tag) allows three frames;
/// the container's, which may cover a longer audio track, allows a second or a tenth.
pub(super) fn declared_duration(
    input: &format::context::Input,
    stream: &format::stream::Stream,
    rate: Option<(i32, i32)>,
) -> Option<(f64, f64)> {
    let frame = rate.map_or(0.04, |(n, d)| d as f64 / n as f64);
    let tb = stream.time_base();
    if stream.duration() > 0 && tb.denominator() > 0 {
        return Some((stream.duration() as f64 * f64::from(tb), 3.0 * frame));
    }
    if let Some(secs) = stream.metadata().get("DURATION").and_then(parse_hms) {
        return Some((secs, 3.0 * frame));
    }
    let secs = input.duration() as f64 / ffmpeg::ffi::AV_TIME_BASE as f64;
    (input.duration() > 0).then_some((secs, (0.1 * secs).max(1.0)))
}

/// `HH:MM:SS.fraction` as seconds.
pub(super) fn parse_hms(text: &str) -> Option<f64> {
    let mut parts = text.trim().split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let secs =
        h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?;
    (parts.next().is_none() && secs.is_finite() && secs > 0.0).then_some(secs)
}
