//! The input image of an image-to-video job: the `img_base64` Data URI of `POST /api/v1/video/create`
//! parsed, checked against everything DashScope's `wan2.2-i2v-flash` would refuse, and made
//! acceptable where that is safe, before anything is stored or paid for.
//!
//! DashScope takes PNG (without alpha), JPEG, WEBP or BMP, at most 10 MB, each side 360 to 2000 px,
//! inline as a data URI of at most 10485760 bytes (so about 7.5 MB of file).
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
//!
//! The files: this one holds [`InputImage`], the user-facing messages and the entry points
//! [`parse_data_uri`] and [`parse_data_uri_with`], which pick each format's decoder and refuse
//! animations. `data_uri` reads the URI's header and base64 payload and writes [`data_uri`]s back;
//! `format` tells the four formats (and the common others) apart by MIME type and by magic bytes;
//! `limits` holds [`ImageLimits`] and how a limit is shown to the user and handed to a decoder;
//! `decode` decodes every pixel, checking the sides, the memory guard and JPEG truncation on the
//! way; `flatten` composites an image with alpha onto white and re-encodes it as an RGB PNG.
//! `test_images` (tests only) makes the images the tests upload.

use std::fmt;
use std::io::Cursor;

use ::image::codecs::bmp::BmpDecoder;
use ::image::codecs::jpeg::JpegDecoder;
use ::image::codecs::png::PngDecoder;
use ::image::codecs::webp::WebPDecoder;

use crate::domain::Invalid;

mod data_uri;
mod decode;
mod flatten;
mod format;
mod limits;
#[cfg(test)]
mod test_images;

pub use data_uri::data_uri;
pub use format::ImageFormat;
pub use limits::ImageLimits;

use data_uri::{data_uri_of, decode_base64, fits_data_uri, split_data_uri};
use decode::{Checked, check_decoder, decode_error, jpeg_reaches_end_marker};
use format::is_other_image_format;
use limits::memory_limits;

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
    pub const DATA_URI_TOO_LARGE: &str =
        "图片过大：转成 base64 后不能超过 10 MB（原图约 7.5 MB 以内），请换一张较小的图片";
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

/// [`parse_data_uri_with`] under DashScope's limits ([`ImageLimits::default`]).
pub fn parse_data_uri(s: &str) -> Result<InputImage, Invalid> {
    parse_data_uri_with(s, &ImageLimits::default())
}

/// Parses and checks the `img_base64` field: a `data:<mime>;base64,<data>` URI.
///
/// Fails, with a message the user can act on, when the text is not such a URI; the MIME type is not
/// PNG, JPEG, WEBP or BMP; the base64 is invalid; the file is over `limits.max_bytes`; the bytes are
/// not one of the four formats; the data URI Emo would send is over
/// [`ImageLimits::MAX_DATA_URI_BYTES`]; a side is outside `limits.min_side..=limits.max_side`; the
/// image is animated; or it does not decode in full within `limits.max_decoder_bytes`. An image
/// with alpha is flattened onto white, and fails if the resulting PNG is over `limits.max_bytes`
/// or its data URI over the cap.
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
    // Before decoding: an opaque image is sent as these very bytes.
    fits_data_uri(format, bytes.len())?;
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
        Checked::Flattened { png, width, height } => {
            fits_data_uri(ImageFormat::Png, png.len())?;
            InputImage {
                format: ImageFormat::Png,
                bytes: png,
                width,
                height,
                flattened: true,
            }
        }
    })
}

fn invalid(message: &str) -> Invalid {
    Invalid(message.to_owned())
}

/// The photo as WeChat's image check (`media_check_async`) takes it: JPEG, PNG, BMP or GIF, at
/// most 10 MB. `None` when `bytes` (an input image stored by a create) are one of those already;
/// a WebP is re-encoded as a JPEG (quality 90; an input is at most 2000 px a side, so a few MB).
///
/// Fails when the bytes do not decode (a stored input always did).
pub fn for_media_check(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
    if ImageFormat::sniff(bytes) != Some(ImageFormat::Webp) {
        return Ok(None);
    }
    let image = ::image::load_from_memory_with_format(bytes, ::image::ImageFormat::WebP)
        .map_err(|e| format!("decoding the WebP: {e}"))?
        .to_rgb8();
    let mut out = Vec::new();
    ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .map_err(|e| format!("encoding the JPEG: {e}"))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use ::image::{DynamicImage, ImageFormat as Codec, Rgba, RgbaImage};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::limits::MIB;
    use super::test_images::{encode, png_chunk, refusal, rgb, rgba, uri};

    #[test]
    fn wechat_gets_a_jpeg_for_a_webp_and_the_original_otherwise() {
        let webp = encode(&rgb(640, 480), Codec::WebP);
        let jpeg = super::for_media_check(&webp)
            .unwrap()
            .expect("a WebP is converted");
        assert_eq!(
            super::ImageFormat::sniff(&jpeg),
            Some(super::ImageFormat::Jpeg)
        );
        let decoded = super::test_images::decode(&jpeg);
        assert_eq!((decoded.width(), decoded.height()), (640, 480));
        for codec in [Codec::Png, Codec::Jpeg, Codec::Bmp] {
            let bytes = encode(&rgb(400, 400), codec);
            assert_eq!(super::for_media_check(&bytes), Ok(None), "{codec:?}");
        }
    }
    use super::*;

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
    /// `cargo test --release -p emo photo::tests::timing -- --ignored --nocapture`.
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
