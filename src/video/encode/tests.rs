use std::path::Path;

use ffmpeg::format::Pixel;
use ffmpeg::{codec, encoder};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::codec::{checked_pixel_format, encoder_pixel_format, CodecError, EncoderSetup};
use super::container::{container_takes, guess_muxer};
use super::yuv::YuvConverter;
use super::*;
use crate::video::convert::RgbConverter;
use crate::video::{init, Timeline};

fn rate() -> Timeline {
    Timeline::constant((25, 1), 0, 0.0)
}

fn pixel(name: &str) -> EncoderOptions {
    EncoderOptions {
        pixel_format: Some(name.into()),
        ..EncoderOptions::default()
    }
}

fn mpeg4() -> ffmpeg::Codec {
    init();
    encoder::find_by_name("mpeg4").expect("this FFmpeg build has mpeg4")
}

/// Smooth colours, so that chroma subsampling loses little.
fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([
            (40 + 150 * x / w.max(1)) as u8,
            (60 + 120 * y / h.max(1)) as u8,
            (200 - 100 * (x + y) / (w + h)) as u8,
        ])
    })
}

fn max_diff(a: &RgbImage, b: &RgbImage) -> u8 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| x.abs_diff(*y))
        .max()
        .unwrap_or(0)
}

#[test]
fn frame_size_rate_and_pixel_format_are_checked_before_any_encoder() {
    let opts = EncoderOptions::default();
    let e = checked_pixel_format(0, 4, &rate(), &opts).unwrap_err();
    assert_eq!(e.to_string(), "bad frame size 0x4");
    let still = Timeline::constant((0, 1), 0, 0.0);
    let e = checked_pixel_format(4, 4, &still, &opts).unwrap_err();
    assert!(matches!(e, CodecError::FrameRate(0, 1)), "{e}");
    let e = checked_pixel_format(4, 4, &rate(), &pixel("yuv999p")).unwrap_err();
    assert_eq!(e.to_string(), "unknown pixel format \"yuv999p\"");
    assert_eq!(checked_pixel_format(4, 4, &rate(), &opts).unwrap(), None);
    let wanted = checked_pixel_format(4, 4, &rate(), &pixel("yuv444p")).unwrap();
    assert_eq!(wanted, Some(Pixel::YUV444P));
}

#[test]
fn an_encoder_gets_yuv420p_unless_asked_and_refuses_what_it_cannot_take() {
    let codec = mpeg4();
    assert_eq!(encoder_pixel_format(codec, None).unwrap(), Pixel::YUV420P);
    assert_eq!(
        encoder_pixel_format(codec, Some(Pixel::YUV420P)).unwrap(),
        Pixel::YUV420P
    );
    let e = encoder_pixel_format(codec, Some(Pixel::YUV444P10LE)).unwrap_err();
    let text = e.to_string();
    assert!(
        text.starts_with("mpeg4 cannot take pixel format yuv444p10le (it takes "),
        "{text}"
    );
    assert!(text.contains("yuv420p"), "{text}");
}

#[test]
fn check_encoder_names_what_cannot_write_the_file() {
    let ok = EncoderOptions {
        codec: Some("mpeg4".into()),
        ..EncoderOptions::default()
    };
    assert_eq!(check_encoder(Path::new("out.mp4"), &ok), Ok(()));
    assert!(matches!(
        check_encoder(Path::new("out.nosuchcontainer"), &ok),
        Err(EncoderProblem::Container(_))
    ));
    assert!(matches!(
        check_encoder(Path::new("out.webm"), &ok),
        Err(EncoderProblem::Codec(m)) if m == "mpeg4 cannot be stored in a .webm file"
    ));
    let missing = EncoderOptions {
        codec: Some("no_such_encoder".into()),
        ..EncoderOptions::default()
    };
    assert_eq!(
        check_encoder(Path::new("out.mp4"), &missing),
        Err(EncoderProblem::Codec(
            "video encoder no_such_encoder is not in this FFmpeg build".into()
        ))
    );
    let mut deep = ok.clone();
    deep.pixel_format = Some("yuv444p10le".into());
    assert!(matches!(
        check_encoder(Path::new("out.mp4"), &deep),
        Err(EncoderProblem::PixelFormat(_))
    ));
}

#[test]
fn containers_come_from_the_extension() {
    init();
    assert_eq!(
        container_for(Path::new("a/b.mkv")).as_deref(),
        Some("matroska")
    );
    assert_eq!(container_for(Path::new("b.mp4")).as_deref(), Some("mp4"));
    assert_eq!(container_for(Path::new("b.nosuchcontainer")), None);
    assert!(guess_muxer(Path::new("")).is_null());
    assert_eq!(
        container_takes(Path::new("b.mp4"), codec::Id::MPEG4),
        Some(true)
    );
    assert_eq!(
        container_takes(Path::new("b.webm"), codec::Id::MPEG4),
        Some(false)
    );
    assert_eq!(
        container_takes(Path::new("b.nosuchcontainer"), codec::Id::MPEG4),
        None
    );
}

/// RGB to the encoder's YUV and back through the decoder's converter.
fn round_trip(img: &RgbImage, format: Pixel) -> (RgbImage, (u32, u32)) {
    init();
    let (w, h) = img.dimensions();
    let opts = EncoderOptions::default();
    let setup = EncoderSetup::new(w, h, &rate(), false, &opts, Some(format));
    let mut yuv = YuvConverter::new(w, h, &setup, format).unwrap();
    let frame = yuv.convert(img).unwrap();
    let size = (frame.width(), frame.height());
    let back = RgbConverter::new(size.0, size.1).convert(&frame).unwrap();
    let cropped = image::imageops::crop_imm(&back, 0, 0, w, h).to_image();
    (cropped, size)
}

#[test]
fn yuv444_round_trips_within_rounding() {
    let img = gradient(32, 24);
    let (back, size) = round_trip(&img, Pixel::YUV444P);
    assert_eq!(size, (32, 24));
    assert!(max_diff(&img, &back) <= 3, "{}", max_diff(&img, &back));
}

#[test]
fn odd_sizes_are_padded_to_even_and_round_trip_in_yuv420() {
    let img = gradient(33, 25);
    let (back, size) = round_trip(&img, Pixel::YUV420P);
    assert_eq!(size, (34, 26));
    assert!(max_diff(&img, &back) <= 6, "{}", max_diff(&img, &back));
}

#[test]
fn a_written_file_probes_as_the_codec_format_and_colour_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("probe.mkv");
    let opts = EncoderOptions {
        codec: Some("mpeg4".into()),
        ..EncoderOptions::default()
    };
    let mut w = VideoWriter::create(&out, None, 31, 17, &rate(), None, &opts).unwrap();
    assert_eq!(w.codec_name(), "mpeg4");
    assert_eq!(w.encoded_size(), (32, 18));
    for _ in 0..3 {
        w.write(&gradient(31, 17)).unwrap();
    }
    assert_eq!(w.finish().unwrap(), 3);
    let input = ffmpeg::format::input(&out).unwrap();
    assert_eq!(input.format().name(), "matroska,webm");
    let stream = input.streams().best(ffmpeg::media::Type::Video).unwrap();
    let ctx = codec::context::Context::from_parameters(stream.parameters()).unwrap();
    let video = ctx.decoder().video().unwrap();
    assert_eq!(video.id(), codec::Id::MPEG4);
    assert_eq!((video.width(), video.height()), (32, 18));
    assert_eq!(video.format(), Pixel::YUV420P);
    assert_eq!(video.color_space(), opts.colour.space);
    assert_eq!(video.color_range(), opts.colour.range);
}
