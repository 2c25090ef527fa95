//! The HTTP layer: the router, the middleware that records every request and applies the queued
//! hangs and garbled answers, the key check and queued rejections every API call passes first,
//! JSON bodies in and out, and DashScope's error answer.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::cancel::cancel_task;
use crate::files::serve_file;
use crate::list::{list_tasks, standin_tasks};
use crate::qwen::generate_text;
use crate::state::{Mishap, Shared};
use crate::tasks::{create_video, query_task};
use crate::{Call, SeenRequest};

/// Bodies above this answer 413, like DashScope's 10 MiB data-URI cap plus JSON around it.
const MAX_BODY_BYTES: usize = 12 << 20;

/// How many requests [`crate::StandinHandle::requests`] remembers (the binary may run for days).
const MAX_SEEN_REQUESTS: usize = 10_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/services/aigc/video-generation/video-synthesis",
            post(create_video),
        )
        .route("/api/v1/tasks", get(list_tasks))
        .route("/api/v1/tasks/", get(list_tasks))
        .route("/api/v1/tasks/{task_id}", get(query_task))
        .route("/api/v1/tasks/{task_id}/cancel", post(cancel_task))
        .route(
            "/api/v1/services/aigc/text-generation/generation",
            post(generate_text),
        )
        .route("/files/{file}", get(serve_file))
        .route("/_standin/tasks", get(standin_tasks))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn record(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let async_header = req.headers().contains_key("x-dashscope-async");
    let authorization = req.headers().contains_key(AUTHORIZATION);
    let api_key = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let call = if method == "POST" && path.ends_with("/video-synthesis") {
        Some(Call::Create)
    } else if method == "GET"
        && path
            .strip_prefix("/api/v1/tasks/")
            .is_some_and(|id| !id.is_empty())
    {
        Some(Call::Query)
    } else {
        None
    };
    let mishap = call.and_then(|call| {
        let mut state = shared.lock();
        let i = state.mishaps.iter().position(|(c, _)| *c == call)?;
        state.mishaps.remove(i).map(|(_, m)| m)
    });
    let mut resp = next.run(req).await;
    match mishap {
        Some(Mishap::Hang(delay)) => shared.hold(delay).await,
        Some(Mishap::Garble) => {
            resp = (
                StatusCode::OK,
                [(CONTENT_TYPE, "application/json")],
                "{\"output\": <html>upstream proxy error</html>",
            )
                .into_response();
        }
        None => {}
    }
    let status = resp.status().as_u16();
    tracing::debug!(target: "emo_standin", "{method} {path} {status}");
    let mut state = shared.lock();
    if state.seen.len() >= MAX_SEEN_REQUESTS {
        state.seen.pop_front();
    }
    state.seen.push_back(SeenRequest {
        method,
        path,
        async_header,
        authorization,
        api_key,
        status,
    });
    resp
}

async fn not_found() -> ApiError {
    error(404, "NotFound", "url error, please check url!")
}

/// What every API call checks first: the key, then any injected rejection.
pub(crate) fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let accepted = match &shared.config.api_key {
        Some(key) => !token.is_empty() && token == key,
        None => !token.is_empty(),
    };
    if !accepted {
        return Err(error(401, "InvalidApiKey", "Invalid API-key provided."));
    }
    if let Some(r) = shared.lock().rejections.pop_front() {
        return Err(error(r.status, &r.code, &r.message));
    }
    Ok(())
}

pub(crate) async fn read_json(body: Body) -> Result<Value, ApiError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| error(413, "BadRequest.TooLarge", "Payload Too Large"))?;
    serde_json::from_slice(&bytes).map_err(|_| {
        error(
            400,
            "InvalidParameter",
            "The request body is not valid JSON.",
        )
    })
}

pub(crate) fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A refused API call, answered with DashScope's error body `{"code","message","request_id"}`.
pub(crate) struct ApiError {
    status: u16,
    code: String,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(
            self.status,
            json!({"code": self.code, "message": self.message, "request_id": uuid_like()}),
        )
    }
}

pub(crate) fn error(status: u16, code: &str, message: &str) -> ApiError {
    ApiError {
        status,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

pub(crate) fn uuid_like() -> String {
    let v: u128 = rand::random();
    let hex = format!("{v:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
