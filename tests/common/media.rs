//! What a run wrote: decoded with the library or probed with the ffprobe
//! tool, and pictures compared.
use std::path::Path;
use std::process::Command;

use image::RgbImage;
use vstyle::video::{FrameSource, SourceInfo, SourceOptions};

fn open(path: &Path, size: Option<u32>) -> FrameSource {
    let opts = SourceOptions {
        size,
        ..SourceOptions::full_size()
    };
    FrameSource::open(path, &opts).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the library reads of a file, and its frame count.
pub fn probe(path: &Path) -> (SourceInfo, usize) {
    let src = open(path, None);
    let info = src.info().clone();
    (info, src.count())
}

/// Every frame of a file at its own size, and what the library read of it.
pub fn decode(path: &Path) -> (SourceInfo, Vec<RgbImage>) {
    let src = open(path, None);
    let info = src.info().clone();
    let frames = src.map(|f| f.unwrap().image).collect();
    (info, frames)
}

/// The first frame, its longest side `size` px (`None`: as stored).
pub fn first_frame(path: &Path, size: Option<u32>) -> RgbImage {
    let mut src = open(path, size);
    src.next().expect("a frame").expect("decodes").image
}

/// A JSON file, such as a job's report.
pub fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ffprobe(path: &Path, args: &[&str]) -> String {
    let out = Command::new("ffprobe")
        .args(["-v", "error"])
        .args(args)
        .args(["-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs (scripts/setup.sh installs it)");
    assert!(out.status.success(), "ffprobe {}", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One field of every video (or audio) stream, or of every packet, as ffprobe prints it.
pub fn ffprobe_fields(path: &Path, entries: &str, stream: &str) -> Vec<String> {
    ffprobe(path, &["-select_streams", stream, "-show_entries", entries])
        .lines()
        .map(|l| l.trim_end_matches(',').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Video frames in a file, counted by the ffprobe tool decoding it.
pub fn count_frames(path: &Path) -> usize {
    let args = ["-count_frames", "-select_streams", "v"];
    let text = ffprobe(
        path,
        &[&args[..], &["-show_entries", "stream=nb_read_frames"]].concat(),
    );
    text.trim()
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("{text}"))
}

/// Presentation times of a file's video frames, in seconds, in display order.
pub fn frame_times(path: &Path) -> Vec<f64> {
    let mut t: Vec<f64> = ffprobe_fields(path, "packet=pts_time", "v")
        .iter()
        .map(|s| s.parse().expect("a time"))
        .collect();
    t.sort_by(f64::total_cmp);
    t
}
