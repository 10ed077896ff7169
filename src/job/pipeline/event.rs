//! What a running job tells its front end (progress lines, reports).
use crate::job::report::{Direction, FrameReport};
use crate::stylize::IterateRecord;

/// What a running job tells its front end.
pub enum Event<'a> {
    Start {
        total: Option<usize>,
        resumed: usize,
        width: u32,
        height: u32,
        device: String,
        /// How the input is read (turns, timing, colours, padding).
        notes: Vec<String>,
    },
    Iterate {
        frame: usize,
        record: &'a IterateRecord,
    },
    FrameDone(&'a FrameReport),
    /// A later pass begins.
    Pass {
        number: usize,
        direction: Direction,
        frames: usize,
    },
    Warning(String),
}
