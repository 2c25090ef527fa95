//! The caption drawn on a sticker: the caption font ([`CaptionFont`], loaded and checked once per
//! process), the layout (size, line breaks, place) and the overlay blended onto every decoded
//! frame before the trial and the full encodes, so that the byte budget is searched with the text
//! already in the picture: the text's bytes are measured, never guessed.
//!
//! The look is the one these stickers have: bold sans-serif (the font is Noto Sans CJK SC Bold,
//! subset to [`crate::domain::caption::charset`]), white fill with a dark outline thick enough to
//! read on any background, centred. Layout, for a frame `W`×`H`:
//!
//! - The font size (em, in px) is as large as fits 90% of `W`, at most `0.16 W` (and `0.22 H`, so
//!   a landscape sticker keeps its picture), and never below the floor `W / 15` (16 px at 240 px),
//!   which stays legible on a phone.
//! - A caption whose one line would be under 75% of the largest size, or under the floor, is
//!   wrapped onto two lines at the grapheme boundary that balances their widths best, preferring a
//!   break at a space or after punctuation, and never putting closing punctuation first on the
//!   second line; two lines are used only when they are really larger.
//! - The outline is the fill's coverage dilated by a disc of radius `0.14 × size` (at least
//!   2 px at 240 px wide), anti-aliased, and the text sits a margin of 4% of `H` from the
//!   bottom (or top) edge.
//!
//! The overlay is computed once per sticker (a few milliseconds) as premultiplied RGBA over the
//! rows it covers; blending it is a few hundred thousand integer operations a frame.

use std::ops::Range;
use std::path::Path;

use ab_glyph::{Font, FontVec, GlyphId, PxScale, ScaleFont, point};
use unicode_segmentation::UnicodeSegmentation;

use super::GifError;
use crate::domain::caption::charset;
use crate::domain::{Caption, CaptionPosition};

/// The outline's colour: near black, so that anti-aliased edges do not look grey on dark scenes.
const OUTLINE: [f32; 3] = [16.0, 16.0, 16.0];
const FILL: [f32; 3] = [255.0, 255.0, 255.0];

/// The caption font, parsed once. Loading checks that it draws every character a caption may
/// hold, so a caption the API accepted always renders.
pub struct CaptionFont {
    font: FontVec,
    /// `height_unscaled / units_per_em`: turns an em size into ab_glyph's [`PxScale`].
    scale_per_em: f32,
}

impl std::fmt::Debug for CaptionFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptionFont")
            .field("glyphs", &self.font.glyph_count())
            .finish()
    }
}

impl CaptionFont {
    /// Reads and checks the font file at `path` (OpenType, CFF or TrueType outlines).
    ///
    /// Fails with [`GifError::Font`] when it cannot be read or parsed, or lacks a glyph for any
    /// character of [`charset`] (naming the first few).
    pub fn load(path: &Path) -> Result<Self, GifError> {
        let bad = |why: String| GifError::Font(format!("{}: {why}", path.display()));
        let data = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let font = FontVec::try_from_vec(data).map_err(|e| bad(format!("not a font ({e})")))?;
        let missing: Vec<char> = charset()
            .into_iter()
            .filter(|&c| font.glyph_id(c) == GlyphId(0))
            .collect();
        if !missing.is_empty() {
            return Err(bad(format!(
                "has no glyph for {} of the caption characters (first: {})",
                missing.len(),
                missing.iter().take(10).collect::<String>()
            )));
        }
        let upem = font.units_per_em().unwrap_or(1000.0);
        Ok(Self {
            scale_per_em: font.height_unscaled() / upem,
            font,
        })
    }

    fn scale(&self, em_px: f32) -> PxScale {
        PxScale::from(em_px * self.scale_per_em)
    }

    /// The advance width of `text` at an em size of 1 px.
    fn width_em(&self, text: &str) -> f32 {
        let font = self.font.as_scaled(self.scale(1.0));
        let mut width = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = previous {
                width += font.kern(p, id);
            }
            width += font.h_advance(id);
            previous = Some(id);
        }
        width
    }
}

/// A caption to draw, with the font to draw it in.
#[derive(Debug, Clone, Copy)]
pub struct Captioning<'a> {
    pub caption: &'a Caption,
    pub font: &'a CaptionFont,
}

/// Where and how large the caption is drawn on a frame.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Layout {
    /// One or two lines.
    pub(super) lines: Vec<String>,
    /// The em size in px.
    pub(super) size: f32,
    /// The outline's radius in px.
    pub(super) outline: usize,
}

/// Lays `text` out for a frame `width`×`height` (see the module's note).
pub(super) fn layout(font: &CaptionFont, text: &str, width: u32, height: u32) -> Layout {
    let (w, h) = (width as f32, height as f32);
    let floor = (w / 15.0).max(8.0);
    let largest = (w * 0.16).min(h * 0.22).max(floor);
    let outline_for = |size: f32| (size * 0.14).max(2.0 * w / 240.0).round().max(1.0);
    // The size at which lines of this em width (and their outline) fill 90% of the width.
    let fit = |width_em: f32| (0.9 * w / (width_em + 0.28).max(0.01)).min(largest);
    let one = fit(font.width_em(text));
    let mut lines = vec![text.to_owned()];
    let mut size = one;
    if (one < 0.75 * largest || one < floor)
        && let Some((first, second)) = balanced_break(font, text)
    {
        let two = fit(font.width_em(&first).max(font.width_em(&second)));
        if two > one * 1.1 {
            lines = vec![first, second];
            size = two;
        }
    }
    let size = size.max(floor);
    Layout {
        lines,
        size,
        outline: outline_for(size) as usize,
    }
}

/// `text` in two lines of the most even widths, the break weighed by what is broken.
fn balanced_break(font: &CaptionFont, text: &str) -> Option<(String, String)> {
    let bounds: Vec<usize> = text
        .grapheme_indices(true)
        .map(|(i, _)| i)
        .skip(1)
        .collect();
    let mut best: Option<(f32, usize)> = None;
    for &at in &bounds {
        let (left, right) = (text[..at].trim_end(), text[at..].trim_start());
        if left.is_empty() || right.is_empty() {
            continue;
        }
        let widest = font.width_em(left).max(font.width_em(right));
        let before = text[..at].chars().next_back().unwrap_or(' ');
        let after = text[at..].chars().next().unwrap_or(' ');
        let mut cost = widest;
        if before == ' ' || after == ' ' || is_break_after(before) {
            cost *= 0.85;
        }
        if is_no_start(after) {
            cost *= 1.5;
        }
        // Do not split a run of Latin letters or digits (a word, a number).
        if before.is_ascii_alphanumeric() && after.is_ascii_alphanumeric() {
            cost *= 1.3;
        }
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, at));
        }
    }
    let (_, at) = best?;
    Some((
        text[..at].trim_end().to_owned(),
        text[at..].trim_start().to_owned(),
    ))
}

/// Punctuation after which a line may well end.
fn is_break_after(c: char) -> bool {
    "，。！？、；：…—,.!?;:~～）)】」』》".contains(c)
}

/// Punctuation that must not begin a line (Chinese typesetting's 避头 rule).
fn is_no_start(c: char) -> bool {
    "，。！？、；：…,.!?;:）)】」』》”’".contains(c)
}

/// The caption as premultiplied RGBA over the frame rows it covers, ready to blend.
pub(super) struct Overlay {
    width: usize,
    /// The frame rows the overlay covers.
    pub(super) rows: Range<usize>,
    /// `width × rows.len()` pixels: premultiplied colour and alpha.
    pixels: Vec<[u8; 4]>,
    /// Fill coverage (0-255) per pixel of `rows`, for tests that look at the text itself.
    #[cfg(test)]
    pub(super) fill: Vec<u8>,
}

impl Overlay {
    /// The overlay of `captioning` on frames `width`×`height`.
    pub(super) fn new(captioning: Captioning<'_>, width: u32, height: u32) -> Self {
        let Captioning { caption, font } = captioning;
        let layout = layout(font, &caption.text, width, height);
        let (w, h) = (width as usize, height as usize);
        let r = layout.outline;
        let scale = font.scale(layout.size);
        let scaled = font.font.as_scaled(scale);
        let pitch = layout.size * 1.2;
        let pad = r + 2;
        // A canvas as wide as the frame and tall enough for the lines with their outline; the
        // text is placed on the frame by its ink, so the font's line metrics do not matter.
        let canvas_h = (pitch * layout.lines.len() as f32 + layout.size) as usize + 2 * pad;
        let mut fill = vec![0f32; w * canvas_h];
        for (i, line) in layout.lines.iter().enumerate() {
            let line_w = font.width_em(line) * layout.size;
            let mut x = (w as f32 - line_w) / 2.0;
            let baseline = pad as f32 + layout.size * 0.95 + i as f32 * pitch;
            let mut previous = None;
            for c in line.chars() {
                let id = scaled.glyph_id(c);
                if let Some(p) = previous {
                    x += scaled.kern(p, id);
                }
                let glyph = id.with_scale_and_position(scale, point(x, baseline));
                x += scaled.h_advance(id);
                previous = Some(id);
                let Some(outlined) = font.font.outline_glyph(glyph) else {
                    continue;
                };
                let bounds = outlined.px_bounds();
                outlined.draw(|gx, gy, coverage| {
                    let px = bounds.min.x as i64 + i64::from(gx);
                    let py = bounds.min.y as i64 + i64::from(gy);
                    if (0..w as i64).contains(&px) && (0..canvas_h as i64).contains(&py) {
                        let at = py as usize * w + px as usize;
                        fill[at] = (fill[at] + coverage).min(1.0);
                    }
                });
            }
        }
        let outline = dilate(&fill, w, canvas_h, r);
        let inked = |mask: &[f32]| {
            let row_has = |y: usize| mask[y * w..(y + 1) * w].iter().any(|&a| a > 0.0);
            let top = (0..canvas_h).find(|&y| row_has(y)).unwrap_or(0);
            let bottom = (0..canvas_h).rev().find(|&y| row_has(y)).unwrap_or(0);
            top..bottom + 1
        };
        let ink = inked(&outline);
        let margin = ((h as f32 * 0.04).round() as usize).max(2);
        // Frame row of canvas row `ink.start`.
        let first_row = match caption.position {
            CaptionPosition::Top => margin as i64,
            CaptionPosition::Bottom => h as i64 - margin as i64 - ink.len() as i64,
        };
        let rows =
            first_row.max(0) as usize..((first_row + ink.len() as i64).max(0) as usize).min(h);
        let mut pixels = Vec::with_capacity(w * rows.len());
        #[cfg(test)]
        let mut fill_bytes = Vec::with_capacity(w * rows.len());
        for y in rows.clone() {
            let cy = (y as i64 - first_row) as usize + ink.start;
            for x in 0..w {
                let (a, o) = (fill[cy * w + x], outline[cy * w + x].max(fill[cy * w + x]));
                // White fill over the dark outline.
                let alpha = a + o * (1.0 - a);
                let mut px = [0u8; 4];
                for ch in 0..3 {
                    px[ch] = (FILL[ch] * a + OUTLINE[ch] * o * (1.0 - a)).round() as u8;
                }
                px[3] = (alpha * 255.0).round() as u8;
                pixels.push(px);
                #[cfg(test)]
                fill_bytes.push((a * 255.0).round() as u8);
            }
        }
        Self {
            width: w,
            rows,
            pixels,
            #[cfg(test)]
            fill: fill_bytes,
        }
    }

    /// Blends the overlay onto one RGBA frame (`width` × the frame's height, 4 bytes a pixel).
    pub(super) fn apply(&self, rgba: &mut [u8]) {
        let start = self.rows.start * self.width * 4;
        let end = (self.rows.end * self.width * 4).min(rgba.len());
        if start >= end {
            return;
        }
        for (px, over) in rgba[start..end].chunks_exact_mut(4).zip(&self.pixels) {
            let keep = 255 - u32::from(over[3]);
            if keep == 255 {
                continue;
            }
            for ch in 0..3 {
                px[ch] =
                    (u32::from(over[ch]) + (u32::from(px[ch]) * keep + 127) / 255).min(255) as u8;
            }
        }
    }
}

/// The grey-scale dilation of `mask` (`w` × `h`) by a disc of radius `r`, its rim anti-aliased.
fn dilate(mask: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
    let ri = r as i64 + 1;
    let disc: Vec<(i64, i64, f32)> = (-ri..=ri)
        .flat_map(|dy| (-ri..=ri).map(move |dx| (dx, dy)))
        .filter_map(|(dx, dy)| {
            let d = ((dx * dx + dy * dy) as f32).sqrt();
            let weight = (r as f32 + 0.5 - d).clamp(0.0, 1.0);
            (weight > 0.0).then_some((dx, dy, weight))
        })
        .collect();
    let mut out = vec![0f32; w * h];
    for y in 0..h {
        for x in 0..w {
            let a = mask[y * w + x];
            if a <= 0.0 {
                continue;
            }
            for &(dx, dy, weight) in &disc {
                let (px, py) = (x as i64 + dx, y as i64 + dy);
                if (0..w as i64).contains(&px) && (0..h as i64).contains(&py) {
                    let at = py as usize * w + px as usize;
                    out[at] = out[at].max(a * weight);
                }
            }
        }
    }
    out
}

/// The caption font for tests: `EMO_CAPTION_FONT` (what `infra/test.sh` exports), else the one
/// `infra/ensure-font.sh` makes in the cache.
#[cfg(test)]
pub(super) fn test_font() -> &'static CaptionFont {
    static FONT: std::sync::OnceLock<CaptionFont> = std::sync::OnceLock::new();
    FONT.get_or_init(|| {
        let path = std::env::var_os("EMO_CAPTION_FONT")
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                let cache = std::env::var_os("XDG_CACHE_HOME")
                    .map(std::path::PathBuf::from)
                    .unwrap_or_else(|| {
                        std::path::PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                            .join(".cache")
                    });
                cache.join("emo/fonts/emo-caption.otf")
            });
        CaptionFont::load(&path).unwrap_or_else(|e| {
            panic!("{e}: the caption font is made by `bash infra/ensure-font.sh` (see README)")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn caption(text: &str) -> Caption {
        Caption::parse(Some(text), None).unwrap().unwrap()
    }

    /// The runs of overlay rows holding white fill.
    fn text_row_runs(overlay: &Overlay) -> Vec<Range<usize>> {
        let mut runs: Vec<Range<usize>> = Vec::new();
        for (i, row) in overlay.fill.chunks_exact(overlay.width).enumerate() {
            if row.iter().any(|&a| a > 128) {
                match runs.last_mut() {
                    Some(run) if run.end == i => run.end = i + 1,
                    _ => runs.push(i..i + 1),
                }
            }
        }
        runs
    }

    #[test]
    fn a_short_caption_is_one_large_line_and_a_long_one_wraps_onto_two() {
        let font = test_font();
        let short = layout(font, "好的", 240, 240);
        assert_eq!(short.lines, ["好的"]);
        assert!((38.0..=38.5).contains(&short.size), "{short:?}");

        let long = layout(font, "努力搬砖的一天，加油打工人！", 240, 240);
        assert_eq!(long.lines.len(), 2, "{long:?}");
        assert_eq!(long.lines.concat(), "努力搬砖的一天，加油打工人！");
        assert!(
            long.lines[0].ends_with('，'),
            "broken after the comma: {long:?}"
        );
        assert!(long.size >= 16.0 && long.outline >= 2, "{long:?}");

        let c = caption("努力搬砖的一天，加油打工人！");
        let overlay = Overlay::new(Captioning { caption: &c, font }, 240, 240);
        let runs = text_row_runs(&overlay);
        assert_eq!(runs.len(), 2, "two separated lines of text: {runs:?}");
        let c = caption("好的");
        let overlay = Overlay::new(Captioning { caption: &c, font }, 240, 240);
        assert_eq!(text_row_runs(&overlay).len(), 1);
    }

    #[test]
    fn the_caption_stays_inside_the_frame_at_the_edge_it_was_asked_for() {
        let font = test_font();
        for text in ["我太难了", "OK", "二十个字二十个字二十个字二十个字二十个字"]
        {
            for (w, h) in [(240, 240), (240, 138), (138, 240)] {
                for position in [CaptionPosition::Bottom, CaptionPosition::Top] {
                    let c = Caption {
                        text: text.into(),
                        position,
                    };
                    let overlay = Overlay::new(Captioning { caption: &c, font }, w, h);
                    let h = h as usize;
                    assert!(overlay.rows.end <= h && !overlay.rows.is_empty());
                    assert!(
                        overlay.rows.len() < h / 2,
                        "{text} {w}x{h}: {:?}",
                        overlay.rows
                    );
                    match position {
                        CaptionPosition::Bottom => assert!(overlay.rows.start > h / 2),
                        CaptionPosition::Top => assert!(overlay.rows.end < h / 2),
                    }
                    // No ink touches the left or right edge: nothing was cut off.
                    for row in overlay.pixels.chunks_exact(overlay.width) {
                        assert_eq!(row[0][3], 0, "{text} {w}x{h}");
                        assert_eq!(row[overlay.width - 1][3], 0, "{text} {w}x{h}");
                    }
                }
            }
        }
    }

    #[test]
    fn text_is_white_inside_a_dark_outline_and_nothing_else_changes() {
        let font = test_font();
        let c = caption("好");
        let overlay = Overlay::new(Captioning { caption: &c, font }, 120, 120);
        let mut frame = vec![128u8; 120 * 120 * 4];
        overlay.apply(&mut frame);
        let pixel = |i: usize| &frame[i * 4..i * 4 + 3];
        let band = overlay.rows.start * 120..overlay.rows.end * 120;
        let white = band
            .clone()
            .filter(|&i| pixel(i) == [255, 255, 255])
            .count();
        let dark = band.clone().filter(|&i| pixel(i)[0] < 30).count();
        assert!(white > 50 && dark > 50, "white {white}, dark {dark}");
        assert!(
            (0..120 * 120)
                .filter(|i| !band.contains(i))
                .all(|i| pixel(i) == [128; 3])
        );
    }

    /// Mean absolute difference per channel between two frames, over the rows in `rows` and
    /// over the others.
    fn differences(a: &image::RgbaImage, b: &image::RgbaImage, rows: &Range<usize>) -> (f64, f64) {
        let (mut inside, mut outside) = ((0u64, 0u64), (0u64, 0u64));
        for (y, (ra, rb)) in a.rows().zip(b.rows()).enumerate() {
            let sum: u64 = ra
                .zip(rb)
                .map(|(p, q)| (0..3).map(|c| u64::from(p[c].abs_diff(q[c]))).sum::<u64>())
                .sum();
            let n = u64::from(a.width()) * 3;
            let slot = if rows.contains(&y) {
                &mut inside
            } else {
                &mut outside
            };
            slot.0 += sum;
            slot.1 += n;
        }
        (
            inside.0 as f64 / inside.1 as f64,
            outside.0 as f64 / outside.1 as f64,
        )
    }

    /// Tesseract's reading of `png` as one line of Simplified Chinese, or `None` (a skip) where
    /// tesseract is not installed outside CI; under `CI` its absence fails the test.
    fn ocr(png: &Path) -> Option<String> {
        let run = std::process::Command::new("tesseract")
            .arg(png)
            .args(["stdout", "-l", "chi_sim", "--psm", "7"])
            .output();
        match run {
            Ok(out) => {
                assert!(
                    out.status.success(),
                    "tesseract failed (is tesseract-ocr-chi-sim installed?): {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                Some(String::from_utf8_lossy(&out.stdout).into_owned())
            }
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must run the OCR check, but tesseract does not run: {e}"
                );
                eprintln!(
                    "skipped the OCR check: tesseract does not run ({e}); bash infra/test.sh installs it"
                );
                None
            }
        }
    }

    #[test]
    fn a_captioned_sticker_differs_only_in_the_captions_band_fits_and_reads_back() {
        use super::super::test_clips::{clip, convert, convert_captioned};
        use super::super::{GifSettings, thumbnail::middle_frame};

        let dir = tempfile::tempdir().unwrap();
        let mp4 = clip(dir.path(), "testsrc2", "624x624");
        let settings = GifSettings::default();
        let font = test_font();
        let c = caption("我太难了");
        let plain = convert(&mp4, &settings);
        let captioned = convert_captioned(&mp4, &settings, Some(Captioning { caption: &c, font }));
        assert!(captioned.gif.len() <= settings.max_bytes);
        assert_eq!(
            (
                captioned.width,
                captioned.height,
                captioned.fps,
                captioned.frames
            ),
            (plain.width, plain.height, plain.fps, plain.frames)
        );

        let band = Overlay::new(Captioning { caption: &c, font }, 240, 240).rows;
        let (a, b) = (
            middle_frame(&plain.gif).unwrap(),
            middle_frame(&captioned.gif).unwrap(),
        );
        let (inside, outside) = differences(&a, &b, &band);
        eprintln!("band {band:?}: mean difference {inside:.1} inside, {outside:.2} outside");
        assert!(inside > 30.0, "the band barely changed: {inside:.1}");
        assert!(outside < 3.0, "the rest changed: {outside:.2}");

        // OCR: the band of the GIF's frame, binarised as OCR input is (the white fill black on
        // white, everything else white), with a margin, enlarged 3x: tesseract reads small text
        // on busy colours badly.
        let (bw, bh) = (b.width(), band.len() as u32);
        let page = image::GrayImage::from_fn(bw + 16, bh + 16, |x, y| {
            let inside = (8..bw + 8).contains(&x) && (8..bh + 8).contains(&y);
            let p = inside.then(|| b.get_pixel(x - 8, y - 8 + band.start as u32));
            image::Luma([if p.is_some_and(|p| p.0[..3].iter().all(|&v| v > 200)) {
                0
            } else {
                255
            }])
        });
        let big = image::imageops::resize(
            &page,
            page.width() * 3,
            page.height() * 3,
            image::imageops::FilterType::CatmullRom,
        );
        let png = dir.path().join("band.png");
        big.save(&png).unwrap();
        if let Some(read) = ocr(&png) {
            let read: String = read.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(read, "我太难了", "tesseract read {read:?}");
        }
    }

    #[test]
    fn a_font_without_the_captions_characters_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-font.otf");
        std::fs::write(&path, b"OTTO and nothing else").unwrap();
        let e = CaptionFont::load(&path).unwrap_err();
        assert!(matches!(e, GifError::Font(_)), "{e:?}");
        let e = CaptionFont::load(&dir.path().join("missing.otf")).unwrap_err();
        assert!(e.to_string().contains("missing.otf"), "{e}");
    }
}
