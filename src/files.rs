//! Files written so that nothing half-done is ever seen: atomic writes
//! (temporary file, fsync, rename) and an early check that a path can be
//! written at all.
use std::io::Write;
use std::path::Path;

use crate::error::Error;

/// Fails early when `path` cannot be written, so that a long run does not
/// end in an unwritable output. With `create`, a missing directory is made
/// (as a batch job expects); without, only an existing one is probed.
pub fn check_writable(path: &Path, create: bool) -> Result<(), Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let err = |message: String| Error::Output {
        file: path.display().to_string(),
        message,
    };
    if !dir.is_dir() {
        if !create {
            return match dir.ancestors().find(|a| a.exists()) {
                Some(a) if !a.is_dir() => Err(err(format!("{} is not a directory", a.display()))),
                _ => Ok(()),
            };
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create directory {}: {e}", dir.display())))?;
    }
    tempfile::NamedTempFile::new_in(dir).map_err(|e| err(e.to_string()))?;
    Ok(())
}

/// Writes a file through a temporary file beside `path` that is renamed into
/// place, so a reader (or a resumed run) never sees half a file.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> Result<(), String>,
) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    let err = |message: String| Error::Output {
        file: path.display().to_string(),
        message,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".vstyle-")
        .permissions(std::fs::Permissions::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| err(e.to_string()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(err)?;
        w.flush().map_err(|e| err(e.to_string()))?;
    }
    // On disk before the rename: a finished frame must survive a crash.
    tmp.as_file().sync_all().map_err(|e| err(e.to_string()))?;
    tmp.persist(path).map_err(|e| err(e.error.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let e = check_writable(&file.join("sub/out.png"), true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("out.png") && e.contains("cannot create"), "{e}");
        let e = check_writable(&file.join("sub/out.png"), false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a directory"), "{e}");
        check_writable(&dir.path().join("new/dir/out.png"), false).unwrap();
        assert!(!dir.path().join("new").exists(), "a check creates nothing");
        check_writable(&dir.path().join("new/dir/out.png"), true).unwrap();
        assert!(dir.path().join("new/dir").is_dir());
    }
}
