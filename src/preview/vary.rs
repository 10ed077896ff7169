//! `--vary KEY=V1,V2,...`: one config key and the values a preview tries,
//! each read as `--set KEY=V` reads it.
use std::path::Path;

use crate::config::{parse_override, ConfigError};

/// Values per key: a sheet is a small grid, not a search.
pub const MAX_VALUES: usize = 8;

/// A key and its values, with a short label for each.
#[derive(Debug, Clone, PartialEq)]
pub struct Vary {
    pub key: String,
    pub values: Vec<toml::Value>,
    pub labels: Vec<String>,
}

fn invalid(text: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        file: "command line".into(),
        key: format!("--vary {text}"),
        message: message.into(),
    }
}

/// Splits on commas outside brackets and quotes, so an array value
/// (`[1, 2]`) stays one value.
fn split_values(text: &str) -> Vec<&str> {
    let (mut out, mut depth, mut quote, mut from) = (Vec::new(), 0i32, None, 0);
    for (i, c) in text.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            ('[' | '{', None) => depth += 1,
            (']' | '}', None) => depth -= 1,
            (',', None) if depth == 0 => {
                out.push(text[from..i].trim());
                from = i + 1;
            }
            _ => {}
        }
    }
    out.push(text[from..].trim());
    out
}

/// A value's label: a path's file stem (style images), else its text.
fn label(key: &str, value: &toml::Value, text: &str) -> String {
    let stem = |v: &toml::Value| {
        let s = v.as_str().unwrap_or_default();
        Path::new(s)
            .file_stem()
            .map_or(s.to_string(), |n| n.to_string_lossy().into_owned())
    };
    match (key, value) {
        ("style.images", toml::Value::Array(a)) => a.iter().map(stem).collect::<Vec<_>>().join("+"),
        _ => text.trim_matches('"').to_string(),
    }
}

/// Parses `KEY=V1,V2,...`. A single style image may be given without
/// brackets (`style.images=a.jpg,b.jpg`).
pub fn parse_vary(text: &str) -> Result<Vary, ConfigError> {
    let (key, values) = text.split_once('=').ok_or_else(|| {
        invalid(
            text,
            "expected KEY=V1,V2,..., e.g. loss.style_weight=50,100,200",
        )
    })?;
    let key = key.trim().to_string();
    let texts: Vec<&str> = split_values(values)
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect();
    if key.is_empty() || texts.is_empty() {
        return Err(invalid(
            text,
            "expected KEY=V1,V2,..., e.g. loss.style_weight=50,100,200",
        ));
    }
    if texts.len() > MAX_VALUES {
        return Err(invalid(
            text,
            format!("{} values; at most {MAX_VALUES}", texts.len()),
        ));
    }
    let mut vary = Vary {
        key: key.clone(),
        values: Vec::new(),
        labels: Vec::new(),
    };
    for t in texts {
        let (_, mut value) = parse_override(&format!("{key}={t}"))?;
        if key == "style.images" && value.is_str() {
            value = toml::Value::Array(vec![value]);
        }
        vary.labels.push(label(&key, &value, t));
        vary.values.push(value);
    }
    Ok(vary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_as_set_reads_them() {
        let v = parse_vary("loss.style_weight=50, 100,2e2").unwrap();
        assert_eq!(v.key, "loss.style_weight");
        assert_eq!(v.labels, ["50", "100", "2e2"]);
        assert_eq!(v.values[1], toml::Value::Integer(100));
        assert_eq!(v.values[2], toml::Value::Float(200.0));
    }

    #[test]
    fn arrays_stay_whole_and_single_styles_become_lists() {
        let v = parse_vary("loss.long_term=[],[2, 4]").unwrap();
        assert_eq!(v.values.len(), 2);
        let s = parse_vary("style.images=art/starry_night.jpg,[\"a.png\", \"b.png\"]").unwrap();
        assert_eq!(s.labels, ["starry_night", "a+b"]);
        assert!(s.values.iter().all(|v| v.is_array()));
    }

    #[test]
    fn malformed_lists_are_refused_naming_the_flag() {
        for bad in ["loss.style_weight", "=1,2", "loss.tv_weight="] {
            let e = parse_vary(bad).unwrap_err().to_string();
            assert!(e.contains("--vary"), "{e}");
        }
        let many = format!(
            "run.seed={}",
            (0..9).map(|i| i.to_string()).collect::<Vec<_>>().join(",")
        );
        assert!(parse_vary(&many)
            .unwrap_err()
            .to_string()
            .contains("at most 8"));
    }
}
