//! The input image of an image-to-video job: the `img_base64` Data URI of `POST /api/v1/video/create`
//! parsed, checked against everything DashScope's `wan2.2-i2v-flash` would refuse, and made
//! acceptable where that is safe, before anything is stored or paid for.
//!
//! DashScope takes PNG (without alpha), JPEG, WEBP or BMP, at most 10 MB, each side 360 to 2000 px.
//! A file that passes here has been decoded in full, so a corrupt or truncated upload fails now with
//! a clear message instead of as a billed, failed task later.
//!
//! Policies:
//! - The bytes decide the format. The declared MIME must name one of the four formats, but when the
//!   bytes are another of the four (a `.jpg` that is really a PNG is common on phones), the image is
//!   accepted under its real format, which is what [`InputImage::mime`] reports.
//! - An image with an alpha channel is flattened onto white and re-encoded as an RGB PNG; any other
//!   image keeps its original bytes.
//! - Animations (APNG, animated WEBP) are refused: the model takes a still, and a user who sends a
//!   moving sticker would not get what they expect from its first frame.

use std::fmt;
use std::io::Cursor;

use ::image::codecs::bmp::BmpDecoder;
use ::image::codecs::jpeg::JpegDecoder;
use ::image::codecs::png::{CompressionType, FilterType, PngDecoder, PngEncoder};
use ::image::codecs::webp::WebPDecoder;
use ::image::metadata::Orientation;
use ::image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageError, RgbImage};
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::domain::Invalid;

const MIB: usize = 1024 * 1024;

/// Messages the mini-program shows its users; none of them echoes the upload back.
mod msg {
    pub const NOT_DATA_URI: &str =
        "img_base64 必须是完整的 Data URI，例如 data:image/png;base64,...";
    pub const NOT_BASE64: &str =
        "img_base64 必须是 base64 编码的 Data URI，例如 data:image/png;base64,...";
    pub const EMPTY: &str = "img_base64 中没有图片数据：逗号后面应是图片的 base64 内容";
    pub const BAD_BASE64: &str =
        "img_base64 不是有效的 base64：只能包含 A-Z、a-z、0-9、+、/ 和末尾的 =";
    pub const UNSUPPORTED_FORMAT: &str = "图片格式不支持，请使用 PNG、JPEG、WEBP 或 BMP";
    pub const UNRECOGNISED: &str = "无法识别图片内容，请使用 PNG、JPEG、WEBP 或 BMP 图片";
    pub const ANIMATED: &str = "不支持动图，请使用静态的 PNG、JPEG、WEBP 或 BMP 图片";
    pub const CORRUPT: &str = "图片已损坏，无法解码";
    pub const UNSUPPORTED_ENCODING: &str =
        "图片的编码方式不受支持，请另存为普通的 PNG 或 JPEG 后重试";
    pub const TOO_MUCH_MEMORY: &str = "图片解码所需内存过大，请换一张较小的图片";
}

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
fn is_other_image_format(bytes: &[u8]) -> bool {
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

/// What an input image may be. [`Default`] is DashScope's published limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageLimits {
    /// The most bytes the decoded file may hold, and the flattened PNG too.
    pub max_bytes: usize,
    /// The least each side may measure, in pixels.
    pub min_side: u32,
    /// The most each side may measure, in pixels.
    pub max_side: u32,
    /// The most memory a decoder may claim, the decoded pixels included: the guard against
    /// decompression bombs. At the default sides a 16-bit RGBA image needs 32 MB.
    pub max_decoder_bytes: u64,
}

impl ImageLimits {
    pub const DEFAULT_MAX_BYTES: usize = 10 * MIB;
    pub const DEFAULT_MIN_SIDE: u32 = 360;
    pub const DEFAULT_MAX_SIDE: u32 = 2000;
    pub const DEFAULT_MAX_DECODER_BYTES: u64 = 128 * MIB as u64;
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            min_side: Self::DEFAULT_MIN_SIDE,
            max_side: Self::DEFAULT_MAX_SIDE,
            max_decoder_bytes: Self::DEFAULT_MAX_DECODER_BYTES,
        }
    }
}

/// An image DashScope will accept: one of the four formats, within the limits, fully decodable,
/// without alpha.
#[derive(Clone, PartialEq, Eq)]
pub struct InputImage {
    /// The real format of `bytes`, whatever the Data URI declared.
    pub format: ImageFormat,
    /// The file: the uploaded bytes untouched, or the flattened PNG when `flattened`.
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// True when the upload had an alpha channel and `bytes` is its flattening onto white.
    pub flattened: bool,
}

impl InputImage {
    pub fn mime(&self) -> &'static str {
        self.format.mime()
    }

    pub fn extension(&self) -> &'static str {
        self.format.extension()
    }

    /// The image as a `data:<mime>;base64,...` URI, the form DashScope takes inline.
    pub fn to_data_uri(&self) -> String {
        data_uri_of(self.format, &self.bytes)
    }
}

impl fmt::Debug for InputImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never megabytes of pixels in a log line.
        f.debug_struct("InputImage")
            .field("format", &self.format)
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .field("flattened", &self.flattened)
            .finish()
    }
}

/// The data URI of image bytes this module validated earlier (and a store kept since); `None`
/// when the bytes are not one of the four formats.
pub fn data_uri(bytes: &[u8]) -> Option<String> {
    ImageFormat::sniff(bytes).map(|f| data_uri_of(f, bytes))
}

fn data_uri_of(format: ImageFormat, bytes: &[u8]) -> String {
    let mime = format.mime();
    let mut uri =
        String::with_capacity("data:;base64,".len() + mime.len() + bytes.len().div_ceil(3) * 4);
    uri.push_str("data:");
    uri.push_str(mime);
    uri.push_str(";base64,");
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut uri);
    uri
}

/// [`parse_data_uri_with`] under DashScope's limits ([`ImageLimits::default`]).
pub fn parse_data_uri(s: &str) -> Result<InputImage, Invalid> {
    parse_data_uri_with(s, &ImageLimits::default())
}

/// Parses and checks the `img_base64` field: a `data:<mime>;base64,<data>` URI.
///
/// Fails, with a message the user can act on, when the text is not such a URI; the MIME type is not
/// PNG, JPEG, WEBP or BMP; the base64 is invalid; the file is over `limits.max_bytes`; the bytes are
/// not one of the four formats; a side is outside `limits.min_side..=limits.max_side`; the image is
/// animated; or it does not decode in full within `limits.max_decoder_bytes`. An image with alpha is
/// flattened onto white, and fails if the resulting PNG is over `limits.max_bytes`.
pub fn parse_data_uri_with(s: &str, limits: &ImageLimits) -> Result<InputImage, Invalid> {
    let payload = split_data_uri(s)?;
    let bytes = decode_base64(payload, limits.max_bytes)?;
    let format = ImageFormat::sniff(&bytes).ok_or_else(|| {
        invalid(if is_other_image_format(&bytes) {
            msg::UNSUPPORTED_FORMAT
        } else {
            msg::UNRECOGNISED
        })
    })?;
    let checked = match format {
        ImageFormat::Png => {
            let decoder = PngDecoder::with_limits(Cursor::new(&bytes[..]), memory_limits(limits))
                .map_err(decode_error)?;
            if decoder.is_apng().map_err(decode_error)? {
                return Err(invalid(msg::ANIMATED));
            }
            check_decoder(decoder, limits)?
        }
        ImageFormat::Jpeg => {
            // The JPEG decoder pads a truncated scan with grey instead of failing, as browsers do;
            // DashScope's decoder refuses such a file, so the end marker is looked for first.
            if !jpeg_reaches_end_marker(&bytes) {
                return Err(invalid(msg::CORRUPT));
            }
            check_decoder(
                JpegDecoder::new(Cursor::new(&bytes[..])).map_err(decode_error)?,
                limits,
            )?
        }
        ImageFormat::Webp => {
            let decoder = WebPDecoder::new(Cursor::new(&bytes[..])).map_err(decode_error)?;
            if decoder.has_animation() {
                return Err(invalid(msg::ANIMATED));
            }
            check_decoder(decoder, limits)?
        }
        ImageFormat::Bmp => check_decoder(
            BmpDecoder::new(Cursor::new(&bytes[..])).map_err(decode_error)?,
            limits,
        )?,
    };
    Ok(match checked {
        Checked::Opaque { width, height } => InputImage {
            format,
            bytes,
            width,
            height,
            flattened: false,
        },
        Checked::Flattened { png, width, height } => InputImage {
            format: ImageFormat::Png,
            bytes: png,
            width,
            height,
            flattened: true,
        },
    })
}

fn invalid(message: &str) -> Invalid {
    Invalid(message.to_owned())
}

/// The base64 part of a `data:<mime>;base64,<data>` URI whose MIME is one of the four formats.
fn split_data_uri(s: &str) -> Result<&str, Invalid> {
    let s = s.trim_ascii_start();
    let b = s.as_bytes();
    if b.len() < 5 || !b[..5].eq_ignore_ascii_case(b"data:") {
        return Err(invalid(msg::NOT_DATA_URI));
    }
    // The header is a few dozen bytes; looking for its comma only near the start keeps a huge
    // string without one from being scanned to the end.
    const MAX_HEADER: usize = 64;
    let rest = &b[5..];
    let comma = rest
        .iter()
        .take(MAX_HEADER)
        .position(|&c| c == b',')
        .ok_or_else(|| invalid(msg::NOT_DATA_URI))?;
    let header = &rest[..comma];
    // `;base64` must be the only parameter: `data:image/png,...` is percent-encoded, not base64.
    let Some(semi) = header.iter().position(|&c| c == b';') else {
        return Err(invalid(msg::NOT_BASE64));
    };
    if !header[semi + 1..].eq_ignore_ascii_case(b"base64") {
        return Err(invalid(msg::NOT_BASE64));
    }
    let mime =
        std::str::from_utf8(&header[..semi]).map_err(|_| invalid(msg::UNSUPPORTED_FORMAT))?;
    ImageFormat::from_mime(mime).ok_or_else(|| invalid(msg::UNSUPPORTED_FORMAT))?;
    // Everything up to the comma is ASCII, so this slice is on a character boundary.
    Ok(&s[5 + comma + 1..])
}

/// Standard alphabet; padding optional since some encoders drop it; trailing bits tolerated since
/// the decoder that follows is the real judge of the bytes.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes the payload, refusing it by its length alone when it cannot fit in `max_bytes`.
fn decode_base64(payload: &str, max_bytes: usize) -> Result<Vec<u8>, Invalid> {
    let too_large = || {
        Invalid(format!(
            "图片过大：解码后不能超过 {}",
            human_size(max_bytes)
        ))
    };
    let max_encoded = max_bytes.div_ceil(3) * 4;
    // Line breaks every 64 or 76 characters add about 3%; anything far beyond is refused before
    // a single byte is examined.
    if payload.len() > max_encoded + max_encoded / 8 + 16 {
        return Err(too_large());
    }

    // White space around the data is never a mangled `+`; only the inside is looked at for that.
    let raw = payload.as_bytes().trim_ascii();
    let (mut spaces, mut other_ws, mut plus) = (0usize, 0usize, false);
    for &c in raw {
        match c {
            b' ' => spaces += 1,
            b'\t' | b'\n' | b'\r' | b'\x0c' => other_ws += 1,
            b'+' => plus = true,
            _ => {}
        }
    }
    let cleaned: Vec<u8>;
    let data: &[u8] = if spaces + other_ws == 0 {
        raw
    } else {
        // A form body sent urlencoded without escaping `+` arrives with spaces where the `+` were.
        // Real base64 of an image this size without a single `+` is astronomically unlikely, so
        // spaces with no `+` are taken as that mistake and mended; otherwise white space is
        // ignorable line wrapping.
        let spaces_are_plus = spaces > 0 && !plus;
        cleaned = raw
            .iter()
            .filter_map(|&c| match c {
                b' ' if spaces_are_plus => Some(b'+'),
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => None,
                _ => Some(c),
            })
            .collect();
        &cleaned
    };

    if data.is_empty() {
        return Err(invalid(msg::EMPTY));
    }
    let unpadded = data.len()
        - data
            .iter()
            .rev()
            .take(2)
            .take_while(|&&c| c == b'=')
            .count();
    if unpadded * 3 / 4 > max_bytes {
        return Err(too_large());
    }
    BASE64.decode(data).map_err(|_| invalid(msg::BAD_BASE64))
}

/// Walks a JPEG's marker structure from SOI and says whether it reaches EOI. Segments are skipped
/// by their length (so the EXIF thumbnail's own EOI is never mistaken for the image's), and
/// entropy-coded data is scanned for the next marker. Bytes after EOI are ignored, as decoders do.
fn jpeg_reaches_end_marker(b: &[u8]) -> bool {
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

fn human_size(bytes: usize) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MB", bytes / MIB)
    } else if bytes.is_multiple_of(1024) {
        format!("{} KB", bytes / 1024)
    } else {
        format!("{bytes} 字节")
    }
}

/// Decoder limits for the memory guard only: the sides are checked by hand, so the user hears
/// the real dimensions rather than a generic refusal.
fn memory_limits(limits: &ImageLimits) -> ::image::Limits {
    let mut l = ::image::Limits::default();
    l.max_alloc = Some(limits.max_decoder_bytes);
    l
}

fn decode_error(e: ImageError) -> Invalid {
    invalid(match e {
        ImageError::Limits(_) => msg::TOO_MUCH_MEMORY,
        ImageError::Unsupported(_) => msg::UNSUPPORTED_ENCODING,
        _ => msg::CORRUPT,
    })
}

enum Checked {
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
fn check_decoder(mut decoder: impl ImageDecoder, limits: &ImageLimits) -> Result<Checked, Invalid> {
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

/// Composites each pixel over opaque white (in sRGB values, as viewers do) and drops the alpha.
fn flatten_onto_white(image: DynamicImage) -> RgbImage {
    let (width, height) = (image.width(), image.height());
    // 8-bit RGBA (PNG, WEBP, BMP) is taken as is; other layouts convert first.
    let mut buf = image.into_rgba8().into_raw();
    // Pixel i moves from 4i to 3i, never ahead of where it is read, so one buffer serves both and
    // no second 16 MB allocation is needed.
    let pixels = buf.len() / 4;
    for i in 0..pixels {
        let a = u32::from(buf[4 * i + 3]);
        for k in 0..3 {
            let c = u32::from(buf[4 * i + k]);
            buf[3 * i + k] = ((c * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    buf.truncate(pixels * 3);
    RgbImage::from_raw(width, height, buf).expect("three bytes per pixel")
}

fn encode_rgb_png(
    rgb: &[u8],
    width: u32,
    height: u32,
    icc: Option<Vec<u8>>,
) -> Result<Vec<u8>, Invalid> {
    let mut png = Vec::with_capacity(rgb.len() / 2);
    // Fast deflate: this runs inside a request that must answer within a second.
    let mut encoder =
        PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Adaptive);
    if let Some(icc) = icc {
        // Keeps wide-gamut colours (Display P3 screenshots) as they were; a refusal only costs that.
        let _ = encoder.set_icc_profile(icc);
    }
    encoder
        .write_image(rgb, width, height, ExtendedColorType::Rgb8)
        .map_err(decode_error)?;
    Ok(png)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::image::{ImageFormat as Codec, Rgb, Rgba, RgbaImage};
    use base64::engine::general_purpose::STANDARD;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A photo-like RGB image: smooth gradients, so encoders produce realistic sizes.
    fn rgb(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) / 8 % 256) as u8])
        }))
    }

    /// Left half fully transparent, right half opaque red, bottom-left pixel half-transparent black.
    fn rgba(width: u32, height: u32) -> DynamicImage {
        DynamicImage::ImageRgba8(RgbaImage::from_fn(width, height, |x, y| {
            if x == 0 && y == height - 1 {
                Rgba([0, 0, 0, 128])
            } else if x < width / 2 {
                Rgba([10, 200, 30, 0])
            } else {
                Rgba([255, 0, 0, 255])
            }
        }))
    }

    fn encode(image: &DynamicImage, codec: Codec) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, codec).unwrap();
        out.into_inner()
    }

    fn uri(mime: &str, bytes: &[u8]) -> String {
        format!("data:{mime};base64,{}", STANDARD.encode(bytes))
    }

    fn refusal(s: &str) -> String {
        parse_data_uri(s).unwrap_err().0
    }

    fn decode(bytes: &[u8]) -> DynamicImage {
        ::image::load_from_memory(bytes).unwrap()
    }

    /// A chunk with its CRC, for hand-made PNG variants.
    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut crc = !0u32;
        for &b in kind.iter().chain(data) {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(kind);
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&(!crc).to_be_bytes());
        chunk
    }

    #[test]
    fn an_opaque_png_is_accepted_with_its_original_bytes() {
        let png = encode(&rgb(640, 480), Codec::Png);
        let image = parse_data_uri(&uri("image/png", &png)).unwrap();
        assert_eq!(image.format, ImageFormat::Png);
        assert_eq!((image.width, image.height), (640, 480));
        assert!(!image.flattened);
        assert_eq!(image.bytes, png);
        assert_eq!((image.mime(), image.extension()), ("image/png", "png"));
    }

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
    fn an_opaque_lossless_webp_is_accepted_with_its_original_bytes() {
        let webp = encode(&rgb(500, 700), Codec::WebP);
        let image = parse_data_uri(&uri("image/webp", &webp)).unwrap();
        assert_eq!(image.format, ImageFormat::Webp);
        assert_eq!((image.width, image.height), (500, 700));
        assert_eq!(image.bytes, webp);
        assert!(!image.flattened);
    }

    #[test]
    fn an_opaque_bmp_is_accepted_with_its_original_bytes() {
        let bmp = encode(&rgb(400, 360), Codec::Bmp);
        let image = parse_data_uri(&uri("image/bmp", &bmp)).unwrap();
        assert_eq!(image.format, ImageFormat::Bmp);
        assert_eq!((image.width, image.height), (400, 360));
        assert_eq!(image.bytes, bmp);
    }

    #[test]
    fn a_png_with_transparency_is_flattened_onto_white_into_an_rgb_png() {
        let png = encode(&rgba(400, 400), Codec::Png);
        let image = parse_data_uri(&uri("image/png", &png)).unwrap();
        assert!(image.flattened);
        assert_eq!(image.format, ImageFormat::Png);
        assert_eq!((image.width, image.height), (400, 400));
        let flat = decode(&image.bytes);
        assert_eq!(
            flat.color(),
            ::image::ColorType::Rgb8,
            "no alpha channel left"
        );
        let flat = flat.to_rgb8();
        assert_eq!(
            flat.get_pixel(10, 10),
            &Rgb([255, 255, 255]),
            "transparent became white"
        );
        assert_eq!(
            flat.get_pixel(300, 10),
            &Rgb([255, 0, 0]),
            "opaque kept its colour"
        );
        assert_eq!(
            flat.get_pixel(0, 399),
            &Rgb([127, 127, 127]),
            "half black over white"
        );
    }

    #[test]
    fn a_webp_or_bmp_with_alpha_is_flattened_into_a_png() {
        for (codec, mime) in [(Codec::WebP, "image/webp"), (Codec::Bmp, "image/bmp")] {
            let bytes = encode(&rgba(400, 400), codec);
            let image = parse_data_uri(&uri(mime, &bytes)).unwrap();
            assert!(image.flattened, "{mime}");
            assert_eq!(image.format, ImageFormat::Png, "{mime}");
            assert_eq!(image.mime(), "image/png");
            let flat = decode(&image.bytes);
            assert!(!flat.color().has_alpha(), "{mime}");
            assert_eq!(
                flat.to_rgb8().get_pixel(10, 10),
                &Rgb([255, 255, 255]),
                "{mime}"
            );
        }
    }

    #[test]
    fn grey_and_16_bit_pngs_with_alpha_are_flattened_too() {
        let source = rgba(400, 400);
        for image in [
            DynamicImage::ImageLumaA8(source.to_luma_alpha8()),
            DynamicImage::ImageRgba16(source.to_rgba16()),
        ] {
            let parsed = parse_data_uri(&uri("image/png", &encode(&image, Codec::Png))).unwrap();
            assert!(parsed.flattened, "{:?}", image.color());
            let flat = decode(&parsed.bytes);
            assert_eq!(flat.color(), ::image::ColorType::Rgb8);
            assert_eq!(flat.to_rgb8().get_pixel(10, 10), &Rgb([255, 255, 255]));
        }
    }

    #[test]
    fn grey_and_16_bit_pngs_without_alpha_keep_their_bytes() {
        let source = rgb(400, 400);
        for image in [
            DynamicImage::ImageLuma8(source.to_luma8()),
            DynamicImage::ImageRgb16(source.to_rgb16()),
        ] {
            let png = encode(&image, Codec::Png);
            let parsed = parse_data_uri(&uri("image/png", &png)).unwrap();
            assert!(!parsed.flattened);
            assert_eq!(parsed.bytes, png);
        }
    }

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
    fn the_default_limits_are_dashscopes() {
        let limits = ImageLimits::default();
        assert_eq!(limits.max_bytes, 10 * 1024 * 1024);
        assert_eq!((limits.min_side, limits.max_side), (360, 2000));
    }

    #[test]
    fn a_file_over_the_byte_limit_is_refused() {
        let png = encode(&rgb(400, 400), Codec::Png);
        let limits = ImageLimits {
            max_bytes: png.len() - 1,
            ..ImageLimits::default()
        };
        let err = parse_data_uri_with(&uri("image/png", &png), &limits).unwrap_err();
        assert_eq!(
            err.0,
            format!("图片过大：解码后不能超过 {} 字节", png.len() - 1)
        );
        let limits = ImageLimits {
            max_bytes: png.len(),
            ..ImageLimits::default()
        };
        assert!(parse_data_uri_with(&uri("image/png", &png), &limits).is_ok());
        let limits = ImageLimits {
            max_bytes: 1024,
            ..ImageLimits::default()
        };
        let err = parse_data_uri_with(&uri("image/png", &png), &limits).unwrap_err();
        assert_eq!(err.0, "图片过大：解码后不能超过 1 KB");
    }

    #[test]
    fn a_huge_string_is_refused_by_its_length_under_the_default_limit() {
        // 11 MiB of valid base64 decodes past 10 MiB; its length alone says so.
        let huge = format!(
            "data:image/png;base64,{}",
            "A".repeat(11 * 1024 * 1024 / 3 * 4)
        );
        assert_eq!(refusal(&huge), "图片过大：解码后不能超过 10 MB");
        // Line breaks cannot smuggle it through.
        let wrapped = format!(
            "data:image/png;base64,{}",
            "AAAA\n".repeat(11 * 1024 * 1024 / 3)
        );
        assert_eq!(refusal(&wrapped), "图片过大：解码后不能超过 10 MB");
    }

    #[test]
    fn anything_but_a_full_data_uri_is_refused() {
        let b64 = STANDARD.encode(encode(&rgb(400, 400), Codec::Png));
        for bad in [
            String::new(),
            b64.clone(),
            format!("image/png;base64,{b64}"),
            format!("data:image/png;base64{b64}"),
            format!("url(data:image/png;base64,{b64})"),
            "data:".into(),
        ] {
            assert_eq!(refusal(&bad), msg::NOT_DATA_URI, "{:.40}", bad);
        }
    }

    #[test]
    fn a_data_uri_without_base64_encoding_is_refused() {
        for bad in [
            "data:image/png,%89PNG",
            "data:image/png;charset=utf-8;base64,iVBORw0KGgo=",
            "data:image/png;base64x,iVBORw0KGgo=",
        ] {
            assert_eq!(refusal(bad), msg::NOT_BASE64, "{bad}");
        }
    }

    #[test]
    fn the_scheme_and_base64_marker_are_case_insensitive_and_leading_space_is_ignored() {
        let b64 = STANDARD.encode(encode(&rgb(400, 400), Codec::Png));
        assert!(parse_data_uri(&format!("DATA:image/png;BASE64,{b64}")).is_ok());
        assert!(parse_data_uri(&format!("  \n data:image/png;base64,{b64}")).is_ok());
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
    fn invalid_base64_is_refused() {
        for bad in [
            "data:image/png;base64,iVBORw0KGgo*",
            "data:image/png;base64,iVBORw0K-_Go",
            "data:image/png;base64,iVBORw0KGgo====",
            "data:image/png;base64,i",
            "data:image/png;base64,%69VBORw0KGgo",
            "data:image/png;base64,iVBORw0KGgo=AAAA",
            "data:image/png;base64,iVBORw0KGgo\u{3000}",
        ] {
            assert_eq!(refusal(bad), msg::BAD_BASE64, "{bad}");
        }
    }

    #[test]
    fn an_empty_payload_is_refused() {
        assert_eq!(refusal("data:image/png;base64,"), msg::EMPTY);
        assert_eq!(refusal("data:image/png;base64, \r\n"), msg::EMPTY);
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
    fn the_real_format_wins_over_the_declared_one() {
        let png = encode(&rgb(400, 400), Codec::Png);
        let image = parse_data_uri(&uri("image/jpeg", &png)).unwrap();
        assert_eq!(image.format, ImageFormat::Png);
        assert_eq!(image.mime(), "image/png");
        assert!(image.to_data_uri().starts_with("data:image/png;base64,"));
    }

    #[test]
    fn white_space_inside_the_base64_and_missing_padding_are_tolerated() {
        let jpeg = encode(&rgb(401, 400), Codec::Jpeg);
        let b64 = STANDARD.encode(&jpeg);
        let wrapped: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|line| std::str::from_utf8(line).unwrap())
            .collect();
        for payload in [
            wrapped.join("\r\n"),
            wrapped.join("\n"),
            wrapped.join("\t \n"),
            format!("{}\n", b64.trim_end_matches('=')),
        ] {
            let image = parse_data_uri(&format!("data:image/jpeg;base64,{payload}")).unwrap();
            assert_eq!(image.bytes, jpeg);
        }
    }

    #[test]
    fn plus_signs_turned_into_spaces_by_form_decoding_are_mended() {
        let png = encode(&rgb(400, 400), Codec::Png);
        let b64 = STANDARD.encode(&png);
        assert!(b64.contains('+'), "the test needs a payload with `+`");
        let mangled = format!("data:image/png;base64,{}", b64.replace('+', " "));
        assert_eq!(parse_data_uri(&mangled).unwrap().bytes, png);
    }

    #[test]
    fn an_animated_png_is_refused() {
        let png = encode(&rgb(400, 400), Codec::Png);
        // acTL right after IHDR (8-byte signature + 25-byte IHDR chunk): one frame, loop forever.
        let mut apng = png[..33].to_vec();
        apng.extend(png_chunk(b"acTL", &[0, 0, 0, 1, 0, 0, 0, 0]));
        apng.extend_from_slice(&png[33..]);
        assert_eq!(refusal(&uri("image/png", &apng)), msg::ANIMATED);
    }

    #[test]
    fn an_animated_webp_is_refused() {
        let still = encode(&rgb(400, 400), Codec::WebP);
        assert_eq!(
            &still[12..16],
            b"VP8L",
            "the encoder writes a simple lossless file"
        );
        let frame = &still[12..];
        let side = 399u32.to_le_bytes();
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut c = kind.to_vec();
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        // VP8X with the animation flag, ANIM, then one ANMF frame holding the still's VP8L chunk.
        let mut vp8x = vec![0x02, 0, 0, 0];
        vp8x.extend_from_slice(&side[..3]);
        vp8x.extend_from_slice(&side[..3]);
        let mut anmf = vec![0; 6];
        anmf.extend_from_slice(&side[..3]);
        anmf.extend_from_slice(&side[..3]);
        anmf.extend_from_slice(&[100, 0, 0, 0]);
        anmf.extend_from_slice(frame);
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", &vp8x));
        body.extend(chunk(b"ANIM", &[255, 255, 255, 255, 0, 0]));
        body.extend(chunk(b"ANMF", &anmf));
        let mut animated = b"RIFF".to_vec();
        animated.extend_from_slice(&(body.len() as u32).to_le_bytes());
        animated.extend(body);
        assert_eq!(refusal(&uri("image/webp", &animated)), msg::ANIMATED);
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

    #[test]
    fn a_data_uri_round_trips() {
        for codec in [Codec::Png, Codec::Jpeg, Codec::WebP, Codec::Bmp] {
            let image = parse_data_uri(&uri("image/png", &encode(&rgb(400, 400), codec))).unwrap();
            assert_eq!(parse_data_uri(&image.to_data_uri()).unwrap(), image);
        }
    }

    #[test]
    fn debug_output_shows_the_size_not_the_bytes() {
        let image = parse_data_uri(&uri("image/png", &encode(&rgb(400, 400), Codec::Png))).unwrap();
        let debug = format!("{image:?}");
        assert!(debug.contains("bytes>"), "{debug}");
        assert!(debug.len() < 200, "{debug}");
    }

    #[test]
    fn refusals_never_echo_the_upload() {
        let secret = "U0VDUkVUU0VDUkVUU0VDUkVU";
        for bad in [
            secret.to_owned(),
            format!("data:image/gif;base64,{secret}"),
            format!("data:image/png;base64,{secret}*"),
            format!("data:image/png;base64,{secret}"),
        ] {
            let err = refusal(&bad);
            assert!(!err.contains(secret) && !err.contains("U0VD"), "{err}");
        }
    }

    #[test]
    fn mangled_uploads_are_refused_without_panicking() {
        let seeds: Vec<Vec<u8>> = [Codec::Png, Codec::Jpeg, Codec::WebP, Codec::Bmp]
            .into_iter()
            .map(|codec| encode(&rgba(360, 360), codec))
            .chain([encode(&rgb(360, 360), Codec::Jpeg)])
            .collect();
        let mut rng = StdRng::seed_from_u64(0x5eed);
        for round in 0..200 {
            let mut bytes = seeds[round % seeds.len()].clone();
            for _ in 0..rng.random_range(1..8) {
                let at = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => bytes[at] = rng.random(),
                    1 => bytes.truncate(at.max(1)),
                    _ => bytes[at] ^= 1 << rng.random_range(0..8),
                }
            }
            let _ = parse_data_uri(&uri("image/png", &bytes));
        }
        for _ in 0..2000 {
            let len = rng.random_range(0..80);
            let text: String = (0..len)
                .map(|_| {
                    let pool = "data:image/png;base64,=+/ \n\u{3000}é,;AZaz09";
                    pool.chars()
                        .nth(rng.random_range(0..pool.chars().count()))
                        .unwrap()
                })
                .collect();
            let _ = parse_data_uri(&text);
        }
    }

    /// Prints how long a 2000×2000 upload takes to validate. Run it in an optimised build:
    /// `cargo test --release -p emo image::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check; run it by hand in --release"]
    fn timing_of_a_2000_px_upload_in_each_format() {
        let mut rng = StdRng::seed_from_u64(7);
        // Gradients plus sensor-like noise, so the encoders produce photo-sized files.
        let mut noisy = |alpha: bool| {
            RgbaImage::from_fn(2000, 2000, |x, y| {
                let n: u8 = rng.random_range(0..8);
                let a = if alpha && x < 500 {
                    (y % 256) as u8
                } else {
                    255
                };
                let v = |g: u32| (g % 240) as u8 + n;
                Rgba([v(x / 8), v(y / 8), v((x + y) / 16), a])
            })
        };
        let photo = DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(noisy(false)).to_rgb8());
        let cutout = DynamicImage::ImageRgba8(noisy(true));
        let mut jpeg = Vec::new();
        ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&photo)
            .unwrap();
        let cases = [
            ("JPEG q90", uri("image/jpeg", &jpeg)),
            ("PNG RGB", uri("image/png", &encode(&photo, Codec::Png))),
            (
                "PNG RGBA (flattened)",
                uri("image/png", &encode(&cutout, Codec::Png)),
            ),
            (
                "WEBP lossless RGB",
                uri("image/webp", &encode(&photo, Codec::WebP)),
            ),
        ];
        for (name, data_uri) in cases {
            let start = std::time::Instant::now();
            let mut image = None;
            for _ in 0..5 {
                image = Some(parse_data_uri(&data_uri).unwrap());
            }
            let image = image.unwrap();
            println!(
                "{name}: {:.1} MB in, {:.1} MB out, {:?} per validation",
                data_uri.len() as f64 / MIB as f64,
                image.bytes.len() as f64 / MIB as f64,
                start.elapsed() / 5
            );
        }
    }
}
