//! The file host: video URLs signed like OSS's (expiry, key id, a percent-encoded signature), and
//! the handler that serves the video only to a request with that exact signature and no
//! `Authorization` header.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, StatusCode, Uri};

use crate::state::Shared;
use crate::tasks::{Outcome, Task};

pub(crate) fn video_url(shared: &Shared, task_id: &str, task: &Task) -> String {
    let expires = task
        .submitted_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + 86_400;
    format!(
        "{}/files/{task_id}.mp4?Expires={expires}&OSSAccessKeyId=standin&Signature={}",
        shared.origin, task.signature
    )
}

pub(crate) async fn serve_file(
    State(shared): State<Arc<Shared>>,
    Path(file): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let oss_error = |status: u16, code: &str, message: &str| {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        );
        (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            [(CONTENT_TYPE, "application/xml")],
            body,
        )
            .into_response()
    };
    if headers.contains_key(AUTHORIZATION) {
        return oss_error(
            400,
            "InvalidArgument",
            "Authorization header and query-string signature cannot both be present.",
        );
    }
    let Some(task_id) = file.strip_suffix(".mp4") else {
        return oss_error(404, "NoSuchKey", "The specified key does not exist.");
    };
    // Compared raw, as sent: a client that decodes or re-encodes the query string fails here.
    let signature = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("Signature="))
        .unwrap_or("");
    let render = {
        let state = shared.lock();
        let Some(task) = state.tasks.get(task_id) else {
            return oss_error(404, "NoSuchKey", "The specified key does not exist.");
        };
        if signature != task.signature {
            return oss_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            );
        }
        if task.prompt.contains("[standin:gone]") {
            return oss_error(404, "NoSuchKey", "The specified key does not exist.");
        }
        if task.prompt.contains("[standin:corrupt]") {
            return (
                StatusCode::OK,
                [(CONTENT_TYPE, "video/mp4")],
                "\0\0\0\x18ftypmp42 but the rest of this file is not a video",
            )
                .into_response();
        }
        match &task.outcome {
            Outcome::Succeed(render) => render.clone(),
            _ => return oss_error(404, "NoSuchKey", "The specified key does not exist."),
        }
    };
    match render.get() {
        Some(Ok(bytes)) => {
            (StatusCode::OK, [(CONTENT_TYPE, "video/mp4")], bytes.clone()).into_response()
        }
        _ => oss_error(404, "NoSuchKey", "The specified key does not exist."),
    }
}

/// Like an OSS signature: base64 of a 20-byte HMAC, percent-encoded (so `%2B`, `%2F`, `%3D`
/// appear, and a client that decodes the query string breaks it).
pub(crate) fn signature() -> String {
    let raw: [u8; 20] = rand::random();
    STANDARD
        .encode(raw)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}
