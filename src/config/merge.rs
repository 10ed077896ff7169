//! Typed flags and `--set` overrides merged onto a job file's settings.

use super::{ConfigError, JobConfig};

/// A setting from a command-line flag: the config key it stands for (a
/// `--set` of the same key wins) and how it changes the config.
pub struct Flag {
    pub key: &'static str,
    pub apply: Box<dyn FnOnce(&mut JobConfig)>,
}

impl Flag {
    pub fn new(key: &'static str, apply: impl FnOnce(&mut JobConfig) + 'static) -> Self {
        Self {
            key,
            apply: Box::new(apply),
        }
    }
}

/// Which of the model-dependent loss weights a job gives itself; the others
/// follow the model ([`ModelName::default_loss_weights`]).
#[derive(Debug, Default)]
pub(super) struct GivenLossWeights {
    content: bool,
    style: bool,
    tv: bool,
}

impl GivenLossWeights {
    pub(super) fn of(table: &toml::Table) -> Self {
        let loss = table.get("loss").and_then(|l| l.as_table());
        let has = |key: &str| loss.is_some_and(|l| l.contains_key(key));
        Self {
            content: has("content_weight"),
            style: has("style_weight"),
            tv: has("tv_weight"),
        }
    }

    pub(super) fn mark(&mut self, key: &str) {
        match key {
            "loss.content_weight" => self.content = true,
            "loss.style_weight" => self.style = true,
            "loss.tv_weight" => self.tv = true,
            _ => {}
        }
    }

    pub(super) fn fill_model_defaults(&self, cfg: &mut JobConfig) {
        let w = cfg.model.name.default_loss_weights(cfg.model.pooling());
        let l = &mut cfg.loss;
        for (given, slot, default) in [
            (self.content, &mut l.content_weight, w.content),
            (self.style, &mut l.style_weight, w.style),
            (self.tv, &mut l.tv_weight, w.tv),
        ] {
            if !given {
                *slot = default;
            }
        }
    }
}

/// Parses `KEY=VALUE`; VALUE is read as TOML when it parses (numbers, booleans,
/// arrays) and as a plain string otherwise.
pub fn parse_override(s: &str) -> Result<(String, toml::Value), ConfigError> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| ConfigError::BadOverride(s.to_string()))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(ConfigError::BadOverride(s.to_string()));
    }
    let value = value.trim();
    let parsed = toml::from_str::<toml::Table>(&format!("v = {value}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_string()));
    Ok((key.to_string(), parsed))
}

/// Sets a dotted `--set` key in the parsed table; `file` names it in errors.
pub(super) fn set_dotted(
    table: &mut toml::Table,
    file: &str,
    key: &str,
    value: toml::Value,
) -> Result<(), ConfigError> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = table;
    for p in parts {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry.as_table_mut().ok_or_else(|| ConfigError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            message: format!("`{p}` is not a table"),
        })?;
    }
    cur.insert(last.to_string(), value);
    Ok(())
}
