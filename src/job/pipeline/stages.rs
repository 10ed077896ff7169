//! The worker threads of a video job, joined by bounded channels so the clip
//! is never held in memory: the decoder yields frames, the flow stage adds
//! each frame's flow pairs, and the encoder writes finished frames. The
//! optimiser runs on the caller's thread between flow and encoder. A worker
//! that fails or panics surfaces as an error of the job when it is joined.
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use image::RgbImage;

use crate::error::{panic_message, Error, Result};
use crate::files::{write_error, WriteError};
use crate::temporal::{FlowPair, FlowTracker, TemporalPlan};
use crate::video::pattern::Pattern;
use crate::video::write_image_atomic;
use crate::video::{Frame, FrameSource, VideoError, VideoWriter};

use crate::job::store::lock::Held;
use crate::job::store::outputs::part_path;

/// Frames decoded ahead of the optimiser, and finished frames waiting for the encoder.
const QUEUE: usize = 4;
/// Frames with flow waiting for the optimiser.
const FLOW_QUEUE: usize = 2;

/// A decoded frame with the flow pairs to its predecessors.
pub struct Prepared {
    pub frame: Frame,
    pub pairs: Vec<FlowPair>,
    pub flow_seconds: f64,
}

/// A running worker thread and how far it got.
pub struct Worker<T> {
    name: &'static str,
    handle: thread::JoinHandle<T>,
    progress: Arc<AtomicUsize>,
}

impl<T> Worker<T> {
    fn spawn(name: &'static str, body: impl FnOnce(&AtomicUsize) -> T + Send + 'static) -> Self
    where
        T: Send + 'static,
    {
        let progress = Arc::new(AtomicUsize::new(0));
        let p = progress.clone();
        let handle = thread::Builder::new()
            .name(format!("vstyle-{name}"))
            .spawn(move || body(&p))
            .expect("spawn a worker thread");
        Self {
            name,
            handle,
            progress,
        }
    }

    /// Waits for the thread; a panic becomes an error naming `input` and the
    /// frame the thread was at.
    pub fn join(self, input: &Path) -> Result<T> {
        self.handle.join().map_err(|payload| Error::Worker {
            input: input.display().to_string(),
            stage: self.name,
            frame: self.progress.load(Ordering::SeqCst),
            message: panic_message(payload.as_ref()),
        })
    }
}

/// Decodes `source` on its own thread; a decoding error ends the stream.
pub fn decode(source: FrameSource) -> (Receiver<Result<Frame, VideoError>>, Worker<()>) {
    let (tx, rx) = sync_channel(QUEUE);
    let worker = Worker::spawn("decoder", move |progress| {
        for item in source {
            let stop_after = item.is_err();
            if tx.send(item).is_err() || stop_after {
                break;
            }
            progress.fetch_add(1, Ordering::SeqCst);
        }
    });
    (rx, worker)
}

/// Adds each frame's flow pairs on its own thread, ahead of the optimiser.
pub fn flow(
    frames: Receiver<Result<Frame, VideoError>>,
    plan: TemporalPlan,
) -> (Receiver<Result<Prepared, VideoError>>, Worker<()>) {
    let (tx, rx) = sync_channel(FLOW_QUEUE);
    let worker = Worker::spawn("flow", move |progress| {
        let mut tracker = FlowTracker::new(plan);
        for item in frames {
            let prepared = item.map(|frame| {
                let start = Instant::now();
                let pairs = tracker.push(&frame.image);
                Prepared {
                    frame,
                    pairs,
                    flow_seconds: start.elapsed().as_secs_f64(),
                }
            });
            if tx.send(prepared).is_err() {
                return;
            }
            progress.fetch_add(1, Ordering::SeqCst);
        }
    });
    (rx, worker)
}

/// Where the encoder writes: the video (through `<video>.part`) and the
/// optional image sequence.
pub struct Sinks {
    pub video: Option<(VideoWriter, PathBuf)>,
    pub frames: Option<Pattern>,
    /// The work directory's lock: no output is put in place once it is lost.
    pub held: Option<Held>,
}

impl Sinks {
    /// Nothing to write: the frames only go to the work directory.
    pub fn none() -> Self {
        Self {
            video: None,
            frames: None,
            held: None,
        }
    }

    /// Puts outputs in place only while `held` is this process's lock.
    pub fn held_by(mut self, held: Held) -> Self {
        self.held = Some(held);
        self
    }
}

/// The encoder thread; the video is renamed into place only by a `finish`
/// that does not abort.
pub struct Encoder {
    tx: Option<SyncSender<(usize, RgbImage)>>,
    worker: Worker<Result<usize>>,
    abort: Arc<AtomicBool>,
}

impl Encoder {
    pub fn start(sinks: Sinks) -> Self {
        let (tx, rx) = sync_channel::<(usize, RgbImage)>(QUEUE);
        let abort = Arc::new(AtomicBool::new(false));
        let abort2 = abort.clone();
        let worker = Worker::spawn("encoder", move |progress| {
            encode_all(sinks, rx, progress, &abort2)
        });
        Self {
            tx: Some(tx),
            worker,
            abort,
        }
    }

    /// Queues a finished frame; false when the encoder has stopped (its
    /// error comes out of `finish`).
    pub fn send(&self, index: usize, img: RgbImage) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| tx.send((index, img)).is_ok())
    }

    /// Closes the stream; with `abort`, the temporary video is deleted.
    pub fn finish(mut self, abort: bool, input: &Path) -> Result<usize> {
        self.abort.store(abort, Ordering::SeqCst);
        self.tx.take();
        self.worker.join(input)?
    }
}

fn encode_all(
    sinks: Sinks,
    rx: Receiver<(usize, RgbImage)>,
    progress: &AtomicUsize,
    abort: &AtomicBool,
) -> Result<usize> {
    let Sinks {
        mut video,
        frames,
        held,
    } = sinks;
    let ensure_held = || held.as_ref().map_or(Ok(()), Held::ensure_held);
    let written = write_frames(&mut video, frames.as_ref(), rx, progress, &ensure_held);
    let Some((w, path)) = video else {
        return written;
    };
    let part = part_path(&path);
    let complete = written.as_ref().is_ok_and(|&n| n > 0) && !abort.load(Ordering::SeqCst);
    let lost = if complete { ensure_held().err() } else { None };
    if let Some(e) = lost {
        drop(w);
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    if complete {
        w.finish().map_err(|e| encode_err(&path, e))?;
        std::fs::rename(&part, &path).map_err(|e| write_error(&path, e))?;
        crate::files::sync_dir(&path)?;
    } else {
        // Nothing that looks like a finished video is left behind.
        drop(w);
        let _ = std::fs::remove_file(&part);
    }
    written
}

fn write_frames(
    video: &mut Option<(VideoWriter, PathBuf)>,
    frames: Option<&Pattern>,
    rx: Receiver<(usize, RgbImage)>,
    progress: &AtomicUsize,
    ensure_held: &dyn Fn() -> Result<()>,
) -> Result<usize> {
    let mut count = 0;
    for (index, img) in rx {
        if let Some((w, path)) = video.as_mut() {
            w.write(&img).map_err(|e| encode_err(path, e))?;
        }
        if let Some(p) = frames {
            ensure_held()?;
            write_image_atomic(&p.render(index), &img)?;
        }
        count += 1;
        progress.store(count, Ordering::SeqCst);
    }
    Ok(count)
}

fn encode_err(path: &Path, e: VideoError) -> Error {
    write_error(path, WriteError::Fill(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobConfig;
    use crate::video::Timeline;

    fn frame(index: usize, w: u32, h: u32) -> Frame {
        Frame {
            index,
            source_index: index,
            image: RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 9])),
        }
    }

    #[test]
    fn a_panicking_worker_is_an_error_naming_input_stage_and_frame() {
        let (tx, rx) = sync_channel(4);
        tx.send(Ok(frame(0, 32, 24))).unwrap();
        // A frame of another size: the flow stage cannot pair it and panics.
        tx.send(Ok(frame(1, 16, 12))).unwrap();
        drop(tx);
        let (out, worker) = flow(rx, TemporalPlan::of(&JobConfig::default()));
        let got: Vec<_> = out.iter().collect();
        assert_eq!(got.len(), 1, "only the frame before the fault comes out");
        let err = worker.join(Path::new("clip.mp4")).unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                Error::Worker {
                    stage: "flow",
                    frame: 1,
                    ..
                }
            ),
            "{msg}"
        );
        assert!(
            msg.starts_with("clip.mp4: the flow thread failed near frame 1: "),
            "{msg}"
        );
        assert_eq!(msg.lines().count(), 1);
    }

    #[test]
    fn an_aborted_encoder_leaves_no_video() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.mp4");
        let writer = VideoWriter::create(
            &part_path(&path),
            Some("mp4"),
            32,
            24,
            &Timeline::constant((25, 1), 0, 0.0),
            None,
            &Default::default(),
        )
        .unwrap();
        let enc = Encoder::start(Sinks {
            video: Some((writer, path.clone())),
            frames: None,
            held: None,
        });
        assert!(enc.send(0, frame(0, 32, 24).image));
        assert_eq!(enc.finish(true, Path::new("in.mp4")).unwrap(), 1);
        assert!(!path.exists() && !part_path(&path).exists());
    }
}
