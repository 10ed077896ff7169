//! Audio that the output's container cannot hold as it is (PCM from a camera's MOV into an
//! MP4, say): decoded, cut to the span of the video written and re-encoded to AAC.
use std::path::{Path, PathBuf};

use ffmpeg::software::resampling;
use ffmpeg::util::format::sample::{Sample, Type as SampleType};
use ffmpeg::{codec, encoder, format, frame, ChannelLayout, Packet, Rational};
use ffmpeg_next as ffmpeg;

use super::audio::{audio_error, time_origin, AudioSource};
use super::*;

/// AAC at this rate is transparent for speech and music alike.
const AAC_BIT_RATE: usize = 192_000;

/// Decodes one audio stream, cuts it to a span and encodes it as AAC, pumped as video is
/// written.
pub(super) struct AudioEncode {
    source_path: PathBuf,
    input: format::context::Input,
    in_index: usize,
    in_tb: Rational,
    decoder: ffmpeg::decoder::Audio,
    resampler: resampling::Context,
    encoder: encoder::Audio,
    pub(super) out_index: usize,
    pub(super) out_tb: Rational,
    /// Source seconds that are output time 0, and the span's length.
    origin: f64,
    span: f64,
    /// Planar samples waiting for a whole encoder frame, one queue per channel.
    queue: Vec<Vec<f32>>,
    /// Output samples encoded so far (the next frame's pts, in 1/rate).
    encoded: i64,
    /// Output seconds decoded so far.
    decoded_until: f64,
    input_done: bool,
}

type Opened = (encoder::Audio, resampling::Context);

/// An AAC encoder and a resampler to its sample format, for audio like `dec`'s.
fn open_aac(dec: &ffmpeg::decoder::Audio, global_header: bool) -> Result<Opened, Cause> {
    let codec = encoder::find(codec::Id::AAC).ok_or("no AAC encoder in this FFmpeg build")?;
    let layout = match dec.channel_layout() {
        l if l.is_empty() => ChannelLayout::default(dec.channels() as i32),
        l => l,
    };
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .audio()?;
    enc.set_rate(dec.rate() as i32);
    enc.set_channel_layout(layout);
    enc.set_channels(layout.channels());
    enc.set_format(Sample::F32(SampleType::Planar));
    enc.set_bit_rate(AAC_BIT_RATE);
    enc.set_time_base(Rational::new(1, dec.rate() as i32));
    if global_header {
        enc.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let enc = enc.open_as(codec)?;
    let resampler = resampling::Context::get(
        dec.format(),
        layout,
        dec.rate(),
        enc.format(),
        layout,
        enc.rate(),
    )?;
    Ok((enc, resampler))
}

impl AudioEncode {
    /// Adds an AAC stream for `audio`'s stream to `octx`.
    pub(super) fn add(
        octx: &mut format::context::Output,
        out_path: &Path,
        audio: AudioSource,
        span: (f64, f64),
    ) -> Result<AudioEncode, VideoError> {
        let err = |reason: Cause| audio_error(out_path, &audio.path, reason);
        let (in_index, in_tb, params) = {
            let ist = audio.stream();
            (ist.index(), ist.time_base(), ist.parameters())
        };
        let decoder = codec::context::Context::from_parameters(params)
            .and_then(|c| c.decoder().audio())
            .map_err(|e| err(Cause::from(e).within("cannot decode the audio")))?;
        let global = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let (encoder, resampler) =
            open_aac(&decoder, global).map_err(|e| err(e.within("cannot encode AAC")))?;
        let mut ost = octx
            .add_stream(encoder::find(codec::Id::AAC))
            .map_err(|e| err(e.into()))?;
        let input = audio.input;
        ost.set_parameters(&encoder);
        ost.set_time_base(Rational::new(1, encoder.rate() as i32));
        let out_index = ost.index();
        let channels = encoder.channels() as usize;
        Ok(AudioEncode {
            source_path: audio.path,
            origin: time_origin(&input) + span.0,
            span: (span.1 - span.0).max(0.0),
            input,
            in_index,
            in_tb,
            decoder,
            resampler,
            out_tb: encoder.time_base(),
            encoder,
            out_index,
            queue: vec![Vec::new(); channels],
            encoded: 0,
            decoded_until: 0.0,
            input_done: false,
        })
    }

    fn error(&self, out_path: &Path, e: impl Into<Cause>) -> VideoError {
        audio_error(out_path, &self.source_path, e)
    }

    /// Encodes the audio up to `until` seconds of output time.
    pub(super) fn pump(
        &mut self,
        octx: &mut format::context::Output,
        out_path: &Path,
        until: f64,
    ) -> Result<(), VideoError> {
        let until = until.min(self.span);
        while !self.input_done && self.decoded_until < until {
            self.read_some().map_err(|e| self.error(out_path, e))?;
        }
        self.encode_queued(octx, false)
            .map_err(|e| self.error(out_path, e))
    }

    /// Encodes the audio up to `until`, flushes the encoder and writes its last packets.
    pub(super) fn finish(
        &mut self,
        octx: &mut format::context::Output,
        out_path: &Path,
        until: f64,
    ) -> Result<(), VideoError> {
        self.span = self.span.min(until);
        self.pump(octx, out_path, until)?;
        let flushed = self
            .encode_queued(octx, true)
            .and_then(|()| self.encoder.send_eof().map_err(Cause::from))
            .and_then(|()| self.write_packets(octx));
        flushed.map_err(|e| self.error(out_path, e))
    }

    /// Reads one packet of the stream and queues its samples that fall in the span.
    fn read_some(&mut self) -> Result<(), Cause> {
        let mut packet = Packet::empty();
        match packet.read(&mut self.input) {
            Ok(()) if packet.stream() == self.in_index => {
                self.decoder.send_packet(&packet)?;
            }
            Ok(()) => return Ok(()),
            Err(ffmpeg::Error::Eof) => {
                self.input_done = true;
                let _ = self.decoder.send_eof();
            }
            Err(e) => return Err(e.into()),
        }
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            self.queue_frame(&decoded)?;
        }
        Ok(())
    }

    /// Resamples a decoded frame and queues the samples inside the span.
    fn queue_frame(&mut self, decoded: &frame::Audio) -> Result<(), Cause> {
        let rate = self.encoder.rate() as f64;
        let start = decoded.pts().map_or(self.decoded_until, |p| {
            p as f64 * f64::from(self.in_tb) - self.origin
        });
        let mut planar = frame::Audio::empty();
        self.resampler.run(decoded, &mut planar)?;
        let n = planar.samples();
        // Samples before the span are dropped; those after it end the stream.
        let first = ((-start * rate).ceil().max(0.0) as usize).min(n);
        let last = (((self.span - start) * rate).floor().max(0.0) as usize).min(n);
        for (c, queue) in self.queue.iter_mut().enumerate() {
            let plane: &[f32] = planar.plane(c);
            queue.extend_from_slice(&plane[first..last.max(first)]);
        }
        self.decoded_until = start + n as f64 / rate;
        if self.decoded_until >= self.span {
            self.input_done = true;
        }
        Ok(())
    }

    /// Sends whole frames of queued samples (and, at the end, the rest) to the encoder.
    fn encode_queued(
        &mut self,
        octx: &mut format::context::Output,
        last: bool,
    ) -> Result<(), Cause> {
        let size = (self.encoder.frame_size() as usize).max(1);
        while self.queue[0].len() >= size || (last && !self.queue[0].is_empty()) {
            let n = self.queue[0].len().min(size);
            let mut f = frame::Audio::new(self.encoder.format(), n, self.encoder.channel_layout());
            f.set_rate(self.encoder.rate());
            for (c, queue) in self.queue.iter_mut().enumerate() {
                f.plane_mut::<f32>(c).copy_from_slice(&queue[..n]);
                queue.drain(..n);
            }
            f.set_pts(Some(self.encoded));
            self.encoded += n as i64;
            self.encoder.send_frame(&f)?;
            self.write_packets(octx)?;
        }
        Ok(())
    }

    fn write_packets(&mut self, octx: &mut format::context::Output) -> Result<(), Cause> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(self.out_index);
            packet.rescale_ts(self.encoder.time_base(), self.out_tb);
            packet.set_position(-1);
            packet.write_interleaved(octx)?;
        }
        Ok(())
    }
}
