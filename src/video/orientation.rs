//! How a video is shown: the display matrix a phone writes beside landscape frames (rotation
//! by a quarter turn, possibly mirrored), applied to decoded frames so that the network sees
//! them upright, as the viewer does.
use ffmpeg::codec::packet::side_data::Type as SideDataType;
use ffmpeg::format::stream::Stream;
use ffmpeg_next as ffmpeg;
use image::{imageops, RgbImage};

/// What turns a stored frame into the displayed one: a clockwise rotation by `quarter_turns`
/// quarters, after a horizontal mirror when `mirror` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Orientation {
    pub mirror: bool,
    pub quarter_turns: u8,
}

impl Orientation {
    /// Upright, as stored.
    pub const UPRIGHT: Orientation = Orientation {
        mirror: false,
        quarter_turns: 0,
    };

    /// From a display matrix (nine 32-bit values, row major, as FFmpeg stores it): the
    /// nearest of the eight quarter-turn orientations.
    pub fn from_matrix(m: &[i32; 9]) -> Self {
        // FFmpeg maps a stored point (p, q) (y down) to the displayed one as
        // p' = m[0] p + m[3] q, q' = m[1] p + m[4] q.
        let shown = [m[0] as f64, m[3] as f64, m[1] as f64, m[4] as f64];
        let candidates = (0..8u8).map(|i| Orientation {
            mirror: i >= 4,
            quarter_turns: i % 4,
        });
        let score = |o: &Orientation| -> f64 {
            let c = o.linear_map();
            c.iter().zip(shown).map(|(&x, y)| x as f64 * y).sum()
        };
        candidates
            .max_by(|a, b| score(a).total_cmp(&score(b)))
            .unwrap_or(Self::UPRIGHT)
    }

    /// The map from stored to displayed coordinates, row major ([p' from p, p' from q, q'
    /// from p, q' from q]): a mirror (p -> -p), then clockwise quarter turns ((p, q) -> (-q, p)).
    fn linear_map(&self) -> [i32; 4] {
        let mut m = if self.mirror {
            [-1, 0, 0, 1]
        } else {
            [1, 0, 0, 1]
        };
        for _ in 0..self.quarter_turns {
            m = [-m[2], -m[3], m[0], m[1]];
        }
        m
    }

    /// The orientation a stream's display matrix asks for (upright when it has none).
    pub(super) fn of_stream(stream: &Stream) -> Self {
        stream
            .side_data()
            .find(|d| d.kind() == SideDataType::DisplayMatrix)
            .and_then(|d| matrix(d.data()))
            .map_or(Self::UPRIGHT, |m| Self::from_matrix(&m))
    }

    /// Whether width and height trade places.
    pub fn swaps_sides(&self) -> bool {
        self.quarter_turns % 2 == 1
    }

    /// Displayed size of a stored `w` x `h` frame.
    pub fn displayed(&self, w: u32, h: u32) -> (u32, u32) {
        if self.swaps_sides() {
            (h, w)
        } else {
            (w, h)
        }
    }

    /// Stored size that shows as `w` x `h`.
    pub fn stored(&self, w: u32, h: u32) -> (u32, u32) {
        self.displayed(w, h)
    }

    /// The displayed picture of a stored frame.
    pub fn apply(&self, img: RgbImage) -> RgbImage {
        let img = if self.mirror {
            imageops::flip_horizontal(&img)
        } else {
            img
        };
        match self.quarter_turns {
            1 => imageops::rotate90(&img),
            2 => imageops::rotate180(&img),
            3 => imageops::rotate270(&img),
            _ => img,
        }
    }

    /// How the report and `vstyle check` describe it.
    pub fn describe(&self) -> String {
        let turn = format!(
            "rotated {} degrees clockwise",
            90 * self.quarter_turns as u32
        );
        match (self.mirror, self.quarter_turns) {
            (false, 0) => "upright".into(),
            (true, 0) => "mirrored".into(),
            (false, _) => turn,
            (true, _) => format!("mirrored and {turn}"),
        }
    }
}

fn matrix(data: &[u8]) -> Option<[i32; 9]> {
    let mut m = [0i32; 9];
    for (v, bytes) in m.iter_mut().zip(data.get(..36)?.chunks_exact(4)) {
        *v = i32::from_ne_bytes(bytes.try_into().ok()?);
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A display matrix made by FFmpeg itself: rotated `degrees` counterclockwise (FFmpeg's
    /// convention), then mirrored horizontally if asked.
    fn ffmpeg_matrix(degrees: f64, hflip: bool) -> [i32; 9] {
        let mut m = [0i32; 9];
        // SAFETY: `m` has the nine values both functions write.
        unsafe {
            ffmpeg::ffi::av_display_rotation_set(m.as_mut_ptr(), degrees);
            ffmpeg::ffi::av_display_matrix_flip(m.as_mut_ptr(), hflip as i32, 0);
        }
        m
    }

    /// A 3x2 picture with distinct pixels, to see where each one lands.
    fn marked() -> RgbImage {
        RgbImage::from_fn(3, 2, |x, y| image::Rgb([(x + 3 * y) as u8, 0, 0]))
    }

    fn pixels(img: &RgbImage) -> Vec<u8> {
        img.pixels().map(|p| p[0]).collect()
    }

    #[test]
    fn quarter_turns_as_ffmpeg_writes_them() {
        // What the ffmpeg tool shows: `-metadata:s:v rotate=90` stores the matrix of
        // av_display_rotation_set(-90), and the tool turns such a clip a quarter
        // counterclockwise (three clockwise) before showing it.
        for (degrees, turns) in [(0.0, 0), (-90.0, 3), (180.0, 2), (90.0, 1), (-270.0, 1)] {
            let o = Orientation::from_matrix(&ffmpeg_matrix(degrees, false));
            assert_eq!(
                o,
                Orientation {
                    mirror: false,
                    quarter_turns: turns
                },
                "{degrees}"
            );
        }
        // FFmpeg's flip mirrors the displayed picture: three clockwise turns, then a
        // mirror, is a mirror, then one clockwise turn.
        let o = Orientation::from_matrix(&ffmpeg_matrix(-90.0, true));
        assert_eq!(
            o,
            Orientation {
                mirror: true,
                quarter_turns: 1
            }
        );
        let o = Orientation::from_matrix(&ffmpeg_matrix(0.0, true));
        assert_eq!(
            o,
            Orientation {
                mirror: true,
                quarter_turns: 0
            }
        );
    }

    #[test]
    fn applied_turns_and_mirrors_move_pixels_as_a_viewer_sees_them() {
        // 0 1 2      turned clockwise:  3 0
        // 3 4 5                         4 1
        //                               5 2
        let turned = Orientation {
            mirror: false,
            quarter_turns: 1,
        }
        .apply(marked());
        assert_eq!(turned.dimensions(), (2, 3));
        assert_eq!(pixels(&turned), vec![3, 0, 4, 1, 5, 2]);
        let mirrored = Orientation {
            mirror: true,
            quarter_turns: 0,
        }
        .apply(marked());
        assert_eq!(pixels(&mirrored), vec![2, 1, 0, 5, 4, 3]);
        let half = Orientation {
            mirror: false,
            quarter_turns: 2,
        }
        .apply(marked());
        assert_eq!(pixels(&half), vec![5, 4, 3, 2, 1, 0]);
        assert_eq!(Orientation::UPRIGHT.apply(marked()), marked());
    }
}
