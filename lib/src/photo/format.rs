//! Which of DashScope's four formats an upload is: by the MIME type its Data URI declares, and by
//! the magic bytes that decide; and whether bytes that are none of the four are another well-known
//! image format, so the refusal can say "not supported" rather than "unrecognisable".

/// The four formats DashScope's image-to-video model accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
    Bmp,
}

impl ImageFormat {
    /// The canonical MIME type, as sent on to DashScope.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Bmp => "image/bmp",
        }
    }

    /// The file extension, without the dot, for storing the image.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Webp => "webp",
            Self::Bmp => "bmp",
        }
    }

    /// The format a Data URI's MIME type names, ignoring case; `image/jpg` is a common misspelling.
    pub fn from_mime(mime: &str) -> Option<Self> {
        const KNOWN: [(&str, ImageFormat); 5] = [
            ("image/png", ImageFormat::Png),
            ("image/jpeg", ImageFormat::Jpeg),
            ("image/jpg", ImageFormat::Jpeg),
            ("image/webp", ImageFormat::Webp),
            ("image/bmp", ImageFormat::Bmp),
        ];
        KNOWN
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(mime))
            .map(|&(_, format)| format)
    }

    /// The format the leading magic bytes announce, if it is one of the four.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Self::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else if bytes.starts_with(b"BM") {
            Some(Self::Bmp)
        } else {
            None
        }
    }
}

/// True when the bytes are a well-known image format other than the four, so the user can be told
/// "format not supported" rather than "unrecognisable".
pub(super) fn is_other_image_format(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64)];
    let trimmed = head.trim_ascii_start();
    head.starts_with(b"GIF87a")
        || head.starts_with(b"GIF89a")
        || head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(&[0, 0, 1, 0]) // ICO
        || (head.len() >= 12 && &head[4..8] == b"ftyp") // HEIC, AVIF
        || trimmed.starts_with(b"<svg")
        || trimmed.starts_with(b"<?xml")
}

#[cfg(test)]
mod tests {
    use ::image::ImageFormat as Codec;

    use super::super::msg;
    use super::super::parse_data_uri;
    use super::super::test_images::{encode, refusal, rgb, uri};
    use super::*;

    #[test]
    fn a_jpeg_is_accepted_whether_declared_as_jpeg_or_jpg_in_any_case() {
        let jpeg = encode(&rgb(800, 600), Codec::Jpeg);
        for mime in ["image/jpeg", "image/jpg", "IMAGE/JPEG", "Image/Jpg"] {
            let image = parse_data_uri(&uri(mime, &jpeg)).unwrap();
            assert_eq!(image.format, ImageFormat::Jpeg, "{mime}");
            assert_eq!((image.width, image.height), (800, 600));
            assert_eq!(image.bytes, jpeg);
            assert_eq!((image.mime(), image.extension()), ("image/jpeg", "jpg"));
        }
    }

    #[test]
    fn mime_types_other_than_the_four_formats_are_refused() {
        let png = encode(&rgb(400, 400), Codec::Png);
        for mime in [
            "image/gif",
            "image/svg+xml",
            "image/heic",
            "text/plain",
            "",
            "image/pngx",
        ] {
            assert_eq!(refusal(&uri(mime, &png)), msg::UNSUPPORTED_FORMAT, "{mime}");
        }
    }

    #[test]
    fn gif_or_svg_bytes_behind_an_allowed_mime_are_refused_as_unsupported() {
        for bytes in [
            &b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04"[..],
            b"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"400\"/>",
            b"<?xml version=\"1.0\"?><svg/>",
        ] {
            assert_eq!(refusal(&uri("image/png", bytes)), msg::UNSUPPORTED_FORMAT);
        }
    }

    #[test]
    fn bytes_that_are_no_image_are_refused_even_when_declared_png() {
        let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(refusal(&uri("image/png", &garbage)), msg::UNRECOGNISED);
        let mut fake_png = b"\x89PNG\r\n\x1a\n".to_vec();
        fake_png.extend_from_slice(&garbage);
        assert_eq!(refusal(&uri("image/png", &fake_png)), msg::CORRUPT);
    }

    #[test]
    fn the_real_format_wins_over_the_declared_one() {
        let png = encode(&rgb(400, 400), Codec::Png);
        let image = parse_data_uri(&uri("image/jpeg", &png)).unwrap();
        assert_eq!(image.format, ImageFormat::Png);
        assert_eq!(image.mime(), "image/png");
        assert!(image.to_data_uri().starts_with("data:image/png;base64,"));
    }
}
