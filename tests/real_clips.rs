//! Clips as phones and cameras make them, generated from shipped media with the ffmpeg tool
//! (installed by scripts/setup.sh) or the FFmpeg libraries: rotated, variable frame rate,
//! tagged colours, 10-bit, every container. Each test checks the output's orientation,
//! timestamps, colour tags or frame count, not only that the job ran.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::media::{count_frames, ffprobe_fields, first_frame, frame_times};
use common::run::{command, one_line_error};
use common::{stderr, succeeds};
use ffmpeg_next as ffmpeg;
use image::RgbImage;
use vstyle::imaging::mean_abs_diff;
use vstyle::video::{FrameSource, Orientation, SourceOptions};

/// Runs the ffmpeg tool quietly; a missing tool fails the test naming the set-up.
fn ffmpeg_tool(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .output()
        .expect("the ffmpeg tool runs (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `out` from carphone with the ffmpeg tool's `args` between input and output.
fn from_carphone(args: &[&str], out: &Path) {
    let carphone = common::data("carphone.mp4");
    let mut all = vec!["-i", carphone.to_str().unwrap()];
    all.extend(args);
    all.push(out.to_str().unwrap());
    ffmpeg_tool(&all);
}

/// `vstyle video` with tiny settings: SqueezeNet, two iterations, no style weight (so the
/// output is the content, and where its pixels went can be checked).
fn stylize(input: &Path, output: &Path, extra: &[&str]) -> Output {
    stylize_at(48, input, output, extra)
}

fn stylize_at(size: u32, input: &Path, output: &Path, extra: &[&str]) -> Output {
    command()
        .arg("video")
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(["-s", common::data("the_scream.jpg").to_str().unwrap()])
        .args(["--model", "squeezenet", "--size", &size.to_string(), "-q"])
        .args(["--first-iterations", "2", "--iterations", "1"])
        .args(extra)
        .output()
        .expect("vstyle runs")
}

fn stylize_ok(input: &Path, output: &Path, extra: &[&str]) {
    stylize_ok_at(48, input, output, extra)
}

fn stylize_ok_at(size: u32, input: &Path, output: &Path, extra: &[&str]) {
    succeeds(&stylize_at(size, input, output, extra));
}

/// Copies the first `frames` frames of carphone into an MP4 whose video stream carries the
/// display matrix FFmpeg makes for `degrees` (counterclockwise) and a horizontal flip.
fn with_display_matrix(out: &Path, degrees: f64, hflip: bool, frames: usize) {
    ffmpeg::init().unwrap();
    let mut input = ffmpeg::format::input(&common::data("carphone.mp4")).unwrap();
    let mut octx = ffmpeg::format::output(&out).unwrap();
    let ist = input.streams().best(ffmpeg::media::Type::Video).unwrap();
    let (in_index, in_tb) = (ist.index(), ist.time_base());
    let mut ost = octx
        .add_stream(ffmpeg::encoder::find(ffmpeg::codec::Id::None))
        .unwrap();
    ost.set_parameters(ist.parameters());
    // SAFETY: a fresh stream of a context not yet written; FFmpeg allocates the side data.
    unsafe {
        (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
        let data = ffmpeg::ffi::av_stream_new_side_data(
            ost.as_mut_ptr(),
            ffmpeg::ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
            36,
        ) as *mut i32;
        ffmpeg::ffi::av_display_rotation_set(data, degrees);
        ffmpeg::ffi::av_display_matrix_flip(data, hflip as i32, 0);
    }
    octx.write_header().unwrap();
    let out_tb = octx.stream(0).unwrap().time_base();
    let mut written = 0;
    for (stream, mut packet) in input.packets() {
        if stream.index() != in_index || written >= frames {
            continue;
        }
        packet.rescale_ts(in_tb, out_tb);
        packet.set_stream(0);
        packet.set_position(-1);
        packet.write_interleaved(&mut octx).unwrap();
        written += 1;
    }
    octx.write_trailer().unwrap();
}

#[test]
fn rotated_and_mirrored_phone_clips_are_stylized_and_written_upright() {
    let dir = tempfile::tempdir().unwrap();
    // (degrees, flip) as FFmpeg's av_display_rotation_set / av_display_matrix_flip take
    // them, and the clockwise turns and mirror the ffmpeg tool shows such a clip with.
    let cases = [
        (-90.0, false, 3u8, false),
        (180.0, false, 2, false),
        (90.0, false, 1, false),
        (-90.0, true, 1, true),
    ];
    let plain = first_frame(&common::data("carphone.mp4"), None);
    for (degrees, hflip, turns, mirror) in cases {
        let name = format!("rot{degrees}{}", if hflip { "_flip" } else { "" });
        let clip = dir.path().join(format!("{name}.mp4"));
        with_display_matrix(&clip, degrees, hflip, 4);
        let out = dir.path().join(format!("{name}_out.mp4"));
        stylize_ok(&clip, &out, &["--style-weight", "0"]);
        let dims = ffprobe_fields(&out, "stream=width,height", "v");
        let portrait = turns % 2 == 1;
        assert_eq!(
            dims,
            vec![if portrait { "40,48" } else { "48,40" }],
            "{name}"
        );
        // Written upright: no display matrix left for a player to apply twice.
        assert!(
            ffprobe_fields(&out, "stream_side_data=side_data_type", "v").is_empty(),
            "{name}: the output carries a display matrix"
        );
        // Where the pixels went: the output matches the input turned as a viewer sees it,
        // better than any other of the eight orientations.
        let got = first_frame(&out, None);
        let diff = |o: Orientation| {
            let shown = o.apply(plain.clone());
            let small = image::imageops::resize(
                &shown,
                got.width(),
                got.height(),
                image::imageops::FilterType::Triangle,
            );
            if small.dimensions() == got.dimensions() {
                mean_abs_diff(&small, &got)
            } else {
                f64::INFINITY
            }
        };
        let expected = Orientation {
            mirror,
            quarter_turns: turns,
        };
        let best = (0..8u8)
            .map(|i| Orientation {
                mirror: i >= 4,
                quarter_turns: i % 4,
            })
            .min_by(|a, b| diff(*a).total_cmp(&diff(*b)))
            .unwrap();
        assert_eq!(
            best,
            expected,
            "{name}: {} vs {}",
            diff(best),
            diff(expected)
        );
    }
}

/// 20 frames of carphone, 10 fps, with a one-second pause after the 10th, and a tone.
fn vfr_clip(dir: &Path) -> PathBuf {
    let clip = dir.join("vfr.mp4");
    from_carphone(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-frames:v",
            "20",
            "-vf",
            "settb=1/1000,setpts=N*100+gte(N\\,10)*1000",
            "-fps_mode",
            "passthrough",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-t",
            "3",
        ],
        &clip,
    );
    clip
}

#[test]
fn variable_frame_rate_keeps_each_frames_time_and_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let clip = vfr_clip(dir.path());
    let input = frame_times(&clip);
    assert_eq!(input.len(), 20);
    let out = dir.path().join("vfr_out.mkv");
    stylize_ok(&clip, &out, &[]);
    let output = frame_times(&out);
    assert_eq!(output.len(), 20);
    for (i, (a, b)) in input.iter().zip(&output).enumerate() {
        assert!(
            (a - b).abs() < 0.002,
            "frame {i}: input at {a} s, output at {b} s"
        );
    }
    // The pause is kept: 1.1 s between frames 9 and 10.
    assert!((output[10] - output[9] - 1.1).abs() < 0.002, "{output:?}");
    let audio = ffprobe_fields(&out, "stream=codec_name,duration", "a");
    assert_eq!(audio.len(), 1, "one audio stream: {audio:?}");

    // input.step keeps the kept frames' times.
    let half = dir.path().join("vfr_step.mkv");
    stylize_ok(&clip, &half, &["--set", "input.step=2"]);
    let kept: Vec<f64> = input.iter().step_by(2).map(|t| t - input[0]).collect();
    let got = frame_times(&half);
    assert_eq!(got.len(), 10);
    for (a, b) in kept.iter().zip(&got) {
        assert!((a - b).abs() < 0.002, "kept {kept:?}, got {got:?}");
    }
}

#[test]
fn constant_rate_clips_keep_their_exact_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cfr.mp4");
    stylize_ok(&common::data("carphone.mp4"), &out, &["--max-frames", "6"]);
    assert_eq!(
        ffprobe_fields(&out, "stream=r_frame_rate,avg_frame_rate,nb_frames", "v"),
        vec!["30000/1001,30000/1001,6"]
    );
}

#[test]
fn colour_tags_are_read_and_written_and_codecs_can_be_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("full601.mp4");
    from_carphone(
        &[
            "-frames:v",
            "4",
            "-vf",
            "scale=out_color_matrix=bt601:out_range=full",
            "-color_range",
            "pc",
            "-colorspace",
            "smpte170m",
            "-color_primaries",
            "smpte170m",
            "-color_trc",
            "smpte170m",
            "-c:v",
            "libx264",
        ],
        &clip,
    );
    let tags = "stream=color_range,color_space,color_primaries,color_transfer";
    let out = dir.path().join("out.mp4");
    stylize_ok(&clip, &out, &["--style-weight", "0"]);
    assert_eq!(
        ffprobe_fields(&out, tags, "v"),
        ffprobe_fields(&clip, tags, "v")
    );
    assert_eq!(
        ffprobe_fields(&out, tags, "v"),
        vec!["pc,smpte170m,smpte170m,smpte170m"]
    );
    // Read with its own matrix and range: the picture is the same as the limited-range
    // BT.709 original (a wrong matrix or range shifts colours by far more).
    let diff = mean_abs_diff(
        &first_frame(&clip, Some(48)),
        &first_frame(&common::data("carphone.mp4"), Some(48)),
    );
    assert!(diff < 3.0, "full-range BT.601 read differs by {diff}");

    let cases = [
        ("x265.mkv", "libx265", "yuv420p10le", "hevc,yuv420p10le"),
        (
            "prores.mov",
            "prores_ks",
            "yuv422p10le",
            "prores,yuv422p10le",
        ),
        ("ffv1.mkv", "ffv1", "yuv444p", "ffv1,yuv444p"),
    ];
    for (name, codec, pix, expected) in cases {
        let out = dir.path().join(name);
        // x265 3.5 crashes on 10-bit frames this small (the ffmpeg tool too): 128 px.
        let codec_set = format!("output.codec={codec}");
        let pix_set = format!("output.pix_fmt={pix}");
        stylize_ok_at(128, &clip, &out, &["--set", &codec_set, "--set", &pix_set]);
        assert_eq!(
            ffprobe_fields(&out, "stream=codec_name,pix_fmt", "v"),
            vec![expected]
        );
        assert_eq!(count_frames(&out), 4, "{name}");
    }

    // Bad combinations: one line naming the setting, exit 2, nothing written.
    let bad = [
        (
            "m.mp4",
            "output.codec=mpeg4",
            "output.pix_fmt=yuv422p10le",
            "output.pix_fmt",
        ),
        (
            "p.mp4",
            "output.codec=prores_ks",
            "output.crf=18",
            "output.codec",
        ),
        (
            "u.mp4",
            "output.codec=libx264",
            "output.pix_fmt=no_such_format",
            "output.pix_fmt",
        ),
        ("w.xyz", "output.crf=18", "output.crf=18", "output.path"),
    ];
    for (name, a, b, key) in bad {
        let out = dir.path().join(name);
        let run = stylize(&clip, &out, &["--set", a, "--set", b]);
        one_line_error(&run, &[key], name);
        assert!(!out.exists(), "{name} written");
    }
}

#[test]
fn ten_bit_input_is_read_without_banding() {
    let dir = tempfile::tempdir().unwrap();
    // A gentle 16-bit ramp: 8 bits hold about ten levels of it across 128 columns.
    let ramp = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(128, 64, |x, _| {
        let v = 30000 + (x as u16) * 20;
        image::Rgb([v, v, v])
    });
    let png = dir.path().join("ramp.png");
    ramp.save(&png).unwrap();
    let clip = dir.path().join("ramp10.mkv");
    ffmpeg_tool(&[
        "-loop",
        "1",
        "-i",
        png.to_str().unwrap(),
        "-frames:v",
        "2",
        "-c:v",
        "ffv1",
        "-pix_fmt",
        "yuv444p10le",
        clip.to_str().unwrap(),
    ]);
    let img = first_frame(&clip, None);
    let column_mean = |x: u32| (0..64).map(|y| img.get_pixel(x, y)[1] as f64).sum::<f64>() / 64.0;
    let means: Vec<f64> = (0..128).map(column_mean).collect();
    // Banded, the means would jump a whole level every dozen columns and stay flat between;
    // dithered, they follow the ramp (20/257 of a level per column) within a third of one.
    let worst = (0..128)
        .map(|x| {
            let truth = (30000.0 + x as f64 * 20.0) / 257.0;
            (means[x] - truth).abs()
        })
        .fold(0.0, f64::max);
    assert!(
        worst < 0.5,
        "column means stray {worst} levels from the ramp: {means:?}"
    );

    // 10-bit HEVC decodes and stylizes.
    let hevc = dir.path().join("ramp10.mp4");
    ffmpeg_tool(&[
        "-i",
        clip.to_str().unwrap(),
        "-c:v",
        "libx265",
        "-pix_fmt",
        "yuv420p10le",
        "-x265-params",
        "log-level=error",
        hevc.to_str().unwrap(),
    ]);
    let out = dir.path().join("hevc_out.mp4");
    stylize_ok_at(128, &hevc, &out, &[]);
    assert_eq!(ffprobe_fields(&out, "stream=nb_frames", "v"), vec!["2"]);
}

#[test]
fn every_container_reads_and_writes() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        ("in.mov", vec!["-c:v", "libx264"]),
        ("in.mkv", vec!["-c:v", "libx264"]),
        (
            "in.webm",
            vec!["-c:v", "libvpx-vp9", "-deadline", "realtime"],
        ),
        ("in.avi", vec!["-c:v", "mpeg4"]),
        ("in.mp4", vec!["-c:v", "libx264"]),
    ];
    for (name, codec) in inputs {
        let clip = dir.path().join(name);
        from_carphone(&[&["-frames:v", "5"], &codec[..]].concat(), &clip);
        // Written as the same container it came in.
        let out = dir.path().join(format!("out_{name}"));
        stylize_ok(&clip, &out, &[]);
        assert_eq!(count_frames(&out), 5, "{name}");
    }
    assert_eq!(
        ffprobe_fields(&dir.path().join("out_in.webm"), "stream=codec_name", "v"),
        vec!["vp9"],
        "WebM takes VP9 by default"
    );
}

#[test]
fn audio_the_container_cannot_hold_is_re_encoded_to_aac_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("camera.mov");
    from_carphone(
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-c:a",
            "pcm_s16le",
            "-t",
            "1",
        ],
        &clip,
    );
    let out = dir.path().join("camera.mp4");
    stylize_ok(&clip, &out, &[]);
    let audio = ffprobe_fields(&out, "stream=codec_name,duration", "a");
    assert_eq!(audio.len(), 1, "{audio:?}");
    let (codec, duration) = audio[0].split_once(',').unwrap();
    assert_eq!(codec, "aac");
    let video: f64 = ffprobe_fields(&out, "stream=duration", "v")[0]
        .parse()
        .unwrap();
    let duration: f64 = duration.parse().unwrap();
    assert!(
        (duration - video).abs() < 0.05,
        "audio {duration} s, video {video} s"
    );
    let report = std::fs::read_to_string(dir.path().join("camera.mp4.report.json")).unwrap();
    assert!(report.contains("audio re-encoded to AAC"), "{report}");
}

/// How much each row differs from the mean of its neighbours: the comb of woven fields.
fn comb(img: &RgbImage) -> f64 {
    let luma = |x, y| img.get_pixel(x, y)[1] as f64;
    let (w, h) = img.dimensions();
    let mut sum = 0.0;
    for y in 1..h - 1 {
        for x in 0..w {
            sum += (luma(x, y) - (luma(x, y - 1) + luma(x, y + 1)) / 2.0).abs();
        }
    }
    sum / (w * (h - 2)) as f64
}

#[test]
fn interlaced_clips_are_deinterlaced_before_stylizing() {
    let dir = tempfile::tempdir().unwrap();
    // Fields of consecutive frames woven together, flagged top field first.
    let clip = dir.path().join("interlaced.mp4");
    from_carphone(
        &[
            "-frames:v",
            "12",
            "-vf",
            "tinterlace=mode=interleave_top,setfield=tff",
            "-flags",
            "+ildct+ilme",
            "-c:v",
            "libx264",
            "-x264-params",
            "tff=1",
        ],
        &clip,
    );
    assert_eq!(ffprobe_fields(&clip, "stream=field_order", "v"), vec!["tt"]);
    // The frame as stored (the ffmpeg tool does not deinterlace unless asked)...
    let woven = dir.path().join("woven.png");
    ffmpeg_tool(&[
        "-i",
        clip.to_str().unwrap(),
        "-vf",
        "select=eq(n\\,10)",
        "-frames:v",
        "1",
        woven.to_str().unwrap(),
    ]);
    let woven = image::open(&woven).unwrap().to_rgb8();
    // ... and as vstyle reads it.
    let opts = SourceOptions::full_size();
    let read = FrameSource::open(&clip, &opts)
        .unwrap()
        .nth(10)
        .expect("11 frames")
        .expect("decodes")
        .image;
    assert_eq!(read.dimensions(), woven.dimensions());
    let (before, after) = (comb(&woven), comb(&read));
    // Read as stored, the comb would be the same (the picture's own texture gives some).
    assert!(
        after < 0.75 * before,
        "comb {before} as stored, {after} as read"
    );
    let out = dir.path().join("out.mp4");
    stylize_ok(&clip, &out, &[]);
    assert_eq!(count_frames(&out), 12);
    let report = std::fs::read_to_string(dir.path().join("out.mp4.report.json")).unwrap();
    assert!(report.contains("deinterlaced with yadif"), "{report}");
}

/// Writes, with Pillow (a set-up requirement), the three images a camera roll or an
/// illustrator hands over: a CMYK JPEG, a greyscale JPEG, and a PNG whose left half is
/// transparent; all from one frame of carphone.
fn odd_images(dir: &Path) -> [PathBuf; 3] {
    let names = ["a_cmyk.jpg", "b_gray.jpg", "c_alpha.png"].map(|n| dir.join(n));
    let script = r#"
import sys
from PIL import Image
src, cmyk, gray, alpha = sys.argv[1:]
im = Image.open(src).convert("RGB")
im.convert("CMYK").save(cmyk, quality=95)
im.convert("L").save(gray, quality=95)
a = im.convert("RGBA")
a.putalpha(Image.new("L", im.size, 255))
a.paste((0, 0, 0, 0), (0, 0, im.size[0] // 2, im.size[1]))
a.save(alpha)
"#;
    let out = Command::new(common::python())
        .args(["-c", script])
        .arg(common::data("carphone_040.png"))
        .args(&names)
        .output()
        .expect("the set-up's Python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    names
}

#[test]
fn cmyk_grey_and_transparent_images_read_as_they_look() {
    let dir = tempfile::tempdir().unwrap();
    let [cmyk, gray, alpha] = odd_images(dir.path());
    let plain = vstyle::video::read_image(&common::data("carphone_040.png")).unwrap();
    let cmyk_read = vstyle::video::read_image(&cmyk).unwrap();
    let diff = mean_abs_diff(&cmyk_read, &plain);
    assert!(diff < 4.0, "CMYK read {diff} from the RGB original");
    let grey = vstyle::video::read_image(&gray).unwrap();
    assert!(grey.pixels().all(|p| p[0] == p[1] && p[1] == p[2]));
    let clear = vstyle::video::read_image(&alpha).unwrap();
    let (w, h) = clear.dimensions();
    assert!((0..h).all(|y| *clear.get_pixel(0, y) == image::Rgb([255, 255, 255])));
    assert_eq!(clear.get_pixel(w - 1, h / 2), plain.get_pixel(w - 1, h / 2));

    // The three as an image sequence at 12 fps, with the CMYK one as the style.
    let out = dir.path().join("seq.mp4");
    let pattern = dir.path().to_str().unwrap().to_string();
    let run = command()
        .args(["video", &pattern, "-o", out.to_str().unwrap()])
        .args([
            "-s",
            cmyk.to_str().unwrap(),
            "--model",
            "squeezenet",
            "--size",
            "48",
        ])
        .args([
            "--first-iterations",
            "2",
            "--iterations",
            "1",
            "--set",
            "input.fps=12",
        ])
        .output()
        .unwrap();
    succeeds(&run);
    let err = stderr(&run);
    assert!(err.contains("image sequence shown at 12/1 fps"), "{err}");
    assert_eq!(count_frames(&out), 3);
    assert_eq!(
        ffprobe_fields(&out, "stream=r_frame_rate", "v"),
        vec!["12/1"]
    );
}

#[test]
fn odd_sized_clips_come_out_even_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    // 4:4:4 so that the encoder takes the odd size.
    let clip = dir.path().join("odd.mkv");
    from_carphone(
        &[
            "-frames:v",
            "4",
            "-vf",
            "format=yuv444p,crop=75:61:10:10",
            "-c:v",
            "ffv1",
            "-pix_fmt",
            "yuv444p",
        ],
        &clip,
    );
    assert_eq!(
        ffprobe_fields(&clip, "stream=width,height", "v"),
        vec!["75,61"]
    );
    let out = dir.path().join("odd_out.mp4");
    stylize_ok(&clip, &out, &[]);
    // 48 px on the long side: 48x39 kept even as 48x40, in 4:2:0.
    assert_eq!(
        ffprobe_fields(&out, "stream=width,height,pix_fmt", "v"),
        vec!["48,40,yuv420p"]
    );
    assert_eq!(count_frames(&out), 4);
    let report = std::fs::read_to_string(dir.path().join("odd_out.mp4.report.json")).unwrap();
    assert!(
        report.contains("75x61 has an odd side: stylized at 48x40"),
        "{report}"
    );
}
