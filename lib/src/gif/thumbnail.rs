//! The sticker's thumbnail: a [`THUMB_SIDE`] × [`THUMB_SIDE`] PNG (the size WeChat's sticker
//! platform asks for) of the sticker's middle frame, fitted inside the square with its aspect
//! ratio kept, the rest transparent. The middle frame rather than the first: an image-to-video
//! clip starts on the user's own photo, and the middle shows the motion.
//!
//! It is made from the finished GIF, so it shows exactly what the sticker shows: the GIF is
//! decoded up to its middle frame (frames composed as a viewer composes them, disposal methods
//! included), scaled, and encoded as PNG (the `image` crate). It is stored beside the GIF
//! ([`crate::store::thumb_key`]); a thumbnail that cannot be made or stored costs the sticker
//! nothing, the job then simply has none.

use image::imageops::{self, FilterType};
use image::{ExtendedColorType, ImageEncoder, RgbaImage};

use super::GifError;
use crate::domain::JobId;
use crate::store::{BlobStore, thumb_key};

/// The thumbnail's width and height.
pub const THUMB_SIDE: u32 = 120;

/// The GIF's middle frame as a [`THUMB_SIDE`]-square PNG. CPU-bound (a few milliseconds for a
/// 240 px sticker).
///
/// Fails with [`GifError::Undecodable`] when `gif` is not a GIF with at least one frame, and
/// [`GifError::Internal`] when the PNG cannot be encoded.
pub fn thumbnail_png(gif: &[u8]) -> Result<Vec<u8>, GifError> {
    let png = square(&middle_frame(gif)?);
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(
            png.as_raw(),
            THUMB_SIDE,
            THUMB_SIDE,
            ExtendedColorType::Rgba8,
        )
        .map_err(|e| GifError::Internal(format!("thumbnail PNG: {e}")))?;
    Ok(out)
}

/// The GIF's middle frame as a viewer shows it, at the GIF's size.
pub(super) fn middle_frame(gif: &[u8]) -> Result<RgbaImage, GifError> {
    let undecodable = |e: ::gif::DecodingError| GifError::Undecodable(format!("the GIF: {e}"));
    // First count the frames without decoding their pixels, then compose up to the middle one.
    let mut counting = ::gif::DecodeOptions::new();
    counting.skip_frame_decoding(true);
    let mut decoder = counting.read_info(gif).map_err(undecodable)?;
    let mut frames = 0usize;
    while decoder.read_next_frame().map_err(undecodable)?.is_some() {
        frames += 1;
    }
    if frames == 0 {
        return Err(GifError::Undecodable("the GIF has no frame".into()));
    }
    let middle = frames / 2;

    let mut options = ::gif::DecodeOptions::new();
    options.set_color_output(::gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(gif).map_err(undecodable)?;
    let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
    if width == 0 || height == 0 {
        return Err(GifError::Undecodable("the GIF is empty".into()));
    }
    let mut canvas = RgbaImage::new(width, height);
    // What the previous frame asks to be done with its area before the next one is drawn.
    let mut pending: Option<(::gif::DisposalMethod, Rect, Option<RgbaImage>)> = None;
    let mut index = 0;
    while let Some(frame) = decoder.read_next_frame().map_err(undecodable)? {
        if let Some((dispose, rect, saved)) = pending.take() {
            match dispose {
                ::gif::DisposalMethod::Background => rect.clear(&mut canvas),
                ::gif::DisposalMethod::Previous => {
                    if let Some(saved) = saved {
                        canvas = saved;
                    }
                }
                _ => {}
            }
        }
        let rect = Rect {
            left: u32::from(frame.left),
            top: u32::from(frame.top),
            width: u32::from(frame.width),
            height: u32::from(frame.height),
        };
        let saved = (frame.dispose == ::gif::DisposalMethod::Previous).then(|| canvas.clone());
        rect.draw(&mut canvas, &frame.buffer);
        if index == middle {
            break;
        }
        pending = Some((frame.dispose, rect, saved));
        index += 1;
    }
    Ok(canvas)
}

/// `frame` scaled to fit a [`THUMB_SIDE`] square, centred on a transparent one.
fn square(frame: &RgbaImage) -> RgbaImage {
    let (w, h) = frame.dimensions();
    let scale = f64::from(THUMB_SIDE) / f64::from(w.max(h));
    let fit = |side: u32| ((f64::from(side) * scale).round() as u32).clamp(1, THUMB_SIDE);
    let (fw, fh) = (fit(w), fit(h));
    let scaled = imageops::resize(frame, fw, fh, FilterType::CatmullRom);
    let mut out = RgbaImage::new(THUMB_SIDE, THUMB_SIDE);
    let x = i64::from((THUMB_SIDE - fw) / 2);
    let y = i64::from((THUMB_SIDE - fh) / 2);
    imageops::overlay(&mut out, &scaled, x, y);
    out
}

/// A frame's area on the logical screen.
#[derive(Debug, Clone, Copy)]
struct Rect {
    left: u32,
    top: u32,
    width: u32,
    height: u32,
}

impl Rect {
    /// Draws `rgba` (this area's pixels, row by row) over `canvas`, where they are not
    /// transparent; parts off the screen are dropped.
    fn draw(&self, canvas: &mut RgbaImage, rgba: &[u8]) {
        for (i, px) in rgba.chunks_exact(4).enumerate() {
            if px[3] == 0 {
                continue;
            }
            let (x, y) = (
                self.left + i as u32 % self.width.max(1),
                self.top + i as u32 / self.width.max(1),
            );
            if x < canvas.width() && y < canvas.height() {
                canvas.put_pixel(x, y, image::Rgba([px[0], px[1], px[2], px[3]]));
            }
        }
    }

    /// Makes this area transparent (the "restore to background" disposal).
    fn clear(&self, canvas: &mut RgbaImage) {
        for y in self.top..(self.top + self.height).min(canvas.height()) {
            for x in self.left..(self.left + self.width).min(canvas.width()) {
                canvas.put_pixel(x, y, image::Rgba([0, 0, 0, 0]));
            }
        }
    }
}

/// Makes the thumbnail of job `job`'s sticker `gif` and stores it; its key, or `None` (logged)
/// when it could not be made or stored.
pub async fn store(blobs: &dyn BlobStore, job: &JobId, gif: &[u8]) -> Option<String> {
    let gif = gif.to_vec();
    let made = tokio::task::spawn_blocking(move || thumbnail_png(&gif)).await;
    let png = match made {
        Ok(Ok(png)) => png,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not make the sticker's thumbnail");
            return None;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the thumbnail task panicked");
            return None;
        }
    };
    let key = thumb_key(job);
    match blobs.put(&key, png, "image/png").await {
        Ok(()) => Some(key),
        Err(e) => {
            tracing::warn!(error = %anyhow::Error::from(e), "could not store the sticker's thumbnail");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gif::GifSettings;
    use crate::gif::test_clips::{clip, convert};

    fn decode_png(png: &[u8]) -> RgbaImage {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
        image::load_from_memory_with_format(png, image::ImageFormat::Png)
            .unwrap()
            .to_rgba8()
    }

    #[test]
    fn a_square_sticker_gives_a_120_px_png_of_its_picture() {
        let dir = tempfile::tempdir().unwrap();
        let sticker = convert(
            &clip(dir.path(), "testsrc2", "624x624"),
            &GifSettings::default(),
        );
        let thumb = decode_png(&thumbnail_png(&sticker.gif).unwrap());
        assert_eq!(thumb.dimensions(), (THUMB_SIDE, THUMB_SIDE));
        // A square picture fills it: no transparent corner, and it is not one flat colour.
        assert!(thumb.pixels().all(|p| p[3] == 255));
        let first = thumb.get_pixel(0, 0);
        assert!(thumb.pixels().any(|p| p != first));
    }

    #[test]
    fn a_landscape_sticker_is_fitted_and_padded_with_transparency() {
        let dir = tempfile::tempdir().unwrap();
        let sticker = convert(
            &clip(dir.path(), "testsrc2", "832x480"),
            &GifSettings::default(),
        );
        let thumb = decode_png(&thumbnail_png(&sticker.gif).unwrap());
        assert_eq!(thumb.dimensions(), (THUMB_SIDE, THUMB_SIDE));
        // 240×138 scaled to 120×69, centred: rows above and below are transparent.
        assert_eq!(thumb.get_pixel(60, 0)[3], 0);
        assert_eq!(thumb.get_pixel(60, THUMB_SIDE - 1)[3], 0);
        assert_eq!(thumb.get_pixel(60, 60)[3], 255);
    }

    #[test]
    fn the_middle_frame_is_shown_as_the_frames_compose() {
        // Three frames on a 4×2 screen: red, then a green pixel over it, then a blue one (each
        // later frame covering one pixel only); the middle shows red with the green pixel.
        let mut gif = Vec::new();
        {
            let palette = [255, 0, 0, 0, 255, 0, 0, 0, 255];
            let mut enc = ::gif::Encoder::new(&mut gif, 4, 2, &palette).unwrap();
            let mut red = ::gif::Frame::from_indexed_pixels(4, 2, vec![0; 8], None);
            red.dispose = ::gif::DisposalMethod::Keep;
            enc.write_frame(&red).unwrap();
            for (x, colour) in [(1u16, 1u8), (2, 2)] {
                let mut f = ::gif::Frame::from_indexed_pixels(1, 1, vec![colour], None);
                f.left = x;
                f.dispose = ::gif::DisposalMethod::Keep;
                enc.write_frame(&f).unwrap();
            }
        }
        let thumb = decode_png(&thumbnail_png(&gif).unwrap());
        // 4×2 becomes 120×60 in rows 30..90; the green pixel's column is x 30..60.
        let at = |x, y| thumb.get_pixel(x, y).0;
        let green = |[r, g, b, _]: [u8; 4]| g > 200 && r < 60 && b < 60;
        let red = |[r, g, b, _]: [u8; 4]| r > 200 && g < 60 && b < 60;
        assert!(green(at(45, 45)), "{:?}", at(45, 45));
        assert!(red(at(15, 45)), "{:?}", at(15, 45));
        assert!(
            red(at(75, 45)),
            "the third frame is not shown: {:?}",
            at(75, 45)
        );
        assert_eq!(at(60, 10)[3], 0);
    }

    #[test]
    fn what_is_not_a_gif_makes_no_thumbnail() {
        assert!(matches!(
            thumbnail_png(b"not a gif"),
            Err(GifError::Undecodable(_))
        ));
    }
}
