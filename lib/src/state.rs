//! `AppState`: what one process needs, built once (a Lambda's cold start, the local server's
//! start) from the settings its [`Role`] reads, and borrowed by every request.
//!
//! Each Lambda names its role, and the role says which ports, which parts of authentication and
//! which settings it uses: those are read and required, the rest never looked at, and a port it
//! has no use for is [`Unconfigured`]. `emo-local` and the tests take [`Role::Local`]: everything.

use std::sync::Arc;

use anyhow::Context;

use crate::auth::{AuthSettings, AuthUse, MIN_JWT_SECRET_LEN, Passwords, Tokens};
use crate::clock::Clock;
use crate::job::JobSettings;
use crate::job::check::CheckSettings;
use crate::job::sweep::SweepSettings;
use crate::secrets::{self, SecretSource};
use crate::settings::Env;
use crate::store::aws::{DynamoJobStore, DynamoUserStore, S3BlobStore, SqsJobQueue, sdk_config};
use crate::store::settings::PortSet;
use crate::store::unconfigured::Unconfigured;
use crate::store::{
    AccessTokens, Backend, BlobStore, ClientBounds, DailyQuota, JobDurations, JobQueue, JobStore,
    StoreSettings, TaskSlots, UserStore,
};
use crate::wechat::events::PushSettings;
#[cfg(feature = "worker")]
use crate::worker::Worker;

/// What a process does; each Lambda has one, `emo-local` and the tests are [`Role::Local`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Register,
    Login,
    /// `POST /api/v1/users/wechat-login`.
    WechatLogin,
    ChangePassword,
    /// Both creates, and the regenerate (a create from an ended job).
    Create,
    Query,
    /// The user's list of jobs.
    List,
    /// Deleting a job.
    Delete,
    Transcoder,
    /// The scheduled sweep of jobs whose message was lost.
    Sweeper,
    /// WeChat's pushes (`/api/v1/wechat/events`): the jobs table and the queue, the push token.
    WechatEvents,
    /// Every route and the worker in one process.
    Local,
}

/// What a role uses.
struct Needs {
    ports: PortSet,
    auth: AuthUse,
    job_api: bool,
    worker: bool,
    sweep: bool,
    /// Reads the content-check settings (the creates, the worker).
    check: bool,
    /// Verifies WeChat's pushes (`WECHAT_TOKEN`, `WECHAT_ENCODING_AES_KEY`).
    push: bool,
    /// Calls WeChat (when `WECHAT_APPID` is set).
    wechat: bool,
}

impl Role {
    fn needs(self) -> Needs {
        let none = PortSet::default();
        let (ports, auth, job_api, worker) = match self {
            Role::Register => (
                PortSet {
                    users: true,
                    clients: true,
                    ..none
                },
                AuthUse {
                    passwords: true,
                    register_bound: true,
                    ..AuthUse::default()
                },
                false,
                false,
            ),
            Role::Login => (
                PortSet {
                    users: true,
                    clients: true,
                    ..none
                },
                AuthUse {
                    passwords: true,
                    lockout: true,
                    tokens: true,
                    login_bound: true,
                    ..AuthUse::default()
                },
                false,
                false,
            ),
            Role::WechatLogin => (
                PortSet {
                    users: true,
                    clients: true,
                    ..none
                },
                AuthUse {
                    tokens: true,
                    // A WeChat login is a login: the same per-address bound.
                    login_bound: true,
                    ..AuthUse::default()
                },
                false,
                false,
            ),
            Role::ChangePassword => (
                PortSet {
                    users: true,
                    ..none
                },
                AuthUse {
                    passwords: true,
                    tokens: true,
                    ..AuthUse::default()
                },
                false,
                false,
            ),
            Role::Create => (
                PortSet {
                    users: true,
                    quota: true,
                    jobs: true,
                    blobs: true,
                    queue: true,
                    ..none
                },
                AuthUse {
                    tokens: true,
                    ..AuthUse::default()
                },
                true,
                false,
            ),
            Role::Query => (
                PortSet {
                    users: true,
                    // A job it ends at its deadline is given back to the day's allowances.
                    quota: true,
                    jobs: true,
                    slots: true,
                    // The recent durations a job in progress is given its ETA from.
                    durations: true,
                    blobs: true,
                    ..none
                },
                AuthUse {
                    tokens: true,
                    ..AuthUse::default()
                },
                true,
                false,
            ),
            Role::List => (
                PortSet {
                    users: true,
                    jobs: true,
                    durations: true,
                    blobs: true,
                    ..none
                },
                AuthUse {
                    tokens: true,
                    ..AuthUse::default()
                },
                true,
                false,
            ),
            Role::Delete => (
                PortSet {
                    users: true,
                    jobs: true,
                    // A job deleted in progress gives its DashScope slot back, and its task is
                    // cancelled by a message to the worker.
                    slots: true,
                    blobs: true,
                    queue: true,
                    ..none
                },
                AuthUse {
                    tokens: true,
                    ..AuthUse::default()
                },
                false,
                false,
            ),
            Role::Transcoder => (
                PortSet {
                    // A job that fails through no fault of its user is given back to the day.
                    quota: true,
                    jobs: true,
                    slots: true,
                    // A sticker made records how long its job took.
                    durations: true,
                    blobs: true,
                    queue: true,
                    ..none
                },
                AuthUse::default(),
                false,
                true,
            ),
            Role::Sweeper => (
                PortSet {
                    // What ending a job past its deadline gives back: its allowance and its slot.
                    quota: true,
                    jobs: true,
                    slots: true,
                    queue: true,
                    ..none
                },
                AuthUse::default(),
                false,
                false,
            ),
            Role::WechatEvents => (
                PortSet {
                    // A verdict is recorded on its job, which a Start message hands to the worker.
                    jobs: true,
                    queue: true,
                    ..none
                },
                AuthUse::default(),
                false,
                false,
            ),
            Role::Local => (
                PortSet::ALL,
                AuthUse {
                    passwords: true,
                    lockout: true,
                    tokens: true,
                    register_bound: true,
                    login_bound: true,
                },
                true,
                true,
            ),
        };
        Needs {
            ports,
            auth,
            job_api,
            worker,
            sweep: matches!(self, Role::Sweeper | Role::Local),
            check: matches!(self, Role::Create | Role::Transcoder | Role::Local),
            push: matches!(self, Role::WechatEvents | Role::Local),
            // Register and login bind an openid given a `wx_code`; creates check texts; the
            // transcoder checks images and sends the ready message.
            wechat: matches!(
                self,
                Role::WechatLogin
                    | Role::Register
                    | Role::Login
                    | Role::Create
                    | Role::Transcoder
                    | Role::Local
            ),
        }
    }
}

pub struct AppState {
    pub store: StoreSettings,
    pub auth: AuthSettings,
    /// How jobs are created and shown (defaults where the role neither creates nor queries).
    pub job_settings: JobSettings,
    /// When the sweep counts a job's message as lost (defaults where the role does not sweep).
    pub sweep: SweepSettings,
    /// What content security applies, and the image check's and ready message's settings
    /// (defaults, checking off, where the role neither creates nor runs jobs).
    pub check: CheckSettings,
    /// The push token and AES key the events route verifies WeChat's pushes with; `None` unless
    /// the role takes pushes and WeChat is configured.
    pub push: Option<PushSettings>,
    pub users: Arc<dyn UserStore>,
    pub quota: Arc<dyn DailyQuota>,
    /// Requests per client address (register and login).
    pub clients: Arc<dyn ClientBounds>,
    pub jobs: Arc<dyn JobStore>,
    pub slots: Arc<dyn TaskSlots>,
    /// How long recent jobs took, per model.
    pub durations: Arc<dyn JobDurations>,
    pub blobs: Arc<dyn BlobStore>,
    pub queue: Arc<dyn JobQueue>,
    /// The worker's settings and DashScope client; `None` unless the role runs jobs and a
    /// DashScope key is configured.
    #[cfg(feature = "worker")]
    pub worker: Option<Worker>,
    pub passwords: Passwords,
    pub tokens: Tokens,
    pub clock: Clock,
    /// Where the JWT key and the DashScope key are read again from; `None` when they come from
    /// the environment or the data dir.
    pub secrets: Option<SecretSource>,
    /// WeChat's client; `None` when `WECHAT_APPID` is unset or the role does not call WeChat.
    pub wechat: Option<Arc<crate::wechat::WeChat>>,
}

/// The ports, as built for the backend.
struct Ports {
    users: Arc<dyn UserStore>,
    quota: Arc<dyn DailyQuota>,
    clients: Arc<dyn ClientBounds>,
    jobs: Arc<dyn JobStore>,
    slots: Arc<dyn TaskSlots>,
    durations: Arc<dyn JobDurations>,
    blobs: Arc<dyn BlobStore>,
    queue: Arc<dyn JobQueue>,
    access_tokens: Arc<dyn AccessTokens>,
}

impl AppState {
    /// Reads `role`'s settings from the environment and connects the adapters they name.
    ///
    /// Fails, naming the setting, when one is missing or malformed, or when the local data dir
    /// cannot be opened or a secret cannot be read.
    pub async fn from_env(role: Role) -> anyhow::Result<Self> {
        let lookup = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        Self::from_lookup(role, &lookup).await
    }

    /// As [`AppState::from_env`], from `vars` alone (the last value of a name wins): for tests.
    pub async fn from_vars(role: Role, vars: &[(&str, &str)]) -> anyhow::Result<Self> {
        Self::from_lookup(role, &crate::settings::vars_lookup(vars)).await
    }

    /// As [`AppState::from_env`], reading settings through `lookup`.
    pub async fn from_lookup(
        role: Role,
        lookup: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> anyhow::Result<Self> {
        let mut needs = role.needs();
        let env = Env::new(lookup);
        // The shared access token lives on the users table: needed only where WeChat is called.
        needs.ports.access_tokens = needs.wechat && env.get("WECHAT_APPID").is_some();
        let store = StoreSettings::from_env(&env, needs.ports)?;
        let wechat_settings = if needs.wechat {
            crate::wechat::WeChatSettings::from_env(&env, store.backend)?
        } else {
            None
        };
        let auth = AuthSettings::from_env(&env, store.backend, needs.auth)?;
        let job_settings = if needs.job_api {
            JobSettings::from_env(&env)?
        } else {
            JobSettings::default()
        };
        let sweep = if needs.sweep {
            SweepSettings::from_env(&env)?
        } else {
            SweepSettings::default()
        };
        let check = if needs.check {
            CheckSettings::from_env(&env, env.get("WECHAT_APPID").is_some())?
        } else {
            CheckSettings::default()
        };
        #[cfg(feature = "worker")]
        let worker_settings = if needs.worker {
            Some(crate::worker::WorkerSettings::from_env(
                &env,
                store.backend,
            )?)
        } else {
            None
        };
        #[cfg(not(feature = "worker"))]
        anyhow::ensure!(
            !needs.worker,
            "this build cannot run jobs (it lacks the `worker` feature)"
        );
        #[cfg(feature = "worker")]
        let dashscope_id = worker_settings
            .as_ref()
            .and_then(|w| w.dashscope.api_key_secret_id.clone());
        #[cfg(not(feature = "worker"))]
        let dashscope_id: Option<String> = None;
        let uses_secrets = auth.jwt_secret_id.is_some() || dashscope_id.is_some();
        let refresh = if uses_secrets {
            secrets::refresh_interval(&env)?
        } else {
            std::time::Duration::from_secs(300)
        };

        let conf = match store.backend {
            Backend::Aws => Some(sdk_config().await),
            Backend::Local => None,
        };
        let source = conf.as_ref().and_then(|conf| {
            SecretSource::new(
                aws_sdk_secretsmanager::Client::new(conf),
                auth.jwt_secret_id.clone(),
                dashscope_id.clone(),
                refresh,
            )
        });
        let mut previous = None;
        let secret = match (&auth.jwt_secret, &source) {
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
            // A function without a key is one that never sees a token.
            _ if conf.is_some() || !needs.auth.tokens => Vec::new(),
            _ => local_jwt_secret(&store)?,
        };
        #[cfg(feature = "worker")]
        let worker = match worker_settings {
            Some(mut settings) => {
                if let (Some(SecretSource { client, .. }), Some(id)) = (&source, &dashscope_id) {
                    settings.dashscope.api_key = Some(secrets::read_current(client, id).await?);
                }
                Worker::new(settings)?
            }
            None => None,
        };
        let push = if needs.push {
            // The push token changes only with the console's setting: read once per cold start.
            let token = match (env.get("WECHAT_TOKEN_SECRET_ID"), &conf) {
                (Some(id), Some(conf)) => Some(
                    secrets::read_current(&aws_sdk_secretsmanager::Client::new(conf), &id)
                        .await
                        .with_context(|| format!("reading WECHAT_TOKEN_SECRET_ID {id:?}"))?,
                ),
                _ => None,
            };
            let push = PushSettings::from_env(&env, token)?;
            anyhow::ensure!(
                push.is_some() || role != Role::WechatEvents,
                "setting WECHAT_TOKEN: the events function needs WECHAT_APPID and WECHAT_TOKEN \
                 (or WECHAT_TOKEN_SECRET_ID)"
            );
            push
        } else {
            None
        };
        let ports = match &conf {
            None => local_ports(&store, &secret)?,
            Some(conf) => aws_ports(&store, conf),
        };
        let wechat = match wechat_settings {
            None => None,
            Some(mut w) => {
                if let Some(conf) = &conf {
                    let client = aws_sdk_secretsmanager::Client::new(conf);
                    if let Some(id) = &w.secret_id {
                        w.secret = Some(secrets::read_current(&client, id).await?);
                    }
                    if let Some(id) = &w.token_secret_id {
                        w.token = Some(secrets::read_current(&client, id).await?);
                    }
                }
                Some(Arc::new(crate::wechat::WeChat::new(
                    w,
                    ports.access_tokens.clone(),
                )?))
            }
        };
        let tokens = Tokens::new(&secret, auth.jwt_ttl.as_secs());
        if let Some(previous) = &previous {
            tokens.rotate(&secret, Some(previous.as_bytes()));
        }
        Ok(Self {
            passwords: Passwords::new(auth.argon2)?,
            tokens,
            clock: Clock::default(),
            secrets: source,
            check,
            push,
            wechat,
            #[cfg(feature = "worker")]
            worker,
            users: ports.users,
            quota: ports.quota,
            clients: ports.clients,
            jobs: ports.jobs,
            slots: ports.slots,
            durations: ports.durations,
            blobs: ports.blobs,
            queue: ports.queue,
            store,
            auth,
            job_settings,
            sweep,
        })
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
        #[cfg(feature = "worker")]
        if let (Some(id), Some(worker)) = (&source.dashscope_id, &self.worker) {
            match secrets::read_current(&source.client, id).await {
                Ok(key) => {
                    if let Err(e) = worker.dashscope.set_api_key(&key) {
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

    /// Reads the secrets again if they are due (`EMO_SECRET_REFRESH_SECS`).
    pub async fn refresh_secrets_if_due(&self) {
        if let Some(source) = &self.secrets {
            self.refresh_secrets(source.every).await;
        }
    }
}

/// The embedded adapters on the data dir. Blob URLs are signed with a key derived from the JWT
/// secret, so no second secret needs keeping.
#[cfg(feature = "local")]
fn local_ports(store: &StoreSettings, jwt_secret: &[u8]) -> anyhow::Result<Ports> {
    use crate::store::local::{
        LocalBlobStore, LocalDb, LocalJobQueue, LocalJobStore, LocalUserStore,
    };
    use hmac::{Hmac, Mac};
    use sha2::Sha256;
    let db = LocalDb::open(&store.data_dir)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(jwt_secret).expect("HMAC takes any key length");
    mac.update(b"emo local blob URLs");
    let blob_key = mac.finalize().into_bytes();
    let users = Arc::new(LocalUserStore::new(db.clone()));
    let jobs = Arc::new(LocalJobStore::new(db.clone()));
    Ok(Ports {
        users: users.clone(),
        quota: users.clone(),
        access_tokens: users.clone(),
        clients: users,
        jobs: jobs.clone(),
        slots: jobs.clone(),
        durations: jobs,
        blobs: Arc::new(LocalBlobStore::new(
            store.data_dir.join("blobs"),
            &blob_key,
            store.public_url.clone(),
        )),
        queue: Arc::new(LocalJobQueue::new(db, store.local_visibility)),
    })
}

#[cfg(not(feature = "local"))]
fn local_ports(_: &StoreSettings, _: &[u8]) -> anyhow::Result<Ports> {
    unreachable!("StoreSettings refuses the local backend in a build without it")
}

/// The AWS adapters of the ports `store.ports` names, on the resources it names; the others are
/// unconfigured.
fn aws_ports(store: &StoreSettings, conf: &aws_config::SdkConfig) -> Ports {
    let dynamo = aws_sdk_dynamodb::Client::new(conf);
    let users = store
        .users_table
        .clone()
        .map(|t| Arc::new(DynamoUserStore::new(dynamo.clone(), t)));
    let jobs = store.jobs_table.clone().map(|t| {
        Arc::new(DynamoJobStore::new(
            dynamo.clone(),
            t,
            store.retention.as_secs(),
        ))
    });
    let p = store.ports;
    Ports {
        users: match &users {
            Some(u) if p.users => u.clone(),
            _ => Arc::new(Unconfigured("the users table (EMO_USERS_TABLE)")),
        },
        quota: match &users {
            Some(u) if p.quota => u.clone(),
            _ => Arc::new(Unconfigured("the daily quota (EMO_USERS_TABLE)")),
        },
        access_tokens: match &users {
            Some(u) if p.access_tokens => u.clone(),
            _ => Arc::new(Unconfigured("WeChat's access token (EMO_USERS_TABLE)")),
        },
        clients: match &users {
            Some(u) if p.clients => u.clone(),
            _ => Arc::new(Unconfigured("the per-client bounds (EMO_USERS_TABLE)")),
        },
        jobs: match &jobs {
            Some(j) if p.jobs => j.clone(),
            _ => Arc::new(Unconfigured("the jobs table (EMO_JOBS_TABLE)")),
        },
        slots: match &jobs {
            Some(j) if p.slots => j.clone(),
            _ => Arc::new(Unconfigured("the task slots (EMO_JOBS_TABLE)")),
        },
        durations: match &jobs {
            Some(j) if p.durations => j.clone(),
            _ => Arc::new(Unconfigured("the recent job durations (EMO_JOBS_TABLE)")),
        },
        blobs: match &store.bucket {
            Some(b) => Arc::new(S3BlobStore::new(S3BlobStore::client(conf), b.clone())),
            None => Arc::new(Unconfigured("the bucket (EMO_BUCKET)")),
        },
        queue: match &store.queue_url {
            Some(q) => Arc::new(SqsJobQueue::new(aws_sdk_sqs::Client::new(conf), q.clone())),
            None => Arc::new(Unconfigured("the queue (EMO_QUEUE_URL)")),
        },
    }
}

/// The local backend's JWT key: read from `<data dir>/jwt-secret`, or created there (random, mode
/// 0600) on first start, so tokens survive restarts and every local process shares one key.
fn local_jwt_secret(store: &StoreSettings) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    let dir = &store.data_dir;
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
        secret.len() >= MIN_JWT_SECRET_LEN,
        "{} holds a secret shorter than {} bytes; delete it to make a new one",
        path.display(),
        MIN_JWT_SECRET_LEN
    );
    Ok(secret.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_bound_belongs_to_the_one_function_it_bounds() {
        for role in [
            Role::Register,
            Role::Login,
            Role::WechatLogin,
            Role::ChangePassword,
            Role::Create,
            Role::Query,
            Role::List,
            Role::Delete,
            Role::Transcoder,
            Role::WechatEvents,
        ] {
            let n = role.needs();
            assert_eq!(n.auth.register_bound, role == Role::Register, "{role:?}");
            assert_eq!(
                n.auth.login_bound,
                matches!(role, Role::Login | Role::WechatLogin),
                "{role:?}"
            );
            assert_eq!(
                n.ports.clients,
                matches!(role, Role::Register | Role::Login | Role::WechatLogin),
                "{role:?}"
            );
        }
    }

    #[test]
    fn the_events_function_reads_jobs_and_the_queue_and_nothing_of_users_or_tokens() {
        let n = Role::WechatEvents.needs();
        assert!(n.ports.jobs && n.ports.queue && n.push);
        assert!(!n.ports.users && !n.ports.blobs && !n.auth.tokens && !n.worker && !n.check);
        assert!(Role::Create.needs().check && Role::Transcoder.needs().check);
    }

    #[test]
    fn the_wechat_login_reads_users_and_issues_tokens_but_hashes_no_password_and_runs_no_job() {
        let n = Role::WechatLogin.needs();
        assert!(n.wechat && n.ports.users && n.auth.tokens);
        assert!(!n.auth.passwords && !n.auth.lockout && !n.auth.register_bound);
        assert!(!n.ports.jobs && !n.ports.quota && !n.ports.blobs && !n.ports.queue);
        assert!(!n.job_api && !n.worker && !n.sweep);
        for role in [
            Role::ChangePassword,
            Role::Query,
            Role::List,
            Role::Delete,
            Role::Sweeper,
        ] {
            assert!(!role.needs().wechat, "{role:?} never calls WeChat");
        }
    }

    #[tokio::test]
    async fn wechat_is_built_only_where_configured_and_used() {
        let dir = tempfile::tempdir().unwrap();
        let base = [
            ("EMO_DATA_DIR", dir.path().to_str().unwrap()),
            ("EMO_JWT_SECRET", "test-secret-test-secret-test-secret!"),
        ];
        let with_wechat = [
            base[0],
            base[1],
            ("WECHAT_APPID", "wx-test"),
            ("WECHAT_SECRET", "s"),
        ];
        let state = AppState::from_vars(Role::WechatLogin, &with_wechat)
            .await
            .unwrap();
        assert_eq!(state.wechat.as_ref().unwrap().settings().appid, "wx-test");
        let state = AppState::from_vars(Role::Query, &with_wechat)
            .await
            .unwrap();
        assert!(state.wechat.is_none());
        let state = AppState::from_vars(Role::WechatLogin, &base).await.unwrap();
        assert!(state.wechat.is_none());
        let missing = [base[0], base[1], ("WECHAT_APPID", "wx-test")];
        let e = AppState::from_vars(Role::Login, &missing)
            .await
            .err()
            .unwrap();
        assert!(format!("{e:#}").contains("WECHAT_SECRET"), "{e:#}");
    }
}
