//! Bad streams, tried in bulk: the shipped clips cut short, overwritten and
//! bit-flipped (in the container's boxes and in the frames' data), each run
//! through the real binary at a tiny size. Whatever the damage, a run ends
//! by itself with exit code 0 or 2, never panics, says what failed in one
//! `error:` line naming the file, and a failed run leaves no final video.
//!
//! The variants come from a fixed seed, and each has a name that says what
//! was done to which bytes, so a failure can be reproduced from its name.
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fault::{excerpt, parallel_map, run_with_deadline, Checked, Rng};
use common::run::command;
use vstyle::video::{FrameSource, SourceOptions};

const SEED: u64 = 0x5EED_0007_0004;
/// Frames each run asks for.
const FRAMES: usize = 3;
/// A run that takes longer than this counts as a hang.
const DEADLINE: Duration = Duration::from_secs(60);
/// Runs at a time: each is short and spends much of it starting up.
const THREADS: usize = 3;

/// One MP4 box: where it starts, its total size and its header size.
#[derive(Debug, Clone)]
struct Mp4Box {
    path: String,
    start: usize,
    size: usize,
    header: usize,
}

impl Mp4Box {
    fn end(&self) -> usize {
        self.start + self.size
    }
    fn body(&self) -> usize {
        self.start + self.header
    }
}

const CONTAINERS: [&str; 8] = [
    "moov", "trak", "mdia", "minf", "stbl", "edts", "dinf", "udta",
];

/// The box tree of an intact MP4 file, depth first; a `trak` is named
/// `trakN` by its order.
fn boxes(b: &[u8]) -> Vec<Mp4Box> {
    fn walk(b: &[u8], mut at: usize, end: usize, prefix: &str, out: &mut Vec<Mp4Box>) {
        let mut traks = 0;
        while at + 8 <= end {
            let mut size = u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize;
            let kind = String::from_utf8_lossy(&b[at + 4..at + 8]).into_owned();
            let mut header = 8;
            if size == 1 {
                size = u64::from_be_bytes(b[at + 8..at + 16].try_into().unwrap()) as usize;
                header = 16;
            } else if size == 0 {
                size = end - at;
            }
            assert!(size >= header && at + size <= end, "bad box {kind} at {at}");
            let name = if kind == "trak" {
                traks += 1;
                format!("trak{}", traks - 1)
            } else {
                kind.clone()
            };
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            out.push(Mp4Box {
                path: path.clone(),
                start: at,
                size,
                header,
            });
            if CONTAINERS.contains(&kind.as_str()) {
                walk(b, at + header, at + size, &path, out);
            }
            at += size;
        }
    }
    let mut out = Vec::new();
    walk(b, 0, b.len(), "", &mut out);
    // The avcC record sits inside the sample description (after avc1's 78
    // bytes of fields); it holds the SPS and PPS.
    let stsd: Vec<Mp4Box> = out
        .iter()
        .filter(|x| x.path.ends_with("/stsd"))
        .cloned()
        .collect();
    for s in stsd {
        let body = &b[s.start..s.end()];
        if let Some(i) = body.windows(4).position(|w| w == b"avcC") {
            let start = s.start + i - 4;
            let size = u32::from_be_bytes(b[start..start + 4].try_into().unwrap()) as usize;
            out.push(Mp4Box {
                path: format!("{}/avc1/avcC", s.path),
                start,
                size,
                header: 8,
            });
        }
    }
    out
}

fn find<'a>(bx: &'a [Mp4Box], path: &str) -> &'a Mp4Box {
    bx.iter()
        .find(|x| x.path == path)
        .unwrap_or_else(|| panic!("no box {path}"))
}

fn be32(b: &[u8], at: usize) -> usize {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

/// The `trakN` whose handler is `kind` ("vide" or "soun").
fn track(b: &[u8], bx: &[Mp4Box], kind: &str) -> String {
    bx.iter()
        .filter(|x| x.path.ends_with("/mdia/hdlr"))
        .find(|x| &b[x.body() + 8..x.body() + 12] == kind.as_bytes())
        .map(|x| x.path.trim_end_matches("/mdia/hdlr").to_string())
        .unwrap_or_else(|| panic!("no {kind} track"))
}

/// (file offset, size) of every sample of a track, in decoding order.
fn samples(b: &[u8], bx: &[Mp4Box], trak: &str) -> Vec<(usize, usize)> {
    let stbl = format!("{trak}/mdia/minf/stbl");
    let stsz = find(bx, &format!("{stbl}/stsz")).body();
    let fixed = be32(b, stsz + 4);
    let count = be32(b, stsz + 8);
    let sizes: Vec<usize> = (0..count)
        .map(|i| {
            if fixed != 0 {
                fixed
            } else {
                be32(b, stsz + 12 + 4 * i)
            }
        })
        .collect();
    let stco = find(bx, &format!("{stbl}/stco")).body();
    let chunks: Vec<usize> = (0..be32(b, stco + 4))
        .map(|i| be32(b, stco + 8 + 4 * i))
        .collect();
    let stsc = find(bx, &format!("{stbl}/stsc")).body();
    let runs: Vec<(usize, usize)> = (0..be32(b, stsc + 4))
        .map(|i| (be32(b, stsc + 8 + 12 * i), be32(b, stsc + 12 + 12 * i)))
        .collect();
    let mut out = Vec::new();
    let mut next = 0;
    for (c, &offset) in chunks.iter().enumerate() {
        let per_chunk = runs
            .iter()
            .rev()
            .find(|(first, _)| *first <= c + 1)
            .map_or(0, |r| r.1);
        let mut at = offset;
        for _ in 0..per_chunk {
            if next < sizes.len() {
                out.push((at, sizes[next]));
                at += sizes[next];
                next += 1;
            }
        }
    }
    assert_eq!(
        out.len(),
        sizes.len(),
        "{trak}: samples and chunks disagree"
    );
    out
}

/// The same file with its index (moov) moved in front of the media data, as
/// `-movflags faststart` does: a copy cut short then still opens, so cuts
/// reach the decoder instead of the demuxer.
fn faststart(b: &[u8]) -> Vec<u8> {
    let bx = boxes(b);
    let top: Vec<&Mp4Box> = bx.iter().filter(|x| !x.path.contains('/')).collect();
    let moov = top.iter().find(|x| x.path == "moov").unwrap();
    assert!(
        top.iter().position(|x| x.path == "moov") == Some(top.len() - 1),
        "the index is already in front"
    );
    let mut head = b[moov.start..moov.end()].to_vec();
    for s in bx.iter().filter(|x| x.path.ends_with("/stco")) {
        let at = s.body() - moov.start;
        let n = be32(&head, at + 4);
        for i in 0..n {
            let p = at + 8 + 4 * i;
            let v = be32(&head, p) + moov.size;
            head[p..p + 4].copy_from_slice(&(v as u32).to_be_bytes());
        }
    }
    let ftyp = top.iter().find(|x| x.path == "ftyp").unwrap();
    let mut out = b[..ftyp.end()].to_vec();
    out.extend_from_slice(&head);
    out.extend_from_slice(&b[ftyp.end()..moov.start]);
    out
}

/// One damaged file.
struct Variant {
    /// Names the clip, the damage and the bytes, e.g. `carphone_fast-cut-sample1-mid@5123`.
    name: String,
    category: &'static str,
    bytes: Vec<u8>,
}

fn flip_bits(bytes: &mut [u8], rng: &mut Rng, lo: usize, hi: usize, n: usize) -> String {
    let mut at = Vec::new();
    for _ in 0..n {
        let i = rng.range(lo, hi);
        let bit = rng.below(8);
        bytes[i] ^= 1 << bit;
        at.push(format!("{i}.{bit}"));
    }
    at.join(",")
}

fn overwrite(bytes: &mut [u8], rng: &mut Rng, lo: usize, hi: usize, max_len: usize) -> String {
    let start = rng.range(lo, hi);
    let len = rng.range(1, max_len + 1).min(bytes.len() - start);
    let fill = rng.below(3);
    for b in &mut bytes[start..start + len] {
        *b = match fill {
            0 => 0,
            1 => 0xFF,
            _ => rng.next_u64() as u8,
        };
    }
    let what = ["zeros", "ff", "random"][fill];
    format!("{start}+{len}:{what}")
}

struct Clip {
    label: &'static str,
    bytes: Vec<u8>,
    boxes: Vec<Mp4Box>,
    video: Vec<(usize, usize)>,
    audio: Vec<(usize, usize)>,
}

impl Clip {
    fn new(label: &'static str, bytes: Vec<u8>) -> Self {
        let boxes = boxes(&bytes);
        let video = samples(&bytes, &boxes, &track(&bytes, &boxes, "vide"));
        let has_audio = boxes
            .iter()
            .filter(|x| x.path.ends_with("/mdia/hdlr"))
            .any(|x| &bytes[x.body() + 8..x.body() + 12] == b"soun");
        let audio = if has_audio {
            samples(&bytes, &boxes, &track(&bytes, &boxes, "soun"))
        } else {
            Vec::new()
        };
        Self {
            label,
            bytes,
            boxes,
            video,
            audio,
        }
    }

    fn variant(&self, category: &'static str, what: String, bytes: Vec<u8>) -> Variant {
        Variant {
            name: format!("{}-{what}", self.label),
            category,
            bytes,
        }
    }

    fn cut(&self, what: &str, at: usize) -> Variant {
        self.variant(
            "truncated",
            format!("cut-{what}@{at}"),
            self.bytes[..at].to_vec(),
        )
    }

    /// Flips `n` random bits inside the box at `path` (its header included).
    fn flip_box(&self, rng: &mut Rng, path: &str, n: usize) -> Variant {
        let b = find(&self.boxes, path);
        let mut bytes = self.bytes.clone();
        let at = flip_bits(&mut bytes, rng, b.start, b.end(), n);
        let short = path.rsplit('/').next().unwrap();
        self.variant("header bit flips", format!("flip-{short}-{at}"), bytes)
    }

    fn flip_sample(&self, rng: &mut Rng, audio: bool, i: usize, n: usize) -> Variant {
        let (at, len) = if audio { self.audio[i] } else { self.video[i] };
        let mut bytes = self.bytes.clone();
        let flips = flip_bits(&mut bytes, rng, at, at + len, n);
        let kind = if audio { "audio" } else { "video" };
        self.variant(
            "frame data bit flips",
            format!("flip-{kind}{i}-{n}bits-{flips}"),
            bytes,
        )
    }

    fn overwrite_range(&self, rng: &mut Rng, where_: &str, lo: usize, hi: usize) -> Variant {
        let mut bytes = self.bytes.clone();
        let what = overwrite(&mut bytes, rng, lo, hi, 2048);
        self.variant("overwritten", format!("overwrite-{where_}-{what}"), bytes)
    }

    /// The middle of video sample `i`.
    fn mid(&self, i: usize) -> usize {
        self.video[i].0 + self.video[i].1 / 2
    }
}

fn variants() -> Vec<Variant> {
    let mut rng = Rng::new(SEED);
    let carphone = Clip::new(
        "carphone",
        std::fs::read(common::data("carphone.mp4")).unwrap(),
    );
    let fast = Clip::new("carphone_fast", faststart(&carphone.bytes));
    let bunny = Clip::new(
        "bunny",
        std::fs::read(common::data("bigbuckbunny_2s.mp4")).unwrap(),
    );
    assert_eq!(carphone.video.len(), 120);
    assert_eq!(fast.video.len(), 120);
    assert!(!bunny.audio.is_empty(), "the bunny clip has its AAC track");
    let mut v = Vec::new();

    // Cut short. carphone keeps its index at the end: every cut loses it.
    let moov = find(&carphone.boxes, "moov").clone();
    let n = carphone.bytes.len();
    for (what, at) in [
        ("empty", 0),
        ("in-ftyp", 7),
        ("after-ftyp", 32),
        ("mdat-header", 44),
        ("third", n / 3),
        ("moov-header", moov.start + 4),
        ("mid-moov", moov.start + moov.size / 2),
        ("last-byte", n - 1),
    ] {
        v.push(carphone.cut(what, at));
    }
    // With the index first, cuts land in the frames the job reads.
    let fmoov = find(&fast.boxes, "moov").clone();
    for (what, at) in [
        ("after-moov", fmoov.end()),
        ("mdat-header", fmoov.end() + 12),
        ("sample0-mid", fast.mid(0)),
        ("sample1-start", fast.video[1].0),
        ("sample2-start", fast.video[2].0),
        ("sample1-mid", fast.mid(1)),
        ("sample2-mid", fast.mid(2)),
        ("sample3-mid", fast.mid(3)),
        ("sample5-mid", fast.mid(5)),
        ("sample60-mid", fast.mid(60)),
    ] {
        v.push(fast.cut(what, at));
    }
    let bmoov = find(&bunny.boxes, "moov").clone();
    for (what, at) in [
        ("mid-moov", bmoov.start + bmoov.size / 2),
        ("video0-mid", bunny.mid(0)),
        ("video2-mid", bunny.mid(2)),
        ("video1-start", bunny.video[1].0),
        ("video10-mid", bunny.mid(10)),
        ("half", bunny.bytes.len() / 2),
    ] {
        v.push(bunny.cut(what, at));
    }

    // Overwritten byte ranges: in the first frames' data and in the index.
    let frames_end = fast.video[5].0;
    for _ in 0..8 {
        v.push(fast.overwrite_range(&mut rng, "frames", fast.video[0].0, frames_end));
    }
    for _ in 0..4 {
        v.push(carphone.overwrite_range(&mut rng, "moov", moov.start, moov.end()));
    }
    for _ in 0..3 {
        v.push(bunny.overwrite_range(&mut rng, "video", bunny.video[0].0, bunny.video[3].0));
    }
    for _ in 0..2 {
        v.push(bunny.overwrite_range(&mut rng, "moov", bmoov.start, bmoov.end()));
    }

    // Bit flips in the container's boxes.
    let vt = track(&carphone.bytes, &carphone.boxes, "vide");
    let stbl = format!("{vt}/mdia/minf/stbl");
    let carphone_boxes = [
        "ftyp".to_string(),
        "moov".into(),
        "moov/mvhd".into(),
        format!("{vt}/tkhd"),
        format!("{vt}/edts/elst"),
        format!("{vt}/mdia/mdhd"),
        format!("{vt}/mdia/hdlr"),
        format!("{stbl}/stsd"),
        format!("{stbl}/stsd/avc1/avcC"),
        format!("{stbl}/stts"),
        format!("{stbl}/stss"),
        format!("{stbl}/ctts"),
        format!("{stbl}/stsc"),
        format!("{stbl}/stsz"),
        format!("{stbl}/stco"),
    ];
    for path in &carphone_boxes {
        let bits = rng.range(1, 5);
        v.push(carphone.flip_box(&mut rng, path, bits));
    }
    // Again on the faststart copy (its index first), with more bits.
    for path in [
        "ftyp".to_string(),
        "moov/mvhd".into(),
        format!("{stbl}/stsd/avc1/avcC"),
        format!("{stbl}/stts"),
        format!("{stbl}/ctts"),
        format!("{stbl}/stsz"),
        format!("{stbl}/stco"),
        format!("{stbl}/stsc"),
    ] {
        let bits = rng.range(2, 9);
        v.push(fast.flip_box(&mut rng, &path, bits));
    }
    let bvt = track(&bunny.bytes, &bunny.boxes, "vide");
    let bat = track(&bunny.bytes, &bunny.boxes, "soun");
    for path in [
        format!("{bvt}/mdia/minf/stbl/stsd/avc1/avcC"),
        format!("{bvt}/mdia/minf/stbl/stsz"),
        format!("{bat}/mdia/minf/stbl/stsd"),
        format!("{bat}/mdia/minf/stbl/stsz"),
        format!("{bat}/mdia/minf/stbl/stco"),
        format!("{bat}/mdia/mdhd"),
    ] {
        let bits = rng.range(1, 5);
        v.push(bunny.flip_box(&mut rng, &path, bits));
    }

    // Bit flips in the frames' data.
    for i in 0..3 {
        for bits in [1, 8, 64] {
            v.push(fast.flip_sample(&mut rng, false, i, bits));
        }
    }
    v.push(bunny.flip_sample(&mut rng, false, 0, 16));
    v.push(bunny.flip_sample(&mut rng, false, 1, 16));
    v.push(bunny.flip_sample(&mut rng, true, 0, 16));
    v.push(bunny.flip_sample(&mut rng, true, 2, 256));
    v
}

fn run_variant(dir: &Path, index: usize, v: &Variant) -> Checked {
    // Short file names (a variant's name can be long); the report gives both.
    let input = dir.join(format!("v{index:03}.mp4"));
    std::fs::write(&input, &v.bytes).unwrap();
    let output = dir.join(format!("out{index:03}.mp4"));
    let style = common::data("starry_night.jpg");
    let mut cmd = command();
    cmd.arg("video")
        .arg(&input)
        .arg("-s")
        .arg(&style)
        .arg("-o")
        .arg(&output)
        .args(["--size", "32", "--max-frames", &FRAMES.to_string()])
        .args(["--first-iterations", "1", "--iterations", "1"])
        .args(["--device", "cpu", "-q"])
        // Shallow layers: the tiny frames are deep enough, and runs stay fast.
        .args([
            "--style-layers",
            "relu1_1,relu2_1",
            "--content-layers",
            "relu2_2",
        ]);
    let o = run_with_deadline(cmd, DEADLINE);
    let mut problems = Vec::new();
    let file = input.file_name().unwrap().to_string_lossy().into_owned();
    let out_name = output.file_name().unwrap().to_string_lossy().into_owned();
    match o.code {
        Some(2) => {
            if output.exists() {
                problems.push(format!(
                    "failed (exit 2) but left the final video {out_name}"
                ));
            }
            let last = o.stderr.lines().last().unwrap_or_default();
            if !last.contains(&file) && !last.contains(&out_name) {
                problems.push("the error line names neither the input nor the output".into());
            }
        }
        Some(0) => match FrameSource::open(&output, &SourceOptions::default()) {
            Ok(src) => {
                let frames = src.filter(|f| f.is_ok()).count();
                if frames != FRAMES {
                    problems.push(format!(
                        "exit 0 with a video of {frames} frames (asked for {FRAMES})"
                    ));
                }
            }
            Err(e) => problems.push(format!("exit 0 but the output does not open: {e}")),
        },
        _ => {}
    }
    let _ = std::fs::remove_file(&input);
    eprintln!(
        "  v{index:03} {:<8} {:>5.1} s  {}",
        o.code.map_or("signal".into(), |c| format!("exit {c}")),
        o.seconds,
        v.name
    );
    Checked::of(o, problems)
}

#[test]
fn damaged_clips_fail_cleanly_or_play() {
    let variants = variants();
    assert!(variants.len() >= 70, "{} variants", variants.len());
    let mut names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), variants.len(), "variant names are unique");

    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let results = parallel_map(&variants, THREADS, |i, v| run_variant(dir.path(), i, v));
    let wall = started.elapsed().as_secs_f64();

    // Summary: per category, how many runs exited 0 and 2 (and otherwise).
    let mut table: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, (v, r)) in variants.iter().zip(&results).enumerate() {
        let code = r.code.map_or("signal".into(), |c| format!("exit {c}"));
        *table
            .entry(v.category)
            .or_default()
            .entry(code.clone())
            .or_default() += 1;
        if !r.problems.is_empty() {
            failures.push(format!(
                "v{i:03} {} ({code}, {:.1} s): {}\n    stderr: {}",
                v.name,
                r.seconds,
                r.problems.join("; "),
                excerpt(&r.stderr).replace('\n', "\n            ")
            ));
        }
    }
    let slowest = results.iter().map(|r| r.seconds).fold(0.0, f64::max);
    eprintln!(
        "mutated streams: {} variants (seed {SEED:#x}) in {wall:.0} s on {THREADS} threads, slowest run {slowest:.1} s",
        variants.len()
    );
    common::fault::summarise("damaged clips", &table, &failures, variants.len());
}

#[test]
fn the_box_reader_finds_the_frames() {
    // The variants aim at boxes and frames found by this reader: check it on
    // the intact clips against the decoder.
    let b = std::fs::read(common::data("carphone.mp4")).unwrap();
    let clip = Clip::new("carphone", b.clone());
    let mdat = find(&clip.boxes, "mdat");
    assert_eq!(
        clip.video[0].0,
        mdat.body(),
        "the first frame opens the mdat"
    );
    let last = clip.video.last().unwrap();
    assert_eq!(last.0 + last.1, mdat.end(), "the last frame closes it");
    // The faststart copy decodes to the same frames.
    let dir = tempfile::tempdir().unwrap();
    let fast = dir.path().join("fast.mp4");
    std::fs::write(&fast, faststart(&b)).unwrap();
    let decode = |p: &PathBuf| -> Vec<_> {
        FrameSource::open(p, &SourceOptions::default())
            .unwrap()
            .map(|f| f.unwrap().image)
            .collect()
    };
    let a = decode(&common::data("carphone.mp4"));
    assert_eq!(a.len(), 120);
    assert_eq!(a, decode(&fast));
    let fast_clip = Clip::new("fast", std::fs::read(&fast).unwrap());
    assert_eq!(
        find(&fast_clip.boxes, "moov").start,
        32,
        "the index follows ftyp"
    );
    let bunny = Clip::new(
        "bunny",
        std::fs::read(common::data("bigbuckbunny_2s.mp4")).unwrap(),
    );
    assert_eq!(bunny.video.len(), 50, "2 s at 25 fps");
    assert!(bunny.audio.len() > 80, "{} AAC packets", bunny.audio.len());
}
