//! Reading and parsing a job file: errors name the file, and the line and
//! column or the key.

use serde::Deserialize;
use std::path::{Path, PathBuf};

use super::merge::{set_dotted, GivenLossWeights};
use super::{ConfigError, Flag, JobConfig, StyleChoice};

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

fn parse_error(file: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
    ConfigError::Parse {
        file: file.to_string(),
        line,
        column,
        message: e.message().trim().replace('\n', " "),
    }
}

impl JobConfig {
    /// Reads a job file, applies `--set` overrides, validates. Relative paths in
    /// the file are taken relative to the file's directory.
    pub fn load(path: &Path, overrides: &[(String, toml::Value)]) -> Result<Self, ConfigError> {
        Self::assemble(Some(path), Vec::new(), overrides)
    }

    /// The config a command runs: the job file (or the defaults), then the
    /// command's typed flags, then `--set` overrides, which win over both.
    /// Paths in the file are relative to the file; those of flags and `--set`,
    /// to the working directory. Loss weights that none of them gives follow
    /// the model. Validated.
    pub fn assemble(
        file: Option<&Path>,
        flags: Vec<Flag>,
        overrides: &[(String, toml::Value)],
    ) -> Result<Self, ConfigError> {
        let name = file.map_or("command line".to_string(), |p| p.display().to_string());
        let text = match file {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                file: name.clone(),
                source,
            })?,
            None => String::new(),
        };
        let (mut cfg, mut given) = Self::parse(&text, &name, overrides)?;
        let set_keys: Vec<&str> = overrides.iter().map(|(k, _)| k.as_str()).collect();
        if let Some(path) = file {
            cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")), &set_keys);
        }
        for flag in flags.into_iter().filter(|f| !set_keys.contains(&f.key)) {
            given.mark(flag.key);
            (flag.apply)(&mut cfg);
        }
        given.fill_model_defaults(&mut cfg);
        cfg.validate(&name)?;
        cfg.source = name;
        Ok(cfg)
    }

    /// Parses TOML text with overrides; `file` names it in errors. Loss
    /// weights the text leaves out follow the model. No validation.
    pub fn from_toml_str(
        text: &str,
        file: &str,
        overrides: &[(String, toml::Value)],
    ) -> Result<Self, ConfigError> {
        let (mut cfg, given) = Self::parse(text, file, overrides)?;
        given.fill_model_defaults(&mut cfg);
        cfg.source = file.to_string();
        Ok(cfg)
    }

    fn parse(
        text: &str,
        file: &str,
        overrides: &[(String, toml::Value)],
    ) -> Result<(Self, GivenLossWeights), ConfigError> {
        let mut table: toml::Table =
            toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
        for (k, v) in overrides {
            set_dotted(&mut table, file, k, v.clone())?;
        }
        let given = GivenLossWeights::of(&table);
        let cfg: JobConfig = if overrides.is_empty() {
            // Straight from the text, so errors carry line numbers.
            toml::from_str(text).map_err(|e| parse_error(file, text, &e))?
        } else {
            JobConfig::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Invalid {
                file: file.to_string(),
                key: "--set".into(),
                message: e.message().trim().replace('\n', " "),
            })?
        };
        Ok((cfg, given))
    }

    fn resolve_paths(&mut self, base: &Path, skip: &[&str]) {
        let fix = |key: &str, p: &mut PathBuf| {
            if !skip.contains(&key) && !p.as_os_str().is_empty() && p.is_relative() {
                *p = crate::paths::tidy(&base.join(&*p));
            }
        };
        fix("input.path", &mut self.input.path);
        if let Some(p) = self.output.path.as_mut() {
            fix("output.path", p)
        }
        if let Some(p) = self.output.work_dir.as_mut() {
            fix("output.work_dir", p)
        }
        if let Some(p) = self.output.report.as_mut() {
            fix("output.report", p)
        }
        if let Some(f) = self.output.frames.as_mut() {
            if !skip.contains(&"output.frames") && Path::new(f).is_relative() {
                *f = crate::paths::tidy(&base.join(&*f)).display().to_string();
            }
        }
        for p in &mut self.style.images {
            fix("style.images", p)
        }
        if let Some(b) = self.batch.as_mut() {
            b.clips.iter_mut().for_each(|p| fix("batch.clips", p));
            for choice in &mut b.styles {
                match choice {
                    StyleChoice::One(p) => fix("batch.styles", p),
                    StyleChoice::Blend(v) => v.iter_mut().for_each(|p| fix("batch.styles", p)),
                }
            }
            if !skip.contains(&"batch.output") && Path::new(&b.output).is_relative() {
                b.output = crate::paths::tidy(&base.join(&b.output))
                    .display()
                    .to_string();
            }
        }
        if let Some(p) = self.model.weights.as_mut() {
            fix("model.weights", p)
        }
    }
}
