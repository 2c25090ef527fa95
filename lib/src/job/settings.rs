//! How jobs are created and shown by the API: `EMO_JOB_DEADLINE_SECS`, `EMO_GIF_URL_TTL_SECS`,
//! `EMO_MAX_ACTIVE_JOBS`, `EMO_MAX_DAILY_JOBS`, `EMO_MAX_DAILY_JOBS_TOTAL`. Read by the create
//! and query functions.

use std::time::Duration;

use crate::settings::{Env, SettingsError};

#[derive(Debug, Clone)]
pub struct JobSettings {
    /// `EMO_GIF_URL_TTL_SECS`: how long a `video_url` works after the query that made it.
    pub gif_url_ttl: Duration,
    /// `EMO_JOB_DEADLINE_SECS`: a job still in progress this long after its creation ends FAILED.
    pub deadline: Duration,
    /// `EMO_MAX_ACTIVE_JOBS`: how many of a user's jobs may be in progress at once.
    pub max_active_per_user: u32,
    /// `EMO_MAX_DAILY_JOBS`: how many jobs a user may create per day (China time).
    pub max_daily_per_user: u32,
    /// `EMO_MAX_DAILY_JOBS_TOTAL`: how many jobs all users together may create per day (China
    /// time): the bound on the day's DashScope bill, however many accounts there are.
    pub max_daily_total: u32,
}

impl Default for JobSettings {
    fn default() -> Self {
        Self {
            gif_url_ttl: Duration::from_secs(3600),
            deadline: Duration::from_secs(30 * 60),
            max_active_per_user: 3,
            max_daily_per_user: 30,
            max_daily_total: 1000,
        }
    }
}

impl JobSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, SettingsError> {
        let d = Self::default();
        Ok(Self {
            gif_url_ttl: env.secs(
                "EMO_GIF_URL_TTL_SECS",
                d.gif_url_ttl.as_secs(),
                60..=7 * 24 * 3600,
            )?,
            deadline: env.secs(
                "EMO_JOB_DEADLINE_SECS",
                d.deadline.as_secs(),
                60..=24 * 3600,
            )?,
            max_active_per_user: env.bounded(
                "EMO_MAX_ACTIVE_JOBS",
                d.max_active_per_user,
                1..=100,
            )?,
            max_daily_per_user: env.bounded(
                "EMO_MAX_DAILY_JOBS",
                d.max_daily_per_user,
                1..=100_000,
            )?,
            max_daily_total: env.bounded(
                "EMO_MAX_DAILY_JOBS_TOTAL",
                d.max_daily_total,
                1..=10_000_000,
            )?,
        })
    }
}

/// `EMO_POLL_INTERVAL_SECS`: the delay between two DashScope task queries, which the worker polls
/// at and the sweep measures a job's quiet by.
pub fn poll_interval(env: &Env<'_>) -> Result<Duration, SettingsError> {
    env.secs("EMO_POLL_INTERVAL_SECS", 10, 1..=900)
}
