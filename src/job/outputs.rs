//! The paths a video job writes: the video, the optional image sequence,
//! the work directory and the report, all derived from the config.
use std::path::{Path, PathBuf};

use crate::config::{ConfigError, JobConfig};
use crate::error::Result;
use crate::files::check_writable;
use crate::video::pattern::Pattern;

pub struct Outputs {
    pub video: Option<PathBuf>,
    pub frames: Option<Pattern>,
    pub work_dir: PathBuf,
    pub report: PathBuf,
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
        })
    }

    /// Fails early on an output that cannot be written; with `create`,
    /// missing directories are made.
    pub fn check(&self, create: bool) -> Result<()> {
        if let Some(v) = &self.video {
            check_writable(v, create)?;
        }
        check_writable(&self.report, create)?;
        if let Some(f) = &self.frames {
            check_writable(&f.render(0), create)?;
        }
        Ok(())
    }
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
