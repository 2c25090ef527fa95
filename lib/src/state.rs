//! `AppState`: the settings and the ports, built once per process (a Lambda's cold start, the local
//! server's start) and borrowed by every request.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::auth::{Passwords, Tokens};
use crate::clock::Clock;
use crate::dashscope::{DashScope, DashScopeConfig};
use crate::secrets::{self, SecretSource};
use crate::settings::{Backend, MIN_JWT_SECRET_LEN, Settings};
use crate::store::aws::{DynamoJobStore, DynamoUserStore, S3BlobStore, SqsJobQueue, sdk_config};
use crate::store::local::{LocalBlobStore, LocalDb, LocalJobQueue, LocalJobStore, LocalUserStore};
use crate::store::{BlobStore, JobQueue, JobStore, UserStore};

/// The adapters behind the ports.
#[derive(Clone)]
pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub jobs: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The local backend's blob folder, which the local server also serves; `None` on aws.
    pub local_blobs: Option<Arc<LocalBlobStore>>,
}

pub struct AppState {
    pub settings: Settings,
    pub users: Arc<dyn UserStore>,
    pub jobs: Arc<dyn JobStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn JobQueue>,
    pub local_blobs: Option<Arc<LocalBlobStore>>,
    /// The DashScope client; `None` when no API key is configured (only the worker needs it).
    pub dashscope: Option<DashScope>,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub clock: Clock,
    /// Where the JWT key and the DashScope key are read again from; `None` when they come from
    /// the environment or the data dir.
    pub secrets: Option<SecretSource>,
}

impl AppState {
    /// Reads the settings from the environment and connects the adapters they name.
    ///
    /// Fails, naming the setting, when one is missing or malformed, or when the local data dir
    /// cannot be opened.
    pub async fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(Settings::from_env()?).await
    }

    pub async fn from_settings(mut settings: Settings) -> anyhow::Result<Self> {
        let conf = match settings.backend {
            Backend::Aws => Some(sdk_config().await),
            Backend::Local => None,
        };
        let source = conf.as_ref().and_then(|conf| {
            SecretSource::new(
                aws_sdk_secretsmanager::Client::new(conf),
                settings.jwt_secret_id.clone(),
                settings.dashscope.api_key_secret_id.clone(),
                settings.secret_refresh,
            )
        });
        let mut previous = None;
        let secret = match (&settings.jwt_secret, &source) {
            (Some(s), _) => s.clone().into_bytes(),
            (
                None,
                Some(SecretSource {
                    client,
                    jwt_id: Some(id),
                    ..
                }),
            ) => {
                let v = secrets::read(client, id).await?;
                anyhow::ensure!(
                    v.current.len() >= MIN_JWT_SECRET_LEN,
                    "secret {id:?} (EMO_JWT_SECRET_ID) must be at least {MIN_JWT_SECRET_LEN} bytes long"
                );
                previous = v.previous;
                v.current.into_bytes()
            }
            // On aws a function without a key is one that never sees a token.
            _ if conf.is_some() => Vec::new(),
            _ => local_jwt_secret(&settings.data_dir)?,
        };
        if let Some(SecretSource {
            client,
            dashscope_id: Some(id),
            ..
        }) = &source
        {
            settings.dashscope.api_key = Some(secrets::read_current(client, id).await?);
        }
        let ports = match &conf {
            None => local_ports(&settings, &secret)?,
            Some(conf) => aws_ports(&settings, conf)?,
        };
        let mut state = Self::new(settings, ports, &secret)?;
        if let Some(previous) = &previous {
            state.tokens.rotate(&secret, Some(previous.as_bytes()));
        }
        state.secrets = source;
        Ok(state)
    }

    /// Reads the secrets again when the last read is older than `max_age` (nothing to do when
    /// they do not come from Secrets Manager). A failed read keeps the keys in use, is logged, and
    /// is tried again `max_age` later.
    pub async fn refresh_secrets(&self, max_age: std::time::Duration) {
        let Some(source) = &self.secrets else { return };
        let mut last = source.last_read.lock().await;
        if last.elapsed() < max_age {
            return;
        }
        *last = std::time::Instant::now();
        if let Some(id) = &source.jwt_id {
            match secrets::read(&source.client, id).await {
                Ok(v) if v.current.len() >= MIN_JWT_SECRET_LEN => self.tokens.rotate(
                    v.current.as_bytes(),
                    v.previous.as_deref().map(str::as_bytes),
                ),
                Ok(_) => {
                    tracing::error!(secret = %id, "the JWT secret is too short; kept the old one")
                }
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "could not read the JWT secret again"
                ),
            }
        }
        if let (Some(id), Some(dashscope)) = (&source.dashscope_id, &self.dashscope) {
            match secrets::read_current(&source.client, id).await {
                Ok(key) => {
                    if let Err(e) = dashscope.set_api_key(&key) {
                        tracing::error!(secret = %id, error = %e, "the DashScope key is unusable; kept the old one");
                    }
                }
                Err(e) => tracing::warn!(
                    error = format!("{e:#}"),
                    "could not read the DashScope key again"
                ),
            }
        }
    }

    /// Assembles a state from parts (tests use it to pick adapters and keys).
    pub fn new(settings: Settings, ports: Ports, jwt_secret: &[u8]) -> anyhow::Result<Self> {
        let dashscope = match &settings.dashscope.api_key {
            Some(key) => {
                let ds = &settings.dashscope;
                let config = DashScopeConfig {
                    base_url: ds.base_url.clone(),
                    t2v_model: ds.t2v_model.clone(),
                    i2v_model: ds.i2v_model.clone(),
                    text_model: ds.text_model.clone(),
                    timeout: ds.timeout,
                    ..DashScopeConfig::new(key.clone())
                };
                Some(DashScope::new(config).context("setting DASHSCOPE_BASE_URL")?)
            }
            None => None,
        };
        Ok(Self {
            passwords: Passwords::new(settings.argon2)?,
            tokens: Tokens::new(jwt_secret, settings.jwt_ttl.as_secs()),
            clock: Clock::default(),
            secrets: None,
            dashscope,
            users: ports.users,
            jobs: ports.jobs,
            blobs: ports.blobs,
            queue: ports.queue,
            local_blobs: ports.local_blobs,
            settings,
        })
    }
}

/// The embedded adapters on `settings.data_dir`. Blob URLs are signed with a key derived from the
/// JWT secret, so no second secret needs keeping.
pub fn local_ports(settings: &Settings, jwt_secret: &[u8]) -> anyhow::Result<Ports> {
    let db = LocalDb::open(&settings.data_dir)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(jwt_secret).expect("HMAC takes any key length");
    mac.update(b"emo local blob URLs");
    let blob_key = mac.finalize().into_bytes();
    let blobs = Arc::new(LocalBlobStore::new(
        settings.data_dir.join("blobs"),
        &blob_key,
    ));
    Ok(Ports {
        users: Arc::new(LocalUserStore::new(db.clone())),
        jobs: Arc::new(LocalJobStore::new(db.clone())),
        blobs: blobs.clone(),
        queue: Arc::new(LocalJobQueue::new(db, settings.jobs.lease)),
        local_blobs: Some(blobs),
    })
}

/// The AWS adapters, on the tables, bucket and queue the settings name.
pub fn aws_ports(settings: &Settings, conf: &aws_config::SdkConfig) -> anyhow::Result<Ports> {
    let need = |v: &Option<String>, name: &str| {
        v.clone()
            .with_context(|| format!("setting {name}: is required when EMO_BACKEND=aws"))
    };
    let dynamo = aws_sdk_dynamodb::Client::new(conf);
    Ok(Ports {
        users: Arc::new(DynamoUserStore::new(
            dynamo.clone(),
            need(&settings.users_table, "EMO_USERS_TABLE")?,
        )),
        jobs: Arc::new(DynamoJobStore::new(
            dynamo,
            need(&settings.jobs_table, "EMO_JOBS_TABLE")?,
            settings.jobs.retention.as_secs(),
        )),
        blobs: Arc::new(S3BlobStore::new(
            S3BlobStore::client(conf),
            need(&settings.bucket, "EMO_BUCKET")?,
        )),
        queue: Arc::new(SqsJobQueue::new(
            aws_sdk_sqs::Client::new(conf),
            need(&settings.queue_url, "EMO_QUEUE_URL")?,
        )),
        local_blobs: None,
    })
}

/// The local backend's JWT key: read from `<data dir>/jwt-secret`, or created there (random, mode
/// 0600) on first start, so tokens survive restarts and every local process shares one key.
fn local_jwt_secret(dir: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create data dir {}", dir.display()))?;
    let path = dir.join("jwt-secret");
    if !path.exists() {
        // Written aside, then linked into place: the link fails if another process got there
        // first, and nobody ever reads a half-written key.
        let hex = hex::encode(rand::random::<[u8; 32]>());
        let tmp = dir.join(format!(
            ".jwt-secret.{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let written = options
            .open(&tmp)
            .and_then(|mut f| f.write_all(hex.as_bytes()).and_then(|()| f.sync_all()));
        let linked = written.and_then(|()| std::fs::hard_link(&tmp, &path));
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                tracing::info!(path = %path.display(), "created a new local JWT secret");
                return Ok(hex.into_bytes());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
        }
    }
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
