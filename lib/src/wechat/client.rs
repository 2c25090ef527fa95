//! The calls and the access-token cache.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::json;

use super::wire::{MediaCheckAnswer, SessionAnswer, Status, TextCheckAnswer, TokenAnswer};
use super::{Scene, Session, SubscribeMessage, Verdict, WeChat, WeChatError, WeChatSettings};
use crate::store::AccessTokens;

/// A token with less than this left is fetched again (WeChat's own advice is to refresh ahead:
/// a call made with a token that expires on the way is refused).
pub const REFRESH_MARGIN_SECS: u64 = 300;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> WeChatError {
    WeChatError::Unavailable(format!("{what}: {e}"))
}

impl WeChat {
    /// The client for `settings` (with its AppSecret), its token cached in `tokens`.
    ///
    /// Fails when the settings carry no AppSecret or the HTTP client cannot be built.
    pub fn new(settings: WeChatSettings, tokens: Arc<dyn AccessTokens>) -> anyhow::Result<Self> {
        let secret = settings
            .secret
            .clone()
            .ok_or_else(|| anyhow::anyhow!("WeChat needs its AppSecret (WECHAT_SECRET)"))?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()?;
        Ok(Self {
            settings,
            secret,
            http,
            tokens,
            cached: tokio::sync::Mutex::new(None),
        })
    }

    /// `jscode2session`: the openid (and unionid) a `wx.login` code stands for.
    ///
    /// Fails with WeChat's errcode (`40029` bad code, `40163` used, `45011` too frequent,
    /// `40226` risky user, …) or as unavailable.
    pub async fn code_to_session(&self, code: &str) -> Result<Session, WeChatError> {
        let url = self.url(
            "/sns/jscode2session",
            &[
                ("appid", self.settings.appid.as_str()),
                ("secret", self.secret.as_str()),
                ("js_code", code),
                ("grant_type", "authorization_code"),
            ],
        )?;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable("jscode2session", e.without_url()))?;
        let answer: SessionAnswer = read(resp, "jscode2session").await?;
        answer.status.check()?;
        match answer.openid.filter(|o| !o.is_empty()) {
            Some(openid) => Ok(Session {
                openid,
                unionid: answer.unionid.filter(|u| !u.is_empty()),
            }),
            None => Err(unavailable("jscode2session", "an answer without an openid")),
        }
    }

    /// `msg_sec_check` (version 2) of `content` written by `openid`.
    ///
    /// Fails with WeChat's errcode (`61010`: the user has not opened the mini-program in the
    /// last two hours, …) or as unavailable.
    pub async fn check_text(
        &self,
        openid: &str,
        scene: Scene,
        content: &str,
    ) -> Result<Verdict, WeChatError> {
        let body = json!({
            "content": content,
            "version": 2,
            "scene": scene as u8,
            "openid": openid,
        });
        let answer: TextCheckAnswer = self.call("/wxa/msg_sec_check", &body).await?;
        Ok(answer
            .result
            .map_or(super::Verdict::Review, |r| r.verdict()))
    }

    /// `media_check_async` (version 2, an image) of the picture at `media_url`; returns
    /// WeChat's trace_id. The verdict arrives later as a `wxa_media_check` push.
    pub async fn check_image(
        &self,
        openid: &str,
        scene: Scene,
        media_url: &str,
    ) -> Result<String, WeChatError> {
        let body = json!({
            "media_url": media_url,
            "media_type": 2,
            "version": 2,
            "scene": scene as u8,
            "openid": openid,
        });
        let answer: MediaCheckAnswer = self.call("/wxa/media_check_async", &body).await?;
        answer
            .trace_id
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unavailable("media_check_async", "an answer without a trace_id"))
    }

    /// `subscribe/send`. A user who did not subscribe fails with `43101`, which is normal.
    pub async fn send_subscribe(&self, msg: &SubscribeMessage<'_>) -> Result<(), WeChatError> {
        let body = json!({
            "touser": msg.openid,
            "template_id": msg.template_id,
            "page": msg.page,
            "data": msg.data,
            "miniprogram_state": msg.miniprogram_state,
            "lang": "zh_CN",
        });
        let _: Status = self.call("/cgi-bin/message/subscribe/send", &body).await?;
        Ok(())
    }

    /// `path` on the API base with `query`.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<reqwest::Url, WeChatError> {
        reqwest::Url::parse_with_params(&format!("{}{path}", self.settings.api_base), query)
            .map_err(|e| unavailable(path, format!("bad WECHAT_API_BASE ({e})")))
    }

    /// POSTs `body` to `path` with the access token; on an invalid token, fetches it again once
    /// and tries once more.
    async fn call<T: DeserializeOwned + HasStatus>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, WeChatError> {
        let token = self.access_token().await?;
        match self.post::<T>(path, &token, body).await {
            Err(e) if e.is_token_error() => {
                tracing::info!(
                    path,
                    errcode = e.errcode(),
                    "access token refused; fetching it again"
                );
                let token = self.refreshed_after(&token).await?;
                self.post(path, &token, body).await
            }
            other => other,
        }
    }

    async fn post<T: DeserializeOwned + HasStatus>(
        &self,
        path: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<T, WeChatError> {
        let url = self.url(path, &[("access_token", token)])?;
        let resp = self
            .http
            .post(url)
            .json(body)
            .send()
            .await
            // The URL carries the token: never in an error.
            .map_err(|e| unavailable(path, e.without_url()))?;
        let answer: T = read(resp, path).await?;
        answer.status().check()?;
        Ok(answer)
    }

    /// A token valid for at least [`REFRESH_MARGIN_SECS`]: this process's copy, else the shared
    /// one, else a fresh one from `stable_token` (then shared).
    pub async fn access_token(&self) -> Result<String, WeChatError> {
        let mut cached = self.cached.lock().await;
        let fresh = |t: &(String, u64)| t.1 > now() + REFRESH_MARGIN_SECS;
        if let Some(t) = cached.as_ref().filter(|t| fresh(t)) {
            return Ok(t.0.clone());
        }
        match self.tokens.get_access_token().await {
            Ok(Some(t)) if fresh(&t) => {
                let token = t.0.clone();
                *cached = Some(t);
                return Ok(token);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot read the shared WeChat access token"),
        }
        let t = self.fetch_token().await?;
        let token = t.0.clone();
        *cached = Some(t);
        Ok(token)
    }

    /// A token other than `refused` (which WeChat just refused): the shared one if another
    /// process already replaced it, else a fresh one in normal mode.
    async fn refreshed_after(&self, refused: &str) -> Result<String, WeChatError> {
        let mut cached = self.cached.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.0 != refused && t.1 > now()) {
            return Ok(t.0.clone());
        }
        if let Ok(Some(t)) = self.tokens.get_access_token().await
            && t.0 != refused
            && t.1 > now() + REFRESH_MARGIN_SECS
        {
            let token = t.0.clone();
            *cached = Some(t);
            return Ok(token);
        }
        let t = self.fetch_token().await?;
        let token = t.0.clone();
        *cached = Some(t);
        Ok(token)
    }

    /// `stable_token` in normal mode, then shared (a failed share is logged: the token still
    /// serves this process).
    async fn fetch_token(&self) -> Result<(String, u64), WeChatError> {
        let url = format!("{}/cgi-bin/stable_token", self.settings.api_base);
        let resp = self
            .http
            .post(url)
            .json(&json!({
                "grant_type": "client_credential",
                "appid": self.settings.appid,
                "secret": self.secret,
                "force_refresh": false,
            }))
            .send()
            .await
            .map_err(|e| unavailable("stable_token", e.without_url()))?;
        let answer: TokenAnswer = read(resp, "stable_token").await?;
        if let Err(e) = answer.status.check() {
            if e.is_misconfiguration() {
                tracing::error!(error = %e, "WeChat refuses Emo's credentials or address (see the README's WeChat section)");
            }
            return Err(e);
        }
        let token = answer
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unavailable("stable_token", "an answer without a token"))?;
        let expires_in = answer.expires_in.unwrap_or(7200).clamp(60, 7200) as u64;
        let expires_at = now() + expires_in;
        tracing::info!(expires_in, "fetched a WeChat access token");
        if let Err(e) = self.tokens.put_access_token(&token, expires_at).await {
            tracing::warn!(error = %e, "cannot share the WeChat access token");
        }
        Ok((token, expires_at))
    }
}

/// An answer with WeChat's `errcode`/`errmsg`.
trait HasStatus {
    fn status(&self) -> &Status;
}

impl HasStatus for Status {
    fn status(&self) -> &Status {
        self
    }
}
impl HasStatus for TextCheckAnswer {
    fn status(&self) -> &Status {
        &self.status
    }
}
impl HasStatus for MediaCheckAnswer {
    fn status(&self) -> &Status {
        &self.status
    }
}

/// The JSON of a 2xx answer; a 5xx or unreadable one is unavailable.
async fn read<T: DeserializeOwned>(resp: reqwest::Response, what: &str) -> Result<T, WeChatError> {
    let status = resp.status();
    if !status.is_success() {
        return Err(unavailable(what, format!("HTTP {status}")));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| unavailable(what, e.without_url()))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| unavailable(what, format!("unreadable answer ({e})")))
}
