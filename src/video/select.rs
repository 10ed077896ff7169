//! Which source frames a job reads (range, step, maximum) and at what size.

/// Which frames to read, and at what size: the job file's `[input]` section
/// (its `path` is passed separately to [`FrameSource::open`]).
pub type SourceOptions = crate::config::InputConfig;

pub(super) enum Pick {
    Take,
    Skip,
    Stop,
}

pub(super) fn pick(o: &SourceOptions, source_index: usize, yielded: usize) -> Pick {
    if o.max_frames.is_some_and(|m| yielded >= m) || o.end.is_some_and(|e| source_index >= e) {
        Pick::Stop
    } else if source_index < o.start || !(source_index - o.start).is_multiple_of(o.step) {
        Pick::Skip
    } else {
        Pick::Take
    }
}

/// Number of frames selected out of `total` source frames.
pub(super) fn selection_count(total: usize, o: &SourceOptions) -> usize {
    let end = o.end.map_or(total, |e| e.min(total));
    let n = if end > o.start {
        (end - o.start).div_ceil(o.step)
    } else {
        0
    };
    o.max_frames.map_or(n, |m| n.min(m))
}

/// Size of the frames yielded for a source of `w`x`h` and the `size` option.
pub(super) fn target_dims(w: u32, h: u32, size: Option<u32>) -> (u32, u32) {
    match size {
        None => (w, h),
        Some(s) => {
            let scale = s as f64 / w.max(h) as f64;
            let even = |x: u32| (((x as f64 * scale) / 2.0).round() as u32 * 2).max(2);
            (even(w), even(h))
        }
    }
}
