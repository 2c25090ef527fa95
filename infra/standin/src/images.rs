//! The input of an image-to-video task: its `img_url` (a data URI decoded, or a URL that is not
//! fetched), the width and height read from the image's header, and the output size that keeps
//! its aspect ratio at the tier's pixel count.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

use crate::routes::{ApiError, error};

const MAX_DATA_URI_BYTES: usize = 10 << 20;

pub(crate) enum ImageRef {
    /// Decoded bytes of a data URI.
    Inline(Vec<u8>),
    /// A public URL the stand-in does not fetch (it has no network).
    Remote,
}

pub(crate) fn parse_image_ref(img_url: &str) -> Result<ImageRef, ApiError> {
    let invalid = |message: &str| error(400, "InvalidParameter", message);
    let img_url = img_url.trim();
    if img_url.starts_with("http://") || img_url.starts_with("https://") {
        return Ok(ImageRef::Remote);
    }
    let Some(rest) = img_url.strip_prefix("data:") else {
        return Err(invalid(
            "The img_url must be an http(s) URL or a data URI (data:{MIME_type};base64,{base64_data}).",
        ));
    };
    if img_url.len() > MAX_DATA_URI_BYTES {
        return Err(invalid("The data URI is larger than 10485760 bytes."));
    }
    let Some((mime, data)) = rest.split_once(";base64,") else {
        return Err(invalid(
            "The data URI must be base64 encoded: data:{MIME_type};base64,{base64_data}",
        ));
    };
    let known = [
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/bmp",
        "image/webp",
    ];
    if !known.contains(&mime.trim().to_ascii_lowercase().as_str()) {
        return Err(invalid(
            "The image format is not supported: use JPEG, PNG, BMP or WEBP.",
        ));
    }
    let data = data.trim();
    STANDARD
        .decode(data)
        .or_else(|_| STANDARD_NO_PAD.decode(data))
        .map(ImageRef::Inline)
        .map_err(|_| invalid("The base64 data of the data URI cannot be decoded."))
}

/// The output size for an image-to-video task: the image's aspect ratio at the tier's pixel
/// count (even sides), plus the reason the task must fail when the image is unusable.
pub(crate) fn i2v_size(resolution: &str, image: &ImageRef) -> ((u32, u32), Option<&'static str>) {
    let pixels: f64 = match resolution {
        "480P" => 832.0 * 480.0,
        "1080P" => 1920.0 * 1080.0,
        _ => 1280.0 * 720.0,
    };
    let (aspect, problem) = match image {
        // No network here: assume the common 16:9.
        ImageRef::Remote => (16.0 / 9.0, None),
        ImageRef::Inline(bytes) => match image_dimensions(bytes) {
            None => (16.0 / 9.0, Some("The image cannot be decoded.")),
            Some((w, h)) if !(360..=2000).contains(&w) || !(360..=2000).contains(&h) => (
                16.0 / 9.0,
                Some("The image width and height must be within [360, 2000] pixels."),
            ),
            Some((w, h)) => (f64::from(w) / f64::from(h), None),
        },
    };
    let aspect = aspect.clamp(0.25, 4.0);
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(16);
    (
        (
            even((pixels * aspect).sqrt()),
            even((pixels / aspect).sqrt()),
        ),
        problem,
    )
}

/// Width and height from the header of a PNG, JPEG, GIF, BMP or WebP image.
pub fn image_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le32 = |i: usize| Some(i32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le24 = |i: usize| {
        Some(u32::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            0,
        ]))
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"BM") {
        return Some((le32(18)?.unsigned_abs(), le32(22)?.unsigned_abs()));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8X" => Some((1 + le24(24)?, 1 + le24(27)?)),
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some((1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff)))
            }
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        while i + 3 < b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            match marker {
                0xff => i += 1,
                0x01 | 0xd0..=0xd7 => i += 2,
                0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                    return Some((be16(i + 7)?, be16(i + 5)?));
                }
                _ => i += 2 + be16(i + 2)? as usize,
            }
        }
    }
    None
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_headers_give_their_dimensions() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(image_dimensions(&png), Some((640, 480)));

        // SOI, an APP0 segment of 16 bytes, then SOF0 with height 300 and width 400.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        jpeg.extend_from_slice(&[0; 14]);
        jpeg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0x2c, 0x01, 0x90, 0x03]);
        assert_eq!(image_dimensions(&jpeg), Some((400, 300)));

        assert_eq!(image_dimensions(b"not an image"), None);
    }

    #[test]
    fn image_to_video_keeps_the_aspect_ratio_at_the_tier_pixel_count() {
        let portrait = ImageRef::Inline({
            let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
            png.extend_from_slice(&600u32.to_be_bytes());
            png.extend_from_slice(&800u32.to_be_bytes());
            png
        });
        let ((w, h), problem) = i2v_size("480P", &portrait);
        assert!(problem.is_none());
        assert!(w % 2 == 0 && h % 2 == 0);
        assert!((f64::from(w) / f64::from(h) - 0.75).abs() < 0.01, "{w}x{h}");
        let pixels = f64::from(w * h);
        assert!((pixels / (832.0 * 480.0) - 1.0).abs() < 0.02, "{w}x{h}");
    }
}
