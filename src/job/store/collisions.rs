//! Outputs never clobber inputs. Before a command writes anything, every
//! path it will write is compared with every file it reads and with the
//! other outputs, as the same file: device and inode where the file
//! exists, else the path with its links resolved, so `-o clip.mp4`,
//! `-o ./x/../clip.mp4`, a symbolic link and a hard link to the clip all
//! count as the clip.
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::video::pattern::Pattern;

/// Something a command writes.
#[derive(Debug, Clone)]
pub enum Target {
    File(PathBuf),
    /// A directory the command owns: everything below it may be written.
    Dir(PathBuf),
    /// A numbered image sequence.
    Frames(Pattern),
}

/// The files a command reads and the targets it writes, each with what it
/// is ("the style image", "the report").
#[derive(Debug, Default, Clone)]
pub struct Claims {
    inputs: Vec<(String, PathBuf)>,
    outputs: Vec<(String, Target)>,
}

impl Claims {
    pub fn read(&mut self, what: &str, path: &Path) -> &mut Self {
        self.inputs.push((what.into(), path.to_path_buf()));
        self
    }

    pub fn write(&mut self, what: &str, target: Target) -> &mut Self {
        self.outputs.push((what.into(), target));
        self
    }

    /// Adds another command's claims (a batch's entries).
    pub fn extend(&mut self, other: Claims) -> &mut Self {
        self.inputs.extend(other.inputs);
        self.outputs.extend(other.outputs);
        self
    }

    /// The first output that is an input or another output, as one error
    /// naming both paths.
    pub fn check(&self) -> Result<()> {
        let inputs: Vec<_> = self.inputs.iter().map(|(w, p)| (w, Id::of(p))).collect();
        let outputs: Vec<_> = self.outputs.iter().map(|(w, t)| (w, Out::of(t))).collect();
        for (k, (what, out)) in outputs.iter().enumerate() {
            if let Some((other, id)) = inputs.iter().find(|(_, id)| out.covers(id)) {
                return Err(collision(what, out, other, &id.shown, "would overwrite"));
            }
            let earlier = outputs[..k].iter().find(|(_, o)| out.meets(o));
            if let Some((other, o)) = earlier {
                return Err(collision(what, out, other, &o.id.shown, "is also"));
            }
        }
        Ok(())
    }
}

fn collision(what: &str, out: &Out, other: &str, path: &Path, verb: &str) -> Error {
    Error::Collision {
        output: out.id.shown.clone(),
        message: format!(
            "the {what} {verb} the {other} {}; choose another output path (nothing was written)",
            path.display()
        ),
    }
}

/// A file as the file system knows it.
#[derive(Debug)]
struct Id {
    /// The path as given, for messages.
    shown: PathBuf,
    real: PathBuf,
    inode: Option<(u64, u64)>,
}

impl Id {
    fn of(path: &Path) -> Self {
        Self {
            shown: path.to_path_buf(),
            real: resolved(path),
            inode: std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino())),
        }
    }

    fn same(&self, other: &Id) -> bool {
        match (self.inode, other.inode) {
            (Some(a), Some(b)) => a == b,
            _ => self.real == other.real,
        }
    }
}

/// An output target with its identity resolved.
#[derive(Debug)]
struct Out {
    id: Id,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    File,
    Dir,
    Frames(Pattern),
}

impl Out {
    fn of(t: &Target) -> Self {
        match t {
            Target::File(p) => Self {
                id: Id::of(p),
                kind: Kind::File,
            },
            Target::Dir(p) => Self {
                id: Id::of(p),
                kind: Kind::Dir,
            },
            Target::Frames(pattern) => Self {
                id: Id::of(&pattern.render(0)),
                kind: Kind::Frames(pattern.clone()),
            },
        }
    }

    /// Whether writing this target may write the file `id`.
    fn covers(&self, id: &Id) -> bool {
        match &self.kind {
            Kind::File => self.id.same(id),
            Kind::Dir => self.id.same(id) || id.real.starts_with(&self.id.real),
            Kind::Frames(p) => {
                let dir = id.real.parent().map(|d| d == resolved(p.dir()));
                let name = id.real.file_name().and_then(|n| n.to_str());
                dir == Some(true) && name.is_some_and(|n| p.names(n))
            }
        }
    }

    /// Whether two outputs would write the same file. A directory holds
    /// other outputs by design (a shard's report in the work directory),
    /// so only the same path counts there.
    fn meets(&self, other: &Out) -> bool {
        match (&self.kind, &other.kind) {
            (Kind::Frames(_), Kind::Frames(_)) => self.id.same(&other.id),
            (Kind::Frames(_), _) => self.covers(&other.id),
            (_, Kind::Frames(_)) => other.covers(&self.id),
            _ => self.id.same(&other.id),
        }
    }
}

/// `path` made absolute with `.`, `..` and symbolic links resolved as far
/// as it exists; the rest is appended as written.
pub fn resolved(path: &Path) -> PathBuf {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
        if let Ok(real) = std::fs::canonicalize(&out) {
            out = real;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(p: &Path) -> Target {
        Target::File(p.to_path_buf())
    }

    #[test]
    fn an_output_that_is_an_input_by_any_name_is_refused_naming_both() {
        let tmp = tempfile::tempdir().unwrap();
        let clip = tmp.path().join("clip.mp4");
        std::fs::write(&clip, b"x").unwrap();
        std::fs::create_dir(tmp.path().join("sub")).unwrap();
        let link = tmp.path().join("link.mp4");
        std::os::unix::fs::symlink(&clip, &link).unwrap();
        let hard = tmp.path().join("hard.mp4");
        std::fs::hard_link(&clip, &hard).unwrap();
        let dotted = tmp.path().join("sub/../clip.mp4");
        for out in [&clip, &link, &hard, &dotted] {
            let mut c = Claims::default();
            c.read("input clip", &clip).write("video", file(out));
            let e = c.check().unwrap_err().to_string();
            assert!(
                e.contains(&out.display().to_string())
                    && e.contains(&clip.display().to_string())
                    && e.contains("would overwrite the input clip"),
                "{e}"
            );
            assert_eq!(e.lines().count(), 1);
        }
        let mut c = Claims::default();
        c.read("input clip", &clip)
            .write("video", file(&tmp.path().join("out.mp4")));
        c.check().unwrap();
    }

    #[test]
    fn two_outputs_on_one_path_are_refused_even_before_either_exists() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("new/o.mp4");
        let mut c = Claims::default();
        c.write("video", file(&out))
            .write("report", file(&tmp.path().join("new/./o.mp4")));
        let e = c.check().unwrap_err().to_string();
        assert!(e.contains("the report is also the video"), "{e}");
    }

    #[test]
    fn directories_and_frame_patterns_cover_the_files_they_would_write() {
        let tmp = tempfile::tempdir().unwrap();
        let frames = tmp.path().join("f_00003.png");
        std::fs::write(&frames, b"x").unwrap();
        let pattern = Pattern::parse(&tmp.path().join("f_%05d.png")).unwrap();
        let other = Pattern::parse(&tmp.path().join("g_%05d.png")).unwrap();
        let check = |t: Target| {
            let mut c = Claims::default();
            c.read("input frame", &frames).write("output", t);
            c.check()
        };
        assert!(check(Target::Frames(pattern)).is_err());
        assert!(check(Target::Frames(other.clone())).is_ok());
        assert!(check(Target::Dir(tmp.path().to_path_buf())).is_err());
        assert!(check(Target::Dir(tmp.path().join("work"))).is_ok());
        let mut c = Claims::default();
        c.write("frames", Target::Frames(other))
            .write("report", file(&tmp.path().join("g_00001.png")));
        assert!(c.check().is_err(), "a file the pattern would write");
    }

    #[test]
    fn resolved_paths_are_absolute_without_dots() {
        let tmp = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(tmp.path()).unwrap();
        assert_eq!(resolved(&tmp.path().join("a/../b/./c")), real.join("b/c"));
    }
}
