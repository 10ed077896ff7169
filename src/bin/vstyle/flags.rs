//! Command-line flags onto the typed job config: each flag sets one config
//! key (named as in job files), and a `--set` of the same key wins.
use anyhow::Result;
use serde::de::DeserializeOwned;
use vstyle::config::{parse_override, ConfigError, Flag, InitKind, JobConfig};
use vstyle::memory::SizeText;

use crate::cli::{FrameFlags, ImageArgs, PreviewArgs, StyleFlags, VideoArgs};

/// A flag's text as the enum a job file would name (`vgg19`, `prev_warped`, ...).
fn named<T: DeserializeOwned>(flag: &str, text: &str) -> Result<T, ConfigError> {
    T::deserialize(toml::Value::String(text.to_string())).map_err(|e| ConfigError::Invalid {
        file: "command line".into(),
        key: flag.into(),
        message: e.message().trim().replace('\n', " "),
    })
}

/// An optional flag's text as the enum a job file would name.
fn named_opt<T: DeserializeOwned>(
    flag: &str,
    text: Option<&str>,
) -> Result<Option<T>, ConfigError> {
    text.map(|s| named(flag, s)).transpose()
}

/// Pushes a flag for `key` when the option is given.
fn opt<T: 'static>(
    out: &mut Vec<Flag>,
    key: &'static str,
    value: Option<T>,
    set: impl FnOnce(&mut JobConfig, T) + 'static,
) {
    if let Some(v) = value {
        out.push(Flag::new(key, move |c| set(c, v)));
    }
}

impl StyleFlags {
    pub fn flags(&self) -> Result<Vec<Flag>, ConfigError> {
        let mut f = Vec::new();
        let styles = (!self.styles.is_empty()).then(|| self.styles.clone());
        opt(&mut f, "style.images", styles, |c, v| c.style.images = v);
        opt(
            &mut f,
            "style.blend_weights",
            self.style_weights.clone(),
            |c, v| c.style.blend_weights = Some(v),
        );
        opt(&mut f, "style.scale", self.style_scale, |c, v| {
            c.style.scale = v
        });
        let colors = self.original_colors.then_some(true);
        opt(&mut f, "style.original_colors", colors, |c, v| {
            c.style.original_colors = v
        });
        opt(&mut f, "input.size", self.size, |c, v| {
            c.input.size = Some(v)
        });
        self.model_flags(&mut f)?;
        opt(
            &mut f,
            "loss.content_weight",
            self.content_weight,
            |c, v| c.loss.content_weight = v,
        );
        opt(&mut f, "loss.style_weight", self.style_weight, |c, v| {
            c.loss.style_weight = v
        });
        opt(&mut f, "loss.tv_weight", self.tv_weight, |c, v| {
            c.loss.tv_weight = v
        });
        let init = named_opt("--init", self.init.as_deref())?;
        opt(&mut f, "run.init", init, |c, v| c.run.init = v);
        opt(&mut f, "run.seed", self.seed, |c, v| c.run.seed = v);
        opt(&mut f, "run.device", self.device.clone(), |c, v| {
            c.run.device = v
        });
        opt(&mut f, "run.print_every", self.print_every, |c, v| {
            c.run.print_every = v
        });
        f.extend(memory_flag(self.memory_limit.as_deref()));
        Ok(f)
    }

    fn model_flags(&self, f: &mut Vec<Flag>) -> Result<(), ConfigError> {
        let model = named_opt("--model", self.model.as_deref())?;
        opt(f, "model.name", model, |c, v| c.model.name = v);
        opt(f, "model.weights", self.weights.clone(), |c, v| {
            c.model.weights = Some(v)
        });
        let pooling = named_opt("--pooling", self.pooling.as_deref())?;
        opt(f, "model.pooling", pooling, |c, v| {
            c.model.pooling = Some(v)
        });
        opt(
            f,
            "model.content_layers",
            self.content_layers.clone(),
            |c, v| c.model.content_layers = Some(v),
        );
        opt(
            f,
            "model.style_layers",
            self.style_layers.clone(),
            |c, v| c.model.style_layers = Some(v),
        );
        Ok(())
    }

    /// The job config: the --config file (or defaults), these flags and
    /// `extra` ones, then --set.
    fn job(&self, extra: Vec<Flag>) -> Result<JobConfig> {
        let mut flags = extra;
        flags.extend(self.flags()?);
        assemble(self.config.as_deref(), flags, &self.set)
    }
}

/// `--memory-limit`, as `run.memory_limit`.
pub fn memory_flag(limit: Option<&str>) -> Vec<Flag> {
    let mut f = Vec::new();
    opt(
        &mut f,
        "run.memory_limit",
        limit.map(SizeText::from),
        |c, v| c.run.memory_limit = Some(v),
    );
    f
}

/// A job file (or the defaults) with typed flags and `--set` overrides.
pub fn assemble(
    file: Option<&std::path::Path>,
    flags: Vec<Flag>,
    sets: &[String],
) -> Result<JobConfig> {
    let parsed = sets
        .iter()
        .map(|s| parse_override(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(JobConfig::assemble(file, flags, &parsed)?)
}

impl ImageArgs {
    pub fn job(&self) -> Result<JobConfig> {
        let mut extra = Vec::new();
        opt(
            &mut extra,
            "optimizer.first_frame_iterations",
            self.iterations,
            |c, v| c.optimizer.first_frame_iterations = v,
        );
        self.flags.job(extra)
    }
}

impl FrameFlags {
    fn add_to(&self, e: &mut Vec<Flag>) {
        opt(e, "input.max_frames", self.max_frames, |c, v| {
            c.input.max_frames = Some(v)
        });
        opt(
            e,
            "optimizer.first_frame_iterations",
            self.first_iterations,
            |c, v| c.optimizer.first_frame_iterations = v,
        );
        opt(e, "optimizer.frame_iterations", self.iterations, |c, v| {
            c.optimizer.frame_iterations = v
        });
    }
}

impl VideoArgs {
    pub fn job(&self) -> Result<JobConfig> {
        let mut e = Vec::new();
        opt(&mut e, "input.path", Some(self.input.clone()), |c, v| {
            c.input.path = v
        });
        opt(&mut e, "output.path", Some(self.output.clone()), |c, v| {
            c.output.path = Some(v)
        });
        self.budget.add_to(&mut e);
        opt(
            &mut e,
            "loss.temporal_weight",
            self.temporal_weight,
            |c, v| c.loss.temporal_weight = v,
        );
        let mut flags = self.flags.clone();
        // --init names the start of later frames; content/noise apply to the first too.
        if let Some(text) = flags.init.take() {
            let kind: InitKind = named("--init", &text)?;
            if matches!(kind, InitKind::Content | InitKind::Noise) {
                opt(&mut e, "run.init", Some(kind), |c, v| c.run.init = v);
            }
            opt(&mut e, "run.frame_init", Some(kind), |c, v| {
                c.run.frame_init = v
            });
        }
        flags.job(e)
    }
}

impl PreviewArgs {
    /// Whether the source is a job file rather than a clip.
    pub fn is_job_file(&self) -> bool {
        self.source.extension().is_some_and(|e| e == "toml")
    }

    fn extra_flags(&self) -> Vec<Flag> {
        let mut e = Vec::new();
        if !self.is_job_file() {
            opt(&mut e, "input.path", Some(self.source.clone()), |c, v| {
                c.input.path = v
            });
        }
        self.budget.add_to(&mut e);
        e
    }

    /// The config of a cell: the job file (or --config), the flags, --set,
    /// then the cell's own overrides.
    pub fn config(&self, extra: &[(String, toml::Value)]) -> vstyle::Result<JobConfig> {
        let file = match self.is_job_file() {
            true => Some(self.source.as_path()),
            false => self.flags.config.as_deref(),
        };
        let mut flags = self.extra_flags();
        flags.extend(self.flags.flags()?);
        let mut sets = self
            .flags
            .set
            .iter()
            .map(|s| parse_override(s))
            .collect::<Result<Vec<_>, _>>()?;
        sets.extend_from_slice(extra);
        Ok(JobConfig::assemble(file, flags, &sets)?)
    }
}
