//! WeChat's JSON, read leniently where WeChat is known to vary: a success may omit `errcode`,
//! and numbers (`errcode`, `expires_in`, `label`, `version`) may come as strings.

use serde::{Deserialize, Deserializer};

use super::{Verdict, WeChatError};

/// A number WeChat may send as `1` or `"1"`.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        F(f64),
        S(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        None => None,
        Some(N::I(i)) => Some(i),
        Some(N::F(f)) => Some(f as i64),
        Some(N::S(s)) => s.trim().parse().ok(),
    })
}

/// The `errcode`/`errmsg` every answer may carry.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Status {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub errcode: Option<i64>,
    #[serde(default)]
    pub errmsg: Option<String>,
}

impl Status {
    /// `Err` for a non-zero `errcode` (absent counts as 0).
    pub fn check(&self) -> Result<(), WeChatError> {
        match self.errcode.unwrap_or(0) {
            0 => Ok(()),
            errcode => Err(WeChatError::from_code(
                errcode,
                self.errmsg.clone().unwrap_or_default(),
            )),
        }
    }
}

/// `stable_token`'s answer.
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    #[serde(flatten)]
    pub status: Status,
    pub access_token: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub expires_in: Option<i64>,
}

/// `jscode2session`'s answer. `session_key` is deliberately not a field: it is dropped by the
/// parser and never held.
#[derive(Deserialize)]
pub(crate) struct SessionAnswer {
    #[serde(flatten)]
    pub status: Status,
    pub openid: Option<String>,
    pub unionid: Option<String>,
}

/// `result` of a content check (or of a media check's push).
#[derive(Debug, Deserialize)]
pub struct CheckResult {
    pub suggest: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub label: Option<i64>,
}

impl CheckResult {
    /// The verdict; an unknown or missing `suggest` is read as `review` (neither proof of harm
    /// nor a pass WeChat gave).
    pub fn verdict(&self) -> Verdict {
        parse_suggest(self.suggest.as_deref())
    }
}

/// `pass` | `review` | `risky`, case-insensitively; anything else is `review`.
pub fn parse_suggest(s: Option<&str>) -> Verdict {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("pass") => Verdict::Pass,
        Some("risky") => Verdict::Risky,
        _ => Verdict::Review,
    }
}

/// `msg_sec_check`'s answer.
#[derive(Deserialize)]
pub(crate) struct TextCheckAnswer {
    #[serde(flatten)]
    pub status: Status,
    pub result: Option<CheckResult>,
}

/// `media_check_async`'s answer.
#[derive(Deserialize)]
pub(crate) struct MediaCheckAnswer {
    #[serde(flatten)]
    pub status: Status,
    pub trace_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_may_omit_errcode_and_numbers_may_be_strings() {
        let a: TextCheckAnswer =
            serde_json::from_str(r#"{"result":{"suggest":"risky","label":"20001"}}"#).unwrap();
        assert!(a.status.check().is_ok());
        let r = a.result.unwrap();
        assert_eq!(r.verdict(), Verdict::Risky);
        assert_eq!(r.label, Some(20001));
        let a: TextCheckAnswer = serde_json::from_str(
            r#"{"errcode":"0","errmsg":"ok","result":{"suggest":"pass","label":100}}"#,
        )
        .unwrap();
        assert!(a.status.check().is_ok());
        let t: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"T","expires_in":"7200"}"#).unwrap();
        assert_eq!(t.expires_in, Some(7200));
    }

    #[test]
    fn an_errcode_is_an_error_and_the_session_key_is_not_kept() {
        let a: SessionAnswer =
            serde_json::from_str(r#"{"errcode":40163,"errmsg":"code been used"}"#).unwrap();
        assert!(matches!(
            a.status.check(),
            Err(WeChatError::Api { errcode: 40163, .. })
        ));
        let a: SessionAnswer =
            serde_json::from_str(r#"{"openid":"o1","session_key":"SECRET-KEY"}"#).unwrap();
        assert_eq!(a.openid.as_deref(), Some("o1"));
        assert!(a.status.check().is_ok());
    }

    #[test]
    fn an_unknown_suggest_is_review() {
        assert_eq!(parse_suggest(Some("PASS")), Verdict::Pass);
        assert_eq!(parse_suggest(Some("odd")), Verdict::Review);
        assert_eq!(parse_suggest(None), Verdict::Review);
    }
}
