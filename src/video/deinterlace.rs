//! Interlaced video (two fields a moment apart woven into each frame, as broadcast and older
//! cameras record) made progressive with FFmpeg's yadif filter before the frames are
//! stylized: the network would otherwise paint the comb of every moving edge.
use ffmpeg::format::stream::Stream;
use ffmpeg::{filter, frame};
use ffmpeg_next as ffmpeg;

use super::*;

/// The field order a stream declares, when it says it is interlaced.
pub(super) fn field_order(stream: &Stream) -> Option<&'static str> {
    use ffmpeg::ffi::AVFieldOrder::*;
    // SAFETY: reading a plain field of the stream's codec parameters.
    let order = unsafe { (*stream.parameters().as_ptr()).field_order };
    match order {
        AV_FIELD_TT | AV_FIELD_TB => Some("top field first"),
        AV_FIELD_BB | AV_FIELD_BT => Some("bottom field first"),
        _ => None,
    }
}

/// A yadif filter graph: one progressive frame out per frame in (one frame late).
pub(super) struct Deinterlacer {
    graph: filter::Graph,
}

impl Deinterlacer {
    /// A graph for frames like `first` (its size and pixel format).
    pub(super) fn new(first: &frame::Video, time_base: (i32, i32)) -> Result<Self, Cause> {
        let mut graph = filter::Graph::new();
        let pix_fmt: ffmpeg::ffi::AVPixelFormat = first.format().into();
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect=1/1",
            first.width(),
            first.height(),
            pix_fmt as i32,
            time_base.0.max(1),
            time_base.1.max(1)
        );
        let find = |name| filter::find(name).ok_or(format!("FFmpeg has no {name} filter"));
        graph.add(&find("buffer")?, "in", &args)?;
        graph.add(&find("buffersink")?, "out", "")?;
        // Only frames flagged interlaced are filtered; parity comes from each frame.
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse("yadif=mode=send_frame:parity=auto:deint=interlaced"))?;
        graph.validate()?;
        Ok(Deinterlacer { graph })
    }

    /// Sends a decoded frame in (`None`: the stream has ended).
    pub(super) fn push(&mut self, f: Option<&frame::Video>) -> Result<(), Cause> {
        let mut src = self.graph.get("in").ok_or("yadif graph has no input")?;
        let mut src = src.source();
        match f {
            Some(f) => src.add(f),
            None => src.flush(),
        }
        .map_err(Cause::from)
    }

    /// The next progressive frame, if one is ready.
    pub(super) fn pull(&mut self, out: &mut frame::Video) -> bool {
        match self.graph.get("out") {
            Some(mut sink) => sink.sink().frame(out).is_ok(),
            None => false,
        }
    }
}
