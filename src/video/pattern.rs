//! Numbered file patterns, printf-style as FFmpeg's image2 reads them:
//! `%d`, or `%Nd` / `%0Nd` for numbers zero-padded to N digits. One parser
//! serves the input sequences and the output image sequence.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::VideoError;

/// A numbered file pattern in the file-name part of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    dir: PathBuf,
    prefix: String,
    suffix: String,
    width: usize,
}

impl Pattern {
    /// The pattern in `path`'s file name, if it has exactly one `%d`,
    /// `%Nd` or `%0Nd`.
    pub fn parse(path: &Path) -> Option<Pattern> {
        let name = path.file_name()?.to_str()?;
        let pos = name.find('%')?;
        let rest = &name[pos + 1..];
        let digits_end = rest.find(|c: char| !c.is_ascii_digit())?;
        if !rest[digits_end..].starts_with('d') {
            return None;
        }
        let spec = &rest[..digits_end];
        // FFmpeg pads with zeros whether or not the width starts with 0.
        let width = if spec.is_empty() {
            0
        } else {
            spec.parse().ok()?
        };
        // A usize has at most 20 digits; a wider one is no frame number (and a
        // width over 65535 would make the formatter panic).
        if width > 20 {
            return None;
        }
        let suffix = &rest[digits_end + 1..];
        if suffix.contains('%') || name[..pos].contains('%') {
            return None;
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(Pattern {
            dir,
            prefix: name[..pos].to_string(),
            suffix: suffix.to_string(),
            width,
        })
    }

    /// An output pattern: `text` itself, or, without any `%`, `text`
    /// followed by a six-digit number and `.png`; None for a malformed one.
    pub fn for_output(text: &str) -> Option<Pattern> {
        if text.contains('%') {
            Pattern::parse(Path::new(text))
        } else {
            Pattern::parse(Path::new(&format!("{text}%06d.png")))
        }
    }

    pub fn render(&self, n: usize) -> PathBuf {
        self.dir.join(format!(
            "{}{:0w$}{}",
            self.prefix,
            n,
            self.suffix,
            w = self.width
        ))
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the file name `name` is one of the sequence's.
    pub fn names(&self, name: &str) -> bool {
        self.number_of(name).is_some()
    }

    fn number_of(&self, name: &str) -> Option<usize> {
        let mid = name
            .strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)?;
        if mid.is_empty() || !mid.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: usize = mid.parse().ok()?;
        // Only names the pattern itself would produce.
        (format!("{:0w$}", n, w = self.width) == mid).then_some(n)
    }

    /// All files of the sequence, numbered from 0 or 1 without gaps.
    pub fn files(&self, pattern_path: &Path) -> Result<Vec<PathBuf>, VideoError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| VideoError::Open {
            path: pattern_path.to_path_buf(),
            reason: e.into(),
        })?;
        let numbers: BTreeSet<usize> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().and_then(|n| self.number_of(n)))
            .collect();
        let (Some(&first), Some(&last)) = (numbers.first(), numbers.last()) else {
            return Err(VideoError::NoImages {
                path: pattern_path.to_path_buf(),
            });
        };
        if first > 1 {
            return Err(VideoError::MissingFrame {
                path: self.render(1),
                pattern: pattern_path.to_path_buf(),
            });
        }
        if let Some(missing) = (first..=last).find(|n| !numbers.contains(n)) {
            return Err(VideoError::MissingFrame {
                path: self.render(missing),
                pattern: pattern_path.to_path_buf(),
            });
        }
        Ok((first..=last).map(|n| self.render(n)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_pad_with_zeros_as_ffmpeg_does() {
        let p = |s: &str, n| Pattern::parse(Path::new(s)).unwrap().render(n);
        assert_eq!(p("out/f_%05d.png", 7), PathBuf::from("out/f_00007.png"));
        assert_eq!(p("out/f_%5d.png", 7), PathBuf::from("out/f_00007.png"));
        assert_eq!(p("f%d.jpg", 12), PathBuf::from("./f12.jpg"));
    }

    #[test]
    fn malformed_patterns_are_not_patterns() {
        for s in [
            "plain.png",
            "a%s.png",
            "a%05d_%d.png",
            "%-5d.png",
            "%99d.png",
        ] {
            assert!(Pattern::parse(Path::new(s)).is_none(), "{s}");
        }
    }

    #[test]
    fn outputs_without_a_number_get_one() {
        let out = |s: &str| Pattern::for_output(s).map(|p| p.render(3));
        assert_eq!(
            out("out/f_%05d.png"),
            Some(PathBuf::from("out/f_00003.png"))
        );
        assert_eq!(out("out/frame"), Some(PathBuf::from("out/frame000003.png")));
        assert_eq!(out("out/f_%s.png"), None);
    }
}
