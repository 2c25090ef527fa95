//! What can go wrong when talking to DashScope, sorted into the few kinds a sticker maker can act
//! on, each with a short Chinese message the mini-program shows as is.
//!
//! Upstream `code`s are kept for logs; upstream bodies are never kept whole, and the API key never
//! reaches an error (the client does not hand it to anything that could echo it).

use std::fmt;

/// The kinds of failure the mini-program distinguishes. One kind, one user message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Content moderation refused the prompt, the image or the generated video
    /// (`DataInspectionFailed`).
    Moderation,
    /// DashScope could not download or read the input media (`InvalidParameter.DataInspection`:
    /// "Unable to download the media resource during the data inspection process", "The media
    /// format is not supported or incorrect for the data inspection"). Not moderation: another
    /// picture, not another wording, fixes it.
    BadMedia,
    /// The prompt or image is suspected of infringing copyright or other intellectual property
    /// (`IPInfringementSuspect`, or any code or message that talks about copyright or IP).
    Copyright,
    /// Emo's account cannot be used right now: bad API key, unpaid bill (`Arrearage`, and the
    /// 429s `PrepaidBillOverdue`, `PostpaidBillOverdue`), nothing purchased
    /// (`CommodityNotPurchased`, `AccessDenied.Unpurchased`), the free tier used up, access
    /// denied. An operator has to act; it is never the user's fault, and waiting does not help.
    Unavailable,
    /// Rate limited (`Throttling`, `Throttling.RateQuota`, `Throttling.BurstRate`, and
    /// `Throttling.AllocationQuota`, which the error table explains as a tokens-per-second or
    /// -minute limit), still after the client's retries.
    Throttled,
    /// No answer in time.
    Timeout,
    /// DashScope failed on its side (5xx), could not be reached, or answered something unreadable.
    Upstream,
    /// The request was refused as invalid: a size, resolution, image or field DashScope rejects.
    BadRequest,
}

impl ErrorKind {
    /// Sorts an upstream failure by HTTP status (absent for a FAILED task), `code` and `message`,
    /// after DashScope's published error table (<https://help.aliyun.com/zh/model-studio/error-code>).
    /// Copyright is checked first and generously, since DashScope words it in several ways; a 429
    /// is throttling only when its code is not one of the account codes the table lists under 429.
    pub fn classify(status: Option<u16>, code: Option<&str>, message: Option<&str>) -> Self {
        let code = code.unwrap_or("").trim();
        let message = message.unwrap_or("");
        if mentions_ip(code) || mentions_ip(message) {
            return Self::Copyright;
        }
        if is_bad_media(code, message) {
            return Self::BadMedia;
        }
        if code.contains("DataInspection")
            || message.contains("inappropriate content")
            || message.contains("DataInspection")
        {
            return Self::Moderation;
        }
        if is_account_code(code, message) || matches!(status, Some(401..=403)) {
            return Self::Unavailable;
        }
        if code.starts_with("Throttling") || status == Some(429) {
            return Self::Throttled;
        }
        if code.eq_ignore_ascii_case("RequestTimeOut")
            || code.contains("Timeout")
            || matches!(status, Some(408 | 504))
        {
            return Self::Timeout;
        }
        if status.is_some_and(|s| s >= 500)
            || code.starts_with("InternalError")
            || code.starts_with("SystemError")
            || code.starts_with("ServiceUnavailable")
        {
            return Self::Upstream;
        }
        if status.is_some_and(|s| (400..500).contains(&s))
            || code.starts_with("Invalid")
            || code.starts_with("BadRequest")
            || code.starts_with("MissingParameter")
        {
            return Self::BadRequest;
        }
        // A FAILED task with no code, or one we do not know: not the user's doing as far as we can
        // tell, so say "try again later" rather than "fix your input".
        Self::Upstream
    }

    /// The short message for sticker makers (Chinese, no codes, never blaming them for Emo's
    /// account or DashScope's outages).
    pub fn user_message(self) -> &'static str {
        match self {
            Self::Moderation => "内容未通过安全审核，请修改描述或更换图片后再试",
            Self::BadMedia => "图片无法读取，请换一张 JPG 或 PNG 图片再试",
            Self::Copyright => "内容疑似涉及版权或知识产权，请换一个原创的描述或图片再试",
            Self::Unavailable => "服务暂时不可用，请稍后再试",
            Self::Throttled => "当前使用的人较多，请稍后再试",
            Self::Timeout => "生成超时，请稍后再试",
            Self::Upstream => "生成服务暂时异常，请稍后再试",
            Self::BadRequest => "请求参数有误，请检查描述、尺寸或图片后再试",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Moderation => "content moderation",
            Self::BadMedia => "unreadable media",
            Self::Copyright => "copyright suspicion",
            Self::Unavailable => "account unavailable",
            Self::Throttled => "throttled",
            Self::Timeout => "timeout",
            Self::Upstream => "upstream failure",
            Self::BadRequest => "bad request",
        };
        f.write_str(name)
    }
}

/// The user message for a task that ended `FAILED` with this `output.code` / `output.message`
/// (either may be absent: some models fail tasks without saying why).
pub fn failure_message(code: Option<&str>, message: Option<&str>) -> String {
    ErrorKind::classify(None, code, message)
        .user_message()
        .to_owned()
}

/// Codes that mean Emo's account, key or quota is the problem. The error table lists
/// `CommodityNotPurchased`, `PrepaidBillOverdue` and `PostpaidBillOverdue` under HTTP 429, so a
/// 429 alone does not mean "slow down". `Throttling.AllocationQuota` is a tokens-per-second limit
/// (temporary) except when it says the free quota is gone for a model that cannot be paid for.
fn is_account_code(code: &str, message: &str) -> bool {
    let free_quota_gone = code == "Throttling.AllocationQuota"
        && message
            .to_ascii_lowercase()
            .contains("free allocated quota");
    free_quota_gone
        || code == "Arrearage"
        || code == "InvalidApiKey"
        || code.starts_with("AllocationQuota")
        || code.starts_with("AccessDenied")
        || code.ends_with(".AccessDenied")
        || code.contains("Unpurchased")
        || code.contains("Arrearage")
        || code == "CommodityNotPurchased"
        || code == "PrepaidBillOverdue"
        || code == "PostpaidBillOverdue"
        || code == "ModelNotExist"
        || code == "ModelNotFound"
}

/// `InvalidParameter.DataInspection`: the table's causes are a media download that timed out and
/// a format or size the inspection cannot read. A FAILED task may carry only the message.
fn is_bad_media(code: &str, message: &str) -> bool {
    if code == "InvalidParameter.DataInspection" {
        return true;
    }
    let lower = message.to_ascii_lowercase();
    (code.is_empty() || code == "InvalidParameter")
        && (lower.contains("for the data inspection")
            || lower.contains("during the data inspection"))
}

/// Whether `text` talks about copyright or intellectual property, in English or Chinese. A bare
/// "IP" counts unless the text is about network addresses or allow-lists.
fn mentions_ip(text: &str) -> bool {
    if text.is_empty() {
        return false;
    }
    let lower = text.to_lowercase();
    const WORDS: [&str; 8] = [
        "infring",
        "copyright",
        "intellectual property",
        "trademark",
        "版权",
        "知识产权",
        "侵权",
        "商标",
    ];
    if WORDS.iter().any(|w| lower.contains(w)) {
        return true;
    }
    let bare_ip = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|token| token == "IP");
    let about_network = ["address", "whitelist", "allowlist", "白名单", "地址"]
        .iter()
        .any(|w| lower.contains(w));
    bare_ip && !about_network
}

/// An upstream `message`, cut to a length fit for a log line. Upstream messages can quote what
/// was sent (a URL, part of a prompt), so they are bounded, and they only ever go to logs.
pub(crate) fn bounded(message: &str) -> String {
    const MAX_CHARS: usize = 200;
    let trimmed = message.trim();
    match trimmed.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

/// A failed DashScope call. `Display` is for logs (kind, status, code, request id); show users
/// [`DashScopeError::user_message`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DashScopeError {
    /// DashScope answered with an error status, after retries where they apply.
    #[error(
        "DashScope answered HTTP {status} {code} ({kind}) after {attempts} attempt(s), request id {}",
        request_id.as_deref().unwrap_or("-")
    )]
    Api {
        kind: ErrorKind,
        status: u16,
        /// Upstream `code`, or `Unknown` when the body was not DashScope's error JSON.
        code: String,
        /// Upstream `message`, bounded in length; for logs only.
        message: Option<String>,
        request_id: Option<String>,
        attempts: u32,
    },
    /// No answer within the configured timeout, on every attempt.
    #[error("DashScope did not answer in time after {attempts} attempt(s)")]
    Timeout {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// The connection could not be made or broke, on every attempt.
    #[error("cannot reach DashScope after {attempts} attempt(s)")]
    Unreachable {
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    /// A create got no clear answer: any 5xx (a 500 can come after the task was made and billed,
    /// a gateway may have passed the request on), a timeout, a connection that broke after
    /// the request may have been written, or a 2xx whose task id could not be read. A task may exist and be billed, so the create was not
    /// repeated; its id is unknown ([`crate::dashscope::DashScope::list_tasks`] can look for it).
    #[error(
        "a create request was interrupted after it may have reached DashScope (HTTP {}, code {}, request id {}); not repeated",
        status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
        code.as_deref().unwrap_or("-"),
        request_id.as_deref().unwrap_or("-")
    )]
    Interrupted {
        /// The status that answered (a 5xx, or the 2xx of an unreadable answer), when one did.
        status: Option<u16>,
        /// The answer's `code`, when it was DashScope's error JSON.
        code: Option<String>,
        /// The answer's `request_id`, for DashScope's support.
        request_id: Option<String>,
        #[source]
        source: Option<reqwest::Error>,
    },
    /// A 2xx answer that does not have the documented shape.
    #[error("unexpected answer from DashScope: {what}")]
    Protocol { what: &'static str },
    /// A video larger than the caller's cap.
    #[error("the video is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The video URL answered with an error status (an expired signed URL answers 403).
    #[error("video download answered HTTP {status} after {attempts} attempt(s)")]
    Download { status: u16, attempts: u32 },
    /// The video URL, or a redirect from it, leads somewhere `DASHSCOPE_VIDEO_HOSTS` does not
    /// allow (another host, or plain http to one that is not loopback); nothing was fetched there.
    #[error("the video URL was refused: {reason} (host {host})")]
    UntrustedVideo { host: String, reason: &'static str },
    /// The task list ran past the pages the client reads, so what it holds is not known in full.
    #[error("the task list has more than {pages} pages; not read to its end")]
    TaskListTooLong { pages: u32 },
    /// The caller passed something the client refuses to send (empty prompt, malformed task id).
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// The client could not be built from its configuration.
    #[error("DashScope client setup: {0}")]
    Setup(&'static str),
}

impl DashScopeError {
    /// The kind of failure, which decides the user message.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Api { kind, .. } => *kind,
            Self::Interrupted {
                status: Some(_), ..
            } => ErrorKind::Upstream,
            Self::Timeout { .. } | Self::Interrupted { .. } => ErrorKind::Timeout,
            Self::Unreachable { .. }
            | Self::Protocol { .. }
            | Self::TooLarge { .. }
            | Self::Download { .. }
            | Self::UntrustedVideo { .. }
            | Self::TaskListTooLong { .. } => ErrorKind::Upstream,
            Self::InvalidInput(_) => ErrorKind::BadRequest,
            Self::Setup(_) => ErrorKind::Unavailable,
        }
    }

    /// Short Chinese text for the sticker maker; never contains codes, bodies or secrets.
    pub fn user_message(&self) -> String {
        self.kind().user_message().to_owned()
    }

    /// Whether the same call may succeed later (throttling, timeouts, DashScope's own failures).
    /// False for [`DashScopeError::Interrupted`]: repeating that create could pay for a task twice;
    /// false for a refused video URL: asking again gives the same URL.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { kind, status, .. } => {
                matches!(kind, ErrorKind::Throttled | ErrorKind::Timeout)
                    || (*kind == ErrorKind::Upstream && *status >= 500)
            }
            Self::Timeout { .. } | Self::Unreachable { .. } => true,
            Self::Download { status, .. } => *status >= 500,
            Self::Interrupted { .. }
            | Self::Protocol { .. }
            | Self::TooLarge { .. }
            | Self::UntrustedVideo { .. }
            | Self::TaskListTooLong { .. }
            | Self::InvalidInput(_)
            | Self::Setup(_) => false,
        }
    }

    /// The upstream `code`, when DashScope gave one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: Option<u16>, code: &str, message: &str) -> ErrorKind {
        ErrorKind::classify(status, Some(code), Some(message))
    }

    #[test]
    fn moderation_codes_give_the_moderation_message() {
        for message in [
            "Input or output data may contain inappropriate content.",
            "Input data may contain inappropriate content.",
            "whatever",
        ] {
            assert_eq!(
                kind(Some(400), "DataInspectionFailed", message),
                ErrorKind::Moderation,
                "{message}"
            );
        }
        assert_eq!(
            failure_message(
                Some("DataInspectionFailed"),
                Some("Output data may contain inappropriate content.")
            ),
            ErrorKind::Moderation.user_message()
        );
    }

    #[test]
    fn media_that_cannot_be_downloaded_or_read_is_not_moderation() {
        // The error table's InvalidParameter.DataInspection messages.
        for message in [
            "Unable to download the media resource during the data inspection process.",
            "The media format is not supported or incorrect for the data inspection.",
            "The image size is not supported for the data inspection.",
            "",
        ] {
            assert_eq!(
                kind(Some(400), "InvalidParameter.DataInspection", message),
                ErrorKind::BadMedia,
                "{message}"
            );
        }
        // A FAILED task may carry the message alone.
        assert_eq!(
            failure_message(
                None,
                Some("The media format is not supported or incorrect for the data inspection.")
            ),
            ErrorKind::BadMedia.user_message()
        );
        assert_eq!(
            ErrorKind::BadMedia.user_message(),
            "图片无法读取，请换一张 JPG 或 PNG 图片再试"
        );
        assert_ne!(
            ErrorKind::BadMedia.user_message(),
            ErrorKind::Moderation.user_message()
        );
        let refused = DashScopeError::Api {
            kind: ErrorKind::BadMedia,
            status: 400,
            code: "InvalidParameter.DataInspection".into(),
            message: None,
            request_id: None,
            attempts: 1,
        };
        assert!(!refused.is_retryable(), "the same picture fails again");
    }

    #[test]
    fn anything_that_talks_about_copyright_or_ip_is_a_copyright_refusal() {
        let cases = [
            (
                "IPInfringementSuspect",
                "Input data is suspected of being involved in IP infringement.",
            ),
            ("DataInspectionFailed", "The content may violate copyright."),
            ("InvalidParameter", "疑似侵犯知识产权"),
            ("DataInspectionFailed", "Suspected IP content"),
        ];
        for (code, message) in cases {
            assert_eq!(
                kind(Some(400), code, message),
                ErrorKind::Copyright,
                "{code} {message}"
            );
        }
        assert_eq!(
            failure_message(
                None,
                Some("Input data is suspected of being involved in IP infringement.")
            ),
            ErrorKind::Copyright.user_message()
        );
    }

    #[test]
    fn an_ip_address_problem_is_not_a_copyright_refusal() {
        assert_ne!(
            kind(
                Some(403),
                "AccessDenied",
                "Your IP address is not in the whitelist."
            ),
            ErrorKind::Copyright
        );
    }

    #[test]
    fn account_problems_never_blame_the_user() {
        let cases = [
            (400, "Arrearage"),
            (403, "AllocationQuota.FreeTierOnly"),
            (403, "AccessDenied.Unpurchased"),
            (401, "InvalidApiKey"),
            (403, "AccessDenied"),
            // Listed under HTTP 429 in the error table, yet no wait fixes them.
            (429, "CommodityNotPurchased"),
            (429, "PrepaidBillOverdue"),
            (429, "PostpaidBillOverdue"),
        ];
        for (status, code) in cases {
            assert_eq!(
                kind(Some(status), code, ""),
                ErrorKind::Unavailable,
                "{code}"
            );
        }
        assert!(ErrorKind::Unavailable.user_message().contains("暂时不可用"));
        let overdue = DashScopeError::Api {
            kind: kind(
                Some(429),
                "PrepaidBillOverdue",
                "The prepaid bill is overdue.",
            ),
            status: 429,
            code: "PrepaidBillOverdue".into(),
            message: None,
            request_id: None,
            attempts: 1,
        };
        assert!(!overdue.is_retryable(), "an unpaid bill is not throttling");
    }

    #[test]
    fn allocation_quota_is_a_rate_limit_unless_the_free_quota_is_gone() {
        assert_eq!(
            kind(
                Some(429),
                "Throttling.AllocationQuota",
                "Allocated quota exceeded, please increase your quota limit."
            ),
            ErrorKind::Throttled
        );
        assert_eq!(
            kind(
                Some(429),
                "Throttling.AllocationQuota",
                "Free allocated quota exceeded."
            ),
            ErrorKind::Unavailable
        );
    }

    #[test]
    fn throttling_timeouts_server_errors_and_bad_parameters_are_told_apart() {
        assert_eq!(
            kind(Some(429), "Throttling.RateQuota", ""),
            ErrorKind::Throttled
        );
        assert_eq!(
            kind(Some(429), "Throttling.BurstRate", ""),
            ErrorKind::Throttled
        );
        assert_eq!(kind(Some(408), "RequestTimeOut", ""), ErrorKind::Timeout);
        assert_eq!(
            kind(Some(500), "InternalError.Algo", ""),
            ErrorKind::Upstream
        );
        assert_eq!(kind(Some(503), "Unknown", ""), ErrorKind::Upstream);
        assert_eq!(
            kind(Some(400), "InvalidParameter", "size is invalid"),
            ErrorKind::BadRequest
        );
        assert_eq!(
            kind(Some(413), "BadRequest.TooLarge", ""),
            ErrorKind::BadRequest
        );
        assert_eq!(
            failure_message(
                Some("InvalidParameter"),
                Some("Failed to download http://x/y.png")
            ),
            ErrorKind::BadRequest.user_message()
        );
        assert_eq!(
            failure_message(Some("InternalError"), None),
            ErrorKind::Upstream.user_message()
        );
    }

    #[test]
    fn a_failed_task_that_says_nothing_asks_to_try_again_later() {
        assert_eq!(
            failure_message(None, None),
            ErrorKind::Upstream.user_message()
        );
    }

    #[test]
    fn retryability_follows_the_kind() {
        let api = |kind, status| DashScopeError::Api {
            kind,
            status,
            code: "X".into(),
            message: None,
            request_id: None,
            attempts: 1,
        };
        assert!(api(ErrorKind::Throttled, 429).is_retryable());
        assert!(api(ErrorKind::Upstream, 500).is_retryable());
        assert!(!api(ErrorKind::Unavailable, 429).is_retryable());
        assert!(!api(ErrorKind::Moderation, 400).is_retryable());
        assert!(!api(ErrorKind::BadRequest, 400).is_retryable());
        assert!(!DashScopeError::Protocol { what: "x" }.is_retryable());
        let refused = DashScopeError::UntrustedVideo {
            host: "example.com".into(),
            reason: "the host is not in DASHSCOPE_VIDEO_HOSTS",
        };
        assert!(!refused.is_retryable());
        assert_eq!(refused.kind(), ErrorKind::Upstream);
        assert!(!DashScopeError::TaskListTooLong { pages: 20 }.is_retryable());
    }

    #[test]
    fn an_interrupted_create_is_never_retryable_and_says_what_answered() {
        let answered = DashScopeError::Interrupted {
            status: Some(500),
            code: Some("InternalError".into()),
            request_id: Some("req-1".into()),
            source: None,
        };
        assert!(!answered.is_retryable());
        assert_eq!(answered.kind(), ErrorKind::Upstream);
        let shown = answered.to_string();
        assert!(
            shown.contains("500") && shown.contains("InternalError") && shown.contains("req-1")
        );
        let silent = DashScopeError::Interrupted {
            status: None,
            code: None,
            request_id: None,
            source: None,
        };
        assert!(!silent.is_retryable());
        assert_eq!(silent.kind(), ErrorKind::Timeout);
    }

    #[test]
    fn long_upstream_messages_are_bounded() {
        let long = "x".repeat(1000);
        assert!(bounded(&long).chars().count() <= 201);
        assert_eq!(bounded("  short "), "short");
    }
}
