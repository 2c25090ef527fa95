//! `GET|POST /api/v1/wechat/events`: WeChat's message push (set in the mini-program's admin
//! console, 开发管理 → 消息推送, JSON format). `GET` is the console's handshake: `echostr` back as
//! text when the signature holds. `POST` is a push: verified (and decrypted in safe mode) by
//! [`crate::wechat::events`], a `wxa_media_check` recorded on its job
//! ([`crate::job::check::apply_media_check`]), and `success` answered as text, which is what
//! WeChat waits for; it pushes again otherwise. A wrong signature gets 401 `{"error": …}` and
//! changes nothing. A push for an unknown trace id, or a duplicate, is answered `success` too, so
//! WeChat does not retry it forever.

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::AppState;
use crate::job::check::{Applied, apply_media_check};
use crate::web::ApiError;
use crate::web::response::video_error;
use crate::wechat::events::{EventError, Push, PushQuery, handshake};

/// Pushes larger than this are not WeChat's (a media check's is under 1 KB).
const MAX_BODY: usize = 64 * 1024;

fn text(status: StatusCode, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::Text(body.into()))
        .expect("a valid response")
}

/// The handler, for both methods.
pub async fn events(state: &AppState, req: Request) -> Response<Body> {
    match inner(state, &req).await {
        Ok(resp) => resp,
        Err(e) => crate::api::video::respond("wechat-events", Err(e)),
    }
}

async fn inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let Some(push) = &state.push else {
        return Err(ApiError::NotFound(
            "WeChat pushes are not configured".into(),
        ));
    };
    let query = PushQuery::parse(req.uri().query().unwrap_or_default());
    if req.method() == Method::GET {
        return match handshake(&query, &push.token) {
            Ok(echo) => Ok(text(StatusCode::OK, echo)),
            Err(_) => {
                tracing::warn!("a handshake with a wrong signature was refused");
                Ok(video_error(
                    StatusCode::UNAUTHORIZED,
                    "signature does not match",
                ))
            }
        };
    }
    if req.method() != Method::POST {
        return Ok(video_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and POST are allowed",
        ));
    }
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_BODY {
        return Ok(video_error(StatusCode::PAYLOAD_TOO_LARGE, "push too large"));
    }
    let body = String::from_utf8_lossy(body);
    let opened = match push.receiver().open(&query, &body) {
        Ok(p) => p,
        Err(EventError::BadSignature) => {
            tracing::warn!("a push with a wrong signature was refused");
            return Ok(video_error(
                StatusCode::UNAUTHORIZED,
                "signature does not match",
            ));
        }
        Err(EventError::NoAesKey) => {
            return Err(anyhow::anyhow!(
                "a safe-mode push arrived: set WECHAT_ENCODING_AES_KEY to the console's key"
            )
            .into());
        }
        Err(EventError::Malformed(why)) => {
            tracing::warn!(why, "a signed push could not be read; acknowledged");
            return Ok(text(StatusCode::OK, "success"));
        }
    };
    let check = match opened {
        Push::MediaCheck(check) => check,
        Push::Other { msg_type, event } => {
            tracing::info!(msg_type, event, "a push Emo does not act on; acknowledged");
            return Ok(text(StatusCode::OK, "success"));
        }
    };
    if let Some(appid) = &check.appid
        && appid != &push.appid
    {
        tracing::warn!(%appid, "a media check for another appid; ignored");
        return Ok(text(StatusCode::OK, "success"));
    }
    match apply_media_check(state, &check).await? {
        Applied::Recorded | Applied::Stale => {}
        Applied::Unknown => {
            tracing::warn!(trace_id = %check.trace_id, "a media check for no known job; ignored")
        }
    }
    Ok(text(StatusCode::OK, "success"))
}
