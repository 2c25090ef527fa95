//! MP4 -> GIF sticker: ffmpeg (through `ffmpeg-sidecar`) decodes, resamples the frame rate and
//! scales; one of two encoders quantises and encodes (one palette for the clip with error
//! diffusion or ordered dithering and gifsicle's lossy LZW, or gifski's per-frame palettes);
//! this module owns the choice and the byte budget.
//!
//! The global palette comes first: a few forms of it (127 and 63 colours diffused, 63 ordered:
//! `budget::CANDIDATES`, then 31 colours when a 63-colour form fits: `budget::FEWER`, and 15
//! diffused when 31 is the best and needs loss: `budget::FEWEST`) are tried on an 8-frame trial,
//! the one expected to show the least error at the budget is encoded in full, and its loss is
//! searched to 96-100% of the budget (its passes only redo the LZW; the loss is interpolated in
//! √loss, where the bytes fall evenly, and a pass over the budget is corrected by redoing only
//! its last frames at a greater loss).
//! gifski makes the sticker only where no form of the global palette comes near the budget
//! (whole-frame motion such as a photo zoomed at 624 px): its quality is predicted from the frame
//! count, the pixel count and two cheap content measures taken while decoding, a 16-frame trial
//! measures what the clip really costs, and the full encode uses the quality the trial points
//! to, aiming at 90% of the budget. A miss is corrected from the measured bytes (interpolating
//! between passes), and only at `min_quality` are frames dropped instead.
//!
//! Memory: the decoded frames of one encode are all that is held, at most `MAX_SECONDS × fps`
//! frames of at most `max_side`² RGBA pixels (5 s at 10 fps and 240 px: 11.5 MB; the 30 s cap:
//! 69 MB), whatever the source's length or resolution, since ffmpeg scales and drops frames before
//! they reach this process. gifski's pipeline holds a few frames more (bounded queues), and
//! ffmpeg's decoder holds a few source-sized reference frames in its own process. The frames are
//! kept rather than streamed straight into gifski so that a pass that misses does not pay for a
//! second decode (about half of a pass's CPU).
//!
//! The files: this one holds the settings, the finished [`Sticker`], the errors and the two entry
//! points, [`mp4_to_gif`] and [`ffmpeg_version`]. `decode` runs ffmpeg and keeps the frames, with
//! the content measures taken as they arrive; `budget` predicts the quality, makes the trial and
//! searches for the encode that fits, and chooses the encoder; `encode` hands the chosen frames to
//! gifski; `global` is the global-palette encoder and `lossy` its lossy LZW; [`thumbnail`]
//! makes the sticker's 120 × 120 PNG thumbnail from the finished GIF; [`caption`] draws the
//! sticker's caption onto the decoded frames, before anything is encoded. `test_clips` (tests only)
//! makes the MP4s the tests convert and reads back the GIFs they check.

use std::path::Path;

mod budget;
pub mod caption;
mod decode;
mod encode;
mod global;
mod lossy;
#[cfg(test)]
mod test_clips;
pub mod thumbnail;

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
    /// gifski quality of the encode that fitted; for the global palette, the gifski quality
    /// whose loss is nearest the one that fitted (`global::quality_of`).
    pub quality: u8,
    /// Frame rate of the encode that fitted.
    pub fps: u32,
    /// Full encodes made, the one that fitted included.
    pub passes: u32,
    /// Frames in the trial encode made before the first full one (0 when the clip was too short
    /// to need one).
    pub trial_frames: usize,
    /// The encoder that made it, chosen per clip on the trial's frames.
    pub method: Method,
}

/// The two encoders a sticker can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// gifski: a palette per frame, error diffusion, gifski's lossy LZW.
    Gifski,
    /// One palette for the clip, error diffusion or ordered dithering, gifsicle's lossy LZW.
    GlobalPalette,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gifski => "gifski",
            Self::GlobalPalette => "global-palette",
        }
    }
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
    /// The caption font cannot be read, or cannot draw every caption character: a deployment
    /// fault, never the video's.
    #[error("the caption font is not usable: {0}")]
    Font(String),
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

/// Converts the MP4 at `mp4` into a looping GIF within `settings.max_bytes`, with `caption` drawn
/// on every frame (before the budget is searched, so its bytes are counted). Blocking and
/// CPU-heavy (hundreds of milliseconds to seconds): call it from `spawn_blocking`.
///
/// Fails with [`GifError::FfmpegMissing`] when `ffmpeg` cannot be started,
/// [`GifError::Undecodable`] when the file yields no video frames, [`GifError::OverBudget`] when
/// nothing down to `min_quality` at `min_fps` fits, and [`GifError::Internal`] otherwise.
pub fn mp4_to_gif(
    ffmpeg: &Path,
    mp4: &Path,
    settings: &GifSettings,
    caption: Option<caption::Captioning<'_>>,
) -> Result<Sticker, GifError> {
    settings.validate()?;
    let video = decode::decode(ffmpeg, mp4, settings, caption)?;
    budget::fit_budget(&video, settings)
}

/// The frames the encoder is given for `mp4` (decoded, scaled, `caption` drawn) as RGB24, one
/// after another, with their width and height: what a sticker's quality is measured against
/// (`emo-gif --reference-out`, for the benchmark's DSSIM). Fails as [`mp4_to_gif`] does.
pub fn reference_frames(
    ffmpeg: &Path,
    mp4: &Path,
    settings: &GifSettings,
    caption: Option<caption::Captioning<'_>>,
) -> Result<(u32, u32, Vec<u8>), GifError> {
    settings.validate()?;
    let video = decode::decode(ffmpeg, mp4, settings, caption)?;
    let rgb = video
        .images
        .iter()
        .flat_map(|frame| frame.pixels().flat_map(|p| [p.r, p.g, p.b]))
        .collect();
    Ok((video.width, video.height, rgb))
}

#[cfg(test)]
mod tests {
    use super::test_clips::{clip, convert, ffmpeg, look_at};
    use super::*;

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

        match mp4_to_gif(ffmpeg(), &mp4, &settings, None) {
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
    fn an_ffmpeg_that_is_not_there_is_reported_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let nowhere = dir.path().join("no-ffmpeg-here");
        let mp4 = dir.path().join("any.mp4");
        std::fs::write(&mp4, b"not read").unwrap();

        let converted = mp4_to_gif(&nowhere, &mp4, &GifSettings::default(), None);
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
}
