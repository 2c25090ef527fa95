//! The offline WeChat stand-in: an HTTP server that speaks the slice of WeChat's server API Emo
//! uses, with the same paths, JSON shapes and errcodes, as strictly as the real service, and that
//! pushes `wxa_media_check` results back like WeChat does, so login, content security and the
//! ready message run end to end with no mini-program and no network.
//!
//! Endpoints (under `{base_url}` = `http://127.0.0.1:PORT`, what `WECHAT_API_BASE` is set to):
//! - `POST /cgi-bin/stable_token` `{"grant_type":"client_credential","appid","secret",
//!   "force_refresh"}`: `{"access_token","expires_in"}`. Normal mode answers the current token
//!   (with the seconds it has left) until it expires or is invalidated; `force_refresh: true`
//!   invalidates it and issues a new one (counted: [`WeChatStandinHandle::force_refreshes`]).
//!   `40002` wrong grant_type, `40013` wrong appid, `40125` wrong secret, `47001` not JSON.
//! - `GET /sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code`:
//!   `{"openid","session_key","unionid"}`. The openid stands for the code's part before its
//!   first `.`: `alice.1` and `alice.2` are two `wx.login` codes of one user
//!   ([`openid_for`] says which openid). A code is good once; used again it answers `40163`.
//! - `POST /wxa/msg_sec_check?access_token=` `{"content","version":2,"scene":1..4,"openid"}`:
//!   `{"errcode":0,"errmsg":"ok","result":{"suggest","label"},"detail":[…],"trace_id"}`.
//! - `POST /wxa/media_check_async?access_token=` `{"media_url","media_type":2,"version":2,
//!   "scene","openid"}`: `{"errcode":0,"errmsg":"ok","trace_id"}`; then the stand-in fetches the
//!   URL (as WeChat does, at most 10 MB) and pushes the verdict (below).
//! - `POST /cgi-bin/message/subscribe/send?access_token=` `{"touser","template_id","page",
//!   "data":{"thing1":{"value":"…"}},"miniprogram_state","lang"}`: `{"errcode":0,"errmsg":"ok"}`
//!   (kept: [`WeChatStandinHandle::messages`]).
//!
//! Every call with an access token checks it: missing `41001`, unknown or invalidated `40001`,
//! expired `42001`. An openid the stand-in never issued answers `40003`, a scene outside 1..=4
//! `40129`, a version other than 2 or a malformed body `47001`, an empty content `44002`, a
//! template message without `template_id` `40037` or with malformed `data` or
//! `miniprogram_state` `47003`.
//!
//! The push: `POST {push_url}?signature=&timestamp=&nonce=` (signature = hex sha1 of the sorted
//! concatenation of the push token, timestamp and nonce) with the plain JSON event `{"ToUserName",
//! "FromUserName","CreateTime","MsgType":"event","Event":"wxa_media_check","appid","trace_id",
//! "version":2,"detail":[…],"errcode":0,"errmsg":"ok","result":{"suggest","label"}}`. With an
//! encryptor configured ([`WeChatStandinConfig::encrypt`], the safe mode), the body is
//! `{"ToUserName","Encrypt"}` and the query adds `encrypt_type=aes&msg_signature=` (sha1 of the
//! sorted token, timestamp, nonce and `Encrypt`). A push not answered 2xx is tried again twice
//! (1 s, then 2 s later), then given up, like WeChat. The push URL is set in the config or later
//! ([`WeChatStandinHandle::set_push_url`]); without one the verdict is kept and not pushed.
//!
//! Markers:
//!
//! | where | marker | effect |
//! |---|---|---|
//! | text | `[wx:risky]` | `suggest: risky`, label 20001 |
//! | text | `[wx:review]` | `suggest: review`, label 21000 |
//! | text or media URL | `[wx:down]` (URL: `wx-down`) | errcode `-1` system busy, every time |
//! | text or media URL | `[wx:5xx]` (URL: `wx-5xx`) | HTTP 503 with no JSON |
//! | media URL | `wx-risky` / `wx-review` | the pushed verdict is risky (20002) / review |
//! | image | mostly red: mean R ≥ 200, G ≤ 60, B ≤ 60 | the pushed verdict is risky (20002) |
//! | image | not a decodable PNG, JPEG, BMP, GIF or WebP | the push says errcode 40006 |
//! | code | `wx-bad…`, empty, over 128 chars | `40029` invalid code |
//! | code | `wx-used…`, or any code a second time | `40163` code been used |
//! | code | `wx-busy…` | `45011` api minute-quota reach limit |
//! | code | `wx-risky-user…` | `40226` high risk user |
//! | code | `wx-down…` | `-1` system busy |
//! | code | a user part containing `nosub` | that openid's template messages answer `43101` |
//!
//! Failure injection, from tests through [`WeChatStandinHandle`] (`expire_token`,
//! `drop_next_pushes`, `fail_next`, `refuse_messages_for`), or from another process through
//! `POST /_standin/expire-token`, `POST /_standin/drop-next-pushes?n=`,
//! `POST /_standin/fail-next?api=&n=&errcode=`; `GET /_standin/stats` answers what the handle's
//! introspection does: `{"tokens_issued","force_refreshes","calls":{api: n},"messages":[…],
//! "media_checks":[{"trace_id","media_url","openid","state","verdict"}]}`.
//!
//! The source: this file the public face; `routes` the API's handlers; `push` the media check's
//! fetch, verdict and push.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

mod push;
mod routes;

/// Turns a push's JSON into the safe mode's `Encrypt` value (AES-256-CBC as WeChat does).
pub type Encryptor = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// How the stand-in behaves.
#[derive(Clone)]
pub struct WeChatStandinConfig {
    pub appid: String,
    pub secret: String,
    /// The push token (`WECHAT_TOKEN`) pushes are signed with.
    pub push_token: String,
    /// Where media check results are pushed (emo's `/api/v1/wechat/events`).
    pub push_url: Option<String>,
    /// The safe mode: when set, pushes are encrypted with it.
    pub encrypt: Option<Encryptor>,
    /// How long a token lives (WeChat: 7200 s).
    pub token_ttl: Duration,
    /// How long after `media_check_async` the verdict is pushed.
    pub push_delay: Duration,
    /// How long between a failed push and the next try (doubled each time).
    pub push_retry: Duration,
}

impl std::fmt::Debug for WeChatStandinConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeChatStandinConfig")
            .field("appid", &self.appid)
            .field("push_url", &self.push_url)
            .field("safe_mode", &self.encrypt.is_some())
            .finish_non_exhaustive()
    }
}

/// The appid and secret the stand-in accepts by default.
pub const STANDIN_APPID: &str = "wx-standin-appid";
pub const STANDIN_SECRET: &str = "wx-standin-secret";
/// The push token the stand-in signs with by default.
pub const STANDIN_PUSH_TOKEN: &str = "wx-standin-push-token";

impl Default for WeChatStandinConfig {
    fn default() -> Self {
        Self {
            appid: STANDIN_APPID.into(),
            secret: STANDIN_SECRET.into(),
            push_token: STANDIN_PUSH_TOKEN.into(),
            push_url: None,
            encrypt: None,
            token_ttl: Duration::from_secs(7200),
            push_delay: Duration::from_millis(200),
            push_retry: Duration::from_secs(1),
        }
    }
}

/// The API calls, as counted and as failure injection names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    StableToken,
    Code2Session,
    MsgSecCheck,
    MediaCheckAsync,
    SubscribeSend,
}

impl Api {
    pub const ALL: [Api; 5] = [
        Api::StableToken,
        Api::Code2Session,
        Api::MsgSecCheck,
        Api::MediaCheckAsync,
        Api::SubscribeSend,
    ];

    /// Its name in `/_standin/...`: `stable_token`, `jscode2session`, `msg_sec_check`,
    /// `media_check_async`, `subscribe_send`.
    pub fn name(self) -> &'static str {
        match self {
            Api::StableToken => "stable_token",
            Api::Code2Session => "jscode2session",
            Api::MsgSecCheck => "msg_sec_check",
            Api::MediaCheckAsync => "media_check_async",
            Api::SubscribeSend => "subscribe_send",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A template message the stand-in accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    pub touser: String,
    pub template_id: String,
    pub page: Option<String>,
    pub data: serde_json::Value,
    pub miniprogram_state: Option<String>,
}

/// Where a media check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaState {
    /// Asked for; the verdict is not pushed yet (or no push URL is set).
    Outstanding,
    /// Pushed and answered 2xx.
    Pushed,
    /// Dropped on purpose ([`WeChatStandinHandle::drop_next_pushes`]): a lost push.
    Dropped,
    /// Every try of the push failed.
    Failed,
}

/// One `media_check_async` request.
#[derive(Debug, Clone)]
pub struct MediaCheck {
    pub trace_id: String,
    pub media_url: String,
    pub openid: String,
    pub state: MediaState,
    /// `pass`, `review` or `risky` once decided; `None` before, or when the media was unusable.
    pub verdict: Option<&'static str>,
    /// Push attempts made.
    pub push_attempts: u32,
}

#[derive(Default)]
pub(crate) struct Inner {
    /// Every token issued: its expiry, and whether it was invalidated.
    pub tokens: HashMap<String, (Instant, bool)>,
    pub current: Option<String>,
    pub tokens_issued: usize,
    pub force_refreshes: usize,
    pub calls: HashMap<Api, usize>,
    pub used_codes: HashSet<String>,
    pub openids: HashSet<String>,
    pub refusing: HashSet<String>,
    pub messages: Vec<SentMessage>,
    pub media: Vec<MediaCheck>,
    pub drop_pushes: usize,
    /// Queued failures: (the API it is aimed at, or any; errcode, or HTTP status when ≥ 1000
    /// is not an errcode: see [`Fault`]).
    pub faults: VecDeque<(Option<Api>, Fault)>,
    pub push_url: Option<String>,
}

/// A queued failure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Errcode(i64),
    Http(u16),
}

pub(crate) struct Shared {
    pub config: WeChatStandinConfig,
    pub state: Mutex<Inner>,
    pub http: reqwest::Client,
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The openid the stand-in gives the `wx.login` code `code` (the user is its part before the
/// first `.`), for appid `appid`.
pub fn openid_for(appid: &str, code: &str) -> String {
    let user = code.split('.').next().unwrap_or(code);
    let digest = Sha256::digest(format!("{appid}:{user}").as_bytes());
    format!("o{}", &hex::encode(digest)[..27])
}

/// Starts stand-ins.
pub struct WeChatStandin;

impl WeChatStandin {
    /// Serves on `127.0.0.1` at a free port.
    pub async fn start(config: WeChatStandinConfig) -> io::Result<WeChatStandinHandle> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Self::serve(listener, config).await
    }

    /// Serves on `listener`.
    pub async fn serve(
        listener: TcpListener,
        config: WeChatStandinConfig,
    ) -> io::Result<WeChatStandinHandle> {
        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(io::Error::other)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(Inner {
                push_url: config.push_url.clone(),
                ..Inner::default()
            }),
            config,
            http,
        });
        let app = routes::router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        tracing::info!(%addr, "wechat stand-in listening");
        Ok(WeChatStandinHandle {
            addr,
            shared,
            shutdown: Some(tx),
        })
    }
}

/// A running stand-in: its address, failure injection and introspection. Dropping it stops the
/// server.
pub struct WeChatStandinHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl WeChatStandinHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What `WECHAT_API_BASE` is set to, e.g. `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn config(&self) -> &WeChatStandinConfig {
        &self.shared.config
    }

    /// The openid a `wx.login` code stands for here.
    pub fn openid_for(&self, code: &str) -> String {
        openid_for(&self.shared.config.appid, code)
    }

    /// Where media check results are pushed from now on.
    pub fn set_push_url(&self, url: impl Into<String>) {
        self.shared.lock().push_url = Some(url.into());
    }

    /// Invalidates the current access token: the next call with it answers `40001`, and the
    /// next `stable_token` (normal mode) issues a new one.
    pub fn expire_token(&self) {
        expire_token(&self.shared);
    }

    /// The next `n` media check results are not pushed (lost pushes).
    pub fn drop_next_pushes(&self, n: usize) {
        self.shared.lock().drop_pushes += n;
    }

    /// The next `n` calls of `api` (any API for `None`) answer `errcode` (say `-1`, system
    /// busy) without taking effect.
    pub fn fail_next(&self, api: Option<Api>, n: usize, errcode: i64) {
        let mut s = self.shared.lock();
        for _ in 0..n {
            s.faults.push_back((api, Fault::Errcode(errcode)));
        }
    }

    /// The next `n` calls of `api` (any for `None`) answer HTTP `status` with no JSON.
    pub fn fail_next_http(&self, api: Option<Api>, n: usize, status: u16) {
        let mut s = self.shared.lock();
        for _ in 0..n {
            s.faults.push_back((api, Fault::Http(status)));
        }
    }

    /// Template messages to `openid` answer `43101` (the user did not subscribe).
    pub fn refuse_messages_for(&self, openid: &str) {
        self.shared.lock().refusing.insert(openid.to_owned());
    }

    /// Access tokens issued so far (a normal-mode call answering the current token issues none).
    pub fn tokens_issued(&self) -> usize {
        self.shared.lock().tokens_issued
    }

    /// `force_refresh: true` calls so far.
    pub fn force_refreshes(&self) -> usize {
        self.shared.lock().force_refreshes
    }

    /// Calls of `api` received so far, refused ones included.
    pub fn calls(&self, api: Api) -> usize {
        self.shared.lock().calls.get(&api).copied().unwrap_or(0)
    }

    /// The template messages accepted, oldest first.
    pub fn messages(&self) -> Vec<SentMessage> {
        self.shared.lock().messages.clone()
    }

    /// The media checks asked for, oldest first.
    pub fn media_checks(&self) -> Vec<MediaCheck> {
        self.shared.lock().media.clone()
    }

    /// Media checks whose verdict has not been pushed successfully (outstanding, dropped or
    /// failed).
    pub fn media_outstanding(&self) -> usize {
        self.shared
            .lock()
            .media
            .iter()
            .filter(|m| m.state != MediaState::Pushed)
            .count()
    }

    /// What `GET /_standin/stats` answers.
    pub fn stats(&self) -> serde_json::Value {
        routes::stats(&self.shared.lock())
    }

    /// Stops accepting connections.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for WeChatStandinHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub(crate) fn expire_token(shared: &Shared) {
    expire_token_locked(&mut shared.lock());
}

pub(crate) fn expire_token_locked(s: &mut Inner) {
    if let Some(current) = s.current.take()
        && let Some(t) = s.tokens.get_mut(&current)
    {
        t.1 = true;
    }
}

/// Hex sha1 of the sorted concatenation of `parts`: WeChat's push signature.
pub fn signature(parts: &[&str]) -> String {
    use sha1::Digest as _;
    let mut v: Vec<&str> = parts.to_vec();
    v.sort_unstable();
    hex::encode(sha1::Sha1::digest(v.concat().as_bytes()))
}
