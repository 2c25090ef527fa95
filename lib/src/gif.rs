//! MP4 -> GIF sticker: ffmpeg (through `ffmpeg-sidecar`) decodes, resamples the frame rate and
//! scales; gifski quantises and encodes; this module owns the byte budget between the two. The
//! frames are decoded once and kept in memory, so a pass over budget re-encodes them at a lower
//! quality and, once quality is at its floor, at a lower frame rate, without touching ffmpeg again.

use std::io;
use std::path::Path;
use std::process::ExitStatus;

use ffmpeg_sidecar::child::FfmpegChild;
use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use gifski::collector::{ImgVec, RGBA8};

/// The longest stretch of video decoded; anything longer is cut, so a hostile or broken file
/// cannot fill memory (30 s at 10 fps and 240x240 is about 70 MB of RGBA).
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
    /// Frames per second decoded from the video, and of the first encode.
    pub fps: u32,
    /// The largest acceptable GIF, in bytes.
    pub max_bytes: usize,
    /// gifski quality (1-100) of the first encode.
    pub quality: u8,
    /// The least a quality is lowered by from one pass to the next.
    pub quality_step: u8,
    /// The lowest quality tried before frames are dropped instead.
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
            quality_step: 5,
            min_quality: 40,
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
        } else if self.quality_step == 0 {
            "quality_step is 0".to_owned()
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
    /// Encodes made, the one that fitted included.
    pub passes: u32,
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
    // filtergraph parser.
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

/// Encodes at falling quality, then falling frame rate, until the GIF fits.
fn fit_budget(video: &Frames, settings: &GifSettings) -> Result<Sticker, GifError> {
    let budget = settings.max_bytes;
    let mut quality = settings.quality;
    let mut fps = video.fps;
    let mut passes = 0;
    let mut smallest = usize::MAX;
    let mut slope = QualitySlope::default();
    loop {
        let picks = resample(video.images.len(), video.fps, fps);
        let gif = encode(video, &picks, fps, quality)?;
        passes += 1;
        tracing::debug!(passes, quality, fps, bytes = gif.len(), budget, "GIF pass");
        if gif.len() <= budget {
            return Ok(Sticker {
                gif,
                width: video.width,
                height: video.height,
                frames: picks.len(),
                quality,
                fps,
                passes,
            });
        }
        smallest = smallest.min(gif.len());
        // How many times too big, against a target a little under the budget so that a near
        // miss does not cost one more pass.
        let over = gif.len() as f64 / (budget as f64 * 0.95);
        if quality > settings.min_quality {
            let drop = slope.observe(quality, gif.len()) * over.ln();
            let drop = (drop.ceil() as u8).max(settings.quality_step);
            quality = quality.saturating_sub(drop).max(settings.min_quality);
        } else if fps > settings.min_fps {
            // Size falls about in proportion to the frame count (measured: half the frames,
            // 0.50-0.55 of the bytes).
            let estimate = (f64::from(fps) / over).floor() as u32;
            fps = estimate.min(fps - 1).max(settings.min_fps);
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

/// Quality points that shrink a GIF by a factor of e: a prior, then measured from the last two
/// passes. Measured at 240 px between qualities 90 and 40, it ranges from about 28 (noisy
/// video, where lossy LZW pays off most) to 68 (fine detail everywhere).
struct QualitySlope {
    per_e: f64,
    last: Option<(u8, f64)>,
}

impl Default for QualitySlope {
    fn default() -> Self {
        Self {
            per_e: 50.0,
            last: None,
        }
    }
}

impl QualitySlope {
    fn observe(&mut self, quality: u8, bytes: usize) -> f64 {
        let ln_bytes = (bytes as f64).ln();
        if let Some((last_quality, last_ln_bytes)) = self.last {
            let shrink = last_ln_bytes - ln_bytes;
            if quality < last_quality && shrink > 0.0 {
                let measured = f64::from(last_quality - quality) / shrink;
                // Clamped around the measured range: one odd pair of passes (a kink in the
                // curve) must not make the next step absurdly large or small.
                self.per_e = measured.clamp(20.0, 100.0);
            }
        }
        self.last = Some((quality, ln_bytes));
        self.per_e
    }
}

/// Indices into `count` frames at `from` fps that show the same span at `to` fps.
fn resample(count: usize, from: u32, to: u32) -> Vec<usize> {
    let (from, to) = (from as usize, to as usize);
    (0..(count * to).div_ceil(from))
        .map(|k| k * from / to)
        .collect()
}

fn encode(video: &Frames, picks: &[usize], fps: u32, quality: u8) -> Result<Vec<u8>, GifError> {
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
                let pts = index as f64 / f64::from(fps);
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
    fn a_tight_budget_takes_more_passes_and_still_fits() {
        let dir = tempfile::tempdir().unwrap();
        let settings = GifSettings {
            max_bytes: 150_000,
            ..GifSettings::default()
        };
        let sticker = convert(&clip(dir.path(), "testsrc2", "624x624"), &settings);

        assert!(sticker.passes > 1, "{} passes", sticker.passes);
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
                quality_step: 0,
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
