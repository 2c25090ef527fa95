//! Which backend the ports use and what they are called: `EMO_BACKEND`, `EMO_DATA_DIR`,
//! `EMO_PUBLIC_URL` (local), `EMO_USERS_TABLE`, `EMO_JOBS_TABLE`, `EMO_BUCKET`, `EMO_QUEUE_URL`
//! (aws), `EMO_JOB_RETENTION_DAYS`, `DASHSCOPE_MAX_IN_FLIGHT`. Only the names of the ports a
//! process uses are read, and with aws each of those is required here, once.

use std::path::PathBuf;
use std::time::Duration;

use crate::settings::{Env, SettingsError, bad};

/// Which adapters the ports use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded: a SQLite file and a folder under `EMO_DATA_DIR`. No service needed.
    Local,
    /// Production: DynamoDB, S3 and SQS through the official SDK.
    Aws,
}

/// The ports a process uses; the others are [`super::unconfigured`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortSet {
    pub users: bool,
    pub quota: bool,
    /// The per-client bounds (on the users table).
    pub clients: bool,
    pub jobs: bool,
    pub slots: bool,
    /// The recent job durations (on the jobs table).
    pub durations: bool,
    pub blobs: bool,
    pub queue: bool,
    /// WeChat's shared access token (on the users table).
    pub access_tokens: bool,
}

impl PortSet {
    pub const ALL: Self = Self {
        users: true,
        quota: true,
        clients: true,
        jobs: true,
        slots: true,
        durations: true,
        blobs: true,
        queue: true,
        access_tokens: true,
    };
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub backend: Backend,
    pub ports: PortSet,
    /// `EMO_DATA_DIR`: the local backend's database, blobs and generated JWT key.
    pub data_dir: PathBuf,
    /// `EMO_PUBLIC_URL`: where the local backend's GIF links start; by default the `Host` the
    /// request came to.
    pub public_url: Option<String>,
    /// `EMO_USERS_TABLE` (users, the daily quota and the per-client bounds), with aws.
    pub users_table: Option<String>,
    /// `EMO_JOBS_TABLE` (jobs, the task slots and the recent durations), with aws.
    pub jobs_table: Option<String>,
    /// `EMO_BUCKET`, with aws.
    pub bucket: Option<String>,
    /// `EMO_QUEUE_URL`, with aws.
    pub queue_url: Option<String>,
    /// `EMO_JOB_RETENTION_DAYS`: how long job records are kept (DynamoDB TTL).
    pub retention: Duration,
    /// `DASHSCOPE_MAX_IN_FLIGHT`: DashScope task slots per model family.
    pub max_in_flight: u32,
    /// `EMO_LEASE_SECS`: the local queue's visibility timeout (the worker's lease, which it must
    /// cover).
    pub local_visibility: Duration,
}

impl StoreSettings {
    /// Reads the backend and the names of the `ports` used.
    pub fn from_env(env: &Env<'_>, ports: PortSet) -> Result<Self, SettingsError> {
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
        if backend == Backend::Local && !cfg!(feature = "local") {
            return Err(bad(
                "EMO_BACKEND",
                "is local (the default), but this build has no local backend: set EMO_BACKEND=aws, \
                 or build with the `local` feature (cargo lambda watch --features local)",
            ));
        }
        let aws = backend == Backend::Aws;
        let name = |var: &'static str, used: bool| -> Result<Option<String>, SettingsError> {
            match (aws, used) {
                (true, true) => env.required(var, "when EMO_BACKEND=aws").map(Some),
                _ => Ok(None),
            }
        };
        let local_queue = !aws && ports.queue;
        Ok(Self {
            backend,
            ports,
            data_dir: env
                .get("EMO_DATA_DIR")
                .unwrap_or_else(|| "./.emo".into())
                .into(),
            public_url: if !aws && ports.blobs {
                env.get("EMO_PUBLIC_URL")
            } else {
                None
            },
            users_table: name(
                "EMO_USERS_TABLE",
                ports.users || ports.quota || ports.clients || ports.access_tokens,
            )?,
            jobs_table: name(
                "EMO_JOBS_TABLE",
                ports.jobs || ports.slots || ports.durations,
            )?,
            bucket: name("EMO_BUCKET", ports.blobs)?,
            queue_url: name("EMO_QUEUE_URL", ports.queue)?,
            retention: if ports.jobs {
                Duration::from_secs(
                    24 * 3600 * env.parse::<u64>("EMO_JOB_RETENTION_DAYS", 30)?.max(1),
                )
            } else {
                Duration::from_secs(30 * 24 * 3600)
            },
            max_in_flight: if ports.slots {
                env.bounded("DASHSCOPE_MAX_IN_FLIGHT", 2, 1..=16)?
            } else {
                2
            },
            local_visibility: if local_queue {
                env.secs("EMO_LEASE_SECS", 180, 10..=3600)?
            } else {
                Duration::from_secs(180)
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::with_vars;

    #[test]
    fn with_aws_each_port_used_needs_its_name_and_no_other() {
        let users_only = PortSet {
            users: true,
            ..PortSet::default()
        };
        let e = with_vars(&[("EMO_BACKEND", "aws")], |env| {
            StoreSettings::from_env(env, users_only)
        })
        .unwrap_err();
        assert_eq!(e.name, "EMO_USERS_TABLE");
        let s = with_vars(&[("EMO_BACKEND", "aws"), ("EMO_USERS_TABLE", "u")], |env| {
            StoreSettings::from_env(env, users_only)
        })
        .unwrap();
        assert_eq!(s.users_table.as_deref(), Some("u"));
        assert_eq!(s.jobs_table, None);
        let transcoder = PortSet {
            jobs: true,
            slots: true,
            blobs: true,
            queue: true,
            ..PortSet::default()
        };
        let vars = [
            ("EMO_BACKEND", "aws"),
            ("EMO_JOBS_TABLE", "j"),
            ("EMO_BUCKET", "b"),
            ("EMO_QUEUE_URL", "q"),
        ];
        assert!(with_vars(&vars, |env| StoreSettings::from_env(env, transcoder)).is_ok());
    }

    #[test]
    fn an_unknown_backend_is_named() {
        let e = with_vars(&[("EMO_BACKEND", "gcp")], |env| {
            StoreSettings::from_env(env, PortSet::ALL)
        })
        .unwrap_err();
        assert_eq!(e.name, "EMO_BACKEND");
    }

    #[test]
    fn a_setting_of_a_port_not_used_is_not_read() {
        let none = PortSet::default();
        let vars = [
            ("EMO_BACKEND", "aws"),
            ("DASHSCOPE_MAX_IN_FLIGHT", "not a number"),
            ("EMO_JOB_RETENTION_DAYS", "soon"),
        ];
        assert!(with_vars(&vars, |env| StoreSettings::from_env(env, none)).is_ok());
    }
}
