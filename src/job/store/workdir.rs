//! The work directory of a video job: one PNG per finished frame, written
//! atomically, and `job.json`, the fingerprint of the settings that decide
//! the pixels, and `inputs.json`, the identity of the files read (see
//! `inputs`). A second run of the same job resumes from it; a run with other
//! settings or other input files is refused rather than mixing frames of
//! two jobs.
use std::io::Write;
use std::path::{Path, PathBuf};

use image::RgbImage;

use crate::config::JobConfig;
use crate::error::{Error, Result};

use super::inputs::InputFiles;
use super::lock::{Held, Lock};
use crate::files::write_atomic;
use crate::video::{load_image, write_image_atomic};

/// Prefix of the temporary files `files::write_atomic` makes.
const TEMP_PREFIX: &str = ".vstyle-";

/// One directory of frames, `frame_%06d.png` by index in the clip: a pass's
/// results, the content frames, a seam window's results.
#[derive(Debug, Clone)]
pub struct FrameDir {
    dir: PathBuf,
    /// The work directory's lock, checked before each write.
    held: Option<Held>,
}

impl FrameDir {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, held: None }
    }

    /// Writes only while `held` is still this process's lock.
    pub fn held_by(mut self, held: Held) -> Self {
        self.held = Some(held);
        self
    }

    pub fn held(&self) -> Option<&Held> {
        self.held.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    pub fn file(&self, index: usize) -> PathBuf {
        self.dir.join(format!("frame_{index:06}.png"))
    }

    pub fn has(&self, index: usize) -> bool {
        self.file(index).exists()
    }

    /// Frames of `range` that are here.
    pub fn count(&self, range: std::ops::Range<usize>) -> usize {
        range.filter(|&i| self.has(i)).count()
    }

    /// A frame, if it was written.
    pub fn load(&self, index: usize) -> Result<Option<RgbImage>> {
        let f = self.file(index);
        if f.exists() {
            load_image(&f).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A frame that must be here.
    pub fn get(&self, index: usize) -> Result<RgbImage> {
        load_image(&self.file(index))
    }

    /// Writes a frame atomically (the directory is made when missing).
    pub fn save(&self, index: usize, img: &RgbImage) -> Result<()> {
        self.check_held()?;
        self.make()?;
        write_image_atomic(&self.file(index), img)
    }

    fn check_held(&self) -> Result<()> {
        self.held.as_ref().map_or(Ok(()), Held::ensure_held)
    }

    fn make(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| output_error(&self.dir, e.to_string()))
    }

    fn level_file(&self, index: usize) -> PathBuf {
        self.dir.join(format!("frame_{index:06}.level"))
    }

    /// Writes the style level a shot's first frame set (see `hold`), before
    /// the frame itself: a frame on disk never lacks its level.
    pub fn save_level(&self, index: usize, style: f64) -> Result<()> {
        self.check_held()?;
        self.make()?;
        // Display writes the shortest text that reads back as the same f64.
        write_atomic(&self.level_file(index), |w| {
            write!(w, "{style}").map_err(|e| e.to_string())
        })
    }

    /// The style level frame `index` set, if it set one.
    pub fn level(&self, index: usize) -> Result<Option<f64>> {
        let file = self.level_file(index);
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(output_error(&file, e.to_string())),
        };
        match text.trim().parse::<f64>() {
            Ok(v) => Ok(Some(v)),
            Err(_) => Err(output_error(&file, format!("not a style level: {text:?}"))),
        }
    }
}

/// A job's locked work directory and the frame directories in it.
pub struct WorkDir {
    dir: PathBuf,
    /// Held while the job runs; released when the `WorkDir` is dropped.
    lock: Lock,
}

/// Which settings decide the pixels of the frames; a work directory made
/// under other settings cannot be resumed. The number of passes is left
/// out (each pass has its own directory), and so are the seam settings
/// (the join checks those itself).
pub fn fingerprint(cfg: &JobConfig) -> String {
    let mut c = cfg.clone();
    c.output = Default::default();
    c.run.print_every = 0;
    c.run.device = String::new();
    c.run.threads = 0;
    c.run.memory_limit = None;
    c.optimizer.passes = 1;
    c.shards = Default::default();
    // Work directories made before paths were tidied stay this job's.
    c.input.path = crate::paths::tidy(&c.input.path);
    for image in &mut c.style.images {
        *image = crate::paths::tidy(image);
    }
    c.model.weights = c.model.weights.as_deref().map(crate::paths::tidy);
    // The network's defaults and the same values named paint alike.
    c.model.pooling = Some(cfg.model.pooling());
    c.optimizer.scale_iterations = Some(cfg.optimizer.scale_iterations(cfg.model.name));
    serde_json::to_string_pretty(&c).unwrap_or_default()
}

impl WorkDir {
    /// Creates `dir`, or checks that it belongs to this job (its settings
    /// and its input `files`), and takes the lock file `lock` in it
    /// (refused while a rival holds theirs: see [`Lock::acquire_exclusive`]).
    pub fn open(cfg: &JobConfig, files: &InputFiles, dir: &Path, lock: &str) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| output_error(dir, e.to_string()))?;
        let wd = Self {
            dir: dir.to_path_buf(),
            lock: Lock::acquire_exclusive(dir, lock)?,
        };
        let stamp = dir.join("job.json");
        let fp = fingerprint(cfg);
        match std::fs::read_to_string(&stamp) {
            Ok(old) if same_settings(&old, &fp) => {}
            Ok(_) => return Err(wd.refuse("holds frames of a job with other settings")),
            Err(_) if wd.has_frames()? => return Err(wd.refuse("holds frames but no job.json")),
            Err(_) => write_atomic(&stamp, |w| {
                w.write_all(fp.as_bytes()).map_err(|e| e.to_string())
            })?,
        }
        // The same settings on other files (a clip replaced at its path)
        // would mix two clips' frames.
        super::inputs::check(files, dir)?;
        Ok(wd)
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// A handle on the lock: writes check it is still ours.
    pub fn held(&self) -> Held {
        self.lock.held()
    }

    /// Results of pass `n` (1 = the first, forward pass, at the top level).
    pub fn pass(&self, n: usize) -> FrameDir {
        pass_dir(&self.dir, n).held_by(self.held())
    }

    /// The input frames at the job's size, kept for later passes and seams.
    pub fn content(&self) -> FrameDir {
        FrameDir::new(self.dir.join("content")).held_by(self.held())
    }

    /// Frames finished by earlier runs in pass 1, counted from the start.
    pub fn finished(&self) -> usize {
        let first = self.pass(1);
        (0..).take_while(|&i| first.has(i)).count()
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

    /// Removes the temporary files a killed run left. Only for a process
    /// that has the directory to itself: shard workers sharing it would
    /// delete each other's writes in flight.
    pub fn remove_stale_temporaries(&self) -> Result<()> {
        for name in self.entries()? {
            if name.starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(self.dir.join(name));
            }
        }
        Ok(())
    }

    fn output_err(&self, message: String) -> Error {
        output_error(&self.dir, message)
    }

    fn refuse(&self, why: &str) -> Error {
        Error::WorkDir {
            dir: self.dir.clone(),
            message: format!("{why}; delete it or set output.work_dir"),
        }
    }
}

fn output_error(file: &Path, message: String) -> Error {
    Error::Output {
        file: file.display().to_string(),
        message,
    }
}

/// Whether `old` (a `job.json`) records the settings whose fingerprint is
/// `fp`. Read back as a config, so that one written before a setting was
/// added (taking its default) still matches.
fn same_settings(old: &str, fp: &str) -> bool {
    old == fp || serde_json::from_str::<JobConfig>(old).is_ok_and(|c| fingerprint(&c) == fp)
}

/// The frames of pass `n` in the work directory `dir` (read without a lock,
/// e.g. by `vstyle status`).
pub fn pass_dir(dir: &Path, n: usize) -> FrameDir {
    if n <= 1 {
        FrameDir::new(dir.to_path_buf())
    } else {
        FrameDir::new(dir.join(format!("pass_{n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PoolingKind;

    #[test]
    fn a_style_level_reads_back_as_the_same_number_and_a_bad_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let frames = FrameDir::new(dir.path().join("pass"));
        assert_eq!(frames.level(3).unwrap(), None);
        let level = 731_792.123_456_789_1_f64 / 3.0;
        frames.save_level(3, level).unwrap();
        assert_eq!(frames.level(3).unwrap(), Some(level));
        assert_eq!(frames.count(0..5), 0, "a level is not a frame");
        std::fs::write(frames.path().join("frame_000004.level"), "lots").unwrap();
        let e = frames.level(4).unwrap_err().to_string();
        assert!(
            e.contains("frame_000004.level") && e.contains("lots"),
            "{e}"
        );
    }

    #[test]
    fn fingerprint_ignores_output_device_and_memory_limit() {
        let mut a = JobConfig::default();
        let mut b = a.clone();
        b.output.crf = 30;
        b.run.device = "cuda".into();
        b.run.memory_limit = Some(crate::memory::SizeText("3GiB".into()));
        assert_eq!(fingerprint(&a), fingerprint(&b));
        b.model.pooling = Some(a.model.pooling());
        assert_eq!(fingerprint(&a), fingerprint(&b), "the default named");
        b.model.pooling = Some(match a.model.pooling() {
            PoolingKind::Avg => PoolingKind::Max,
            PoolingKind::Max => PoolingKind::Avg,
        });
        assert_ne!(fingerprint(&a), fingerprint(&b), "the other pooling");
        b.model.pooling = None;
        b.optimizer.scale_iterations = Some(a.optimizer.scale_iterations(a.model.name));
        assert_eq!(fingerprint(&a), fingerprint(&b), "the coarse budget named");
        a.loss.style_weight = 1.0;
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn a_work_dir_recorded_with_untidied_paths_is_the_same_job() {
        let mut old = JobConfig::default();
        old.input.path = "configs/../tests/data/carphone.mp4".into();
        old.style.images = vec!["configs/./../tests/data/starry_night.jpg".into()];
        let mut now = old.clone();
        now.input.path = "tests/data/carphone.mp4".into();
        now.style.images = vec!["tests/data/starry_night.jpg".into()];
        let recorded = serde_json::to_string(&old).unwrap();
        assert!(same_settings(&recorded, &fingerprint(&now)));
        now.input.path = "tests/data/other.mp4".into();
        assert!(!same_settings(&recorded, &fingerprint(&now)));
    }

    #[test]
    fn resumes_its_own_frames_refuses_others_and_clears_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("w");
        let cfg = JobConfig::default();
        let wd = WorkDir::open(&cfg, &InputFiles::of(&cfg), &dir, "lock").unwrap();
        let img = RgbImage::from_pixel(4, 3, image::Rgb([9, 8, 7]));
        wd.pass(1).save(0, &img).unwrap();
        wd.pass(1).save(1, &img).unwrap();
        std::fs::write(dir.join(".vstyle-abc"), b"half").unwrap();

        let e = WorkDir::open(&cfg, &InputFiles::of(&cfg), &dir, "lock")
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("in use by process"),
            "a second open waits its turn: {e}"
        );
        drop(wd);
        let again = WorkDir::open(&cfg, &InputFiles::of(&cfg), &dir, "lock").unwrap();
        assert!(
            dir.join(".vstyle-abc").exists(),
            "opening alone removes nothing"
        );
        again.remove_stale_temporaries().unwrap();
        assert_eq!(again.finished(), 2);
        assert_eq!(again.pass(1).load(1).unwrap().unwrap(), img);
        assert!(again.pass(1).load(2).unwrap().is_none());
        assert!(!dir.join(".vstyle-abc").exists());

        drop(again);
        let mut other = cfg.clone();
        other.loss.style_weight = 1.0;
        let e = WorkDir::open(&other, &InputFiles::of(&other), &dir, "lock")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("other settings") && e.contains("w"), "{e}");
        // A job.json from before a setting existed still matches.
        let stamp = dir.join("job.json");
        let mut old: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stamp).unwrap()).unwrap();
        old["shards"].as_object_mut().unwrap().remove("seam_window");
        std::fs::write(&stamp, old.to_string()).unwrap();
        drop(WorkDir::open(&cfg, &InputFiles::of(&cfg), &dir, "lock").unwrap());
        std::fs::remove_file(dir.join("job.json")).unwrap();
        let e = WorkDir::open(&cfg, &InputFiles::of(&cfg), &dir, "lock")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no job.json"), "{e}");
    }
}
