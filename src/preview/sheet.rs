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
struct Layout {
    frame: (u32, u32),
    strip: u32,
    runs: u32,
    cell_w: u32,
    left: u32,
    top: u32,
}

impl Layout {
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
    let first = &cells[0].runs[0][0];
    let frame = first.dimensions();
    let strip = cells[0].runs[0].len() as u32;
    let run_text: Vec<String> = runs
        .iter()
        .map(|(a, b)| format!("frames {a}-{b}"))
        .collect();
    let widest =
        |t: &mut dyn Iterator<Item = String>| t.map(|s| text_size(&s, FONT).0).max().unwrap_or(0);
    let frames_w = strip * frame.0 + (strip - 1) * GAP;
    let l = Layout {
        frame,
        strip,
        runs: runs.len() as u32,
        cell_w: frames_w.max(widest(&mut cells.iter().map(Cell::label)) + 4),
        left: PAD + widest(&mut run_text.iter().cloned()) + PAD,
        top: LINE + 2 * PAD,
    };
    let width = (l.left + cols as u32 * (l.cell_w + PAD)).max(text_size(title, FONT).0 + 2 * PAD);
    let mut img = RgbImage::from_pixel(
        width,
        l.top + rows as u32 * (l.cell_h() + PAD),
        Rgb([255; 3]),
    );
    let mut labels = vec![Label {
        text: title,
        at: (PAD as i32, PAD as i32),
        size: FONT,
    }];
    let mut infos = Vec::new();
    let names: Vec<String> = cells.iter().map(Cell::label).collect();
    for (cell, name) in cells.iter().zip(&names) {
        paste_frames(&mut img, &l, cell);
        let (x, y) = l.cell_origin(cell.row, cell.col);
        labels.push(Label {
            text: name,
            at: (x as i32, y as i32 + 2),
            size: FONT,
        });
        infos.push(CellInfo {
            row: cell.row,
            col: cell.col,
            label: name.clone(),
            settings: cell.settings.iter().cloned().collect(),
            x,
            y: y + LINE,
            width: frames_w,
            height: l.cell_h() - LINE,
            seconds: cell.seconds,
        });
    }
    for row in 0..rows {
        for (k, text) in run_text.iter().enumerate() {
            let (_, y) = l.frame_origin(row, 0, k, 0);
            let at = (PAD as i32, (y + l.frame.1 / 2) as i32 - 7);
            labels.push(Label {
                text,
                at,
                size: FONT,
            });
        }
    }
    draw_labels(&mut img, &labels)?;
    Ok((img, infos))
}

fn paste_frames(img: &mut RgbImage, l: &Layout, cell: &Cell) {
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
