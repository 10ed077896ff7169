//! The job's outputs from finished frames: the sinks a streaming job's
//! encoder writes to, and the encoding of frames read back from the work
//! directory (after later passes, or when `join` puts shards together).
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::config::{ConfigError, JobConfig};
use crate::error::Result;
use crate::files::{write_error, WriteError};
use crate::video::{EncoderOptions, EncoderProblem, SourceInfo, VideoWriter};

use super::stages::{Encoder, Sinks};
use crate::job::store::outputs::{part_path, Outputs};

/// The video writer (through `<video>.part`, with the input's audio over
/// `audio_span` seconds) and the image sequence the job asks for.
pub fn sinks(
    cfg: &JobConfig,
    outputs: &Outputs,
    info: &SourceInfo,
    audio_span: (f64, f64),
) -> Result<Sinks> {
    let video = match &outputs.video {
        Some(path) => Some((writer(cfg, info, path, audio_span)?, path.clone())),
        None => None,
    };
    Ok(Sinks {
        video,
        frames: outputs.frames.clone(),
        held: None,
    })
}

fn writer(
    cfg: &JobConfig,
    info: &SourceInfo,
    path: &Path,
    audio_span: (f64, f64),
) -> Result<VideoWriter> {
    // Written as `<video>.part`: the container comes from the final name.
    let format = crate::video::container_for(path);
    let audio = (cfg.output.audio && info.has_audio).then_some((
        info.path.as_path(),
        audio_span.0,
        audio_span.1,
    ));
    let opts = encoder_options(cfg, info);
    let (w, h, times) = (info.width, info.height, &info.timeline);
    VideoWriter::create(
        &part_path(path),
        format.as_deref(),
        w,
        h,
        times,
        audio,
        &opts,
    )
    .map_err(|e| write_error(path, WriteError::Fill(Box::new(e))))
}

/// How the input is read and written, for the report and the start of a run: the source's
/// own notes, and audio that the output's container makes re-encode.
pub fn input_notes(cfg: &JobConfig, info: &SourceInfo, outputs: &Outputs) -> Vec<String> {
    let mut notes = info.notes();
    if let (true, true, Some(video)) = (cfg.output.audio, info.has_audio, &outputs.video) {
        notes.extend(crate::video::audio_reencoded(&info.path, video));
    }
    notes
}

/// What the job's video is encoded with: its codec and pixel format, the input's colours.
fn encoder_options(cfg: &JobConfig, info: &SourceInfo) -> EncoderOptions {
    EncoderOptions {
        codec: cfg.output.codec.clone(),
        crf: cfg.output.crf,
        pixel_format: cfg.output.pix_fmt.clone(),
        colour: info.colour.for_output(),
    }
}

/// Checks before any work that the video output can be written as the job asks: a bad
/// codec, pixel format or combination names the job file and the setting.
pub fn check_encoder(cfg: &JobConfig, info: &SourceInfo, video: &Path) -> Result<()> {
    let opts = encoder_options(cfg, info);
    let (key, message) = match crate::video::check_encoder(video, &opts) {
        Ok(()) => return Ok(()),
        Err(EncoderProblem::Codec(m)) => ("output.codec", m),
        Err(EncoderProblem::PixelFormat(m)) => ("output.pix_fmt", m),
        Err(EncoderProblem::Container(m)) => ("output.path", m),
    };
    Err(ConfigError::Invalid {
        file: cfg.source.clone(),
        key: key.into(),
        message,
    }
    .into())
}

/// Encodes frames `0..count`, each read from the file `frame_file` names,
/// into the job's outputs. Any failure leaves no video behind.
pub fn encode_files(
    sinks: Sinks,
    count: usize,
    frame_file: impl Fn(usize) -> PathBuf,
    input: &Path,
) -> Result<usize> {
    let encoder = Encoder::start(sinks);
    let mut failure = None;
    for index in 0..count {
        let img: Result<RgbImage> = crate::video::load_image(&frame_file(index));
        match img {
            // False when the encoder stopped: its own error comes out of `finish`.
            Ok(img) => {
                if !encoder.send(index, img) {
                    break;
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let encoded = encoder.finish(failure.is_some(), input);
    match failure {
        Some(e) => Err(e),
        None => encoded,
    }
}
