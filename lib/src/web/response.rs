//! The contract's response envelopes. Users endpoints answer `{"code": 0|1, "message", "data"?}`;
//! video endpoints answer `{"code": 200, ...}` or `{"error": "..."}`.

use http::StatusCode;
use http::header::CONTENT_TYPE;
use lambda_http::{Body, Response};
use serde_json::{Value, json};

/// The message every unexpected failure shows; its cause goes to the log, never to the client.
pub const INTERNAL: &str = "internal server error";

pub fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::Text(body.to_string()))
        .expect("a status and a static header always build")
}

/// `{"code": 0, "message": …}`, HTTP 200.
pub fn user_ok(message: &str) -> Response<Body> {
    json_response(StatusCode::OK, &json!({ "code": 0, "message": message }))
}

/// `{"code": 0, "message": …, "data": …}`, HTTP 200.
pub fn user_ok_with(message: &str, data: Value) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "code": 0, "message": message, "data": data }),
    )
}

/// `{"code": 1, "message": …}` with the given status.
pub fn user_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "code": 1, "message": message }))
}

/// `{"error": …}` with the given status.
pub fn video_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": message }))
}
