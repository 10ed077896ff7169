//! Frame input and video output.
//!
//! * [`FrameSource`] yields RGB frames lazily from a video file (decoded with FFmpeg), a directory of
//!   images, a printf-style image pattern (`frames/%05d.png`) or a single image, with range / step /
//!   resize options applied.
//! * [`VideoWriter`] encodes RGB frames to H.264 (libx264 when the FFmpeg build has it, else another
//!   H.264 / MPEG-4 encoder), yuv420p, even dimensions, constant frame rate, and can stream-copy the
//!   first audio stream of another file, cut to the span of the frames written.
//! * [`read_image`] / [`write_image_atomic`] handle single images.
//!
//! Colour handling: decoded YUV is converted with the matrix and range the stream declares (BT.601
//! when it declares none); encoded video is converted with BT.709, limited range, and tagged so.
//!
//! Both [`FrameSource`] and [`VideoWriter`] are `Send` (not `Sync`): each can be moved to its own
//! thread so that decoding, stylization and encoding overlap.

use std::collections::{BTreeSet, VecDeque};
use std::ffi::c_int;
use std::fmt::Display;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Once;

use ffmpeg::format::Pixel;
use ffmpeg::software::scaling;
use ffmpeg::{codec, color, encoder, format, frame, media, Dictionary, Packet, Rational};
use ffmpeg_next as ffmpeg;

pub use image::RgbImage;

/// Errors of this module. Every message is one line and names the file it is about.
#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("input not found: {}", .path.display())]
    NotFound { path: PathBuf },
    #[error("cannot open {}: {reason}", .path.display())]
    Open { path: PathBuf, reason: String },
    #[error("invalid options for {}: {reason}", .path.display())]
    InvalidOptions { path: PathBuf, reason: String },
    #[error("cannot decode {} at frame {frame}: {reason}", .path.display())]
    Decode {
        path: PathBuf,
        frame: usize,
        reason: String,
    },
    #[error("cannot read image {}: {reason}", .path.display())]
    Image { path: PathBuf, reason: String },
    #[error(
        "image {} (frame {frame}) is {}x{} but the sequence is {}x{}",
        .path.display(), .found.0, .found.1, .expected.0, .expected.1
    )]
    SizeMismatch {
        path: PathBuf,
        frame: usize,
        expected: (u32, u32),
        found: (u32, u32),
    },
    #[error("missing image {} in sequence {}", .path.display(), .pattern.display())]
    MissingFrame { path: PathBuf, pattern: PathBuf },
    #[error("no images found for {}", .path.display())]
    NoImages { path: PathBuf },
    #[error("no usable video encoder for {}: {reason}", .path.display())]
    Codec { path: PathBuf, reason: String },
    #[error("cannot encode {} at frame {frame}: {reason}", .path.display())]
    Encode {
        path: PathBuf,
        frame: usize,
        reason: String,
    },
    #[error("cannot write {}: {reason}", .path.display())]
    Write { path: PathBuf, reason: String },
    #[error("cannot copy audio from {} into {}: {reason}", .source_path.display(), .path.display())]
    Audio {
        path: PathBuf,
        source_path: PathBuf,
        reason: String,
    },
}

/// Formats an error cause as a single line.
fn one_line(e: impl Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The level of FFmpeg's own log: silent, unless logging is asked for FFmpeg
/// (`RUST_LOG=ffmpeg=debug`, or `RUST_LOG=debug`). A damaged stream makes
/// FFmpeg print a line per broken packet or macroblock on stderr, while vstyle
/// reports a failure as one line of its own (and conceals damage it can).
fn ffmpeg_log_level() -> ffmpeg::log::Level {
    if log::log_enabled!(target: "ffmpeg", log::Level::Debug) {
        ffmpeg::log::Level::Warning
    } else {
        ffmpeg::log::Level::Quiet
    }
}

/// Initialises FFmpeg once and sets its log level.
fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // `init` only registers devices in FFmpeg >= 4; failing that is harmless for files.
        let _ = ffmpeg::init();
        ffmpeg::log::set_level(ffmpeg_log_level());
    });
}

fn is_eagain(e: &ffmpeg::Error) -> bool {
    matches!(e, ffmpeg::Error::Other { errno } if *errno == ffmpeg::error::EAGAIN)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

fn reduce(num: i64, den: i64) -> (i32, i32) {
    let g = gcd(num, den).max(1);
    let (mut n, mut d) = (num / g, den / g);
    // Keep within i32 (only matters for absurd rates).
    while n > i32::MAX as i64 || d > i32::MAX as i64 {
        n /= 2;
        d /= 2;
    }
    (n as i32, d.max(1) as i32)
}

/// Size of the frames yielded for a source of `w`x`h` and the `size` option.
fn target_dims(w: u32, h: u32, size: Option<u32>) -> (u32, u32) {
    match size {
        None => (w, h),
        Some(s) => {
            let scale = s as f64 / w.max(h) as f64;
            let even = |x: u32| (((x as f64 * scale) / 2.0).round() as u32 * 2).max(2);
            (even(w), even(h))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Source side
// ---------------------------------------------------------------------------------------------

/// What kind of input a [`FrameSource`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Video,
    ImageSequence,
    Image,
}

/// Which frames to read, and at what size.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// First source frame index (0-based).
    pub start: usize,
    /// Exclusive end source index.
    pub end: Option<usize>,
    /// Take every n-th frame (>= 1).
    pub step: usize,
    /// Stop after this many yielded frames.
    pub max_frames: Option<usize>,
    /// Resize so that the longest side is this (aspect kept, dimensions rounded to even numbers).
    pub size: Option<u32>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            start: 0,
            end: None,
            step: 1,
            max_frames: None,
            size: None,
        }
    }
}

/// Description of an opened source.
#[derive(Debug, Clone)]
pub struct SourceInfo {
    pub kind: SourceKind,
    pub path: PathBuf,
    /// Size of the frames yielded (after resize).
    pub width: u32,
    pub height: u32,
    pub source_width: u32,
    pub source_height: u32,
    /// Output frame rate: the source rate divided by `step` (image sequences: 25/1 divided by step).
    pub frame_rate: (i32, i32),
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

enum Pick {
    Take,
    Skip,
    Stop,
}

fn pick(o: &SourceOptions, source_index: usize, yielded: usize) -> Pick {
    if o.max_frames.is_some_and(|m| yielded >= m) || o.end.is_some_and(|e| source_index >= e) {
        Pick::Stop
    } else if source_index < o.start || !(source_index - o.start).is_multiple_of(o.step) {
        Pick::Skip
    } else {
        Pick::Take
    }
}

/// Number of frames selected out of `total` source frames.
fn selection_count(total: usize, o: &SourceOptions) -> usize {
    let end = o.end.map_or(total, |e| e.min(total));
    let n = if end > o.start {
        (end - o.start).div_ceil(o.step)
    } else {
        0
    };
    o.max_frames.map_or(n, |m| n.min(m))
}

/// An owned swscale context. `SwsContext` has no thread affinity; the wrapper is only ever used
/// through `&mut`, so moving it to another thread is sound.
struct Scaler(scaling::Context);

// SAFETY: see the type's documentation: exclusively owned, never shared between threads.
unsafe impl Send for Scaler {}

/// Sets the YUV matrix / range swscale uses on either side of a conversion.
/// `src_space` / `dst_space` are `AVColorSpace` values (unspecified falls back to BT.601).
fn set_colorspace(
    s: &mut Scaler,
    src_space: c_int,
    src_full: bool,
    dst_space: c_int,
    dst_full: bool,
) {
    // SAFETY: the context pointer is valid for the scaler's lifetime; the coefficient tables are
    // static data returned by swscale itself.
    unsafe {
        let inv = ffmpeg::ffi::sws_getCoefficients(src_space);
        let table = ffmpeg::ffi::sws_getCoefficients(dst_space);
        ffmpeg::ffi::sws_setColorspaceDetails(
            s.0.as_mut_ptr(),
            inv,
            src_full as c_int,
            table,
            dst_full as c_int,
            0,
            1 << 16,
            1 << 16,
        );
    }
}

fn is_full_range(f: &frame::Video) -> bool {
    f.color_range() == color::Range::JPEG
        || matches!(
            f.format(),
            Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P | Pixel::YUVJ440P | Pixel::YUVJ411P
        )
}

/// Converts decoded frames of any pixel format / size to RGB24 of a fixed size.
struct RgbConverter {
    width: u32,
    height: u32,
    key: Option<(Pixel, u32, u32, color::Space, bool)>,
    scaler: Option<Scaler>,
    rgb: frame::Video,
}

impl RgbConverter {
    fn new(width: u32, height: u32) -> Self {
        RgbConverter {
            width,
            height,
            key: None,
            scaler: None,
            rgb: frame::Video::empty(),
        }
    }

    fn convert(&mut self, f: &frame::Video) -> Result<RgbImage, String> {
        let key = (
            f.format(),
            f.width(),
            f.height(),
            f.color_space(),
            is_full_range(f),
        );
        if self.key != Some(key) || self.scaler.is_none() {
            let downscale =
                (self.width as u64 * self.height as u64) < (f.width() as u64 * f.height() as u64);
            let filter = if downscale {
                scaling::Flags::AREA
            } else {
                scaling::Flags::BICUBIC
            };
            let ctx = scaling::Context::get(
                f.format(),
                f.width(),
                f.height(),
                Pixel::RGB24,
                self.width,
                self.height,
                filter | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INT,
            )
            .map_err(|e| {
                format!(
                    "cannot convert {:?} {}x{} to RGB: {}",
                    f.format(),
                    f.width(),
                    f.height(),
                    one_line(e)
                )
            })?;
            let mut scaler = Scaler(ctx);
            let space = ffmpeg::ffi::AVColorSpace::from(f.color_space()) as c_int;
            set_colorspace(&mut scaler, space, key.4, space, true);
            self.scaler = Some(scaler);
            self.key = Some(key);
        }
        let scaler = self.scaler.as_mut().expect("scaler set above");
        scaler.0.run(f, &mut self.rgb).map_err(one_line)?;
        let (w, h) = (self.width as usize, self.height as usize);
        let stride = self.rgb.stride(0);
        let data = self.rgb.data(0);
        let row = w * 3;
        let mut buf = Vec::with_capacity(row * h);
        for y in 0..h {
            buf.extend_from_slice(&data[y * stride..y * stride + row]);
        }
        RgbImage::from_raw(self.width, self.height, buf)
            .ok_or_else(|| "bad RGB buffer size".to_string())
    }
}

/// Lazily decodes the best video stream of a file.
struct Decoder {
    path: PathBuf,
    input: format::context::Input,
    stream_index: usize,
    decoder: ffmpeg::decoder::Video,
    frame: frame::Video,
    /// Frames received from the decoder so far (the next frame's source index).
    decoded: usize,
    eof_sent: bool,
    finished: bool,
    /// A read / decode error, reported (at the index of the first frame not decoded) once the
    /// frames still buffered in the decoder have been returned.
    pending_error: Option<String>,
    /// Whether the last packet of the stream read so far was flagged corrupt (a partial packet
    /// at the end means the file is truncated).
    last_packet_corrupt: bool,
    /// Where the container's index puts the last video packet (MP4 and other indexed formats):
    /// a file that ends before it was cut short, even when it ends on a packet boundary.
    last_indexed_pos: Option<u64>,
    /// The file's size when opened.
    file_len: u64,
}

/// The largest byte position of the packets the container's index lists for `stream`.
fn last_indexed_position(stream: &format::stream::Stream) -> Option<u64> {
    // SAFETY: the stream belongs to an open input context that outlives this call; the index
    // entries are read (not kept) while the context is not used elsewhere.
    unsafe {
        let st = stream.as_ptr() as *mut ffmpeg::ffi::AVStream;
        let n = ffmpeg::ffi::avformat_index_get_entries_count(st);
        (0..n)
            .filter_map(|i| {
                let e = ffmpeg::ffi::avformat_index_get_entry(st, i);
                (!e.is_null()).then(|| (*e).pos)
            })
            .filter(|&pos| pos >= 0)
            .max()
            .map(|pos| pos as u64)
    }
}

/// Stream facts gathered at open time.
struct StreamFacts {
    width: u32,
    height: u32,
    frame_rate: Option<(i32, i32)>,
    time_base: (i32, i32),
    frames: Option<usize>,
    has_audio: bool,
}

impl Decoder {
    fn open(path: &Path) -> Result<(Self, StreamFacts), VideoError> {
        init();
        let open_err = |reason: String| VideoError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let input = format::input(&path).map_err(|e| open_err(one_line(e)))?;
        let has_audio = input
            .streams()
            .any(|s| s.parameters().medium() == media::Type::Audio);
        let stream = input
            .streams()
            .best(media::Type::Video)
            .ok_or_else(|| open_err("no video stream".into()))?;
        let stream_index = stream.index();
        let last_indexed_pos = last_indexed_position(&stream);
        let file_len = fs::metadata(path).map_or(u64::MAX, |m| m.len());
        let tb = stream.time_base();
        let valid = |r: Rational| r.numerator() > 0 && r.denominator() > 0;
        let frame_rate = [stream.avg_frame_rate(), stream.rate()]
            .into_iter()
            .find(|r| valid(*r))
            .map(|r| reduce(r.numerator() as i64, r.denominator() as i64));
        let frames = if stream.frames() > 0 {
            Some(stream.frames() as usize)
        } else {
            let secs = if stream.duration() > 0 && valid(tb) {
                Some(stream.duration() as f64 * f64::from(tb))
            } else if input.duration() > 0 {
                Some(input.duration() as f64 / ffmpeg::ffi::AV_TIME_BASE as f64)
            } else {
                None
            };
            match (secs, frame_rate) {
                (Some(s), Some((n, d))) => Some((s * n as f64 / d as f64).round() as usize),
                _ => None,
            }
        };
        let mut ctx = codec::context::Context::from_parameters(stream.parameters())
            .map_err(|e| open_err(one_line(e)))?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let mut threading = ffmpeg::threading::Config::kind(ffmpeg::threading::Type::Frame);
        threading.count = threads;
        ctx.set_threading(threading);
        let decoder = ctx
            .decoder()
            .video()
            .map_err(|e| open_err(format!("cannot open video decoder: {}", one_line(e))))?;
        if decoder.width() == 0 || decoder.height() == 0 {
            return Err(open_err("video stream has no dimensions".into()));
        }
        let facts = StreamFacts {
            width: decoder.width(),
            height: decoder.height(),
            frame_rate,
            time_base: (tb.numerator(), tb.denominator()),
            frames,
            has_audio,
        };
        let dec = Decoder {
            path: path.to_path_buf(),
            input,
            stream_index,
            decoder,
            frame: frame::Video::empty(),
            decoded: 0,
            eof_sent: false,
            finished: false,
            pending_error: None,
            last_packet_corrupt: false,
            last_indexed_pos,
            file_len,
        };
        Ok((dec, facts))
    }

    fn decode_error(&self, e: impl Display) -> VideoError {
        VideoError::Decode {
            path: self.path.clone(),
            frame: self.decoded,
            reason: one_line(e),
        }
    }

    /// Decodes the next frame into `self.frame`. `None` at the end; an error ends the stream
    /// (after the frames still buffered in the decoder have been returned).
    fn next_raw(&mut self) -> Option<Result<(), VideoError>> {
        if self.finished {
            return None;
        }
        loop {
            match self.decoder.receive_frame(&mut self.frame) {
                Ok(()) => {
                    self.decoded += 1;
                    return Some(Ok(()));
                }
                Err(e) if is_eagain(&e) => {}
                Err(ffmpeg::Error::Eof) => {
                    self.finished = true;
                    return self.take_pending_error().map(Err);
                }
                Err(e) => {
                    self.finished = true;
                    let err = self
                        .take_pending_error()
                        .unwrap_or_else(|| self.decode_error(e));
                    return Some(Err(err));
                }
            }
            if self.eof_sent {
                // The decoder wants input after EOF: nothing more will come out.
                self.finished = true;
                return self.take_pending_error().map(Err);
            }
            self.feed();
        }
    }

    fn take_pending_error(&mut self) -> Option<VideoError> {
        let reason = self.pending_error.take()?;
        Some(self.decode_error(reason))
    }

    /// Sends the next packet of the video stream to the decoder, or EOF (recording a read or
    /// decode error to be reported once the decoder is drained). Corrupt packets in the middle
    /// of the stream are passed on (the decoder conceals them, as the ffmpeg tool does); a
    /// corrupt last packet means the file is truncated, which is reported as an error.
    fn feed(&mut self) {
        let mut packet = Packet::empty();
        loop {
            match packet.read(&mut self.input) {
                Ok(()) => {
                    if packet.stream() != self.stream_index {
                        continue;
                    }
                    self.last_packet_corrupt = packet.is_corrupt();
                    match self.decoder.send_packet(&packet) {
                        Ok(()) => return,
                        Err(e) => {
                            self.pending_error = Some(one_line(e));
                            break;
                        }
                    }
                }
                Err(ffmpeg::Error::Eof) => {
                    if self.last_packet_corrupt {
                        self.pending_error =
                            Some("the file ends with an incomplete packet (truncated?)".into());
                    } else if self
                        .last_indexed_pos
                        .is_some_and(|pos| pos >= self.file_len)
                    {
                        self.pending_error = Some(format!(
                            "the file ends at byte {} but its index lists frames up to byte {} (truncated?)",
                            self.file_len,
                            self.last_indexed_pos.unwrap_or_default()
                        ));
                    }
                    break;
                }
                Err(e) => {
                    self.pending_error = Some(one_line(e));
                    break;
                }
            }
        }
        let _ = self.decoder.send_eof();
        self.eof_sent = true;
    }
}

enum Inner {
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
    info: SourceInfo,
    opts: SourceOptions,
    yielded: usize,
    done: bool,
    inner: Inner,
}

const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// A printf-style numbered file pattern (`%d` or `%0Nd`) in the file-name part of a path.
#[derive(Debug)]
struct Pattern {
    dir: PathBuf,
    prefix: String,
    suffix: String,
    width: usize,
}

impl Pattern {
    fn parse(path: &Path) -> Option<Pattern> {
        let name = path.file_name()?.to_str()?;
        let pos = name.find('%')?;
        let rest = &name[pos + 1..];
        let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
        let spec = &rest[..digits_end];
        if !rest[digits_end..].starts_with('d') {
            return None;
        }
        let width = if spec.is_empty() {
            0
        } else if spec.starts_with('0') {
            spec.parse().ok()?
        } else {
            return None;
        };
        // A usize has at most 20 digits; wider (`%070000d`) is no pattern of frame numbers, and
        // formatting with it would panic.
        if width > 20 {
            return None;
        }
        let suffix = &rest[digits_end + 1..];
        if suffix.contains('%') || name[..pos].contains('%') {
            return None;
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(Pattern {
            dir,
            prefix: name[..pos].to_string(),
            suffix: suffix.to_string(),
            width,
        })
    }

    fn render(&self, n: usize) -> PathBuf {
        self.dir.join(format!(
            "{}{:0w$}{}",
            self.prefix,
            n,
            self.suffix,
            w = self.width
        ))
    }

    fn number_of(&self, name: &str) -> Option<usize> {
        let mid = name
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: usize = mid.parse().ok()?;
        // Only names the pattern itself would produce.
        (format!("{:0w$}", n, w = self.width) == mid).then_some(n)
    }

    /// All files of the sequence, numbered from 0 or 1 without gaps.
    fn files(&self, pattern_path: &Path) -> Result<Vec<PathBuf>, VideoError> {
        let entries = fs::read_dir(&self.dir).map_err(|e| VideoError::Open {
            path: pattern_path.to_path_buf(),
            reason: one_line(e),
        })?;
        let numbers: BTreeSet<usize> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| self.number_of(n)))
            .collect();
        let (Some(&first), Some(&last)) = (numbers.first(), numbers.last()) else {
            return Err(VideoError::NoImages {
                path: pattern_path.to_path_buf(),
            });
        };
        if first > 1 {
            return Err(VideoError::MissingFrame {
                path: self.render(1),
                pattern: pattern_path.to_path_buf(),
            });
        }
        if let Some(missing) = (first..=last).find(|n| !numbers.contains(n)) {
            return Err(VideoError::MissingFrame {
                path: self.render(missing),
                pattern: pattern_path.to_path_buf(),
            });
        }
        Ok((first..=last).map(|n| self.render(n)).collect())
    }
}

fn list_image_dir(dir: &Path) -> Result<Vec<PathBuf>, VideoError> {
    let entries = fs::read_dir(dir).map_err(|e| VideoError::Open {
        path: dir.to_path_buf(),
        reason: one_line(e),
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

fn resize_rgb(img: RgbImage, w: u32, h: u32) -> RgbImage {
    if img.dimensions() == (w, h) {
        img
    } else {
        image::imageops::resize(&img, w, h, image::imageops::FilterType::CatmullRom)
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

    fn open_video(input: &Path, opts: &SourceOptions) -> Result<Self, VideoError> {
        let (dec, facts) = Decoder::open(input)?;
        let (width, height) = target_dims(facts.width, facts.height, opts.size);
        let rate = facts.frame_rate.unwrap_or((25, 1));
        let info = SourceInfo {
            kind: SourceKind::Video,
            path: input.to_path_buf(),
            width,
            height,
            source_width: facts.width,
            source_height: facts.height,
            frame_rate: reduce(rate.0 as i64, rate.1 as i64 * opts.step as i64),
            time_base: facts.time_base,
            frame_count: facts.frames.map(|n| selection_count(n, opts)),
            has_audio: facts.has_audio,
        };
        Ok(FrameSource {
            info,
            opts: opts.clone(),
            yielded: 0,
            done: false,
            inner: Inner::Video {
                dec: Box::new(dec),
                conv: RgbConverter::new(width, height),
            },
        })
    }

    fn open_images(
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
                    ),
                });
            }
        };
        let (width, height) = target_dims(sw, sh, opts.size);
        let info = SourceInfo {
            kind,
            path: input.to_path_buf(),
            width,
            height,
            source_width: sw,
            source_height: sh,
            frame_rate: reduce(25, opts.step as i64),
            time_base: (1, 25),
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
        let (n, d) = self.info.frame_rate;
        let out_period = d as f64 / n as f64;
        let start = self.opts.start as f64 * out_period / self.opts.step as f64;
        (start, start + frames as f64 * out_period)
    }

    fn next_video(&mut self) -> Option<Result<Frame, VideoError>> {
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
                            return Some(match conv.convert(&dec.frame) {
                                Ok(image) => {
                                    let frame = Frame {
                                        index: self.yielded,
                                        source_index,
                                        image,
                                    };
                                    self.yielded += 1;
                                    Ok(frame)
                                }
                                Err(reason) => {
                                    self.done = true;
                                    Err(VideoError::Decode {
                                        path: dec.path.clone(),
                                        frame: source_index,
                                        reason,
                                    })
                                }
                            });
                        }
                    }
                }
            }
        }
    }

    fn next_image(&mut self) -> Option<Result<Frame, VideoError>> {
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
        Some(match image {
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
        })
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

// ---------------------------------------------------------------------------------------------
// Single images
// ---------------------------------------------------------------------------------------------

/// Reads an image as RGB (alpha dropped, EXIF orientation applied). PNG and JPEG are decoded
/// with the `image` crate; other formats (BMP, ...) with FFmpeg.
pub fn read_image(path: &Path) -> Result<RgbImage, VideoError> {
    let err = |reason: String| VideoError::Image {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(VideoError::NotFound {
            path: path.to_path_buf(),
        });
    }
    let reader = image::ImageReader::open(path)
        .map_err(|e| err(one_line(e)))?
        .with_guessed_format()
        .map_err(|e| err(one_line(e)))?;
    if reader.format().is_none() {
        return read_image_ffmpeg(path);
    }
    let decoded = reader.into_decoder().and_then(|mut decoder| {
        use image::ImageDecoder;
        let orientation = decoder.orientation()?;
        let mut img = image::DynamicImage::from_decoder(decoder)?;
        img.apply_orientation(orientation);
        Ok(img)
    });
    match decoded {
        Ok(img) => Ok(img.to_rgb8()),
        Err(image::ImageError::Unsupported(_)) => read_image_ffmpeg(path),
        Err(e) => Err(err(one_line(e))),
    }
}

fn read_image_ffmpeg(path: &Path) -> Result<RgbImage, VideoError> {
    let err = |reason: String| VideoError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let (mut dec, facts) = Decoder::open(path).map_err(|e| match e {
        VideoError::Open { reason, .. } => err(reason),
        other => other,
    })?;
    match dec.next_raw() {
        Some(Ok(())) => RgbConverter::new(facts.width, facts.height)
            .convert(&dec.frame)
            .map_err(err),
        Some(Err(e)) => Err(err(match e {
            VideoError::Decode { reason, .. } => reason,
            other => other.to_string(),
        })),
        None => Err(err("no picture in file".into())),
    }
}

// ---------------------------------------------------------------------------------------------
// Output side
// ---------------------------------------------------------------------------------------------

/// Encoder settings.
#[derive(Debug, Clone)]
pub struct EncoderOptions {
    /// Encoder name (e.g. "libx264", "mpeg4"). `None`: libx264 if the build has it, else mpeg4,
    /// libopenh264, libxvid or any other H.264 / MPEG-4 encoder that opens.
    pub codec: Option<String>,
    /// Quality: x264/x265 CRF (default 18); for quantizer-based encoders (mpeg4, ...) mapped to a
    /// fixed quantizer (crf / 6, at least 1).
    pub crf: u8,
    /// Pixel format name as FFmpeg spells it (default "yuv420p"); if the encoder cannot take it,
    /// the encoder's first supported format is used.
    pub pixel_format: String,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions {
            codec: None,
            crf: 18,
            pixel_format: "yuv420p".into(),
        }
    }
}

/// Stream copy of one audio stream, cut to a time span, pumped as video is written.
struct AudioCopy {
    source_path: PathBuf,
    input: format::context::Input,
    in_index: usize,
    out_index: usize,
    in_tb: Rational,
    out_tb: Rational,
    /// Source timestamp (in `in_tb`) that maps to output time 0.
    shift: i64,
    /// Length of the span, seconds.
    span: f64,
    pending: Option<Packet>,
    done: bool,
}

impl AudioCopy {
    /// Opens `source` and adds a copy of its first audio stream to `octx`; `Ok(None)` if it has
    /// no audio.
    fn add(
        octx: &mut format::context::Output,
        out_path: &Path,
        source: &Path,
        start: f64,
        end: f64,
    ) -> Result<Option<AudioCopy>, VideoError> {
        let err = |reason: String| VideoError::Audio {
            path: out_path.to_path_buf(),
            source_path: source.to_path_buf(),
            reason,
        };
        let input = format::input(&source).map_err(|e| err(one_line(e)))?;
        let Some(ist) = input
            .streams()
            .find(|s| s.parameters().medium() == media::Type::Audio)
        else {
            return Ok(None);
        };
        let in_index = ist.index();
        let in_tb = ist.time_base();
        let params = ist.parameters();
        // SAFETY: querying static muxer capabilities with valid pointers.
        let supported = unsafe {
            ffmpeg::ffi::avformat_query_codec(
                octx.format().as_ptr(),
                ffmpeg::ffi::AVCodecID::from(params.id()),
                ffmpeg::ffi::FF_COMPLIANCE_NORMAL,
            )
        };
        if supported == 0 {
            return Err(err(format!(
                "audio codec {:?} cannot be stored in format {} without re-encoding",
                params.id(),
                octx.format().name()
            )));
        }
        // Time origin: the source's first video frame if it has video, else the container start.
        let origin = input
            .streams()
            .best(media::Type::Video)
            .filter(|v| v.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE)
            .map(|v| v.start_time() as f64 * f64::from(v.time_base()))
            .unwrap_or_else(|| {
                // SAFETY: reading a plain field of a valid format context.
                let st = unsafe { (*input.as_ptr()).start_time };
                if st == ffmpeg::ffi::AV_NOPTS_VALUE {
                    0.0
                } else {
                    st as f64 / ffmpeg::ffi::AV_TIME_BASE as f64
                }
            });
        let shift = ((origin + start) / f64::from(in_tb)).round() as i64;
        let out_index = {
            let mut ost = octx
                .add_stream(encoder::find(codec::Id::None))
                .map_err(|e| err(one_line(e)))?;
            ost.set_parameters(params);
            ost.set_time_base(in_tb);
            // SAFETY: the stream and its codec parameters were just allocated by libavformat.
            unsafe {
                (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
            }
            ost.index()
        };
        Ok(Some(AudioCopy {
            source_path: source.to_path_buf(),
            input,
            in_index,
            out_index,
            in_tb,
            out_tb: in_tb,
            shift,
            span: (end - start).max(0.0),
            pending: None,
            done: false,
        }))
    }

    /// Copies audio packets that start before `until` seconds (output time).
    fn pump(
        &mut self,
        octx: &mut format::context::Output,
        out_path: &Path,
        until: f64,
    ) -> Result<(), VideoError> {
        let err = |reason: String| VideoError::Audio {
            path: out_path.to_path_buf(),
            source_path: self.source_path.clone(),
            reason,
        };
        let until = until.min(self.span);
        while !self.done {
            let mut packet = match self.pending.take() {
                Some(p) => p,
                None => {
                    let mut p = Packet::empty();
                    match p.read(&mut self.input) {
                        Ok(()) if p.stream() == self.in_index => p,
                        Ok(()) => continue,
                        Err(ffmpeg::Error::Eof) => {
                            self.done = true;
                            break;
                        }
                        Err(e) => return Err(err(one_line(e))),
                    }
                }
            };
            let Some(ts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            let rel = ts - self.shift;
            if rel < 0 || packet.dts().is_some_and(|d| d - self.shift < 0) {
                continue; // before the span
            }
            let t = rel as f64 * f64::from(self.in_tb);
            if t >= self.span {
                self.done = true;
                break;
            }
            if t >= until {
                self.pending = Some(packet);
                break;
            }
            packet.set_pts(packet.pts().map(|v| v - self.shift));
            packet.set_dts(packet.dts().map(|v| v - self.shift));
            packet.rescale_ts(self.in_tb, self.out_tb);
            packet.set_stream(self.out_index);
            packet.set_position(-1);
            packet
                .write_interleaved(octx)
                .map_err(|e| err(one_line(e)))?;
        }
        Ok(())
    }
}

/// Encodes RGB frames into a video file, optionally with audio copied from another file.
pub struct VideoWriter {
    path: PathBuf,
    octx: format::context::Output,
    encoder: encoder::video::Encoder,
    codec_name: String,
    stream_index: usize,
    enc_tb: Rational,
    ost_tb: Rational,
    frame_rate: Rational,
    width: u32,
    height: u32,
    enc_width: u32,
    enc_height: u32,
    pixel_format: Pixel,
    scaler: Scaler,
    rgb: frame::Video,
    frames: usize,
    audio: Option<AudioCopy>,
}

/// Encoders tried, in order, when none is requested.
const DEFAULT_ENCODERS: [&str; 4] = ["libx264", "mpeg4", "libopenh264", "libxvid"];

struct EncoderSetup {
    width: u32,
    height: u32,
    time_base: Rational,
    frame_rate: Rational,
    global_header: bool,
    crf: u8,
    pixel_format: Pixel,
}

fn open_encoder(
    codec: ffmpeg::Codec,
    s: &EncoderSetup,
) -> Result<(encoder::video::Encoder, Pixel), String> {
    let formats: Vec<Pixel> = codec
        .video()
        .map_err(one_line)?
        .formats()
        .map(|f| f.collect())
        .unwrap_or_default();
    let pixel_format = if formats.is_empty() || formats.contains(&s.pixel_format) {
        s.pixel_format
    } else {
        formats[0]
    };
    let mut enc = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(one_line)?;
    enc.set_width(s.width);
    enc.set_height(s.height);
    enc.set_format(pixel_format);
    enc.set_time_base(s.time_base);
    enc.set_frame_rate(Some(s.frame_rate));
    enc.set_colorspace(color::Space::BT709);
    enc.set_color_range(color::Range::MPEG);
    // SAFETY: plain field writes on a valid, not yet opened codec context.
    unsafe {
        let ctx = enc.as_mut_ptr();
        (*ctx).color_primaries = ffmpeg::ffi::AVColorPrimaries::AVCOL_PRI_BT709;
        (*ctx).color_trc = ffmpeg::ffi::AVColorTransferCharacteristic::AVCOL_TRC_BT709;
    }
    let mut flags = codec::Flags::empty();
    if s.global_header {
        flags |= codec::Flags::GLOBAL_HEADER;
    }
    let mut dict = Dictionary::new();
    let name = codec.name();
    if name.starts_with("libx264") || name == "libx265" {
        dict.set("crf", &s.crf.to_string());
    } else if matches!(
        codec.id(),
        codec::Id::MPEG4
            | codec::Id::MPEG2VIDEO
            | codec::Id::MPEG1VIDEO
            | codec::Id::H263
            | codec::Id::MJPEG
    ) {
        let q = (s.crf as i32 / 6).clamp(1, 31);
        flags |= codec::Flags::QSCALE;
        enc.set_global_quality(q * ffmpeg::ffi::FF_QP2LAMBDA);
    }
    enc.set_flags(flags);
    let opened = enc.open_with(dict).map_err(one_line)?;
    Ok((opened, pixel_format))
}

impl VideoWriter {
    /// Creates `path`. The container comes from `format` if given (e.g. "mp4"), else from the
    /// extension. Odd dimensions are padded to even ones by repeating the last column / row.
    /// Frame `i` gets pts `i` in a time base of 1/`frame_rate`.
    ///
    /// `audio_from`: `(file, start, end)` copies the first audio stream of `file` unchanged (stream
    /// copy, timestamps rescaled), limited to `start..end` seconds of that file (the span of the
    /// frames written, see [`FrameSource::audio_span`]) and to the duration of the frames actually
    /// written. A file without audio adds no audio stream.
    pub fn create(
        path: &Path,
        format: Option<&str>,
        width: u32,
        height: u32,
        frame_rate: (i32, i32),
        audio_from: Option<(&Path, f64, f64)>,
        opts: &EncoderOptions,
    ) -> Result<Self, VideoError> {
        init();
        let invalid = |reason: String| VideoError::InvalidOptions {
            path: path.to_path_buf(),
            reason,
        };
        if width == 0 || height == 0 {
            return Err(invalid(format!("bad frame size {width}x{height}")));
        }
        if frame_rate.0 <= 0 || frame_rate.1 <= 0 {
            return Err(invalid(format!(
                "bad frame rate {}/{}",
                frame_rate.0, frame_rate.1
            )));
        }
        let pixel_format: Pixel = opts
            .pixel_format
            .parse()
            .map_err(|_| invalid(format!("unknown pixel format {:?}", opts.pixel_format)))?;
        let write_err = |e: ffmpeg::Error| VideoError::Write {
            path: path.to_path_buf(),
            reason: one_line(e),
        };
        let mut octx = match format {
            Some(f) => format::output_as(&path, f),
            None => format::output(&path),
        }
        .map_err(write_err)?;

        let (fr_num, fr_den) = reduce(frame_rate.0 as i64, frame_rate.1 as i64);
        let setup = EncoderSetup {
            width: width + width % 2,
            height: height + height % 2,
            time_base: Rational::new(fr_den, fr_num),
            frame_rate: Rational::new(fr_num, fr_den),
            global_header: octx.format().flags().contains(format::Flags::GLOBAL_HEADER),
            crf: opts.crf,
            pixel_format,
        };
        let codec_err = |reason: String| VideoError::Codec {
            path: path.to_path_buf(),
            reason,
        };
        let (codec, (encoder, pixel_format)) = match &opts.codec {
            Some(name) => {
                let codec = encoder::find_by_name(name)
                    .filter(|c| c.is_video())
                    .ok_or_else(|| {
                        codec_err(format!("video encoder {name} is not in this FFmpeg build"))
                    })?;
                let opened = open_encoder(codec, &setup)
                    .map_err(|e| codec_err(format!("cannot open {name}: {e}")))?;
                (codec, opened)
            }
            None => {
                let mut candidates: Vec<ffmpeg::Codec> = DEFAULT_ENCODERS
                    .iter()
                    .filter_map(|n| encoder::find_by_name(n))
                    .collect();
                candidates.extend(encoder::find(codec::Id::H264));
                candidates.extend(encoder::find(codec::Id::MPEG4));
                let mut failures = Vec::new();
                let mut chosen = None;
                for codec in candidates {
                    match open_encoder(codec, &setup) {
                        Ok(opened) => {
                            chosen = Some((codec, opened));
                            break;
                        }
                        Err(e) => failures.push(format!("{}: {e}", codec.name())),
                    }
                }
                chosen.ok_or_else(|| {
                    codec_err(if failures.is_empty() {
                        "no H.264 or MPEG-4 encoder in this FFmpeg build".into()
                    } else {
                        failures.join("; ")
                    })
                })?
            }
        };

        let stream_index = {
            let mut ost = octx.add_stream(codec).map_err(write_err)?;
            ost.set_parameters(&encoder);
            ost.set_time_base(setup.time_base);
            ost.set_avg_frame_rate(setup.frame_rate);
            ost.set_rate(setup.frame_rate);
            ost.index()
        };
        let mut audio = match audio_from {
            Some((source, start, end)) => AudioCopy::add(&mut octx, path, source, start, end)?,
            None => None,
        };
        octx.write_header().map_err(write_err)?;
        let ost_tb = octx
            .stream(stream_index)
            .map(|s| s.time_base())
            .ok_or_else(|| write_err(ffmpeg::Error::StreamNotFound))?;
        if let Some(a) = audio.as_mut() {
            a.out_tb = octx
                .stream(a.out_index)
                .map(|s| s.time_base())
                .ok_or_else(|| write_err(ffmpeg::Error::StreamNotFound))?;
        }

        let ctx = scaling::Context::get(
            Pixel::RGB24,
            setup.width,
            setup.height,
            pixel_format,
            setup.width,
            setup.height,
            scaling::Flags::BICUBIC | scaling::Flags::ACCURATE_RND | scaling::Flags::FULL_CHR_H_INP,
        )
        .map_err(|e| {
            codec_err(format!(
                "cannot convert RGB to {pixel_format:?}: {}",
                one_line(e)
            ))
        })?;
        let mut scaler = Scaler(ctx);
        let bt709 = ffmpeg::ffi::AVColorSpace::AVCOL_SPC_BT709 as c_int;
        set_colorspace(&mut scaler, bt709, true, bt709, false);

        Ok(VideoWriter {
            path: path.to_path_buf(),
            octx,
            encoder,
            codec_name: codec.name().to_string(),
            stream_index,
            enc_tb: setup.time_base,
            ost_tb,
            frame_rate: setup.frame_rate,
            width,
            height,
            enc_width: setup.width,
            enc_height: setup.height,
            pixel_format,
            scaler,
            rgb: frame::Video::new(Pixel::RGB24, setup.width, setup.height),
            frames: 0,
            audio,
        })
    }

    /// Name of the encoder in use (e.g. "libx264").
    pub fn codec_name(&self) -> &str {
        &self.codec_name
    }

    /// Size of the encoded video (the frame size rounded up to even numbers).
    pub fn encoded_size(&self) -> (u32, u32) {
        (self.enc_width, self.enc_height)
    }

    fn encode_error(&self, e: impl Display) -> VideoError {
        VideoError::Encode {
            path: self.path.clone(),
            frame: self.frames,
            reason: one_line(e),
        }
    }

    /// Writes the packets the encoder has ready.
    fn drain(&mut self) -> Result<(), VideoError> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => {
                    packet.set_stream(self.stream_index);
                    if packet.duration() == 0 {
                        packet.set_duration(1);
                    }
                    packet.rescale_ts(self.enc_tb, self.ost_tb);
                    packet.set_position(-1);
                    packet
                        .write_interleaved(&mut self.octx)
                        .map_err(|e| VideoError::Write {
                            path: self.path.clone(),
                            reason: one_line(e),
                        })?;
                }
                Err(e) if is_eagain(&e) => return Ok(()),
                Err(ffmpeg::Error::Eof) => return Ok(()),
                Err(e) => return Err(self.encode_error(e)),
            }
        }
    }

    fn pump_audio(&mut self, until: f64) -> Result<(), VideoError> {
        match self.audio.as_mut() {
            Some(a) => a.pump(&mut self.octx, &self.path, until),
            None => Ok(()),
        }
    }

    fn seconds(&self, frames: usize) -> f64 {
        frames as f64 * f64::from(self.frame_rate.invert())
    }

    /// Encodes one frame (it must have the size given to [`VideoWriter::create`]).
    pub fn write(&mut self, image: &RgbImage) -> Result<(), VideoError> {
        if image.dimensions() != (self.width, self.height) {
            return Err(self.encode_error(format!(
                "frame is {}x{} but the video is {}x{}",
                image.width(),
                image.height(),
                self.width,
                self.height
            )));
        }
        // Fill the (even-sized) RGB frame, repeating the last column / row as padding.
        let (w, h) = (self.width as usize, self.height as usize);
        let (ew, eh) = (self.enc_width as usize, self.enc_height as usize);
        let stride = self.rgb.stride(0);
        let src = image.as_raw();
        let dst = self.rgb.data_mut(0);
        for y in 0..eh {
            let sy = y.min(h - 1);
            let row = &mut dst[y * stride..y * stride + ew * 3];
            row[..w * 3].copy_from_slice(&src[sy * w * 3..(sy + 1) * w * 3]);
            if ew > w {
                let last = [
                    src[(sy * w + w - 1) * 3],
                    src[(sy * w + w - 1) * 3 + 1],
                    src[(sy * w + w - 1) * 3 + 2],
                ];
                row[w * 3..].copy_from_slice(&last);
            }
        }
        // A fresh frame each time: the encoder may keep a reference to the previous one.
        let mut yuv = frame::Video::new(self.pixel_format, self.enc_width, self.enc_height);
        self.scaler
            .0
            .run(&self.rgb, &mut yuv)
            .map_err(|e| self.encode_error(e))?;
        yuv.set_pts(Some(self.frames as i64));
        yuv.set_kind(ffmpeg::picture::Type::None);
        self.encoder
            .send_frame(&yuv)
            .map_err(|e| self.encode_error(e))?;
        self.frames += 1;
        self.drain()?;
        self.pump_audio(self.seconds(self.frames))
    }

    /// Flushes the encoder, copies the remaining audio and writes the trailer. Returns the number
    /// of frames written; writing no frame at all is an error.
    pub fn finish(mut self) -> Result<usize, VideoError> {
        if self.frames == 0 {
            return Err(self.encode_error("no frames were written"));
        }
        self.encoder.send_eof().map_err(|e| self.encode_error(e))?;
        self.drain()?;
        self.pump_audio(self.seconds(self.frames))?;
        self.octx.write_trailer().map_err(|e| VideoError::Write {
            path: self.path.clone(),
            reason: one_line(e),
        })?;
        Ok(self.frames)
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    /// Media shipped in the repository.
    fn media_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
    }

    fn carphone() -> PathBuf {
        media_dir().join("carphone.mp4")
    }

    fn collect_ok(src: FrameSource) -> Vec<Frame> {
        src.map(|f| f.expect("frame decodes")).collect()
    }

    /// Mean absolute difference per channel value, on a 0..255 scale.
    fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
        assert_eq!(a.dimensions(), b.dimensions());
        let sum: u64 = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(x, y)| (*x as i64 - *y as i64).unsigned_abs())
            .sum();
        sum as f64 / a.as_raw().len() as f64
    }

    fn gradient(w: u32, h: u32, seed: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([
                ((x * 255) / w.max(1)) as u8,
                ((y * 255) / h.max(1)) as u8,
                ((seed * 40) % 256) as u8,
            ])
        })
    }

    #[test]
    fn carphone_info_and_all_frames() {
        let src = FrameSource::open(&carphone(), &SourceOptions::default()).unwrap();
        let info = src.info().clone();
        assert_eq!(info.kind, SourceKind::Video);
        assert_eq!((info.width, info.height), (176, 144));
        assert_eq!((info.source_width, info.source_height), (176, 144));
        assert_eq!(info.frame_rate, (30000, 1001));
        assert_eq!(info.time_base, (1, 30000));
        assert_eq!(info.frame_count, Some(120));
        assert!(!info.has_audio);
        let frames = collect_ok(src);
        assert_eq!(frames.len(), 120);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!((f.index, f.source_index), (i, i));
            assert_eq!(f.image.dimensions(), (176, 144));
        }
        // Real pictures: not flat, and consecutive frames differ (motion).
        let px = frames[0].image.as_raw();
        let mean = px.iter().map(|&v| v as f64).sum::<f64>() / px.len() as f64;
        let var = px.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / px.len() as f64;
        assert!(var > 100.0, "frame 0 looks flat (variance {var})");
        assert!(mean_abs_diff(&frames[0].image, &frames[60].image) > 1.0);
    }

    #[test]
    fn carphone_resized_to_88() {
        let opts = SourceOptions {
            size: Some(88),
            max_frames: Some(3),
            ..Default::default()
        };
        let src = FrameSource::open(&carphone(), &opts).unwrap();
        assert_eq!((src.info().width, src.info().height), (88, 72));
        assert_eq!(
            (src.info().source_width, src.info().source_height),
            (176, 144)
        );
        assert_eq!(src.info().frame_count, Some(3));
        let small = collect_ok(src);
        assert_eq!(small.len(), 3);
        assert!(small.iter().all(|f| f.image.dimensions() == (88, 72)));
        // Same picture as the full-size frame, downscaled.
        let mut full = FrameSource::open(&carphone(), &SourceOptions::default()).unwrap();
        let f0 = full.next().unwrap().unwrap().image;
        let reference = image::imageops::resize(&f0, 88, 72, image::imageops::FilterType::Triangle);
        let d = mean_abs_diff(&reference, &small[0].image);
        assert!(
            d < 6.0,
            "resized frame differs from the downscaled original by {d}"
        );
        assert_eq!(target_dims(1280, 720, Some(160)), (160, 90));
        assert_eq!(target_dims(720, 1280, Some(161)), (90, 162));
    }

    #[test]
    fn carphone_range_step_and_max_select_source_frames() {
        let all = collect_ok(FrameSource::open(&carphone(), &SourceOptions::default()).unwrap());
        let opts = SourceOptions {
            start: 10,
            end: Some(50),
            step: 7,
            ..Default::default()
        };
        let src = FrameSource::open(&carphone(), &opts).unwrap();
        assert_eq!(src.info().frame_count, Some(6));
        assert_eq!(src.info().frame_rate, (30000, 7007));
        let frames = collect_ok(src);
        let idx: Vec<usize> = frames.iter().map(|f| f.source_index).collect();
        assert_eq!(idx, vec![10, 17, 24, 31, 38, 45]);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.index, i);
            assert_eq!(
                f.image, all[f.source_index].image,
                "content of source frame {}",
                f.source_index
            );
        }

        let opts = SourceOptions {
            start: 100,
            step: 3,
            max_frames: Some(4),
            ..Default::default()
        };
        let src = FrameSource::open(&carphone(), &opts).unwrap();
        assert_eq!(src.info().frame_count, Some(4));
        let idx: Vec<usize> = collect_ok(src).iter().map(|f| f.source_index).collect();
        assert_eq!(idx, vec![100, 103, 106, 109]);

        // Range past the end: only what exists.
        let opts = SourceOptions {
            start: 115,
            end: Some(1000),
            ..Default::default()
        };
        let src = FrameSource::open(&carphone(), &opts).unwrap();
        assert_eq!(src.info().frame_count, Some(5));
        assert_eq!(collect_ok(src).len(), 5);
    }

    #[test]
    fn step_zero_is_rejected_naming_the_input() {
        let opts = SourceOptions {
            step: 0,
            ..Default::default()
        };
        let err = FrameSource::open(&carphone(), &opts)
            .err()
            .expect("step 0 rejected");
        assert!(err.to_string().contains("carphone.mp4"), "{err}");
    }

    /// Reads every packet of `path`: per stream index, (codec id, time base, packet spans in s).
    type StreamSpans = (codec::Id, Rational, Vec<(f64, f64)>);

    fn packet_spans(path: &Path) -> Vec<StreamSpans> {
        init();
        let mut ictx = format::input(&path).unwrap();
        let mut out: Vec<_> = ictx
            .streams()
            .map(|s| (s.parameters().id(), s.time_base(), Vec::new()))
            .collect();
        for (s, p) in ictx.packets() {
            let tb = f64::from(s.time_base());
            let pts = p.pts().or(p.dts()).unwrap() as f64 * tb;
            out[s.index()].2.push((pts, pts + p.duration() as f64 * tb));
        }
        out
    }

    #[test]
    fn round_trip_mp4_keeps_rate_size_and_content() {
        let dir = tempfile::tempdir().unwrap();
        // As the pipeline does: a temporary name, the container given explicitly.
        let part = dir.path().join("out.mp4.part");
        let opts = SourceOptions {
            max_frames: Some(12),
            ..Default::default()
        };
        let src = FrameSource::open(&carphone(), &opts).unwrap();
        let info = src.info().clone();
        let originals = collect_ok(src);
        let mut w = VideoWriter::create(
            &part,
            Some("mp4"),
            info.width,
            info.height,
            info.frame_rate,
            None,
            &EncoderOptions::default(),
        )
        .unwrap();
        assert_eq!(
            w.codec_name(),
            "libx264",
            "this FFmpeg build should have libx264"
        );
        for f in &originals {
            w.write(&f.image).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 12);
        let out = dir.path().join("out.mp4");
        fs::rename(&part, &out).unwrap();

        let back = FrameSource::open(&out, &SourceOptions::default()).unwrap();
        assert_eq!(back.info().frame_rate, info.frame_rate);
        assert_eq!(back.info().time_base, info.time_base);
        assert_eq!((back.info().width, back.info().height), (176, 144));
        assert_eq!(back.info().frame_count, Some(12));
        let decoded = collect_ok(back);
        assert_eq!(decoded.len(), 12);
        for (a, b) in originals.iter().zip(&decoded) {
            let d = mean_abs_diff(&a.image, &b.image);
            assert!(d < 6.0, "frame {} differs by {d}", a.index);
        }
        let spans = packet_spans(&out);
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].0, codec::Id::H264);
        // pts i in 1/frame_rate: frame 11 starts at 11 * 1001 / 30000 s.
        let last_start = spans[0].2.iter().map(|s| s.0).fold(f64::MIN, f64::max);
        assert!(
            (last_start - 11.0 * 1001.0 / 30000.0).abs() < 1e-3,
            "{last_start}"
        );
    }

    #[test]
    fn explicit_mpeg4_encoder_and_unknown_encoder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("m4.mp4");
        let opts = EncoderOptions {
            codec: Some("mpeg4".into()),
            ..Default::default()
        };
        let mut w = VideoWriter::create(&out, None, 64, 48, (25, 1), None, &opts).unwrap();
        assert_eq!(w.codec_name(), "mpeg4");
        let frames: Vec<RgbImage> = (0..5).map(|i| gradient(64, 48, i)).collect();
        for f in &frames {
            w.write(f).unwrap();
        }
        assert_eq!(w.finish().unwrap(), 5);
        assert_eq!(packet_spans(&out)[0].0, codec::Id::MPEG4);
        let back = collect_ok(FrameSource::open(&out, &SourceOptions::default()).unwrap());
        assert_eq!(back.len(), 5);
        let d = mean_abs_diff(&frames[4], &back[4].image);
        assert!(d < 6.0, "mpeg4 frame differs by {d}");

        let bad = EncoderOptions {
            codec: Some("no-such-encoder".into()),
            ..Default::default()
        };
        let err = VideoWriter::create(&dir.path().join("x.mp4"), None, 64, 48, (25, 1), None, &bad)
            .err()
            .expect("unknown encoder rejected");
        let msg = err.to_string();
        assert!(
            msg.contains("x.mp4") && msg.contains("no-such-encoder"),
            "{msg}"
        );

        // Wrong frame size is an error naming the file and frame, not a panic.
        let mut w = VideoWriter::create(
            &dir.path().join("y.mp4"),
            None,
            64,
            48,
            (25, 1),
            None,
            &Default::default(),
        )
        .unwrap();
        let err = w.write(&gradient(32, 32, 0)).expect_err("size mismatch");
        assert!(
            err.to_string().contains("y.mp4") && err.to_string().contains("frame 0"),
            "{err}"
        );
    }

    #[test]
    fn odd_dimensions_give_even_video_with_right_colours() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("odd.mp4");
        let (w, h) = (87u32, 65u32);
        // Four flat quadrants of saturated colours: checks size, padding and colour matrices.
        let colours = [
            [220u8, 30, 30],
            [30, 200, 40],
            [40, 50, 210],
            [230, 220, 60],
        ];
        let img = RgbImage::from_fn(w, h, |x, y| {
            image::Rgb(colours[(x >= w / 2) as usize + 2 * (y >= h / 2) as usize])
        });
        let mut wr =
            VideoWriter::create(&out, None, w, h, (24, 1), None, &Default::default()).unwrap();
        assert_eq!(wr.encoded_size(), (88, 66));
        for _ in 0..6 {
            wr.write(&img).unwrap();
        }
        assert_eq!(wr.finish().unwrap(), 6);
        let src = FrameSource::open(&out, &SourceOptions::default()).unwrap();
        assert_eq!((src.info().width, src.info().height), (88, 66));
        assert_eq!(src.info().frame_rate, (24, 1));
        let frames = collect_ok(src);
        assert_eq!(frames.len(), 6);
        let f = &frames[5].image;
        for (q, (cx, cy)) in [(20, 15), (65, 15), (20, 50), (65, 50)]
            .into_iter()
            .enumerate()
        {
            let got = f.get_pixel(cx, cy).0;
            for c in 0..3 {
                let diff = (got[c] as i32 - colours[q][c] as i32).abs();
                assert!(
                    diff <= 8,
                    "quadrant {q} channel {c}: {got:?} vs {:?}",
                    colours[q]
                );
            }
        }
        // The padding column repeats the last column.
        let edge = f.get_pixel(87, 10).0;
        assert!(
            (edge[0] as i32 - colours[1][0] as i32).abs() <= 12,
            "{edge:?}"
        );
    }

    #[test]
    fn bigbuckbunny_audio_is_copied_for_the_span_written() {
        let bbb = media_dir().join("bigbuckbunny_2s.mp4");
        let opts = SourceOptions {
            size: Some(160),
            max_frames: Some(25),
            ..Default::default()
        };
        let src = FrameSource::open(&bbb, &opts).unwrap();
        let info = src.info().clone();
        assert!(info.has_audio);
        assert_eq!((info.width, info.height), (160, 90));
        assert_eq!(info.frame_rate, (25, 1));
        let (a0, a1) = src.audio_span(25);
        assert!(
            (a0 - 0.0).abs() < 1e-9 && (a1 - 1.0).abs() < 1e-9,
            "{a0} {a1}"
        );

        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("bbb.mp4");
        let mut w = VideoWriter::create(
            &out,
            None,
            info.width,
            info.height,
            info.frame_rate,
            Some((&bbb, a0, a1)),
            &EncoderOptions::default(),
        )
        .unwrap();
        let mut n = 0;
        for f in src {
            w.write(&f.unwrap().image).unwrap();
            n += 1;
        }
        assert_eq!(n, 25);
        assert_eq!(w.finish().unwrap(), 25);

        let spans = packet_spans(&out);
        let video: Vec<_> = spans.iter().filter(|s| s.0 == codec::Id::H264).collect();
        let audio: Vec<_> = spans.iter().filter(|s| s.0 == codec::Id::AAC).collect();
        assert_eq!(video.len(), 1, "one H.264 stream");
        assert_eq!(audio.len(), 1, "one AAC stream");
        assert_eq!(spans.len(), 2);
        let v = &video[0].2;
        let a = &audio[0].2;
        assert_eq!(v.len(), 25);
        assert!(!a.is_empty(), "audio packets exist");
        let vmin = v.iter().map(|s| s.0).fold(f64::MAX, f64::min);
        let vmax = v.iter().map(|s| s.1).fold(f64::MIN, f64::max);
        let amin = a.iter().map(|s| s.0).fold(f64::MAX, f64::min);
        let amax = a.iter().map(|s| s.1).fold(f64::MIN, f64::max);
        assert!(
            (vmax - vmin - 1.0).abs() < 0.05,
            "video span {vmin}..{vmax}"
        );
        assert!(
            amin >= vmin - 0.1 && amax <= vmax + 0.1,
            "audio {amin}..{amax} vs video {vmin}..{vmax}"
        );
        assert!(
            amax - amin > 0.9,
            "audio covers the second of video: {amin}..{amax}"
        );

        // Audio packets are byte-identical to the source's first ones (stream copy).
        init();
        let first_out = {
            let mut ictx = format::input(&out).unwrap();
            let ai = ictx.streams().best(media::Type::Audio).unwrap().index();
            ictx.packets()
                .find(|(s, _)| s.index() == ai)
                .map(|(_, p)| p.data().unwrap().to_vec())
                .unwrap()
        };
        let first_src = {
            let mut ictx = format::input(&bbb).unwrap();
            let ai = ictx.streams().best(media::Type::Audio).unwrap().index();
            ictx.packets()
                .find(|(s, _)| s.index() == ai)
                .map(|(_, p)| p.data().unwrap().to_vec())
                .unwrap()
        };
        assert_eq!(first_out, first_src);

        // And it plays: the video decodes back.
        let back = FrameSource::open(&out, &SourceOptions::default()).unwrap();
        assert!(back.info().has_audio);
        assert_eq!(collect_ok(back).len(), 25);
    }

    #[test]
    fn image_directory_and_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let imgs: Vec<RgbImage> = (0..5).map(|i| gradient(40, 30, i)).collect();
        let seq = dir.path().join("seq");
        fs::create_dir(&seq).unwrap();
        for (i, img) in imgs.iter().enumerate() {
            crate::imaging::write_image_atomic(&seq.join(format!("{:03}.png", i + 1)), img)
                .unwrap();
        }
        fs::write(seq.join("notes.txt"), "not an image").unwrap();

        let src = FrameSource::open(&seq, &SourceOptions::default()).unwrap();
        assert_eq!(src.info().kind, SourceKind::ImageSequence);
        assert_eq!(src.info().frame_rate, (25, 1));
        assert_eq!(src.info().frame_count, Some(5));
        let frames = collect_ok(src);
        assert_eq!(frames.len(), 5);
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f.image, imgs[i]);
            assert_eq!((f.index, f.source_index), (i, i));
        }

        let pattern = seq.join("%03d.png");
        let opts = SourceOptions {
            start: 1,
            step: 2,
            ..Default::default()
        };
        let src = FrameSource::open(&pattern, &opts).unwrap();
        assert_eq!(src.info().frame_rate, (25, 2));
        let frames = collect_ok(src);
        let idx: Vec<usize> = frames.iter().map(|f| f.source_index).collect();
        assert_eq!(idx, vec![1, 3]);
        assert_eq!(frames[1].image, imgs[3]);

        // Numbering from 0, no padding, resized.
        let zero = dir.path().join("zero");
        fs::create_dir(&zero).unwrap();
        for (i, img) in imgs.iter().enumerate().take(3) {
            crate::imaging::write_image_atomic(&zero.join(format!("f{i}.png")), img).unwrap();
        }
        let opts = SourceOptions {
            size: Some(20),
            ..Default::default()
        };
        let src = FrameSource::open(&zero.join("f%d.png"), &opts).unwrap();
        assert_eq!((src.info().width, src.info().height), (20, 16));
        let frames = collect_ok(src);
        assert_eq!(frames.len(), 3);
        assert!(frames.iter().all(|f| f.image.dimensions() == (20, 16)));
    }

    #[test]
    fn pattern_gap_names_the_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        for i in [1, 2, 4, 5] {
            crate::imaging::write_image_atomic(
                &dir.path().join(format!("img_{i:03}.png")),
                &gradient(8, 8, i),
            )
            .unwrap();
        }
        let err = FrameSource::open(&dir.path().join("img_%03d.png"), &SourceOptions::default())
            .err()
            .expect("gap detected");
        let msg = err.to_string();
        assert!(matches!(err, VideoError::MissingFrame { .. }), "{msg}");
        assert!(msg.contains("img_003.png"), "{msg}");
        assert!(!msg.contains('\n'));

        let err = FrameSource::open(&dir.path().join("none_%03d.png"), &SourceOptions::default())
            .err()
            .expect("no match");
        assert!(err.to_string().contains("none_%03d.png"), "{err}");
    }

    #[test]
    fn a_pattern_too_wide_for_frame_numbers_is_no_pattern() {
        // `%070000d` would make the formatter panic; it is read as a plain (missing) file name.
        let dir = tempfile::tempdir().unwrap();
        crate::imaging::write_image_atomic(&dir.path().join("1.png"), &gradient(8, 8, 1)).unwrap();
        for spec in [
            "%070000d.png",
            "%021d.png",
            "%099999999999999999999999d.png",
        ] {
            let err = FrameSource::open(&dir.path().join(spec), &SourceOptions::default())
                .err()
                .expect("no such input");
            assert!(matches!(err, VideoError::NotFound { .. }), "{spec}: {err}");
        }
        let src = FrameSource::open(&dir.path().join("%020d.png"), &SourceOptions::default());
        assert!(src.is_err(), "1.png is not a 20-digit name");
        let src = FrameSource::open(&dir.path().join("%d.png"), &SourceOptions::default()).unwrap();
        assert_eq!(src.count(), 1);
    }

    #[test]
    fn sequence_with_different_sizes_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        crate::imaging::write_image_atomic(&dir.path().join("a.png"), &gradient(16, 12, 0))
            .unwrap();
        crate::imaging::write_image_atomic(&dir.path().join("b.png"), &gradient(16, 12, 1))
            .unwrap();
        crate::imaging::write_image_atomic(&dir.path().join("c.png"), &gradient(12, 16, 2))
            .unwrap();
        let mut src = FrameSource::open(dir.path(), &SourceOptions::default()).unwrap();
        assert!(src.next().unwrap().is_ok());
        assert!(src.next().unwrap().is_ok());
        let err = src.next().unwrap().expect_err("size mismatch");
        let msg = err.to_string();
        assert!(
            msg.contains("c.png") && msg.contains("12x16") && msg.contains("16x12"),
            "{msg}"
        );
        assert!(src.next().is_none());
    }

    #[test]
    fn single_image_and_bmp() {
        let jpg = media_dir().join("tubingen.jpg");
        let full = read_image(&jpg).unwrap();
        let opts = SourceOptions {
            size: Some(128),
            ..Default::default()
        };
        let mut src = FrameSource::open(&jpg, &opts).unwrap();
        let info = src.info().clone();
        assert_eq!(info.kind, SourceKind::Image);
        assert_eq!((info.source_width, info.source_height), full.dimensions());
        assert_eq!(info.width.max(info.height), 128);
        assert_eq!(info.frame_count, Some(1));
        let f = src.next().unwrap().unwrap();
        assert_eq!(f.image.dimensions(), (info.width, info.height));
        assert!(src.next().is_none());

        // A BMP (not supported by the image crate build) decodes through FFmpeg.
        let dir = tempfile::tempdir().unwrap();
        let bmp = dir.path().join("tiny.bmp");
        let pixels = [
            [255u8, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [10, 20, 30],
            [200, 100, 50],
            [0, 0, 0],
        ];
        fs::write(&bmp, bmp_bytes(3, 2, &pixels)).unwrap();
        let img = read_image(&bmp).unwrap();
        assert_eq!(img.dimensions(), (3, 2));
        for (i, p) in pixels.iter().enumerate() {
            assert_eq!(img.get_pixel(i as u32 % 3, i as u32 / 3).0, *p, "pixel {i}");
        }
        let frames = collect_ok(FrameSource::open(&bmp, &SourceOptions::default()).unwrap());
        assert_eq!(frames.len(), 1);
    }

    /// A 24-bit bottom-up BMP of `w`x`h` pixels given top-down in RGB.
    fn bmp_bytes(w: usize, h: usize, px: &[[u8; 3]]) -> Vec<u8> {
        let row = (w * 3).div_ceil(4) * 4;
        let size = 54 + row * h;
        let mut b = Vec::with_capacity(size);
        b.extend_from_slice(b"BM");
        b.extend_from_slice(&(size as u32).to_le_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&54u32.to_le_bytes());
        b.extend_from_slice(&40u32.to_le_bytes());
        b.extend_from_slice(&(w as i32).to_le_bytes());
        b.extend_from_slice(&(h as i32).to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&24u16.to_le_bytes());
        b.extend_from_slice(&[0; 24]);
        for y in (0..h).rev() {
            for x in 0..w {
                let [r, g, bl] = px[y * w + x];
                b.extend_from_slice(&[bl, g, r]);
            }
            b.extend(std::iter::repeat_n(0, row - w * 3));
        }
        b
    }

    #[test]
    fn missing_and_bogus_inputs_are_errors_naming_the_file() {
        let missing = Path::new("/nonexistent/dir/clip.mp4");
        let err = FrameSource::open(missing, &SourceOptions::default())
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("/nonexistent/dir/clip.mp4"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("bogus.mp4");
        fs::write(&bogus, "this is not a video\n".repeat(50)).unwrap();
        let err = FrameSource::open(&bogus, &SourceOptions::default())
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(msg.contains("bogus.mp4"), "{msg}");
        assert!(!msg.contains('\n'), "{msg:?}");

        let bad_png = dir.path().join("bad.png");
        fs::write(&bad_png, "not a png").unwrap();
        let err = read_image(&bad_png).err().unwrap();
        assert!(err.to_string().contains("bad.png"), "{err}");

        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        let err = FrameSource::open(&empty, &SourceOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("empty"), "{err}");
    }

    /// Stream-copies `src` to `dst` with the index (moov) at the front, so that a truncated copy
    /// still opens.
    fn remux_faststart(src: &Path, dst: &Path) {
        init();
        let mut ictx = format::input(&src).unwrap();
        let mut octx = format::output(&dst).unwrap();
        for ist in ictx.streams() {
            let mut ost = octx.add_stream(encoder::find(codec::Id::None)).unwrap();
            ost.set_parameters(ist.parameters());
            unsafe {
                (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
            }
        }
        let mut opts = Dictionary::new();
        opts.set("movflags", "faststart");
        octx.write_header_with(opts).unwrap();
        let tbs: Vec<Rational> = ictx.streams().map(|s| s.time_base()).collect();
        for (s, mut p) in ictx.packets() {
            let i = s.index();
            p.rescale_ts(tbs[i], octx.stream(i).unwrap().time_base());
            p.set_position(-1);
            p.write_interleaved(&mut octx).unwrap();
        }
        octx.write_trailer().unwrap();
    }

    #[test]
    fn truncated_video_yields_frames_then_stops() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = fs::read(carphone()).unwrap();

        // carphone.mp4 has its index at the end: cut, it cannot be opened at all.
        let cut = dir.path().join("cut.mp4");
        fs::write(&cut, &bytes[..bytes.len() * 4 / 10]).unwrap();
        let err = FrameSource::open(&cut, &SourceOptions::default())
            .err()
            .unwrap();
        assert!(err.to_string().contains("cut.mp4"), "{err}");

        // With the index first, the frames before the cut decode.
        let fast = dir.path().join("fast.mp4");
        remux_faststart(&carphone(), &fast);
        let fast_bytes = fs::read(&fast).unwrap();
        let cut = dir.path().join("cut_fast.mp4");
        fs::write(&cut, &fast_bytes[..fast_bytes.len() * 4 / 10]).unwrap();
        let mut src = FrameSource::open(&cut, &SourceOptions::default()).unwrap();
        assert_eq!(src.info().frame_count, Some(120));
        let mut good = 0;
        let mut error = None;
        for item in src.by_ref() {
            match item {
                Ok(f) => {
                    assert_eq!(f.index, good);
                    good += 1;
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        assert!(good > 0 && good < 120, "{good} frames before the cut");
        let msg = error.expect("truncation is reported").to_string();
        assert!(
            msg.contains("cut_fast.mp4") && msg.contains(&format!("frame {good}")),
            "{msg}"
        );
        assert!(src.next().is_none(), "iteration ends after the error");
    }

    #[test]
    fn a_cut_on_a_packet_boundary_is_reported_as_truncation() {
        // Cut exactly where a frame's packet starts: the demuxer then sees a clean end of file,
        // and only the index tells that 116 frames are missing.
        let dir = tempfile::tempdir().unwrap();
        let fast = dir.path().join("fast.mp4");
        remux_faststart(&carphone(), &fast);
        let positions: Vec<u64> = {
            let input = format::input(&fast).unwrap();
            let stream = input.streams().best(media::Type::Video).unwrap();
            // SAFETY: the input context is open for this block.
            let mut p: Vec<u64> = unsafe {
                let st = stream.as_ptr() as *mut ffmpeg::ffi::AVStream;
                (0..ffmpeg::ffi::avformat_index_get_entries_count(st))
                    .map(|i| (*ffmpeg::ffi::avformat_index_get_entry(st, i)).pos as u64)
                    .collect()
            };
            p.sort_unstable();
            p
        };
        assert_eq!(positions.len(), 120);
        assert_eq!(last_indexed_position_of(&fast), positions.last().copied());
        let bytes = fs::read(&fast).unwrap();
        let cut = dir.path().join("cut_on_boundary.mp4");
        fs::write(&cut, &bytes[..positions[4] as usize]).unwrap();
        let items: Vec<_> = FrameSource::open(&cut, &SourceOptions::default())
            .unwrap()
            .collect();
        let good = items.iter().take_while(|i| i.is_ok()).count();
        assert!((1..=4).contains(&good), "{good} frames before the cut");
        assert_eq!(items.len(), good + 1, "then one error, then the end");
        let msg = items[good].as_ref().err().unwrap().to_string();
        assert!(
            msg.contains("cut_on_boundary.mp4") && msg.contains("truncated"),
            "{msg}"
        );

        // The whole file ends without an error.
        assert!(FrameSource::open(&fast, &SourceOptions::default())
            .unwrap()
            .all(|f| f.is_ok()));
    }

    fn last_indexed_position_of(path: &Path) -> Option<u64> {
        let input = format::input(&path).unwrap();
        let stream = input.streams().best(media::Type::Video).unwrap();
        last_indexed_position(&stream)
    }

    #[test]
    fn write_image_atomic_leaves_only_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let img = gradient(33, 21, 3);
        let png = dir.path().join("out.png");
        let jpg = dir.path().join("out.JPG");
        crate::imaging::write_image_atomic(&png, &img).unwrap();
        crate::imaging::write_image_atomic(&png, &img).unwrap(); // overwrite
        crate::imaging::write_image_atomic(&jpg, &img).unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["out.JPG", "out.png"]);
        assert_eq!(read_image(&png).unwrap(), img);
        let j = read_image(&jpg).unwrap();
        assert!(mean_abs_diff(&j, &img) < 4.0);

        let err = crate::imaging::write_image_atomic(&dir.path().join("out.gif"), &img)
            .err()
            .unwrap();
        assert!(err.to_string().contains("out.gif"), "{err}");
        let err = crate::imaging::write_image_atomic(&dir.path().join("nodir/out.png"), &img)
            .err()
            .unwrap();
        assert!(err.to_string().contains("nodir/out.png"), "{err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn sources_and_writers_are_send() {
        fn assert_send<T: Send>() {}
        assert_send::<FrameSource>();
        assert_send::<VideoWriter>();
        assert_send::<VideoError>();
        assert_send::<Frame>();
    }
}
