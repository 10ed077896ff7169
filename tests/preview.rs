//! `vstyle preview` through the binary: the sheet's grid, labels and cells
//! are checked from its JSON description and its pixels.
mod common;

use std::path::Path;

use common::media::json;
use common::run::describe;
use common::{succeeds, vstyle, TinyJob};
use image::RgbImage;
use serde_json::Value;
use vstyle::imaging::mean_abs_diff;

fn job_file(dir: &Path) -> std::path::PathBuf {
    TinyJob::new("carphone.mp4", 6).iterations(5, 2).write(dir)
}

/// Standard deviation of the grey level in a rectangle.
fn spread(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> f64 {
    let v: Vec<f64> = (y..y + h)
        .flat_map(|yy| (x..x + w).map(move |xx| (xx, yy)))
        .map(|(xx, yy)| {
            img.get_pixel(xx, yy)
                .0
                .iter()
                .map(|&c| c as f64)
                .sum::<f64>()
                / 3.0
        })
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

fn dark_pixels(img: &RgbImage, x: u32, y: u32, w: u32, h: u32) -> usize {
    (y..y + h)
        .flat_map(|yy| (x..x + w).map(move |xx| (xx, yy)))
        .filter(|&(xx, yy)| img.get_pixel(xx, yy)[0] < 100)
        .count()
}

/// How far apart two `w` x `h` rectangles of `img` are, at corners `a` and `b`.
fn rect_diff(img: &RgbImage, a: (u32, u32), b: (u32, u32), w: u32, h: u32) -> f64 {
    let rect = |(x, y): (u32, u32)| image::imageops::crop_imm(img, x, y, w, h).to_image();
    mean_abs_diff(&rect(a), &rect(b))
}

#[test]
fn a_sheet_of_two_settings_has_their_grid_labels_and_frames() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path());
    let sheet = dir.path().join("sheet.png");
    let scream = common::data("the_scream.jpg").display().to_string();
    let styles = format!(
        "style.images={},{scream}",
        common::data("starry_night.jpg").display()
    );
    let o = vstyle(&[
        "preview",
        job.to_str().unwrap(),
        "--vary",
        "loss.style_weight=30,30000",
        "--vary",
        &styles,
        "--frames",
        "0,5",
        "--size",
        "48",
        "-o",
        sheet.to_str().unwrap(),
    ]);
    succeeds(&o);
    // The job's own output is not touched: cells run in a temporary directory.
    assert!(!dir.path().join("out.mp4").exists());
    let info = json(&dir.path().join("sheet.json"));
    assert_eq!(
        (info["rows"].as_u64(), info["columns"].as_u64()),
        (Some(2), Some(2)),
        "{info}"
    );
    assert_eq!(info["row_key"], "loss.style_weight");
    assert_eq!(info["column_key"], "style.images");
    // Temporal by default (prev_warped starts): runs of 3 consecutive frames.
    assert_eq!(info["strip"], 3);
    assert_eq!(info["runs"], serde_json::json!([[0, 2], [3, 5]]));
    let labels: Vec<&str> = info["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "style_weight=30, images=starry_night",
            "style_weight=30, images=the_scream",
            "style_weight=30000, images=starry_night",
            "style_weight=30000, images=the_scream",
        ]
    );
    let img = image::open(&sheet).unwrap().to_rgb8();
    assert_eq!(
        (img.width() as u64, img.height() as u64),
        (
            info["width"].as_u64().unwrap(),
            info["height"].as_u64().unwrap()
        )
    );
    let (fw, fh) = (
        info["frame_size"][0].as_u64().unwrap() as u32,
        info["frame_size"][1].as_u64().unwrap() as u32,
    );
    assert_eq!(fw.max(fh), 48);
    let cells = info["cells"].as_array().unwrap();
    let at = |c: &Value| {
        (
            c["x"].as_u64().unwrap() as u32,
            c["y"].as_u64().unwrap() as u32,
        )
    };
    for c in cells {
        let (x, y) = at(c);
        assert_eq!(c["width"].as_u64().unwrap() as u32, 3 * fw + 2 * 2);
        // Six pictures (2 runs x 3 frames), none blank.
        for run in 0..2 {
            for i in 0..3 {
                let (px, py) = (x + i * (fw + 2), y + run * (fh + 6));
                assert!(
                    spread(&img, px, py, fw, fh) > 10.0,
                    "{}: run {run} frame {i} is blank",
                    c["label"]
                );
            }
        }
        // Its label is drawn above it.
        assert!(
            dark_pixels(&img, x, y - 20, c["width"].as_u64().unwrap() as u32, 18) > 40,
            "{}: no label",
            c["label"]
        );
    }
    // The varied settings change the pictures: style weight down, style across.
    let (w, h) = (3 * fw, fh);
    assert!(rect_diff(&img, at(&cells[0]), at(&cells[2]), w, h) > 3.0);
    assert!(rect_diff(&img, at(&cells[0]), at(&cells[1]), w, h) > 3.0);
}

#[test]
fn bad_variations_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let job = job_file(dir.path());
    let j = job.to_str().unwrap();
    let cases: [(&[&str], &[&str]); 3] = [
        (
            &[
                "--vary",
                "loss.style_weight=1,2",
                "--vary",
                "loss.tv_weight=0,1",
                "--vary",
                "run.seed=1,2",
            ],
            &["--vary", "at most two"],
        ),
        (&["--vary", "loss.stlye_weight=1,2"], &["stlye_weight"]),
        (&["--frames", "0,9"], &["--frames", "6 frames"]),
    ];
    let sheet = dir.path().join("s.png");
    for (args, needles) in cases {
        let mut a = vec!["preview", j, "-o", sheet.to_str().unwrap()];
        a.extend_from_slice(args);
        let o = vstyle(&a);
        let err = common::stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", describe(&o));
        let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with('[')).collect();
        assert_eq!(lines.len(), 1, "{err}");
        for n in needles {
            assert!(lines[0].contains(n), "{args:?}: `{n}` not in {err}");
        }
    }
    assert!(!sheet.exists());
}
