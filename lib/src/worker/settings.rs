//! How the worker advances jobs: `EMO_POLL_INTERVAL_SECS`, `EMO_MAX_RECEIVES`,
//! `EMO_RETRY_BASE_SECS`, `EMO_LEASE_SECS`, `EMO_SECRET_REFRESH_SECS`, and the tools it runs:
//! DashScope ([`crate::dashscope::DashScopeSettings`]), ffmpeg, the caption font
//! (`EMO_CAPTION_FONT`) and the GIF ([`crate::gif::GifSettings`]). Read only by the transcoder
//! and `emo-local`.

use std::path::PathBuf;
use std::time::Duration;

use crate::dashscope::DashScopeSettings;
use crate::gif::GifSettings;
use crate::settings::{Env, SettingsError, bad};
use crate::store::Backend;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `EMO_POLL_INTERVAL_SECS`: the delay between two DashScope task queries.
    pub poll_interval: Duration,
    /// `EMO_MAX_RECEIVES`: the delivery that is a job message's last try: if it fails too, the job
    /// ends FAILED and the message is left to the queue's dead-letter redrive. On AWS it equals the
    /// queue's `maxReceiveCount` (the template sets both from one parameter).
    pub max_receives: u32,
    /// `EMO_RETRY_BASE_SECS`: a job message that failed for now is retried this long after its
    /// first delivery, twice as long after its second, and so on (at most 5 minutes), instead of
    /// after the queue's visibility timeout.
    pub retry_base: Duration,
    /// `EMO_LEASE_SECS`: how long a worker owns a submit or transcode step before another may
    /// take it over (it must exceed the longest such step).
    pub lease: Duration,
    pub dashscope: DashScopeSettings,
    pub gif: GifSettings,
    /// `EMO_FFMPEG`: the ffmpeg executable (default: `ffmpeg` on `PATH`).
    pub ffmpeg: PathBuf,
    /// `EMO_CAPTION_FONT`: the caption font (default: [`DEFAULT_CAPTION_FONT`], where the
    /// transcoder's layer puts it).
    pub caption_font: PathBuf,
}

/// Where the transcoder's Lambda layer puts the caption font (`infra/ffmpeg-layer.sh`).
pub const DEFAULT_CAPTION_FONT: &str = "/opt/share/emo/caption.otf";

impl WorkerSettings {
    pub fn from_env(env: &Env<'_>, backend: Backend) -> Result<Self, SettingsError> {
        Ok(Self {
            poll_interval: crate::job::settings::poll_interval(env)?,
            max_receives: env.parse("EMO_MAX_RECEIVES", 5)?,
            retry_base: env.secs("EMO_RETRY_BASE_SECS", 30, 1..=300)?,
            lease: env.secs("EMO_LEASE_SECS", 180, 10..=3600)?,
            dashscope: DashScopeSettings::from_env(env, backend)?,
            gif: gif_settings(env)?,
            ffmpeg: ffmpeg_path(env),
            caption_font: caption_font_path(env),
        })
    }
}

/// `EMO_FFMPEG`, or `ffmpeg` on `PATH`.
pub fn ffmpeg_path(env: &Env<'_>) -> PathBuf {
    env.get("EMO_FFMPEG")
        .unwrap_or_else(|| "ffmpeg".into())
        .into()
}

/// `EMO_CAPTION_FONT`, or [`DEFAULT_CAPTION_FONT`].
pub fn caption_font_path(env: &Env<'_>) -> PathBuf {
    env.get("EMO_CAPTION_FONT")
        .unwrap_or_else(|| DEFAULT_CAPTION_FONT.into())
        .into()
}

/// `EMO_GIF_*`: the sticker's size, frame rate, byte budget and quality range. Tools such as
/// `emo-gif` read it to convert exactly as the transcoder does.
pub fn gif_settings(env: &Env<'_>) -> Result<GifSettings, SettingsError> {
    let d = GifSettings::default();
    let g = GifSettings {
        max_side: env.parse("EMO_GIF_MAX_SIDE", d.max_side)?,
        fps: env.parse("EMO_GIF_FPS", d.fps)?,
        max_bytes: env.parse("EMO_GIF_MAX_BYTES", d.max_bytes)?,
        quality: env.parse("EMO_GIF_QUALITY", d.quality)?,
        min_quality: env.parse("EMO_GIF_MIN_QUALITY", d.min_quality)?,
        min_fps: env.parse("EMO_GIF_MIN_FPS", d.min_fps)?,
    };
    g.validate().map_err(|e| {
        bad(
            "EMO_GIF_*",
            format!("the GIF settings do not fit together: {e}"),
        )
    })?;
    Ok(g)
}
