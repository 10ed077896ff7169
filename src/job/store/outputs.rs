//! The paths a video job writes: the video, the optional image sequence,
//! the work directory and the report, all derived from the config.
use std::path::{Path, PathBuf};

use super::collisions::{Claims, Target};
use super::inputs::InputFiles;
use crate::config::{ConfigError, JobConfig};
use crate::error::Result;
use crate::files::check_writable;
use crate::job::report::html;
use crate::video::pattern::Pattern;

pub struct Outputs {
    pub video: Option<PathBuf>,
    pub frames: Option<Pattern>,
    pub work_dir: PathBuf,
    pub report: PathBuf,
    /// What the job reads, listed once.
    pub inputs: InputFiles,
}

impl Outputs {
    pub fn of(cfg: &JobConfig) -> Result<Self> {
        let base = cfg
            .output
            .path
            .clone()
            .or_else(|| {
                cfg.output
                    .frames
                    .as_ref()
                    .map(|f| PathBuf::from(f).with_file_name("frames"))
            })
            .ok_or_else(|| ConfigError::Invalid {
                file: cfg.source.clone(),
                key: "output.path".into(),
                message: "set output.path (a video) or output.frames (an image pattern)".into(),
            })?;
        let with_suffix = |s: &str| {
            let mut p = base.clone().into_os_string();
            p.push(s);
            PathBuf::from(p)
        };
        let frames = match cfg.output.frames.as_deref() {
            None => None,
            Some(text) => Some(
                Pattern::for_output(text).ok_or_else(|| ConfigError::Invalid {
                    file: cfg.source.clone(),
                    key: "output.frames".into(),
                    message: format!("`{text}` is not a pattern like frames/f_%05d.png"),
                })?,
            ),
        };
        Ok(Self {
            video: cfg.output.path.clone(),
            frames,
            work_dir: cfg
                .output
                .work_dir
                .clone()
                .unwrap_or_else(|| with_suffix(".work")),
            report: cfg
                .output
                .report
                .clone()
                .unwrap_or_else(|| with_suffix(".report.json")),
            inputs: InputFiles::of(cfg),
        })
    }

    /// Fails early on an output that would overwrite an input or another
    /// output, or that cannot be written; with `create`, missing
    /// directories are made.
    pub fn check(&self, cfg: &JobConfig, create: bool) -> Result<()> {
        self.claims(cfg).check()?;
        if let Some(v) = &self.video {
            check_writable(v, create)?;
        }
        check_writable(&self.report, create)?;
        if let Some(f) = &self.frames {
            check_writable(&f.render(0), create)?;
        }
        Ok(())
    }

    /// What the job reads and writes, to be checked for collisions.
    pub fn claims(&self, cfg: &JobConfig) -> Claims {
        let mut c = reads(cfg, &self.inputs);
        if let Some(v) = &self.video {
            c.write("output video", Target::File(v.clone()))
                .write("unfinished video", Target::File(part_path(v)));
        }
        if let Some(f) = &self.frames {
            c.write("output frames", Target::Frames(f.clone()));
        }
        c.write("report", Target::File(self.report.clone()))
            .write("HTML report", Target::File(html::html_path(&self.report)))
            .write("report's files", Target::Dir(html::files_dir(&self.report)))
            .write("work directory", Target::Dir(self.work_dir.clone()));
        c
    }
}

/// The files a job reads: its input's, the style images, the network's
/// weights and the job file.
pub fn inputs(cfg: &JobConfig) -> Claims {
    reads(cfg, &InputFiles::of(cfg))
}

/// [`inputs`], with the input and style files listed already.
fn reads(cfg: &JobConfig, files: &InputFiles) -> Claims {
    let mut c = Claims::default();
    for f in files.clip() {
        c.read("input", &f);
    }
    for s in files.styles() {
        c.read("style image", s);
    }
    c.read("weights file", &cfg.model.weights_path());
    let job = Path::new(&cfg.source);
    if job.is_file() {
        c.read("job file", job);
    }
    c
}

/// Where a video is written until it is complete.
pub fn part_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_path_is_beside_the_video() {
        assert_eq!(
            part_path(Path::new("a/b.mp4")),
            PathBuf::from("a/b.mp4.part")
        );
    }
}
