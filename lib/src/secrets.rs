//! Secrets read at run time from AWS Secrets Manager, so they never sit in a function's
//! configuration: the JWT signing key (`EMO_JWT_SECRET_ID`) and the DashScope API key
//! (`DASHSCOPE_API_KEY_SECRET_ID`). Both are read at cold start (a secret that cannot be read stops
//! the function there, loudly) and read again once older than `EMO_SECRET_REFRESH_SECS`, so a
//! rotation reaches running functions without a deploy.
//!
//! A rotation keeps the value before it as `AWSPREVIOUS`: tokens signed with it still verify until
//! the next rotation, and a token signed with a key this instance has not read yet makes it read
//! again at once (at most every [`MIN_REREAD`]).

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_secretsmanager::Client;

/// The least time between two reads forced by an unknown token signature.
pub const MIN_REREAD: Duration = Duration::from_secs(30);

/// A secret's value and, after a rotation, the value before it.
pub struct Versions {
    pub current: String,
    pub previous: Option<String>,
}

/// Reads `id`'s `AWSCURRENT` value. Surrounding whitespace is dropped (a value pasted with its
/// newline is the same key).
pub async fn read_current(client: &Client, id: &str) -> anyhow::Result<String> {
    client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| anyhow::Error::new(e.into_service_error()))
        .with_context(|| format!("cannot read secret {id:?} from Secrets Manager"))?
        .secret_string
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .with_context(|| format!("secret {id:?} has no string value"))
}

/// Reads `id`'s `AWSCURRENT` value and, when it has one, its `AWSPREVIOUS` (for keys that must
/// keep verifying what the previous one signed).
pub async fn read(client: &Client, id: &str) -> anyhow::Result<Versions> {
    let current = read_current(client, id).await?;
    let previous = match client
        .get_secret_value()
        .secret_id(id)
        .version_stage("AWSPREVIOUS")
        .send()
        .await
    {
        Ok(out) => out
            .secret_string
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty() && *s != current),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            None
        }
        Err(e) => {
            return Err(anyhow::Error::new(e.into_service_error()))
                .with_context(|| format!("cannot read secret {id:?}'s previous value"));
        }
    };
    Ok(Versions { current, previous })
}

/// Where a process's secrets come from, and when they were last read.
pub struct SecretSource {
    pub client: Client,
    pub jwt_id: Option<String>,
    pub dashscope_id: Option<String>,
    pub every: Duration,
    pub(crate) last_read: tokio::sync::Mutex<Instant>,
}

impl SecretSource {
    /// `None` when no secret is read from Secrets Manager.
    pub fn new(
        client: Client,
        jwt_id: Option<String>,
        dashscope_id: Option<String>,
        every: Duration,
    ) -> Option<Self> {
        (jwt_id.is_some() || dashscope_id.is_some()).then(|| Self {
            client,
            jwt_id,
            dashscope_id,
            every,
            // Just read at start; but a token signed with a key rotated in since may make it read
            // again at once.
            last_read: tokio::sync::Mutex::new(
                Instant::now()
                    .checked_sub(MIN_REREAD)
                    .unwrap_or_else(Instant::now),
            ),
        })
    }
}

/// The Secrets Manager id in `name`, checked against its plain alternative: it needs the aws
/// backend, and it and `plain_name` (set when `plain_set`) cannot both be given.
pub fn secret_id(
    env: &crate::settings::Env<'_>,
    backend: crate::store::Backend,
    name: &'static str,
    plain_set: bool,
    plain_name: &str,
) -> Result<Option<String>, crate::settings::SettingsError> {
    use crate::settings::bad;
    let id = env.get(name);
    if id.is_some() && backend != crate::store::Backend::Aws {
        return Err(bad(
            name,
            "is read from Secrets Manager, so needs EMO_BACKEND=aws",
        ));
    }
    if id.is_some() && plain_set {
        return Err(bad(name, format!("and {plain_name} are both set; set one")));
    }
    Ok(id)
}

/// `EMO_SECRET_REFRESH_SECS`: how old the secrets read from Secrets Manager may get before they
/// are read again; read only by a process that reads a secret.
pub fn refresh_interval(
    env: &crate::settings::Env<'_>,
) -> Result<Duration, crate::settings::SettingsError> {
    env.secs("EMO_SECRET_REFRESH_SECS", 300, 30..=24 * 3600)
}
