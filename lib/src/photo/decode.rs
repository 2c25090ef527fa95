//! Decoding in full, the only proof a file is whole: the sides checked from the header first (so
//! the user hears the real dimensions), the memory guard against decompression bombs, the JPEG end
//! marker looked for (the decoder would pad a cut scan), decoder errors turned into messages, and
//! an image with alpha sent on to be flattened.

use ::image::metadata::Orientation;
use ::image::{DynamicImage, ImageDecoder, ImageError};

use super::flatten::{encode_rgb_png, flatten_onto_white};
use super::limits::{human_size, memory_limits};
use super::{ImageLimits, invalid, msg};
use crate::domain::Invalid;

/// Walks a JPEG's marker structure from SOI and says whether it reaches EOI. Segments are skipped
/// by their length (so the EXIF thumbnail's own EOI is never mistaken for the image's), and
/// entropy-coded data is scanned for the next marker. Bytes after EOI are ignored, as decoders do.
pub(super) fn jpeg_reaches_end_marker(b: &[u8]) -> bool {
    let mut i = 2;
    while i + 1 < b.len() {
        if b[i] != 0xFF {
            // Entropy-coded data: only a marker can end it.
            match b[i..].iter().position(|&c| c == 0xFF) {
                Some(n) => i += n,
                None => return false,
            }
            continue;
        }
        match b[i + 1] {
            0xD9 => return true,
            // Fill byte before a marker.
            0xFF => i += 1,
            // Stuffed zero inside entropy data, RSTn and TEM: two bytes, no length.
            0x00 | 0x01 | 0xD0..=0xD8 => i += 2,
            _ => {
                let Some(len) = b.get(i + 2..i + 4) else {
                    return false;
                };
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                if len < 2 {
                    return false;
                }
                i += 2 + len;
            }
        }
    }
    false
}

pub(super) fn decode_error(e: ImageError) -> Invalid {
    invalid(match e {
        ImageError::Limits(_) => msg::TOO_MUCH_MEMORY,
        ImageError::Unsupported(_) => msg::UNSUPPORTED_ENCODING,
        _ => msg::CORRUPT,
    })
}

pub(super) enum Checked {
    /// No alpha: the original bytes stand.
    Opaque { width: u32, height: u32 },
    /// Alpha flattened onto white, as an RGB PNG.
    Flattened {
        png: Vec<u8>,
        width: u32,
        height: u32,
    },
}

/// Checks the sides from the header, then decodes every pixel (the only proof the file is whole),
/// flattening the image if it has alpha.
pub(super) fn check_decoder(
    mut decoder: impl ImageDecoder,
    limits: &ImageLimits,
) -> Result<Checked, Invalid> {
    let (width, height) = decoder.dimensions();
    let sides = limits.min_side..=limits.max_side;
    if !sides.contains(&width) || !sides.contains(&height) {
        return Err(Invalid(format!(
            "图片宽和高都必须在 {} 到 {} 像素之间（当前 {width}×{height}）",
            limits.min_side, limits.max_side
        )));
    }
    let mut strict = memory_limits(limits);
    strict.max_image_width = Some(limits.max_side);
    strict.max_image_height = Some(limits.max_side);
    decoder.set_limits(strict).map_err(decode_error)?;
    if decoder.total_bytes() > limits.max_decoder_bytes {
        return Err(invalid(msg::TOO_MUCH_MEMORY));
    }

    let has_alpha = decoder.color_type().has_alpha();
    // Metadata is read only when the image is re-encoded, the only time it would be lost.
    let (icc, orientation) = if has_alpha {
        (
            decoder.icc_profile().ok().flatten(),
            decoder.orientation().unwrap_or(Orientation::NoTransforms),
        )
    } else {
        (None, Orientation::NoTransforms)
    };
    let image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    if !has_alpha {
        return Ok(Checked::Opaque { width, height });
    }

    let mut flat = DynamicImage::ImageRgb8(flatten_onto_white(image));
    flat.apply_orientation(orientation);
    let (width, height) = (flat.width(), flat.height());
    let png = encode_rgb_png(flat.as_bytes(), width, height, icc)?;
    if png.len() > limits.max_bytes {
        return Err(Invalid(format!(
            "图片去除透明背景后超过 {}，请换一张较小的图片或不带透明背景的图片",
            human_size(limits.max_bytes)
        )));
    }
    Ok(Checked::Flattened { png, width, height })
}

#[cfg(test)]
mod tests {
    use ::image::ImageFormat as Codec;

    use super::super::test_images::{encode, refusal, rgb, uri};
    use super::super::{parse_data_uri, parse_data_uri_with};
    use super::*;

    #[test]
    fn sides_from_360_to_2000_pixels_are_accepted_and_359_or_2001_refused() {
        let solid = |w, h| {
            uri(
                "image/png",
                &encode(&DynamicImage::new_rgb8(w, h), Codec::Png),
            )
        };
        for (w, h) in [(360, 360), (2000, 360), (360, 2000)] {
            let image = parse_data_uri(&solid(w, h)).unwrap();
            assert_eq!((image.width, image.height), (w, h));
        }
        for (w, h) in [(359, 800), (800, 359), (2001, 800), (800, 2001)] {
            assert_eq!(
                refusal(&solid(w, h)),
                format!("图片宽和高都必须在 360 到 2000 像素之间（当前 {w}×{h}）")
            );
        }
    }

    #[test]
    fn a_truncated_file_of_each_format_is_refused_as_corrupt() {
        for codec in [Codec::Png, Codec::Jpeg, Codec::WebP, Codec::Bmp] {
            let bytes = encode(&rgb(400, 400), codec);
            for keep in [bytes.len() / 2, bytes.len() - 16, 40] {
                let cut = &bytes[..keep];
                assert_eq!(
                    refusal(&uri("image/png", cut)),
                    msg::CORRUPT,
                    "{codec:?} cut to {keep} of {}",
                    bytes.len()
                );
            }
        }
    }

    #[test]
    fn a_jpeg_end_marker_inside_a_metadata_segment_does_not_hide_truncation() {
        let jpeg = encode(&rgb(400, 400), Codec::Jpeg);
        // An APP1 segment whose payload holds FF D9, as an EXIF thumbnail does.
        let mut with_thumb = jpeg[..2].to_vec();
        with_thumb.extend_from_slice(&[0xFF, 0xE1, 0, 8, b'E', b'x', 0xFF, 0xD8, 0xFF, 0xD9]);
        with_thumb.extend_from_slice(&jpeg[2..]);
        assert!(parse_data_uri(&uri("image/jpeg", &with_thumb)).is_ok());
        let cut = &with_thumb[..with_thumb.len() - 100];
        assert_eq!(refusal(&uri("image/jpeg", cut)), msg::CORRUPT);
        // Only the end marker missing is still a cut file.
        let cut = &with_thumb[..with_thumb.len() - 2];
        assert_eq!(refusal(&uri("image/jpeg", cut)), msg::CORRUPT);
    }

    #[test]
    fn bytes_after_a_jpeg_end_marker_are_kept_and_accepted() {
        let mut jpeg = encode(&rgb(400, 400), Codec::Jpeg);
        jpeg.extend_from_slice(b"\0\0trailer some cameras append");
        assert_eq!(
            parse_data_uri(&uri("image/jpeg", &jpeg)).unwrap().bytes,
            jpeg
        );
    }

    #[test]
    fn the_decoder_memory_guard_refuses_an_image_that_needs_too_much() {
        let png = encode(&rgb(400, 400), Codec::Png);
        let limits = ImageLimits {
            max_decoder_bytes: 400 * 400 * 3 - 1,
            ..ImageLimits::default()
        };
        let err = parse_data_uri_with(&uri("image/png", &png), &limits).unwrap_err();
        assert_eq!(err.0, msg::TOO_MUCH_MEMORY);
    }
}
