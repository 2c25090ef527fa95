//! Alpha flattened onto white: each pixel composited over opaque white as viewers do, then
//! re-encoded as an RGB PNG (fast deflate, the ICC profile kept).

use ::image::codecs::png::{CompressionType, FilterType, PngEncoder};
use ::image::{DynamicImage, ExtendedColorType, ImageEncoder, RgbImage};

use super::decode::decode_error;
use crate::domain::Invalid;

/// Composites each pixel over opaque white (in sRGB values, as viewers do) and drops the alpha.
pub(super) fn flatten_onto_white(image: DynamicImage) -> RgbImage {
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

pub(super) fn encode_rgb_png(
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
    use ::image::{ImageFormat as Codec, Rgb};

    use super::super::test_images::{decode, encode, rgb, rgba, uri};
    use super::super::{ImageFormat, parse_data_uri};
    use super::*;

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
}
