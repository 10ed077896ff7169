//! Single image files: reading any picture as RGB (EXIF orientation applied)
//! and writing PNG or JPEG atomically.
use std::path::Path;

use image::RgbImage;

use super::*;
use crate::error::Error;
use crate::files::write_atomic;

/// Reads an image as RGB (EXIF orientation applied; transparency laid over white, as a page
/// shows it; grey replicated; CMYK JPEGs converted). PNG and JPEG are decoded with the
/// `image` crate; other formats (BMP, ...) with FFmpeg.
pub fn read_image(path: &Path) -> Result<RgbImage, VideoError> {
    let err = |reason: Cause| VideoError::Image {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(VideoError::NotFound {
            path: path.to_path_buf(),
        });
    }
    check_file_size(path)?;
    let mut reader = image::ImageReader::open(path)
        .map_err(|e| err(e.into()))?
        .with_guessed_format()
        .map_err(|e| err(e.into()))?;
    if reader.format().is_none() {
        return read_image_ffmpeg(path);
    }
    check_header(path)?;
    reader.limits(limits());
    let decoded = reader.into_decoder().and_then(decode);
    match decoded {
        Ok(img) => Ok(over_white(img)),
        Err(image::ImageError::Unsupported(_)) => read_image_ffmpeg(path),
        Err(e) => Err(err(e.into())),
    }
}

fn decode(mut decoder: impl image::ImageDecoder) -> image::ImageResult<image::DynamicImage> {
    let orientation = decoder.orientation()?;
    let mut img = image::DynamicImage::from_decoder(decoder)?;
    img.apply_orientation(orientation);
    Ok(img)
}

/// Pictures larger than this are refused before they are decoded: such a
/// style or content image is a mistake or a decompression bomb, and it
/// would take minutes and gigabytes before it is resized to the job's size.
pub const MAX_IMAGE_PIXELS: u64 = 150_000_000;
pub const MAX_IMAGE_SIDE: u32 = 32_768;
pub const MAX_IMAGE_BYTES: u64 = 1 << 30;

fn limits() -> image::Limits {
    let mut l = image::Limits::default();
    l.max_image_width = Some(MAX_IMAGE_SIDE);
    l.max_image_height = Some(MAX_IMAGE_SIDE);
    // RGBA at 16 bits a channel, the largest layout a decoder produces.
    l.max_alloc = Some(MAX_IMAGE_PIXELS * 8);
    l
}

/// The size the header declares, checked before anything is decoded (the
/// decoder's own limits would refuse it too, but say less).
fn check_header(path: &Path) -> Result<(), VideoError> {
    let header = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(image::ImageError::IoError)
        .and_then(|mut r| {
            r.no_limits();
            r.into_dimensions()
        });
    match header {
        Ok((w, h)) => check_dimensions(path, w, h),
        // The decoder says what is wrong with it.
        Err(_) => Ok(()),
    }
}

fn check_file_size(path: &Path) -> Result<(), VideoError> {
    let bytes = std::fs::metadata(path).map_or(0, |m| m.len());
    if bytes <= MAX_IMAGE_BYTES {
        return Ok(());
    }
    Err(VideoError::Image {
        path: path.to_path_buf(),
        reason: format!("{bytes} bytes is more than the {MAX_IMAGE_BYTES} an image may have")
            .into(),
    })
}

/// Refuses a picture that declares more than [`MAX_IMAGE_PIXELS`] or
/// [`MAX_IMAGE_SIDE`], from its header alone.
pub(super) fn check_dimensions(path: &Path, w: u32, h: u32) -> Result<(), VideoError> {
    let pixels = w as u64 * h as u64;
    if pixels <= MAX_IMAGE_PIXELS && w.max(h) <= MAX_IMAGE_SIDE {
        return Ok(());
    }
    Err(VideoError::Image {
        path: path.to_path_buf(),
        reason: format!(
            "declares {w}x{h} pixels; vstyle reads pictures of up to {} megapixels and {MAX_IMAGE_SIDE} px a side",
            MAX_IMAGE_PIXELS / 1_000_000
        )
        .into(),
    })
}

/// The picture as it looks on a white page: transparent pixels become white, half
/// transparent ones half so (their hidden colour, often black, would otherwise show).
fn over_white(img: image::DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba8();
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let p = rgba.get_pixel(x, y);
        let a = p[3] as u32;
        image::Rgb([0, 1, 2].map(|c| ((p[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8))
    })
}

pub(super) fn read_image_ffmpeg(path: &Path) -> Result<RgbImage, VideoError> {
    let err = |reason: Cause| VideoError::Image {
        path: path.to_path_buf(),
        reason,
    };
    let (mut dec, facts) = Decoder::open(path).map_err(|e| match e {
        VideoError::Open { reason, .. } => err(reason),
        other => other,
    })?;
    check_dimensions(path, facts.width, facts.height)?;
    match dec.next_raw() {
        Some(Ok(())) => RgbConverter::new(facts.width, facts.height)
            .convert(&dec.frame)
            .map_err(err),
        Some(Err(VideoError::Decode { reason, .. })) => Err(err(reason)),
        Some(Err(other)) => Err(other),
        None => Err(err("no picture in file".into())),
    }
}

/// Reads an image file as RGB for a job (style images, saved frames); errors
/// name the file.
pub fn load_image(path: &Path) -> Result<RgbImage, Error> {
    read_image(path).map_err(|e| Error::Image {
        file: path.display().to_string(),
        source: match e {
            VideoError::NotFound { .. } => "not found".into(),
            VideoError::Image { reason, .. } => reason.within("not a readable image"),
            other => Cause::Video(Box::new(other)),
        },
    })
}

/// Writes an image atomically: PNG, or JPEG at quality 95, by extension.
pub fn write_image_atomic(path: &Path, img: &RgbImage) -> Result<(), Error> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let jpeg = match ext.as_str() {
        "png" => false,
        "jpg" | "jpeg" => true,
        _ => {
            return Err(Error::Output {
                file: path.display().to_string(),
                message: "unsupported image extension (use .png, .jpg or .jpeg)".into(),
            })
        }
    };
    write_atomic(path, |w| {
        if jpeg {
            image::codecs::jpeg::JpegEncoder::new_with_quality(w, 95).encode_image(img)
        } else {
            img.write_to(w, image::ImageFormat::Png)
        }
    })
}
