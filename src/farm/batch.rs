//! Batch jobs: one job file, many clips and styles. Each (clip, style) pair
//! is an entry with its own config, output, work directory and report; a
//! finished output (its report says so, and the file is still the one the
//! job wrote) is skipped, anything else runs again and resumes from its
//! work directory, and one failing entry does not stop the others.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{ConfigError, JobConfig, StyleChoice};
use crate::error::Result;
use crate::job::store::collisions::{Claims, Target};
use crate::job::{verified_done, Outputs};

/// One (clip, style) pair of a batch, or the one clip of a plain job.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `clip_style`, or the clip's name for a plain job.
    pub name: String,
    pub cfg: JobConfig,
}

impl Entry {
    /// The video this entry writes, if it writes one.
    pub fn output(&self) -> Option<&Path> {
        self.cfg.output.path.as_deref()
    }
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// The entries of `cfg`: its batch's pairs in order (clips outer), or the
/// job itself.
pub fn entries(cfg: &JobConfig) -> Result<Vec<Entry>> {
    let Some(batch) = &cfg.batch else {
        return Ok(vec![Entry {
            name: stem(&cfg.input.path),
            cfg: cfg.clone(),
        }]);
    };
    let styles = match batch.styles.is_empty() {
        true => vec![StyleChoice::Blend(cfg.style.images.clone())],
        false => batch.styles.clone(),
    };
    let mut out: Vec<Entry> = Vec::new();
    for clip in &batch.clips {
        for style in &styles {
            let images = style.images();
            let style_name: Vec<String> = images.iter().map(|p| stem(p)).collect();
            let style_name = style_name.join("+");
            let name = format!("{}_{style_name}", stem(clip));
            let path = batch
                .output
                .replace("{clip}", &stem(clip))
                .replace("{style}", &style_name);
            let mut c = cfg.clone();
            c.batch = None;
            c.input.path = clip.clone();
            if c.style.blend_weights.as_ref().map(Vec::len) != Some(images.len()) {
                c.style.blend_weights = None;
            }
            c.style.images = images;
            c.output.path = Some(PathBuf::from(&path));
            if let Some(first) = out.iter().find(|e| e.output() == Some(Path::new(&path))) {
                return Err(ConfigError::Invalid {
                    file: cfg.source.clone(),
                    key: "batch.output".into(),
                    message: format!(
                        "entries {} and {name} both write {path}: give the clips different names",
                        first.name
                    ),
                }
                .into());
            }
            out.push(Entry { name, cfg: c });
        }
    }
    check_paths(cfg, &out)?;
    Ok(out)
}

/// No entry's output is another entry's input or output, nor the index page.
fn check_paths(cfg: &JobConfig, entries: &[Entry]) -> Result<()> {
    let mut claims = Claims::default();
    for e in entries {
        claims.extend(Outputs::of(&e.cfg)?.claims(&e.cfg));
    }
    let index = super::index::index_path(cfg, entries)?;
    claims.write("batch index", Target::File(index)).check()
}

/// How an entry ended.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Outcome {
    /// Its output was already there, as its report recorded it.
    Skipped,
    Done,
    Failed {
        error: String,
    },
}

/// Whether `e`'s output is there, complete: its report records the output
/// and the file still matches. An empty or truncated output (a crash after
/// the rename, a full disk) is not, so the entry runs again.
fn finished(e: &Entry) -> bool {
    let Some(output) = e.output() else {
        return false;
    };
    Outputs::of(&e.cfg).is_ok_and(|o| verified_done(&o.report, output))
}

/// Runs `each` on every entry whose output is not finished yet. An error that
/// `interrupted` recognises stops the batch (returned as the error); any
/// other is the entry's outcome, prefixed with the job file and entry name.
/// Generic over the error so that a caller's own (with its context) passes
/// through unchanged.
pub fn run_entries<E: std::fmt::Display>(
    cfg: &JobConfig,
    entries: &[Entry],
    mut each: impl FnMut(&Entry) -> std::result::Result<(), E>,
    interrupted: impl Fn(&E) -> bool,
) -> std::result::Result<Vec<(String, Outcome)>, E> {
    let mut out = Vec::new();
    for (k, e) in entries.iter().enumerate() {
        if finished(e) {
            out.push((e.name.clone(), Outcome::Skipped));
            continue;
        }
        let outcome = match each(e) {
            Ok(()) => Outcome::Done,
            Err(err) if interrupted(&err) => return Err(err),
            // `#`: a chain of contexts (anyhow) prints whole.
            Err(err) => Outcome::Failed {
                error: format!("{}: batch entry {k} ({}): {err:#}", cfg.source, e.name),
            },
        };
        out.push((e.name.clone(), outcome));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BatchConfig;

    fn batch(output: &str) -> JobConfig {
        JobConfig {
            source: "b.toml".into(),
            batch: Some(BatchConfig {
                clips: vec!["in/a.mp4".into(), "in/b.mov".into()],
                styles: vec![
                    StyleChoice::One("s/starry.jpg".into()),
                    StyleChoice::Blend(vec!["s/starry.jpg".into(), "s/scream.png".into()]),
                ],
                output: output.into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn each_clip_and_style_is_one_entry_named_by_the_template() {
        let e = entries(&batch("out/{clip}_{style}.mp4")).unwrap();
        let names: Vec<_> = e.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["a_starry", "a_starry+scream", "b_starry", "b_starry+scream"]
        );
        assert_eq!(e[1].output(), Some(Path::new("out/a_starry+scream.mp4")));
        assert_eq!(e[1].cfg.style.images.len(), 2);
        assert_eq!(e[2].cfg.input.path, PathBuf::from("in/b.mov"));
        assert!(e.iter().all(|e| e.cfg.batch.is_none()));
    }

    #[test]
    fn colliding_outputs_are_refused_naming_the_entries() {
        let mut c = batch("out/{style}.mp4");
        c.batch.as_mut().unwrap().styles.truncate(1);
        let err = entries(&c).unwrap_err().to_string();
        assert!(
            err.contains("b.toml") && err.contains("a_starry and b_starry"),
            "{err}"
        );
    }

    #[test]
    fn a_failing_entry_does_not_stop_the_rest_and_done_outputs_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("{clip}_{style}.mp4");
        let c = batch(&template.display().to_string());
        let e = entries(&c).unwrap();
        // Entry 0 finished; entry 2's output was published, then emptied.
        let seal = |k: usize| {
            let report = Outputs::of(&e[k].cfg).unwrap().report;
            let complete = crate::job::Complete::of(e[k].output().unwrap()).unwrap();
            let json = serde_json::json!({ "complete": complete });
            std::fs::write(report, json.to_string()).unwrap();
        };
        std::fs::write(e[0].output().unwrap(), b"done").unwrap();
        seal(0);
        std::fs::write(e[2].output().unwrap(), b"done").unwrap();
        seal(2);
        std::fs::write(e[2].output().unwrap(), b"").unwrap();
        let mut ran = Vec::new();
        let each = |entry: &Entry| {
            ran.push(entry.name.clone());
            if entry.name == "a_starry+scream" {
                Err(crate::Error::NoFrames {
                    input: "in/a.mp4".into(),
                })
            } else {
                Ok(())
            }
        };
        let out = run_entries(&c, &e, each, crate::Error::is_interrupted).unwrap();
        assert_eq!(ran, ["a_starry+scream", "b_starry", "b_starry+scream"]);
        assert!(matches!(out[0].1, Outcome::Skipped));
        match &out[1].1 {
            Outcome::Failed { error } => assert!(
                error.starts_with("b.toml: batch entry 1 (a_starry+scream): "),
                "{error}"
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(out[3].1, Outcome::Done));
    }
}
