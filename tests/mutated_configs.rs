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

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::fault::{excerpt, parallel_map, run_with_deadline, Checked, Rng};
use common::run::command;

const SEED: u64 = 0x5EED_0007_0204;
const MUTATIONS_PER_FILE: usize = 15;
const OVERRIDE_COMBOS: usize = 15;
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
        // A cut earlier in the same case can leave nothing to change a byte of.
        4 if text.is_empty() => mutate(text, rng),
        4 => {
            let i = rng.below(text.len());
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

/// `--set` runs: every key of the schema (and some that are not) alone with
/// each of its edge values (out of range, huge, negative, NaN, of the wrong
/// type, a pattern too wide to format), some with a value of a random type; then
/// random pairs and triples of those.
fn override_cases(out: &Path, rng: &mut Rng, base: &[u8]) -> Vec<Case> {
    let q = |p: &Path| format!("\"{}\"", p.display());
    let int = ["-1", "18446744073709551616"];
    let float = ["-1", "nan"];
    let path = [
        q(&common::data("starry_night.jpg")),
        q(&common::data("bigbuckbunny_2s.mp4")),
        q(&common::repo().join("tests/data")),
        q(Path::new("/dev/null")),
        q(&out.join("absent/x.mp4")),
        q(&common::repo().join("configs/demo.toml")),
        "3".into(),
    ];
    // Outputs stay in the temporary folder (check makes and deletes a
    // temporary file beside each to see that it can write there).
    std::fs::write(out.join("a_file"), "x").unwrap();
    // An image the input patterns below could name (f_%070000d.png made the
    // pattern reader panic as it compared this name with the pattern).
    std::fs::copy(common::data("carphone_040.png"), out.join("f_1.png")).unwrap();
    let outputs = vec![
        q(&out.join("x.mp4")),
        q(&out.join("absent/deeper/x.mp4")),
        q(out),
        q(&out.join("a_file/x.mp4")),
        q(&out.join("x.txt")),
        q(Path::new("/dev/null")),
        "\"\"".into(),
    ];
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let ints = |extra: &[&str]| [s(&int), s(extra)].concat();
    let floats = |extra: &[&str]| [s(&float), s(extra)].concat();
    let table: Vec<(&str, Vec<String>)> = vec![
        (
            "input.path",
            [
                path.to_vec(),
                vec![q(&out.join("f_%070000d.png")), q(&out.join("f_%05d.png"))],
            ]
            .concat(),
        ),
        ("input.start", ints(&["4000000000"])),
        ("input.end", ints(&["0"])),
        ("input.step", ints(&["0", "10001", "4000000000"])),
        ("input.max_frames", ints(&["0"])),
        ("input.size", ints(&["15", "17", "4097", "\"64\"", "64.0"])),
        (
            "input.fps",
            floats(&["0", "1e300", "inf", "\"25\"", "0.001"]),
        ),
        ("output.path", outputs.clone()),
        (
            "output.frames",
            [
                [
                    "f_%070000d.png",
                    "f_%021d.png",
                    "f_%s.png",
                    "f_%d_%d.png",
                    "%",
                    "f_%05d.bmp",
                ]
                .iter()
                .map(|f| q(&out.join(f)))
                .collect(),
                s(&["\"\""]),
            ]
            .concat(),
        ),
        ("output.work_dir", outputs.clone()),
        ("output.report", outputs.clone()),
        (
            "output.codec",
            s(&["\"\"", "\"libx265\"", "\"nonexistent\"", "\"aac\"", "[1]"]),
        ),
        (
            "output.pix_fmt",
            s(&["\"\"", "\"yuv422p10le\"", "\"none\"", "\"rgb24\"", "[1]"]),
        ),
        ("output.crf", ints(&["52", "256"])),
        ("output.audio", s(&["1", "\"true\"", "yes"])),
        (
            "style.images",
            [
                s(&["[]", "[1]", "\"a.jpg\""]),
                vec![
                    format!("[{}]", q(&common::data("carphone.mp4"))),
                    format!("[{}]", q(&out.join("absent.jpg"))),
                    format!("[{}, {}]", path[0], path[0]),
                ],
            ]
            .concat(),
        ),
        (
            "style.blend_weights",
            s(&["[]", "[0]", "[-1]", "[nan]", "[1e308]", "[1, 1]", "1"]),
        ),
        ("style.scale", floats(&["0", "8.01", "inf"])),
        ("style.original_colors", s(&["1", "\"no\""])),
        (
            "model.name",
            s(&[
                "\"resnet\"",
                "\"\"",
                "\"VGG19\"",
                "\"vgg16\"",
                "\"squeezenet\"",
            ]),
        ),
        ("model.weights", path.to_vec()),
        ("model.pooling", s(&["\"min\"", "\"avg\"", "0"])),
        (
            "model.content_layers",
            s(&[
                "[]",
                "[\"relu9_9\"]",
                "[\"fire5\"]",
                "[\"pool5\"]",
                "\"relu4_2\"",
            ]),
        ),
        (
            "model.style_layers",
            s(&["[]", "[\"\"]", "[\"conv1\"]", "[\"relu5_1\", \"relu5_1\"]"]),
        ),
        ("loss.content_weight", floats(&[])),
        ("loss.style_weight", floats(&["1e308", "\"x\""])),
        ("loss.tv_weight", floats(&[])),
        ("loss.temporal_weight", floats(&[])),
        ("loss.range_weight", floats(&[])),
        (
            "loss.long_term",
            s(&[
                "[0]",
                "[1]",
                "[101]",
                "[-2]",
                "[2, 3, 4, 5, 6, 7, 8, 9, 10]",
                "[18446744073709551616]",
                "2",
            ]),
        ),
        ("optimizer.first_frame_iterations", ints(&["0", "100001"])),
        (
            "optimizer.frame_iterations",
            ints(&["0", "9223372036854775807", "1.5"]),
        ),
        ("optimizer.max_evaluations", ints(&["0", "1000001"])),
        ("optimizer.history_size", ints(&["0", "1001"])),
        (
            "optimizer.line_search",
            s(&["\"armijo\"", "\"\"", "\"None\""]),
        ),
        ("optimizer.tolerance_grad", floats(&[])),
        ("optimizer.tolerance_change", floats(&[])),
        ("optimizer.stop_tolerance", floats(&[])),
        ("optimizer.stop_window", ints(&["0", "10001"])),
        ("optimizer.carry_pairs", s(&["1", "\"yes\"", "[true]"])),
        ("optimizer.min_size", ints(&["15", "4097"])),
        ("optimizer.scale_iterations", ints(&["0", "100001"])),
        ("optimizer.new_pixel_iterations", ints(&["100001"])),
        (
            "run.device",
            s(&[
                "\"cuda:7\"",
                "\"cuda:-1\"",
                "\"cuda:99999999999999999999\"",
                "\"tpu\"",
                "\"\"",
                "0",
            ]),
        ),
        (
            "run.seed",
            s(&["-1", "9223372036854775807", "18446744073709551616"]),
        ),
        (
            "run.init",
            s(&["\"prev\"", "\"prev_warped\"", "\"random\""]),
        ),
        ("run.frame_init", s(&["\"random\"", "\"noise\"", "1"])),
        ("run.print_every", ints(&["0"])),
        // Not in the schema, or not a value.
        ("input", s(&["1", "{}"])),
        ("input.size.x", s(&["1"])),
        ("input.path.x", s(&["1"])),
        ("loss.bogus", s(&["1"])),
        ("a..b", s(&["1"])),
        (".size", s(&["1"])),
        ("", s(&["1"])),
    ];
    // Values of any type, for some keys on top of their own.
    let any = [
        "0",
        "-0.0",
        "true",
        "\"\"",
        "abc",
        "[]",
        "[[1]]",
        "[\"a\", 1]",
        "{ a = 1 }",
        "",
    ];
    let mut singles = Vec::new();
    for (key, values) in &table {
        for v in values {
            singles.push(format!("{key}={v}"));
        }
        if rng.chance(30) {
            singles.push(format!("{key}={}", rng.pick(&any)));
        }
    }
    singles.push("input.size".into()); // no `=`
    let mut sets: Vec<Vec<String>> = singles.iter().map(|x| vec![x.clone()]).collect();
    for _ in 0..OVERRIDE_COMBOS {
        let n = 2 + rng.below(2);
        sets.push((0..n).map(|_| rng.pick(&singles).clone()).collect());
    }
    sets.into_iter()
        .enumerate()
        .map(|(n, sets)| Case {
            name: format!("--set #{n}: {}", sets.join(" ")),
            category: if sets.len() == 1 {
                "--set, one key".into()
            } else {
                "--set, 2-3 keys".into()
            },
            job: base.to_vec(),
            sets,
        })
        .collect()
}

fn run_case(dir: &Path, index: usize, case: &Case) -> Checked {
    let folder = dir.join(format!("c{index:03}"));
    std::fs::create_dir_all(&folder).unwrap();
    let job = folder.join("job.toml");
    std::fs::write(&job, &case.job).unwrap();
    let mut cmd = command();
    cmd.arg("check").arg(&job);
    for s in &case.sets {
        cmd.arg("--set").arg(s);
    }
    let o = run_with_deadline(cmd, DEADLINE);
    let mut extra = Vec::new();
    if o.code == Some(0) && !o.stdout.contains(": ok (") {
        extra.push(format!("exit 0 without `ok`: {}", excerpt(&o.stdout)));
    }
    Checked::of(o, extra)
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
    common::fault::summarise("checks", &table, &failures, all.len());
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
