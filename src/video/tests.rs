//! Tests of the media layer on shipped clips and generated images.
use super::*;
use crate::error::chain;
use crate::imaging::mean_abs_diff;
use ffmpeg::{codec, encoder, format, media, Dictionary, Rational};
use ffmpeg_next as ffmpeg;
use std::fs;
use std::path::{Path, PathBuf};

/// Media shipped in the repository.
fn media_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn carphone() -> PathBuf {
    media_dir().join("carphone.mp4")
}

/// Evenly spaced frames at `fps`.
fn rate(fps: i32) -> Timeline {
    Timeline::constant((fps, 1), 0, 0.0)
}

fn collect_ok(src: FrameSource) -> Vec<Frame> {
    src.map(|f| f.expect("frame decodes")).collect()
}

fn gradient(w: u32, h: u32, seed: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            ((x * 255) / w.max(1)) as u8,
            ((y * 255) / h.max(1)) as u8,
            ((seed * 40) % 256) as u8,
        ])
    })
}

#[test]
fn carphone_info_and_all_frames() {
    let src = FrameSource::open(&carphone(), &SourceOptions::full_size()).unwrap();
    let info = src.info().clone();
    assert_eq!(info.kind, SourceKind::Video);
    assert_eq!((info.width, info.height), (176, 144));
    assert_eq!((info.source_width, info.source_height), (176, 144));
    assert_eq!(info.frame_rate, (30000, 1001));
    assert_eq!(info.time_base, (1, 30000));
    assert_eq!(info.frame_count, Some(120));
    assert!(!info.has_audio);
    let frames = collect_ok(src);
    assert_eq!(frames.len(), 120);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!((f.index, f.source_index), (i, i));
        assert_eq!(f.image.dimensions(), (176, 144));
    }
    // Real pictures: not flat, and consecutive frames differ (motion).
    let px = frames[0].image.as_raw();
    let mean = px.iter().map(|&v| v as f64).sum::<f64>() / px.len() as f64;
    let var = px.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / px.len() as f64;
    assert!(var > 100.0, "frame 0 looks flat (variance {var})");
    assert!(mean_abs_diff(&frames[0].image, &frames[60].image) > 1.0);
}

#[test]
fn carphone_resized_to_88() {
    let opts = SourceOptions {
        size: Some(88),
        max_frames: Some(3),
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&carphone(), &opts).unwrap();
    assert_eq!((src.info().width, src.info().height), (88, 72));
    assert_eq!(
        (src.info().source_width, src.info().source_height),
        (176, 144)
    );
    assert_eq!(src.info().frame_count, Some(3));
    let small = collect_ok(src);
    assert_eq!(small.len(), 3);
    assert!(small.iter().all(|f| f.image.dimensions() == (88, 72)));
    // Same picture as the full-size frame, downscaled.
    let mut full = FrameSource::open(&carphone(), &SourceOptions::full_size()).unwrap();
    let f0 = full.next().unwrap().unwrap().image;
    let reference = image::imageops::resize(&f0, 88, 72, image::imageops::FilterType::Triangle);
    let d = mean_abs_diff(&reference, &small[0].image);
    assert!(
        d < 6.0,
        "resized frame differs from the downscaled original by {d}"
    );
    assert_eq!(target_dims(1280, 720, Some(160)), (160, 90));
    assert_eq!(target_dims(720, 1280, Some(161)), (90, 162));
}

#[test]
fn carphone_range_step_and_max_select_source_frames() {
    let all = collect_ok(FrameSource::open(&carphone(), &SourceOptions::full_size()).unwrap());
    let opts = SourceOptions {
        start: 10,
        end: Some(50),
        step: 7,
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&carphone(), &opts).unwrap();
    assert_eq!(src.info().frame_count, Some(6));
    assert_eq!(src.info().frame_rate, (30000, 7007));
    let frames = collect_ok(src);
    let idx: Vec<usize> = frames.iter().map(|f| f.source_index).collect();
    assert_eq!(idx, vec![10, 17, 24, 31, 38, 45]);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.index, i);
        assert_eq!(
            f.image, all[f.source_index].image,
            "content of source frame {}",
            f.source_index
        );
    }

    let opts = SourceOptions {
        start: 100,
        step: 3,
        max_frames: Some(4),
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&carphone(), &opts).unwrap();
    assert_eq!(src.info().frame_count, Some(4));
    let idx: Vec<usize> = collect_ok(src).iter().map(|f| f.source_index).collect();
    assert_eq!(idx, vec![100, 103, 106, 109]);

    // Range past the end: only what exists.
    let opts = SourceOptions {
        start: 115,
        end: Some(1000),
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&carphone(), &opts).unwrap();
    assert_eq!(src.info().frame_count, Some(5));
    assert_eq!(collect_ok(src).len(), 5);
}

#[test]
fn step_zero_is_rejected_naming_the_input() {
    let opts = SourceOptions {
        step: 0,
        ..SourceOptions::full_size()
    };
    let err = FrameSource::open(&carphone(), &opts)
        .err()
        .expect("step 0 rejected");
    assert!(err.to_string().contains("carphone.mp4"), "{err}");
}

/// Reads every packet of `path`: per stream index, (codec id, time base, packet spans in s).
type StreamSpans = (codec::Id, Rational, Vec<(f64, f64)>);

fn packet_spans(path: &Path) -> Vec<StreamSpans> {
    init();
    let mut ictx = format::input(&path).unwrap();
    let mut out: Vec<_> = ictx
        .streams()
        .map(|s| (s.parameters().id(), s.time_base(), Vec::new()))
        .collect();
    for (s, p) in ictx.packets() {
        let tb = f64::from(s.time_base());
        let pts = p.pts().or(p.dts()).unwrap() as f64 * tb;
        out[s.index()].2.push((pts, pts + p.duration() as f64 * tb));
    }
    out
}

#[test]
fn round_trip_mp4_keeps_rate_size_and_content() {
    let dir = tempfile::tempdir().unwrap();
    // As the pipeline does: a temporary name, the container given explicitly.
    let part = dir.path().join("out.mp4.part");
    let opts = SourceOptions {
        max_frames: Some(12),
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&carphone(), &opts).unwrap();
    let info = src.info().clone();
    let originals = collect_ok(src);
    let mut w = VideoWriter::create(
        &part,
        Some("mp4"),
        info.width,
        info.height,
        &info.timeline,
        None,
        &EncoderOptions::default(),
    )
    .unwrap();
    assert_eq!(
        w.codec_name(),
        "libx264",
        "this FFmpeg build should have libx264"
    );
    for f in &originals {
        w.write(&f.image).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 12);
    let out = dir.path().join("out.mp4");
    fs::rename(&part, &out).unwrap();

    let back = FrameSource::open(&out, &SourceOptions::full_size()).unwrap();
    assert_eq!(back.info().frame_rate, info.frame_rate);
    assert_eq!(back.info().time_base, info.time_base);
    assert_eq!((back.info().width, back.info().height), (176, 144));
    assert_eq!(back.info().frame_count, Some(12));
    let decoded = collect_ok(back);
    assert_eq!(decoded.len(), 12);
    for (a, b) in originals.iter().zip(&decoded) {
        let d = mean_abs_diff(&a.image, &b.image);
        assert!(d < 6.0, "frame {} differs by {d}", a.index);
    }
    let spans = packet_spans(&out);
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].0, codec::Id::H264);
    // pts i in 1/frame_rate: frame 11 starts at 11 * 1001 / 30000 s.
    let last_start = spans[0].2.iter().map(|s| s.0).fold(f64::MIN, f64::max);
    assert!(
        (last_start - 11.0 * 1001.0 / 30000.0).abs() < 1e-3,
        "{last_start}"
    );
}

#[test]
fn explicit_mpeg4_encoder_and_unknown_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m4.mp4");
    let opts = EncoderOptions {
        codec: Some("mpeg4".into()),
        ..Default::default()
    };
    let mut w = VideoWriter::create(&out, None, 64, 48, &rate(25), None, &opts).unwrap();
    assert_eq!(w.codec_name(), "mpeg4");
    let frames: Vec<RgbImage> = (0..5).map(|i| gradient(64, 48, i)).collect();
    for f in &frames {
        w.write(f).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 5);
    assert_eq!(packet_spans(&out)[0].0, codec::Id::MPEG4);
    let back = collect_ok(FrameSource::open(&out, &SourceOptions::full_size()).unwrap());
    assert_eq!(back.len(), 5);
    let d = mean_abs_diff(&frames[4], &back[4].image);
    assert!(d < 6.0, "mpeg4 frame differs by {d}");

    let bad = EncoderOptions {
        codec: Some("no-such-encoder".into()),
        ..Default::default()
    };
    let err = VideoWriter::create(
        &dir.path().join("x.mp4"),
        None,
        64,
        48,
        &rate(25),
        None,
        &bad,
    )
    .err()
    .expect("unknown encoder rejected");
    let msg = chain(&err);
    assert!(
        msg.contains("x.mp4") && msg.contains("no-such-encoder"),
        "{msg}"
    );

    // Wrong frame size is an error naming the file and frame, not a panic.
    let mut w = VideoWriter::create(
        &dir.path().join("y.mp4"),
        None,
        64,
        48,
        &rate(25),
        None,
        &Default::default(),
    )
    .unwrap();
    let err = w.write(&gradient(32, 32, 0)).expect_err("size mismatch");
    assert!(
        err.to_string().contains("y.mp4") && err.to_string().contains("frame 0"),
        "{err}"
    );
}

#[test]
fn odd_dimensions_give_even_video_with_right_colours() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("odd.mp4");
    let (w, h) = (87u32, 65u32);
    // Four flat quadrants of saturated colours: checks size, padding and colour matrices.
    let colours = [
        [220u8, 30, 30],
        [30, 200, 40],
        [40, 50, 210],
        [230, 220, 60],
    ];
    let img = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb(colours[(x >= w / 2) as usize + 2 * (y >= h / 2) as usize])
    });
    let mut wr =
        VideoWriter::create(&out, None, w, h, &rate(24), None, &Default::default()).unwrap();
    assert_eq!(wr.encoded_size(), (88, 66));
    for _ in 0..6 {
        wr.write(&img).unwrap();
    }
    assert_eq!(wr.finish().unwrap(), 6);
    let src = FrameSource::open(&out, &SourceOptions::full_size()).unwrap();
    assert_eq!((src.info().width, src.info().height), (88, 66));
    assert_eq!(src.info().frame_rate, (24, 1));
    let frames = collect_ok(src);
    assert_eq!(frames.len(), 6);
    let f = &frames[5].image;
    for (q, (cx, cy)) in [(20, 15), (65, 15), (20, 50), (65, 50)]
        .into_iter()
        .enumerate()
    {
        let got = f.get_pixel(cx, cy).0;
        for c in 0..3 {
            let diff = (got[c] as i32 - colours[q][c] as i32).abs();
            assert!(
                diff <= 8,
                "quadrant {q} channel {c}: {got:?} vs {:?}",
                colours[q]
            );
        }
    }
    // The padding column repeats the last column.
    let edge = f.get_pixel(87, 10).0;
    assert!(
        (edge[0] as i32 - colours[1][0] as i32).abs() <= 12,
        "{edge:?}"
    );
}

#[test]
fn bigbuckbunny_audio_is_copied_for_the_span_written() {
    let bbb = media_dir().join("bigbuckbunny_2s.mp4");
    let opts = SourceOptions {
        size: Some(160),
        max_frames: Some(25),
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&bbb, &opts).unwrap();
    let info = src.info().clone();
    assert!(info.has_audio);
    assert_eq!((info.width, info.height), (160, 90));
    assert_eq!(info.frame_rate, (25, 1));
    let (a0, a1) = src.audio_span(25);
    assert!(
        (a0 - 0.0).abs() < 1e-9 && (a1 - 1.0).abs() < 1e-9,
        "{a0} {a1}"
    );

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bbb.mp4");
    let mut w = VideoWriter::create(
        &out,
        None,
        info.width,
        info.height,
        &info.timeline,
        Some((&bbb, a0, a1)),
        &EncoderOptions::default(),
    )
    .unwrap();
    let mut n = 0;
    for f in src {
        w.write(&f.unwrap().image).unwrap();
        n += 1;
    }
    assert_eq!(n, 25);
    assert_eq!(w.finish().unwrap(), 25);

    let spans = packet_spans(&out);
    let video: Vec<_> = spans.iter().filter(|s| s.0 == codec::Id::H264).collect();
    let audio: Vec<_> = spans.iter().filter(|s| s.0 == codec::Id::AAC).collect();
    assert_eq!(video.len(), 1, "one H.264 stream");
    assert_eq!(audio.len(), 1, "one AAC stream");
    assert_eq!(spans.len(), 2);
    let v = &video[0].2;
    let a = &audio[0].2;
    assert_eq!(v.len(), 25);
    assert!(!a.is_empty(), "audio packets exist");
    let vmin = v.iter().map(|s| s.0).fold(f64::MAX, f64::min);
    let vmax = v.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    let amin = a.iter().map(|s| s.0).fold(f64::MAX, f64::min);
    let amax = a.iter().map(|s| s.1).fold(f64::MIN, f64::max);
    assert!(
        (vmax - vmin - 1.0).abs() < 0.05,
        "video span {vmin}..{vmax}"
    );
    assert!(
        amin >= vmin - 0.1 && amax <= vmax + 0.1,
        "audio {amin}..{amax} vs video {vmin}..{vmax}"
    );
    assert!(
        amax - amin > 0.9,
        "audio covers the second of video: {amin}..{amax}"
    );

    // Audio packets are byte-identical to the source's first ones (stream copy).
    init();
    let first_out = {
        let mut ictx = format::input(&out).unwrap();
        let ai = ictx.streams().best(media::Type::Audio).unwrap().index();
        ictx.packets()
            .find(|(s, _)| s.index() == ai)
            .map(|(_, p)| p.data().unwrap().to_vec())
            .unwrap()
    };
    let first_src = {
        let mut ictx = format::input(&bbb).unwrap();
        let ai = ictx.streams().best(media::Type::Audio).unwrap().index();
        ictx.packets()
            .find(|(s, _)| s.index() == ai)
            .map(|(_, p)| p.data().unwrap().to_vec())
            .unwrap()
    };
    assert_eq!(first_out, first_src);

    // And it plays: the video decodes back.
    let back = FrameSource::open(&out, &SourceOptions::full_size()).unwrap();
    assert!(back.info().has_audio);
    assert_eq!(collect_ok(back).len(), 25);
}

#[test]
fn image_directory_and_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let imgs: Vec<RgbImage> = (0..5).map(|i| gradient(40, 30, i)).collect();
    let seq = dir.path().join("seq");
    fs::create_dir(&seq).unwrap();
    for (i, img) in imgs.iter().enumerate() {
        write_image_atomic(&seq.join(format!("{:03}.png", i + 1)), img).unwrap();
    }
    fs::write(seq.join("notes.txt"), "not an image").unwrap();

    let src = FrameSource::open(&seq, &SourceOptions::full_size()).unwrap();
    assert_eq!(src.info().kind, SourceKind::ImageSequence);
    assert_eq!(src.info().frame_rate, (25, 1));
    assert_eq!(src.info().frame_count, Some(5));
    let frames = collect_ok(src);
    assert_eq!(frames.len(), 5);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.image, imgs[i]);
        assert_eq!((f.index, f.source_index), (i, i));
    }

    let pattern = seq.join("%03d.png");
    let opts = SourceOptions {
        start: 1,
        step: 2,
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&pattern, &opts).unwrap();
    assert_eq!(src.info().frame_rate, (25, 2));
    let frames = collect_ok(src);
    let idx: Vec<usize> = frames.iter().map(|f| f.source_index).collect();
    assert_eq!(idx, vec![1, 3]);
    assert_eq!(frames[1].image, imgs[3]);

    // Numbering from 0, no padding, resized.
    let zero = dir.path().join("zero");
    fs::create_dir(&zero).unwrap();
    for (i, img) in imgs.iter().enumerate().take(3) {
        write_image_atomic(&zero.join(format!("f{i}.png")), img).unwrap();
    }
    let opts = SourceOptions {
        size: Some(20),
        ..SourceOptions::full_size()
    };
    let src = FrameSource::open(&zero.join("f%d.png"), &opts).unwrap();
    assert_eq!((src.info().width, src.info().height), (20, 16));
    let frames = collect_ok(src);
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f.image.dimensions() == (20, 16)));
}

#[test]
fn pattern_gap_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    for i in [1, 2, 4, 5] {
        write_image_atomic(
            &dir.path().join(format!("img_{i:03}.png")),
            &gradient(8, 8, i),
        )
        .unwrap();
    }
    let err = FrameSource::open(
        &dir.path().join("img_%03d.png"),
        &SourceOptions::full_size(),
    )
    .err()
    .expect("gap detected");
    let msg = err.to_string();
    assert!(matches!(err, VideoError::MissingFrame { .. }), "{msg}");
    assert!(msg.contains("img_003.png"), "{msg}");
    assert!(!msg.contains('\n'));

    let err = FrameSource::open(
        &dir.path().join("none_%03d.png"),
        &SourceOptions::full_size(),
    )
    .err()
    .expect("no match");
    assert!(err.to_string().contains("none_%03d.png"), "{err}");
}

#[test]
fn sequence_with_different_sizes_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    write_image_atomic(&dir.path().join("a.png"), &gradient(16, 12, 0)).unwrap();
    write_image_atomic(&dir.path().join("b.png"), &gradient(16, 12, 1)).unwrap();
    write_image_atomic(&dir.path().join("c.png"), &gradient(12, 16, 2)).unwrap();
    let mut src = FrameSource::open(dir.path(), &SourceOptions::full_size()).unwrap();
    assert!(src.next().unwrap().is_ok());
    assert!(src.next().unwrap().is_ok());
    let err = src.next().unwrap().expect_err("size mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("c.png") && msg.contains("12x16") && msg.contains("16x12"),
        "{msg}"
    );
    assert!(src.next().is_none());
}

#[test]
fn single_image_and_bmp() {
    let jpg = media_dir().join("tubingen.jpg");
    let full = read_image(&jpg).unwrap();
    let opts = SourceOptions {
        size: Some(128),
        ..SourceOptions::full_size()
    };
    let mut src = FrameSource::open(&jpg, &opts).unwrap();
    let info = src.info().clone();
    assert_eq!(info.kind, SourceKind::Image);
    assert_eq!((info.source_width, info.source_height), full.dimensions());
    assert_eq!(info.width.max(info.height), 128);
    assert_eq!(info.frame_count, Some(1));
    let f = src.next().unwrap().unwrap();
    assert_eq!(f.image.dimensions(), (info.width, info.height));
    assert!(src.next().is_none());

    // A BMP (not supported by the image crate build) decodes through FFmpeg.
    let dir = tempfile::tempdir().unwrap();
    let bmp = dir.path().join("tiny.bmp");
    let pixels = [
        [255u8, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [10, 20, 30],
        [200, 100, 50],
        [0, 0, 0],
    ];
    fs::write(&bmp, bmp_bytes(3, 2, &pixels)).unwrap();
    let img = read_image(&bmp).unwrap();
    assert_eq!(img.dimensions(), (3, 2));
    for (i, p) in pixels.iter().enumerate() {
        assert_eq!(img.get_pixel(i as u32 % 3, i as u32 / 3).0, *p, "pixel {i}");
    }
    let frames = collect_ok(FrameSource::open(&bmp, &SourceOptions::full_size()).unwrap());
    assert_eq!(frames.len(), 1);
}

/// A 24-bit bottom-up BMP of `w`x`h` pixels given top-down in RGB.
fn bmp_bytes(w: usize, h: usize, px: &[[u8; 3]]) -> Vec<u8> {
    let row = (w * 3).div_ceil(4) * 4;
    let size = 54 + row * h;
    let mut b = Vec::with_capacity(size);
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&(size as u32).to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes());
    b.extend_from_slice(&(w as i32).to_le_bytes());
    b.extend_from_slice(&(h as i32).to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&[0; 24]);
    for y in (0..h).rev() {
        for x in 0..w {
            let [r, g, bl] = px[y * w + x];
            b.extend_from_slice(&[bl, g, r]);
        }
        b.extend(std::iter::repeat_n(0, row - w * 3));
    }
    b
}

#[test]
fn missing_and_bogus_inputs_are_errors_naming_the_file() {
    let missing = Path::new("/nonexistent/dir/clip.mp4");
    let err = FrameSource::open(missing, &SourceOptions::full_size())
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("/nonexistent/dir/clip.mp4"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.mp4");
    fs::write(&bogus, "this is not a video\n".repeat(50)).unwrap();
    let err = FrameSource::open(&bogus, &SourceOptions::full_size())
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(msg.contains("bogus.mp4"), "{msg}");
    assert!(!msg.contains('\n'), "{msg:?}");

    let bad_png = dir.path().join("bad.png");
    fs::write(&bad_png, "not a png").unwrap();
    let err = read_image(&bad_png).err().unwrap();
    assert!(err.to_string().contains("bad.png"), "{err}");

    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = FrameSource::open(&empty, &SourceOptions::full_size())
        .err()
        .unwrap();
    assert!(err.to_string().contains("empty"), "{err}");
}

/// Stream-copies `src` to `dst` with the index (moov) at the front, so that a truncated copy
/// still opens.
fn remux_faststart(src: &Path, dst: &Path) {
    init();
    let mut ictx = format::input(&src).unwrap();
    let mut octx = format::output(&dst).unwrap();
    for ist in ictx.streams() {
        let mut ost = octx.add_stream(encoder::find(codec::Id::None)).unwrap();
        ost.set_parameters(ist.parameters());
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
        }
    }
    let mut opts = Dictionary::new();
    opts.set("movflags", "faststart");
    octx.write_header_with(opts).unwrap();
    let tbs: Vec<Rational> = ictx.streams().map(|s| s.time_base()).collect();
    for (s, mut p) in ictx.packets() {
        let i = s.index();
        p.rescale_ts(tbs[i], octx.stream(i).unwrap().time_base());
        p.set_position(-1);
        p.write_interleaved(&mut octx).unwrap();
    }
    octx.write_trailer().unwrap();
}

#[test]
fn truncated_video_yields_frames_then_stops() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(carphone()).unwrap();

    // carphone.mp4 has its index at the end: cut, it cannot be opened at all.
    let cut = dir.path().join("cut.mp4");
    fs::write(&cut, &bytes[..bytes.len() * 4 / 10]).unwrap();
    let err = FrameSource::open(&cut, &SourceOptions::full_size())
        .err()
        .unwrap();
    assert!(err.to_string().contains("cut.mp4"), "{err}");

    // With the index first, the frames before the cut decode.
    let fast = dir.path().join("fast.mp4");
    remux_faststart(&carphone(), &fast);
    let fast_bytes = fs::read(&fast).unwrap();
    let cut = dir.path().join("cut_fast.mp4");
    fs::write(&cut, &fast_bytes[..fast_bytes.len() * 4 / 10]).unwrap();
    let mut src = FrameSource::open(&cut, &SourceOptions::full_size()).unwrap();
    assert_eq!(src.info().frame_count, Some(120));
    let mut good = 0;
    let mut error = None;
    for item in src.by_ref() {
        match item {
            Ok(f) => {
                assert_eq!(f.index, good);
                good += 1;
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    assert!(good > 0 && good < 120, "{good} frames before the cut");
    let msg = error.expect("truncation is reported").to_string();
    assert!(
        msg.contains("cut_fast.mp4") && msg.contains(&format!("frame {good}")),
        "{msg}"
    );
    assert!(src.next().is_none(), "iteration ends after the error");
}

#[test]
fn write_image_atomic_leaves_only_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let img = gradient(33, 21, 3);
    let png = dir.path().join("out.png");
    let jpg = dir.path().join("out.JPG");
    write_image_atomic(&png, &img).unwrap();
    write_image_atomic(&png, &img).unwrap(); // overwrite
    write_image_atomic(&jpg, &img).unwrap();
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["out.JPG", "out.png"]);
    assert_eq!(read_image(&png).unwrap(), img);
    let j = read_image(&jpg).unwrap();
    assert!(mean_abs_diff(&j, &img) < 4.0);

    let err = write_image_atomic(&dir.path().join("out.gif"), &img)
        .err()
        .unwrap();
    assert!(err.to_string().contains("out.gif"), "{err}");
    let err = write_image_atomic(&dir.path().join("nodir/out.png"), &img)
        .err()
        .unwrap();
    assert!(err.to_string().contains("nodir/out.png"), "{err}");
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn sources_and_writers_are_send() {
    fn assert_send<T: Send>() {}
    assert_send::<FrameSource>();
    assert_send::<VideoWriter>();
    assert_send::<VideoError>();
    assert_send::<Frame>();
}

#[test]
fn a_pattern_too_wide_for_frame_numbers_is_no_pattern() {
    // `%070000d` would make the formatter panic; it is read as a plain (missing) file name.
    let dir = tempfile::tempdir().unwrap();
    write_image_atomic(&dir.path().join("1.png"), &gradient(8, 8, 1)).unwrap();
    for spec in [
        "%070000d.png",
        "%021d.png",
        "%099999999999999999999999d.png",
    ] {
        let err = FrameSource::open(&dir.path().join(spec), &SourceOptions::full_size())
            .err()
            .expect("no such input");
        assert!(matches!(err, VideoError::NotFound { .. }), "{spec}: {err}");
    }
    let src = FrameSource::open(&dir.path().join("%020d.png"), &SourceOptions::full_size());
    assert!(src.is_err(), "1.png is not a 20-digit name");
    let src = FrameSource::open(&dir.path().join("%d.png"), &SourceOptions::full_size()).unwrap();
    assert_eq!(src.count(), 1);
}

#[test]
fn a_cut_on_a_packet_boundary_is_reported_as_truncation() {
    // Cut exactly where a frame's packet starts: the demuxer then sees a clean end of file,
    // and only the declared duration tells that 116 frames are missing.
    let dir = tempfile::tempdir().unwrap();
    let fast = dir.path().join("fast.mp4");
    remux_faststart(&carphone(), &fast);
    let positions: Vec<u64> = {
        let input = format::input(&fast).unwrap();
        let stream = input.streams().best(media::Type::Video).unwrap();
        // SAFETY: the input context is open for this block.
        let mut p: Vec<u64> = unsafe {
            let st = stream.as_ptr() as *mut ffmpeg::ffi::AVStream;
            (0..ffmpeg::ffi::avformat_index_get_entries_count(st))
                .map(|i| (*ffmpeg::ffi::avformat_index_get_entry(st, i)).pos as u64)
                .collect()
        };
        p.sort_unstable();
        p
    };
    assert_eq!(positions.len(), 120);
    let bytes = fs::read(&fast).unwrap();
    let cut = dir.path().join("cut_on_boundary.mp4");
    fs::write(&cut, &bytes[..positions[4] as usize]).unwrap();
    let items: Vec<_> = FrameSource::open(&cut, &SourceOptions::full_size())
        .unwrap()
        .collect();
    let good = items.iter().take_while(|i| i.is_ok()).count();
    assert!((1..=4).contains(&good), "{good} frames before the cut");
    assert_eq!(items.len(), good + 1, "then one error, then the end");
    let msg = chain(items[good].as_ref().err().unwrap());
    assert!(
        msg.contains("cut_on_boundary.mp4") && msg.contains("truncated"),
        "{msg}"
    );

    // The whole file ends without an error.
    assert!(FrameSource::open(&fast, &SourceOptions::full_size())
        .unwrap()
        .all(|f| f.is_ok()));
}

#[test]
fn a_wrapped_cause_prints_once_after_the_file() {
    let cause = Cause::from(ffmpeg::Error::InvalidData).within("cannot open video decoder");
    let e = VideoError::Open {
        path: "a.mp4".into(),
        reason: cause,
    };
    assert_eq!(e.to_string(), "cannot open a.mp4");
    let line = chain(&e);
    assert_eq!(
        line,
        format!(
            "cannot open a.mp4: cannot open video decoder: {}",
            ffmpeg::Error::InvalidData
        )
    );
    let printed = format!("{:#}", anyhow::Error::from(e));
    assert_eq!(printed, line, "anyhow prints the same line");
}
