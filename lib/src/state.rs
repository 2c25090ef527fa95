//! `AppState`: the settings and the ports, built once per process (a Lambda's cold start, the local
//! server's start) and borrowed by every request.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::auth::{Passwords, Tokens};
use crate::clock::Clock;
use crate::settings::{Backend, Settings};
use crate::store::UserStore;
use crate::store::aws::{DynamoUserStore, sdk_config};
use crate::store::local::{LocalDb, LocalUserStore};

pub struct AppState {
    pub settings: Settings,
    pub users: Arc<dyn UserStore>,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub clock: Clock,
}

impl AppState {
    /// Reads the settings from the environment and connects the adapters they name.
    ///
    /// Fails, naming the setting, when one is missing or malformed, or when the local data dir
    /// cannot be opened.
    pub async fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(Settings::from_env()?).await
    }

    pub async fn from_settings(settings: Settings) -> anyhow::Result<Self> {
        let users: Arc<dyn UserStore> = match settings.backend {
            Backend::Local => Arc::new(LocalUserStore::new(LocalDb::open(&settings.data_dir)?)),
            Backend::Aws => {
                let conf = sdk_config().await;
                let table = settings
                    .users_table
                    .clone()
                    .context("EMO_USERS_TABLE is required when EMO_BACKEND=aws")?;
                Arc::new(DynamoUserStore::new(
                    aws_sdk_dynamodb::Client::new(&conf),
                    table,
                ))
            }
        };
        let secret = match &settings.jwt_secret {
            Some(s) => s.clone().into_bytes(),
            None => local_jwt_secret(&settings.data_dir)?,
        };
        Self::new(settings, users, &secret)
    }

    /// Assembles a state from parts (tests use it to pick adapters and keys).
    pub fn new(
        settings: Settings,
        users: Arc<dyn UserStore>,
        jwt_secret: &[u8],
    ) -> anyhow::Result<Self> {
        Ok(Self {
            passwords: Passwords::new(settings.argon2)?,
            tokens: Tokens::new(jwt_secret, settings.jwt_ttl.as_secs()),
            clock: Clock::default(),
            settings,
            users,
        })
    }
}

/// The local backend's JWT key: read from `<data dir>/jwt-secret`, or created there (random, mode
/// 0600) on first start, so tokens survive restarts and every local process shares one key.
fn local_jwt_secret(dir: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let path = dir.join("jwt-secret");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            let bytes: [u8; 32] = rand::random();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            file.write_all(hex.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "created a new local JWT secret");
            Ok(hex.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let secret = text.trim();
            anyhow::ensure!(
                secret.len() >= crate::settings::MIN_JWT_SECRET_LEN,
                "{} holds a secret shorter than {} bytes; delete it to make a new one",
                path.display(),
                crate::settings::MIN_JWT_SECRET_LEN
            );
            Ok(secret.as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}
