//! The contact sheet: one cell per combination of settings, each showing
//! the chosen runs of frames (a row each), labelled with its values; and a
//! JSON description of the grid beside it.
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;

use image::{Rgb, RgbImage};
use serde::Serialize;

use crate::charts::{draw_labels, text_size, Label};
use crate::error::Result;
use crate::files::write_atomic;
use crate::video::write_image_atomic;

const PAD: u32 = 10;
/// Between the frames of a run, and between runs.
const GAP: u32 = 2;
const RUN_GAP: u32 = 6;
const FONT: f64 = 13.0;
const LINE: u32 = 20;

/// A finished cell: its place, settings and frames (`runs[k][i]`).
pub struct Cell {
    pub row: usize,
    pub col: usize,
    pub settings: Vec<(String, String)>,
    pub runs: Vec<Vec<RgbImage>>,
    pub seconds: f64,
}

impl Cell {
    /// `style_weight=50, temporal_weight=0` (last part of each key).
    pub fn label(&self) -> String {
        let short = |k: &str| k.rsplit('.').next().unwrap_or(k).to_string();
        let parts: Vec<String> = self
            .settings
            .iter()
            .map(|(k, v)| format!("{}={v}", short(k)))
            .collect();
        match parts.is_empty() {
            true => "job settings".into(),
            false => parts.join(", "),
        }
    }
}

/// What the sheet shows and where, for readers and tests.
#[derive(Debug, Serialize)]
pub struct SheetInfo {
    pub image: String,
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub rows: usize,
    pub columns: usize,
    pub row_key: Option<String>,
    pub column_key: Option<String>,
    /// The frames of each run (first, last), 0-based positions in the job's frames.
    pub runs: Vec<(usize, usize)>,
    pub strip: usize,
    pub frame_size: (u32, u32),
    pub cells: Vec<CellInfo>,
    pub seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct CellInfo {
    pub row: usize,
    pub col: usize,
    pub label: String,
    pub settings: BTreeMap<String, String>,
    /// The cell's frames (below its label), in sheet pixels.
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
}

/// Pixel geometry of a sheet.
struct Geometry {
    frame: (u32, u32),
    strip: u32,
    runs: u32,
    cell_w: u32,
    left: u32,
    top: u32,
}

impl Geometry {
    /// The geometry of `cells`, with the runs' labels `run_text` at the left.
    fn new(cells: &[Cell], run_text: &[String]) -> Self {
        let frame = cells[0].runs[0][0].dimensions();
        let strip = cells[0].runs[0].len() as u32;
        let widest =
            |t: &mut dyn Iterator<Item = &str>| t.map(|s| text_size(s, FONT).0).max().unwrap_or(0);
        let names: Vec<String> = cells.iter().map(Cell::label).collect();
        let mut l = Self {
            frame,
            strip,
            runs: run_text.len() as u32,
            cell_w: 0,
            left: PAD + widest(&mut run_text.iter().map(String::as_str)) + PAD,
            top: LINE + 2 * PAD,
        };
        l.cell_w = l
            .frames_w()
            .max(widest(&mut names.iter().map(String::as_str)) + 4);
        l
    }

    /// The width of a cell's strip of frames.
    fn frames_w(&self) -> u32 {
        self.strip * self.frame.0 + (self.strip - 1) * GAP
    }

    /// A white sheet for `rows` x `cols` cells, wide enough for `title`.
    fn canvas(&self, title: &str, rows: usize, cols: usize) -> RgbImage {
        let width = self.left + cols as u32 * (self.cell_w + PAD);
        let height = self.top + rows as u32 * (self.cell_h() + PAD);
        let width = width.max(text_size(title, FONT).0 + 2 * PAD);
        RgbImage::from_pixel(width, height, Rgb([255; 3]))
    }

    /// Each row's run labels, beside the middle of their frames.
    fn run_labels<'t>(&self, run_text: &'t [String], rows: usize) -> Vec<Label<'t>> {
        let mut labels = Vec::new();
        for row in 0..rows {
            for (k, text) in run_text.iter().enumerate() {
                let (_, y) = self.frame_origin(row, 0, k, 0);
                labels.push(label(text, (PAD, y + self.frame.1 / 2 - 7)));
            }
        }
        labels
    }

    /// Where `cell`, labelled `label`, stands on the sheet.
    fn info(&self, cell: &Cell, label: String) -> CellInfo {
        let (x, y) = self.cell_origin(cell.row, cell.col);
        CellInfo {
            row: cell.row,
            col: cell.col,
            label,
            settings: cell.settings.iter().cloned().collect(),
            x,
            y: y + LINE,
            width: self.frames_w(),
            height: self.cell_h() - LINE,
            seconds: cell.seconds,
        }
    }

    fn cell_h(&self) -> u32 {
        LINE + self.runs * self.frame.1 + (self.runs - 1) * RUN_GAP
    }

    fn cell_origin(&self, row: usize, col: usize) -> (u32, u32) {
        let x = self.left + col as u32 * (self.cell_w + PAD);
        (x, self.top + row as u32 * (self.cell_h() + PAD))
    }

    fn frame_origin(&self, row: usize, col: usize, run: usize, i: usize) -> (u32, u32) {
        let (x, y) = self.cell_origin(row, col);
        let fx = x + i as u32 * (self.frame.0 + GAP);
        (fx, y + LINE + run as u32 * (self.frame.1 + RUN_GAP))
    }
}

/// Draws the sheet for `cells` (rows x cols, every cell with the same runs).
pub fn compose(
    title: &str,
    cells: &[Cell],
    runs: &[(usize, usize)],
    rows: usize,
    cols: usize,
) -> Result<(RgbImage, Vec<CellInfo>)> {
    let run_text: Vec<String> = runs
        .iter()
        .map(|(a, b)| format!("frames {a}-{b}"))
        .collect();
    let l = Geometry::new(cells, &run_text);
    let mut img = l.canvas(title, rows, cols);
    let names: Vec<String> = cells.iter().map(Cell::label).collect();
    let mut labels = vec![label(title, (PAD, PAD))];
    for (cell, name) in cells.iter().zip(&names) {
        paste_frames(&mut img, &l, cell);
        let (x, y) = l.cell_origin(cell.row, cell.col);
        labels.push(label(name, (x, y + 2)));
    }
    labels.extend(l.run_labels(&run_text, rows));
    draw_labels(&mut img, &labels)?;
    let infos = cells.iter().zip(names).map(|(c, n)| l.info(c, n)).collect();
    Ok((img, infos))
}

fn label(text: &str, (x, y): (u32, u32)) -> Label<'_> {
    Label {
        text,
        at: (x as i32, y as i32),
        size: FONT,
    }
}

fn paste_frames(img: &mut RgbImage, l: &Geometry, cell: &Cell) {
    for (k, run) in cell.runs.iter().enumerate() {
        for (i, f) in run.iter().enumerate().take(l.strip as usize) {
            let (x, y) = l.frame_origin(cell.row, cell.col, k, i);
            image::imageops::replace(img, f, x as i64, y as i64);
        }
    }
}

/// Writes the sheet as PNG and its description as JSON (same stem).
pub fn write(path: &Path, img: &RgbImage, info: &SheetInfo) -> Result<()> {
    write_image_atomic(path, img)?;
    write_atomic(&path.with_extension("json"), |w| {
        serde_json::to_writer_pretty(&mut *w, info).map_err(|e| e.to_string())?;
        w.write_all(b"\n").map_err(|e| e.to_string())
    })
}
