//! The first encoder: one palette for the whole clip (imagequant over a sample of its frames,
//! [`Palettes`]), every frame mapped onto it ([`index`]) by error diffusion (Sierra Lite, as
//! ffmpeg's default) or ordered (Bayer) dithering ([`Dither`]), each frame after the first stored
//! as the rectangle that changed with the unchanged pixels transparent, and gifsicle's lossy LZW
//! ([`lossy`]) as the knob that trades bytes for error. Transparency is a colour like the others
//! to the LZW where the screen's colour is known, so a string may run across unchanged pixels
//! in either form, as `gifsicle -O3 --lossy` does. It makes most stickers: at 500 KB it beat
//! gifski's per-frame palettes by DSSIM on every benchmark clip it could bring to the budget but
//! one (see `budget`).
//!
//! The palette and the dithered indices ([`Indexed`]) are made once; a pass at another loss only
//! redoes the diff and the LZW, which is what makes the search over the loss ([`fit`]) cheap.

use gifski::collector::RGBA8;
use rgb::RGB8;

use super::GifError;
use super::decode::Frames;
use super::lossy;

/// Frames sampled, evenly over the clip, for the palette.
const PALETTE_SAMPLE: usize = 10;
/// The most colours a palette may have: 256 entries, one of them the transparent one.
pub(super) const MAX_COLOURS: u32 = 255;

/// ffmpeg's `paletteuse=dither=bayer` at its default `bayer_scale=2`: an 8×8 Bayer matrix with
/// offsets -8..=7, added to every channel.
fn bayer(x: usize, y: usize) -> i32 {
    // The 8×8 ordered matrix, built by bit interleaving of x ^ y and y.
    let (x, y) = (x & 7, y & 7);
    let xy = x ^ y;
    let v = ((xy & 1) << 5)
        | ((y & 1) << 4)
        | ((xy & 2) << 2)
        | ((y & 2) << 1)
        | ((xy & 4) >> 1)
        | ((y & 4) >> 2);
    (v as i32 >> 2) - 8
}

/// The clip mapped onto one palette.
pub(super) struct Indexed {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) fps: u32,
    /// `COLOURS` or fewer colours, then the transparent entry (its colour unused).
    pub(super) palette: Vec<RGB8>,
    pub(super) frames: Vec<Vec<u8>>,
}

impl Indexed {
    fn transparent(&self) -> u8 {
        (self.palette.len() - 1) as u8
    }
}

/// How a frame's colours are spread over the palette's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dither {
    /// ffmpeg's `bayer`: a fixed 8×8 pattern, the same in every frame.
    Ordered,
    /// Error diffusion (Sierra Lite, ffmpeg's default `sierra2_4a`): a pixel keeps the index the
    /// previous frame has there when that colour is within `keep` (weighted squared distance) of
    /// the nearest one. The transcoder uses `keep: 0` (ties only): larger holds measured worse
    /// (`bench/encoders.md`); the knob stays for the measurements.
    Diffused { keep: u32 },
}

/// The clip's palettes: imagequant over [`PALETTE_SAMPLE`] frames spread over it, the histogram
/// made once (its contrast maps are most of the cost) and quantised once for each number of
/// colours asked for, when it is first asked for (the fewer-colour forms are tried only on some
/// clips), each with the transparent entry after its colours.
pub(super) struct Palettes {
    attr: imagequant::Attributes,
    histogram: imagequant::Histogram,
    made: Vec<(u32, Vec<RGB8>)>,
}

fn iq(e: imagequant::Error) -> GifError {
    GifError::Internal(format!("imagequant: {e}"))
}

impl Palettes {
    pub(super) fn new(video: &Frames) -> Result<Self, GifError> {
        let (width, height) = (video.width as usize, video.height as usize);
        let mut attr = imagequant::new();
        attr.set_speed(5).map_err(iq)?;
        let mut histogram = imagequant::Histogram::new(&attr);
        let count = video.images.len();
        let sample = PALETTE_SAMPLE.min(count);
        for k in 0..sample {
            let frame = &video.images[k * count / sample];
            let mut image = attr
                .new_image_borrowed(frame.buf(), width, height, 0.0)
                .map_err(iq)?;
            histogram.add_image(&attr, &mut image).map_err(iq)?;
        }
        Ok(Self {
            attr,
            histogram,
            made: Vec::new(),
        })
    }

    /// The palette of at most `colours` colours (255 at most), then the transparent entry.
    pub(super) fn get(&mut self, colours: u32) -> Result<Vec<RGB8>, GifError> {
        if let Some((_, palette)) = self.made.iter().find(|m| m.0 == colours) {
            return Ok(palette.clone());
        }
        self.attr
            .set_max_colors(colours.clamp(2, MAX_COLOURS))
            .map_err(iq)?;
        let mut result = self.histogram.quantize(&self.attr).map_err(iq)?;
        let mut palette: Vec<RGB8> = result.palette().iter().map(|c| c.rgb()).collect();
        palette.push(RGB8::new(0, 0, 0));
        self.made.push((colours, palette.clone()));
        Ok(palette)
    }
}

/// One palette of at most `colours` colours (see [`Palettes`]), for the measurements.
#[cfg(test)]
pub(super) fn palette(video: &Frames, colours: u32) -> Result<Vec<RGB8>, GifError> {
    Palettes::new(video)?.get(colours)
}

/// Dithers the frames `picks` of `video` onto `palette` (its last entry the transparent one);
/// the other frames are left empty.
pub(super) fn index(
    video: &Frames,
    palette: Vec<RGB8>,
    dither: Dither,
    picks: &[usize],
) -> Indexed {
    let width = video.width as usize;
    let mut nearest = Nearest::new(&palette[..palette.len() - 1]);
    let mut frames: Vec<Vec<u8>> = vec![Vec::new(); video.images.len()];
    let mut previous: Option<usize> = None;
    for &pick in picks {
        let image = video.images[pick].buf();
        let frame = match dither {
            Dither::Ordered => image
                .iter()
                .enumerate()
                .map(|(i, px)| {
                    let d = bayer(i % width, i / width);
                    let ch = |c: u8| (i32::from(c) + d).clamp(0, 255) as u8;
                    nearest.of(ch(px.r), ch(px.g), ch(px.b))
                })
                .collect(),
            Dither::Diffused { keep } => {
                let held = previous.map(|p| &frames[p]);
                diffuse(image, width, &mut nearest, held, keep)
            }
        };
        frames[pick] = frame;
        previous = Some(pick);
    }
    Indexed {
        width,
        height: video.height as usize,
        fps: video.fps,
        palette,
        frames,
    }
}

/// Weighted squared distance, as [`Nearest`] ranks colours.
fn weighted(r: i32, g: i32, b: i32, p: RGB8) -> u32 {
    let (dr, dg, db) = (i32::from(p.r) - r, i32::from(p.g) - g, i32::from(p.b) - b);
    (2 * dr * dr + 4 * dg * dg + 3 * db * db) as u32
}

/// One frame by Sierra Lite error diffusion (half the error to the right, a quarter to each of
/// the two pixels below), keeping `previous`'s index where it is within `keep` of the nearest.
/// As ffmpeg's `paletteuse` does it: each neighbour's share is truncated towards zero and added
/// to its 8-bit value, clipped there, so an error of a unit or two goes nowhere. Exact shares
/// (error kept in quarters) measured worse on both counts: more noise for the LZW and no better
/// to see (street, 127 colours, lossless: 844 KB and DSSIM 0.00286 against 832 KB and 0.00244;
/// `bench/encoders.md`).
fn diffuse(
    image: &[RGBA8],
    width: usize,
    nearest: &mut Nearest<'_>,
    previous: Option<&Vec<u8>>,
    keep: u32,
) -> Vec<u8> {
    let palette = nearest.palette;
    let mut out = Vec::with_capacity(image.len());
    let height = image.len() / width;
    // The row being dithered and the one below, as 8-bit values with the errors added so far.
    let load = |row: &mut Vec<[i32; 3]>, y: usize| {
        row.clear();
        let pixels = &image[y * width..(y + 1) * width];
        row.extend(
            pixels
                .iter()
                .map(|p| [i32::from(p.r), i32::from(p.g), i32::from(p.b)]),
        );
    };
    let (mut this_row, mut next_row) = (Vec::with_capacity(width), Vec::with_capacity(width));
    if height > 0 {
        load(&mut this_row, 0);
    }
    for y in 0..height {
        let below = y + 1 < height;
        if below {
            load(&mut next_row, y + 1);
        }
        for x in 0..width {
            let [r, g, b] = this_row[x];
            let mut index = nearest.of(r as u8, g as u8, b as u8);
            if let Some(previous) = previous {
                let held = previous[y * width + x];
                if held != index
                    && weighted(r, g, b, palette[usize::from(held)])
                        <= weighted(r, g, b, palette[usize::from(index)]) + keep
                {
                    index = held;
                }
            }
            let p = palette[usize::from(index)];
            let err = [r - i32::from(p.r), g - i32::from(p.g), b - i32::from(p.b)];
            for c in 0..3 {
                if x + 1 < width {
                    this_row[x + 1][c] = (this_row[x + 1][c] + err[c] * 2 / 4).clamp(0, 255);
                }
                if below {
                    if x > 0 {
                        next_row[x - 1][c] = (next_row[x - 1][c] + err[c] / 4).clamp(0, 255);
                    }
                    next_row[x][c] = (next_row[x][c] + err[c] / 4).clamp(0, 255);
                }
            }
            out.push(index);
        }
        std::mem::swap(&mut this_row, &mut next_row);
    }
    out
}

/// The nearest palette entry of a colour, cached at 6 bits a channel (the dither's steps are
/// coarser than the 2-unit error this leaves). An entry is one byte, 256 KB in all, half of two
/// bytes an entry: the palette searched has at most [`MAX_COLOURS`] entries, so 255 is free to
/// mean "not known yet".
struct Nearest<'p> {
    palette: &'p [RGB8],
    cache: Vec<u8>,
}

impl<'p> Nearest<'p> {
    const UNKNOWN: u8 = u8::MAX;

    fn new(palette: &'p [RGB8]) -> Self {
        debug_assert!(palette.len() <= MAX_COLOURS as usize);
        Self {
            palette,
            cache: vec![Self::UNKNOWN; 1 << 18],
        }
    }

    fn of(&mut self, r: u8, g: u8, b: u8) -> u8 {
        let key = (usize::from(r >> 2) << 12) | (usize::from(g >> 2) << 6) | usize::from(b >> 2);
        if self.cache[key] == Self::UNKNOWN {
            let centre = |c: u8| i32::from(c & !3) + 2;
            let (r, g, b) = (centre(r), centre(g), centre(b));
            let best = self
                .palette
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| {
                    let (dr, dg, db) = (i32::from(p.r) - r, i32::from(p.g) - g, i32::from(p.b) - b);
                    2 * dr * dr + 4 * dg * dg + 3 * db * db
                })
                .map_or(0, |(i, _)| i);
            self.cache[key] = best as u8;
        }
        self.cache[key]
    }
}

/// A GIF of `indexed`'s frames `picks` at gifsicle's `loss`, and the frames it shows (as
/// indices). Only a pixel whose index is unchanged is left as the previous frame showed it:
/// keeping colours merely near the new one (the earlier `loss / 4`) let a slow gradient go stale
/// (gradient + cells: DSSIM 0.0054 against 0.0023 exactly, at 500 KB).
pub(super) fn encode(
    indexed: &Indexed,
    picks: &[usize],
    loss: u32,
) -> Result<(Vec<u8>, Vec<Vec<u8>>), GifError> {
    let pass = code(indexed, picks, None, 0, loss);
    let gif = write(indexed, picks, &pass)?;
    Ok((gif, pass.shown))
}

/// The rectangle of a frame that changed, and its LZW data.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rect {
    left: usize,
    top: usize,
    width: usize,
    height: usize,
    lzw: Vec<u8>,
}

/// One frame as a pass coded it: the rectangle that changed, or `None` when the frame changed
/// nothing (the frame before it is then shown longer).
#[derive(Debug, Clone)]
struct Coded {
    rect: Option<Rect>,
}

impl Coded {
    /// About what the frame adds to the file: its LZW data in 255-byte blocks, and the ~20 bytes
    /// of its control extension, descriptor and terminator.
    fn bytes(&self) -> usize {
        self.rect
            .as_ref()
            .map_or(0, |r| r.lzw.len() + r.lzw.len().div_ceil(255) + 20)
    }
}

/// The frames `picks` coded, one [`Coded`] each, and what the screen shows after each.
pub(super) struct Pass {
    coded: Vec<Coded>,
    shown: Vec<Vec<u8>>,
}

impl Pass {
    /// About what frames `from..` add to the file (see [`Coded::bytes`]).
    fn bytes_from(&self, from: usize) -> usize {
        self.coded[from..].iter().map(Coded::bytes).sum()
    }
}

/// Codes `picks[from..]` at `loss`, over what `before` (a pass over the same picks) showed after
/// frame `from - 1`, and keeps `before`'s frames up to there: a pass that only redoes the tail.
fn code(indexed: &Indexed, picks: &[usize], before: Option<&Pass>, from: usize, loss: u32) -> Pass {
    let (w, h) = (indexed.width, indexed.height);
    let transparent = indexed.transparent();
    let pal = &indexed.palette;
    let mut coded: Vec<Coded> = Vec::with_capacity(picks.len());
    let mut shown_all: Vec<Vec<u8>> = Vec::with_capacity(picks.len());
    let mut shown: Vec<u8> = Vec::new();
    if let Some(before) = before.filter(|_| from > 0) {
        coded.extend_from_slice(&before.coded[..from]);
        shown_all.extend(before.shown[..from].iter().cloned());
        shown = before.shown[from - 1].clone();
    }
    for &pick in &picks[coded.len()..] {
        let target = &indexed.frames[pick];
        let rect = if shown.is_empty() {
            let (lzw, seen) = lossy::write(
                &lossy::Image {
                    img: target,
                    under: &[],
                    transparent: Some(transparent),
                    pal,
                },
                loss,
            );
            shown = seen;
            Some(Rect {
                left: 0,
                top: 0,
                width: w,
                height: h,
                lzw,
            })
        } else {
            // The changed rectangle, row by row: an unchanged row is one slice comparison, and a
            // changed one is searched from each end only as far as its first difference.
            let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
            for y in 0..h {
                let (new, old) = (&target[y * w..(y + 1) * w], &shown[y * w..(y + 1) * w]);
                if new == old {
                    continue;
                }
                let first = new.iter().zip(old).position(|(a, b)| a != b).unwrap_or(0);
                let last = new.iter().zip(old).rposition(|(a, b)| a != b).unwrap_or(0);
                (x0, y0, x1, y1) = (x0.min(first), y0.min(y), x1.max(last), y1.max(y));
            }
            if x0 > x1 {
                None
            } else {
                let (rw, rh) = (x1 - x0 + 1, y1 - y0 + 1);
                // What the screen shows where the pixel is unchanged, transparent (not
                // known to the LZW) where it changed.
                let rows = || (y0..=y1).map(|y| y * w + x0..y * w + x1 + 1);
                let mut under = Vec::with_capacity(rw * rh);
                for row in rows() {
                    let pairs = target[row.clone()].iter().zip(&shown[row]);
                    under.extend(pairs.map(|(&t, &s)| if t == s { t } else { transparent }));
                }
                // Mostly unchanged: the unchanged pixels start as transparency (long runs of
                // it); mostly changed: as their colour (scattered transparency breaks the
                // strings). Either way the LZW may take the other where it makes longer ones.
                let kept = under.iter().filter(|&&u| u != transparent).count();
                let clear = kept * 2 > rw * rh;
                // A palette colour is never the transparent entry, so `under` is transparent
                // exactly where the pixel changed.
                let mut rect = Vec::with_capacity(rw * rh);
                for (row, under) in rows().zip(under.chunks(rw)) {
                    let target = &target[row];
                    if clear {
                        let pairs = target.iter().zip(under);
                        rect.extend(
                            pairs.map(|(&t, &u)| if u == transparent { t } else { transparent }),
                        );
                    } else {
                        rect.extend_from_slice(target);
                    }
                }
                let (lzw, seen) = lossy::write(
                    &lossy::Image {
                        img: &rect,
                        under: &under,
                        transparent: Some(transparent),
                        pal,
                    },
                    loss,
                );
                for (row, seen) in rows().zip(seen.chunks(rw)) {
                    for (screen, &s) in shown[row].iter_mut().zip(seen) {
                        if s != transparent {
                            *screen = s;
                        }
                    }
                }
                Some(Rect {
                    left: x0,
                    top: y0,
                    width: rw,
                    height: rh,
                    lzw,
                })
            }
        };
        coded.push(Coded { rect });
        shown_all.push(shown.clone());
    }
    Pass {
        coded,
        shown: shown_all,
    }
}

/// The GIF of a pass: each changed frame shown until the next changed one's time.
fn write(indexed: &Indexed, picks: &[usize], pass: &Pass) -> Result<Vec<u8>, GifError> {
    let (w, h) = (indexed.width, indexed.height);
    let transparent = indexed.transparent();
    let mut table = vec![0u8; indexed.palette.len() * 3];
    for (i, c) in indexed.palette.iter().enumerate() {
        table[i * 3..i * 3 + 3].copy_from_slice(&[c.r, c.g, c.b]);
    }
    let gif_error = |e: gif::EncodingError| GifError::Internal(format!("GIF writer: {e}"));
    let centis = |pick: usize| (pick as u64 * 100).div_ceil(u64::from(indexed.fps));
    // Each changed frame with its start and the start of the next changed one (or the end).
    let changed: Vec<(usize, u64)> = pass
        .coded
        .iter()
        .zip(picks)
        .enumerate()
        .filter(|(_, (c, _))| c.rect.is_some())
        .map(|(k, (_, &pick))| (k, centis(pick)))
        .collect();
    let end = centis(picks.last().map_or(0, |&p| p + 1));
    let mut out = Vec::with_capacity(pass.bytes_from(0) + table.len() + 32);
    {
        let mut encoder =
            gif::Encoder::new(&mut out, w as u16, h as u16, &table).map_err(gif_error)?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(gif_error)?;
        for (n, &(k, start)) in changed.iter().enumerate() {
            let next = changed.get(n + 1).map_or(end, |c| c.1);
            let Some(rect) = &pass.coded[k].rect else {
                continue;
            };
            let frame = gif::Frame {
                delay: (next.saturating_sub(start)).max(1) as u16,
                dispose: gif::DisposalMethod::Keep,
                transparent: Some(transparent),
                left: rect.left as u16,
                top: rect.top as u16,
                width: rect.width as u16,
                height: rect.height as u16,
                buffer: std::borrow::Cow::Borrowed(rect.lzw.as_slice()),
                ..gif::Frame::default()
            };
            encoder
                .write_lzw_pre_encoded_frame(&frame)
                .map_err(gif_error)?;
        }
    }
    Ok(out)
}

/// The error of shown frames against the source, for comparing encoders at equal bytes: the mean
/// squared difference of 2×2 averages (so a dither's pattern counts as the eye sees it, mostly
/// not), luma-weighted.
pub(super) fn error_of(video: &Frames, picks: &[usize], shown: &[Vec<RGBA8>]) -> f64 {
    let (w, h) = (video.width as usize, video.height as usize);
    let mut sum = 0.0;
    let mut n = 0u64;
    for (&pick, frame) in picks.iter().zip(shown) {
        let source = video.images[pick].buf();
        for y in (0..h.saturating_sub(1)).step_by(2) {
            for x in (0..w.saturating_sub(1)).step_by(2) {
                let at = [
                    y * w + x,
                    y * w + x + 1,
                    (y + 1) * w + x,
                    (y + 1) * w + x + 1,
                ];
                let avg = |img: &[RGBA8], c: fn(&RGBA8) -> u8| {
                    at.iter().map(|&i| f64::from(c(&img[i]))).sum::<f64>() / 4.0
                };
                let dr = avg(source, |p| p.r) - avg(frame, |p| p.r);
                let dg = avg(source, |p| p.g) - avg(frame, |p| p.g);
                let db = avg(source, |p| p.b) - avg(frame, |p| p.b);
                sum += 2.0 * dr * dr + 4.0 * dg * dg + 3.0 * db * db;
                n += 1;
            }
        }
    }
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// Indices as the RGBA frames they show.
pub(super) fn colours(indexed: &Indexed, shown: &[Vec<u8>]) -> Vec<Vec<RGBA8>> {
    shown
        .iter()
        .map(|f| {
            f.iter()
                .map(|&i| {
                    let c = indexed.palette[usize::from(i)];
                    RGBA8::new(c.r, c.g, c.b, 255)
                })
                .collect()
        })
        .collect()
}

/// The frames a GIF shows at each of `times` (centiseconds from its start), composited (gifski's
/// frames are rectangles over the previous ones, and it merges identical neighbours).
#[cfg(test)]
pub(super) fn shown_by(
    gif: &[u8],
    width: usize,
    height: usize,
    times: &[u64],
) -> Result<Vec<Vec<RGBA8>>, GifError> {
    let bad = |e: gif::DecodingError| GifError::Internal(format!("reading back a GIF: {e}"));
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options.read_info(gif).map_err(bad)?;
    let mut canvas = vec![RGBA8::new(0, 0, 0, 0); width * height];
    let mut out = Vec::with_capacity(times.len());
    let mut clock = 0u64;
    while let Some(frame) = decoder.read_next_frame().map_err(bad)? {
        let before = canvas.clone();
        let (l, t) = (usize::from(frame.left), usize::from(frame.top));
        let fw = usize::from(frame.width);
        for (k, px) in frame.buffer.chunks_exact(4).enumerate() {
            let (x, y) = (l + k % fw, t + k / fw);
            if px[3] != 0 && x < width && y < height {
                canvas[y * width + x] = RGBA8::new(px[0], px[1], px[2], 255);
            }
        }
        clock += u64::from(frame.delay);
        while out.len() < times.len() && times[out.len()] < clock {
            out.push(canvas.clone());
        }
        match frame.dispose {
            gif::DisposalMethod::Background => {
                for y in t..(t + usize::from(frame.height)).min(height) {
                    for x in l..(l + fw).min(width) {
                        canvas[y * width + x] = RGBA8::new(0, 0, 0, 0);
                    }
                }
            }
            gif::DisposalMethod::Previous => canvas = before,
            _ => {}
        }
    }
    while out.len() < times.len() {
        out.push(canvas.clone());
    }
    Ok(out)
}

/// The global-palette sticker that fits `max_bytes` best, with the loss that made it and the
/// passes it took; `None` when even the greatest loss does not fit. The first pass is at `start`
/// (the loss the form's trial expects to fill the budget); `trial` is what that trial measured
/// ((loss, ln bytes expected of the whole clip), empty for none), for its slope. A pass over the
/// budget is corrected, while the correction is small, by redoing only the last quarter,
/// half or three quarters of the frames at a greater loss, one that takes off their share of the
/// excess ([`TAIL_REACH`]): the frames before keep the pass's loss and its LZW data, so a
/// correction costs a part of a pass. A pass under [`FILL`] of the budget, or over it by more
/// than a correction reaches, is followed by a whole pass at the loss interpolated from the
/// whole passes so far (in √loss, [`next_loss`]), towards [`AIM`]. A tail is never redone at a
/// lower loss: its first frame would spend its bytes repairing what the greater loss before it
/// left on the screen (the Game of Life at 624 px: 3% more bytes and 5% more DSSIM than one loss
/// throughout). Each coding of frames counts as a pass, [`MAX_PASSES`] at most.
pub(super) fn fit(
    indexed: &Indexed,
    picks: &[usize],
    max_bytes: usize,
    start: u32,
    trial: &[(u32, f64)],
) -> Result<Option<Fitted>, GifError> {
    let budget = max_bytes as f64;
    let aim = AIM * budget;
    // The trial's own slope (its two points of highest loss) while a tail has one point.
    let typical = slope_or(trial, TYPICAL_SLOPE);
    let mut loss = start.min(MAX_LOSS);
    let mut whole: Vec<(u32, f64)> = Vec::new();
    let mut best: Option<Fitted> = None;
    let mut passes = 0;
    // Keeps a pass that fits and fills more than the best so far; true when the search is done.
    let keep = |gif: Vec<u8>, loss: u32, passes: u32, best: &mut Option<Fitted>| {
        let bytes = gif.len();
        if bytes <= max_bytes && best.as_ref().is_none_or(|b| bytes > b.gif.len()) {
            *best = Some(Fitted { gif, loss, passes });
        }
        let done = best.as_mut().is_some_and(|b| {
            b.passes = passes;
            b.gif.len() as f64 >= FILL * budget
        });
        done || passes >= MAX_PASSES
    };
    loop {
        let base = code(indexed, picks, None, 0, loss);
        passes += 1;
        let gif = write(indexed, picks, &base)?;
        let bytes = gif.len() as f64;
        tracing::debug!(loss, bytes, "GIF global-palette pass");
        whole.push((loss, bytes.ln()));
        if keep(gif, loss, passes, &mut best) || loss == 0 && bytes <= budget {
            break;
        }
        // Over the budget: the shortest tail whose bytes need to fall by at most TAIL_REACH to
        // bring the whole to the aim.
        let n = picks.len();
        let quarters: &[usize] = if bytes > budget { &[3, 2, 1] } else { &[] };
        let tail = quarters.iter().map(|q| n * q / 4).find_map(|from| {
            let bytes_from = base.bytes_from(from) as f64;
            let goal = bytes_from - (bytes - aim);
            let reach = (bytes_from / goal).ln();
            (from > 0 && goal > 0.0 && reach <= TAIL_REACH).then_some((from, bytes - bytes_from))
        });
        if let Some((from, head)) = tail {
            let mut points = vec![(loss, (bytes - head).ln())];
            while let Some(next) = next_loss_with(&points, aim - head, typical) {
                // Only greater losses than the head's, each one new, and while more loss
                // still means fewer bytes.
                let rising = points
                    .windows(2)
                    .all(|w| (w[1].0 > w[0].0) == (w[1].1 < w[0].1));
                if next <= loss || points.iter().any(|p| p.0 == next) || !rising {
                    break;
                }
                let pass = code(indexed, picks, Some(&base), from, next);
                passes += 1;
                let gif = write(indexed, picks, &pass)?;
                tracing::debug!(
                    loss,
                    tail_loss = next,
                    from,
                    bytes = gif.len(),
                    "GIF global-palette pass, tail redone"
                );
                points.push((next, (pass.bytes_from(from) as f64).ln()));
                if keep(gif, loss.max(next), passes, &mut best) {
                    return Ok(best);
                }
            }
        }
        let Some(next) = next_loss(&whole, aim) else {
            break;
        };
        if whole.iter().any(|&(l, _)| l == next) {
            break;
        }
        loss = next;
    }
    Ok(best)
}

/// The share of the budget a global-palette sticker fills at least: DSSIM falls steeply with
/// the bytes near the budget (the coffee zoom at 832 px, 63 colours: 0.0063 at 97% of it against
/// 0.0070 at 93%), so the window is narrow, and [`fit`]'s corrections make hitting it cheap.
pub(super) const FILL: f64 = 0.96;
/// The share of the budget a later pass aims at: the middle of [`FILL`]..=100%.
const AIM: f64 = 0.98;
/// The most a correction moves the bytes of the frames it redoes, in ln bytes (about ±30%).
const TAIL_REACH: f64 = 0.3;
const MAX_PASSES: u32 = 6;
/// The greatest loss tried: beyond it lossy LZW smears more than fewer frames would cost.
pub(super) const MAX_LOSS: u32 = 4000;

/// ln bytes fall linearly with the square root of the loss (measured on the street pan: -0.029
/// and -0.027 per unit of √loss between 0, 300 and 800; on the rocket zoom -0.040 to -0.041
/// between 0, 121, 151 and 230), so the search interpolates in √loss. This slope is used when
/// fewer than two points measure the clip's own, and the range a measured one is clamped to.
const TYPICAL_SLOPE: f64 = -0.03;
const SLOPES: (f64, f64) = (-0.2, -0.004);

/// √loss, the search's axis.
fn root(loss: u32) -> f64 {
    f64::from(loss).sqrt()
}

/// The slope of ln bytes against √loss between the two measured points of highest loss (when
/// they are apart), else `typical`: a search that misses extrapolates the clip's own.
fn slope_or(points: &[(u32, f64)], typical: f64) -> f64 {
    let mut sorted = points.to_vec();
    sorted.sort_by_key(|p| p.0);
    match sorted.as_slice() {
        [.., (l0, y0), (l1, y1)] if root(*l1) - root(*l0) >= 1.0 => {
            ((y1 - y0) / (root(*l1) - root(*l0))).clamp(SLOPES.0, SLOPES.1)
        }
        _ => typical,
    }
}

/// A trial of 16 frames in two runs at a loss, scaled by frames, against the full encode at that
/// loss: 0.87-0.98 on the street, gradient and rocket clips (lower at higher losses). The trial is
/// 8 frames now, and the full search's first pass weighs a median 1.10 times what it expects
/// (0.98-1.33 on 14 benchmark clips), which often costs a second pass; the forms are ranked on
/// this scale, and 1.0 here moved four clips to a worse form, so it stays (`bench/cpu.md`).
pub(super) const TRIAL_SCALE: f64 = 0.92;

/// The loss expected to weigh `target`, from the measured (loss, ln bytes): interpolated in √loss
/// between the two points around it, extrapolated from the nearest two (or a typical slope)
/// otherwise.
pub(super) fn next_loss(points: &[(u32, f64)], target: f64) -> Option<u32> {
    next_loss_with(points, target, TYPICAL_SLOPE)
}

/// [`next_loss`] with `typical` as the slope where the points do not measure one (a tail's
/// first correction has one point, and the trial's slope).
fn next_loss_with(points: &[(u32, f64)], target: f64, typical: f64) -> Option<u32> {
    let slope = slope_or(points, typical);
    let goal = target.ln();
    let below = points.iter().filter(|p| p.1 <= goal).min_by_key(|p| p.0);
    let above = points.iter().filter(|p| p.1 > goal).max_by_key(|p| p.0);
    let loss = match (above, below) {
        (Some(&(la, ya)), Some(&(lb, yb))) => {
            if lb <= la + 1 {
                return None;
            }
            let at = root(la) + (root(lb) - root(la)) * (ya - goal) / (ya - yb);
            (at * at)
                .round()
                .clamp(f64::from(la) + 1.0, f64::from(lb) - 1.0)
        }
        (Some(&(la, ya)), None) => {
            if la >= MAX_LOSS {
                return None;
            }
            let at = root(la) + (goal - ya) / slope;
            (at * at).max(f64::from(la) + 20.0).min(f64::from(MAX_LOSS))
        }
        (None, Some(&(lb, yb))) => {
            if lb == 0 {
                return None;
            }
            let at = (root(lb) + (goal - yb) / slope).max(0.0);
            (at * at).clamp(0.0, f64::from(lb) - 1.0)
        }
        (None, None) => return None,
    };
    Some(loss as u32)
}

/// A global-palette sticker within the budget.
pub(super) struct Fitted {
    pub(super) gif: Vec<u8>,
    pub(super) loss: u32,
    pub(super) passes: u32,
}

/// A gifski-like quality (1-100) for a loss, for logs and the job's record: gifski's own loss at
/// that quality is about `10 × ((20 - q/5)^1.8 + 10)`.
pub(super) fn quality_of(loss: u32) -> u8 {
    let x = (f64::from(loss) / 10.0 - 10.0).max(0.0).powf(1.0 / 1.8);
    (100.0 - 5.0 * x).round().clamp(1.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::super::decode::Content;
    use super::super::test_clips::synthetic_frames;
    use super::*;

    /// A drifting two-colour gradient with a square crossing it: 20 frames of 48×32.
    fn clip() -> Frames {
        let (w, h) = (48, 32);
        synthetic_frames((w, h), 20, Content::default(), |x, y, t| {
            if (t..t + 8).contains(&x) && (10..18).contains(&y) {
                RGBA8::new(230, 40, 60, 255)
            } else {
                let v = ((x + y + t) * 255 / (w + h + 20)) as u8;
                RGBA8::new(v, 255 - v, 128, 255)
            }
        })
    }

    fn times(n: usize) -> Vec<u64> {
        (0..n as u64).map(|k| k * 10 + 5).collect()
    }

    #[test]
    fn the_bayer_matrix_uses_each_offset_once_per_tile_in_ffmpegs_range() {
        let mut seen: Vec<i32> = (0..64).map(|i| bayer(i % 8, i / 8)).collect();
        assert!(seen.iter().all(|d| (-8..=7).contains(d)));
        seen.sort_unstable();
        for d in -8..=7 {
            assert_eq!(seen.iter().filter(|&&s| s == d).count(), 4, "{d}");
        }
        assert_eq!(bayer(3, 5), bayer(11, 13));
    }

    #[test]
    fn a_palette_is_the_same_whichever_counts_were_made_before_it_and_holds_at_most_that_many() {
        // The forms ask for their palettes as they are tried, so one made after others must be
        // the one made first.
        let video = clip();
        let alone = Palettes::new(&video).unwrap().get(15).unwrap();
        let mut palettes = Palettes::new(&video).unwrap();
        let first = palettes.get(63).unwrap();
        let after = palettes.get(15).unwrap();
        assert_eq!(after, alone);
        assert_eq!(palettes.get(63).unwrap(), first);
        // At most that many colours, then the transparent entry.
        assert!(
            alone.len() <= 16 && first.len() <= 64,
            "{} {}",
            alone.len(),
            first.len()
        );
        assert!(first.len() > alone.len(), "{} {}", first.len(), alone.len());
    }

    #[test]
    fn without_loss_the_gif_shows_exactly_the_dithered_frames() {
        let video = clip();
        let picks: Vec<usize> = (0..20).collect();
        for dither in [Dither::Ordered, Dither::Diffused { keep: 0 }] {
            let indexed = index(&video, palette(&video, 63).unwrap(), dither, &picks);
            let (gif, shown) = encode(&indexed, &picks, 0).unwrap();
            assert_eq!(shown, indexed.frames, "{dither:?}");
            let decoded = shown_by(&gif, 48, 32, &times(20)).unwrap();
            assert_eq!(decoded, colours(&indexed, &shown), "{dither:?}");
        }
    }

    #[test]
    fn error_diffusion_keeps_the_mean_colour_of_a_flat_area_between_palette_colours() {
        // A flat grey halfway between the only two colours: diffusion alternates them, ordered
        // dithering too, and both average out near the grey.
        let video = synthetic_frames((32, 32), 2, Content::default(), |_, _, _| {
            RGBA8::new(128, 128, 128, 255)
        });
        let palette = vec![
            RGB8::new(96, 96, 96),
            RGB8::new(160, 160, 160),
            RGB8::new(0, 0, 0),
        ];
        let indexed = index(&video, palette, Dither::Diffused { keep: 0 }, &[0, 1]);
        let mean = indexed.frames[0]
            .iter()
            .map(|&i| f64::from(indexed.palette[usize::from(i)].r))
            .sum::<f64>()
            / 1024.0;
        assert!((mean - 128.0).abs() < 2.0, "{mean}");
        assert_eq!(
            indexed.frames[0], indexed.frames[1],
            "a still frame stays still"
        );
    }

    #[test]
    fn with_loss_it_is_smaller_and_reports_what_a_decoder_shows() {
        let video = clip();
        let indexed = index(
            &video,
            palette(&video, 63).unwrap(),
            Dither::Ordered,
            &(0..20).collect::<Vec<_>>(),
        );
        let picks: Vec<usize> = (0..20).collect();
        let (exact, _) = encode(&indexed, &picks, 0).unwrap();
        let (lossy, shown) = encode(&indexed, &picks, 800).unwrap();
        assert!(
            lossy.len() < exact.len(),
            "{} vs {}",
            lossy.len(),
            exact.len()
        );
        let decoded = shown_by(&lossy, 48, 32, &times(20)).unwrap();
        assert_eq!(decoded, colours(&indexed, &shown));
        let error = error_of(&video, &picks, &decoded);
        assert!(error > 0.0 && error < 2000.0, "{error}");
    }

    #[test]
    fn the_fit_stays_within_the_budget_and_uses_most_of_it() {
        let video = clip();
        let indexed = index(
            &video,
            palette(&video, 63).unwrap(),
            Dither::Ordered,
            &(0..20).collect::<Vec<_>>(),
        );
        let picks: Vec<usize> = (0..20).collect();
        let (exact, _) = encode(&indexed, &picks, 0).unwrap();
        let budget = exact.len() * 3 / 4;
        if let Some(fitted) = fit(&indexed, &picks, budget, 0, &[]).unwrap() {
            assert!(fitted.gif.len() <= budget);
            assert!(fitted.loss > 0);
            assert!(fitted.passes as usize <= MAX_PASSES as usize);
        }
        let roomy = fit(&indexed, &picks, exact.len(), 0, &[]).unwrap().unwrap();
        assert_eq!((roomy.loss, roomy.passes), (0, 1));
    }

    #[test]
    fn a_tail_redone_at_more_loss_keeps_the_frames_before_it_and_shows_what_it_reports() {
        let video = clip();
        let picks: Vec<usize> = (0..20).collect();
        let indexed = index(
            &video,
            palette(&video, 63).unwrap(),
            Dither::Diffused { keep: 0 },
            &picks,
        );
        let base = code(&indexed, &picks, None, 0, 100);
        let tail = code(&indexed, &picks, Some(&base), 10, 3000);
        for k in 0..10 {
            assert_eq!(tail.coded[k].rect, base.coded[k].rect, "frame {k}");
            assert_eq!(tail.shown[k], base.shown[k], "frame {k}");
        }
        assert!(
            tail.bytes_from(10) < base.bytes_from(10),
            "{} vs {}",
            tail.bytes_from(10),
            base.bytes_from(10)
        );
        let gif = write(&indexed, &picks, &tail).unwrap();
        let decoded = shown_by(&gif, 48, 32, &times(20)).unwrap();
        assert_eq!(decoded, colours(&indexed, &tail.shown));
    }

    #[test]
    fn the_next_loss_interpolates_in_root_loss_between_the_points_around_the_target() {
        let points = [(0, 13.0f64), (400, 12.0)];
        // Halfway in ln bytes is halfway in √loss: √100 = 10, half of √400.
        let next = next_loss(&points, 12.5f64.exp()).unwrap();
        assert_eq!(next, 100);
        // Past the last point, the clip's own slope carries on: 0.5 more at -0.05 per √loss.
        let next = next_loss(&points, 11.5f64.exp()).unwrap();
        assert_eq!(next, 900);
        // Over the budget at the greatest loss: nothing left to try.
        assert_eq!(next_loss(&[(MAX_LOSS, 13.0)], 1000.0), None);
        // Under at loss 0: already the best there is.
        assert_eq!(next_loss(&[(0, 5.0)], 1000.0), None);
    }

    #[test]
    fn quality_of_inverts_gifskis_loss_roughly() {
        assert_eq!(quality_of(0), 100);
        assert!((48..=52).contains(&quality_of(740)), "{}", quality_of(740));
        assert!(quality_of(1270) < quality_of(740));
    }
}
