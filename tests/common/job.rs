//! The tiny job file the binary's tests run: a shipped clip in The Starry
//! Night's style at 64 px, SqueezeNet with a few iterations, on the CPU.
//! Tests change what they vary with the setters or [`TinyJob::set`].
use std::path::{Path, PathBuf};

/// A job file's sections and keys, each value as TOML text, in the order
/// they were first set.
#[derive(Debug, Clone)]
pub struct TinyJob {
    sections: Vec<(String, Vec<(String, String)>)>,
    name: String,
}

/// `text` as a TOML string.
pub fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A path as a TOML string.
pub fn path(p: &Path) -> String {
    quoted(&p.display().to_string())
}

/// Paths as a TOML array of strings.
pub fn paths(ps: &[PathBuf]) -> String {
    let items: Vec<String> = ps.iter().map(|p| path(p)).collect();
    format!("[{}]", items.join(", "))
}

impl TinyJob {
    /// `frames` frames of the shipped `clip` into `out.mp4` beside the file.
    pub fn new(clip: &str, frames: usize) -> Self {
        Self {
            sections: Vec::new(),
            name: "job.toml".into(),
        }
        .clip(clip)
        .size(64)
        .frames(frames)
        .style("starry_night.jpg")
        .set("model.name", quoted("squeezenet"))
        .iterations(6, 3)
        .set("run.device", quoted("cpu"))
        .set("run.print_every", 0)
        .output("out.mp4")
    }

    /// A batch file, `batch.toml`: every pair of `clips` and `styles` (TOML
    /// arrays), `frames` frames each into `out/{clip}_{style}.mp4`.
    pub fn batch(clips: &str, styles: &str, frames: usize) -> Self {
        let job = Self::new("carphone.mp4", frames)
            .unset("input.path")
            .unset("style.images")
            .unset("output.path")
            .set("batch.clips", clips)
            .set("batch.styles", styles)
            .set("batch.output", quoted("out/{clip}_{style}.mp4"));
        Self {
            name: "batch.toml".into(),
            ..job
        }
    }

    /// Sets `section.key` to `value`, TOML text (strings quoted: [`quoted`], [`path`]).
    pub fn set(mut self, key: &str, value: impl ToString) -> Self {
        let (section, key) = key.split_once('.').expect("a `section.key`");
        let value = value.to_string();
        let i = match self.sections.iter().position(|(s, _)| s == section) {
            Some(i) => i,
            None => {
                self.sections.push((section.to_string(), Vec::new()));
                self.sections.len() - 1
            }
        };
        let keys = &mut self.sections[i].1;
        match keys.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => keys.push((key.to_string(), value)),
        }
        self
    }

    /// Leaves `section.key` out, so the program's default holds.
    pub fn unset(mut self, key: &str) -> Self {
        let (section, key) = key.split_once('.').expect("a `section.key`");
        for (s, keys) in &mut self.sections {
            if s == section {
                keys.retain(|(k, _)| k != key);
            }
        }
        self.sections.retain(|(_, keys)| !keys.is_empty());
        self
    }

    /// The shipped clip `name` as the input.
    pub fn clip(self, name: &str) -> Self {
        self.set("input.path", path(&super::data(name)))
    }

    /// The shipped picture `name` as the one style image.
    pub fn style(self, name: &str) -> Self {
        self.set("style.images", paths(&[super::data(name)]))
    }

    pub fn size(self, px: u32) -> Self {
        self.set("input.size", px)
    }

    pub fn frames(self, n: usize) -> Self {
        self.set("input.max_frames", n)
    }

    /// The first frame's iterations and every later frame's.
    pub fn iterations(self, first: usize, warm: usize) -> Self {
        self.set("optimizer.first_frame_iterations", first)
            .set("optimizer.frame_iterations", warm)
    }

    /// Warm frames run exactly their iterations: no style hold.
    pub fn no_style_hold(self) -> Self {
        self.set("optimizer.style_hold", 0)
    }

    /// The temporal loss's weight.
    pub fn temporal(self, weight: f64) -> Self {
        self.set("loss.temporal_weight", format!("{weight:e}"))
    }

    /// Seam windows of `window` frames each side, repaired in `passes` passes,
    /// at the even cuts.
    pub fn seams(self, window: usize, passes: usize) -> Self {
        self.set("shards.seam_window", window)
            .set("shards.seam_passes", passes)
            .set("shards.cut_search", 0)
    }

    /// The output video, as the file spells it (relative: to the file).
    pub fn output(self, p: impl AsRef<Path>) -> Self {
        self.set("output.path", path(p.as_ref()))
    }

    /// The file's text.
    pub fn toml(&self) -> String {
        let mut text = String::new();
        for (section, keys) in &self.sections {
            text.push_str(&format!("[{section}]\n"));
            for (k, v) in keys {
                text.push_str(&format!("{k} = {v}\n"));
            }
        }
        text
    }

    /// Writes the file into `dir` (`job.toml`, or `batch.toml` for a batch); its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let file = dir.join(&self.name);
        std::fs::write(&file, self.toml()).unwrap();
        file
    }
}

/// A job's settings in the library, without a file: `key=value` overrides
/// (as `--set` takes them) on the defaults, validated.
pub fn config(sets: &[String]) -> vstyle::config::JobConfig {
    let o: Vec<_> = sets
        .iter()
        .map(|s| vstyle::config::parse_override(s).unwrap())
        .collect();
    let cfg = vstyle::config::JobConfig::from_toml_str("", "test", &o).unwrap();
    cfg.validate("test").unwrap();
    cfg
}
