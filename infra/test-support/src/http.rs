//! Requests as the mini-program sends them, and answers as a test reads them.

use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// How a test sends a form: the three encodings the API accepts.
#[derive(Debug, Clone, Copy)]
pub enum Encoding {
    Multipart,
    Urlencoded,
    Json,
}

pub const ENCODINGS: [Encoding; 3] = [Encoding::Multipart, Encoding::Urlencoded, Encoding::Json];

/// A POST of `fields` in `enc`, with a bearer `token` if given.
pub fn post_form(
    path: &str,
    enc: Encoding,
    fields: &[(&str, &str)],
    token: Option<&str>,
) -> Request {
    let (content_type, body) = match enc {
        Encoding::Multipart => {
            let boundary = "emo-test-boundary-7f3a";
            let mut s = String::new();
            for (k, v) in fields {
                s.push_str(&format!(
                    "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
                ));
            }
            s.push_str(&format!("--{boundary}--\r\n"));
            (format!("multipart/form-data; boundary={boundary}"), s)
        }
        Encoding::Urlencoded => (
            "application/x-www-form-urlencoded".to_owned(),
            serde_urlencoded::to_string(fields).unwrap(),
        ),
        Encoding::Json => {
            let map: serde_json::Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect();
            (
                "application/json".to_owned(),
                Value::Object(map).to_string(),
            )
        }
    };
    raw_post(path, Some(&content_type), body.into_bytes(), token)
}

/// A POST of exactly these bytes.
pub fn raw_post(
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
    token: Option<&str>,
) -> Request {
    let mut b = http::Request::builder().method("POST").uri(path);
    if let Some(ct) = content_type {
        b = b.header("content-type", ct);
    }
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::Binary(body)).unwrap()
}

/// A JSON POST (what `wx.request` sends), to `emo-local`'s default host.
pub fn post_json(path: &str, fields: &Value, token: Option<&str>) -> Request {
    let mut b = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", "127.0.0.1:3000")
        .header("content-type", "application/json");
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    b.body(Body::Text(fields.to_string())).unwrap()
}

/// A GET with a bearer `token`, to `emo-local`'s default host.
pub fn get(path: &str, token: &str) -> Request {
    http::Request::builder()
        .method("GET")
        .uri(path)
        .header("host", "127.0.0.1:3000")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::Empty)
        .unwrap()
}

/// The body's bytes.
pub fn body_bytes(resp: &Response<Body>) -> Vec<u8> {
    match resp.body() {
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    }
}

/// Status and JSON body of an answer, checking it says it is JSON.
pub fn read(resp: Response<Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    (
        status,
        serde_json::from_slice(&body_bytes(&resp)).expect("every response is JSON"),
    )
}

/// Status and JSON body of an answer (`null` when the body is not JSON).
pub fn read_lenient(resp: Response<Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_slice(&body_bytes(&resp)).unwrap_or(Value::Null),
    )
}
