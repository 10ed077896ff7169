//! Paths tidied for printing and reports: `configs/../target/x.mp4` reads
//! `target/x.mp4`.

use std::path::{Component, Path, PathBuf};

/// `path` with `.` dropped and each `dir/..` folded where `dir` is a plain
/// name, so the path keeps the user's spelling otherwise: no link is
/// resolved. A `dir` that is a symbolic link keeps its `..`, which leads to
/// the link target's parent, not to the folded path. Leading `..` stay;
/// `/..` is `/`; a path folded to nothing is `.`, an empty one stays empty.
pub fn tidy(path: &Path) -> PathBuf {
    let mut out: Vec<Component> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) if !is_link(&out) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(c),
            },
            _ => out.push(c),
        }
    }
    if out.is_empty() && !path.as_os_str().is_empty() {
        return PathBuf::from(".");
    }
    out.iter().collect()
}

fn is_link(components: &[Component]) -> bool {
    let path: PathBuf = components.iter().collect();
    path.symlink_metadata()
        .is_ok_and(|m| m.file_type().is_symlink())
}

#[cfg(test)]
mod tests {
    use super::tidy;
    use std::path::Path;

    #[test]
    fn dots_go_and_a_name_before_dot_dot_folds_away() {
        let cases = [
            ("configs/../target/demo/x.mp4", "target/demo/x.mp4"),
            ("./a/./b", "a/b"),
            ("/srv/job/../out/x.mp4", "/srv/out/x.mp4"),
            ("a/b/../../c", "c"),
            ("../out/x.mp4", "../out/x.mp4"),
            ("a/../../x", "../x"),
            ("/../x", "/x"),
            ("a/..", "."),
            ("", ""),
            ("out/{clip}_{style}.mp4", "out/{clip}_{style}.mp4"),
        ];
        for (given, want) in cases {
            assert_eq!(tidy(Path::new(given)), Path::new(want), "{given}");
        }
    }

    #[test]
    fn a_link_keeps_the_dot_dot_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (real, link) = (dir.path().join("a/b"), dir.path().join("link"));
        std::fs::create_dir_all(&real).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let through = link.join("../x");
        assert_eq!(tidy(&through), through);
        assert_eq!(tidy(&real.join("../x")), dir.path().join("a/x"));
    }
}
