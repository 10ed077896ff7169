//! The writer: opens the file, encodes frames, interleaves audio, finishes.
use std::path::{Path, PathBuf};

use ffmpeg::{encoder, format, Packet, Rational};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::codec::{checked_pixel_format, open_chosen, CodecError, EncoderSetup};
use super::container::{add_video_stream, stream_time_base};
use super::yuv::YuvConverter;
use super::EncoderOptions;
use crate::video::audio::AudioOut;
use crate::video::{init, is_eagain, Cause, Timeline, VideoError};

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

impl VideoWriter {
    /// Creates `path`. The container comes from `format` if given (e.g. "mp4"), else from the
    /// extension. Odd dimensions are padded to even ones by repeating the last column / row.
    /// Frame `i` is shown at `timeline.pts(i)`.
    ///
    /// `audio_from`: `(file, start, end)` copies the first audio stream of `file` unchanged (stream
    /// copy, timestamps rescaled), limited to `start..end` seconds of that file (the span of the
    /// frames written, see [`crate::video::FrameSource::audio_span`]) and to the duration of the frames actually
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
        let invalid = |e: CodecError| VideoError::InvalidOptions {
            path: path.to_path_buf(),
            reason: e.into(),
        };
        let pixel_format = checked_pixel_format(width, height, timeline, opts).map_err(invalid)?;
        let write_err = |e: ffmpeg::Error| VideoError::Write {
            path: path.to_path_buf(),
            reason: e.into(),
        };
        let codec_err = |e: CodecError| VideoError::Codec {
            path: path.to_path_buf(),
            reason: e.into(),
        };
        let mut octx = match format {
            Some(f) => format::output_as(&path, f),
            None => format::output(&path),
        }
        .map_err(write_err)?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let setup = EncoderSetup::new(width, height, timeline, global_header, opts, pixel_format);
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

    pub(super) fn encode_error(&self, e: impl Into<Cause>) -> VideoError {
        VideoError::Encode {
            path: self.path.clone(),
            frame: self.frames,
            reason: e.into(),
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
                            reason: e.into(),
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
            Some(a) => a.pump(&mut self.octx, &self.path, until, false),
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
            a.pump(&mut self.octx, &self.path, until, true)?;
        }
        self.octx.write_trailer().map_err(|e| VideoError::Write {
            path: self.path.clone(),
            reason: e.into(),
        })?;
        Ok(self.frames)
    }
}
