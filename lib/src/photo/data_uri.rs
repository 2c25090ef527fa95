//! The Data URI as text: the `data:<mime>;base64,` header checked, the base64 payload decoded
//! (refused by its length alone when it cannot fit, line wrapping ignored, `+` turned into spaces
//! by form decoding mended), validated image bytes written back as a Data URI, and the check that
//! this URI stays within DashScope's cap ([`ImageLimits::MAX_DATA_URI_BYTES`]).

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use super::limits::human_size;
use super::{ImageFormat, ImageLimits, invalid, msg};
use crate::domain::Invalid;

/// The data URI of image bytes this module validated earlier (and a store kept since); `None`
/// when the bytes are not one of the four formats.
pub fn data_uri(bytes: &[u8]) -> Option<String> {
    ImageFormat::sniff(bytes).map(|f| data_uri_of(f, bytes))
}

pub(super) fn data_uri_of(format: ImageFormat, bytes: &[u8]) -> String {
    let mime = format.mime();
    let mut uri =
        String::with_capacity("data:;base64,".len() + mime.len() + bytes.len().div_ceil(3) * 4);
    uri.push_str("data:");
    uri.push_str(mime);
    uri.push_str(";base64,");
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut uri);
    uri
}

/// The length of [`data_uri_of`]`(format, bytes)` for `len` bytes, without building it.
pub(super) fn data_uri_len(format: ImageFormat, len: usize) -> usize {
    "data:;base64,".len() + format.mime().len() + len.div_ceil(3) * 4
}

/// Refuses a file whose data URI, the form Emo sends it in, would pass DashScope's cap.
pub(super) fn fits_data_uri(format: ImageFormat, len: usize) -> Result<(), Invalid> {
    if data_uri_len(format, len) > ImageLimits::MAX_DATA_URI_BYTES {
        return Err(invalid(msg::DATA_URI_TOO_LARGE));
    }
    Ok(())
}

/// The base64 part of a `data:<mime>;base64,<data>` URI whose MIME is one of the four formats.
pub(super) fn split_data_uri(s: &str) -> Result<&str, Invalid> {
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
pub(super) fn decode_base64(payload: &str, max_bytes: usize) -> Result<Vec<u8>, Invalid> {
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

#[cfg(test)]
mod tests {
    use ::image::ImageFormat as Codec;
    use base64::engine::general_purpose::STANDARD;

    use super::super::test_images::{encode, refusal, rgb, uri};
    use super::super::{ImageLimits, parse_data_uri, parse_data_uri_with};
    use super::*;

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
    fn a_file_whose_data_uri_would_pass_dashscopes_cap_is_refused() {
        // An uncompressed 2000x1400 BMP is 8.4 MB: under the 10 MB file limit, but its data URI
        // is 11.2 MB, over the 10485760 bytes DashScope takes.
        let bmp = encode(&rgb(2000, 1400), Codec::Bmp);
        assert!(bmp.len() < ImageLimits::DEFAULT_MAX_BYTES);
        assert!(data_uri_of(ImageFormat::Bmp, &bmp).len() > ImageLimits::MAX_DATA_URI_BYTES);
        assert_eq!(refusal(&uri("image/bmp", &bmp)), msg::DATA_URI_TOO_LARGE);
        // A smaller file of the same kind passes, and what is sent stays within the cap.
        let bmp = encode(&rgb(800, 600), Codec::Bmp);
        let image = parse_data_uri(&uri("image/bmp", &bmp)).unwrap();
        assert!(image.to_data_uri().len() <= ImageLimits::MAX_DATA_URI_BYTES);
    }

    #[test]
    fn the_data_uri_length_is_computed_exactly_at_the_cap() {
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Webp,
            ImageFormat::Bmp,
        ] {
            for len in [0, 1, 2, 3, 7_864_299, 7_864_302, 7_864_303] {
                let bytes = vec![0u8; len];
                let real = data_uri_of(format, &bytes).len();
                assert_eq!(data_uri_len(format, len), real, "{format:?} {len}");
                assert_eq!(
                    fits_data_uri(format, len).is_ok(),
                    real <= ImageLimits::MAX_DATA_URI_BYTES,
                    "{format:?} {len}"
                );
            }
        }
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
    fn a_data_uri_round_trips() {
        for codec in [Codec::Png, Codec::Jpeg, Codec::WebP, Codec::Bmp] {
            let image = parse_data_uri(&uri("image/png", &encode(&rgb(400, 400), codec))).unwrap();
            assert_eq!(parse_data_uri(&image.to_data_uri()).unwrap(), image);
        }
    }
}
