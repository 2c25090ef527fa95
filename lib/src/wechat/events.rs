//! WeChat's pushes to `/api/v1/wechat/events` (the mini-program's 消息推送, JSON format): the
//! signature check, the `echostr` handshake, the safe mode's AES envelope and the lenient parser
//! of the one event Emo acts on, `wxa_media_check` (the verdict of a `media_check_async`).
//! No I/O here: [`crate::api::wechat_events`] verifies and parses with these, then applies.
//!
//! - **Signature.** Every push (and the console's handshake) carries `signature`, `timestamp` and
//!   `nonce` in its query: `signature = hex(sha1(concat(sort([token, timestamp, nonce]))))` with
//!   the console's Token (`WECHAT_TOKEN`). Compared in constant time.
//! - **Handshake.** When the push URL is saved, the console sends a `GET` with `echostr` too; the
//!   server proves it knows the token by answering `echostr` as it came (also in safe mode).
//! - **Safe mode** (`encrypt_type=aes` in the query). The body is `{"ToUserName": …, "Encrypt":
//!   …}` and the query's `msg_signature` is the sha1 of the sorted token, timestamp, nonce and
//!   `Encrypt`. `Encrypt` is base64 of AES-256-CBC with `key = base64(EncodingAESKey + "=")` (32
//!   bytes) and `iv = key[..16]`, over `random(16) ‖ len(msg) as u32 big-endian ‖ msg ‖ appid`,
//!   padded PKCS#7 to a multiple of 32 bytes. The appid at the end must be this mini-program's.
//! - **Leniency.** WeChat is known to vary: `errcode` absent means success; `version`, `label` and
//!   `errcode` come as numbers or strings; a version-1 push has `isrisky` instead of `result`.

use aes::Aes256;
use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use serde::Deserialize;
use serde_json::Value;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use super::Verdict;

/// The console draws the EncodingAESKey's 43 characters at random, so the last one usually has
/// bits past the key's 256: WeChat's own decoders ignore them, and so does this one.
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// The safe mode pads to this block size (PKCS#7 with K = 32, as WeChat's reference says).
const PAD_BLOCK: usize = 32;

/// Why a push was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    /// The signature (or `msg_signature`) is missing or does not match the token: not WeChat.
    #[error("the push signature does not match")]
    BadSignature,
    /// A safe-mode push arrived but no EncodingAESKey is configured.
    #[error("a safe-mode push arrived but WECHAT_ENCODING_AES_KEY is not set")]
    NoAesKey,
    /// Signed correctly but unreadable: not JSON, a broken envelope, another appid.
    #[error("unreadable push: {0}")]
    Malformed(String),
}

/// The query string WeChat adds to a push or a handshake.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PushQuery {
    #[serde(default)]
    pub signature: String,
    #[serde(default)]
    pub timestamp: String,
    #[serde(default)]
    pub nonce: String,
    /// Only on the console's handshake.
    pub echostr: Option<String>,
    /// `aes` in safe mode; absent or `raw` in plain mode.
    pub encrypt_type: Option<String>,
    /// Safe mode: the signature over the token, timestamp, nonce and the body's `Encrypt`.
    pub msg_signature: Option<String>,
}

impl PushQuery {
    /// Parses a raw query string (`a=1&b=2`); unknown keys are ignored.
    pub fn parse(query: &str) -> Self {
        serde_urlencoded::from_str(query).unwrap_or_default()
    }

    fn is_safe_mode(&self) -> bool {
        self.encrypt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"))
    }
}

/// `hex(sha1(concat(sort(parts))))`: the push signature (three parts) or the safe mode's
/// `msg_signature` (four).
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    hex::encode(Sha1::digest(sorted.concat().as_bytes()))
}

/// Whether `given` is the signature of `parts`, compared in constant time.
fn signed(given: &str, parts: &[&str]) -> bool {
    let expected = sign(parts);
    let given = given.trim().to_ascii_lowercase();
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// The console's handshake: the `echostr` to answer when the query is signed with `token`.
pub fn handshake(query: &PushQuery, token: &str) -> Result<String, EventError> {
    let echo = query.echostr.clone().ok_or(EventError::BadSignature)?;
    if token.is_empty() || !signed(&query.signature, &[token, &query.timestamp, &query.nonce]) {
        return Err(EventError::BadSignature);
    }
    Ok(echo)
}

/// The safe mode's key, from the console's 43-character EncodingAESKey.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

impl AesKey {
    /// Fails unless `encoding_aes_key` is 43 base64 characters (32 bytes once `=` is added).
    pub fn from_encoding_key(encoding_aes_key: &str) -> Result<Self, EventError> {
        let bytes = KEY_BASE64
            .decode(format!("{}=", encoding_aes_key.trim()))
            .map_err(|e| EventError::Malformed(format!("EncodingAESKey: {e}")))?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| EventError::Malformed("EncodingAESKey is not 32 bytes".into()))?;
        Ok(Self(key))
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

/// Encrypts `message` for `appid` as WeChat does (the stand-in's and the tests' side): the base64
/// `Encrypt` value, with `random` as the 16 leading bytes.
pub fn encrypt(key: &AesKey, appid: &str, message: &str, random: [u8; 16]) -> String {
    let mut plain = Vec::with_capacity(20 + message.len() + appid.len() + PAD_BLOCK);
    plain.extend_from_slice(&random);
    plain.extend_from_slice(&(message.len() as u32).to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    let pad = PAD_BLOCK - plain.len() % PAD_BLOCK;
    plain.extend(std::iter::repeat_n(pad as u8, pad));
    let cipher = cbc::Encryptor::<Aes256>::new(&key.0.into(), &key.iv().into())
        .encrypt_padded_vec_mut::<NoPadding>(&plain);
    STANDARD.encode(cipher)
}

/// Decrypts an `Encrypt` value and checks it was made for `appid`: the message inside.
pub fn decrypt(key: &AesKey, appid: &str, encrypted: &str) -> Result<String, EventError> {
    let bad = |why: &str| EventError::Malformed(format!("Encrypt: {why}"));
    let mut buf = STANDARD
        .decode(encrypted.trim())
        .map_err(|_| bad("not base64"))?;
    if buf.is_empty() || buf.len() % 16 != 0 {
        return Err(bad("not whole AES blocks"));
    }
    let plain = cbc::Decryptor::<Aes256>::new(&key.0.into(), &key.iv().into())
        .decrypt_padded_mut::<NoPadding>(&mut buf)
        .map_err(|_| bad("does not decrypt"))?;
    let pad = *plain.last().ok_or_else(|| bad("empty"))? as usize;
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(bad("bad padding"));
    }
    let plain = &plain[..plain.len() - pad];
    if plain.len() < 20 {
        return Err(bad("too short"));
    }
    let len = u32::from_be_bytes([plain[16], plain[17], plain[18], plain[19]]) as usize;
    let rest = &plain[20..];
    if len > rest.len() {
        return Err(bad("length past the end"));
    }
    let (message, from) = rest.split_at(len);
    if from != appid.as_bytes() {
        return Err(bad("made for another appid"));
    }
    String::from_utf8(message.to_vec()).map_err(|_| bad("not UTF-8"))
}

/// A push, as far as Emo cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// `MsgType=event`, `Event=wxa_media_check`.
    MediaCheck(MediaCheck),
    /// Anything else (a user's message, another event): acknowledged and ignored.
    Other {
        msg_type: String,
        event: Option<String>,
    },
}

/// The result of one `media_check_async`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaCheck {
    pub trace_id: String,
    /// The push's own `appid`, when it names one.
    pub appid: Option<String>,
    pub outcome: MediaOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaOutcome {
    /// WeChat checked the image: `result.suggest` (and its `label`, 100 = normal).
    Checked {
        verdict: Verdict,
        label: Option<i64>,
    },
    /// WeChat could not check it (`errcode` not 0, e.g. 43104 no permission, or no readable
    /// result): no verdict; the check is to be made again or given up.
    Failed { errcode: i64, errmsg: String },
}

/// A number that may come as a JSON number or a string of one.
fn lenient_int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lenient_str(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The field `name` of `obj`, whatever the case of its first letter (`MsgType` / `msgtype`).
fn field<'a>(obj: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn verdict_of(suggest: &str) -> Option<Verdict> {
    match suggest.trim().to_ascii_lowercase().as_str() {
        "pass" => Some(Verdict::Pass),
        "review" => Some(Verdict::Review),
        "risky" => Some(Verdict::Risky),
        _ => None,
    }
}

/// Parses a plain (decrypted) JSON push.
pub fn parse_push(body: &str) -> Result<Push, EventError> {
    let value: Value = serde_json::from_str(body.trim()).map_err(|e| {
        EventError::Malformed(format!("not JSON (set the push format to JSON): {e}"))
    })?;
    let Value::Object(obj) = value else {
        return Err(EventError::Malformed("not a JSON object".into()));
    };
    let msg_type = lenient_str(field(&obj, "MsgType")).unwrap_or_default();
    let event = lenient_str(field(&obj, "Event"));
    let is_media_check = msg_type.eq_ignore_ascii_case("event")
        && event
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("wxa_media_check"));
    if !is_media_check {
        return Ok(Push::Other { msg_type, event });
    }
    let trace_id = lenient_str(field(&obj, "trace_id"))
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| EventError::Malformed("wxa_media_check without trace_id".into()))?;
    let appid = lenient_str(field(&obj, "appid"));
    let errcode = lenient_int(field(&obj, "errcode")).unwrap_or(0);
    let errmsg = lenient_str(field(&obj, "errmsg")).unwrap_or_default();
    let outcome = if errcode != 0 {
        MediaOutcome::Failed { errcode, errmsg }
    } else if let Some(Value::Object(result)) = field(&obj, "result") {
        let suggest = lenient_str(field(result, "suggest")).unwrap_or_default();
        match verdict_of(&suggest) {
            Some(verdict) => MediaOutcome::Checked {
                verdict,
                label: lenient_int(field(result, "label")),
            },
            None => MediaOutcome::Failed {
                errcode,
                errmsg: format!("unknown suggest {suggest:?}"),
            },
        }
    } else if let Some(risky) = lenient_int(field(&obj, "isrisky")) {
        // Version 1 of the push.
        let verdict = if risky == 0 {
            Verdict::Pass
        } else {
            Verdict::Risky
        };
        MediaOutcome::Checked {
            verdict,
            label: None,
        }
    } else {
        MediaOutcome::Failed {
            errcode,
            errmsg: "no result in the push".into(),
        }
    };
    Ok(Push::MediaCheck(MediaCheck {
        trace_id,
        appid,
        outcome,
    }))
}

/// What the events route is configured with: `WECHAT_APPID`, `WECHAT_TOKEN` (on AWS read from
/// `WECHAT_TOKEN_SECRET_ID` at start instead) and `WECHAT_ENCODING_AES_KEY`. No AppSecret: the
/// route never calls WeChat.
#[derive(Clone)]
pub struct PushSettings {
    pub appid: String,
    pub token: String,
    pub aes: Option<AesKey>,
}

impl std::fmt::Debug for PushSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSettings")
            .field("appid", &self.appid)
            .field("token", &"<redacted>")
            .field("aes", &self.aes.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl PushSettings {
    /// `None` without `WECHAT_APPID` or a token (`token` is the one read from Secrets Manager,
    /// if any; otherwise `WECHAT_TOKEN`).
    ///
    /// Fails, naming it, when `WECHAT_ENCODING_AES_KEY` is not a 43-character key.
    pub fn from_env(
        env: &crate::settings::Env<'_>,
        token: Option<String>,
    ) -> Result<Option<Self>, crate::settings::SettingsError> {
        let (Some(appid), Some(token)) =
            (env.get("WECHAT_APPID"), token.or(env.get("WECHAT_TOKEN")))
        else {
            return Ok(None);
        };
        let aes = match env.get("WECHAT_ENCODING_AES_KEY") {
            Some(k) if k.trim().len() == 43 => {
                Some(AesKey::from_encoding_key(&k).map_err(|_| {
                    crate::settings::bad("WECHAT_ENCODING_AES_KEY", "is not a valid EncodingAESKey")
                })?)
            }
            Some(_) => {
                return Err(crate::settings::bad(
                    "WECHAT_ENCODING_AES_KEY",
                    "must be the console's 43-character EncodingAESKey",
                ));
            }
            None => None,
        };
        Ok(Some(Self { appid, token, aes }))
    }

    /// The receiver of pushes under these settings.
    pub fn receiver(&self) -> Receiver<'_> {
        Receiver {
            token: &self.token,
            appid: &self.appid,
            aes: self.aes.as_ref(),
        }
    }
}

/// What the route needs to open a push.
pub struct Receiver<'a> {
    /// `WECHAT_TOKEN`.
    pub token: &'a str,
    /// This mini-program's AppID: safe-mode messages must carry it.
    pub appid: &'a str,
    /// From `WECHAT_ENCODING_AES_KEY`, for the safe mode.
    pub aes: Option<&'a AesKey>,
}

impl Receiver<'_> {
    /// Verifies a `POST` push's signature, decrypts it in safe mode, and parses it. Nothing is
    /// read from the body before the signature holds.
    pub fn open(&self, query: &PushQuery, body: &str) -> Result<Push, EventError> {
        let (t, n) = (query.timestamp.as_str(), query.nonce.as_str());
        if self.token.is_empty() {
            return Err(EventError::BadSignature);
        }
        if !query.is_safe_mode() {
            if !signed(&query.signature, &[self.token, t, n]) {
                return Err(EventError::BadSignature);
            }
            return parse_push(body);
        }
        let msg_signature = query
            .msg_signature
            .as_deref()
            .ok_or(EventError::BadSignature)?;
        // The envelope is read for its `Encrypt` only, to check the signature over it.
        let envelope: Value = serde_json::from_str(body.trim()).map_err(|_| {
            // An unsigned body is not worth describing: it may not be WeChat's.
            EventError::BadSignature
        })?;
        let encrypted = envelope
            .as_object()
            .and_then(|o| lenient_str(field(o, "Encrypt")))
            .ok_or(EventError::BadSignature)?;
        if !signed(msg_signature, &[self.token, t, n, &encrypted]) {
            return Err(EventError::BadSignature);
        }
        let key = self.aes.ok_or(EventError::NoAesKey)?;
        parse_push(&decrypt(key, self.appid, &encrypted)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "emo-push-token";
    const APPID: &str = "wx0123456789abcdef";
    /// 43 characters, as the console makes them.
    const ENCODING_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

    fn signed_query(timestamp: &str, nonce: &str) -> PushQuery {
        PushQuery {
            signature: sign(&[TOKEN, timestamp, nonce]),
            timestamp: timestamp.into(),
            nonce: nonce.into(),
            ..PushQuery::default()
        }
    }

    fn receiver(aes: Option<&AesKey>) -> Receiver<'_> {
        Receiver {
            token: TOKEN,
            appid: APPID,
            aes,
        }
    }

    const RISKY_PUSH: &str = r#"{"ToUserName":"gh_38cc9f4a8a8e","FromUserName":"o4_t144jTUSEoxydysUA2E234_tc","CreateTime":1626959646,"MsgType":"event","Event":"wxa_media_check","appid":"wx0123456789abcdef","trace_id":"60f96f1d-3845297a-1976a3ae","version":2,"detail":[{"strategy":"content_model","errcode":0,"suggest":"risky","label":20002,"prob":90}],"errcode":0,"errmsg":"ok","result":{"suggest":"risky","label":20002}}"#;

    #[test]
    fn the_signature_is_the_sha1_of_the_sorted_parts() {
        // sort(["1409304348", "xxxxxx", "emo-push-token"]) = "1409304348", "emo-push-token", …
        let expected = hex::encode(Sha1::digest(b"1409304348emo-push-tokenxxxxxx"));
        assert_eq!(sign(&[TOKEN, "1409304348", "xxxxxx"]), expected);
        assert_eq!(sign(&["xxxxxx", TOKEN, "1409304348"]), expected);
    }

    #[test]
    fn the_handshake_answers_echostr_only_when_signed_with_the_token() {
        let mut q = signed_query("1700000000", "42");
        q.echostr = Some("echo-123".into());
        assert_eq!(handshake(&q, TOKEN).as_deref(), Ok("echo-123"));
        assert_eq!(
            handshake(&q, "another-token"),
            Err(EventError::BadSignature)
        );
        // Upper-case hex is the same signature.
        q.signature = q.signature.to_ascii_uppercase();
        assert_eq!(handshake(&q, TOKEN).as_deref(), Ok("echo-123"));
        q.nonce = "43".into();
        assert_eq!(handshake(&q, TOKEN), Err(EventError::BadSignature));
        let mut no_echo = signed_query("1700000000", "42");
        no_echo.echostr = None;
        assert_eq!(handshake(&no_echo, TOKEN), Err(EventError::BadSignature));
        assert_eq!(handshake(&q, ""), Err(EventError::BadSignature));
    }

    #[test]
    fn the_query_string_is_read_as_wechat_sends_it() {
        let q = PushQuery::parse(
            "signature=abc&timestamp=1&nonce=2&openid=o1&encrypt_type=aes&msg_signature=def",
        );
        assert_eq!((q.signature.as_str(), q.timestamp.as_str()), ("abc", "1"));
        assert!(q.is_safe_mode());
        assert_eq!(q.msg_signature.as_deref(), Some("def"));
        assert!(!PushQuery::parse("").is_safe_mode());
    }

    #[test]
    fn a_plain_push_with_the_right_signature_gives_its_verdict() {
        let push = receiver(None)
            .open(&signed_query("1626959646", "n1"), RISKY_PUSH)
            .unwrap();
        assert_eq!(
            push,
            Push::MediaCheck(MediaCheck {
                trace_id: "60f96f1d-3845297a-1976a3ae".into(),
                appid: Some(APPID.into()),
                outcome: MediaOutcome::Checked {
                    verdict: Verdict::Risky,
                    label: Some(20002)
                },
            })
        );
    }

    #[test]
    fn a_wrong_signature_is_refused_before_the_body_is_read() {
        let mut q = signed_query("1626959646", "n1");
        q.signature = sign(&["not-the-token", "1626959646", "n1"]);
        assert_eq!(
            receiver(None).open(&q, RISKY_PUSH),
            Err(EventError::BadSignature)
        );
        q.signature.clear();
        assert_eq!(
            receiver(None).open(&q, "not even json"),
            Err(EventError::BadSignature)
        );
    }

    #[test]
    fn the_parser_takes_strings_for_numbers_and_a_missing_errcode_as_success() {
        let body = r#"{"MsgType":"event","Event":"wxa_media_check","trace_id":"t-1","version":"2","result":{"suggest":"pass","label":"100"}}"#;
        assert_eq!(
            parse_push(body).unwrap(),
            Push::MediaCheck(MediaCheck {
                trace_id: "t-1".into(),
                appid: None,
                outcome: MediaOutcome::Checked {
                    verdict: Verdict::Pass,
                    label: Some(100)
                },
            })
        );
        let review = r#"{"MsgType":"event","Event":"wxa_media_check","trace_id":"t-2","errcode":"0","result":{"suggest":"Review","label":21000}}"#;
        assert!(matches!(
            parse_push(review).unwrap(),
            Push::MediaCheck(MediaCheck {
                outcome: MediaOutcome::Checked {
                    verdict: Verdict::Review,
                    ..
                },
                ..
            })
        ));
    }

    #[test]
    fn a_push_that_reports_an_error_or_no_result_carries_no_verdict() {
        let denied = r#"{"MsgType":"event","Event":"wxa_media_check","appid":"wx2","trace_id":"t-3","version":2,"detail":[],"errcode":43104,"errmsg":"this appid does not have permission"}"#;
        assert_eq!(
            parse_push(denied).unwrap(),
            Push::MediaCheck(MediaCheck {
                trace_id: "t-3".into(),
                appid: Some("wx2".into()),
                outcome: MediaOutcome::Failed {
                    errcode: 43104,
                    errmsg: "this appid does not have permission".into()
                },
            })
        );
        let empty = r#"{"MsgType":"event","Event":"wxa_media_check","trace_id":"t-4"}"#;
        assert!(matches!(
            parse_push(empty).unwrap(),
            Push::MediaCheck(MediaCheck {
                outcome: MediaOutcome::Failed { errcode: 0, .. },
                ..
            })
        ));
    }

    #[test]
    fn a_version_one_push_reads_isrisky() {
        let v1 = r#"{"MsgType":"event","Event":"wxa_media_check","trace_id":"t-5","isrisky":1,"extra_info_json":""}"#;
        assert!(matches!(
            parse_push(v1).unwrap(),
            Push::MediaCheck(MediaCheck {
                outcome: MediaOutcome::Checked {
                    verdict: Verdict::Risky,
                    label: None
                },
                ..
            })
        ));
    }

    #[test]
    fn other_messages_are_recognised_and_left_alone() {
        let text = r#"{"ToUserName":"gh_1","MsgType":"text","Content":"你好","MsgId":1}"#;
        assert_eq!(
            parse_push(text).unwrap(),
            Push::Other {
                msg_type: "text".into(),
                event: None
            }
        );
        assert!(matches!(
            parse_push(r#"{"MsgType":"event","Event":"wxa_media_check"}"#),
            Err(EventError::Malformed(_))
        ));
        assert!(matches!(
            parse_push("<xml><MsgType>event</MsgType></xml>"),
            Err(EventError::Malformed(_))
        ));
    }

    #[test]
    fn the_safe_mode_round_trips_and_checks_appid_and_padding() {
        let key = AesKey::from_encoding_key(ENCODING_KEY).unwrap();
        for message in ["", "a", RISKY_PUSH, &"长".repeat(33)] {
            let sealed = encrypt(&key, APPID, message, [7; 16]);
            assert_eq!(STANDARD.decode(&sealed).unwrap().len() % PAD_BLOCK, 0);
            assert_eq!(decrypt(&key, APPID, &sealed).as_deref(), Ok(message));
            assert!(matches!(
                decrypt(&key, "wx-another", &sealed),
                Err(EventError::Malformed(_))
            ));
        }
        let other = AesKey::from_encoding_key(&"Z".repeat(43)).unwrap();
        assert!(decrypt(&other, APPID, &encrypt(&key, APPID, "x", [1; 16])).is_err());
        assert!(decrypt(&key, APPID, "not base64!").is_err());
        assert!(AesKey::from_encoding_key("short").is_err());
    }

    #[test]
    fn a_safe_mode_push_is_verified_over_its_encrypt_then_opened() {
        let key = AesKey::from_encoding_key(ENCODING_KEY).unwrap();
        let sealed = encrypt(&key, APPID, RISKY_PUSH, [3; 16]);
        let body =
            serde_json::json!({ "ToUserName": "gh_38cc9f4a8a8e", "Encrypt": sealed }).to_string();
        let (t, n) = ("1626959646", "n2");
        let query = PushQuery {
            signature: sign(&[TOKEN, t, n]),
            timestamp: t.into(),
            nonce: n.into(),
            encrypt_type: Some("aes".into()),
            msg_signature: Some(sign(&[TOKEN, t, n, &sealed])),
            echostr: None,
        };
        let push = receiver(Some(&key)).open(&query, &body).unwrap();
        assert!(matches!(
            push,
            Push::MediaCheck(MediaCheck {
                outcome: MediaOutcome::Checked {
                    verdict: Verdict::Risky,
                    ..
                },
                ..
            })
        ));
        // Without the key the push cannot be read; with a wrong msg_signature it is refused.
        assert_eq!(
            receiver(None).open(&query, &body),
            Err(EventError::NoAesKey)
        );
        let mut wrong = query.clone();
        wrong.msg_signature = Some(sign(&[TOKEN, t, n, "something else"]));
        assert_eq!(
            receiver(Some(&key)).open(&wrong, &body),
            Err(EventError::BadSignature)
        );
        wrong.msg_signature = None;
        assert_eq!(
            receiver(Some(&key)).open(&wrong, &body),
            Err(EventError::BadSignature)
        );
    }
}
