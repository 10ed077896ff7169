//! Files written so that nothing half-done is ever seen: atomic writes
//! (temporary file, fsync, rename, fsync of the directory), an early check
//! that a path can be written at all, and a file's identity (size, time and
//! a sampled content hash) for telling a resumed input or a finished output
//! from another file at the same path.
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// Why a file could not be written; it sits beneath [`Error::Write`].
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    #[error("cannot create directory {}", .dir.display())]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot sync the directory")]
    SyncDir(#[source] std::io::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// What the content's fill returned (serialising, encoding), or the
    /// encoder's error for a video.
    #[error(transparent)]
    Fill(Box<dyn std::error::Error + Send + Sync>),
    /// The file just published cannot be read back to record it.
    #[error("cannot read it back")]
    ReadBack(#[source] std::io::Error),
}

/// `source` as the error of writing `file`.
pub fn write_error(file: &Path, source: impl Into<WriteError>) -> Error {
    Error::Write {
        file: file.to_path_buf(),
        source: source.into(),
    }
}

/// Fails early when `path` cannot be written, so that a long run does not
/// end in an unwritable output. With `create`, a missing directory is made
/// (as a batch job expects); without, only an existing one is probed.
pub fn check_writable(path: &Path, create: bool) -> Result<(), Error> {
    let dir = parent(path);
    let err = |e: WriteError| write_error(path, e);
    if !dir.is_dir() {
        if !create {
            return match dir.ancestors().find(|a| a.exists()) {
                Some(a) if !a.is_dir() => Err(err(WriteError::NotADirectory(a.to_path_buf()))),
                _ => Ok(()),
            };
        }
        std::fs::create_dir_all(dir).map_err(|source| {
            err(WriteError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })
        })?;
    }
    tempfile::NamedTempFile::new_in(dir).map_err(|e| err(e.into()))?;
    Ok(())
}

/// What the fill of an atomic write writes to.
pub type Writer<'a> = std::io::BufWriter<&'a mut std::fs::File>;

/// Writes a file through a temporary file beside `path` that is renamed into
/// place, so a reader (or a resumed run) never sees half a file. The fill's
/// error becomes the source of the [`Error::Write`].
pub fn write_atomic<E>(
    path: &Path,
    fill: impl FnOnce(&mut Writer) -> Result<(), E>,
) -> Result<(), Error>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    write_via_temp(path, fill, true).map(|_| ())
}

/// Like [`write_atomic`], but only when `path` does not exist yet: of
/// several processes writing it at once, exactly one succeeds. `false`
/// when another file was there first (this one is then discarded).
pub fn write_new_atomic<E>(
    path: &Path,
    fill: impl FnOnce(&mut Writer) -> Result<(), E>,
) -> Result<bool, Error>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    write_via_temp(path, fill, false)
}

/// The directory `path` is in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn write_via_temp<E>(
    path: &Path,
    fill: impl FnOnce(&mut Writer) -> Result<(), E>,
    clobber: bool,
) -> Result<bool, Error>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use std::os::unix::fs::PermissionsExt;
    let err = |e: std::io::Error| write_error(path, e);
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".vstyle-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(err)?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(|e| write_error(path, WriteError::Fill(e.into())))?;
        w.flush().map_err(err)?;
    }
    // On disk before the rename: a finished frame must survive a crash.
    tmp.as_file().sync_all().map_err(err)?;
    if clobber {
        tmp.persist(path).map_err(|e| err(e.error))?;
    } else {
        match tmp.persist_noclobber(path) {
            Ok(_) => {}
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(err(e.error)),
        }
    }
    sync_dir(path)?;
    Ok(true)
}

/// Flushes the directory entry of `path` (just renamed into place) to disk:
/// without it a crash can lose the rename though the file's data survived.
pub fn sync_dir(path: &Path) -> Result<(), Error> {
    let dir = parent(path);
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| write_error(dir, WriteError::SyncDir(e)))
}

/// Bytes per sampled block of [`FileId::sampled_hash`].
const BLOCK: u64 = 64 * 1024;

/// A file as it was seen: size, modification time and a hash of sampled
/// content, enough to tell it from another file put at the same path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    pub size: u64,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// SHA-256 of the size and sampled blocks (see [`FileId::sampled_hash`]), hex.
    pub sha256: String,
}

impl FileId {
    /// Stats and hashes `path`, sampling `blocks` evenly spaced blocks
    /// besides the first and the last.
    pub fn of(path: &Path, blocks: u64) -> std::io::Result<Self> {
        let (size, mtime) = Self::stat(path)?;
        let sha256 = Self::sampled_hash(path, size, blocks)?;
        Ok(Self {
            size,
            mtime,
            sha256,
        })
    }

    /// Size and modification time, the cheap check.
    pub fn stat(path: &Path) -> std::io::Result<(u64, (i64, i64))> {
        let m = std::fs::metadata(path)?;
        Ok((m.len(), (m.mtime(), m.mtime_nsec())))
    }

    /// SHA-256 over the size and the first, the last and `blocks` evenly
    /// spaced blocks of 64 KiB (the whole file when that covers it): a few
    /// MiB read for a clip of any length. SHA-256 rather than std's
    /// `DefaultHasher`, whose values may change between Rust versions.
    pub fn sampled_hash(path: &Path, size: u64, blocks: u64) -> std::io::Result<String> {
        let file = std::fs::File::open(path)?;
        let mut h = Sha256::new();
        h.update(size.to_le_bytes());
        let mut buf = vec![0u8; BLOCK as usize];
        let whole = size <= (blocks + 2) * BLOCK;
        let offsets: Vec<u64> = match whole {
            true => (0..size.div_ceil(BLOCK)).map(|k| k * BLOCK).collect(),
            false => (0..blocks + 2)
                .map(|k| (size - BLOCK) * k / (blocks + 1))
                .collect(),
        };
        for off in offsets {
            let n = BLOCK.min(size - off) as usize;
            file.read_exact_at(&mut buf[..n], off)?;
            h.update(&buf[..n]);
        }
        Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// How `path` compares with this file (see [`compare`]).
    pub fn compare(&self, path: &Path, blocks: u64) -> std::io::Result<Compared> {
        compare(path, self.size, Some(self.mtime), &self.sha256, blocks)
    }

    /// Whether `path` is still this file (a file touched or copied back is).
    pub fn matches(&self, path: &Path, blocks: u64) -> std::io::Result<bool> {
        Ok(self.compare(path, blocks)?.same())
    }
}

/// How a file compares with the identity recorded for its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compared {
    Same,
    /// The same content with another modification time.
    Touched((i64, i64)),
    /// Another size (this one).
    Resized(u64),
    /// The same size, other sampled content.
    Changed,
}

impl Compared {
    pub fn same(self) -> bool {
        matches!(self, Compared::Same | Compared::Touched(_))
    }
}

/// Compares `path` with a recorded `size`, `mtime` and sampled hash: the
/// size first, then the time, and only when the time moved (or was not
/// recorded) the content.
pub fn compare(
    path: &Path,
    size: u64,
    mtime: Option<(i64, i64)>,
    sha256: &str,
    blocks: u64,
) -> std::io::Result<Compared> {
    let (now_size, now_mtime) = FileId::stat(path)?;
    if now_size != size {
        return Ok(Compared::Resized(now_size));
    }
    if mtime == Some(now_mtime) {
        return Ok(Compared::Same);
    }
    if FileId::sampled_hash(path, size, blocks)? != sha256 {
        return Ok(Compared::Changed);
    }
    Ok(match mtime {
        Some(_) => Compared::Touched(now_mtime),
        None => Compared::Same,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::chain;
    use crate::video::{load_image as read_image, write_image_atomic};
    use image::RgbImage;

    #[test]
    fn image_files_are_written_atomically_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.png");
        let img = RgbImage::from_fn(5, 4, |x, _| image::Rgb([x as u8, 1, 2]));
        write_image_atomic(&p, &img).unwrap();
        assert_eq!(read_image(&p).unwrap(), img);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("nope.jpg");
        assert!(read_image(&missing)
            .unwrap_err()
            .to_string()
            .contains("nope.jpg"));
        std::fs::write(dir.path().join("bad.jpg"), b"not a jpeg").unwrap();
        let e = read_image(&dir.path().join("bad.jpg"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.jpg") && !e.contains('\n'), "{e}");
        let file = dir.path().join("a.png");
        let e = chain(&check_writable(&file.join("sub/out.png"), true).unwrap_err());
        assert!(e.contains("out.png") && e.contains("cannot create"), "{e}");
        let e = chain(&check_writable(&file.join("sub/out.png"), false).unwrap_err());
        assert!(e.contains("not a directory"), "{e}");
        check_writable(&dir.path().join("new/dir/out.png"), false).unwrap();
        assert!(!dir.path().join("new").exists(), "a check creates nothing");
        check_writable(&dir.path().join("new/dir/out.png"), true).unwrap();
        assert!(dir.path().join("new/dir").is_dir());
    }
}
