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
    /// the data dir), required on aws.
    pub jwt_secret: Option<String>,
    pub jwt_ttl: Duration,
    pub argon2: Argon2Cost,
    pub lockout: LockoutPolicy,
    /// `EMO_USERS_TABLE`: the DynamoDB users table (aws backend only).
    pub users_table: Option<String>,
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
            .field("jwt_ttl", &self.jwt_ttl)
            .field("argon2", &self.argon2)
            .field("lockout", &self.lockout)
            .field("users_table", &self.users_table)
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
        if backend == Backend::Aws && jwt_secret.is_none() {
            return Err(bad(
                "EMO_JWT_SECRET",
                "is required when EMO_BACKEND=aws".into(),
            ));
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
            jwt_ttl: Duration::from_secs(jwt_ttl_secs),
            argon2,
            lockout: LockoutPolicy {
                max_failures,
                lockout: Duration::from_secs(env.parse("EMO_LOGIN_LOCKOUT_SECS", 15 * 60)?),
            },
            users_table,
        })
    }
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
    fn the_aws_backend_requires_its_secret_and_table() {
        let e = settings(&[("EMO_BACKEND", "aws"), ("EMO_USERS_TABLE", "users")]).unwrap_err();
        assert_eq!(e.name, "EMO_JWT_SECRET");
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
