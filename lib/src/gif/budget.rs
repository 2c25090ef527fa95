//! The byte budget and the choice of encoder. First the global palette ([`global_palette`]):
//! its [`CANDIDATES`] (colour count and dithering) are each encoded on the trial's frames at loss
//! 0 and at the losses expected to fill the budget, the one whose [`Curve`] of error against
//! bytes is lowest at the budget is dithered in full, and its loss is searched to 96-100% of the
//! budget (`global::fit`). Only when no candidate comes near the budget (or the full search
//! misses) does gifski make the sticker: the clip's bytes against quality and frame count (the
//! calibrated [`SHAPE`], fitted to measured points by [`Model`]), the first quality predicted
//! from the content, the short trial encode that measures what the clip costs, and [`search`],
//! which encodes until a GIF fits, correcting from the bytes it measured, and lowers the frame
//! rate ([`resample`]) only once `min_quality` does not fit.

use super::decode::{Content, Frames};
use super::encode::encode;
use super::global;
use super::{GifError, GifSettings, Method, Sticker};

/// The first full encode aims at this share of the budget: the trial's estimate of a full
/// encode's bytes has a spread of about 6% (one standard deviation, in log bytes, over the
/// benchmark clips), so 90% fits about nine times in ten while leaving little of the budget unused.
const FIRST_FILL: f64 = 0.90;
/// A re-encode after a miss aims here: it starts from a measured full encode, so it can aim closer.
const RETRY_FILL: f64 = 0.93;
/// A fitting encode under this share of the budget is worth one more pass at a higher quality.
const LOW_FILL: f64 = 0.60;

/// `ln(bytes at quality q / bytes at quality 60)` for gifski `fast` at 240 px and 10 fps: the mean
/// over the 16 benchmark clips (`bash bench/run.sh` builds them; the `calibrate` test below
/// prints their bytes on a quality grid). Between the points it is interpolated linearly; the
/// clips spread around it by 0.05-0.1 between 30 and 60 and by up to 0.2 at 90, and the ends (1
/// and 100) are extrapolated. Steep above 60, where gifski's lossy LZW eases off, and flat below
/// 50, where it is strong and the palette is capped at 2×quality colours.
const SHAPE: [(f64, f64); 12] = [
    (1.0, -0.85),
    (10.0, -0.752),
    (20.0, -0.638),
    (25.0, -0.591),
    (30.0, -0.532),
    (40.0, -0.400),
    (50.0, -0.243),
    (60.0, 0.0),
    (70.0, 0.317),
    (80.0, 0.533),
    (90.0, 0.689),
    (100.0, 0.85),
];

/// Bytes grow with the frame count to this power (measured on astronaut, grass and mandelbrot at
/// 5-10 fps and quality 30: half the frames, 0.56-0.58 of the bytes), since gifski stores the
/// differences between frames and frames further apart differ more.
const FRAMES_EXPONENT: f64 = 0.8;

fn shape(quality: f64) -> f64 {
    let q = quality.clamp(SHAPE[0].0, SHAPE[SHAPE.len() - 1].0);
    let upper = SHAPE
        .iter()
        .position(|&(x, _)| x >= q)
        .unwrap_or(SHAPE.len() - 1)
        .max(1);
    let ((q0, y0), (q1, y1)) = (SHAPE[upper - 1], SHAPE[upper]);
    y0 + (y1 - y0) * (q - q0) / (q1 - q0)
}

/// The (real-valued) quality whose [`shape`] is `y`, clamped to 1..=100.
fn shape_inverse(y: f64) -> f64 {
    let upper = SHAPE.iter().position(|&(_, s)| s >= y);
    match upper {
        None => SHAPE[SHAPE.len() - 1].0,
        Some(0) => SHAPE[0].0,
        Some(i) => {
            let ((q0, y0), (q1, y1)) = (SHAPE[i - 1], SHAPE[i]);
            q0 + (q1 - q0) * (y - y0) / (y1 - y0)
        }
    }
}

/// One full encode's weight, measured or estimated: `ln_bytes` at `quality` with `frames`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    quality: u8,
    frames: usize,
    ln_bytes: f64,
}

impl Point {
    /// From the content alone, before any encode. A least-squares fit over the 16 benchmark clips
    /// (50 frames each) of `ln(bytes at quality 60 / (pixels × frames))` against `ln(motion)` and
    /// `ln(detail)`: `-2.614 + 0.180 ln(motion) + 0.369 ln(detail)`, re-based to frames^0.8. Its
    /// error is large (0.29 in log bytes; ×0.5 on mandelbrot's many colours), so it only picks
    /// the quality of the trial, which measures.
    fn predicted(content: Content, pixels: usize, frames: usize) -> Self {
        let ln_bytes = -2.614
            + (1.0 - FRAMES_EXPONENT) * 50f64.ln()
            + (pixels.max(1) as f64).ln()
            + FRAMES_EXPONENT * (frames.max(1) as f64).ln()
            + 0.180 * content.motion.max(0.5).ln()
            + 0.369 * content.detail.max(0.5).ln();
        Self {
            quality: 60,
            frames,
            ln_bytes,
        }
    }
}

/// The clip's bytes against quality and frame count: [`SHAPE`] through the point nearest the
/// target, made steeper or flatter (`steepness`, 0.5-2) to pass through a second point at the same
/// frame count when there is one, and [`FRAMES_EXPONENT`] across frame counts.
#[derive(Debug, Clone, Default)]
struct Model {
    points: Vec<Point>,
}

impl Model {
    /// The highest quality expected to weigh at most `target` bytes with `frames` (1-100; the
    /// caller clamps it to the settings).
    fn quality_for(&self, target: f64, frames: usize) -> u8 {
        let Some(near) = self.nearest(target, frames) else {
            return 1;
        };
        let steepness = self.steepness(near, target, frames);
        let frames_term = FRAMES_EXPONENT * (frames.max(1) as f64 / near.frames.max(1) as f64).ln();
        let y = shape(f64::from(near.quality))
            + (target.ln() - near.ln_bytes - frames_term) / steepness;
        // The epsilon keeps an exact hit on a whole quality from rounding down past it.
        (shape_inverse(y) + 1e-9).floor().clamp(1.0, 100.0) as u8
    }

    /// The point to extrapolate from: at `frames` if any is, the one closest to `target` in bytes.
    fn nearest(&self, target: f64, frames: usize) -> Option<Point> {
        let distance = |p: &&Point| (p.ln_bytes - target.ln()).abs();
        let same: Vec<&Point> = self.points.iter().filter(|p| p.frames == frames).collect();
        let pool: Vec<&Point> = if same.is_empty() {
            self.points.iter().collect()
        } else {
            same
        };
        pool.into_iter()
            .min_by(|a, b| distance(a).total_cmp(&distance(b)))
            .copied()
    }

    /// How much steeper than [`SHAPE`] the clip's curve is between `near` and the next nearest
    /// point at least 3 qualities away at the same frame count (1 without one).
    fn steepness(&self, near: Point, target: f64, frames: usize) -> f64 {
        let distance = |p: &&Point| (p.ln_bytes - target.ln()).abs();
        let other = self
            .points
            .iter()
            .filter(|p| p.frames == frames && p.frames == near.frames)
            .filter(|p| p.quality.abs_diff(near.quality) >= 3)
            .min_by(|a, b| distance(a).total_cmp(&distance(b)));
        match other {
            Some(other) => {
                let along_shape = shape(f64::from(other.quality)) - shape(f64::from(near.quality));
                let measured = other.ln_bytes - near.ln_bytes;
                (measured / along_shape).clamp(0.5, 2.0)
            }
            None => 1.0,
        }
    }

    fn ln_bytes_at(&self, quality: u8, frames: usize, target: f64) -> f64 {
        let Some(near) = self.nearest(target, frames) else {
            return f64::INFINITY;
        };
        near.ln_bytes
            + self.steepness(near, target, frames)
                * (shape(f64::from(quality)) - shape(f64::from(near.quality)))
            + FRAMES_EXPONENT * (frames.max(1) as f64 / near.frames.max(1) as f64).ln()
    }
}

/// The trial: two runs of [`TRIAL_RUN`] consecutive frames, around a quarter and three quarters
/// of the clip, encoded as one short GIF. Consecutive frames keep the frame-to-frame differences
/// a full encode stores, so a full encode weighs about `TRIAL_SCALE × frames / trial frames`
/// times the trial (measured on the benchmark clips at quality 60: spread 0.058 in log bytes,
/// against 0.146 for every 5th frame and 0.29 for the content prediction alone), at about a
/// quarter of a full encode's CPU. Its estimate holds across qualities (the ratio moved by 0.02
/// from quality 40 to 80), so when the quality it points to is far from the one it was made at,
/// a second trial there pins the clip's own steepness. Clips under [`TRIAL_MIN_FRAMES`] are
/// encoded without one.
const TRIAL_RUN: usize = 8;
const TRIAL_SCALE: f64 = 0.98;
const TRIAL_MIN_FRAMES: usize = 40;
/// A second trial is made when the first points this many qualities or more away from itself.
const TRIAL_AGAIN: u8 = 8;

fn trial_picks(count: usize) -> Vec<usize> {
    runs(count, TRIAL_RUN)
}

/// Two runs of `run` consecutive frames, around a quarter and three quarters of the clip.
fn runs(count: usize, run: usize) -> Vec<usize> {
    [1, 3]
        .iter()
        .flat_map(|quarter| {
            let start = (quarter * count / 4).saturating_sub(run / 2);
            start..(start + run).min(count)
        })
        .collect()
}

/// Predicts a quality from the content, checks it with a trial (two when the first is far off),
/// encodes at the quality the trials point to, and corrects from the measured bytes only when that
/// misses: one full encode most of the time. Falls back to fewer frames when even `min_quality`
/// is too big.
pub(super) fn fit_budget(video: &Frames, settings: &GifSettings) -> Result<Sticker, GifError> {
    let count = video.images.len();
    let pixels = video.width as usize * video.height as usize;
    let frames_at = |fps: u32| resample(count, video.fps, fps).len();
    let target = settings.max_bytes as f64 * FIRST_FILL;
    let clamp = |q: u8| q.clamp(settings.min_quality, settings.quality);
    let mut model = Model {
        points: vec![Point::predicted(video.content, pixels, count)],
    };
    let mut trial_frames = 0;
    if count >= TRIAL_MIN_FRAMES {
        let (sticker, tried) = global_palette(video, settings, &runs(count, GLOBAL_TRIAL_RUN))?;
        if let Some(sticker) = sticker {
            return Ok(sticker);
        }
        trial_frames += tried;
        let picks = trial_picks(count);
        let mut trials: Vec<Point> = Vec::new();
        let mut quality = clamp(model.quality_for(target, count));
        while trials.len() < 2 {
            let trial = encode(video, &picks, quality)?;
            trial_frames += picks.len();
            let estimate =
                trial.len().max(1) as f64 * TRIAL_SCALE * count as f64 / picks.len() as f64;
            tracing::debug!(
                quality,
                frames = picks.len(),
                bytes = trial.len(),
                estimate,
                "GIF trial"
            );
            trials.push(Point {
                quality,
                frames: count,
                ln_bytes: estimate.ln(),
            });
            model = Model {
                points: trials.clone(),
            };
            let next = clamp(model.quality_for(target, count));
            if next.abs_diff(quality) < TRIAL_AGAIN {
                break;
            }
            quality = next;
        }
    }
    let found = search(settings, video.fps, model, frames_at, |quality, fps| {
        let picks = resample(count, video.fps, fps);
        let gif = encode(video, &picks, quality)?;
        tracing::debug!(
            quality,
            fps,
            bytes = gif.len(),
            budget = settings.max_bytes,
            "GIF pass"
        );
        Ok(gif)
    })?;
    Ok(Sticker {
        gif: found.gif,
        width: video.width,
        height: video.height,
        frames: frames_at(found.fps),
        quality: found.quality,
        fps: found.fps,
        passes: found.passes,
        trial_frames,
        method: Method::Gifski,
    })
}

/// What a trial measured of one encoder on the trial's frames: (ln bytes a full encode is
/// expected to weigh, ln [`global::error_of`]) at one or two settings, and whether the
/// highest-bytes point is the encoder's best (its highest quality: more budget buys nothing).
#[derive(Debug, Clone, Default)]
struct Curve {
    points: Vec<(f64, f64)>,
    capped: bool,
}

/// The slope of ln error against ln bytes assumed with one point (measured on the benchmark's
/// clips: -0.8 to -1.6 for both encoders near 500 KB), and the range a measured one is clamped to.
const ERROR_SLOPE: f64 = -1.2;
const ERROR_SLOPES: (f64, f64) = (-4.0, -0.2);

impl Curve {
    /// The ln error expected of a full encode that weighs `ln_bytes`: linear in log-log through
    /// the two points (or one point and [`ERROR_SLOPE`]), flat past the best a capped curve has.
    fn ln_error_at(&self, ln_bytes: f64) -> f64 {
        let mut points = self.points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some(&top) = points.last() else {
            return f64::INFINITY;
        };
        let ln_bytes = if self.capped {
            ln_bytes.min(top.0)
        } else {
            ln_bytes
        };
        let slope = match points.as_slice() {
            [a, .., b] if b.0 - a.0 > 0.02 => {
                ((b.1 - a.1) / (b.0 - a.0)).clamp(ERROR_SLOPES.0, ERROR_SLOPES.1)
            }
            _ => ERROR_SLOPE,
        };
        let near = points
            .iter()
            .min_by(|a, b| (a.0 - ln_bytes).abs().total_cmp(&(b.0 - ln_bytes).abs()))
            .copied()
            .unwrap_or(top);
        near.1 + slope * (ln_bytes - near.0)
    }
}

/// How far over the budget (in ln bytes) the global palette's smallest trial may be and still be
/// chosen: its full search extrapolates the clip's own slope from there.
const GLOBAL_REACH: f64 = 0.2;

/// The error of a GIF of the trial's frames, as a decoder shows it (for the measurements).
#[cfg(test)]
fn trial_error(video: &Frames, picks: &[usize], gif: &[u8]) -> Result<f64, GifError> {
    let (w, h) = (video.width as usize, video.height as usize);
    // Mid-frame times, so a delay rounded a centisecond either way still picks the right frame.
    let centis = |p: usize| (p as u64 * 100).div_ceil(u64::from(video.fps));
    let half = 50 / u64::from(video.fps);
    let times: Vec<u64> = picks
        .iter()
        .map(|&p| centis(p) - centis(picks[0]) + half)
        .collect();
    let shown = global::shown_by(gif, w, h, &times)?;
    Ok(global::error_of(video, picks, &shown))
}

/// The least loss a trial tries after loss 0 (the street pan at 63 colours: loss 24 and 50
/// changed its bytes by under 1%, while 150-350 is where most clips land).
const FIRST_LOSS: u32 = 150;

/// What a global-palette form's trial measured.
struct Trial {
    /// Its error against bytes, for ranking the forms.
    curve: Curve,
    /// The loss expected to weigh the trial's target: where the full search starts.
    start: u32,
    /// (loss, ln bytes expected of a full encode) at each loss tried, for the full search's slope.
    measured: Vec<(u32, f64)>,
}

/// The global palette's trial on `picks`: loss 0, and while that is expected over `target`, the
/// loss expected to fill it (three points at most).
fn global_trial(
    video: &Frames,
    indexed: &global::Indexed,
    picks: &[usize],
    target: f64,
) -> Result<Trial, GifError> {
    let count = video.images.len();
    let scale = global::TRIAL_SCALE * count as f64 / picks.len() as f64;
    let mut curve = Curve {
        points: Vec::new(),
        capped: true,
    };
    let mut measured: Vec<(u32, f64)> = Vec::new();
    let mut loss = 0;
    loop {
        let (gif, shown) = global::encode(indexed, picks, loss)?;
        let estimate = gif.len().max(1) as f64 * scale;
        let error = global::error_of(video, picks, &global::colours(indexed, &shown));
        tracing::debug!(
            loss,
            bytes = gif.len(),
            estimate,
            error,
            "GIF global-palette trial"
        );
        curve.points.push((estimate.ln(), error.max(1e-9).ln()));
        measured.push((loss, estimate.ln()));
        if estimate <= target || measured.len() == 3 {
            break;
        }
        match global::next_loss(&measured, target) {
            // From loss 0, at least FIRST_LOSS: below it a coarse palette's strings do not
            // grow at all, and the extrapolation from there would overshoot.
            Some(next) if next != loss => loss = next.max(if loss == 0 { FIRST_LOSS } else { 0 }),
            _ => break,
        }
    }
    let start = global::next_loss(&measured, target).unwrap_or(loss);
    Ok(Trial {
        curve,
        start,
        measured,
    })
}

/// The share of the budget at which the global palette's forms are compared (by the error their
/// trials expect there): where the measurements behind [`CANDIDATES`] and [`FEWER`] were made.
/// The full search's first pass aims here too, as the trial expects it: a full pass weighs a
/// median 1.10 times what the trial expects (0.98-1.33 on the benchmark's clips), so most first
/// passes land in `global::fit`'s window or over it, where a correction costs part of a pass,
/// rather than under it, where it costs a whole one.
const RANK_AT: f64 = 0.92;

/// The global palette's candidates, each tried on the trial's frames: the number of colours and
/// the dithering. Measured at 500 KB on the benchmark's clips (`explore_global` below, DSSIM by
/// `bench/run.sh`'s tool), each of these is the best one on some clip: 127 diffused on footage,
/// the rocket zoom, the cartoon and the test pattern, 63 diffused on gradients and the coffee
/// zoom, 63 ordered on busy footage and fractals. 255 diffused was best only on the cartoon and
/// the test pattern, where 127 also beats every recipe, so it is not worth a trial on every clip.
/// [`FEWER`] colours are tried after them, when a 63-colour form fits, and [`FEWEST`] after that,
/// when the [`FEWER`] form is the best.
const CANDIDATES: [(u32, global::Dither); 3] = [
    (127, global::Dither::Diffused { keep: 0 }),
    (63, global::Dither::Diffused { keep: 0 }),
    (63, global::Dither::Ordered),
];

/// The fourth form: this many colours, dithered as the better 63-colour form, tried when that
/// form is expected to fit below [`FEWER_BELOW`]. Fewer colours need less loss, and where the
/// budget is tight that wins (life at 832 px: 0.0011 against 0.0033 with 127 colours; life at
/// 624 px, grass, the astronaut and the face are better with it too).
const FEWER: u32 = 31;
/// A 63-colour form that needs this much loss or more to fit is at the ceiling: the motion is
/// beyond one palette, and 31 colours would only hide it at a far worse picture than gifski's
/// (the photo zoom: 63 ordered expected at loss 3983, 31 fitted at DSSIM 0.0232 where gifski made
/// 0.0125; life at 624 px and grass, which gain from 31, need 2669 and 2854).
const FEWER_BELOW: u32 = 3500;
/// The fifth form: this many colours, diffused, tried when the [`FEWER`] form is the best so
/// far and needs loss to fit, but less than [`FEWER_BELOW`]. Halving the colours again halves
/// the colour table and takes a bit off every LZW code, so the budget needs still less loss: the
/// grass zoom at 832 px, where 31 ordered was the best form and measured DSSIM 0.0095 at 500 KB
/// (the best recipe 0.0080), measured 0.0060 with 15 diffused, fitted in full
/// (`explore_global`), and its cheap errors ranked the forms the same way. Diffused because at 15
/// colours it was the better dithering wherever either fitted (grass: 15 ordered 0.0071), and
/// because 15 ordered misled the trial on life at 624 px: its bytes hardly fall with loss there,
/// so it was expected to fit at loss 1541, chosen, and fitted at 0.0115 against 31 ordered's
/// 0.0103 (`bench/encoders.md`). A 31-colour form that fits without loss is left as it is (life
/// at 832 px: 23 colours fitted at 0.0014 against 31's 0.0011).
const FEWEST: u32 = 15;
/// The greatest loss the chosen form's trial may expect to need: one needing more is at the
/// ceiling, and gifski makes the sticker without the full pass. Its full pass lands over the
/// budget (a full pass weighs a median 1.10 times its trial, and past this loss there is
/// hardly any loss left to add), and where such a form fitted it looked far worse than gifski
/// (the photo zoom: DSSIM 0.0232 against 0.0125). On the benchmark that pass was 0.1-0.3 CPU-s
/// spent for nothing on the astronaut, bigbuckbunny, mandelbrot and the photo zoom at 624 px.
const GLOBAL_MAX_START: u32 = 3800;
/// The global palette's trial: two runs of this many frames (8 in all, against gifski's 16). Each
/// form's trial costs as many LZW passes as it takes to find the budget, so half the frames is
/// about a third less of the whole encoder's CPU; on the benchmark's 22 clips the forms chosen
/// with 8 frames scored as well by DSSIM as with 16 (19 better than every recipe either way).
const GLOBAL_TRIAL_RUN: usize = 4;

/// The global-palette sticker ([`global`]) from the best of its [`CANDIDATES`], [`FEWER`] and
/// [`FEWEST`] on the trial (by the cheap error, expected at the budget), with the trial frames it
/// encoded; `None` when no candidate's trial came near the budget or the full encode did not
/// fit, and gifski makes the sticker instead. gifski is not tried first: at 500 KB the global palette
/// measured better by DSSIM on 17 of the benchmark's 22 clips, equal on the test pattern, and
/// worse where it could not reach the budget at all (large photo zooms, the 624 px cartoon and
/// fractal); the cheap error, which ranks the global palette's forms among themselves well
/// enough (the same 2×2-average error in luma orders 190 of 191 pairs of whole-clip GIFs of the
/// forms as DSSIM does, `bench/encoders.md`; the trial's extrapolation to the budget is the
/// weaker part), ranked gifski ahead on clips where DSSIM put it far behind (the cartoon: 4.0
/// against 4.7, DSSIM 0.00043 against 0.00009), so it cannot make that choice, and the trial
/// gifski's comparison needed cost every clip about 0.15 CPU-s.
fn global_palette(
    video: &Frames,
    settings: &GifSettings,
    picks: &[usize],
) -> Result<(Option<Sticker>, usize), GifError> {
    let count = video.images.len();
    let target = settings.max_bytes as f64 * RANK_AT;
    let mut forms: Vec<(u32, global::Dither)> = CANDIDATES.to_vec();
    // One palette per colour count, shared by the forms that have it.
    let mut palettes = global::Palettes::new(video)?;
    // The best form so far: (its expected ln error, its index, its trial).
    let mut best: Option<(f64, usize, Trial)> = None;
    // The best 63-colour form that fits below FEWER_BELOW: (its expected ln error, its dithering).
    let mut best63: Option<(f64, global::Dither)> = None;
    let mut tried = 0;
    let mut form = 0;
    while let Some(&(colours, dither)) = forms.get(form) {
        let indexed = global::index(video, palettes.get(colours)?, dither, picks);
        let trial = global_trial(video, &indexed, picks, target)?;
        let (curve, start) = (&trial.curve, trial.start);
        tried += picks.len() * curve.points.len();
        // A trial that stayed far over the budget even at its greatest loss says nothing of the
        // error at the budget but that the full search will not reach it (the face clip: 1.3×).
        let reached = curve
            .points
            .iter()
            .map(|p| p.0)
            .fold(f64::INFINITY, f64::min);
        let error = curve.ln_error_at(target.ln());
        tracing::debug!(
            colours,
            ?dither,
            error = error.exp(),
            start,
            ?curve,
            "GIF global-palette candidate"
        );
        let fits = reached <= target.ln() + GLOBAL_REACH;
        let now_best = fits && best.as_ref().is_none_or(|b| error < b.0);
        if now_best {
            best = Some((error, form, trial));
        }
        if fits && colours == 63 && start < FEWER_BELOW && best63.is_none_or(|b| error < b.0) {
            best63 = Some((error, dither));
        }
        form += 1;
        if form == CANDIDATES.len()
            && let Some((_, dither)) = best63
        {
            forms.push((FEWER, dither));
        }
        // The FEWER form is the best so far, and needs loss: fewer colours still.
        if colours == FEWER && now_best && (1..FEWER_BELOW).contains(&start) {
            forms.push((FEWEST, global::Dither::Diffused { keep: 0 }));
        }
    }
    let Some((_, form, trial)) = best else {
        return Ok((None, tried));
    };
    if trial.start >= GLOBAL_MAX_START {
        return Ok((None, tried));
    }
    let (colours, dither) = forms[form];
    let palette = palettes.get(colours)?;
    let all = resample(count, video.fps, video.fps);
    let indexed = global::index(video, palette, dither, &all);
    let Some(fitted) = global::fit(
        &indexed,
        &all,
        settings.max_bytes,
        trial.start,
        &trial.measured,
    )?
    else {
        return Ok((None, tried));
    };
    let sticker = Sticker {
        gif: fitted.gif,
        width: video.width,
        height: video.height,
        frames: count,
        quality: global::quality_of(fitted.loss),
        fps: video.fps,
        passes: fitted.passes,
        trial_frames: tried,
        method: Method::GlobalPalette,
    };
    Ok((Some(sticker), tried))
}

/// The fitting encode [`search`] settled on.
#[derive(Debug)]
struct Found {
    gif: Vec<u8>,
    quality: u8,
    fps: u32,
    passes: u32,
}

/// The highest frame rate from `fps` down whose `min_quality` is expected to fit `target`, and
/// the highest quality expected to fit at it.
fn plan(
    model: &Model,
    target: f64,
    fps: u32,
    settings: &GifSettings,
    frames_at: &impl Fn(u32) -> usize,
) -> (u8, u32) {
    let fits =
        |fps: u32| model.ln_bytes_at(settings.min_quality, frames_at(fps), target) <= target.ln();
    let fps = (settings.min_fps..=fps)
        .rev()
        .find(|&f| fits(f))
        .unwrap_or(settings.min_fps);
    let quality = model
        .quality_for(target, frames_at(fps))
        .clamp(settings.min_quality, settings.quality);
    (quality, fps)
}

/// Encodes (through `encode(quality, fps)`) until a GIF fits `settings.max_bytes`, starting from
/// what `model` expects and learning from every measured pass. Only a measured GIF within the
/// budget is returned. While passes are over the budget quality falls strictly, and it never
/// falls to or below a quality that fitted, so the search ends; at `min_quality` the frame rate
/// falls instead, and at `min_fps` too it gives up with [`GifError::OverBudget`].
fn search(
    settings: &GifSettings,
    max_fps: u32,
    estimates: Model,
    frames_at: impl Fn(u32) -> usize,
    mut encode: impl FnMut(u8, u32) -> Result<Vec<u8>, GifError>,
) -> Result<Found, GifError> {
    let budget = settings.max_bytes;
    let retry_target = budget as f64 * RETRY_FILL;
    let (mut quality, mut fps) = plan(
        &estimates,
        budget as f64 * FIRST_FILL,
        max_fps,
        settings,
        &frames_at,
    );
    // Measured passes replace the estimates as soon as there is one.
    let mut model = Model::default();
    let mut passes = 0;
    let mut smallest = usize::MAX;
    // At the current frame rate: the best pass that fitted, and the lowest quality that did not.
    let mut fitted: Option<(Vec<u8>, u8)> = None;
    let mut over: Option<u8> = None;
    let mut raised = false;
    loop {
        let gif = encode(quality, fps)?;
        passes += 1;
        let bytes = gif.len();
        let frames = frames_at(fps);
        model.points.push(Point {
            quality,
            frames,
            ln_bytes: (bytes.max(1) as f64).ln(),
        });
        let done = |gif: Vec<u8>, quality: u8| Found {
            gif,
            quality,
            fps,
            passes,
        };
        if bytes <= budget {
            let ceiling = over.map_or(settings.quality, |q| q - 1);
            if (bytes as f64) >= budget as f64 * LOW_FILL || raised || quality >= ceiling {
                return Ok(done(gif, quality));
            }
            // Far under the budget: one pass higher, keeping this one in case that misses.
            let next = model.quality_for(retry_target, frames).min(ceiling);
            if next <= quality {
                return Ok(done(gif, quality));
            }
            fitted = Some((gif, quality));
            raised = true;
            quality = next;
            continue;
        }
        smallest = smallest.min(bytes);
        if raised {
            // The pass up missed: the one before it fits.
            let (gif, quality) = fitted.take().expect("a raised pass follows a fitting one");
            return Ok(done(gif, quality));
        }
        over = Some(quality);
        if quality > settings.min_quality {
            let next = model
                .quality_for(retry_target, frames)
                .min(quality - 1)
                .max(settings.min_quality);
            if let Some((gif, fit_quality)) = fitted.take() {
                if next <= fit_quality {
                    return Ok(done(gif, fit_quality));
                }
                fitted = Some((gif, fit_quality));
            }
            quality = next;
        } else if fps > settings.min_fps {
            (quality, fps) = plan(&model, retry_target, fps - 1, settings, &frames_at);
            fitted = None;
            over = None;
        } else {
            return Err(GifError::OverBudget {
                smallest,
                max_bytes: budget,
                quality,
                fps,
            });
        }
    }
}

/// Indices into `count` frames at `from` fps that show the same span at `to` fps.
fn resample(count: usize, from: u32, to: u32) -> Vec<usize> {
    let (from, to) = (from as usize, to as usize);
    (0..(count * to).div_ceil(from))
        .map(|k| k * from / to)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Instant;

    use gifski::collector::RGBA8;

    use super::super::decode::decode;
    use super::super::test_clips::{ffmpeg, synthetic_frames};
    use super::*;

    /// Not a test but the calibration behind [`SHAPE`], [`Anchor::predicted`] and [`TRIAL_SCALE`]:
    /// for every MP4 in the folder `EMO_GIF_CALIBRATE` (the benchmark's clips are in
    /// `~/.cache/emo/sticker-bench/clips` after `bash bench/run.sh`) it prints the content
    /// measures and the bytes of a full encode at each quality of `EMO_GIF_CALIBRATE_GRID`
    /// (`QUALITY` or `QUALITY:trial`), and writes the GIFs into `EMO_GIF_CALIBRATE_OUT` if set.
    /// `cargo test --release -p emo --lib gif::budget::tests::calibrate -- --ignored --nocapture`
    #[test]
    #[ignore = "calibration, run by hand"]
    fn calibrate() {
        let Ok(dir) = std::env::var("EMO_GIF_CALIBRATE") else {
            return;
        };
        let out = std::env::var("EMO_GIF_CALIBRATE_OUT")
            .ok()
            .map(PathBuf::from);
        let grid = std::env::var("EMO_GIF_CALIBRATE_GRID")
            .unwrap_or_else(|_| "10,20,30,40,50,60,70,80,90,60:trial".into());
        let clips = bench_clips(&dir, "");
        let settings = GifSettings::default();
        for clip in clips {
            let video = decode(ffmpeg(), &clip, &settings, None).unwrap();
            let name = clip.file_stem().unwrap().to_string_lossy().to_string();
            let all = resample(video.images.len(), video.fps, video.fps);
            for spec in grid.split(',') {
                let (quality, trial) = match spec.split_once(':') {
                    Some((quality, "trial")) => (quality, true),
                    _ => (spec, false),
                };
                let quality: u8 = quality.parse().unwrap();
                let picks = if trial {
                    trial_picks(all.len())
                } else {
                    all.clone()
                };
                let started = Instant::now();
                let gif = encode(&video, &picks, quality).unwrap();
                println!(
                    "{name} {}x{} frames {} motion {:.3} detail {:.3} spec {spec} bytes {} encode_s {:.3}",
                    video.width,
                    video.height,
                    picks.len(),
                    video.content.motion,
                    video.content.detail,
                    gif.len(),
                    started.elapsed().as_secs_f64()
                );
                if let Some(out) = &out {
                    let file = out.join(format!("{name}@{}.gif", spec.replace(':', "_")));
                    std::fs::write(file, &gif).unwrap();
                }
            }
        }
    }

    /// Not a test but the measurement behind the encoder choice: for every MP4 in
    /// `EMO_GIF_CALIBRATE`, gifski at a few qualities and the global palette at a few colour
    /// counts and losses, each on the trial's frames and on the whole clip, with bytes and
    /// [`global::error_of`]; the whole-clip GIFs go to `EMO_GIF_CALIBRATE_OUT` (to score by DSSIM).
    /// `cargo test --release -p emo --lib gif::budget::tests::compare_encoders -- --ignored --nocapture`
    #[test]
    #[ignore = "measurement, run by hand"]
    fn compare_encoders() {
        let Some((clips, out)) = measurement_inputs() else {
            return;
        };
        let settings = GifSettings::default();
        for clip in clips {
            let video = decode(ffmpeg(), &clip, &settings, None).unwrap();
            let name = clip.file_stem().unwrap().to_string_lossy().to_string();
            let count = video.images.len();
            let all: Vec<usize> = (0..count).collect();
            let trial = trial_picks(count);
            let (w, h) = (video.width as usize, video.height as usize);
            let times = |picks: &[usize]| -> Vec<u64> {
                picks
                    .iter()
                    .map(|&p| (p - picks[0]) as u64 * 10 + 5)
                    .collect()
            };
            for (scope, picks) in [("trial", &trial), ("full", &all)] {
                for quality in [40u8, 55, 70, 85, 100] {
                    let started = Instant::now();
                    let gif = encode(&video, picks, quality).unwrap();
                    let s = started.elapsed().as_secs_f64();
                    let shown = global::shown_by(&gif, w, h, &times(picks)).unwrap();
                    let error = global::error_of(&video, picks, &shown);
                    println!(
                        "{name} gifski q{quality} {scope} bytes {} error {error:.2} s {s:.3}",
                        gif.len()
                    );
                    if scope == "full" {
                        std::fs::write(out.join(format!("{name}@gifski-q{quality}.gif")), &gif)
                            .unwrap();
                    }
                }
                for colours in [255u32, 127, 63] {
                    let started = Instant::now();
                    let palette = global::palette(&video, colours).unwrap();
                    let indexed = global::index(&video, palette, global::Dither::Ordered, picks);
                    let si = started.elapsed().as_secs_f64();
                    for loss in [0u32, 60, 150, 300, 600] {
                        let started = Instant::now();
                        let (gif, shown) = global::encode(&indexed, picks, loss).unwrap();
                        let s = started.elapsed().as_secs_f64();
                        let error =
                            global::error_of(&video, picks, &global::colours(&indexed, &shown));
                        println!(
                            "{name} global c{colours}-l{loss} {scope} bytes {} error {error:.2} s {s:.3} index_s {si:.3}",
                            gif.len()
                        );
                        if scope == "full" {
                            std::fs::write(
                                out.join(format!("{name}@global-c{colours}-l{loss}.gif")),
                                &gif,
                            )
                            .unwrap();
                        }
                    }
                }
            }
        }
    }

    /// Not a test but the measurement behind [`CANDIDATES`]: each form of the global palette in
    /// `EMO_GIF_EXPLORE` (`127d0`: 127 colours diffused with hold threshold 0; `63b`: 63 colours
    /// ordered; `fit`: the transcoder's own choice, [`fit_budget`]) fitted to the budget on every
    /// MP4 in `EMO_GIF_CALIBRATE`, or encoded at each loss of `EMO_GIF_EXPLORE_LOSS` when that is
    /// set; bytes, cheap error, loss and times printed, the GIFs written to
    /// `EMO_GIF_CALIBRATE_OUT` (to score by DSSIM, see `bench/encoders.md`).
    /// `cargo test --release -p emo --lib gif::budget::tests::explore_global -- --ignored --nocapture`
    #[test]
    #[ignore = "measurement, run by hand"]
    fn explore_global() {
        let Some((clips, out)) = measurement_inputs() else {
            return;
        };
        let configs = std::env::var("EMO_GIF_EXPLORE").unwrap();
        let settings = GifSettings::default();
        for clip in clips {
            let video = decode(ffmpeg(), &clip, &settings, None).unwrap();
            let name = clip.file_stem().unwrap().to_string_lossy().to_string();
            let all: Vec<usize> = (0..video.images.len()).collect();
            for config in configs.split(',') {
                if config == "fit" {
                    let started = Instant::now();
                    let sticker = fit_budget(&video, &settings).unwrap();
                    let s = started.elapsed().as_secs_f64();
                    println!(
                        "{name} fit bytes {} method {:?} quality {} passes {} trial_frames {} fit_s {s:.3}",
                        sticker.gif.len(),
                        sticker.method,
                        sticker.quality,
                        sticker.passes,
                        sticker.trial_frames
                    );
                    std::fs::write(out.join(format!("{name}@fit.gif")), &sticker.gif).unwrap();
                    continue;
                }
                let (colours, dither) = match config.split_once('d') {
                    Some((c, keep)) => (
                        c.parse().unwrap(),
                        global::Dither::Diffused {
                            keep: keep.parse().unwrap(),
                        },
                    ),
                    None => (
                        config.trim_end_matches('b').parse().unwrap(),
                        global::Dither::Ordered,
                    ),
                };
                let started = Instant::now();
                let palette = global::palette(&video, colours).unwrap();
                let indexed = global::index(&video, palette, dither, &all);
                let si = started.elapsed().as_secs_f64();
                if let Ok(losses) = std::env::var("EMO_GIF_EXPLORE_LOSS") {
                    for loss in losses.split(',') {
                        let loss: u32 = loss.parse().unwrap();
                        let started = Instant::now();
                        let (gif, _) = global::encode(&indexed, &all, loss).unwrap();
                        let s = started.elapsed().as_secs_f64();
                        let error = trial_error(&video, &all, &gif).unwrap();
                        println!(
                            "{name} {config}l{loss} bytes {} error {error:.2} loss {loss} passes 1 index_s {si:.3} fit_s {s:.3}",
                            gif.len()
                        );
                        std::fs::write(out.join(format!("{name}@{config}l{loss}.gif")), &gif)
                            .unwrap();
                    }
                    continue;
                }
                let started = Instant::now();
                let fitted = global::fit(&indexed, &all, settings.max_bytes, 0, &[]).unwrap();
                let s = started.elapsed().as_secs_f64();
                match fitted {
                    Some(f) => {
                        let error = trial_error(&video, &all, &f.gif).unwrap();
                        println!(
                            "{name} {config} bytes {} error {error:.2} loss {} passes {} index_s {si:.3} fit_s {s:.3}",
                            f.gif.len(),
                            f.loss,
                            f.passes
                        );
                        std::fs::write(out.join(format!("{name}@{config}.gif")), &f.gif).unwrap();
                    }
                    None => println!("{name} {config} none fits"),
                }
            }
        }
    }

    /// A stand-in encoder whose GIF weighs `base × e^(steepness × SHAPE(q)) × frames^0.8`,
    /// wobbled by up to ±`noise` per quality so that the curve is not even monotone.
    fn fake_encoder(
        base: f64,
        steepness: f64,
        noise: f64,
        calls: &mut Vec<(u8, u32)>,
    ) -> impl FnMut(u8, u32) -> Result<Vec<u8>, GifError> + '_ {
        move |quality, fps| {
            calls.push((quality, fps));
            let wobble = noise * ((f64::from(quality) * 2.7).sin());
            let frames = resample(50, 10, fps).len() as f64;
            let bytes = base
                * (steepness * shape(f64::from(quality)) + wobble).exp()
                * frames.powf(FRAMES_EXPONENT);
            Ok(vec![0; bytes as usize])
        }
    }

    fn frames_at(fps: u32) -> usize {
        resample(50, 10, fps).len()
    }

    /// What the trial would estimate for the fake encoder, off by `error` in log bytes.
    fn estimate(base: f64, steepness: f64, quality: u8, error: f64) -> Model {
        let ln_bytes = base.ln()
            + steepness * shape(f64::from(quality))
            + FRAMES_EXPONENT * 50f64.ln()
            + error;
        Model {
            points: vec![Point {
                quality,
                frames: 50,
                ln_bytes,
            }],
        }
    }

    /// The hand-run measurements' clips (`EMO_GIF_CALIBRATE`, filtered by `EMO_GIF_CALIBRATE_ONLY`)
    /// and where they write (`EMO_GIF_CALIBRATE_OUT`); `None` without `EMO_GIF_CALIBRATE`.
    fn measurement_inputs() -> Option<(Vec<PathBuf>, PathBuf)> {
        let dir = std::env::var("EMO_GIF_CALIBRATE").ok()?;
        let out = PathBuf::from(std::env::var("EMO_GIF_CALIBRATE_OUT").unwrap());
        let only = std::env::var("EMO_GIF_CALIBRATE_ONLY").unwrap_or_default();
        Some((bench_clips(&dir, &only), out))
    }

    /// The benchmark's MP4s in `dir` (`bash bench/run.sh` makes them) whose names contain one of
    /// the comma-separated substrings of `only` (all when empty), sorted.
    fn bench_clips(dir: &str, only: &str) -> Vec<PathBuf> {
        let mut clips: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .filter(|p| only.is_empty() || only.split(',').any(|o| p.to_string_lossy().contains(o)))
            .collect();
        clips.sort();
        clips
    }

    /// 50 frames of 120×120 at 10 fps, each pixel `paint(x, y, t)`.
    fn synthetic(paint: impl Fn(usize, usize, usize) -> RGBA8) -> Frames {
        let content = Content {
            motion: 4.0,
            detail: 4.0,
        };
        synthetic_frames((120, 120), 50, content, paint)
    }

    /// A slowly turning three-colour gradient with a flat square gliding over it.
    fn gradient_clip() -> Frames {
        synthetic(|x, y, t| {
            if (t + 10..t + 40).contains(&x) && (40..70).contains(&y) {
                return RGBA8::new(255, 48, 112, 255);
            }
            let (fx, fy, ft) = (x as f64 / 120.0, y as f64 / 120.0, t as f64 / 50.0);
            let a = (fx * (1.0 - ft) + fy * ft).clamp(0.0, 1.0);
            let b = (fy * (1.0 - ft) + (1.0 - fx) * ft).clamp(0.0, 1.0);
            let c = |lo: f64, hi: f64, k: f64| (lo + (hi - lo) * k).round() as u8;
            RGBA8::new(
                c(32.0, 242.0, a),
                c(58.0, 160.0, b),
                c(143.0, 61.0, a * b),
                255,
            )
        })
    }

    /// Photo-like detail whose colours move through the clip (reds, then greens, then blues):
    /// per-frame palettes follow it, one palette for the clip cannot.
    fn hue_shifting_clip() -> Frames {
        synthetic(|x, y, t| {
            let n = |k: usize| {
                let v = (x * 7919 + y * 104_729 + k * 1_299_709 + t / 8) as u64;
                ((v.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as f64) / 255.0
            };
            let texture = 0.5 + 0.25 * ((x as f64 / 3.0 + t as f64 / 5.0).sin() + n(0) - 0.5);
            let phase = t as f64 / 50.0 * std::f64::consts::TAU;
            let ch = |offset: f64| {
                let weight = 0.5 + 0.5 * (phase + offset).cos();
                (255.0 * (texture * weight + 0.15 * n(1))).clamp(0.0, 255.0) as u8
            };
            RGBA8::new(ch(0.0), ch(2.1), ch(4.2), 255)
        })
    }

    /// The encoder `fit_budget` chose for `clip` within `max_bytes`, after checking it fits.
    fn chosen(clip: &Frames, max_bytes: usize) -> Method {
        let settings = GifSettings {
            max_bytes,
            ..GifSettings::default()
        };
        let sticker = fit_budget(clip, &settings).unwrap();
        assert!(
            sticker.gif.len() <= max_bytes,
            "{} B q{}",
            sticker.gif.len(),
            sticker.quality
        );
        sticker.method
    }

    #[test]
    fn a_gradient_clip_gets_the_global_palette_and_fits() {
        for budget in [120_000, 200_000] {
            assert_eq!(chosen(&gradient_clip(), budget), Method::GlobalPalette);
        }
    }

    #[test]
    fn a_clip_the_global_palette_cannot_bring_near_the_budget_goes_to_gifski_and_fits() {
        // At 75 KB the global palette does not get there (its one palette cannot follow the
        // moving colours); gifski, at a lower quality, does.
        assert_eq!(chosen(&hue_shifting_clip(), 75_000), Method::Gifski);
    }

    #[test]
    fn the_error_curve_interpolates_in_log_log_and_is_flat_past_a_cap() {
        let curve = Curve {
            points: vec![(10.0, -1.0), (12.0, -3.0)],
            capped: false,
        };
        assert!((curve.ln_error_at(11.0) - -2.0).abs() < 1e-9);
        assert!((curve.ln_error_at(13.0) - -4.0).abs() < 1e-9);
        let capped = Curve {
            capped: true,
            ..curve.clone()
        };
        assert!((capped.ln_error_at(13.0) - -3.0).abs() < 1e-9);
        let one = Curve {
            points: vec![(10.0, -1.0)],
            capped: false,
        };
        assert!((one.ln_error_at(11.0) - (-1.0 + ERROR_SLOPE)).abs() < 1e-9);
    }

    #[test]
    fn shape_and_its_inverse_agree_and_rise_with_quality() {
        for q in 1..=100u8 {
            let q = f64::from(q);
            assert!((shape_inverse(shape(q)) - q).abs() < 1e-9, "{q}");
            assert!(q == 100.0 || shape(q + 0.5) > shape(q));
        }
        assert_eq!(shape_inverse(-10.0), 1.0);
        assert_eq!(shape_inverse(10.0), 100.0);
    }

    #[test]
    fn the_model_asks_more_quality_of_a_bigger_budget_and_less_of_more_frames() {
        let model = estimate(1000.0, 1.0, 60, 0.0);
        let mut last = 0;
        for target in (100..=2000).map(|k| f64::from(k) * 1000.0) {
            let q = model.quality_for(target, 50);
            assert!(q >= last, "{target}: {q} < {last}");
            last = q;
            assert!(model.quality_for(target, 25) >= q);
            assert!(model.ln_bytes_at(q, 50, target) <= target.ln() + 1e-9 || q == 1);
        }
    }

    #[test]
    fn an_exact_estimate_fits_in_one_encode_near_the_budget() {
        let settings = GifSettings::default();
        for base in [400.0, 1000.0, 2500.0, 5000.0] {
            let mut calls = Vec::new();
            let model = estimate(base, 1.0, 60, 0.0);
            let found = search(
                &settings,
                10,
                model,
                frames_at,
                fake_encoder(base, 1.0, 0.0, &mut calls),
            )
            .unwrap();
            assert_eq!(found.passes, 1, "{base}: {calls:?}");
            assert!(found.gif.len() <= settings.max_bytes);
            if found.quality < settings.quality && found.fps == 10 {
                // Spent: within a quality step of the 90% aim.
                assert!(
                    found.gif.len() as f64 > 0.8 * settings.max_bytes as f64,
                    "{base}: {}",
                    found.gif.len()
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_search_never_exceeds_the_budget_and_ends(
            base in 200.0f64..20_000.0,
            steepness in 0.4f64..2.5,
            noise in 0.0f64..0.08,
            error in -0.5f64..0.5,
            probe in 20u8..=90,
            max_bytes in 50_000usize..1_000_000,
        ) {
            let settings = GifSettings { max_bytes, ..GifSettings::default() };
            let mut calls = Vec::new();
            let model = estimate(base, steepness, probe, error);
            let result = search(&settings, 10, model, frames_at, fake_encoder(base, steepness, noise, &mut calls));
            // Quality falls strictly while over the budget and fps falls at the floor, so the
            // passes are bounded by the qualities and frame rates there are.
            proptest::prop_assert!(calls.len() <= 100 + 6, "{calls:?}");
            match result {
                Ok(found) => {
                    proptest::prop_assert!(found.gif.len() <= max_bytes);
                    proptest::prop_assert_eq!(found.passes as usize, calls.len());
                    proptest::prop_assert!((settings.min_quality..=settings.quality).contains(&found.quality));
                    proptest::prop_assert!((settings.min_fps..=10).contains(&found.fps));
                }
                Err(GifError::OverBudget { smallest, quality, fps, .. }) => {
                    proptest::prop_assert!(smallest > max_bytes);
                    proptest::prop_assert_eq!((quality, fps), (settings.min_quality, settings.min_fps));
                    proptest::prop_assert!(calls.contains(&(settings.min_quality, settings.min_fps)));
                }
                Err(e) => proptest::prop_assert!(false, "{e}"),
            }
        }

        #[test]
        fn a_fair_estimate_fits_in_few_passes(
            base in 500.0f64..4000.0,
            steepness in 0.7f64..1.4,
            error in -0.1f64..0.1,
            probe in 30u8..=80,
        ) {
            let settings = GifSettings::default();
            let mut calls = Vec::new();
            let model = estimate(base, steepness, probe, error);
            let found = search(&settings, 10, model, frames_at, fake_encoder(base, steepness, 0.0, &mut calls));
            if let Ok(found) = found {
                proptest::prop_assert!(found.passes <= 3, "{calls:?}");
            }
        }
    }

    #[test]
    fn the_trial_takes_two_runs_of_consecutive_frames() {
        let picks = trial_picks(50);
        assert_eq!(picks.len(), 2 * TRIAL_RUN);
        assert!(picks.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(picks.windows(2).filter(|w| w[1] != w[0] + 1).count(), 1);
        assert!(*picks.last().unwrap() < 50);
        assert!(
            trial_picks(TRIAL_MIN_FRAMES)
                .iter()
                .all(|&p| p < TRIAL_MIN_FRAMES)
        );
    }

    #[test]
    fn a_lower_frame_rate_picks_evenly_spread_frames_over_the_same_span() {
        assert_eq!(resample(50, 10, 10), (0..50).collect::<Vec<_>>());
        assert_eq!(
            resample(50, 10, 5),
            (0..25).map(|k| k * 2).collect::<Vec<_>>()
        );
        let seven = resample(50, 10, 7);
        assert_eq!(seven.len(), 35);
        assert!(seven.windows(2).all(|w| w[0] < w[1]));
        assert!(*seven.last().unwrap() < 50);
    }
}
