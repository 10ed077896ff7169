//! The inputs a work directory's frames were made from: every file of the
//! clip or image sequence and each style image, by size, modification time
//! and a sampled content hash (`inputs.json`). The settings fingerprint
//! (`job.json`) names the paths; this tells whether the files at those
//! paths are still the same, so that a clip replaced at the same path is
//! refused rather than resumed with the old clip's frames.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::JobConfig;
use crate::error::{Error, Result};
use crate::files::{write_atomic, write_new_atomic, Compared, FileId};

/// The record's name in the work directory.
pub const FILE: &str = "inputs.json";

/// Evenly spaced blocks hashed besides the first and the last, for a clip
/// or image: 18 blocks of 64 KiB, about 1 MiB read however long the clip.
const BLOCKS: u64 = 16;

/// For each file of an image sequence only the first and last block: the
/// job decodes every frame anyway, and thousands of files add up.
const SEQUENCE_BLOCKS: u64 = 0;

/// One input file as the frames' first run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    pub path: PathBuf,
    #[serde(flatten)]
    pub id: FileId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inputs {
    pub files: Vec<Input>,
}

/// The files a job reads from its input and its style, listed once: the
/// collision check and the record of inputs share the list.
#[derive(Debug, Clone, Default)]
pub struct InputFiles {
    input: PathBuf,
    /// Every file of the clip or sequence; None when they cannot be listed.
    clip: Option<Vec<PathBuf>>,
    styles: Vec<PathBuf>,
}

impl InputFiles {
    /// Lists `cfg`'s inputs; one that cannot be listed is reported when
    /// the frames are read (or identified).
    pub fn of(cfg: &JobConfig) -> Self {
        let input = cfg.input.path.clone();
        let clip = match input.as_os_str().is_empty() {
            true => Some(Vec::new()),
            false => crate::video::input_files(&input).ok(),
        };
        Self {
            input,
            clip,
            styles: cfg.style.images.clone(),
        }
    }

    /// The clip's files as far as they could be listed (else its path).
    pub fn clip(&self) -> Vec<PathBuf> {
        self.clip
            .clone()
            .unwrap_or_else(|| vec![self.input.clone()])
    }

    pub fn styles(&self) -> &[PathBuf] {
        &self.styles
    }

    /// Each file with the number of blocks its hash samples.
    fn paths(&self) -> Result<Vec<(PathBuf, u64)>> {
        let clip = match &self.clip {
            Some(c) => c.clone(),
            None => crate::video::input_files(&self.input)?,
        };
        let blocks = if clip.len() > 1 {
            SEQUENCE_BLOCKS
        } else {
            BLOCKS
        };
        let mut out: Vec<_> = clip.into_iter().map(|f| (f, blocks)).collect();
        out.extend(self.styles.iter().map(|s| (s.clone(), BLOCKS)));
        Ok(out)
    }
}

fn unreadable(path: &Path, e: std::io::Error) -> Error {
    Error::Input {
        file: path.to_path_buf(),
        source: e,
    }
}

/// Records `files` in `work_dir`, or checks them against the record
/// there. Several shard workers may start at once: the record is written
/// once, atomically, and the others check against it. A work directory
/// without a record (made by an older version) gets one.
pub fn check(files: &InputFiles, work_dir: &Path) -> Result<()> {
    let paths = files.paths()?;
    let file = work_dir.join(FILE);
    if let Some(old) = read(&file)? {
        return verify(&old, &paths, work_dir);
    }
    let now = identify(&paths)?;
    let json = serde_json::to_string_pretty(&now).unwrap_or_default();
    if write_new_atomic(&file, |w| {
        std::io::Write::write_all(w, json.as_bytes()).map_err(|e| e.to_string())
    })? {
        return Ok(());
    }
    // Another worker recorded them first.
    let theirs = read(&file)?.unwrap_or_default();
    verify(&theirs, &paths, work_dir)
}

fn identify(paths: &[(PathBuf, u64)]) -> Result<Inputs> {
    let files = paths
        .iter()
        .map(|(p, blocks)| {
            FileId::of(p, *blocks)
                .map(|id| Input {
                    path: p.clone(),
                    id,
                })
                .map_err(|e| unreadable(p, e))
        })
        .collect::<Result<_>>()?;
    Ok(Inputs { files })
}

fn read(file: &Path) -> Result<Option<Inputs>> {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(file, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::damaged(file, file.parent().unwrap_or(file), e))
}

/// Checks every input against `old`; files touched but unchanged get their
/// new times recorded, so the next resume is a stat again.
/// Paths recorded before job-file paths were tidied (`configs/../x`) still
/// name the same input.
fn same_path(a: &Path, b: &Path) -> bool {
    crate::paths::tidy(a) == crate::paths::tidy(b)
}

fn verify(old: &Inputs, paths: &[(PathBuf, u64)], work_dir: &Path) -> Result<()> {
    let changed = |file: &Path, how: String| Error::InputChanged {
        file: file.to_path_buf(),
        work_dir: work_dir.to_path_buf(),
        how,
    };
    if let Some(gone) = old
        .files
        .iter()
        .find(|i| !paths.iter().any(|(p, _)| same_path(p, &i.path)))
    {
        return Err(changed(&gone.path, "no longer among the inputs".into()));
    }
    let mut now = old.clone();
    for (path, blocks) in paths {
        let Some(rec) = now.files.iter_mut().find(|i| same_path(&i.path, path)) else {
            return Err(changed(path, "not among the inputs then".into()));
        };
        let size = rec.id.size;
        match rec
            .id
            .compare(path, *blocks)
            .map_err(|e| unreadable(path, e))?
        {
            Compared::Same => {}
            Compared::Touched(mtime) => rec.id.mtime = mtime,
            Compared::Resized(now) => {
                return Err(changed(path, format!("size {size} -> {now} bytes")))
            }
            Compared::Changed => {
                return Err(changed(
                    path,
                    format!("same size, other content: {size} bytes"),
                ))
            }
        }
    }
    if now != *old {
        let json = serde_json::to_string_pretty(&now).unwrap_or_default();
        write_atomic(&work_dir.join(FILE), |w| {
            std::io::Write::write_all(w, json.as_bytes()).map_err(|e| e.to_string())
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(clip: &Path, style: &Path) -> JobConfig {
        let mut c = JobConfig::default();
        c.input.path = clip.to_path_buf();
        c.style.images = vec![style.to_path_buf()];
        c
    }

    fn set_mtime(path: &Path, secs: u64) {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn the_same_or_touched_inputs_resume_and_a_changed_one_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let (clip, style, work) = (
            tmp.path().join("clip.mp4"),
            tmp.path().join("style.jpg"),
            tmp.path().join("clip.work"),
        );
        std::fs::create_dir(&work).unwrap();
        // Big enough to be sampled, not read whole.
        let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&clip, &body).unwrap();
        std::fs::write(&style, b"starry").unwrap();
        let c = cfg(&clip, &style);
        check(&InputFiles::of(&c), &work).unwrap();
        let recorded = std::fs::read_to_string(work.join(FILE)).unwrap();
        check(&InputFiles::of(&c), &work).unwrap();
        assert_eq!(std::fs::read_to_string(work.join(FILE)).unwrap(), recorded);

        // Touched, same content: accepted and the new time recorded.
        set_mtime(&clip, 1_000_000);
        check(&InputFiles::of(&c), &work).unwrap();
        let again: Inputs =
            serde_json::from_str(&std::fs::read_to_string(work.join(FILE)).unwrap()).unwrap();
        assert_eq!(again.files[0].id.mtime, (1_000_000, 0));

        // The same size, other content in the first block: refused.
        let mut other = body.clone();
        other[10] ^= 0xff;
        std::fs::write(&clip, &other).unwrap();
        set_mtime(&clip, 1_000_000);
        check(&InputFiles::of(&c), &work).expect("same size and time: not read again");
        set_mtime(&clip, 2_000_000);
        let e = check(&InputFiles::of(&c), &work).unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Error::InputChanged { .. }), "{text}");
        assert!(
            text.starts_with(&format!("{} changed since the frames in", clip.display()))
                && text.contains("same size, other content")
                && text.ends_with(&format!("delete {} to start over", work.display())),
            "{text}"
        );
        assert_eq!(text.lines().count(), 1);

        // Another size, and a changed style image, are named too.
        std::fs::write(&clip, &body[..1000]).unwrap();
        let text = check(&InputFiles::of(&c), &work).unwrap_err().to_string();
        assert!(text.contains("size 3000000 -> 1000 bytes"), "{text}");
        std::fs::write(&clip, &body).unwrap();
        std::fs::write(&style, b"scream").unwrap();
        set_mtime(&style, 5);
        let text = check(&InputFiles::of(&c), &work).unwrap_err().to_string();
        assert!(text.starts_with(&style.display().to_string()), "{text}");
    }

    #[test]
    fn every_file_of_an_image_sequence_is_identified() {
        let tmp = tempfile::tempdir().unwrap();
        let frames = tmp.path().join("frames");
        std::fs::create_dir(&frames).unwrap();
        for i in 0..3 {
            std::fs::write(frames.join(format!("f_{i}.png")), [i as u8; 100]).unwrap();
        }
        let style = tmp.path().join("s.jpg");
        std::fs::write(&style, b"s").unwrap();
        let work = tmp.path().join("w");
        std::fs::create_dir(&work).unwrap();
        let c = cfg(&frames, &style);
        check(&InputFiles::of(&c), &work).unwrap();
        let rec: Inputs =
            serde_json::from_str(&std::fs::read_to_string(work.join(FILE)).unwrap()).unwrap();
        assert_eq!(rec.files.len(), 4, "three frames and the style");
        let middle = frames.join("f_1.png");
        std::fs::write(&middle, [9u8; 100]).unwrap();
        set_mtime(&middle, 7);
        let text = check(&InputFiles::of(&c), &work).unwrap_err().to_string();
        assert!(text.starts_with(&middle.display().to_string()), "{text}");
        std::fs::write(&middle, [1u8; 100]).unwrap();
        check(&InputFiles::of(&c), &work).unwrap();
        std::fs::remove_file(frames.join("f_2.png")).unwrap();
        let text = check(&InputFiles::of(&c), &work).unwrap_err().to_string();
        assert!(
            text.contains("f_2.png") && text.contains("no longer among the inputs"),
            "{text}"
        );
    }

    /// The cost of identifying files: `VSTYLE_IDENTIFY=a.mp4:big.bin cargo
    /// test --release --lib identify_cost -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn identify_cost() {
        let list = std::env::var("VSTYLE_IDENTIFY").unwrap_or_default();
        for path in list.split(':').filter(|p| !p.is_empty()) {
            let t = std::time::Instant::now();
            let id = FileId::of(Path::new(path), BLOCKS).unwrap();
            let first = t.elapsed();
            let t = std::time::Instant::now();
            FileId::of(Path::new(path), BLOCKS).unwrap();
            let again = t.elapsed();
            let s = FileId::stat(Path::new(path)).unwrap();
            eprintln!(
                "{path}: {} bytes, first {first:?}, again {again:?}, {s:?}",
                id.size
            );
        }
    }

    #[test]
    fn of_workers_recording_at_once_one_writes_and_the_others_check() {
        let tmp = tempfile::tempdir().unwrap();
        let clip = tmp.path().join("c.mp4");
        let style = tmp.path().join("s.jpg");
        std::fs::write(&clip, b"clip").unwrap();
        std::fs::write(&style, b"style").unwrap();
        let c = cfg(&clip, &style);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| check(&InputFiles::of(&c), tmp.path()).unwrap());
            }
        });
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != "c.mp4" && n != "s.jpg")
            .collect();
        assert_eq!(names, [FILE], "one record, no temporaries left");
    }
}
