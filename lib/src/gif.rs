//! MP4 -> GIF sticker: ffmpeg (through `ffmpeg-sidecar`) decodes, resamples the frame rate and
//! scales; gifski quantises and encodes; this module owns the byte budget between the two.
//!
//! The budget is hit in one full encode most of the time: a quality is predicted from the frame
//! count, the pixel count and two cheap content measures taken while decoding, a 16-frame trial
//! encode at that quality measures what the clip really costs, and the full encode uses the
//! quality the trial points to, aiming at 90% of the budget. A miss is corrected from the measured
//! bytes (interpolating between passes), and only at `min_quality` are frames dropped instead.
//!
//! Memory: the decoded frames of one encode are all that is held, at most `MAX_SECONDS × fps`
//! frames of at most `max_side`² RGBA pixels (5 s at 10 fps and 240 px: 11.5 MB; the 30 s cap:
//! 69 MB), whatever the source's length or resolution, since ffmpeg scales and drops frames before
//! they reach this process. gifski's pipeline holds a few frames more (bounded queues), and
//! ffmpeg's decoder holds a few source-sized reference frames in its own process. The frames are
//! kept rather than streamed straight into gifski so that a pass that misses does not pay for a
//! second decode (about half of a pass's CPU).

use std::io;
use std::path::Path;
use std::process::ExitStatus;

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use gifski::collector::{ImgVec, RGBA8};

/// The longest stretch of video decoded; anything longer is cut, so a hostile or broken file
/// cannot fill memory (30 s at 10 fps and 240x240 is about 70 MB of RGBA; see the module's note).
pub const MAX_SECONDS: u32 = 30;

/// The widest and tallest GIF accepted as `max_side`; a sticker is shown at phone-thumbnail size.
pub const MAX_SIDE_LIMIT: u32 = 1024;

/// The highest frame rate accepted: GIF delays are in hundredths of a second, and browsers treat
/// delays under 2 as 10, so 50 fps is the real ceiling.
pub const MAX_FPS: u32 = 50;

/// How to turn a video into a sticker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GifSettings {
    /// The GIF fits inside `max_side`×`max_side`, aspect ratio kept; smaller videos are not enlarged.
    pub max_side: u32,
    /// Frames per second decoded from the video, and of every encode until `min_quality` misses.
    pub fps: u32,
    /// The largest acceptable GIF, in bytes.
    pub max_bytes: usize,
    /// The highest gifski quality (1-100) used; the quality itself is predicted per clip.
    pub quality: u8,
    /// The lowest quality tried before frames are dropped instead. 30 by default: measured by
    /// DSSIM on the benchmark's hardest clips, quality 20-25 at 10 fps beats quality 30 at a
    /// lower rate on some (astronaut) and loses on others (mandelbrot: 7 fps at quality 30 beats
    /// 10 fps at quality 10), while below 30 gifski also caps the palette at 64 colours.
    pub min_quality: u8,
    /// The lowest frame rate tried before giving up.
    pub min_fps: u32,
}

impl Default for GifSettings {
    /// WeChat's 500 KB sticker limit (as 512,000 bytes), 240 px, 10 fps.
    fn default() -> Self {
        Self {
            max_side: 240,
            fps: 10,
            max_bytes: 512_000,
            quality: 90,
            min_quality: 30,
            min_fps: 5,
        }
    }
}

impl GifSettings {
    /// Fails with [`GifError::Internal`] naming the first field out of range, so a bad
    /// configuration can be refused at cold start rather than on the first job.
    pub fn validate(&self) -> Result<(), GifError> {
        let problem = if !(1..=MAX_SIDE_LIMIT).contains(&self.max_side) {
            format!("max_side {} is not in 1..={MAX_SIDE_LIMIT}", self.max_side)
        } else if !(1..=MAX_FPS).contains(&self.fps) {
            format!("fps {} is not in 1..={MAX_FPS}", self.fps)
        } else if !(1..=self.fps).contains(&self.min_fps) {
            format!("min_fps {} is not in 1..={}", self.min_fps, self.fps)
        } else if !(1..=100).contains(&self.quality) {
            format!("quality {} is not in 1..=100", self.quality)
        } else if !(1..=self.quality).contains(&self.min_quality) {
            format!(
                "min_quality {} is not in 1..={}",
                self.min_quality, self.quality
            )
        } else if self.max_bytes == 0 {
            "max_bytes is 0".to_owned()
        } else {
            return Ok(());
        };
        Err(GifError::Internal(format!(
            "invalid GIF settings: {problem}"
        )))
    }
}

/// A finished sticker and how it was reached.
#[derive(Debug, Clone)]
pub struct Sticker {
    /// The GIF file, looping forever.
    pub gif: Vec<u8>,
    pub width: u32,
    pub height: u32,
    /// Frames handed to the encoder; gifski may merge identical neighbours into one longer frame.
    pub frames: usize,
    /// gifski quality of the encode that fitted.
    pub quality: u8,
    /// Frame rate of the encode that fitted.
    pub fps: u32,
    /// Full encodes made, the one that fitted included.
    pub passes: u32,
    /// Frames in the trial encode made before the first full one (0 when the clip was too short
    /// to need one).
    pub trial_frames: usize,
}

/// Why a video did not become a sticker.
#[derive(Debug, thiserror::Error)]
pub enum GifError {
    /// The ffmpeg executable cannot be run: a deployment fault, never the video's.
    #[error("ffmpeg is not usable: {0}")]
    FfmpegMissing(String),
    /// The file is not a video ffmpeg can decode (corrupt, empty, no video stream).
    #[error("the video could not be decoded: {0}")]
    Undecodable(String),
    /// Even the lowest quality at the lowest frame rate is too big.
    #[error("the smallest GIF made was {smallest} bytes, over the budget of {max_bytes}")]
    OverBudget {
        smallest: usize,
        max_bytes: usize,
        quality: u8,
        fps: u32,
    },
    /// Anything else: bad settings, an unreadable input path, an encoder failure.
    #[error("GIF conversion failed: {0}")]
    Internal(String),
}

/// The version ffmpeg reports, for a cold-start check.
///
/// Fails with [`GifError::FfmpegMissing`] when `ffmpeg` cannot be run or does not answer like ffmpeg.
pub fn ffmpeg_version(ffmpeg: &Path) -> Result<String, GifError> {
    ffmpeg_sidecar::version::ffmpeg_version_with_path(ffmpeg)
        .map_err(|e| GifError::FfmpegMissing(format!("{}: {e:#}", ffmpeg.display())))
}

/// Converts the MP4 at `mp4` into a looping GIF within `settings.max_bytes`. Blocking and
/// CPU-heavy (hundreds of milliseconds to seconds): call it from `spawn_blocking`.
///
/// Fails with [`GifError::FfmpegMissing`] when `ffmpeg` cannot be started,
/// [`GifError::Undecodable`] when the file yields no video frames, [`GifError::OverBudget`] when
/// nothing down to `min_quality` at `min_fps` fits, and [`GifError::Internal`] otherwise.
pub fn mp4_to_gif(ffmpeg: &Path, mp4: &Path, settings: &GifSettings) -> Result<Sticker, GifError> {
    settings.validate()?;
    let video = decode(ffmpeg, mp4, settings)?;
    fit_budget(&video, settings)
}

/// Decoded frames, all `width`×`height`, at `fps`.
struct Frames {
    width: u32,
    height: u32,
    fps: u32,
    images: Vec<ImgVec<RGBA8>>,
    content: Content,
}

/// Cheap measures of how hard a clip is to compress, taken from the decoded frames.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Content {
    /// Mean absolute luma difference between consecutive frames (0-255): motion and noise.
    motion: f64,
    /// Mean absolute luma difference between neighbouring pixels (0-255): spatial detail.
    detail: f64,
}

/// Accumulates [`Content`] one RGBA frame at a time, keeping only the previous frame's luma.
#[derive(Default)]
struct ContentMeter {
    previous: Vec<u8>,
    luma: Vec<u8>,
    motion: (u64, u64),
    detail: (u64, u64),
}

impl ContentMeter {
    fn add(&mut self, rgba: &[u8], width: usize, height: usize) {
        self.luma.clear();
        self.luma.extend(
            rgba.chunks_exact(4)
                .map(|p| ((u16::from(p[0]) + 2 * u16::from(p[1]) + u16::from(p[2])) / 4) as u8),
        );
        let luma = &self.luma;
        let mut sum = 0u64;
        for row in luma.chunks_exact(width) {
            sum += row
                .windows(2)
                .map(|p| u64::from(p[0].abs_diff(p[1])))
                .sum::<u64>();
        }
        for (upper, lower) in luma
            .chunks_exact(width)
            .zip(luma.chunks_exact(width).skip(1))
        {
            sum += upper
                .iter()
                .zip(lower)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum::<u64>();
        }
        self.detail.0 += sum;
        self.detail.1 +=
            (width.saturating_sub(1) * height + width * height.saturating_sub(1)) as u64;
        if self.previous.len() == luma.len() {
            self.motion.0 += luma
                .iter()
                .zip(&self.previous)
                .map(|(a, b)| u64::from(a.abs_diff(*b)))
                .sum::<u64>();
            self.motion.1 += luma.len() as u64;
        }
        std::mem::swap(&mut self.previous, &mut self.luma);
    }

    fn finish(&self) -> Content {
        let mean = |(sum, n): (u64, u64)| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        Content {
            motion: mean(self.motion),
            detail: mean(self.detail),
        }
    }
}

fn decode(ffmpeg: &Path, mp4: &Path, settings: &GifSettings) -> Result<Frames, GifError> {
    let len = std::fs::metadata(mp4)
        .map_err(|e| GifError::Internal(format!("cannot read {}: {e}", mp4.display())))?
        .len();
    if len == 0 {
        return Err(GifError::Undecodable("the file is empty".to_owned()));
    }

    let side = settings.max_side;
    let max_frames = (MAX_SECONDS * settings.fps) as usize;
    // min(side, iw) keeps small videos at their size; quoting protects the commas from the
    // filtergraph parser. fps runs before scale, so only the kept frames are scaled.
    //
    // Decoding dominates this step (0.23-0.6 CPU-s of H.264 per 5 s clip, scaling about 0.03), and
    // H.264 has no free way to decode less: every frame is a reference for others. Measured on the
    // benchmark clips (CPU-s of this command): `-skip_loop_filter all` saves 8-12% but moves the
    // frames by 0.0001-0.0005 DSSIM (2-5% of a sticker's whole error); `-skip_frame noref` saves
    // up to 30% but drops B-frames the fps filter keeps, so frames are repeated; `-threads 1` saves
    // about 5% of CPU but doubles the decode's wall time; `flags=area` or `bicubic` instead of
    // lanczos save about 0.01-0.03 at a softer picture; `-flags2 +fast` nothing measurable. None
    // is free, so none is used. Audio, subtitles and data are not decoded (`-an -sn -dn`).
    let filter = format!(
        "fps={fps},scale=w='min({side},iw)':h='min({side},ih)':force_original_aspect_ratio=decrease:flags=lanczos",
        fps = settings.fps
    );
    let mut command = FfmpegCommand::new_with_path(ffmpeg);
    command
        .args(["-nostdin", "-hide_banner"])
        .input(mp4.as_os_str())
        .args(["-map", "0:v:0", "-an", "-sn", "-dn"])
        .filter(filter)
        .args(["-frames:v", &max_frames.to_string()])
        .pix_fmt("rgba")
        .format("rawvideo")
        .pipe_stdout();
    let child = command.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
            GifError::FfmpegMissing(format!("{}: {e}", ffmpeg.display()))
        }
        _ => GifError::Internal(format!("spawning {}: {e}", ffmpeg.display())),
    })?;
    let mut child = Reaped(Some(child));

    let events = child
        .get()
        .iter()
        .map_err(|e| GifError::Internal(format!("reading ffmpeg output: {e:#}")))?;
    let mut images = Vec::new();
    let mut meter = ContentMeter::default();
    let mut size = None;
    let mut last_error = None;
    for event in events {
        match event {
            FfmpegEvent::OutputFrame(frame) => {
                let (w, h) = (frame.width, frame.height);
                if w == 0 || h == 0 || w > side || h > side {
                    return Err(GifError::Internal(format!(
                        "ffmpeg produced a {w}x{h} frame"
                    )));
                }
                if *size.get_or_insert((w, h)) != (w, h)
                    || frame.data.len() != w as usize * h as usize * 4
                {
                    return Err(GifError::Internal(format!(
                        "ffmpeg frame {w}x{h} {} with {} bytes does not match the stream",
                        frame.pix_fmt,
                        frame.data.len()
                    )));
                }
                meter.add(&frame.data, w as usize, h as usize);
                let pixels = frame
                    .data
                    .chunks_exact(4)
                    .map(|p| RGBA8::new(p[0], p[1], p[2], p[3]))
                    .collect();
                images.push(ImgVec::new(pixels, w as usize, h as usize));
                if images.len() >= max_frames {
                    tracing::warn!(
                        max_frames,
                        "video reached the {MAX_SECONDS} s cap, the rest is ignored"
                    );
                    break;
                }
            }
            FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, message)
            | FfmpegEvent::Error(message) => last_error = Some(message),
            _ => {}
        }
    }

    let status = if images.len() >= max_frames {
        None
    } else {
        Some(
            child
                .wait()
                .map_err(|e| GifError::Internal(format!("waiting for ffmpeg: {e}")))?,
        )
    };
    let failed = status.is_some_and(|s| !s.success());
    match size {
        Some((width, height)) if !failed => Ok(Frames {
            width,
            height,
            fps: settings.fps,
            images,
            content: meter.finish(),
        }),
        _ => Err(GifError::Undecodable(short_reason(last_error, status, mp4))),
    }
}

/// One line for users and logs: ffmpeg's last error without the (temporary) input path.
fn short_reason(last_error: Option<String>, status: Option<ExitStatus>, mp4: &Path) -> String {
    let reason = match last_error {
        Some(message) => {
            // "[error] [mov,mp4 @ 0x…] /tmp/x.mp4: moov atom not found": the level, the
            // component and the path say nothing to a user.
            let mut line = message.trim();
            while let Some(rest) = line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
                line = rest.1.trim_start();
            }
            let path = format!("{}: ", mp4.display());
            line.trim_start_matches(path.as_str()).to_owned()
        }
        None => match status {
            Some(s) if !s.success() => format!("ffmpeg failed ({s})"),
            _ => "no video frames".to_owned(),
        },
    };
    reason.chars().take(200).collect()
}

/// An ffmpeg child that is killed and reaped when dropped, whatever path leaves `decode`.
struct Reaped(Option<FfmpegChild>);

impl Reaped {
    fn get(&mut self) -> &mut FfmpegChild {
        self.0.as_mut().expect("child present until waited for")
    }

    /// Waits for a child that has closed its output and so is exiting on its own; killing it
    /// here could turn a clean exit into a signal.
    fn wait(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.0.take().expect("child present until waited for");
        child.wait()
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            // Errors mean it has exited already; wait() then only reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

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
    [1, 3]
        .iter()
        .flat_map(|quarter| {
            let start = (quarter * count / 4).saturating_sub(TRIAL_RUN / 2);
            start..(start + TRIAL_RUN).min(count)
        })
        .collect()
}

/// Predicts a quality from the content, checks it with a trial (two when the first is far off),
/// encodes at the quality the trials point to, and corrects from the measured bytes only when that
/// misses: one full encode most of the time. Falls back to fewer frames when even `min_quality`
/// is too big.
fn fit_budget(video: &Frames, settings: &GifSettings) -> Result<Sticker, GifError> {
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
    })
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

fn encode(video: &Frames, picks: &[usize], quality: u8) -> Result<Vec<u8>, GifError> {
    // `fast` (imagequant at speed 10 after the first frame): the same bytes and DSSIM as without
    // it on the benchmark clips, at about half the encode CPU. gifski's separate motion and lossy
    // qualities (hidden setters in 1.34) were tried at equal bytes and did no better than
    // `quality` driving all three, as gifski does by default.
    let (collector, writer) = gifski::new(gifski::Settings {
        width: Some(video.width),
        height: Some(video.height),
        quality,
        fast: true,
        repeat: gifski::Repeat::Infinite,
    })
    .map_err(|e| GifError::Internal(format!("gifski: {e}")))?;
    let mut gif = Vec::new();
    std::thread::scope(|scope| {
        // gifski reads frames on another thread than the one writing; a writer error drops the
        // receiving end, so the feeder's next add fails and it stops too.
        let feeder = scope.spawn(move || {
            for (index, &pick) in picks.iter().enumerate() {
                // Each frame keeps its own time, so at a lower frame rate a dropped frame's
                // predecessor is held longer rather than every later frame shown late (benchmark
                // DSSIM with evenly spaced times, then with these: astronaut at 8 fps 0.048, 0.026;
                // mandelbrot at 7 fps 0.031, 0.025; same bytes).
                let pts = pick as f64 / f64::from(video.fps);
                collector.add_frame_rgba(index, video.images[pick].clone(), pts)?;
            }
            Ok::<_, gifski::Error>(())
        });
        let written = writer.write(&mut gif, &mut gifski::progress::NoProgress {});
        let fed = feeder
            .join()
            .map_err(|_| GifError::Internal("gifski frame feeder panicked".to_owned()))?;
        written
            .and(fed)
            .map_err(|e| GifError::Internal(format!("gifski: {e}")))
    })?;
    Ok(gif)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Instant;

    use super::*;

    /// The ffmpeg on `PATH`, as in CI and on Lambda (where a layer puts it in `/opt/bin`).
    fn ffmpeg() -> &'static Path {
        Path::new("ffmpeg")
    }

    /// A silent 5 s, 30 fps H.264 MP4 like DashScope's, from one of ffmpeg's test sources.
    fn clip(dir: &Path, source: &str, size: &str) -> PathBuf {
        let path = dir.join(format!("{source}-{size}.mp4"));
        let out = Command::new(ffmpeg())
            .args([
                "-nostdin",
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
            ])
            .arg(format!("{source}=size={size}:rate=30"))
            .args(["-t", "5", "-c:v", "libx264", "-preset", "veryfast"])
            .args(["-pix_fmt", "yuv420p"])
            .arg(&path)
            .output()
            .expect("ffmpeg runs");
        assert!(
            out.status.success(),
            "making {source} {size}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// What a GIF viewer sees.
    struct Seen {
        width: u16,
        height: u16,
        frames: usize,
        centiseconds: u32,
        repeat: ::gif::Repeat,
    }

    fn look_at(bytes: &[u8]) -> Seen {
        assert!(bytes.starts_with(b"GIF89a"), "not a GIF89a file");
        let mut options = ::gif::DecodeOptions::new();
        options.set_color_output(::gif::ColorOutput::Indexed);
        let mut decoder = options.read_info(bytes).expect("GIF header decodes");
        let (mut frames, mut centiseconds) = (0, 0);
        while let Some(frame) = decoder.read_next_frame().expect("GIF frame decodes") {
            frames += 1;
            centiseconds += u32::from(frame.delay);
        }
        Seen {
            width: decoder.width(),
            height: decoder.height(),
            frames,
            centiseconds,
            repeat: decoder.repeat(),
        }
    }

    fn convert(mp4: &Path, settings: &GifSettings) -> Sticker {
        let started = Instant::now();
        let sticker = mp4_to_gif(ffmpeg(), mp4, settings).expect("converts");
        eprintln!(
            "{}: {} bytes, {} passes, quality {}, {} fps, {:.2?}",
            mp4.file_name().unwrap().to_string_lossy(),
            sticker.gif.len(),
            sticker.passes,
            sticker.quality,
            sticker.fps,
            started.elapsed()
        );
        sticker
    }

    #[test]
    fn a_square_clip_becomes_a_240px_gif_that_loops_forever_within_500_kb() {
        let dir = tempfile::tempdir().unwrap();
        let settings = GifSettings::default();
        let sticker = convert(&clip(dir.path(), "testsrc2", "624x624"), &settings);

        let seen = look_at(&sticker.gif);
        assert_eq!(seen.repeat, ::gif::Repeat::Infinite);
        assert_eq!((seen.width, seen.height), (240, 240));
        assert_eq!((sticker.width, sticker.height), (240, 240));
        assert_eq!((sticker.fps, sticker.frames), (10, 50));
        assert!((45..=50).contains(&seen.frames), "{} frames", seen.frames);
        assert!(
            (480..=520).contains(&seen.centiseconds),
            "{} cs",
            seen.centiseconds
        );
        assert!(sticker.gif.len() <= settings.max_bytes);
    }

    #[test]
    fn a_landscape_clip_with_fine_detail_keeps_its_aspect_ratio_and_fits() {
        let dir = tempfile::tempdir().unwrap();
        let settings = GifSettings::default();
        let sticker = convert(&clip(dir.path(), "mandelbrot", "832x480"), &settings);

        let seen = look_at(&sticker.gif);
        assert_eq!(seen.repeat, ::gif::Repeat::Infinite);
        assert_eq!(seen.width, 240);
        assert!((138..=139).contains(&seen.height), "height {}", seen.height);
        assert_eq!(
            (u32::from(seen.width), u32::from(seen.height)),
            (sticker.width, sticker.height)
        );
        assert!(
            (480..=520).contains(&seen.centiseconds),
            "{} cs",
            seen.centiseconds
        );
        assert!(sticker.gif.len() <= settings.max_bytes);
    }

    #[test]
    fn a_tight_budget_lowers_quality_or_frame_rate_and_still_fits() {
        let dir = tempfile::tempdir().unwrap();
        let settings = GifSettings {
            max_bytes: 150_000,
            ..GifSettings::default()
        };
        let sticker = convert(&clip(dir.path(), "testsrc2", "624x624"), &settings);

        assert!(sticker.quality < settings.quality || sticker.fps < settings.fps);
        assert!(sticker.gif.len() <= settings.max_bytes);
        let seen = look_at(&sticker.gif);
        assert_eq!(seen.repeat, ::gif::Repeat::Infinite);
        assert_eq!(seen.frames, sticker.frames);
        assert!(
            (480..=520).contains(&seen.centiseconds),
            "{} cs",
            seen.centiseconds
        );
    }

    #[test]
    fn a_budget_nothing_fits_is_over_budget_after_trying_the_floor() {
        let dir = tempfile::tempdir().unwrap();
        let settings = GifSettings {
            max_bytes: 5_000,
            ..GifSettings::default()
        };
        let mp4 = clip(dir.path(), "testsrc2", "832x480");

        match mp4_to_gif(ffmpeg(), &mp4, &settings) {
            Err(GifError::OverBudget {
                smallest,
                max_bytes,
                quality,
                fps,
            }) => {
                assert!(smallest > max_bytes);
                assert_eq!((quality, fps), (settings.min_quality, settings.min_fps));
            }
            other => panic!("expected OverBudget, got {other:?}"),
        }
    }

    #[test]
    fn a_video_longer_than_the_cap_is_cut_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let mp4 = dir.path().join("long.mp4");
        let out = Command::new(ffmpeg())
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .args(["testsrc2=size=64x64:rate=30", "-t", "40", "-c:v", "libx264"])
            .args(["-preset", "ultrafast", "-pix_fmt", "yuv420p"])
            .arg(&mp4)
            .output()
            .unwrap();
        assert!(out.status.success());

        let sticker = convert(&mp4, &GifSettings::default());
        assert_eq!(sticker.frames, (MAX_SECONDS * 10) as usize);
        assert_eq!(
            (sticker.width, sticker.height),
            (64, 64),
            "small videos are not enlarged"
        );
    }

    #[test]
    fn garbage_an_empty_file_and_a_video_without_pictures_are_undecodable() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.mp4");
        std::fs::write(
            &garbage,
            b"this is not a video, just some text pretending".repeat(100),
        )
        .unwrap();
        let empty = dir.path().join("empty.mp4");
        std::fs::write(&empty, b"").unwrap();
        let sound = dir.path().join("sound.mp4");
        let out = Command::new(ffmpeg())
            .args(["-nostdin", "-loglevel", "error", "-f", "lavfi", "-i"])
            .args(["sine=duration=1", "-c:a", "aac"])
            .arg(&sound)
            .output()
            .unwrap();
        assert!(out.status.success());

        for mp4 in [&garbage, &empty, &sound] {
            match mp4_to_gif(ffmpeg(), mp4, &GifSettings::default()) {
                Err(e @ GifError::Undecodable(_)) => {
                    let message = e.to_string();
                    eprintln!("{}: {message}", mp4.display());
                    assert!(message.len() < 300, "{message}");
                    assert!(!message.contains(dir.path().to_str().unwrap()), "{message}");
                }
                other => panic!("{}: expected Undecodable, got {other:?}", mp4.display()),
            }
        }
    }

    #[test]
    fn a_missing_input_file_is_our_fault_not_the_videos() {
        let dir = tempfile::tempdir().unwrap();
        let result = mp4_to_gif(
            ffmpeg(),
            &dir.path().join("never-written.mp4"),
            &GifSettings::default(),
        );
        assert!(matches!(result, Err(GifError::Internal(_))), "{result:?}");
    }

    #[test]
    fn an_ffmpeg_that_is_not_there_is_reported_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let nowhere = dir.path().join("no-ffmpeg-here");
        let mp4 = dir.path().join("any.mp4");
        std::fs::write(&mp4, b"not read").unwrap();

        let converted = mp4_to_gif(&nowhere, &mp4, &GifSettings::default());
        assert!(
            matches!(converted, Err(GifError::FfmpegMissing(_))),
            "{converted:?}"
        );
        let version = ffmpeg_version(&nowhere);
        assert!(
            matches!(version, Err(GifError::FfmpegMissing(_))),
            "{version:?}"
        );
    }

    #[test]
    fn the_installed_ffmpeg_reports_its_version() {
        let version = ffmpeg_version(ffmpeg()).expect("ffmpeg is installed");
        assert!(
            version.chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{version}"
        );
    }

    #[test]
    fn default_settings_are_valid_and_out_of_range_ones_are_refused() {
        let good = GifSettings::default();
        good.validate().unwrap();
        let bad = [
            GifSettings {
                max_side: 0,
                ..good.clone()
            },
            GifSettings {
                fps: 0,
                ..good.clone()
            },
            GifSettings {
                min_fps: 11,
                ..good.clone()
            },
            GifSettings {
                quality: 101,
                ..good.clone()
            },
            GifSettings {
                min_quality: 95,
                ..good.clone()
            },
            GifSettings {
                max_bytes: 0,
                ..good.clone()
            },
        ];
        for settings in bad {
            assert!(
                matches!(settings.validate(), Err(GifError::Internal(_))),
                "{settings:?} accepted"
            );
        }
    }

    /// Not a test but the calibration behind [`SHAPE`], [`Anchor::predicted`] and [`TRIAL_SCALE`]:
    /// for every MP4 in the folder `EMO_GIF_CALIBRATE` (the benchmark's clips are in
    /// `~/.cache/emo/sticker-bench/clips` after `bash bench/run.sh`) it prints the content
    /// measures and the bytes of a full encode at each quality of `EMO_GIF_CALIBRATE_GRID`
    /// (`QUALITY` or `QUALITY:trial`), and writes the GIFs into `EMO_GIF_CALIBRATE_OUT` if set.
    /// `cargo test --release -p emo --lib gif::tests::calibrate -- --ignored --nocapture`
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
        let mut clips: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "mp4"))
            .collect();
        clips.sort();
        let settings = GifSettings::default();
        for clip in clips {
            let video = decode(ffmpeg(), &clip, &settings).unwrap();
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
    fn the_content_measures_see_motion_and_detail() {
        let flat = vec![128u8; 8 * 8 * 4];
        let mut stripes = flat.clone();
        for (i, px) in stripes.chunks_exact_mut(4).enumerate() {
            let v = if i % 2 == 0 { 0 } else { 200 };
            px[..3].copy_from_slice(&[v, v, v]);
        }
        let mut still = ContentMeter::default();
        still.add(&flat, 8, 8);
        still.add(&flat, 8, 8);
        assert_eq!(
            still.finish(),
            Content {
                motion: 0.0,
                detail: 0.0
            }
        );
        let mut moving = ContentMeter::default();
        moving.add(&flat, 8, 8);
        moving.add(&stripes, 8, 8);
        let content = moving.finish();
        assert!((content.motion - 100.0).abs() < 1.0, "{content:?}");
        assert!(content.detail > 40.0, "{content:?}");
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
