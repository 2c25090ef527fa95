//! `parse_data_uri_with` never panics, and whatever it accepts honours the limits and re-parses
//! from its own Data URI to the same image. Limits are tiny so the fuzzer spends its time in the
//! decoders rather than on megabyte inputs.

#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use emo::photo::{ImageFormat, ImageLimits, InputImage, parse_data_uri_with};
use libfuzzer_sys::fuzz_target;

const MIMES: [&str; 6] = [
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/webp",
    "image/bmp",
    "image/gif",
];
const MAGIC: [&[u8]; 4] = [
    b"\x89PNG\r\n\x1a\n",
    &[0xFF, 0xD8, 0xFF],
    b"RIFF\0\0\0\0WEBP",
    b"BM",
];

#[derive(Debug, Arbitrary)]
enum Input {
    /// Any text at all.
    Text(String),
    /// A well-formed Data URI header, then the base64 of bytes that may start with a format's magic.
    Encoded {
        mime: u8,
        magic: Option<u8>,
        bytes: Vec<u8>,
    },
}

fn limits() -> ImageLimits {
    ImageLimits {
        max_bytes: 32 * 1024,
        min_side: 1,
        max_side: 64,
        max_decoder_bytes: 1024 * 1024,
    }
}

fn check(image: &InputImage, limits: &ImageLimits) {
    let sides = limits.min_side..=limits.max_side;
    assert!(
        sides.contains(&image.width) && sides.contains(&image.height),
        "{image:?}"
    );
    assert!(image.bytes.len() <= limits.max_bytes, "{image:?}");
    assert_eq!(ImageFormat::sniff(&image.bytes), Some(image.format));
    let again = parse_data_uri_with(&image.to_data_uri(), limits)
        .unwrap_or_else(|e| panic!("{image:?} does not re-parse: {e}"));
    // A flattened image comes back as the opaque PNG it was flattened into.
    let expected = InputImage {
        flattened: false,
        ..image.clone()
    };
    assert_eq!(again, expected);
}

fuzz_target!(|input: Input| {
    let limits = limits();
    let uri = match input {
        Input::Text(text) => text,
        Input::Encoded { mime, magic, bytes } => {
            let mut file = Vec::with_capacity(bytes.len() + 12);
            if let Some(m) = magic {
                file.extend_from_slice(MAGIC[usize::from(m) % MAGIC.len()]);
            }
            file.extend_from_slice(&bytes);
            let mime = MIMES[usize::from(mime) % MIMES.len()];
            format!("data:{mime};base64,{}", STANDARD.encode(&file))
        }
    };
    if let Ok(image) = parse_data_uri_with(&uri, &limits) {
        check(&image, &limits);
    }
});
