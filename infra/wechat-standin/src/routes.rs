//! The API's handlers: the access-token check and queued faults every call passes first, then
//! each call's rules; and the stand-in-only `/_standin/...` endpoints.

#![allow(clippy::result_large_err)] // a refusal is an answer, built once a call

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::{Api, Fault, Inner, MediaCheck, MediaState, SentMessage, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/sns/jscode2session", get(code2session))
        .route("/wxa/msg_sec_check", post(msg_sec_check))
        .route("/wxa/media_check_async", post(media_check_async))
        .route("/cgi-bin/message/subscribe/send", post(subscribe_send))
        .route("/_standin/stats", get(stats_route))
        .route("/_standin/expire-token", post(expire_route))
        .route("/_standin/drop-next-pushes", post(drop_route))
        .route("/_standin/fail-next", post(fail_route))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") })
        .with_state(shared)
}

fn answer(v: Value) -> Response {
    ([(CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn err(errcode: i64, errmsg: &str) -> Response {
    answer(json!({"errcode": errcode, "errmsg": errmsg}))
}

fn query(raw: Option<String>) -> HashMap<String, String> {
    serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default()
}

/// Counts the call and applies a queued fault aimed at it, if any.
fn begin(shared: &Shared, api: Api) -> Result<(), Response> {
    let mut s = shared.lock();
    *s.calls.entry(api).or_default() += 1;
    let i = s
        .faults
        .iter()
        .position(|(a, _)| a.is_none_or(|a| a == api));
    match i.and_then(|i| s.faults.remove(i)) {
        None => Ok(()),
        Some((_, Fault::Errcode(-1))) => Err(err(-1, "system error")),
        Some((_, Fault::Errcode(code))) => Err(err(code, "injected by the stand-in")),
        Some((_, Fault::Http(status))) => Err((
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
            "stand-in: injected failure",
        )
            .into_response()),
    }
}

/// The `access_token` query parameter, checked.
fn check_token(s: &Inner, q: &HashMap<String, String>) -> Result<(), Response> {
    let Some(token) = q.get("access_token").filter(|t| !t.is_empty()) else {
        return Err(err(41001, "access_token missing"));
    };
    match s.tokens.get(token) {
        None | Some((_, true)) => Err(err(
            40001,
            "invalid credential, access_token is invalid or not latest",
        )),
        Some((until, false)) if *until <= Instant::now() => Err(err(42001, "access_token expired")),
        Some(_) => Ok(()),
    }
}

fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| err(47001, "data format error"))
}

/// A number WeChat accepts as `2` or `"2"`.
fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

async fn stable_token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    if let Err(r) = begin(&shared, Api::StableToken) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let c = &shared.config;
    if body["grant_type"] != "client_credential" {
        return err(40002, "invalid grant_type");
    }
    if body["appid"] != c.appid.as_str() {
        return err(40013, "invalid appid");
    }
    if body["secret"] != c.secret.as_str() {
        return err(40125, "invalid appsecret");
    }
    let force = body["force_refresh"].as_bool().unwrap_or(false);
    let mut s = shared.lock();
    let now = Instant::now();
    if force {
        s.force_refreshes += 1;
        crate::expire_token_locked(&mut s);
    }
    if let Some(current) = s.current.clone()
        && let Some((until, false)) = s.tokens.get(&current).copied()
        && until > now
    {
        return answer(json!({
            "access_token": current,
            "expires_in": until.duration_since(now).as_secs(),
        }));
    }
    let token = format!("standin-token-{}", hex::encode(rand::random::<[u8; 16]>()));
    s.tokens.insert(token.clone(), (now + c.token_ttl, false));
    s.current = Some(token.clone());
    s.tokens_issued += 1;
    answer(json!({"access_token": token, "expires_in": c.token_ttl.as_secs()}))
}

async fn code2session(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    if let Err(r) = begin(&shared, Api::Code2Session) {
        return r;
    }
    let q = query(raw);
    let c = &shared.config;
    if q.get("appid") != Some(&c.appid) {
        return err(40013, "invalid appid");
    }
    if q.get("secret") != Some(&c.secret) {
        return err(40125, "invalid appsecret");
    }
    if q.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return err(40002, "invalid grant_type");
    }
    let code = q.get("js_code").map(String::as_str).unwrap_or("");
    if code.is_empty() || code.len() > 128 || code.starts_with("wx-bad") {
        return err(40029, "invalid code");
    }
    if code.starts_with("wx-used") {
        return err(40163, "code been used");
    }
    if code.starts_with("wx-busy") {
        return err(
            45011,
            "api minute-quota reach limit  mustslower  retry next minute",
        );
    }
    if code.starts_with("wx-risky-user") {
        return err(40226, "invalid code, high risk user");
    }
    if code.starts_with("wx-down") {
        return err(-1, "system error");
    }
    let mut s = shared.lock();
    if !s.used_codes.insert(code.to_owned()) {
        return err(40163, "code been used");
    }
    let openid = crate::openid_for(&c.appid, code);
    let user = code.split('.').next().unwrap_or(code);
    if user.contains("nosub") {
        s.refusing.insert(openid.clone());
    }
    s.openids.insert(openid.clone());
    let unionid = format!("u{}", &openid[1..]);
    answer(json!({
        "openid": openid,
        "session_key": format!("standin-session-key-{}", hex::encode(rand::random::<[u8; 8]>())),
        "unionid": unionid,
    }))
}

/// The checks shared by both content checks: token, version 2, a known openid, a scene.
fn check_security_request(
    s: &Inner,
    q: &HashMap<String, String>,
    body: &Value,
) -> Result<String, Response> {
    check_token(s, q)?;
    if number(&body["version"]) != Some(2) {
        return Err(err(47001, "data format error: version must be 2"));
    }
    let openid = body["openid"].as_str().unwrap_or("");
    if !s.openids.contains(openid) {
        return Err(err(40003, "invalid openid"));
    }
    if !number(&body["scene"]).is_some_and(|n| (1..=4).contains(&n)) {
        return Err(err(40129, "invalid scene"));
    }
    Ok(openid.to_owned())
}

fn trace_id() -> String {
    format!(
        "{}-{}",
        hex::encode(rand::random::<[u8; 8]>()),
        hex::encode(rand::random::<[u8; 4]>())
    )
}

async fn msg_sec_check(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(r) = begin(&shared, Api::MsgSecCheck) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let q = query(raw);
    if let Err(r) = check_security_request(&shared.lock(), &q, &body) {
        return r;
    }
    let content = body["content"].as_str().unwrap_or("");
    if content.is_empty() {
        return err(44002, "empty post data");
    }
    if content.chars().count() > 2500 {
        return err(47001, "data format error: content too long");
    }
    if content.contains("[wx:down]") {
        return err(-1, "system error");
    }
    if content.contains("[wx:5xx]") {
        return (StatusCode::SERVICE_UNAVAILABLE, "stand-in: [wx:5xx]").into_response();
    }
    let (suggest, label) = if content.contains("[wx:risky]") {
        ("risky", 20001)
    } else if content.contains("[wx:review]") {
        ("review", 21000)
    } else {
        ("pass", 100)
    };
    answer(json!({
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": suggest, "label": label},
        "detail": [{"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90}],
        "trace_id": trace_id(),
    }))
}

async fn media_check_async(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(r) = begin(&shared, Api::MediaCheckAsync) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let q = query(raw);
    let openid = match check_security_request(&shared.lock(), &q, &body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    if number(&body["media_type"]) != Some(2) {
        return err(47001, "data format error: media_type must be 2 (image)");
    }
    let url = body["media_url"].as_str().unwrap_or("");
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return err(47001, "data format error: media_url");
    }
    if url.contains("wx-down") {
        return err(-1, "system error");
    }
    if url.contains("wx-5xx") {
        return (StatusCode::SERVICE_UNAVAILABLE, "stand-in: wx-5xx").into_response();
    }
    let id = trace_id();
    shared.lock().media.push(MediaCheck {
        trace_id: id.clone(),
        media_url: url.to_owned(),
        openid,
        state: MediaState::Outstanding,
        verdict: None,
        push_attempts: 0,
    });
    tokio::spawn(crate::push::check_and_push(shared.clone(), id.clone()));
    answer(json!({"errcode": 0, "errmsg": "ok", "trace_id": id}))
}

async fn subscribe_send(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(r) = begin(&shared, Api::SubscribeSend) {
        return r;
    }
    let body = match json_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let q = query(raw);
    let mut s = shared.lock();
    if let Err(r) = check_token(&s, &q) {
        return r;
    }
    let touser = body["touser"].as_str().unwrap_or("");
    if !s.openids.contains(touser) {
        return err(40003, "invalid openid");
    }
    let template_id = body["template_id"].as_str().unwrap_or("");
    if template_id.is_empty() {
        return err(40037, "invalid template_id");
    }
    let data_ok = body["data"]
        .as_object()
        .is_some_and(|d| !d.is_empty() && d.values().all(|v| v["value"].is_string()));
    if !data_ok {
        return err(47003, "argument invalid! data.value must be a string");
    }
    let state = body["miniprogram_state"].as_str();
    if !state.is_none_or(|st| matches!(st, "formal" | "trial" | "developer")) {
        return err(47003, "argument invalid! miniprogram_state");
    }
    if s.refusing.contains(touser) {
        return err(43101, "user refuse to accept the msg");
    }
    s.messages.push(SentMessage {
        touser: touser.to_owned(),
        template_id: template_id.to_owned(),
        page: body["page"].as_str().map(str::to_owned),
        data: body["data"].clone(),
        miniprogram_state: state.map(str::to_owned),
    });
    answer(json!({"errcode": 0, "errmsg": "ok"}))
}

pub(crate) fn stats(s: &Inner) -> Value {
    let calls: serde_json::Map<String, Value> = Api::ALL
        .iter()
        .map(|a| {
            (
                a.name().to_owned(),
                json!(s.calls.get(a).copied().unwrap_or(0)),
            )
        })
        .collect();
    json!({
        "tokens_issued": s.tokens_issued,
        "force_refreshes": s.force_refreshes,
        "calls": calls,
        "messages": s.messages.iter().map(|m| json!({
            "touser": m.touser, "template_id": m.template_id, "page": m.page,
            "data": m.data, "miniprogram_state": m.miniprogram_state,
        })).collect::<Vec<_>>(),
        "media_checks": s.media.iter().map(|m| json!({
            "trace_id": m.trace_id, "media_url": m.media_url, "openid": m.openid,
            "state": format!("{:?}", m.state).to_lowercase(), "verdict": m.verdict,
            "push_attempts": m.push_attempts,
        })).collect::<Vec<_>>(),
    })
}

async fn stats_route(State(shared): State<Arc<Shared>>) -> Response {
    answer(stats(&shared.lock()))
}

async fn expire_route(State(shared): State<Arc<Shared>>) -> Response {
    crate::expire_token(&shared);
    answer(json!({"ok": true}))
}

fn n_of(q: &HashMap<String, String>) -> usize {
    q.get("n").and_then(|n| n.parse().ok()).unwrap_or(1)
}

async fn drop_route(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    shared.lock().drop_pushes += n_of(&query(raw));
    answer(json!({"ok": true}))
}

async fn fail_route(State(shared): State<Arc<Shared>>, RawQuery(raw): RawQuery) -> Response {
    let q = query(raw);
    let api = match q.get("api") {
        None => None,
        Some(name) => match Api::parse(name) {
            Some(a) => Some(a),
            None => return (StatusCode::BAD_REQUEST, "unknown api").into_response(),
        },
    };
    let errcode = q.get("errcode").and_then(|e| e.parse().ok()).unwrap_or(-1);
    let mut s = shared.lock();
    for _ in 0..n_of(&q) {
        s.faults.push_back((api, Fault::Errcode(errcode)));
    }
    answer(json!({"ok": true}))
}
