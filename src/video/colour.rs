//! A stream's colour description (primaries, transfer, matrix, range): read from the input,
//! used to turn its YUV into RGB, and written to the output so that players show the
//! stylized clip in the same colours as the clip it came from.
use ffmpeg::color::{Primaries, Range, Space, TransferCharacteristic};
use ffmpeg::frame;
use ffmpeg_next as ffmpeg;

/// What a stream says about its colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Colour {
    pub primaries: Primaries,
    pub transfer: TransferCharacteristic,
    /// The YUV matrix (BT.601, BT.709, ...).
    pub space: Space,
    /// Limited (MPEG, 16-235) or full (JPEG, 0-255) range.
    pub range: Range,
}

impl Default for Colour {
    /// HD video: BT.709 throughout, limited range (what an output says when the input does
    /// not say anything).
    fn default() -> Self {
        Colour {
            primaries: Primaries::BT709,
            transfer: TransferCharacteristic::BT709,
            space: Space::BT709,
            range: Range::MPEG,
        }
    }
}

impl Colour {
    /// A source that says nothing (image files, whose RGB needs no matrix).
    pub fn unspecified() -> Self {
        Colour {
            primaries: Primaries::Unspecified,
            transfer: TransferCharacteristic::Unspecified,
            space: Space::Unspecified,
            range: Range::Unspecified,
        }
    }

    /// As the decoder reports it (fields it leaves unspecified stay so).
    pub(super) fn of_decoder(d: &ffmpeg::decoder::Video) -> Self {
        Colour {
            primaries: d.color_primaries(),
            transfer: d.color_transfer_characteristic(),
            space: d.color_space(),
            range: d.color_range(),
        }
    }

    /// What the output is written with: the input's description where it has one. An input
    /// that does not name its matrix was read as players read it (BT.601 below 720 lines,
    /// BT.709 above); its output is made and tagged BT.709.
    pub fn for_output(&self) -> Colour {
        let d = Colour::default();
        if self.space == Space::Unspecified {
            return Colour {
                range: self.range_or(d.range),
                ..d
            };
        }
        Colour {
            primaries: pick(self.primaries, Primaries::Unspecified, d.primaries),
            transfer: pick(
                self.transfer,
                TransferCharacteristic::Unspecified,
                d.transfer,
            ),
            space: self.space,
            range: self.range_or(d.range),
        }
    }

    fn range_or(&self, default: Range) -> Range {
        pick(self.range, Range::Unspecified, default)
    }

    pub fn is_full_range(&self) -> bool {
        self.range == Range::JPEG
    }

    /// Sets the description on a frame for the encoder.
    pub(super) fn tag(&self, f: &mut frame::Video) {
        f.set_color_primaries(self.primaries);
        f.set_color_transfer_characteristic(self.transfer);
        f.set_color_space(self.space);
        f.set_color_range(self.range);
    }

    /// e.g. "bt709/bt709/bt709, limited range", as FFmpeg names them.
    pub fn describe(&self) -> String {
        let name = |n: Option<&'static str>| n.unwrap_or("unspecified");
        format!(
            "{}/{}/{}, {} range",
            name(self.primaries.name()),
            name(self.transfer.name()),
            name(self.space.name()),
            if self.is_full_range() {
                "full"
            } else {
                "limited"
            }
        )
    }
}

fn pick<T: PartialEq>(value: T, unspecified: T, default: T) -> T {
    if value == unspecified {
        default
    } else {
        value
    }
}
