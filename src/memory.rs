//! Peak memory of a job, estimated before it allocates, and the budget it
//! must fit: `run.memory_limit` (`--memory-limit`), or what the device has
//! less a margin. A job that would not fit is refused with one line instead
//! of failing deep inside libtorch (or being killed by the kernel) after
//! its outputs were opened. The coefficients are calibrated against
//! measured peaks; docs/memory.md has the table and how to measure again.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::config::{JobConfig, ModelName};
use crate::device::{parse_device, DeviceRequest};
use crate::tiles::{Grid, MIN_TILE};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The process before any picture: libtorch, FFmpeg and their threads.
const RUNTIME: u64 = 640 * MIB;

/// Bytes per pixel of the network's forward and backward pass at a picture's
/// size: its activations, their gradients and the loss terms' buffers.
fn network_bytes_per_pixel(model: ModelName) -> u64 {
    match model {
        ModelName::Vgg19 => 4_300,
        ModelName::Vgg16 => 4_000,
        ModelName::Squeezenet => 1_900,
    }
}

/// Bytes per pixel of a style image's pass (no gradients) that computes the
/// Gram targets: the activations of the layers the losses read.
fn style_bytes_per_pixel(model: ModelName) -> u64 {
    match model {
        ModelName::Vgg19 | ModelName::Vgg16 => 800,
        ModelName::Squeezenet => 200,
    }
}

/// The fewest rows of a style image a strip of its pass holds.
const MIN_STRIP_ROWS: u64 = 32;

/// The pixels of a style image that `cfg`'s job can pass through `model`
/// at once: what its limit leaves after the runtime and the weights (None:
/// no limit known, whole). The style targets are computed in strips of
/// that size ([`crate::stylize::strip_grams`]), which [`check`] made sure
/// is at least a strip of [`MIN_STRIP_ROWS`].
pub fn style_pixels_cap(cfg: &JobConfig, model: ModelName) -> Option<u64> {
    let l = limit(cfg)?;
    let weights = std::fs::metadata(cfg.model.weights_path()).map_or(0, |m| m.len());
    let room = l.bytes.saturating_sub(RUNTIME + weights);
    Some(room / style_bytes_per_pixel(model))
}

/// Bytes per pixel a video job keeps besides the optimiser's: decoded and
/// stylized frames in the channels, gray planes, flow fields both ways and
/// reliability masks, the temporal targets.
const TEMPORAL_BYTES_PER_PIXEL: u64 = 600;

/// Bytes per pixel of the whole picture that a tiled picture keeps besides
/// the tile's: its content, start, the blended sum and the blending weights.
const TILED_BYTES_PER_PIXEL: u64 = 64;

/// The share of the device's memory kept free when no limit is given.
const MARGIN_DIVISOR: u64 = 10;

/// What a job is estimated to need at its peak, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Estimate {
    pub runtime: u64,
    pub weights: u64,
    /// Forward and backward at the largest size (coarse sizes are smaller).
    pub network: u64,
    /// L-BFGS: `2 * history_size` tensors of the picture.
    pub history: u64,
    /// Flow and temporal buffers (a video job only).
    pub temporal: u64,
    /// The style images' pass, before the painting (which does not count
    /// it): the largest image at the whole picture's size x `style.scale`.
    #[serde(default)]
    pub style: u64,
    /// The whole picture's buffers while it is painted in tiles (0 whole).
    pub tiled: u64,
}

impl Estimate {
    /// The peak: the style pass or the painting, whichever is larger.
    pub fn total(&self) -> u64 {
        self.runtime + self.weights + self.style.max(self.painting())
    }

    fn painting(&self) -> u64 {
        self.network + self.history + self.temporal + self.tiled
    }

    /// This estimate with the style pass taking `bytes`.
    fn with_style(self, bytes: u64) -> Self {
        Estimate {
            style: bytes,
            ..self
        }
    }
}

/// What a job is made of, as far as its memory goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shape {
    pub model: ModelName,
    /// Bytes of the weights file.
    pub weights: u64,
    pub width: u32,
    pub height: u32,
    /// The style images' size relative to the picture (`style.scale`).
    pub style_scale: f64,
    /// The largest style image's shorter side over its longer one (1 when
    /// unknown).
    pub style_aspect: f64,
    pub history_size: usize,
    pub video: bool,
}

impl Shape {
    /// The shape of `cfg`'s job at `width` x `height`; the weights by
    /// their file's size (0 when it cannot be read: the load reports that).
    pub fn of(cfg: &JobConfig, width: u32, height: u32, video: bool) -> Self {
        let weights = std::fs::metadata(cfg.model.weights_path()).map_or(0, |m| m.len());
        Self {
            model: cfg.model.name,
            weights,
            width,
            height,
            style_scale: cfg.style.scale,
            style_aspect: style_aspect(&cfg.style.images),
            history_size: cfg.optimizer.history_size,
            video,
        }
    }

    /// The estimated peak, painted whole.
    pub fn estimate(&self) -> Estimate {
        self.estimate_at(self.width, self.height)
    }

    /// The same job without its style pass, which [`check`] holds to the
    /// limit on its own: what tiles can make fit.
    fn painting(&self) -> Shape {
        Shape {
            style_scale: 0.0,
            ..*self
        }
    }

    /// The longer side of the style images' pass: `style.scale` times the
    /// whole picture's.
    fn style_side(&self) -> u32 {
        (self.width.max(self.height) as f64 * self.style_scale).round() as u32
    }

    /// The pixels of the largest style image's pass, whole.
    fn style_pixels(&self) -> u64 {
        let side = self.style_side() as f64;
        (side * side * self.style_aspect).ceil() as u64
    }

    /// The pixels of a strip of `rows` rows (and its context) of a style
    /// image as wide as the pass's longer side.
    fn strip_pixels(&self, rows: u64) -> u64 {
        (rows + 2 * crate::stylize::STRIP_HALO as u64) * u64::from(self.style_side())
    }

    /// The estimated peak with the network and the optimiser at `width` x
    /// `height` (a coarse size or a tile), the temporal buffers at the
    /// full size.
    fn estimate_at(&self, width: u32, height: u32) -> Estimate {
        let pixels = width as u64 * height as u64;
        let full = self.width as u64 * self.height as u64;
        Estimate {
            runtime: RUNTIME,
            weights: self.weights,
            network: self.network_bytes(pixels),
            history: 2 * self.history_size as u64 * pixels * 3 * 4,
            temporal: if self.video {
                full * TEMPORAL_BYTES_PER_PIXEL
            } else {
                0
            },
            tiled: 0,
            style: self.style_pixels() * style_bytes_per_pixel(self.model),
        }
    }

    /// The network's forward and backward pass on `pixels`.
    fn network_bytes(&self, pixels: u64) -> u64 {
        pixels * network_bytes_per_pixel(self.model)
    }

    /// The estimated peak painted in `grid`'s tiles.
    pub fn estimate_tiled(&self, grid: &Grid) -> Estimate {
        Estimate {
            tiled: self.width as u64 * self.height as u64 * TILED_BYTES_PER_PIXEL,
            ..self.estimate_at(grid.tile_w, grid.tile_h)
        }
    }

    /// How a `width` x `height` painting of this job (the full size or a
    /// coarse one) fits `limit` bytes: whole (None), or in the largest
    /// tiles that fit; Err when not even a [`MIN_TILE`] square does.
    fn fit_at(&self, limit: u64, width: u32, height: u32) -> Result<Option<Grid>, ()> {
        if self.estimate_at(width, height).total() <= limit {
            return Ok(None);
        }
        let fixed = Estimate {
            tiled: self.width as u64 * self.height as u64 * TILED_BYTES_PER_PIXEL,
            style: 0,
            ..self.estimate_at(0, 0)
        };
        // Network and history per pixel of a tile, from a large one.
        let probe = 1 << 20;
        let at = self.estimate_at(1024, 1024);
        let per_pixel = (at.network + at.history).div_ceil(probe);
        let room = limit.checked_sub(fixed.total()).ok_or(())?;
        Grid::fit(width, height, room / per_pixel.max(1))
            .filter(|g| self.estimate_tiled(g).total() <= limit)
            .map(Some)
            .ok_or(())
    }
}

/// The budget a job must fit, and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub bytes: u64,
    /// `run.memory_limit` set, rather than the device's own.
    pub explicit: bool,
}

/// A job's estimate and the limit it was held to, for `vstyle check` and
/// the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    pub estimate: u64,
    /// None: no limit was set and the device's memory is unknown.
    pub limit: Option<u64>,
    /// The tiles each frame is painted in when it is too large to paint
    /// whole within the limit (then `estimate` is the tiled one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiles: Option<Grid>,
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "about {} at peak", human(self.estimate))?;
        match self.limit {
            Some(l) => write!(f, " (limit {})", human(l))?,
            None => write!(f, " (no limit known)")?,
        }
        if let Some(g) = &self.tiles {
            write!(
                f,
                ", in {}x{} tiles of {}x{} px ({} px overlap)",
                g.cols, g.rows, g.tile_w, g.tile_h, g.overlap
            )?;
        }
        Ok(())
    }
}

/// A job that would not fit its budget.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error("{what}: {width}x{height} with {model} needs about {} of memory, more than the limit of {}, even in tiles of {MIN_TILE}x{MIN_TILE} px; try a smaller input.size, or raise --memory-limit (run.memory_limit)", human(*.estimate), .limit)]
    Frame {
        what: String,
        width: u32,
        height: u32,
        model: &'static str,
        estimate: u64,
        limit: Limit,
    },
    /// Tiles do not help: the style images are passed through the network
    /// whole, at the whole picture's size.
    #[error("{what}: the style images at {side} px (input.size x style.scale) need about {} of memory with {model}, more than the limit of {}; try a smaller style.scale or input.size, or raise --memory-limit (run.memory_limit)", human(*.estimate), .limit)]
    Style {
        what: String,
        side: u32,
        model: &'static str,
        estimate: u64,
        limit: Limit,
    },
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", human(self.bytes))?;
        if !self.explicit {
            write!(f, " (what the device has, less a margin)")?;
        }
        Ok(())
    }
}

/// The largest style image's shorter side over its longer one, from the
/// files' headers; 1 (a square, the most pixels) for one that cannot be
/// read, which its load reports.
fn style_aspect(images: &[std::path::PathBuf]) -> f64 {
    images
        .iter()
        .map(|p| match image::image_dimensions(p) {
            Ok((w, h)) if w > 0 && h > 0 => w.min(h) as f64 / w.max(h) as f64,
            _ => 1.0,
        })
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE)
}

/// Estimates `shape`'s peak and holds it to `cfg`'s limit (or the device's
/// memory): the budget, painted whole or in tiles that fit, or a one-line
/// refusal naming `what` when not even the smallest tiles fit.
pub fn check(cfg: &JobConfig, what: &str, shape: &Shape) -> Result<Budget, MemoryError> {
    let whole = shape.painting().estimate().total();
    let Some(l) = limit(cfg) else {
        return Ok(Budget {
            estimate: whole,
            limit: None,
            tiles: None,
        });
    };
    let refuse = || MemoryError::Frame {
        what: what.to_string(),
        width: shape.width,
        height: shape.height,
        model: shape.model.as_str(),
        estimate: whole,
        limit: l,
    };
    // The painting first (tiles make it fit or nothing does), then the
    // style pass, which tiles do not make smaller.
    let tiles = shape
        .painting()
        .fit_at(l.bytes, shape.width, shape.height)
        .map_err(|()| refuse())?;
    let least = shape
        .estimate_at(0, 0)
        .with_style(shape.strip_pixels(MIN_STRIP_ROWS) * style_bytes_per_pixel(shape.model));
    if least.total() > l.bytes {
        return Err(MemoryError::Style {
            what: what.to_string(),
            side: shape.style_side(),
            model: shape.model.as_str(),
            estimate: shape.estimate_at(0, 0).total(),
            limit: l,
        });
    }
    let estimate = tiles.map_or(shape.estimate(), |g| shape.estimate_tiled(&g));
    let room = l.bytes.saturating_sub(estimate.runtime + estimate.weights);
    Ok(Budget {
        estimate: estimate.with_style(estimate.style.min(room)).total(),
        limit: Some(l.bytes),
        tiles,
    })
}

/// The tiles a `width` x `height` painting of `shape`'s job (a coarse size
/// of it) needs within `cfg`'s limit; None when it fits whole or no limit
/// is known. A size the full one's check let through fits at least in
/// the smallest tiles, as it is no larger.
pub fn tiles_at(cfg: &JobConfig, shape: &Shape, width: u32, height: u32) -> Option<Grid> {
    let l = limit(cfg)?;
    shape
        .painting()
        .fit_at(l.bytes, width, height)
        .ok()
        .flatten()
}

/// `run.memory_limit`, else what `run.device` has less a margin; None when
/// neither is known.
pub fn limit(cfg: &JobConfig) -> Option<Limit> {
    if let Some(text) = &cfg.run.memory_limit {
        // Validated with the config; an unparsable one cannot get here.
        return parse_size(&text.0).ok().map(|bytes| Limit {
            bytes,
            explicit: true,
        });
    }
    device_memory(&cfg.run.device).map(|have| Limit {
        bytes: have - have / MARGIN_DIVISOR,
        explicit: false,
    })
}

/// The memory `device` has for a job: a GPU's total, or on the CPU what
/// can be allocated now. None when it cannot be told.
pub fn device_memory(device: &str) -> Option<u64> {
    match parse_device(device).ok()? {
        DeviceRequest::Cpu => cpu_memory(),
        DeviceRequest::Cuda(n) => gpu_memory(n),
        DeviceRequest::Auto if tch::Cuda::is_available() => gpu_memory(0),
        DeviceRequest::Auto => cpu_memory(),
    }
}

/// `MemAvailable` (not `MemTotal`: other processes' memory is not ours to
/// take, while the page cache is), capped by the cgroup's remaining limit.
fn cpu_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = meminfo_field(&meminfo, "MemAvailable:")?;
    Some(match cgroup_room(Path::new("/sys/fs/cgroup")) {
        Some(room) => available.min(room),
        None => available,
    })
}

/// A `/proc/meminfo` field in bytes.
fn meminfo_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    let kib: u64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * KIB)
}

/// What a cgroup (v2 at `root`, else v1) still lets this process allocate.
fn cgroup_room(root: &Path) -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(root.join(name)).ok();
    let number = |text: Option<String>| text?.trim().parse::<u64>().ok();
    let (max, used) = match number(read("memory.max")) {
        Some(max) => (max, number(read("memory.current"))),
        None => (
            number(read("memory/memory.limit_in_bytes"))?,
            number(read("memory/memory.usage_in_bytes")),
        ),
    };
    // v1 says "no limit" with a number near i64::MAX.
    (max < 1 << 60).then(|| max.saturating_sub(used.unwrap_or(0)))
}

/// A GPU's total memory, from `nvidia-smi` (no CUDA bindings needed).
fn gpu_memory(index: usize) -> Option<u64> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.total", "--format=csv,noheader,nounits"])
        .arg(format!("--id={index}"))
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let mib: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(mib * MIB)
}

/// `run.memory_limit` as written: a size in words (`3GiB`) or bytes (a
/// TOML integer, as `--set run.memory_limit=2000000000` gives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "SizeWritten", into = "String")]
pub struct SizeText(pub String);

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeWritten {
    Bytes(u64),
    Text(String),
}

impl From<SizeWritten> for SizeText {
    fn from(w: SizeWritten) -> Self {
        match w {
            SizeWritten::Bytes(b) => Self(b.to_string()),
            SizeWritten::Text(t) => Self(t),
        }
    }
}

impl From<SizeText> for String {
    fn from(s: SizeText) -> Self {
        s.0
    }
}

impl From<&str> for SizeText {
    fn from(s: &str) -> Self {
        Self(s.to_string())
    }
}

/// A memory size that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    #[error(
        "`{0}` is not a size: give bytes, or a number with KiB, MiB, GiB, TiB (or kB, MB, GB, TB)"
    )]
    NotASize(String),
    #[error("`{0}`: must be at least one byte")]
    TooSmall(String),
}

/// `3GiB`, `512MiB`, `1.5 GB`, `2000000` (bytes): binary and decimal units.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let bad = || SizeError::NotASize(text.to_string());
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let unit = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => KIB,
        "mib" | "m" => MIB,
        "gib" | "g" => GIB,
        "tib" | "t" => 1024 * GIB,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(bad()),
    };
    let bytes = number * unit as f64;
    if !(1.0..1e18).contains(&bytes) {
        return Err(SizeError::TooSmall(text.to_string()));
    }
    Ok(bytes as u64)
}

/// Bytes as `1.5 GiB`, `640 MiB`.
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= GIB => format!("{:.1} GiB", b as f64 / GIB as f64),
        b if b >= MIB => format!("{} MiB", b.div_ceil(MIB)),
        b => format!("{} KiB", b.div_ceil(KIB)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(model: ModelName, side: u32) -> Shape {
        Shape {
            model,
            weights: 80 * MIB,
            width: side,
            height: side * 3 / 4,
            style_scale: 1.0,
            style_aspect: 0.75,
            history_size: 50,
            video: false,
        }
    }

    #[test]
    fn sizes_parse_in_binary_and_decimal_units_and_nonsense_is_named() {
        assert_eq!(parse_size("3GiB"), Ok(3 * GIB));
        assert_eq!(parse_size("512MiB"), Ok(512 * MIB));
        assert_eq!(parse_size(" 1.5 gib "), Ok(3 * GIB / 2));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("123456"), Ok(123_456));
        for bad in ["3 potatoes", "", "GiB", "-1GiB", "1.2.3MiB", "0", "0.1"] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn the_estimate_grows_with_the_picture_the_network_and_the_history() {
        let small = shape(ModelName::Vgg19, 256).estimate();
        let big = shape(ModelName::Vgg19, 512).estimate();
        // Four times the pixels: four times each per-pixel part.
        assert_eq!(big.network, 4 * small.network);
        assert_eq!(big.history, 4 * small.history);
        assert_eq!((big.runtime, big.weights), (small.runtime, small.weights));
        let squeeze = shape(ModelName::Squeezenet, 512).estimate();
        assert!(squeeze.network < big.network / 2);
        // Each L-BFGS pair holds two tensors of 3 x 384 x 512 floats.
        assert_eq!(big.history, 2 * 50 * 3 * 384 * 512 * 4);
        let video = Shape {
            video: true,
            ..shape(ModelName::Vgg19, 512)
        };
        assert!(video.estimate().temporal > 0 && big.temporal == 0);
        let larger_style = Shape {
            style_scale: 4.0,
            ..shape(ModelName::Vgg19, 512)
        };
        // The style pass is its own peak, before the painting: at 4x the
        // picture's side it is the larger one.
        let (styled, s) = (larger_style.estimate(), big.style);
        assert_eq!((styled.network, styled.style), (big.network, 16 * s));
        assert_eq!(s, 512 * 384 * style_bytes_per_pixel(ModelName::Vgg19));
        assert_eq!(styled.total(), styled.runtime + styled.weights + 16 * s);
        assert_eq!(
            big.total(),
            big.runtime + big.weights + big.network + big.history
        );
    }

    #[test]
    fn a_large_style_pass_runs_in_strips_and_one_over_the_limit_is_refused() {
        let mut cfg = JobConfig::default();
        cfg.run.memory_limit = Some("3GiB".into());
        // A 4K still: painted in tiles, its style image's 3840 px pass
        // (6.6 GB whole) in strips of what the limit leaves.
        let s = Shape {
            width: 3840,
            height: 2160,
            ..shape(ModelName::Vgg19, 0)
        };
        assert!(s.estimate().style > 6 * GIB);
        let b = check(&cfg, "poster.png", &s).unwrap();
        assert!(b.tiles.is_some() && b.estimate <= 3 * GIB, "{b}");
        // Not even a strip of 32 rows and its context fits beside the
        // runtime: refused, naming style.scale.
        cfg.run.memory_limit = Some("1GiB".into());
        let s = Shape {
            style_scale: 8.0,
            ..shape(ModelName::Vgg19, 512)
        };
        let e = check(&cfg, "poster.png", &s).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "poster.png: the style images at 4096 px (input.size x style.scale) need about "
            ) && e
                .contains("with vgg19, more than the limit of 1.0 GiB; try a smaller style.scale"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn a_job_over_its_limit_is_painted_in_tiles_that_fit() {
        let mut cfg = JobConfig::default();
        cfg.run.memory_limit = Some("1536MiB".into());
        let s = shape(ModelName::Vgg19, 1024);
        let b = check(&cfg, "clip.mp4", &s).unwrap();
        let g = b.tiles.expect("over the limit whole: tiles");
        let limit = 1536 * MIB;
        assert!(s.estimate().total() > limit && b.estimate <= limit, "{b}");
        assert_eq!(b.estimate, s.estimate_tiled(&g).total());
        assert!(g.cols * g.rows > 1 && g.tile_w >= MIN_TILE && g.tile_h >= MIN_TILE);
        assert!(b.to_string().contains(&format!(
            "in {}x{} tiles of {}x{} px",
            g.cols, g.rows, g.tile_w, g.tile_h
        )));
        // The largest tiles: a tile a row of 8 px taller would not fit.
        let taller = Grid {
            tile_h: g.tile_h + 8,
            ..g
        };
        assert!(
            g.tile_h == 768 || s.estimate_tiled(&taller).total() > limit,
            "{g:?}"
        );
        // Coarse sizes that fit stay whole.
        assert_eq!(tiles_at(&cfg, &s, 256, 192), None);
        assert_eq!(tiles_at(&cfg, &s, 1024, 768), Some(g));
        cfg.run.memory_limit = Some("64GiB".into());
        let b = check(&cfg, "clip.mp4", &s).unwrap();
        assert_eq!((b.limit, b.tiles), (Some(64 * GIB), None));
        assert_eq!(b.estimate, s.estimate().total());
    }

    #[test]
    fn a_limit_below_the_smallest_tile_is_refused_in_one_line() {
        let mut cfg = JobConfig::default();
        let s = Shape {
            style_scale: 0.25,
            ..shape(ModelName::Vgg19, 1024)
        };
        // The runtime and the weights alone: no room for a tile.
        cfg.run.memory_limit = Some("720MiB".into());
        let e = check(&cfg, "clip.mp4", &s).unwrap_err().to_string();
        let total = human(s.estimate().total());
        assert!(
            e.starts_with("clip.mp4: 1024x768 with vgg19 needs about ")
                && e.contains(&total)
                && e.contains("limit of 720 MiB, even in tiles of 64x64 px;")
                && e.contains("smaller input.size")
                && e.contains("--memory-limit (run.memory_limit)"),
            "{e}"
        );
        assert_eq!(e.lines().count(), 1);
        // Room for a few rows of pixels, not for a 64 px square.
        let fixed = Estimate {
            style: 0,
            ..s.estimate_at(0, 0)
        }
        .total()
            + 1024 * 768 * TILED_BYTES_PER_PIXEL;
        let limit = fixed + 64 * 32 * 5_500;
        cfg.run.memory_limit = Some(SizeText(limit.to_string()));
        assert!(check(&cfg, "clip.mp4", &s).is_err());
        let limit = fixed + 64 * 64 * 5_500 + MIB;
        cfg.run.memory_limit = Some(SizeText(limit.to_string()));
        let g = check(&cfg, "clip.mp4", &s).unwrap().tiles.unwrap();
        assert_eq!((g.tile_w, g.tile_h), (64, 64), "{g:?}");
    }

    #[test]
    fn the_cpu_has_what_meminfo_makes_available_within_the_cgroup() {
        let text = "MemTotal:       24684000 kB\nMemAvailable:   23590000 kB\n";
        assert_eq!(meminfo_field(text, "MemAvailable:"), Some(23_590_000 * KIB));
        assert_eq!(meminfo_field(text, "MemFree:"), None);
        let root = tempfile::tempdir().unwrap();
        assert_eq!(cgroup_room(root.path()), None, "no cgroup files");
        std::fs::write(root.path().join("memory.max"), "max\n").unwrap();
        assert_eq!(cgroup_room(root.path()), None, "v2 without a limit");
        std::fs::write(root.path().join("memory.max"), "4294967296\n").unwrap();
        std::fs::write(root.path().join("memory.current"), "1073741824\n").unwrap();
        assert_eq!(cgroup_room(root.path()), Some(3 * GIB));
        let v1 = tempfile::tempdir().unwrap();
        std::fs::create_dir(v1.path().join("memory")).unwrap();
        let limit = v1.path().join("memory/memory.limit_in_bytes");
        std::fs::write(&limit, "9223372036854771712\n").unwrap();
        assert_eq!(cgroup_room(v1.path()), None, "v1 without a limit");
        std::fs::write(&limit, "2147483648\n").unwrap();
        assert_eq!(cgroup_room(v1.path()), Some(2 * GIB));
        let cpu = device_memory("cpu").expect("Linux has /proc/meminfo");
        assert!(cpu > 0);
    }

    #[test]
    fn without_a_limit_the_device_less_a_margin_bounds_the_job() {
        let cfg = JobConfig {
            run: crate::config::RunConfig {
                device: "cpu".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let l = limit(&cfg).unwrap();
        assert!(!l.explicit && l.bytes > 0);
        // A picture far beyond any machine's memory.
        let e = check(&cfg, "a.png", &shape(ModelName::Vgg19, 60_000)).unwrap_err();
        assert!(e.to_string().contains("less a margin"), "{e}");
    }
}
