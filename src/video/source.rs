//! `FrameSource`: frames from a video file, an image directory, a numbered pattern or one
//! image, selected and resized as the job asks.
use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};

use image::RgbImage;

use super::*;

/// What kind of input a [`FrameSource`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Video,
    ImageSequence,
    Image,
}

/// Description of an opened source.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub path: PathBuf,
    /// Size of the frames yielded (upright, after resize).
    pub width: u32,
    pub height: u32,
    /// Size of the source's frames as shown (a quarter turn swaps the stored sides).
    pub source_width: u32,
    pub source_height: u32,
    /// How stored frames are turned to show upright (applied before they are yielded).
    pub orientation: Orientation,
    /// Average output frame rate: the source rate divided by `step` (image sequences:
    /// `input.fps`, default 25, divided by step).
    pub frame_rate: (i32, i32),
    /// When each yielded frame is shown.
    pub timeline: Timeline,
    /// The colours the source declares (image files: unspecified).
    pub colour: Colour,
    /// "top field first" or "bottom field first" for an interlaced source (deinterlaced
    /// with yadif as it is read).
    pub interlaced: Option<&'static str>,
    /// Time base of the source video stream (image inputs: 1/25).
    pub time_base: (i32, i32),
    /// Frames this source will yield after range/step/max (an estimate for video).
    pub frame_count: Option<usize>,
    pub has_audio: bool,
}

/// One yielded frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position in the yielded sequence, 0-based.
    pub index: usize,
    /// Index of the frame in the source, 0-based.
    pub source_index: usize,
    pub image: RgbImage,
}

pub(super) enum Inner {
    Video {
        dec: Box<Decoder>,
        conv: RgbConverter,
    },
    Images {
        /// Selected (source index, file), in order.
        queue: VecDeque<(usize, PathBuf)>,
        /// The first selected image, decoded at open time.
        first: Option<RgbImage>,
    },
}

/// Lazily decoded frames of a video, an image sequence or a single image.
pub struct FrameSource {
    pub(super) info: SourceInfo,
    pub(super) opts: SourceOptions,
    pub(super) yielded: usize,
    pub(super) done: bool,
    pub(super) inner: Inner,
}

pub(super) const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

pub(super) fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

pub(super) fn list_image_dir(dir: &Path) -> Result<Vec<PathBuf>, VideoError> {
    let entries = fs::read_dir(dir).map_err(|e| VideoError::Open {
        path: dir.to_path_buf(),
        reason: e.into(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let visible = !name.to_string_lossy().starts_with('.');
            visible && e.path().is_file() && has_image_extension(&e.path())
        })
        .map(|e| e.path())
        .collect();
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if files.is_empty() {
        return Err(VideoError::NoImages {
            path: dir.to_path_buf(),
        });
    }
    Ok(files)
}

/// An image sequence's rate: `input.fps` (as a fraction with up to three decimals), else 25.
pub(super) fn image_rate(opts: &SourceOptions) -> (i32, i32) {
    match opts.fps {
        Some(fps) => reduce((fps * 1000.0).round().max(1.0) as i64, 1000),
        None => (25, 1),
    }
}

/// The files `input` is read from, found as [`FrameSource::open`] finds
/// them: the video or image itself, or every file of an image sequence.
pub fn input_files(input: &Path) -> Result<Vec<PathBuf>, VideoError> {
    if input.is_dir() {
        return list_image_dir(input);
    }
    match Pattern::parse(input).filter(|_| !input.exists()) {
        Some(pattern) => pattern.files(input),
        None => Ok(vec![input.to_path_buf()]),
    }
}

impl FrameSource {
    /// Opens `input`: a video file, a directory of images (sorted by name; png/jpg/jpeg/bmp), a
    /// printf pattern like `frames/%05d.png` (numbering starts at 0 or 1; a gap is an error naming
    /// the missing file), or one image.
    pub fn open(input: &Path, opts: &SourceOptions) -> Result<Self, VideoError> {
        init();
        if opts.step == 0 {
            return Err(VideoError::InvalidOptions {
                path: input.to_path_buf(),
                reason: "step must be at least 1".into(),
            });
        }
        if opts.size.is_some_and(|s| s < 2) {
            return Err(VideoError::InvalidOptions {
                path: input.to_path_buf(),
                reason: "size must be at least 2".into(),
            });
        }
        if !input.exists() {
            if let Some(pattern) = Pattern::parse(input) {
                let files = pattern.files(input)?;
                return Self::open_images(input, SourceKind::ImageSequence, files, opts);
            }
            return Err(VideoError::NotFound {
                path: input.to_path_buf(),
            });
        }
        if input.is_dir() {
            let files = list_image_dir(input)?;
            return Self::open_images(input, SourceKind::ImageSequence, files, opts);
        }
        if has_image_extension(input) {
            return Self::open_images(input, SourceKind::Image, vec![input.to_path_buf()], opts);
        }
        Self::open_video(input, opts)
    }

    pub(super) fn open_video(input: &Path, opts: &SourceOptions) -> Result<Self, VideoError> {
        let (dec, facts) = Decoder::open(input)?;
        let turn = facts.orientation;
        let (shown_w, shown_h) = turn.displayed(facts.width, facts.height);
        let (width, height) = target_dims(shown_w, shown_h, opts.size);
        let (stored_w, stored_h) = turn.stored(width, height);
        let rate = facts.frame_rate.unwrap_or((25, 1));
        let count = facts.frames.map(|n| selection_count(n, opts));
        let timeline = match packet_times(input)? {
            Some(pts) => Timeline::select(&pts, facts.time_base, rate, opts),
            None => Timeline::constant(
                reduce(rate.0 as i64, rate.1 as i64 * opts.step as i64),
                count.unwrap_or(0),
                opts.start as f64 * rate.1 as f64 / rate.0 as f64,
            ),
        };
        let info = SourceInfo {
            kind: SourceKind::Video,
            path: input.to_path_buf(),
            width,
            height,
            source_width: shown_w,
            source_height: shown_h,
            orientation: turn,
            colour: facts.colour,
            interlaced: facts.field_order,
            frame_rate: timeline.rate,
            timeline,
            time_base: facts.time_base,
            frame_count: count,
            has_audio: facts.has_audio,
        };
        Ok(FrameSource {
            info,
            opts: opts.clone(),
            yielded: 0,
            done: false,
            inner: Inner::Video {
                dec: Box::new(dec),
                conv: RgbConverter::new(stored_w, stored_h),
            },
        })
    }

    pub(super) fn open_images(
        input: &Path,
        kind: SourceKind,
        files: Vec<PathBuf>,
        opts: &SourceOptions,
    ) -> Result<Self, VideoError> {
        let total = files.len();
        let mut queue = VecDeque::new();
        for (i, f) in files.into_iter().enumerate() {
            match pick(opts, i, queue.len()) {
                Pick::Take => queue.push_back((i, f)),
                Pick::Skip => {}
                Pick::Stop => break,
            }
        }
        let (first, sw, sh) = match queue.front() {
            Some((_, path)) => {
                let img = read_image(path)?;
                let (w, h) = img.dimensions();
                (Some(img), w, h)
            }
            None => {
                // Nothing selected: an image source needs a first image for its size.
                return Err(VideoError::InvalidOptions {
                    path: input.to_path_buf(),
                    reason: format!(
                        "no frames selected (start {}, end {:?}, {} image(s) available)",
                        opts.start, opts.end, total
                    )
                    .into(),
                });
            }
        };
        let (width, height) = target_dims(sw, sh, opts.size);
        let rate = image_rate(opts);
        let step_rate = reduce(rate.0 as i64, rate.1 as i64 * opts.step as i64);
        let origin = opts.start as f64 * rate.1 as f64 / rate.0 as f64;
        let info = SourceInfo {
            kind,
            path: input.to_path_buf(),
            width,
            height,
            source_width: sw,
            source_height: sh,
            orientation: Orientation::UPRIGHT,
            colour: Colour::unspecified(),
            interlaced: None,
            frame_rate: step_rate,
            timeline: Timeline::constant(step_rate, queue.len(), origin),
            time_base: (rate.1, rate.0),
            frame_count: Some(queue.len()),
            has_audio: false,
        };
        Ok(FrameSource {
            info,
            opts: opts.clone(),
            yielded: 0,
            done: false,
            inner: Inner::Images { queue, first },
        })
    }

    pub fn info(&self) -> &SourceInfo {
        &self.info
    }

    /// The span, in seconds of the source, covered by the first `frames` frames this source
    /// yields (starting at `start`): pass it to [`VideoWriter::create`] as the audio span.
    pub fn audio_span(&self, frames: usize) -> (f64, f64) {
        self.info.timeline.span(frames)
    }

    pub(super) fn next_video(&mut self) -> Option<Result<Frame, VideoError>> {
        let Inner::Video { dec, conv } = &mut self.inner else {
            unreachable!("next_video on an image source")
        };
        loop {
            if let Pick::Stop = pick(&self.opts, dec.decoded, self.yielded) {
                self.done = true;
                return None;
            }
            match dec.next_raw()? {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(()) => {
                    let source_index = dec.decoded - 1;
                    match pick(&self.opts, source_index, self.yielded) {
                        Pick::Stop => {
                            self.done = true;
                            return None;
                        }
                        Pick::Skip => continue,
                        Pick::Take => {
                            let turn = self.info.orientation;
                            let image = conv
                                .convert(&dec.frame)
                                .map(|img| turn.apply(img))
                                .map_err(|reason| VideoError::Decode {
                                    path: dec.path.clone(),
                                    frame: source_index,
                                    reason,
                                });
                            return Some(self.yield_frame(source_index, image));
                        }
                    }
                }
            }
        }
    }

    pub(super) fn next_image(&mut self) -> Option<Result<Frame, VideoError>> {
        let Inner::Images { queue, first } = &mut self.inner else {
            unreachable!("next_image on a video source")
        };
        let (source_index, path) = queue.pop_front()?;
        let image = match first.take() {
            Some(img) => Ok(img),
            None => read_image(&path),
        };
        let image = image.and_then(|img| {
            let expected = (self.info.source_width, self.info.source_height);
            if img.dimensions() != expected {
                Err(VideoError::SizeMismatch {
                    path: path.clone(),
                    frame: source_index,
                    expected,
                    found: img.dimensions(),
                })
            } else {
                Ok(resize_rgb(img, self.info.width, self.info.height))
            }
        });
        Some(self.yield_frame(source_index, image))
    }

    /// Numbers a decoded frame in the yielded sequence; an error ends the source.
    pub(super) fn yield_frame(
        &mut self,
        source_index: usize,
        image: Result<RgbImage, VideoError>,
    ) -> Result<Frame, VideoError> {
        match image {
            Ok(image) => {
                let frame = Frame {
                    index: self.yielded,
                    source_index,
                    image,
                };
                self.yielded += 1;
                Ok(frame)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }
}

impl SourceInfo {
    /// What was done to read the source as shown, for the report and `vstyle check`: turns,
    /// timing, colours, padding. Empty for a plain upright constant-rate 8-bit clip.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.orientation != Orientation::UPRIGHT {
            notes.push(format!(
                "shown {} (display matrix): stylized upright and written without the tag",
                self.orientation.describe()
            ));
        }
        if let Some(order) = self.interlaced {
            notes.push(format!("interlaced ({order}): deinterlaced with yadif"));
        }
        let (n, d) = self.frame_rate;
        match self.kind {
            SourceKind::Video if !self.timeline.is_constant() => notes.push(format!(
                "variable frame rate (average {:.3} fps): each frame keeps its time",
                n as f64 / d as f64
            )),
            SourceKind::ImageSequence => notes.push(format!(
                "image sequence shown at {n}/{d} fps (input.fps, default 25, over input.step)"
            )),
            _ => {}
        }
        if self.kind == SourceKind::Video {
            notes.push(format!(
                "colours written: {}",
                self.colour.for_output().describe()
            ));
        }
        let odd = |w: u32, h: u32| w % 2 == 1 || h % 2 == 1;
        if odd(self.source_width, self.source_height) && !odd(self.width, self.height) {
            notes.push(format!(
                "{}x{} has an odd side: stylized at {}x{} (sizes are kept even for 4:2:0)",
                self.source_width, self.source_height, self.width, self.height
            ));
        }
        if odd(self.width, self.height) {
            notes.push(format!(
                "{}x{} is odd: the video is padded to {}x{} (last column / row repeated) for 4:2:0",
                self.width,
                self.height,
                self.width + self.width % 2,
                self.height + self.height % 2
            ));
        }
        notes
    }
}

impl Iterator for FrameSource {
    type Item = Result<Frame, VideoError>;

    /// The next frame. An error (e.g. a truncated file) is yielded once, after the frames before
    /// it; the iterator then ends.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = match self.inner {
            Inner::Video { .. } => self.next_video(),
            Inner::Images { .. } => self.next_image(),
        };
        if item.is_none() {
            self.done = true;
        }
        item
    }
}
