//! The typed WeChat server-API client: the shared access token (`stable_token`, cached through
//! the [`crate::store::AccessTokens`] port so every Lambda shares one), login
//! (`jscode2session`), content security (`msg_sec_check`, `media_check_async`) and the ready
//! message (`subscribe/send`); plus [`events`], WeChat's pushes to Emo.
//!
//! The AppSecret and the access token go into requests and nowhere else: not into logs, errors
//! or Debug. A login's `session_key` is dropped where the answer is parsed and never stored.

pub mod events;
pub mod settings;

use std::sync::Arc;

pub use settings::{DEFAULT_API_BASE, WeChatSettings};

/// WeChat's client, built once per process when `WECHAT_APPID` is set.
pub struct WeChat {
    settings: WeChatSettings,
    #[allow(dead_code)]
    http: reqwest::Client,
    #[allow(dead_code)]
    tokens: Arc<dyn crate::store::AccessTokens>,
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
    /// The client for `settings` (with its AppSecret), its token cached in `tokens`.
    ///
    /// Fails when the settings carry no AppSecret or the HTTP client cannot be built.
    pub fn new(
        settings: WeChatSettings,
        tokens: Arc<dyn crate::store::AccessTokens>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(settings.secret.is_some(), "WeChat needs its AppSecret");
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()?;
        Ok(Self {
            settings,
            http,
            tokens,
        })
    }

    /// `jscode2session`: the openid (and unionid) a `wx.login` code stands for.
    pub async fn code_to_session(&self, _code: &str) -> Result<Session, WeChatError> {
        todo!()
    }

    /// `msg_sec_check` (version 2) of `content` written by `openid`.
    pub async fn check_text(
        &self,
        _openid: &str,
        _scene: Scene,
        _content: &str,
    ) -> Result<Verdict, WeChatError> {
        todo!()
    }

    /// Returns WeChat's trace_id; the verdict arrives later as a `wxa_media_check` push.
    pub async fn check_image(
        &self,
        _openid: &str,
        _scene: Scene,
        _media_url: &str,
    ) -> Result<String, WeChatError> {
        todo!()
    }

    /// `subscribe/send`.
    pub async fn send_subscribe(&self, _msg: &SubscribeMessage<'_>) -> Result<(), WeChatError> {
        todo!()
    }

    /// Appid, push token (for signatures), AES key, template id, …
    pub fn settings(&self) -> &WeChatSettings {
        &self.settings
    }
}
