//! Configuration, read once from the environment when a process starts.
//!
//! A missing or malformed setting fails start-up with a message naming the variable, never a
//! request later. An empty variable counts as unset, so a template can pass "" for "default".

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Which adapters the ports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded: a SQLite file and a folder under `EMO_DATA_DIR`. No service needed.
    Local,
    /// Production: DynamoDB (and, later, S3 and SQS) through the official SDK.
    Aws,
}

/// argon2id cost. Production uses OWASP's m = 19 MiB, t = 2, p = 1; tests set a cheap one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Cost {
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
}

/// How many failed logins in a row lock a phone, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lockout: Duration,
}

/// Every setting Emo reads. See the README for the variables and their defaults.
#[derive(Clone)]
pub struct Settings {
    pub backend: Backend,
    /// `EMO_DATA_DIR`: where the local backend keeps its database and its generated JWT secret.
    pub data_dir: PathBuf,
    /// `EMO_JWT_SECRET`: HS256 key. Optional on the local backend (one is generated and kept in
    /// the data dir). On aws it or `EMO_JWT_SECRET_ID` is given to the functions that issue or
    /// check tokens; the others get neither and can do neither.
    pub jwt_secret: Option<String>,
    /// `EMO_JWT_SECRET_ID`: the Secrets Manager secret (name or ARN) holding the HS256 key, read
    /// at run time (aws backend only; see `crate::secrets`).
    pub jwt_secret_id: Option<String>,
    /// `EMO_SECRET_REFRESH_SECS`: how old the secrets read from Secrets Manager may get before
    /// they are read again.
    pub secret_refresh: Duration,
    pub jwt_ttl: Duration,
    pub argon2: Argon2Cost,
    pub lockout: LockoutPolicy,
    /// `EMO_USERS_TABLE`: the DynamoDB users table (aws backend only).
    pub users_table: Option<String>,
    /// `EMO_JOBS_TABLE`, `EMO_BUCKET`, `EMO_QUEUE_URL`: the aws backend's jobs table, bucket and
    /// queue. Each function needs only those it uses, so they are checked where they are used.
    pub jobs_table: Option<String>,
    pub bucket: Option<String>,
    pub queue_url: Option<String>,
    pub jobs: JobSettings,
    pub dashscope: DashScopeSettings,
    pub gif: crate::gif::GifSettings,
    /// `EMO_FFMPEG`: the ffmpeg executable (default: `ffmpeg` on `PATH`).
    pub ffmpeg: PathBuf,
}

/// How jobs are created, advanced and shown.
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// `EMO_PUBLIC_URL`: the base URL the local server's GIF links start with; by default the
    /// `Host` the request came to.
    pub public_url: Option<String>,
    /// `EMO_GIF_URL_TTL_SECS`: how long a `video_url` works after the query that made it.
    pub gif_url_ttl: Duration,
    /// `EMO_JOB_DEADLINE_SECS`: a job still in progress this long after its creation ends FAILED.
    pub deadline: Duration,
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
    /// `EMO_JOB_RETENTION_DAYS`: how long jobs and GIFs are kept (DynamoDB TTL).
    pub retention: Duration,
    /// `EMO_MAX_ACTIVE_JOBS`: how many of a user's jobs may be in progress at once.
    pub max_active_per_user: u32,
    /// `EMO_MAX_DAILY_JOBS`: how many jobs a user may create per day (China time).
    pub max_daily_per_user: u32,
    /// `DASHSCOPE_MAX_IN_FLIGHT`: DashScope tasks per model at once, the account's concurrency;
    /// more wait in the queue.
    pub max_in_flight: u32,
}

/// DashScope's endpoint, key and models.
#[derive(Clone)]
pub struct DashScopeSettings {
    /// `DASHSCOPE_API_KEY`. Without it (and without a secret id) the local server runs the
    /// offline stand-in.
    pub api_key: Option<String>,
    /// `DASHSCOPE_API_KEY_SECRET_ID`: the Secrets Manager secret holding the key, read at run
    /// time (aws backend only).
    pub api_key_secret_id: Option<String>,
    /// `DASHSCOPE_BASE_URL`.
    pub base_url: String,
    /// `DASHSCOPE_T2V_MODEL`, `DASHSCOPE_I2V_MODEL`, `DASHSCOPE_TEXT_MODEL`.
    pub t2v_model: String,
    pub i2v_model: String,
    pub text_model: String,
    /// `DASHSCOPE_TIMEOUT_SECS`: the most one DashScope call may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for DashScopeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashScopeSettings")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_secret_id", &self.api_key_secret_id)
            .field("base_url", &self.base_url)
            .field("t2v_model", &self.t2v_model)
            .field("i2v_model", &self.i2v_model)
            .field("text_model", &self.text_model)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("backend", &self.backend)
            .field("data_dir", &self.data_dir)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_secret_id", &self.jwt_secret_id)
            .field("secret_refresh", &self.secret_refresh)
            .field("jwt_ttl", &self.jwt_ttl)
            .field("argon2", &self.argon2)
            .field("lockout", &self.lockout)
            .field("users_table", &self.users_table)
            .field("jobs_table", &self.jobs_table)
            .field("bucket", &self.bucket)
            .field("queue_url", &self.queue_url)
            .field("jobs", &self.jobs)
            .field("dashscope", &self.dashscope)
            .field("gif", &self.gif)
            .field("ffmpeg", &self.ffmpeg)
            .finish()
    }
}

/// A setting that is missing or cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct SettingsError {
    pub name: &'static str,
    pub problem: String,
}

/// The shortest `EMO_JWT_SECRET` accepted: HS256 wants a key of at least its 256-bit output.
pub const MIN_JWT_SECRET_LEN: usize = 32;

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned()))
    }

    /// Reads settings through `lookup` (the environment in production, a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let env = Env(&lookup);
        let backend = match env.get("EMO_BACKEND").as_deref() {
            None | Some("local") => Backend::Local,
            Some("aws") => Backend::Aws,
            Some(other) => {
                return Err(bad(
                    "EMO_BACKEND",
                    format!("{other:?} is neither \"local\" nor \"aws\""),
                ));
            }
        };
        let jwt_secret = env.get("EMO_JWT_SECRET");
        if let Some(s) = &jwt_secret
            && s.len() < MIN_JWT_SECRET_LEN
        {
            return Err(bad(
                "EMO_JWT_SECRET",
                format!("must be at least {MIN_JWT_SECRET_LEN} bytes long"),
            ));
        }
        let jwt_secret_id = env.get("EMO_JWT_SECRET_ID");
        let api_key_secret_id = env.get("DASHSCOPE_API_KEY_SECRET_ID");
        for (name, id, plain, plain_name) in [
            (
                "EMO_JWT_SECRET_ID",
                &jwt_secret_id,
                &jwt_secret,
                "EMO_JWT_SECRET",
            ),
            (
                "DASHSCOPE_API_KEY_SECRET_ID",
                &api_key_secret_id,
                &env.get("DASHSCOPE_API_KEY"),
                "DASHSCOPE_API_KEY",
            ),
        ] {
            if id.is_some() && backend != Backend::Aws {
                return Err(bad(
                    name,
                    "is read from Secrets Manager, so needs EMO_BACKEND=aws".into(),
                ));
            }
            if id.is_some() && plain.is_some() {
                return Err(bad(name, format!("and {plain_name} are both set; set one")));
            }
        }
        let users_table = env.get("EMO_USERS_TABLE");
        if backend == Backend::Aws && users_table.is_none() {
            return Err(bad(
                "EMO_USERS_TABLE",
                "is required when EMO_BACKEND=aws".into(),
            ));
        }
        let argon2 = Argon2Cost {
            memory_kib: env.parse("EMO_ARGON2_MEMORY_KIB", Argon2Cost::OWASP.memory_kib)?,
            iterations: env.parse("EMO_ARGON2_ITERATIONS", Argon2Cost::OWASP.iterations)?,
            parallelism: env.parse("EMO_ARGON2_PARALLELISM", Argon2Cost::OWASP.parallelism)?,
        };
        if let Err(e) = argon2::Params::new(
            argon2.memory_kib,
            argon2.iterations,
            argon2.parallelism,
            None,
        ) {
            return Err(bad(
                "EMO_ARGON2_MEMORY_KIB",
                format!("argon2 rejects this cost ({e})"),
            ));
        }
        let max_failures: u32 = env.parse("EMO_LOGIN_MAX_FAILURES", 5)?;
        if max_failures == 0 {
            return Err(bad("EMO_LOGIN_MAX_FAILURES", "must be at least 1".into()));
        }
        let jwt_ttl_secs: u64 = env.parse("EMO_JWT_TTL_SECS", 7 * 24 * 3600)?;
        if jwt_ttl_secs == 0 {
            return Err(bad("EMO_JWT_TTL_SECS", "must be at least 1".into()));
        }
        Ok(Self {
            backend,
            data_dir: env
                .get("EMO_DATA_DIR")
                .unwrap_or_else(|| "./.emo".into())
                .into(),
            jwt_secret,
            jwt_secret_id,
            secret_refresh: env.secs("EMO_SECRET_REFRESH_SECS", 300, 30..=24 * 3600)?,
            jwt_ttl: Duration::from_secs(jwt_ttl_secs),
            argon2,
            lockout: LockoutPolicy {
                max_failures,
                lockout: Duration::from_secs(env.parse("EMO_LOGIN_LOCKOUT_SECS", 15 * 60)?),
            },
            users_table,
            jobs_table: env.get("EMO_JOBS_TABLE"),
            bucket: env.get("EMO_BUCKET"),
            queue_url: env.get("EMO_QUEUE_URL"),
            jobs: JobSettings {
                public_url: env.get("EMO_PUBLIC_URL"),
                gif_url_ttl: env.secs("EMO_GIF_URL_TTL_SECS", 3600, 60..=7 * 24 * 3600)?,
                deadline: env.secs("EMO_JOB_DEADLINE_SECS", 30 * 60, 60..=24 * 3600)?,
                poll_interval: env.secs("EMO_POLL_INTERVAL_SECS", 10, 1..=900)?,
                max_receives: env.parse("EMO_MAX_RECEIVES", 5)?,
                retry_base: env.secs("EMO_RETRY_BASE_SECS", 30, 1..=300)?,
                lease: env.secs("EMO_LEASE_SECS", 180, 10..=3600)?,
                retention: Duration::from_secs(
                    24 * 3600 * env.parse::<u64>("EMO_JOB_RETENTION_DAYS", 30)?.max(1),
                ),
                max_active_per_user: env.bounded("EMO_MAX_ACTIVE_JOBS", 3, 1..=100)?,
                max_daily_per_user: env.bounded("EMO_MAX_DAILY_JOBS", 30, 1..=100_000)?,
                max_in_flight: env.bounded("DASHSCOPE_MAX_IN_FLIGHT", 2, 1..=16)?,
            },
            dashscope: DashScopeSettings {
                api_key: env.get("DASHSCOPE_API_KEY"),
                api_key_secret_id,
                base_url: env
                    .get("DASHSCOPE_BASE_URL")
                    .unwrap_or_else(|| crate::dashscope::DEFAULT_BASE_URL.into()),
                t2v_model: env
                    .get("DASHSCOPE_T2V_MODEL")
                    .unwrap_or_else(|| crate::dashscope::DEFAULT_T2V_MODEL.into()),
                i2v_model: env
                    .get("DASHSCOPE_I2V_MODEL")
                    .unwrap_or_else(|| crate::dashscope::DEFAULT_I2V_MODEL.into()),
                text_model: env
                    .get("DASHSCOPE_TEXT_MODEL")
                    .unwrap_or_else(|| crate::dashscope::DEFAULT_TEXT_MODEL.into()),
                timeout: env.secs("DASHSCOPE_TIMEOUT_SECS", 30, 1..=300)?,
            },
            gif: gif_settings(&env)?,
            ffmpeg: ffmpeg_path(&env),
        })
    }

    /// Only what the transcoder's MP4 -> GIF step reads (`EMO_GIF_*`, `EMO_FFMPEG`), for tools
    /// such as `emo-gif` that must convert exactly as the transcoder does without needing the
    /// rest of a deployment's settings.
    pub fn gif_from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(crate::gif::GifSettings, PathBuf), SettingsError> {
        let env = Env(&lookup);
        Ok((gif_settings(&env)?, ffmpeg_path(&env)))
    }
}

fn ffmpeg_path(env: &Env<'_>) -> PathBuf {
    env.get("EMO_FFMPEG")
        .unwrap_or_else(|| "ffmpeg".into())
        .into()
}

fn gif_settings(env: &Env<'_>) -> Result<crate::gif::GifSettings, SettingsError> {
    let d = crate::gif::GifSettings::default();
    let g = crate::gif::GifSettings {
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

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, SettingsError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| bad(name, format!("{raw:?} is not valid ({e})"))),
        }
    }
}

impl Env<'_> {
    /// A whole number within `range`.
    fn bounded(
        &self,
        name: &'static str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, SettingsError> {
        let v: u32 = self.parse(name, default)?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(bad(
                name,
                format!("{v} is outside {}..={}", range.start(), range.end()),
            ))
        }
    }

    /// A whole number of seconds within `range`.
    fn secs(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, SettingsError> {
        let v: u64 = self.parse(name, default)?;
        if range.contains(&v) {
            Ok(Duration::from_secs(v))
        } else {
            Err(bad(
                name,
                format!("{v} is outside {}..={} seconds", range.start(), range.end()),
            ))
        }
    }
}

fn bad(name: &'static str, problem: String) -> SettingsError {
    SettingsError { name, problem }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn with_nothing_set_emo_runs_locally_with_production_password_cost() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.backend, Backend::Local);
        assert_eq!(s.data_dir, PathBuf::from("./.emo"));
        assert_eq!(s.argon2, Argon2Cost::OWASP);
        assert_eq!(s.argon2.memory_kib, 19 * 1024);
        assert_eq!(s.lockout.max_failures, 5);
        assert_eq!(s.lockout.lockout, Duration::from_secs(900));
        assert!(s.jwt_secret.is_none());
    }

    #[test]
    fn a_malformed_setting_is_named_in_the_error() {
        let e = settings(&[("EMO_LOGIN_MAX_FAILURES", "five")]).unwrap_err();
        assert_eq!(e.name, "EMO_LOGIN_MAX_FAILURES");
        assert!(e.to_string().contains("EMO_LOGIN_MAX_FAILURES"));
        let e = settings(&[("EMO_BACKEND", "gcp")]).unwrap_err();
        assert_eq!(e.name, "EMO_BACKEND");
        let e = settings(&[("EMO_ARGON2_MEMORY_KIB", "1")]).unwrap_err();
        assert_eq!(e.name, "EMO_ARGON2_MEMORY_KIB");
    }

    #[test]
    fn the_aws_backend_requires_its_table() {
        let secret = "s".repeat(MIN_JWT_SECRET_LEN);
        let e = settings(&[("EMO_BACKEND", "aws"), ("EMO_JWT_SECRET", &secret)]).unwrap_err();
        assert_eq!(e.name, "EMO_USERS_TABLE");
        let s = settings(&[
            ("EMO_BACKEND", "aws"),
            ("EMO_JWT_SECRET", &secret),
            ("EMO_USERS_TABLE", "users"),
        ])
        .unwrap();
        assert_eq!(s.backend, Backend::Aws);
    }

    #[test]
    fn secrets_come_from_one_place_and_secrets_manager_only_on_aws() {
        let aws = [("EMO_BACKEND", "aws"), ("EMO_USERS_TABLE", "users")];
        let s = settings(&[aws[0], aws[1], ("EMO_JWT_SECRET_ID", "emo/jwt")]).unwrap();
        assert_eq!(s.jwt_secret_id.as_deref(), Some("emo/jwt"));
        assert_eq!(s.secret_refresh, Duration::from_secs(300));
        let secret = "s".repeat(MIN_JWT_SECRET_LEN);
        let both = [
            aws[0],
            aws[1],
            ("EMO_JWT_SECRET_ID", "emo/jwt"),
            ("EMO_JWT_SECRET", &secret),
        ];
        assert_eq!(settings(&both).unwrap_err().name, "EMO_JWT_SECRET_ID");
        let e = settings(&[("EMO_JWT_SECRET_ID", "emo/jwt")]).unwrap_err();
        assert_eq!(e.name, "EMO_JWT_SECRET_ID");
        let keys = [
            aws[0],
            aws[1],
            ("EMO_JWT_SECRET_ID", "emo/jwt"),
            ("DASHSCOPE_API_KEY", "sk-plain"),
            ("DASHSCOPE_API_KEY_SECRET_ID", "emo/dashscope"),
        ];
        assert_eq!(
            settings(&keys).unwrap_err().name,
            "DASHSCOPE_API_KEY_SECRET_ID"
        );
        let e = settings(&[("DASHSCOPE_API_KEY_SECRET_ID", "emo/dashscope")]).unwrap_err();
        assert_eq!(e.name, "DASHSCOPE_API_KEY_SECRET_ID");
    }

    #[test]
    fn a_short_jwt_secret_is_refused_and_never_printed() {
        let e = settings(&[("EMO_JWT_SECRET", "tooshort")]).unwrap_err();
        assert_eq!(e.name, "EMO_JWT_SECRET");
        assert!(!e.to_string().contains("tooshort"));
        let s = settings(&[("EMO_JWT_SECRET", &"k".repeat(40))]).unwrap();
        assert!(!format!("{s:?}").contains("kkkk"));
    }

    #[test]
    fn an_empty_variable_means_the_default() {
        let s = settings(&[("EMO_BACKEND", ""), ("EMO_LOGIN_LOCKOUT_SECS", "")]).unwrap();
        assert_eq!(s.backend, Backend::Local);
        assert_eq!(s.lockout.lockout, Duration::from_secs(900));
    }
}
