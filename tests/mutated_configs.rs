//! Bad job files and overrides, tried in bulk: the shipped configs/*.toml
//! mutated at random (lines deleted, duplicated, swapped or made up, numbers
//! made huge, negative, NaN or strings, characters flipped, the file cut
//! short), and random `--set KEY=VALUE` on keys of the real schema, each run
//! through `vstyle check`. Whatever the input, check ends by itself with exit
//! code 0 or 2, never panics, and a failure is one `error:` line.
//!
//! The mutations come from a fixed seed; a failure names the mutation and
//! shows the file's text, so it can be reproduced.
mod common;
mod harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::{contract_violations, excerpt, parallel_map, run_with_deadline, vstyle, Rng};

const SEED: u64 = 0x5EED_0007_0204;
const MUTATIONS_PER_FILE: usize = 35;
const OVERRIDE_RUNS: usize = 70;
const DEADLINE: Duration = Duration::from_secs(60);
/// Most checks end within a second, mostly spent loading libtorch; four at
/// a time overlap that waiting even on two cores.
const THREADS: usize = 4;

/// A shipped config made to run here: paths point into the checkout's media
/// and a temporary output folder, the device is the CPU, and frames are 64 px
/// so that each check stays short (mutations never make a size larger than
/// 99 that still validates).
fn localise(text: &str, out: &Path) -> String {
    let data = format!("\"{}/", common::repo().join("tests/data").display());
    let mut t = text
        .replace("\"../tests/data/", &data)
        .replace("\"../target/", &format!("\"{}/", out.display()))
        .replace("device = \"cuda\"", "device = \"cpu\"")
        .replace("device = \"auto\"", "device = \"cpu\"");
    for size in ["size = 512", "size = 256", "size = 128"] {
        t = t.replace(size, "size = 64");
    }
    if !t.contains("path = ") {
        // still.toml names no clip and no output (the image command takes them from -c and -o).
        t = t.replacen(
            "[input]\n",
            &format!(
                "[input]\npath = \"{}\"\n",
                common::data("carphone.mp4").display()
            ),
            1,
        );
    }
    if !t.contains("[output]") {
        t.push_str(&format!(
            "\n[output]\npath = \"{}\"\n",
            out.join("still.mp4").display()
        ));
    }
    assert!(!t.contains("\"../"), "a relative path is left:\n{t}");
    t
}

/// Values a number may become.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-1e9",
    "4000000000",
    "9223372036854775807",
    "18446744073709551616",
    "-9223372036854775809",
    "1e308",
    "-1e308",
    "1e309",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "1e-300",
    "0.5",
    "3",
    "17",
    "99",
    "4097",
    "65536",
    "0x7fffffff",
    "1_000",
    "\"12\"",
    "true",
    "[]",
    "{}",
    "[1, 2]",
    "",
];

/// Lines a mutation may add.
const LINES: &[&str] = &[
    "[input]",
    "[[style]]",
    "[style",
    "bogus = 1",
    "= 3",
    "size =",
    "size = 4000000000",
    "step = 4000000000",
    "path = 3",
    "images = \"x.jpg\"",
    "images = []",
    "long_term = [0, -1]",
    "long_term = [2, 1000000]",
    "crf = 300",
    "frames = \"f_%070000d.png\"",
    "frames = \"f_%s.png\"",
    "device = \"cuda:999\"",
    "device = \"\"",
    "name = \"resnet\"",
    "content_layers = []",
    "style_layers = [\"relu9_9\"]",
    "pooling = 3",
    "init = \"prev\"",
    "history_size = 0",
    "max_evaluations = 0",
    "blend_weights = [1e308, 1e308]",
    "scale = 1e308",
    "input.size = 3",
    "[optimizer.extra]",
    "x = \"\\u0000\"",
    "'''",
    "\"\"\"",
];

/// Characters a flip may write.
const CHARS: &[u8] = b"\"[]={}#.,'\n\\ 0123456789-_aeznx%";

fn numeric_spans(text: &[u8]) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let starts = text[i].is_ascii_digit()
            && (i == 0 || !(text[i - 1].is_ascii_alphanumeric() || text[i - 1] == b'_'));
        if starts {
            let mut j = i;
            while j < text.len() && (text[j].is_ascii_digit() || b".eE-+_".contains(&text[j])) {
                j += 1;
            }
            // Digits inside names (relu4_2, cuda:1) are not numbers.
            if j == text.len() || !(text[j].is_ascii_alphabetic() || text[j] == b'_') {
                spans.push((i, j));
            }
            i = j;
        } else {
            i += 1;
        }
    }
    spans
}

fn lines_of(text: &[u8]) -> Vec<Vec<u8>> {
    text.split(|&b| b == b'\n').map(|l| l.to_vec()).collect()
}

fn join_lines(lines: &[Vec<u8>]) -> Vec<u8> {
    lines.join(&b'\n')
}

/// Applies one random mutation; returns its description.
fn mutate(text: &mut Vec<u8>, rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => {
            let mut l = lines_of(text);
            let i = rng.below(l.len());
            l.remove(i);
            *text = join_lines(&l);
            format!("delete line {}", i + 1)
        }
        1 => {
            let mut l = lines_of(text);
            let i = rng.below(l.len());
            l.insert(i, l[i].clone());
            *text = join_lines(&l);
            format!("duplicate line {}", i + 1)
        }
        2 | 3 => {
            let spans = numeric_spans(text);
            if spans.is_empty() {
                return mutate(text, rng);
            }
            let (a, b) = *rng.pick(&spans);
            let old = String::from_utf8_lossy(&text[a..b]).into_owned();
            let new = *rng.pick(NUMBERS);
            text.splice(a..b, new.bytes());
            format!("number {old} at byte {a} -> {new:?}")
        }
        4 => {
            let i = rng
                .below(text.len().max(1))
                .min(text.len().saturating_sub(1));
            let old = text[i];
            let new = if rng.chance(10) {
                0x80 | rng.below(128) as u8
            } else {
                *rng.pick(CHARS)
            };
            text[i] = new;
            format!("byte {i} {:?} -> {:?}", old as char, new as char)
        }
        5 => {
            let at = rng.below(text.len() + 1);
            text.truncate(at);
            format!("cut at byte {at}")
        }
        6 => {
            let mut l = lines_of(text);
            let (i, j) = (rng.below(l.len()), rng.below(l.len()));
            l.swap(i, j);
            *text = join_lines(&l);
            format!("swap lines {} and {}", i + 1, j + 1)
        }
        _ => {
            let mut l = lines_of(text);
            let i = rng.below(l.len() + 1);
            let line = *rng.pick(LINES);
            l.insert(i, line.as_bytes().to_vec());
            *text = join_lines(&l);
            format!("insert {line:?} at line {}", i + 1)
        }
    }
}

/// One `vstyle check` run to make.
struct Case {
    name: String,
    category: String,
    /// The job file's bytes (written to `job.toml` in its own folder).
    job: Vec<u8>,
    sets: Vec<String>,
}

fn file_cases(out: &Path, rng: &mut Rng) -> (Vec<Case>, Vec<Case>) {
    let mut bases = Vec::new();
    let mut cases = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(common::repo().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for path in names {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let base = localise(&std::fs::read_to_string(&path).unwrap(), out);
        bases.push(Case {
            name: format!("{stem} as shipped"),
            category: "shipped".into(),
            job: base.clone().into_bytes(),
            sets: vec![],
        });
        for m in 0..MUTATIONS_PER_FILE {
            let mut text = base.clone().into_bytes();
            let ops = 1 + rng.below(3);
            let what: Vec<String> = (0..ops).map(|_| mutate(&mut text, rng)).collect();
            cases.push(Case {
                name: format!("{stem}#{m}: {}", what.join("; ")),
                category: format!("{stem}.toml mutated"),
                job: text,
                sets: vec![],
            });
        }
    }
    (bases, cases)
}

/// Every key of the schema (and some that are not), with a value of a
/// random type.
fn override_cases(out: &Path, rng: &mut Rng, base: &[u8]) -> Vec<Case> {
    let keys = [
        "input.path",
        "input.start",
        "input.end",
        "input.step",
        "input.max_frames",
        "input.size",
        "output.path",
        "output.frames",
        "output.work_dir",
        "output.report",
        "output.codec",
        "output.crf",
        "output.audio",
        "style.images",
        "style.blend_weights",
        "style.scale",
        "style.original_colors",
        "model.name",
        "model.weights",
        "model.pooling",
        "model.content_layers",
        "model.style_layers",
        "loss.content_weight",
        "loss.style_weight",
        "loss.tv_weight",
        "loss.temporal_weight",
        "loss.long_term",
        "optimizer.first_frame_iterations",
        "optimizer.frame_iterations",
        "optimizer.max_evaluations",
        "optimizer.history_size",
        "optimizer.line_search",
        "optimizer.tolerance_grad",
        "optimizer.tolerance_change",
        "optimizer.stop_tolerance",
        "optimizer.stop_window",
        "run.device",
        "run.seed",
        "run.init",
        "run.frame_init",
        "run.print_every",
        // Not in the schema, or not a value.
        "input",
        "input.size.x",
        "input.path.x",
        "loss.bogus",
        "a..b",
        "input.",
        ".size",
        "",
    ];
    let q = |p: &Path| format!("\"{}\"", p.display());
    let paths = [
        q(&common::data("carphone.mp4")),
        q(&common::data("bigbuckbunny_2s.mp4")),
        q(&common::data("starry_night.jpg")),
        q(&common::data("")),
        q(Path::new("/dev/null")),
        q(Path::new("/")),
        q(&out.join("absent.mp4")),
        q(&out.join("f_%070000d.png")),
        q(&out.join("f_%05d.png")),
        q(&common::default_weights("vgg16")),
        q(&common::default_weights("squeezenet1_1")),
        q(&common::repo().join("configs/demo.toml")),
        "\"\"".into(),
    ];
    let others: Vec<String> = [
        "0",
        "1",
        "2",
        "17",
        "255",
        "256",
        "-1",
        "65536",
        "4000000000",
        "9223372036854775807",
        "18446744073709551616",
        "0.5",
        "-0.0",
        "1e308",
        "-1e308",
        "nan",
        "inf",
        "-inf",
        "1e-300",
        "true",
        "false",
        "\"\"",
        "\"x\"",
        "abc",
        "\"cuda:7\"",
        "\"cpu\"",
        "\"content\"",
        "\"noise\"",
        "\"prev\"",
        "\"prev_warped\"",
        "\"vgg16\"",
        "\"squeezenet\"",
        "\"avg\"",
        "\"none\"",
        "\"libx265\"",
        "\"f_%s.png\"",
        "[]",
        "[0]",
        "[2, 4]",
        "[1e308, 1e308]",
        "[\"relu1_1\"]",
        "[\"relu9_9\"]",
        "[\"fire5\"]",
        "[[1]]",
        "[\"a\", 1]",
        "{}",
        "{ a = 1 }",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    (0..OVERRIDE_RUNS)
        .map(|n| {
            let count = 1 + rng.below(3);
            let sets: Vec<String> = (0..count)
                .map(|_| {
                    let key = *rng.pick(&keys);
                    if rng.chance(3) {
                        return key.to_string(); // no `=`
                    }
                    let value = if rng.chance(25) {
                        rng.pick(&paths).clone()
                    } else {
                        rng.pick(&others).clone()
                    };
                    format!("{key}={value}")
                })
                .collect();
            Case {
                name: format!("--set #{n}: {}", sets.join(" ")),
                category: "--set overrides".into(),
                job: base.to_vec(),
                sets,
            }
        })
        .collect()
}

struct Checked {
    code: Option<i32>,
    seconds: f64,
    problems: Vec<String>,
    stderr: String,
}

fn run_case(dir: &Path, index: usize, case: &Case) -> Checked {
    let folder = dir.join(format!("c{index:03}"));
    std::fs::create_dir_all(&folder).unwrap();
    let job = folder.join("job.toml");
    std::fs::write(&job, &case.job).unwrap();
    let mut cmd = vstyle();
    cmd.arg("check").arg(&job);
    for s in &case.sets {
        cmd.arg("--set").arg(s);
    }
    let o = run_with_deadline(cmd, DEADLINE);
    let mut problems = contract_violations(&o);
    if o.code == Some(0) && !o.stdout.contains(": ok (") {
        problems.push(format!("exit 0 without `ok`: {}", excerpt(&o.stdout)));
    }
    Checked {
        code: o.code,
        seconds: o.seconds,
        problems,
        stderr: o.stderr,
    }
}

#[test]
fn mutated_job_files_and_overrides_are_checked_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut rng = Rng::new(SEED);
    let (bases, mut cases) = file_cases(&out, &mut rng);
    let preview = bases
        .iter()
        .find(|b| b.name.starts_with("preview"))
        .unwrap()
        .job
        .clone();
    cases.extend(override_cases(&out, &mut rng, &preview));
    let all: Vec<&Case> = bases.iter().chain(&cases).collect();
    assert!(cases.len() >= 200, "{} mutations", cases.len());

    let started = Instant::now();
    let results = parallel_map(&all, THREADS, |i, c| run_case(dir.path(), i, c));
    let wall = started.elapsed().as_secs_f64();

    let mut failures = Vec::new();
    let mut table: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (i, (c, r)) in all.iter().zip(&results).enumerate() {
        let code = r.code.map_or("signal".into(), |c| format!("exit {c}"));
        *table
            .entry(c.category.as_str())
            .or_default()
            .entry(code.clone())
            .or_default() += 1;
        if c.category == "shipped" && r.code != Some(0) {
            failures.push(format!(
                "{}: the unmutated config fails, so its mutations test nothing: {}",
                c.name,
                excerpt(&r.stderr)
            ));
        }
        if !r.problems.is_empty() {
            failures.push(format!(
                "c{i:03} {} ({code}, {:.1} s): {}\n    stderr: {}\n    job.toml:\n{}",
                c.name,
                r.seconds,
                r.problems.join("; "),
                excerpt(&r.stderr).replace('\n', "\n            "),
                String::from_utf8_lossy(&c.job)
                    .lines()
                    .map(|l| format!("      | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
    }
    let slowest = results.iter().map(|r| r.seconds).fold(0.0, f64::max);
    eprintln!(
        "mutated configs: {} checks ({} mutations, seed {SEED:#x}) in {wall:.0} s on {THREADS} threads, slowest {slowest:.1} s",
        all.len(),
        cases.len()
    );
    for (category, codes) in &table {
        let counts: Vec<String> = codes.iter().map(|(c, n)| format!("{c}: {n}")).collect();
        eprintln!("  {category:<24} {}", counts.join(", "));
    }
    eprintln!("  checks breaking the contract: {}", failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} checks broke the contract:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

#[test]
fn numbers_are_found_and_names_left_alone() {
    let t = b"size = 128\nstyle_layers = [\"relu4_2\"]\ndevice = \"cuda:1\"\nx = -1e-3\ny=[2, 4]";
    let found: Vec<String> = numeric_spans(t)
        .iter()
        .map(|&(a, b)| String::from_utf8_lossy(&t[a..b]).into_owned())
        .collect();
    assert_eq!(found, ["128", "1", "1e-3", "2", "4"]);
}
