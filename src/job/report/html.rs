//! The HTML report beside a job's JSON report: `<stem>.html` and its
//! pictures in `<stem>_files/`. One page, no scripts or styles from
//! elsewhere, readable offline and from a copied folder.
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::files::write_atomic;

use super::pictures::{charts, thumbnails, Chart, Thumbs};
use super::JobReport;

/// `<stem>.html` for the JSON report `<stem>.json`.
pub fn html_path(json: &Path) -> PathBuf {
    json.with_extension("html")
}

/// The folder of the report's pictures: `<stem>_files`.
pub fn files_dir(json: &Path) -> PathBuf {
    let stem = json.file_stem().unwrap_or_default().to_string_lossy();
    json.with_file_name(format!("{stem}_files"))
}

/// Text made safe inside HTML elements and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A URL for `target` from a page in `from_dir`: relative when the target
/// is under that folder (so a copied folder keeps working), else `file://`.
pub fn link(from_dir: &Path, target: &Path) -> String {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (dir, target) = (abs(from_dir), abs(target));
    match target.strip_prefix(&dir) {
        Ok(rel) => url_path(&rel.to_string_lossy()),
        Err(_) => format!("file://{}", url_path(&target.to_string_lossy())),
    }
}

/// Percent-encodes all but unreserved characters and `/`.
fn url_path(path: &str) -> String {
    let mut out = String::new();
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Writes the page and its pictures beside the JSON report `json`; returns
/// the page's path.
pub fn write(report: &JobReport, json: &Path) -> Result<PathBuf> {
    let dir = files_dir(json);
    std::fs::create_dir_all(&dir).map_err(|e| crate::files::write_error(&dir, e))?;
    let thumbs = thumbnails(report, &dir)?;
    let charts = charts(report, &dir)?;
    let page = Page {
        report,
        json,
        files: dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned(),
    };
    let html = page.render(&thumbs, &charts);
    let path = html_path(json);
    write_atomic(&path, |w| {
        w.write_all(html.as_bytes()).map_err(|e| e.to_string())
    })?;
    Ok(path)
}

/// Marks pictures that did not load (e.g. the `_files` folder was not
/// copied along) on the page and in `data-` attributes a test can read.
pub const IMAGE_CHECK: &str = r#"<script>
window.addEventListener('load', function () {
  var imgs = document.images, missing = 0;
  for (var i = 0; i < imgs.length; i++) {
    var ok = imgs[i].complete && imgs[i].naturalWidth > 0;
    imgs[i].setAttribute('data-loaded', ok ? 'yes' : 'no');
    if (!ok) {
      missing++;
      var note = document.createElement('div');
      note.className = 'missing';
      note.textContent = 'image missing: ' + imgs[i].getAttribute('src');
      imgs[i].insertAdjacentElement('afterend', note);
    }
  }
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-images-missing', missing);
});
</script>"#;

/// The page's look, inline so the file stands alone.
pub const STYLE: &str = "<style>
body { font-family: 'DejaVu Sans', Arial, sans-serif; margin: 24px auto; max-width: 1100px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; text-align: left; vertical-align: top; }
tr:nth-child(even) { background: #f6f6f6; }
img.thumb { width: 320px; image-rendering: auto; border: 1px solid #ccc; }
img.chart { max-width: 100%; display: block; margin: 8px 0; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
.missing { color: #b00; font-weight: bold; } .warn { color: #a60; }
</style>";

struct Page<'a> {
    report: &'a JobReport,
    json: &'a Path,
    /// The files folder's name, relative to the page.
    files: String,
}

impl Page<'_> {
    fn render(&self, thumbs: &Thumbs, charts: &[Chart]) -> String {
        let r = self.report;
        let name = r.output.as_deref().unwrap_or(&r.input);
        let title = format!("vstyle report: {}", name.display());
        let mut h = String::new();
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>{}</title>\n{STYLE}\n{IMAGE_CHECK}\n</head><body>\n<h1>{}</h1>\n",
            escape(&title),
            escape(&title)
        );
        h += &self.summary();
        h += &self.frames(thumbs);
        h += &self.plots(charts);
        h += &self.source();
        h += &self.warnings();
        h += &self.machine();
        h += &self.settings();
        h += "</body></html>\n";
        h
    }

    fn img(&self, file: &str, class: &str, alt: &str) -> String {
        format!(
            "<img class=\"{class}\" src=\"{}/{}\" alt=\"{}\">",
            url_path(&self.files),
            url_path(file),
            escape(alt)
        )
    }

    fn summary(&self) -> String {
        let r = self.report;
        let t = &r.totals;
        let dir = self.json.parent().unwrap_or(Path::new(""));
        let mut rows = vec![
            ("input", escape(&r.input.display().to_string())),
            (
                "frames",
                format!("{} ({} resumed)", t.frames, t.resumed_frames),
            ),
            ("size", format!("{}x{}", r.width, r.height)),
            ("device", escape(&r.device)),
            (
                "iterations",
                format!("{} ({} evaluations)", t.iterations, t.evaluations),
            ),
            (
                "wall time",
                format!(
                    "{:.1} s ({:.2} frames/min)",
                    t.wall_seconds, t.frames_per_minute
                ),
            ),
            (
                "optimiser / flow",
                format!("{:.1} s / {:.1} s", t.optimise_seconds, t.flow_seconds),
            ),
        ];
        if !r.passes.is_empty() || !r.seams.is_empty() {
            rows.push((
                "later passes / seams",
                format!("{} / {}", r.passes.len(), r.seams.len()),
            ));
        }
        let href = |p: &Path| {
            format!(
                "<a href=\"{}\">{}</a>",
                link(dir, p),
                escape(&p.display().to_string())
            )
        };
        if let Some(o) = &r.output {
            rows.push(("output", href(o)));
        }
        rows.push(("JSON report", href(self.json)));
        let mut h = format!(
            "<p id=\"summary\"><span id=\"frame-count\">{} frames</span> at {}x{} on {} in {:.1} s.</p>\n<table>\n",
            t.frames, r.width, r.height, escape(&r.device), t.wall_seconds
        );
        for (k, v) in rows {
            let _ = writeln!(h, "<tr><th>{k}</th><td>{v}</td></tr>");
        }
        h + "</table>\n"
    }

    fn frames(&self, thumbs: &Thumbs) -> String {
        let mut h = String::from("<h2>Frames</h2>\n<table id=\"frames\">\n<tr><th></th><th>input</th><th>output</th></tr>\n");
        for t in &thumbs.rows {
            let side = |file: &Option<String>, what: &str| match file {
                Some(f) => self.img(f, "thumb", &format!("{what}, frame {}", t.frame)),
                None => "<span class=\"warn\">none</span>".into(),
            };
            let _ = writeln!(
                h,
                "<tr><th>{} (frame {})</th><td>{}</td><td>{}</td></tr>",
                t.role,
                t.frame,
                side(&t.input, "input"),
                side(&t.output, "output")
            );
        }
        h += "</table>\n";
        for p in &thumbs.problems {
            let _ = writeln!(h, "<p class=\"warn\">{}</p>", escape(p));
        }
        h
    }

    fn plots(&self, charts: &[Chart]) -> String {
        let mut h = String::from("<h2>Per frame</h2>\n");
        for c in charts {
            h += &self.img(&c.file, "chart", &c.title);
            h.push('\n');
        }
        match &self.report.eval {
            Some(e) => {
                let _ = writeln!(
                    h,
                    "<p>Warping error {:.6} (mean over {} frame pairs, {:.1}% of pixels reliable), measured against {}.</p>",
                    e.mean,
                    e.per_frame.len(),
                    100.0 * e.reliable_fraction,
                    escape(&e.input)
                );
            }
            None => h += "<p>Warping error not measured: run <code>vstyle eval --input CLIP --output VIDEO</code>, or the job with <code>--eval</code>.</p>\n",
        }
        h
    }

    /// How the input was read (turns, timing, colours, padding, audio).
    fn source(&self) -> String {
        let notes = &self.report.source;
        if notes.is_empty() {
            return String::new();
        }
        let mut h = String::from("<h2>Input</h2>\n<ul>\n");
        for line in notes {
            let _ = writeln!(h, "<li>{}</li>", escape(line));
        }
        h + "</ul>\n"
    }

    fn warnings(&self) -> String {
        let w = &self.report.warnings;
        let mut h = format!("<h2>Warnings ({})</h2>\n", w.len());
        if w.is_empty() {
            return h + "<p>None.</p>\n";
        }
        h += "<ul>\n";
        for line in w {
            let _ = writeln!(h, "<li class=\"warn\">{}</li>", escape(line));
        }
        h + "</ul>\n"
    }

    fn machine(&self) -> String {
        let m = &self.report.machine;
        let mut h = String::from("<h2>Machine</h2>\n<table>\n");
        for (k, v) in [
            ("host", m.host.clone()),
            ("CPU", m.cpu.clone()),
            ("cores", m.cores.to_string()),
            ("system", m.os.clone()),
            ("device", self.report.device.clone()),
            (
                "memory",
                self.report.memory.map_or(String::new(), |b| b.to_string()),
            ),
        ] {
            let _ = writeln!(h, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
        }
        h + "</table>\n"
    }

    fn settings(&self) -> String {
        let cfg = &self.report.config;
        let text = toml::to_string(cfg)
            .or_else(|_| serde_json::to_string_pretty(cfg))
            .unwrap_or_default();
        format!(
            "<h2>Settings</h2>\n<pre id=\"settings\">{}</pre>\n",
            escape(&text)
        )
    }
}

/// Writes the HTML report; failing to (a thumbnail that cannot be decoded)
/// costs the job nothing but becomes a warning in the JSON report.
pub fn write_or_warn(report: &mut JobReport, json: &Path) {
    if let Err(e) = write(report, json) {
        report
            .warnings
            .push(format!("no HTML report: {}", crate::error::chain(&e)));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::job::report::pictures::Thumb;

    #[test]
    fn paths_beside_the_json_report() {
        let json = Path::new("out/clip.mp4.report.json");
        assert_eq!(html_path(json), PathBuf::from("out/clip.mp4.report.html"));
        assert_eq!(files_dir(json), PathBuf::from("out/clip.mp4.report_files"));
    }

    pub(crate) fn report() -> JobReport {
        JobReport {
            input: "in/<clip>.mp4".into(),
            output: Some("out/a.mp4".into()),
            work_dir: "out/a.mp4.work".into(),
            shard: None,
            width: 64,
            height: 48,
            source: vec!["shown rotated 90 degrees clockwise <display matrix>".into()],
            device: "Cpu".into(),
            machine: crate::device::Machine::this(),
            frames: Vec::new(),
            passes: Vec::new(),
            seams: Vec::new(),
            totals: crate::job::report::Totals {
                frames: 7,
                ..Default::default()
            },
            warnings: vec!["frame 3: retried <from content>".into()],
            complete: None,
            eval: None,
            compared: Vec::new(),
            memory: None,
            config: Default::default(),
        }
    }

    #[test]
    fn the_page_stands_alone_and_shows_counts_and_warnings() {
        let r = report();
        let page = Page {
            report: &r,
            json: Path::new("out/a.mp4.report.json"),
            files: "a.mp4.report_files".into(),
        };
        let thumbs = Thumbs {
            rows: vec![Thumb {
                role: "first",
                frame: 0,
                input: Some("input_first.png".into()),
                output: None,
            }],
            problems: vec!["out/a.mp4: not found".into()],
        };
        let html = page.render(&thumbs, &[]);
        assert!(html.contains("<span id=\"frame-count\">7 frames</span>"));
        assert!(html.contains("src=\"a.mp4.report_files/input_first.png\""));
        assert!(html.contains("retried &lt;from content&gt;"));
        assert!(html.contains("<li>shown rotated 90 degrees clockwise &lt;display matrix&gt;</li>"));
        assert!(html.contains("in/&lt;clip&gt;.mp4"));
        assert!(html.contains("Warping error not measured"));
        assert!(html.contains("<p class=\"warn\">out/a.mp4: not found</p>"));
        // Nothing is fetched from elsewhere.
        assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<link"));
    }

    #[test]
    fn text_and_links_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(
            link(Path::new("/a/b"), Path::new("/a/b/c d/e.png")),
            "c%20d/e.png"
        );
        assert_eq!(
            link(Path::new("/a/b"), Path::new("/a/x.mp4")),
            "file:///a/x.mp4"
        );
    }
}
