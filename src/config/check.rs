//! Limits of the numeric settings and the checks of values that parse but
//! make no sense, one function per section.

use super::{
    BatchConfig, ConfigError, InitKind, InputConfig, JobConfig, LossConfig, ModelConfig,
    OptimizerConfig, OutputConfig, RunConfig, ShardsConfig, StyleConfig,
};

/// Bounds of the numeric settings. Larger values parse, but no machine runs
/// them: an L-BFGS history of 100 pictures of 4096 px is already 32 GB.
pub const MIN_SIZE: u32 = 16;
pub const MAX_SIZE: u32 = 4096;
/// Every 10000th frame: one frame in 5.5 minutes of 30 fps video.
pub const MAX_STEP: usize = 10_000;
/// Highest `input.fps` taken (a slow-motion capture rate, with room to spare).
pub const MAX_FPS: f64 = 1000.0;
pub const MAX_ITERATIONS: usize = 100_000;
pub const MAX_EVALUATIONS: usize = 1_000_000;
pub const MAX_HISTORY: usize = 1_000;
pub const MAX_STOP_WINDOW: usize = 10_000;
pub const MAX_PASSES: usize = 100;
/// Frames on each side of a seam that the join re-optimises.
pub const MAX_SEAM_WINDOW: usize = 1_000;
/// The largest `shards.cut_search`.
pub const MAX_CUT_SEARCH: f64 = 0.4;
/// Long-term temporal terms: each keeps that many frames and adds two flows per frame.
pub const MAX_LONG_TERM_OFFSET: usize = 100;
pub const MAX_LONG_TERM_TERMS: usize = 8;
/// The widest number in an image pattern (`%020d`); a usize has at most 20 digits.
pub const MAX_PATTERN_WIDTH: usize = 20;

/// Why an `output.frames` pattern is refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum PatternError {
    #[error("must not be empty")]
    Empty,
    #[error("`{0}`: expected one %d or %0Nd (N <= {MAX_PATTERN_WIDTH}), e.g. out/f_%05d.png")]
    Usage(String),
    #[error("`{0}`: number width too large; expected one %d or %0Nd (N <= {MAX_PATTERN_WIDTH}), e.g. out/f_%05d.png")]
    Width(String),
}

/// An image pattern for `output.frames`: without `%`, frame numbers are
/// appended; with it, the `%` must start `%d` or `%0Nd` (N <= 20), once.
pub(super) fn check_frames_pattern(pattern: &str) -> Result<(), PatternError> {
    if pattern.is_empty() {
        return Err(PatternError::Empty);
    }
    let Some(pos) = pattern.find('%') else {
        return Ok(());
    };
    let rest = &pattern[pos + 1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if !rest[digits..].starts_with('d') || rest[digits + 1..].contains('%') {
        return Err(PatternError::Usage(pattern.to_string()));
    }
    let width = rest[..digits].trim_start_matches('0');
    if width.len() > 2 || width.parse::<usize>().unwrap_or(0) > MAX_PATTERN_WIDTH {
        return Err(PatternError::Width(pattern.to_string()));
    }
    Ok(())
}

impl JobConfig {
    /// Checks values that parse but make no sense, section by section.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let c = Checker { file };
        match &self.batch {
            Some(b) => c.batch(b, self)?,
            None => c.style(&self.style)?,
        }
        c.loss(&self.loss)?;
        c.input(&self.input, self.style.scale)?;
        c.optimizer(&self.optimizer)?;
        c.output(&self.output)?;
        c.run(&self.run)?;
        c.shards(&self.shards)?;
        c.model(&self.model)
    }
}

/// Validation of one config, naming `file` and the key in every error.
struct Checker<'a> {
    file: &'a str,
}

impl Checker<'_> {
    fn bad(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            key: key.to_string(),
            message,
        }
    }

    fn nonneg(&self, key: &str, v: f64) -> Result<(), ConfigError> {
        if v.is_finite() && v >= 0.0 {
            Ok(())
        } else {
            Err(self.bad(key, format!("must be a number >= 0 (got {v})")))
        }
    }

    fn within(&self, key: &str, v: usize, lo: usize, hi: usize) -> Result<(), ConfigError> {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.bad(key, format!("must be in {lo}..={hi} (got {v})")))
        }
    }

    fn style(&self, style: &StyleConfig) -> Result<(), ConfigError> {
        if style.images.is_empty() {
            return Err(self.bad("style.images", "at least one style image is needed".into()));
        }
        if let Some(w) = &style.blend_weights {
            self.blend_weights(w, style.images.len())?;
        }
        if !(style.scale.is_finite() && style.scale > 0.0 && style.scale <= 8.0) {
            return Err(self.bad(
                "style.scale",
                format!("must be in (0, 8] (got {})", style.scale),
            ));
        }
        Ok(())
    }

    fn batch(&self, b: &BatchConfig, cfg: &JobConfig) -> Result<(), ConfigError> {
        if b.clips.is_empty() {
            return Err(self.bad("batch.clips", "list at least one clip".into()));
        }
        if b.styles.is_empty() {
            self.style(&cfg.style)?;
        }
        if let Some(i) = b.styles.iter().position(|s| s.images().is_empty()) {
            return Err(self.bad(&format!("batch.styles[{i}]"), "an empty blend".into()));
        }
        self.batch_outputs(b, &cfg.output)
    }

    /// A batch names each output by its template; a fixed path would collide.
    fn batch_outputs(&self, b: &BatchConfig, output: &OutputConfig) -> Result<(), ConfigError> {
        for (key, set) in [
            ("output.path", output.path.is_some()),
            ("output.frames", output.frames.is_some()),
            ("output.work_dir", output.work_dir.is_some()),
            ("output.report", output.report.is_some()),
        ] {
            if set {
                return Err(self.bad(key, "a batch names its outputs with batch.output".into()));
            }
        }
        let needs = [
            ("{clip}", b.clips.len() > 1),
            ("{style}", b.styles.len() > 1),
        ];
        if b.output.is_empty() {
            return Err(self.bad(
                "batch.output",
                "set a template like out/{clip}_{style}.mp4".into(),
            ));
        }
        for (field, needed) in needs {
            if needed && !b.output.contains(field) {
                return Err(self.bad(
                    "batch.output",
                    format!(
                        "`{}` must contain {field}, or the outputs collide",
                        b.output
                    ),
                ));
            }
        }
        Ok(())
    }

    fn blend_weights(&self, w: &[f64], images: usize) -> Result<(), ConfigError> {
        let key = "style.blend_weights";
        if w.len() != images {
            return Err(self.bad(
                key,
                format!("{} weights for {images} style images", w.len()),
            ));
        }
        for &x in w {
            self.nonneg(key, x)?;
        }
        let sum = w.iter().sum::<f64>();
        if sum <= 0.0 {
            return Err(self.bad(key, "must not all be 0".into()));
        }
        if !sum.is_finite() {
            return Err(self.bad(key, format!("their sum must be finite (got {sum})")));
        }
        Ok(())
    }

    fn loss(&self, loss: &LossConfig) -> Result<(), ConfigError> {
        self.nonneg("loss.content_weight", loss.content_weight)?;
        self.nonneg("loss.style_weight", loss.style_weight)?;
        self.nonneg("loss.tv_weight", loss.tv_weight)?;
        self.nonneg("loss.temporal_weight", loss.temporal_weight)?;
        self.nonneg("loss.range_weight", loss.range_weight)?;
        if loss.long_term.len() > MAX_LONG_TERM_TERMS {
            return Err(self.bad(
                "loss.long_term",
                format!(
                    "at most {MAX_LONG_TERM_TERMS} offsets (got {})",
                    loss.long_term.len()
                ),
            ));
        }
        if let Some(&k) = loss
            .long_term
            .iter()
            .find(|&&k| !(2..=MAX_LONG_TERM_OFFSET).contains(&k))
        {
            return Err(self.bad(
                "loss.long_term",
                format!(
                    "offsets must be in 2..={MAX_LONG_TERM_OFFSET} (got {k}; 1 is the short-term term)"
                ),
            ));
        }
        Ok(())
    }

    fn input(&self, input: &InputConfig, style_scale: f64) -> Result<(), ConfigError> {
        if let Some(s) = input.size {
            self.sizes(s, style_scale)?;
        }
        self.within("input.step", input.step, 1, MAX_STEP)?;
        if input.max_frames == Some(0) {
            return Err(self.bad("input.max_frames", "must be >= 1".into()));
        }
        if let Some(fps) = input.fps {
            if !(fps.is_finite() && fps > 0.0 && fps <= MAX_FPS) {
                return Err(self.bad(
                    "input.fps",
                    format!("must be a rate in frames per second, above 0 and at most {MAX_FPS} (got {fps})"),
                ));
            }
        }
        if let Some(end) = input.end {
            if end <= input.start {
                return Err(self.bad(
                    "input.end",
                    format!("must be > input.start ({})", input.start),
                ));
            }
        }
        Ok(())
    }

    fn sizes(&self, s: u32, style_scale: f64) -> Result<(), ConfigError> {
        if !(MIN_SIZE..=MAX_SIZE).contains(&s) {
            return Err(self.bad(
                "input.size",
                format!("must be in {MIN_SIZE}..={MAX_SIZE} pixels (got {s})"),
            ));
        }
        // The style images are resized to size x scale before their Gram matrices are taken.
        let side = s as f64 * style_scale;
        if side.round() > MAX_SIZE as f64 {
            return Err(self.bad(
                "style.scale",
                format!(
                    "the style images would be {side:.0} px (input.size {s} x style.scale {style_scale}); at most {MAX_SIZE}"
                ),
            ));
        }
        Ok(())
    }

    fn optimizer(&self, o: &OptimizerConfig) -> Result<(), ConfigError> {
        self.iterations(o)?;
        self.within("optimizer.history_size", o.history_size, 1, MAX_HISTORY)?;
        self.nonneg("optimizer.tolerance_grad", o.tolerance_grad)?;
        self.nonneg("optimizer.tolerance_change", o.tolerance_change)?;
        self.nonneg("optimizer.stop_tolerance", o.stop_tolerance)?;
        self.nonneg("optimizer.style_hold", o.style_hold)?;
        self.within("optimizer.stop_window", o.stop_window, 1, MAX_STOP_WINDOW)?;
        self.coarse_sizes(o)?;
        self.within("optimizer.passes", o.passes, 1, MAX_PASSES)?;
        self.within(
            "optimizer.temporal_from_pass",
            o.temporal_from_pass,
            1,
            MAX_PASSES,
        )?;
        self.fraction("optimizer.pass_blend", o.pass_blend)
    }

    /// The iteration and evaluation budgets.
    fn iterations(&self, o: &OptimizerConfig) -> Result<(), ConfigError> {
        let iterations = [
            ("optimizer.first_frame_iterations", o.first_frame_iterations),
            ("optimizer.frame_iterations", o.frame_iterations),
        ];
        for (key, n) in iterations {
            self.within(key, n, 1, MAX_ITERATIONS)?;
        }
        if let Some(m) = o.max_evaluations {
            self.within("optimizer.max_evaluations", m, 1, MAX_EVALUATIONS)?;
        }
        Ok(())
    }

    /// Coarse to fine and the extra iterations a warm frame may get.
    fn coarse_sizes(&self, o: &OptimizerConfig) -> Result<(), ConfigError> {
        if o.min_size != 0 {
            self.within(
                "optimizer.min_size",
                o.min_size as usize,
                MIN_SIZE as usize,
                MAX_SIZE as usize,
            )?;
        }
        if let Some(n) = o.scale_iterations {
            self.within("optimizer.scale_iterations", n, 1, MAX_ITERATIONS)?;
        }
        let extra = [
            ("optimizer.new_pixel_iterations", o.new_pixel_iterations),
            ("optimizer.frame_scale_iterations", o.frame_scale_iterations),
            ("optimizer.hold_iterations", o.hold_iterations),
        ];
        for (key, n) in extra {
            self.within(key, n, 0, MAX_ITERATIONS)?;
        }
        Ok(())
    }

    fn fraction(&self, key: &str, v: f64) -> Result<(), ConfigError> {
        self.between(key, v, 0.0, 1.0)
    }

    /// `v` in `[lo, hi]` (a NaN is not).
    fn between(&self, key: &str, v: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
        if (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.bad(key, format!("must be in [{lo}, {hi}] (got {v})")))
        }
    }

    fn shards(&self, s: &ShardsConfig) -> Result<(), ConfigError> {
        self.within("shards.seam_window", s.seam_window, 0, MAX_SEAM_WINDOW)?;
        self.within("shards.seam_passes", s.seam_passes, 1, MAX_PASSES)?;
        if let Some(n) = s.seam_iterations {
            self.within("shards.seam_iterations", n, 1, MAX_ITERATIONS)?;
        }
        self.nonneg("shards.seam_temporal_scale", s.seam_temporal_scale)?;
        // Below half a shard, neighbouring cuts' searches cannot overlap.
        self.between("shards.cut_search", s.cut_search, 0.0, MAX_CUT_SEARCH)
    }

    fn output(&self, output: &OutputConfig) -> Result<(), ConfigError> {
        if output.crf > 51 {
            return Err(self.bad(
                "output.crf",
                format!("must be in 0..=51 (got {})", output.crf),
            ));
        }
        if let Some(f) = &output.frames {
            check_frames_pattern(f).map_err(|e| self.bad("output.frames", e.to_string()))?;
        }
        Ok(())
    }

    fn run(&self, run: &RunConfig) -> Result<(), ConfigError> {
        crate::device::parse_device(&run.device)
            .map_err(|e| self.bad("run.device", e.to_string()))?;
        if matches!(run.init, InitKind::Prev | InitKind::PrevWarped) {
            return Err(self.bad(
                "run.init",
                "the first frame has no previous frame: use content or noise".into(),
            ));
        }
        if let Some(limit) = &run.memory_limit {
            crate::memory::parse_size(&limit.0)
                .map_err(|e| self.bad("run.memory_limit", e.to_string()))?;
        }
        self.fraction("run.new_shot", run.new_shot)
    }

    fn model(&self, model: &ModelConfig) -> Result<(), ConfigError> {
        for (key, layers) in [
            ("model.content_layers", &model.content_layers),
            ("model.style_layers", &model.style_layers),
        ] {
            if layers.as_ref().is_some_and(|v| v.is_empty()) {
                return Err(self.bad(key, "must name at least one layer".into()));
            }
        }
        Ok(())
    }
}
