//! The HTML reports in a real browser: a small batch runs with --eval, then
//! headless Chromium (Debian's `chromium`, installed by
//! scripts/browser/install.sh) opens an entry's report and the batch index.
//! The pages' own check marks pictures that did not load; the test reads
//! those marks from the DOM, looks for the frame count and takes a
//! screenshot. Without Chromium the test fails; `VSTYLE_SKIP_BROWSER=1`
//! skips it instead, saying so.
mod common;

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{job, s, succeeds, vstyle, TinyJob};

fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// A Chromium run, its whole process group killed when dropped.
struct Browser {
    child: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium forks helpers (zygote, renderer, crashpad): end them all.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// Runs headless Chromium on `url` with `extra` flags; returns its stdout.
fn chromium(profile: &Path, url: &str, extra: &[&str]) -> String {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url)
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .process_group(0);
    let child = c.spawn().unwrap_or_else(|e| {
        panic!("cannot run chromium ({e}); run scripts/browser/install.sh, or set VSTYLE_SKIP_BROWSER=1 to skip this test")
    });
    let mut b = Browser { child };
    let mut out = b.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = b.child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed on {url}: {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chromium did not finish {url} in 90 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(b);
    reader.join().unwrap()
}

fn url(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// The value of `attr="..."` on the page's <body>.
fn body_attr(dom: &str, attr: &str) -> Option<String> {
    let body = &dom[dom.find("<body")?..];
    let body = &body[..body.find('>')?];
    let rest = &body[body.find(&format!("{attr}=\""))? + attr.len() + 2..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The DOM after load: every <img> counted and none missing.
fn assert_all_images_loaded(dom: &str, page: &Path, at_least: usize) {
    let total: usize = body_attr(dom, "data-images")
        .unwrap_or_else(|| panic!("{}: the image check did not run:\n{dom}", page.display()))
        .parse()
        .unwrap();
    assert!(total >= at_least, "{}: {total} images", page.display());
    assert_eq!(dom.matches("<img").count(), total);
    assert_eq!(
        body_attr(dom, "data-images-missing").as_deref(),
        Some("0"),
        "{}",
        page.display()
    );
    assert_eq!(dom.matches("data-loaded=\"yes\"").count(), total);
}

fn install_browser() {
    let out = Command::new("bash")
        .arg(common::repo().join("scripts/browser/install.sh"))
        .output()
        .expect("cannot run bash");
    assert!(
        out.status.success(),
        "cannot install Chromium (needs root and apt; set VSTYLE_SKIP_BROWSER=1 to skip this test):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn batch_file(dir: &Path) -> PathBuf {
    let clips = job::paths(&[common::data("carphone.mp4")]);
    let styles = ["starry_night.jpg", "the_scream.jpg"].map(common::data);
    TinyJob::batch(&clips, &job::paths(&styles), 4).write(dir)
}

/// Grey levels of the screenshot: white page background is most of it,
/// but the thumbnails and charts make many distinct values.
fn distinct_colours(png: &Path) -> (u32, u32, usize) {
    let img = image::open(png).unwrap().to_rgb8();
    let mut seen = std::collections::HashSet::new();
    for p in img.pixels() {
        seen.insert(p.0);
    }
    (img.width(), img.height(), seen.len())
}

#[test]
fn job_and_batch_reports_load_every_picture_in_chromium() {
    if std::env::var("VSTYLE_SKIP_BROWSER").as_deref() == Ok("1") {
        say("report_browser: skipped (VSTYLE_SKIP_BROWSER=1): the browser test did not run");
        return;
    }
    install_browser();
    let dir = tempfile::tempdir().unwrap();
    let job = batch_file(dir.path());
    let stdout = succeeds(&vstyle(&["run", s(&job), "--eval", "--quiet"]));
    let out = dir.path().join("out");
    let page = out.join("carphone_starry_night.mp4.report.html");
    let index = out.join("batch.index.html");
    assert!(
        stdout.contains(&format!("report: {}", page.display())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("index: {}", index.display())),
        "{stdout}"
    );

    let profile = dir.path().join("profile");
    let dom = chromium(&profile, &url(&page), &["--dump-dom"]);
    // 3 frames x input and output, losses, iterations, seconds, warping error.
    assert_all_images_loaded(&dom, &page, 10);
    assert!(
        dom.contains("<span id=\"frame-count\">4 frames</span>"),
        "{dom}"
    );
    assert!(
        dom.contains("Warping error 0."),
        "no measured warping error"
    );

    let shot = dir.path().join("report.png");
    chromium(
        &profile,
        &url(&page),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1100,1600",
        ],
    );
    let (w, h, colours) = distinct_colours(&shot);
    assert_eq!((w, h), (1100, 1600));
    assert!(
        colours > 1000,
        "the screenshot looks blank ({colours} colours)"
    );

    let dom = chromium(&profile, &url(&index), &["--dump-dom"]);
    assert_all_images_loaded(&dom, &index, 2);
    for name in ["carphone_starry_night", "carphone_the_scream"] {
        assert!(
            dom.contains(&format!("{name}.mp4.report.html\">{name}</a>")),
            "{name} not linked:\n{dom}"
        );
    }

    // The check itself: a picture that is gone is reported, not passed over.
    std::fs::remove_file(out.join("carphone_starry_night.mp4.report_files/output_middle.png"))
        .unwrap();
    let dom = chromium(&profile, &url(&page), &["--dump-dom"]);
    assert_eq!(body_attr(&dom, "data-images-missing").as_deref(), Some("1"));
    assert!(
        dom.contains("image missing: carphone_starry_night.mp4.report_files/output_middle.png"),
        "{dom}"
    );
}
