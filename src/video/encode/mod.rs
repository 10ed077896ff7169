//! `VideoWriter`: RGB frames to a video file (H.264 by default), with audio copied.
//! `codec` chooses and opens the encoder, `container` asks FFmpeg's muxers,
//! `yuv` makes the encoder's frames, `writer` puts them in the file.

mod codec;
mod container;
mod writer;
mod yuv;

pub use codec::{check_encoder, CodecError, EncoderProblem};
pub use container::container_for;
pub use writer::VideoWriter;

use super::Colour;

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

#[cfg(test)]
mod tests;
