//! WeChat's endpoint and credentials: `WECHAT_API_BASE`, `WECHAT_APPID`, `WECHAT_SECRET`,
//! `WECHAT_SECRET_ID`, `WECHAT_TOKEN`, `WECHAT_TOKEN_SECRET_ID`, `WECHAT_ENCODING_AES_KEY`,
//! `WECHAT_SUBSCRIBE_TEMPLATE_ID`, `WECHAT_TIMEOUT_SECS`. WeChat is configured when
//! `WECHAT_APPID` is set; then the secret (plain or from Secrets Manager) is required.

use std::time::Duration;

use crate::settings::{Env, SettingsError, bad};
use crate::store::Backend;

/// WeChat's server API, unless `WECHAT_API_BASE` says otherwise (the stand-in, in tests).
pub const DEFAULT_API_BASE: &str = "https://api.weixin.qq.com";

#[derive(Clone)]
pub struct WeChatSettings {
    /// `WECHAT_API_BASE`, without a trailing slash.
    pub api_base: String,
    /// `WECHAT_APPID`: the mini-program's AppID.
    pub appid: String,
    /// `WECHAT_SECRET`: the AppSecret (or read from `WECHAT_SECRET_ID` at start).
    pub secret: Option<String>,
    /// `WECHAT_SECRET_ID`: the Secrets Manager secret holding the AppSecret (aws backend only).
    pub secret_id: Option<String>,
    /// `WECHAT_TOKEN`: the push token set in the admin console, for the push signatures.
    pub token: Option<String>,
    /// `WECHAT_TOKEN_SECRET_ID`: the Secrets Manager secret holding the push token.
    pub token_secret_id: Option<String>,
    /// `WECHAT_ENCODING_AES_KEY`: the push's EncodingAESKey (43 characters), for the safe mode.
    pub encoding_aes_key: Option<String>,
    /// `WECHAT_SUBSCRIBE_TEMPLATE_ID`: the ready message's template; none, no message.
    pub subscribe_template_id: Option<String>,
    /// `WECHAT_TIMEOUT_SECS`: the most one WeChat call may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for WeChatSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("WeChatSettings")
            .field("api_base", &self.api_base)
            .field("appid", &self.appid)
            .field("secret", &redacted(&self.secret))
            .field("secret_id", &self.secret_id)
            .field("token", &redacted(&self.token))
            .field("token_secret_id", &self.token_secret_id)
            .field("encoding_aes_key", &redacted(&self.encoding_aes_key))
            .field("subscribe_template_id", &self.subscribe_template_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WeChatSettings {
    /// `None` when `WECHAT_APPID` is unset (WeChat not configured).
    ///
    /// Fails, naming the setting, when the AppSecret is missing or given twice, a secret id is
    /// set off the aws backend, the base URL is not http(s), or the AES key is malformed.
    pub fn from_env(env: &Env<'_>, backend: Backend) -> Result<Option<Self>, SettingsError> {
        let Some(appid) = env.get("WECHAT_APPID") else {
            return Ok(None);
        };
        let secret = env.get("WECHAT_SECRET");
        let secret_id = crate::secrets::secret_id(
            env,
            backend,
            "WECHAT_SECRET_ID",
            secret.is_some(),
            "WECHAT_SECRET",
        )?;
        if secret.is_none() && secret_id.is_none() {
            return Err(bad(
                "WECHAT_SECRET",
                "is required when WECHAT_APPID is set (or WECHAT_SECRET_ID on aws)",
            ));
        }
        let token = env.get("WECHAT_TOKEN");
        let token_secret_id = crate::secrets::secret_id(
            env,
            backend,
            "WECHAT_TOKEN_SECRET_ID",
            token.is_some(),
            "WECHAT_TOKEN",
        )?;
        let api_base = env
            .get("WECHAT_API_BASE")
            .unwrap_or_else(|| DEFAULT_API_BASE.into())
            .trim()
            .trim_end_matches('/')
            .to_owned();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(bad("WECHAT_API_BASE", "must be an http(s) URL"));
        }
        let encoding_aes_key = env.get("WECHAT_ENCODING_AES_KEY");
        if let Some(k) = &encoding_aes_key
            && (k.len() != 43 || !k.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(bad(
                "WECHAT_ENCODING_AES_KEY",
                "must be the console's 43-character EncodingAESKey",
            ));
        }
        Ok(Some(Self {
            api_base,
            appid,
            secret,
            secret_id,
            token,
            token_secret_id,
            encoding_aes_key,
            subscribe_template_id: env.get("WECHAT_SUBSCRIBE_TEMPLATE_ID"),
            timeout: env.secs("WECHAT_TIMEOUT_SECS", 10, 1..=60)?,
        }))
    }
}
