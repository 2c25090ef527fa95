//! Test helpers shared by the module's tests: the images they upload, made with the `image` crate
//! or by hand, as Data URIs, and the refusal a text meets.

use std::io::Cursor;

use ::image::{DynamicImage, ImageFormat as Codec, Rgb, RgbImage, Rgba, RgbaImage};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::parse_data_uri;

/// A photo-like RGB image: smooth gradients, so encoders produce realistic sizes.
pub(super) fn rgb(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) / 8 % 256) as u8])
    }))
}

/// Left half fully transparent, right half opaque red, bottom-left pixel half-transparent black.
pub(super) fn rgba(width: u32, height: u32) -> DynamicImage {
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

pub(super) fn encode(image: &DynamicImage, codec: Codec) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, codec).unwrap();
    out.into_inner()
}

pub(super) fn uri(mime: &str, bytes: &[u8]) -> String {
    format!("data:{mime};base64,{}", STANDARD.encode(bytes))
}

pub(super) fn refusal(s: &str) -> String {
    parse_data_uri(s).unwrap_err().0
}

pub(super) fn decode(bytes: &[u8]) -> DynamicImage {
    ::image::load_from_memory(bytes).unwrap()
}

/// A chunk with its CRC, for hand-made PNG variants.
pub(super) fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
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
