//! The work directory of a video job: one PNG per finished frame, written
//! atomically, and `job.json`, the fingerprint of the settings that decide
//! the pixels. A second run of the same job resumes from it; a run with other
//! settings is refused rather than mixing frames of two jobs.
use std::io::Write;
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::config::JobConfig;
use crate::error::{Error, Result};

use super::lock::Lock;
use crate::files::write_atomic;
use crate::video::{load_image, write_image_atomic};

/// Prefix of the temporary files `files::write_atomic` makes.
const TEMP_PREFIX: &str = ".vstyle-";

pub struct WorkDir {
    dir: PathBuf,
    /// Held while the job runs; released when the `WorkDir` is dropped.
    _lock: Lock,
}

/// Which settings decide the pixels of the result; a work directory made
/// under other settings cannot be resumed.
pub fn fingerprint(cfg: &JobConfig) -> String {
    let mut c = cfg.clone();
    c.output = Default::default();
    c.run.print_every = 0;
    c.run.device = String::new();
    serde_json::to_string_pretty(&c).unwrap_or_default()
}

impl WorkDir {
    /// Creates `dir`, or checks that it belongs to this job, and locks it.
    /// Temporary files left by a killed run are removed.
    pub fn open(cfg: &JobConfig, dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Output {
            file: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let wd = Self {
            dir: dir.to_path_buf(),
            _lock: Lock::acquire(dir)?,
        };
        wd.remove_stale_temporaries()?;
        let stamp = dir.join("job.json");
        let fp = fingerprint(cfg);
        match std::fs::read_to_string(&stamp) {
            Ok(old) if old == fp => Ok(wd),
            Ok(_) => Err(wd.refuse("holds frames of a job with other settings")),
            Err(_) if wd.has_frames()? => Err(wd.refuse("holds frames but no job.json")),
            Err(_) => {
                write_atomic(&stamp, |w| {
                    w.write_all(fp.as_bytes()).map_err(|e| e.to_string())
                })?;
                Ok(wd)
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn frame_file(&self, index: usize) -> PathBuf {
        self.dir.join(format!("frame_{index:06}.png"))
    }

    /// Frames finished by earlier runs, counted from the start.
    pub fn finished(&self) -> usize {
        (0..).take_while(|&i| self.frame_file(i).exists()).count()
    }

    /// A frame an earlier run finished, if any.
    pub fn load(&self, index: usize) -> Result<Option<RgbImage>> {
        let f = self.frame_file(index);
        if f.exists() {
            load_image(&f).map(Some)
        } else {
            Ok(None)
        }
    }

    pub fn save(&self, index: usize, img: &RgbImage) -> Result<()> {
        write_image_atomic(&self.frame_file(index), img)
    }

    fn has_frames(&self) -> Result<bool> {
        Ok(self
            .entries()?
            .iter()
            .any(|name| name.starts_with("frame_")))
    }

    fn entries(&self) -> Result<Vec<String>> {
        let rd = std::fs::read_dir(&self.dir).map_err(|e| self.output_err(e.to_string()))?;
        Ok(rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect())
    }

    fn remove_stale_temporaries(&self) -> Result<()> {
        for name in self.entries()? {
            if name.starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(self.dir.join(name));
            }
        }
        Ok(())
    }

    fn output_err(&self, message: String) -> Error {
        Error::Output {
            file: self.dir.display().to_string(),
            message,
        }
    }

    fn refuse(&self, why: &str) -> Error {
        Error::WorkDir {
            dir: self.dir.clone(),
            message: format!("{why}; delete it or set output.work_dir"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_output_and_device() {
        let mut a = JobConfig::default();
        let mut b = a.clone();
        b.output.crf = 30;
        b.run.device = "cuda".into();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        a.loss.style_weight = 1.0;
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn resumes_its_own_frames_refuses_others_and_clears_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("w");
        let cfg = JobConfig::default();
        let wd = WorkDir::open(&cfg, &dir).unwrap();
        let img = RgbImage::from_pixel(4, 3, image::Rgb([9, 8, 7]));
        wd.save(0, &img).unwrap();
        wd.save(1, &img).unwrap();
        std::fs::write(dir.join(".vstyle-abc"), b"half").unwrap();

        let e = WorkDir::open(&cfg, &dir).err().unwrap().to_string();
        assert!(
            e.contains("in use by process"),
            "a second open waits its turn: {e}"
        );
        drop(wd);
        let again = WorkDir::open(&cfg, &dir).unwrap();
        assert_eq!(again.finished(), 2);
        assert_eq!(again.load(1).unwrap().unwrap(), img);
        assert!(again.load(2).unwrap().is_none());
        assert!(!dir.join(".vstyle-abc").exists());

        drop(again);
        let mut other = cfg.clone();
        other.loss.style_weight = 1.0;
        let e = WorkDir::open(&other, &dir).err().unwrap().to_string();
        assert!(e.contains("other settings") && e.contains("w"), "{e}");
        std::fs::remove_file(dir.join("job.json")).unwrap();
        let e = WorkDir::open(&cfg, &dir).err().unwrap().to_string();
        assert!(e.contains("no job.json"), "{e}");
    }
}
