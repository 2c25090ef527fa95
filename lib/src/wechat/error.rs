//! WeChat's error codes as Emo reads them: which mean the access token must be fetched again,
//! which are worth trying again later, and the message a login refused by WeChat answers with.

use http::StatusCode;

use super::WeChatError;

/// `invalid credential`: the access token is not (or no longer) valid.
pub const INVALID_CREDENTIAL: i64 = 40001;
/// `access_token expired`.
pub const TOKEN_EXPIRED: i64 = 42001;
/// `invalid code`: a `wx.login` code that is wrong or too old (5 minutes).
pub const INVALID_CODE: i64 = 40029;
/// `code been used`.
pub const CODE_USED: i64 = 40163;
/// `api minute-quota reach limit`: too many logins for this user in a minute.
pub const MINUTE_QUOTA: i64 = 45011;
/// `high risk user`: WeChat refuses the login.
pub const RISKY_USER: i64 = 40226;
/// `invalid ip, not in whitelist`: the console's IP whitelist refuses this server.
pub const IP_NOT_WHITELISTED: i64 = 40164;
/// `invalid appid`.
pub const INVALID_APPID: i64 = 40013;
/// `invalid appsecret`.
pub const INVALID_SECRET: i64 = 40125;
/// `user refuse to accept the msg`: the user did not subscribe (normal).
pub const SUBSCRIPTION_REFUSED: i64 = 43101;
/// `system busy`.
pub const SYSTEM_BUSY: i64 = -1;

impl WeChatError {
    /// The error for `errcode`: `-1` (system busy) is [`WeChatError::Unavailable`], the rest
    /// [`WeChatError::Api`].
    pub fn from_code(errcode: i64, errmsg: String) -> Self {
        if errcode == SYSTEM_BUSY {
            WeChatError::Unavailable(format!("system busy ({errmsg})"))
        } else {
            WeChatError::Api { errcode, errmsg }
        }
    }

    /// WeChat's errcode, if it answered one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            WeChatError::Api { errcode, .. } => Some(*errcode),
            WeChatError::Unavailable(_) => None,
        }
    }

    /// Whether the access token the call carried is not valid (fetch again, try once more).
    pub fn is_token_error(&self) -> bool {
        matches!(self.errcode(), Some(INVALID_CREDENTIAL | TOKEN_EXPIRED))
    }

    /// Whether trying the same call later can help (WeChat down or busy).
    pub fn is_retryable(&self) -> bool {
        matches!(self, WeChatError::Unavailable(_))
    }

    /// Whether this says Emo's WeChat configuration is wrong (appid, secret, IP whitelist): an
    /// operator's problem, logged as an error.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(
            self.errcode(),
            Some(INVALID_APPID | INVALID_SECRET | IP_NOT_WHITELISTED)
        )
    }

    /// The status and message a login with a refused `wx.login` code answers with.
    pub fn login_refusal(&self) -> (StatusCode, &'static str) {
        match self.errcode() {
            Some(INVALID_CODE) => (
                StatusCode::BAD_REQUEST,
                "微信登录凭证无效或已过期，请重新登录",
            ),
            Some(CODE_USED) => (
                StatusCode::BAD_REQUEST,
                "微信登录凭证已被使用，请重新调用 wx.login 获取",
            ),
            Some(MINUTE_QUOTA) => (
                StatusCode::TOO_MANY_REQUESTS,
                "微信登录过于频繁，请稍后再试",
            ),
            Some(RISKY_USER) => (StatusCode::FORBIDDEN, "该微信账号存在风险，暂时无法登录"),
            _ => (
                StatusCode::SERVICE_UNAVAILABLE,
                "微信登录暂时不可用，请稍后再试",
            ),
        }
    }
}
