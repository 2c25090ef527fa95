//! Property tests of the code that reads untrusted input: the body parsers, the Data URI check,
//! the JWT check and the validated types. They run in CI on stable with modest case counts; the
//! cargo-fuzz targets in `fuzz/` push the same properties much further.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use emo::auth::Tokens;
use emo::auth::jwt::{Claims, ISSUER};
use emo::domain::{Password, Phone, Resolution, VideoSize};
use emo::job::JobId;
use emo::photo::{ImageLimits, InputImage, parse_data_uri_with};
use emo::web::{Form, FormError};
use http::header::CONTENT_TYPE;
use lambda_http::{Body, Request};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Body parsers

fn request(content_type: Option<&str>, body: Body) -> Option<Request> {
    let mut b = http::Request::builder().method("POST").uri("/x");
    if let Some(ct) = content_type {
        b = b.header(CONTENT_TYPE, http::HeaderValue::from_str(ct).ok()?);
    }
    b.body(body).ok()
}

fn parse(req: &Request) -> Result<Form, FormError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
        .block_on(Form::parse(req))
}

/// Any text, control characters and astral planes included (`any::<String>()` has no newlines).
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..max).prop_map(String::from_iter)
}

/// A multipart field name is a quoted header parameter: browsers percent-encode `"`, CR and LF,
/// and multer reads a trailing `\` as escaping the closing quote, so those stay out.
fn multipart_name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        any::<char>().prop_filter("quotable", |c| !matches!(c, '"' | '\\') && !c.is_control()),
        1..12,
    )
    .prop_map(String::from_iter)
}

const BOUNDARY: &str = "emo-prop-boundary-3d9f";

fn multipart(fields: &BTreeMap<String, String>) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(v.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// `application/x-www-form-urlencoded` as the WHATWG URL standard writes it, written here rather
/// than borrowed from the parser's own library.
fn urlencode(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        for (i, part) in [k, v].into_iter().enumerate() {
            if i == 1 {
                out.push('=');
            }
            for b in part.bytes() {
                match b {
                    b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                        out.push(char::from(b))
                    }
                    b' ' => out.push('+'),
                    _ => out.push_str(&format!("%{b:02X}")),
                }
            }
        }
    }
    out
}

/// The form holds exactly `fields` (an empty value reads as absent), and nothing under `probe`.
fn assert_holds(
    form: &Form,
    fields: &BTreeMap<String, String>,
    probe: &str,
) -> Result<(), TestCaseError> {
    for (k, v) in fields {
        let want = Some(v.as_str()).filter(|v| !v.is_empty());
        prop_assert_eq!(form.optional(k), want, "field {:?}", k);
    }
    if !fields.contains_key(probe) {
        prop_assert_eq!(form.optional(probe), None);
    }
    Ok(())
}

/// Content types that reach every branch of `Form::parse`, plus printable noise.
fn content_type() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just(format!("multipart/form-data; boundary={BOUNDARY}")),
        Just("multipart/form-data".to_owned()),
        Just("application/x-www-form-urlencoded".to_owned()),
        Just("application/json; charset=utf-8".to_owned()),
        Just("application/vnd.api+json".to_owned()),
        "[ -~]{0,40}",
    ])
}

/// Bodies built from the pieces a multipart, urlencoded or JSON parser looks for.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(format!("--{BOUNDARY}").into_bytes()),
        Just(b"\r\n".to_vec()),
        Just(b"Content-Disposition: form-data; name=\"".to_vec()),
        Just(b"\"; filename=\"f.png\"".to_vec()),
        Just(b"--".to_vec()),
        Just(b"{\"phone\":".to_vec()),
        Just(b"&a=%E4%".to_vec()),
        prop::collection::vec(any::<u8>(), 0..16),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn form_parsing_never_panics(ct in content_type(), body in body(), as_text in any::<bool>()) {
        let body = match String::from_utf8(body) {
            Ok(t) if as_text => Body::Text(t),
            Ok(t) => Body::Binary(t.into_bytes()),
            Err(e) => Body::Binary(e.into_bytes()),
        };
        if let Some(req) = request(ct.as_deref(), body) {
            let _ = parse(&req);
        }
    }

    #[test]
    fn any_fields_round_trip_through_json_and_urlencoded(
        fields in prop::collection::btree_map(text(12), text(40), 0..8),
        probe in text(6),
    ) {
        let json = serde_json::to_string(&fields).unwrap();
        let form = parse(&request(Some("application/json"), Body::Text(json)).unwrap()).unwrap();
        assert_holds(&form, &fields, &probe)?;

        let encoded = urlencode(&fields);
        let typed = request(Some("application/x-www-form-urlencoded"), Body::Text(encoded.clone()));
        assert_holds(&parse(&typed.unwrap()).unwrap(), &fields, &probe)?;
        // Untyped bodies are urlencoded unless they start with `{`, which an encoded one never does.
        let untyped = request(None, Body::Text(encoded));
        assert_holds(&parse(&untyped.unwrap()).unwrap(), &fields, &probe)?;
    }

    #[test]
    fn any_fields_round_trip_through_multipart(
        fields in prop::collection::btree_map(multipart_name(), text(40), 0..8),
        probe in multipart_name(),
    ) {
        prop_assume!(fields.values().all(|v| !v.contains(BOUNDARY)));
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        let req = request(Some(&ct), Body::Binary(multipart(&fields))).unwrap();
        assert_holds(&parse(&req).unwrap(), &fields, &probe)?;
    }
}

// ---------------------------------------------------------------------------------------------
// JWT

const SECRET: &[u8] = b"prop-secret-prop-secret-prop-sec";

fn tokens() -> Tokens {
    Tokens::new(SECRET, 3600)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims that are valid for at least another minute.
fn live_claims() -> impl Strategy<Value = Claims> {
    let soon = now() + 60;
    (
        any::<i64>(),
        text(20),
        soon..=u64::MAX,
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|(id, phone, exp, iat, ver)| Claims {
            id,
            phone,
            exp,
            iss: ISSUER.into(),
            iat,
            ver,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_token_we_sign_verifies_to_its_claims(claims in live_claims()) {
        let t = tokens();
        let token = t.sign(&claims).unwrap();
        prop_assert_eq!(t.verify(&token), Some(claims));
    }

    #[test]
    fn any_change_to_a_signed_token_is_refused(
        claims in live_claims(),
        at in any::<prop::sample::Index>(),
        with in any::<char>(),
        insert in any::<bool>(),
    ) {
        let t = tokens();
        let token = t.sign(&claims).unwrap();
        let mut chars: Vec<char> = token.chars().collect();
        let i = at.index(chars.len());
        if insert {
            chars.insert(i, with);
        } else {
            prop_assume!(chars[i] != with);
            chars[i] = with;
        }
        let changed: String = chars.into_iter().collect();
        prop_assert_eq!(t.verify(&changed), None);
        let mut shortened = token.clone();
        shortened.truncate(at.index(token.len()));
        prop_assert_eq!(t.verify(&shortened), None);
    }

    #[test]
    fn a_token_expired_from_another_issuer_or_key_is_refused(
        claims in live_claims(),
        past in 0..now(),
        issuer in text(8).prop_filter("not ours", |s| s.as_str() != ISSUER),
        secret in prop::collection::vec(any::<u8>(), 1..48).prop_filter("not ours", |s| s.as_slice() != SECRET),
    ) {
        let t = tokens();
        let expired = Claims { exp: past, ..claims.clone() };
        prop_assert_eq!(t.verify(&t.sign(&expired).unwrap()), None);
        let foreign = Claims { iss: issuer, ..claims.clone() };
        prop_assert_eq!(t.verify(&t.sign(&foreign).unwrap()), None);
        let other = Tokens::new(&secret, 3600).sign(&claims).unwrap();
        prop_assert_eq!(t.verify(&other), None);
    }

    #[test]
    fn arbitrary_strings_and_forged_parts_are_refused(
        s in text(200),
        header in prop::collection::vec(any::<u8>(), 0..64),
        payload in prop::collection::vec(any::<u8>(), 0..128),
        signature in prop::collection::vec(any::<u8>(), 0..48),
    ) {
        let t = tokens();
        prop_assert_eq!(t.verify(&s), None);
        let forged = [header, payload, signature].map(|p| URL_SAFE_NO_PAD.encode(p)).join(".");
        prop_assert_eq!(t.verify(&forged), None);
    }
}

// ---------------------------------------------------------------------------------------------
// Data URI

/// Tiny images, so the property cases stay fast in a debug build.
fn small_limits() -> ImageLimits {
    ImageLimits {
        max_bytes: 64 * 1024,
        min_side: 1,
        max_side: 64,
        max_decoder_bytes: 1024 * 1024,
    }
}

const MIMES: [&str; 6] = [
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/webp",
    "image/bmp",
    "image/gif",
];
const MAGIC: [&[u8]; 5] = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    &[0xFF, 0xD8, 0xFF],
    b"RIFF\0\0\0\0WEBP",
    b"BM",
];

fn uri(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", STANDARD.encode(bytes))
}

/// A small random image in one of the four formats, with or without alpha.
fn small_image() -> impl Strategy<Value = Vec<u8>> {
    (1u32..24, 1u32..24, any::<bool>(), 0usize..4, any::<u64>()).prop_map(
        |(w, h, alpha, codec, seed)| {
            let px = |x: u32, y: u32, k: u64| {
                (seed.wrapping_mul(u64::from(x * 31 + y * 17) + k + 1) >> 24) as u8
            };
            let rgba = image::RgbaImage::from_fn(w, h, |x, y| {
                image::Rgba([px(x, y, 1), px(x, y, 2), px(x, y, 3), px(x, y, 4)])
            });
            let img = if alpha {
                image::DynamicImage::ImageRgba8(rgba)
            } else {
                image::DynamicImage::ImageRgb8(image::DynamicImage::ImageRgba8(rgba).to_rgb8())
            };
            let (img, format) = match codec {
                0 => (img, image::ImageFormat::Png),
                // JPEG has no alpha.
                1 => (
                    image::DynamicImage::ImageRgb8(img.to_rgb8()),
                    image::ImageFormat::Jpeg,
                ),
                2 => (img, image::ImageFormat::WebP),
                _ => (img, image::ImageFormat::Bmp),
            };
            let mut out = Cursor::new(Vec::new());
            img.write_to(&mut out, format).unwrap();
            out.into_inner()
        },
    )
}

fn assert_accepted_well(image: &InputImage, limits: &ImageLimits) -> Result<(), TestCaseError> {
    let sides = limits.min_side..=limits.max_side;
    prop_assert!(sides.contains(&image.width) && sides.contains(&image.height));
    prop_assert!(image.bytes.len() <= limits.max_bytes);
    let again = parse_data_uri_with(&image.to_data_uri(), limits).unwrap();
    // A flattened image comes back as the opaque PNG it was flattened into.
    prop_assert_eq!(
        again,
        InputImage {
            flattened: false,
            ..image.clone()
        }
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn data_uri_parsing_never_panics_on_any_string(
        s in prop_oneof![text(120), "(?i)data:[a-z/]{0,12}(;base64)?,[A-Za-z0-9+/= \n]{0,80}"],
    ) {
        let _ = parse_data_uri_with(&s, &small_limits());
    }

    #[test]
    fn data_uri_parsing_never_panics_on_a_valid_prefix_and_any_bytes(
        mime in prop::sample::select(MIMES.to_vec()),
        magic in prop::sample::select(MAGIC.to_vec()),
        bytes in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let limits = small_limits();
        if let Ok(image) = parse_data_uri_with(&uri(mime, &[magic, &bytes[..]].concat()), &limits) {
            assert_accepted_well(&image, &limits)?;
        }
    }

    #[test]
    fn a_small_valid_image_is_accepted_and_re_parses_to_itself(file in small_image()) {
        let limits = small_limits();
        let image = parse_data_uri_with(&uri("image/png", &file), &limits).unwrap();
        assert_accepted_well(&image, &limits)?;
    }

    #[test]
    fn a_mangled_image_is_refused_or_accepted_within_limits(
        file in small_image(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let limits = small_limits();
        let mut file = file;
        for (at, byte) in edits {
            let i = at.index(file.len());
            file[i] = byte;
        }
        if let Some(cut) = cut {
            file.truncate(cut.index(file.len()));
        }
        if let Ok(image) = parse_data_uri_with(&uri("image/png", &file), &limits) {
            assert_accepted_well(&image, &limits)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validated types and job fields

/// `^1[3-9]\d{9}$` with ASCII digits, written independently of `Phone::parse`.
fn is_phone(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    chars.len() == 11
        && chars[0] == '1'
        && ('3'..='9').contains(&chars[1])
        && chars.iter().all(char::is_ascii_digit)
}

fn white_space() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            ' ', '\t', '\n', '\r', '\u{a0}', '\u{3000}', '\u{2028}',
        ]),
        0..3,
    )
    .prop_map(String::from_iter)
}

/// Phone-shaped strings: valid numbers padded with white space, and near misses of them.
fn phone_like() -> impl Strategy<Value = String> {
    let valid =
        (white_space(), "1[3-9][0-9]{9}", white_space()).prop_map(|(a, p, b)| format!("{a}{p}{b}"));
    let near_miss = (
        "1[0-9]{9,11}",
        any::<prop::sample::Index>(),
        prop_oneof![Just('0'), Just('a'), Just('１'), Just(' '), any::<char>()],
        0..3,
    )
        .prop_map(|(p, at, c, op)| {
            let mut chars: Vec<char> = p.chars().collect();
            let i = at.index(chars.len());
            match op {
                0 => chars[i] = c,
                1 => chars.insert(i, c),
                _ => {
                    chars.remove(i);
                }
            }
            chars.into_iter().collect()
        });
    prop_oneof![valid, near_miss, text(16)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn phone_accepts_exactly_the_mainland_mobile_pattern(s in phone_like()) {
        match Phone::parse(&s) {
            Ok(phone) => {
                prop_assert!(is_phone(s.trim()), "{:?} accepted", s);
                prop_assert_eq!(phone.as_str(), s.trim());
                prop_assert_eq!(Phone::parse(phone.as_str()).unwrap(), phone);
            }
            Err(e) => {
                prop_assert!(!is_phone(s.trim()), "{:?} refused", s);
                prop_assert_eq!(e.0, Phone::INVALID);
            }
        }
    }

    #[test]
    fn password_accepts_exactly_8_to_128_characters(s in text(140)) {
        let n = s.chars().count();
        match Password::parse(&s) {
            Ok(p) => {
                prop_assert!((8..=128).contains(&n), "{} characters accepted", n);
                prop_assert_eq!(p.expose(), s.as_str());
            }
            Err(_) => prop_assert!(!(8..=128).contains(&n), "{} characters refused", n),
        }
    }

    #[test]
    fn job_ids_are_exactly_job_and_24_lowercase_hex_digits(
        s in prop_oneof!["job_[0-9a-f]{24}", "(?i)job_[0-9a-g]{23,25}", text(30)],
    ) {
        let shaped = s.len() == 28
            && s.starts_with("job_")
            && s[4..].bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        match JobId::parse(&s) {
            Some(id) => {
                prop_assert!(shaped, "{:?} accepted", s);
                prop_assert_eq!(id.as_str(), s.as_str());
            }
            None => prop_assert!(!shaped, "{:?} refused", s),
        }
    }

    #[test]
    fn size_resolution_and_text_rules_hold(
        s in prop_oneof![
            prop::sample::select(VideoSize::ALL.to_vec()).prop_map(str::to_owned),
            "(?i) ?(480|720|1080)p ?",
            text(60),
        ],
        max in 0usize..50,
        required in any::<bool>(),
    ) {
        if let Ok(size) = VideoSize::parse(Some(&s)) {
            prop_assert_eq!(size.as_str(), s.trim());
            prop_assert!(VideoSize::ALL.contains(&size.as_str()));
        }
        if let Ok(r) = Resolution::parse(Some(&s)) {
            prop_assert!(Resolution::ALL.contains(&r.as_str()));
            prop_assert!(r.as_str().eq_ignore_ascii_case(s.trim()));
        }
        let trimmed = s.trim();
        match emo::domain::bounded_text("field", Some(&s), max, required) {
            Ok(Some(v)) => {
                prop_assert_eq!(v.as_str(), trimmed);
                prop_assert!(!v.is_empty() && v.chars().count() <= max);
            }
            Ok(None) => prop_assert!(trimmed.is_empty() && !required),
            Err(_) => prop_assert!(trimmed.is_empty() || trimmed.chars().count() > max),
        }
    }

    #[test]
    fn a_caption_is_accepted_exactly_when_every_character_is_drawable_and_it_is_short(
        s in prop_oneof![
            "[好的我太难了OK ，！？😀\n鎔\u{3000}]{0,25}",
            text(30),
        ],
    ) {
        let words: Vec<&str> = s.trim().split([' ', '\u{3000}']).filter(|w| !w.is_empty()).collect();
        let normal = words.join(" ");
        let drawable = normal.chars().all(emo::domain::caption::char_allowed);
        let short = unicode_segmentation::UnicodeSegmentation::graphemes(normal.as_str(), true)
            .count() <= emo::domain::caption::MAX_CAPTION_GRAPHEMES;
        let controls = s.trim().chars().any(char::is_control);
        match emo::domain::Caption::parse(Some(&s), None) {
            Ok(Some(c)) => {
                prop_assert_eq!(&c.text, &normal);
                prop_assert!(drawable && short && !controls && !normal.is_empty());
            }
            Ok(None) => prop_assert!(normal.is_empty() && !controls),
            Err(_) => prop_assert!(!drawable || !short || controls),
        }
    }
}
