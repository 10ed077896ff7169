//! Progress as a person reads it: a bar on a terminal, plain lines in a log.
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use vstyle::job::{Event, FrameReport};
use vstyle::stylize::IterateRecord;

/// One iteration as a line of losses.
pub fn progress_line(prefix: &str, r: &IterateRecord) -> String {
    let l = &r.losses;
    let mut s = format!(
        "{prefix}iter {:>4}  evals {:>4}  loss {:.4e}  content {:.3e}  style {:.3e}  tv {:.3e}",
        r.iteration, r.evaluations, l.total, l.content, l.style, l.tv
    );
    if l.temporal > 0.0 {
        s.push_str(&format!("  temporal {:.3e}", l.temporal));
    }
    s.push_str(&format!("  {:.1}s", r.elapsed.as_secs_f64()));
    s
}

/// A bar of `total` frames (empty length when unknown).
fn frames_bar(total: Option<usize>) -> ProgressBar {
    let bar = ProgressBar::new(total.unwrap_or(0) as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} frames  {msg}  ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Frames done/total, the current frame's iteration and loss, frames per
/// minute and ETA on a terminal; plain lines per frame otherwise.
pub struct Progress {
    quiet: bool,
    /// Iteration lines in a log every this many iterations (0 = none).
    every: usize,
    bar: Option<ProgressBar>,
    started: std::time::Instant,
    fresh: usize,
}

impl Progress {
    pub fn new(quiet: bool, every: usize) -> Self {
        Self {
            quiet,
            every,
            bar: None,
            started: std::time::Instant::now(),
            fresh: 0,
        }
    }

    pub fn event(&mut self, ev: Event) {
        match ev {
            // Warnings show even when quiet.
            Event::Warning(w) => self.println(format!("warning: {w}")),
            _ if self.quiet => {}
            Event::Start {
                total,
                resumed,
                width,
                height,
                device,
                notes,
            } => self.start(total, resumed, (width, height), &device, &notes),
            Event::Iterate { frame, record } => self.iterate(frame, record),
            Event::FrameDone(r) => self.frame_done(r),
            Event::Pass {
                number,
                direction,
                frames,
            } => {
                self.println(format!(
                    "pass {number} ({direction:?}) over {frames} frames"
                ));
                if let Some(bar) = &self.bar {
                    bar.set_position(0);
                    bar.set_length(frames as u64);
                }
            }
        }
    }

    /// Above the bar on a terminal, else a line of its own.
    fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    fn start(
        &mut self,
        total: Option<usize>,
        resumed: usize,
        (width, height): (u32, u32),
        device: &str,
        notes: &[String],
    ) {
        let total_text = total.map_or("?".to_string(), |t| t.to_string());
        let resuming = match resumed {
            0 => String::new(),
            n => format!(", resuming after {n} finished frames"),
        };
        eprintln!("stylizing {total_text} frames at {width}x{height} on {device}{resuming}");
        for note in notes {
            eprintln!("  input: {note}");
        }
        if std::io::stderr().is_terminal() {
            self.bar = Some(frames_bar(total));
        }
    }

    fn iterate(&self, frame: usize, record: &IterateRecord) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!(
                "frame {frame} iter {} loss {:.3e}  {:.1} frames/min",
                record.iteration,
                record.losses.total,
                self.fpm()
            ));
        } else if self.every > 0 && record.iteration.is_multiple_of(self.every) {
            eprintln!("{}", progress_line(&format!("frame {frame:>5}  "), record));
        }
    }

    fn frame_done(&mut self, r: &FrameReport) {
        if !r.resumed {
            self.fresh += 1;
        }
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => eprintln!(
                "frame {:>5}  {:<11} iters {:>4}  evals {:>4}  loss {:.4e}  style {:.3e}  temporal {:.3e}  {:.1}s  {:.2} frames/min",
                r.index, r.init, r.iterations, r.evaluations, r.losses.total, r.losses.style, r.losses.temporal, r.seconds, self.fpm()
            ),
        }
    }

    fn fpm(&self) -> f64 {
        self.fresh as f64 * 60.0 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
