//! The index page of a batch: one row per entry with its outcome, a frame
//! of its output and a link to its own HTML report.
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::config::JobConfig;
use crate::error::Result;
use crate::files::write_atomic;
use crate::job::report::html::{escape, files_dir, html_path, link, IMAGE_CHECK, STYLE};
use crate::job::{JobReport, Outputs};

use super::batch::{Entry, Outcome};

/// `<job stem>.index.html`, beside the first entry's report.
pub fn index_path(cfg: &JobConfig, entries: &[Entry]) -> Result<PathBuf> {
    let stem = Path::new(&cfg.source)
        .file_stem()
        .map_or("batch".into(), |s| s.to_string_lossy().into_owned());
    let dir = match entries.first() {
        Some(e) => Outputs::of(&e.cfg)?.report.parent().map(Path::to_path_buf),
        None => None,
    };
    Ok(dir.unwrap_or_default().join(format!("{stem}.index.html")))
}

/// Writes the index of `entries` (with `outcomes` of this run, by entry
/// name); returns its path.
pub fn write(
    cfg: &JobConfig,
    entries: &[Entry],
    outcomes: &[(String, Outcome)],
) -> Result<PathBuf> {
    let path = index_path(cfg, entries)?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let title = format!("vstyle batch: {}", cfg.source);
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>{t}</title>\n{STYLE}\n{IMAGE_CHECK}\n</head><body>\n<h1>{t}</h1>\n<p id=\"summary\">{n} entries</p>\n<table id=\"entries\">\n<tr><th>entry</th><th>state</th><th>frames</th><th>wall time</th><th>output</th></tr>\n",
        t = escape(&title),
        n = entries.len()
    );
    for e in entries {
        let outcome = outcomes.iter().find(|(n, _)| *n == e.name).map(|(_, o)| o);
        h += &row(&dir, e, outcome)?;
    }
    h += "</table>\n</body></html>\n";
    write_atomic(&path, |w| {
        w.write_all(h.as_bytes()).map_err(|e| e.to_string())
    })?;
    Ok(path)
}

fn state(outcome: Option<&Outcome>) -> String {
    match outcome {
        Some(Outcome::Done) => "done".into(),
        Some(Outcome::Skipped) => "done earlier".into(),
        Some(Outcome::Failed { error }) => {
            format!("<span class=\"warn\">failed: {}</span>", escape(error))
        }
        None => "not run".into(),
    }
}

/// An entry's row: its report's numbers and middle output frame, when it
/// has a report.
fn row(dir: &Path, e: &Entry, outcome: Option<&Outcome>) -> Result<String> {
    let json = Outputs::of(&e.cfg)?.report;
    let report = JobReport::read(&json).ok();
    let page = html_path(&json);
    let name = match page.exists() {
        true => format!("<a href=\"{}\">{}</a>", link(dir, &page), escape(&e.name)),
        false => escape(&e.name),
    };
    let (frames, wall) = report.as_ref().map_or((String::new(), String::new()), |r| {
        (
            r.totals.frames.to_string(),
            format!("{:.1} s", r.totals.wall_seconds),
        )
    });
    let files = files_dir(&json);
    let thumb = ["output_middle.png", "output_first.png"]
        .iter()
        .map(|f| files.join(f))
        .find(|p| p.exists())
        .map(|p| {
            format!(
                "<img class=\"thumb\" src=\"{}\" alt=\"{}\">",
                link(dir, &p),
                escape(&e.name)
            )
        })
        .unwrap_or_default();
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<tr><td>{name}</td><td>{}</td><td>{frames}</td><td>{wall}</td><td>{thumb}</td></tr>",
        state(outcome)
    );
    Ok(h)
}
