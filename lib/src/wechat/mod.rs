//! The typed WeChat server-API client: the shared access token (`stable_token`, cached through
//! the [`crate::store::AccessTokens`] port so every Lambda shares one), login
//! (`jscode2session`), content security (`msg_sec_check`, `media_check_async`) and the ready
//! message (`subscribe/send`); plus [`events`], WeChat's pushes to Emo.
//!
//! The token is fetched in normal mode only (`force_refresh` would invalidate every other
//! process's copy, and is capped at 20 a day), refreshed once less than [`REFRESH_MARGIN_SECS`]
//! remain, and fetched again once (and the call tried once more) when WeChat says it is invalid
//! (`40001`, `42001`). Nothing else is retried here: a caller sees
//! [`WeChatError::Unavailable`] and decides (the content check retries within the job's
//! deadline, a login answers 503).
//!
//! The AppSecret and the access token go into requests and nowhere else: not into logs, errors
//! or Debug. A login's `session_key` is dropped where the answer is parsed and never stored.
//!
//! The files: `client` the calls and the token cache; [`error`] WeChat's codes and the login's
//! refusals; [`wire`] the lenient JSON; [`settings`] the configuration; [`events`] the pushes.

mod client;
pub mod error;
pub mod events;
pub mod settings;
pub mod wire;

use std::sync::Arc;

pub use client::REFRESH_MARGIN_SECS;
pub use settings::{DEFAULT_API_BASE, WeChatSettings};

/// WeChat's client, built once per process when `WECHAT_APPID` is set.
pub struct WeChat {
    settings: WeChatSettings,
    /// The AppSecret, out of `settings` so it is held in one place.
    secret: String,
    http: reqwest::Client,
    /// The token every process shares.
    tokens: Arc<dyn crate::store::AccessTokens>,
    /// This process's copy of it (token, expires at), behind a lock held while it is fetched, so
    /// calls at once in one process wait for one fetch.
    cached: tokio::sync::Mutex<Option<(String, u64)>>,
}

impl std::fmt::Debug for WeChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeChat")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Who a `wx.login` code belongs to. The `session_key` WeChat sends with it is not kept.
#[derive(Debug, Clone)]
pub struct Session {
    pub openid: String,
    pub unionid: Option<String>,
}

/// `msg_sec_check`'s or a media check's `result.suggest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Review,
    Risky,
}

/// msg_sec_check / media_check_async scene: 1 profile, 2 comment, 3 forum, 4 social log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scene {
    Profile = 1,
    Comment = 2,
    Forum = 3,
    SocialLog = 4,
}

/// A `subscribe/send` message.
pub struct SubscribeMessage<'a> {
    pub openid: &'a str,
    pub template_id: &'a str,
    pub page: &'a str,
    /// `{"thing1": {"value": "…"}, …}`
    pub data: serde_json::Value,
    /// `"formal"` | `"trial"` | `"developer"`
    pub miniprogram_state: &'a str,
}

#[derive(Debug, thiserror::Error)]
pub enum WeChatError {
    /// WeChat answered with an errcode (not 0).
    #[error("WeChat error {errcode}: {errmsg}")]
    Api { errcode: i64, errmsg: String },
    /// WeChat could not be reached or answered something unreadable: try again later.
    #[error("WeChat unavailable: {0}")]
    Unavailable(String),
}

impl WeChat {
    /// Appid, push token (for signatures), AES key, template id, …
    pub fn settings(&self) -> &WeChatSettings {
        &self.settings
    }
}
