//! When each selected frame is shown: the presentation timestamps of a video's frames (read
//! from its packets, without decoding), so that an output keeps a variable-frame-rate clip's
//! pauses and stays in sync with the audio copied beside it.
use std::path::Path;

use ffmpeg::{format, media, packet::Ref, Packet};
use ffmpeg_next as ffmpeg;

use super::*;

/// Presentation times of the frames a source yields, from 0 at its first one.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Time base of `pts`: 1/rate for a constant rate, the stream's own otherwise.
    pub time_base: (i32, i32),
    /// Time of each selected frame, in `time_base`, from 0. Frames past the end (a stream
    /// that yields more frames than its packets promised) follow at `rate`.
    pub pts: Vec<i64>,
    /// Average output rate (the source rate divided by the step).
    pub rate: (i32, i32),
    /// Seconds into the source (from its first frame) at which the first selected frame is
    /// shown: where the copied audio starts.
    pub origin: f64,
}

/// Largest time-base denominator kept as it is: MPEG-4 part 2 cannot take more, and
/// a millisecond grid loses nothing a viewer sees.
const MAX_DENOMINATOR: i64 = 65535;

impl Timeline {
    /// Evenly spaced frames at `rate` (image sequences, and clips whose frames are evenly
    /// spaced), starting `origin` seconds into the source.
    pub fn constant(rate: (i32, i32), count: usize, origin: f64) -> Self {
        Timeline {
            time_base: (rate.1, rate.0),
            pts: (0..count as i64).collect(),
            rate,
            origin,
        }
    }

    /// The selected frames' times from the source's sorted packet timestamps `source_pts` (in
    /// `time_base`, the first one at the stream's start) and its nominal `rate`.
    pub(super) fn select(
        source_pts: &[i64],
        time_base: (i32, i32),
        rate: (i32, i32),
        opts: &SourceOptions,
    ) -> Self {
        let kept: Vec<i64> = selected(source_pts.len(), opts)
            .map(|i| source_pts[i])
            .collect();
        let out_rate = reduce(rate.0 as i64, rate.1 as i64 * opts.step as i64);
        let seconds = |t: i64| t as f64 * time_base.0 as f64 / time_base.1 as f64;
        let first = source_pts.first().copied().unwrap_or(0);
        let origin = kept.first().map_or(0.0, |&t| seconds(t - first));
        let period = source_period(time_base, rate) * opts.step as i64;
        if evenly_spaced(&kept, period) {
            return Timeline::constant(out_rate, kept.len(), origin);
        }
        let start = kept.first().copied().unwrap_or(0);
        let mut tl = Timeline {
            time_base,
            pts: kept.iter().map(|t| t - start).collect(),
            rate: out_rate,
            origin,
        };
        tl.coarsen();
        tl
    }

    /// Moves times to a millisecond grid when the time base is finer than encoders take.
    fn coarsen(&mut self) {
        let (num, den) = (self.time_base.0 as i64, self.time_base.1 as i64);
        if den / num.max(1) <= MAX_DENOMINATOR {
            return;
        }
        for t in &mut self.pts {
            // In i128: a container's times may be anywhere in i64.
            *t = ((*t as i128 * num as i128 * 1000 + den as i128 / 2) / den as i128) as i64;
        }
        self.pts.dedup();
        self.time_base = (1, 1000);
    }

    /// One frame's duration at the nominal rate, in `time_base`.
    fn period(&self) -> i64 {
        source_period(self.time_base, self.rate)
    }

    /// Time of output frame `index`, in `time_base`.
    pub fn pts(&self, index: usize) -> i64 {
        match self.pts.get(index) {
            Some(&t) => t,
            None => {
                let (last, n) = self
                    .pts
                    .last()
                    .map_or((-self.period(), 0), |&t| (t, self.pts.len()));
                // Saturating: an unknown count asks for a time far past the end.
                let ahead =
                    i64::try_from(index.saturating_add(1).saturating_sub(n)).unwrap_or(i64::MAX);
                last.saturating_add(ahead.saturating_mul(self.period()))
            }
        }
    }

    /// How long frame `index` is shown, in `time_base`: until the next one, the last for a
    /// nominal period.
    pub fn duration(&self, index: usize) -> i64 {
        let next = self.pts(index.saturating_add(1));
        next.saturating_sub(self.pts(index)).max(1)
    }

    /// How long the frame shown at `pts` lasts (a nominal period for a time not in the list).
    pub fn duration_at(&self, pts: i64) -> i64 {
        match self.pts.binary_search(&pts) {
            Ok(i) => self.duration(i),
            Err(_) => self.period(),
        }
    }

    /// Seconds from the first frame to the time of `index`.
    pub fn seconds(&self, index: usize) -> f64 {
        self.pts(index) as f64 * self.time_base.0 as f64 / self.time_base.1 as f64
    }

    /// The span of the source, in seconds from its first frame, covered by the first `frames`
    /// frames: the audio copied beside them.
    pub fn span(&self, frames: usize) -> (f64, f64) {
        (self.origin, self.origin + self.seconds(frames))
    }

    /// Whether frames are evenly spaced at `rate`.
    pub fn is_constant(&self) -> bool {
        self.time_base == (self.rate.1, self.rate.0)
    }
}

/// Source indices a job reads out of `total`.
fn selected(total: usize, opts: &SourceOptions) -> impl Iterator<Item = usize> + '_ {
    let end = opts.end.map_or(total, |e| e.min(total));
    (opts.start..end)
        .step_by(opts.step)
        .take(opts.max_frames.unwrap_or(usize::MAX))
}

/// One frame at `rate`, in `time_base` (at least 1).
fn source_period(time_base: (i32, i32), rate: (i32, i32)) -> i64 {
    let ticks = time_base.1 as f64 * rate.1 as f64 / (time_base.0 as f64 * rate.0 as f64);
    (ticks.round() as i64).max(1)
}

/// Whether consecutive times differ by `period` give or take a tick (rounding in the muxer).
fn evenly_spaced(pts: &[i64], period: i64) -> bool {
    pts.windows(2)
        .all(|w| (w[1] - w[0] - period).abs() <= 1.max(period / 100))
}

/// Sorted presentation timestamps of the best video stream's packets: the frames' times in
/// display order. `None` when packets carry no timestamps (then frames are evenly spaced).
pub(super) fn packet_times(path: &Path) -> Result<Option<Vec<i64>>, VideoError> {
    let mut input = format::input(&path).map_err(|e| VideoError::Open {
        path: path.to_path_buf(),
        reason: e.into(),
    })?;
    let Some(index) = input.streams().best(media::Type::Video).map(|s| s.index()) else {
        return Ok(None);
    };
    let mut pts = Vec::new();
    let mut packet = Packet::empty();
    loop {
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index && !discarded(&packet) => match packet.pts() {
                Some(t) => pts.push(t),
                None => return Ok(None),
            },
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            // A damaged file: the decoder reports it, at the frame where it happens.
            Err(_) => break,
        }
    }
    pts.sort_unstable();
    Ok(Some(pts))
}

/// A packet the decoder drops (before an edit list's start): no frame of its own.
fn discarded(packet: &Packet) -> bool {
    // SAFETY: reading a plain field of a valid packet.
    let flags = unsafe { (*packet.as_ptr()).flags };
    flags & ffmpeg::ffi::AV_PKT_FLAG_DISCARD != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(start: usize, step: usize, max: Option<usize>) -> SourceOptions {
        SourceOptions {
            start,
            step,
            max_frames: max,
            ..SourceOptions::full_size()
        }
    }

    #[test]
    fn evenly_spaced_frames_keep_their_rate_divided_by_the_step() {
        let pts: Vec<i64> = (0..10).map(|i| i * 1001).collect();
        let tl = Timeline::select(&pts, (1, 30000), (30000, 1001), &opts(2, 2, None));
        assert_eq!(tl.rate, (15000, 1001));
        assert!(tl.is_constant());
        assert_eq!(tl.pts, vec![0, 1, 2, 3]);
        assert!((tl.origin - 2.0 * 1001.0 / 30000.0).abs() < 1e-9);
    }

    #[test]
    fn times_far_past_the_packets_and_huge_container_times_saturate_without_a_panic() {
        let pts: Vec<i64> = (0..4).map(|i| i * 1001).collect();
        let tl = Timeline::select(&pts, (1, 30000), (30000, 1001), &opts(0, 1, None));
        assert_eq!(tl.pts(usize::MAX / 4), (usize::MAX / 4) as i64);
        assert_eq!(tl.pts(usize::MAX), i64::MAX);
        assert!(tl.span(usize::MAX / 4).1.is_finite());
        assert_eq!(tl.duration(usize::MAX - 1), 1);
        // Uneven times in nanoseconds, the last near the end of i64, move
        // to milliseconds without overflowing on the way.
        let huge = [0, 1_000_000_000, i64::MAX / 4];
        let tl = Timeline::select(&huge, (1, 1_000_000_000), (1, 1), &opts(0, 1, None));
        assert_eq!(tl.time_base, (1, 1000));
        assert_eq!(tl.pts(1), 1000);
        assert_eq!(tl.pts(2), (i64::MAX / 4 + 500_000) / 1_000_000);
    }

    #[test]
    fn a_pause_is_kept_and_frames_past_the_packets_follow_at_the_rate() {
        // 10 frames at 10 fps, a one-second pause, 10 more.
        let mut pts: Vec<i64> = (0..10).map(|i| i * 100).collect();
        pts.extend((0..10).map(|i| 1900 + i * 100));
        let tl = Timeline::select(&pts, (1, 1000), (20, 1), &opts(0, 1, None));
        assert!(!tl.is_constant());
        assert_eq!(tl.pts(9), 900);
        assert_eq!(tl.pts(10), 1900);
        assert_eq!(tl.duration(9), 1000);
        assert_eq!(tl.pts(20), 2800 + 50);
        let (start, end) = tl.span(20);
        assert_eq!(start, 0.0);
        assert!((end - 2.85).abs() < 1e-9, "{end}");
    }

    #[test]
    fn a_fine_time_base_moves_to_milliseconds() {
        let pts = vec![0, 9000, 18000, 99000];
        let tl = Timeline::select(&pts, (1, 90000), (10, 1), &opts(0, 1, None));
        assert_eq!(tl.time_base, (1, 1000));
        assert_eq!(tl.pts, vec![0, 100, 200, 1100]);
    }
}
