//! `Form::parse` on any `Content-Type` and body never panics, and any map of fields sent as
//! multipart, urlencoded or JSON parses back to the same fields.

#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use arbitrary::Arbitrary;
use emo::web::Form;
use http::header::CONTENT_TYPE;
use lambda_http::{Body, Request};
use libfuzzer_sys::fuzz_target;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime")
});

#[derive(Debug, Arbitrary)]
enum ContentType {
    Absent,
    /// `multipart/form-data; boundary=<b>`: the fuzzer reaches multer with a boundary it chose.
    Multipart(String),
    Urlencoded,
    /// `application/json` plus whatever parameters or suffix.
    Json(String),
    Raw(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum Input {
    Raw {
        content_type: ContentType,
        body: Vec<u8>,
        as_text: bool,
    },
    RoundTrip(BTreeMap<String, String>),
}

fn request(content_type: Option<&[u8]>, body: Body) -> Option<Request> {
    let mut b = http::Request::builder().method("POST").uri("/x");
    if let Some(ct) = content_type {
        b = b.header(CONTENT_TYPE, http::HeaderValue::from_bytes(ct).ok()?);
    }
    b.body(body).ok()
}

fn parse(req: &Request) -> Result<Form, emo::web::FormError> {
    RUNTIME.block_on(Form::parse(req))
}

fn raw(content_type: ContentType, body: Vec<u8>, as_text: bool) {
    let ct: Option<Vec<u8>> = match content_type {
        ContentType::Absent => None,
        ContentType::Multipart(b) => Some(format!("multipart/form-data; boundary={b}").into()),
        ContentType::Urlencoded => Some(b"application/x-www-form-urlencoded".to_vec()),
        ContentType::Json(rest) => Some(format!("application/json{rest}").into()),
        ContentType::Raw(bytes) => Some(bytes),
    };
    let body = match (as_text, String::from_utf8(body)) {
        (true, Ok(text)) => Body::Text(text),
        (_, Ok(text)) => Body::Binary(text.into_bytes()),
        (_, Err(e)) => Body::Binary(e.into_bytes()),
    };
    if let Some(req) = request(ct.as_deref(), body) {
        let _ = parse(&req);
    }
}

/// Each encoding is checked only on the fields it can carry: a multipart name is a quoted header
/// parameter, so it cannot hold `"`, `\` or control characters (browsers percent-encode those).
fn round_trip(fields: BTreeMap<String, String>) {
    let check = |form: Form, fields: &BTreeMap<String, String>, how: &str| {
        for (k, v) in fields {
            let want = Some(v.as_str()).filter(|v| !v.is_empty());
            assert_eq!(form.optional(k), want, "{how}: field {k:?}");
        }
    };

    let json = serde_json::to_string(&fields).expect("a map of strings is JSON");
    let req = request(Some(b"application/json"), Body::Text(json)).expect("a request");
    check(parse(&req).expect("JSON parses"), &fields, "json");

    let urlencoded = urlencode(&fields);
    let req = request(
        Some(b"application/x-www-form-urlencoded"),
        Body::Text(urlencoded.clone()),
    )
    .expect("a request");
    check(
        parse(&req).expect("urlencoded parses"),
        &fields,
        "urlencoded",
    );
    // Without a Content-Type a body is urlencoded unless it starts with `{`, which one never does.
    let req = request(None, Body::Text(urlencoded)).expect("a request");
    check(parse(&req).expect("untyped parses"), &fields, "untyped");

    let multipart_safe: BTreeMap<String, String> = fields
        .into_iter()
        .filter(|(k, _)| {
            !k.is_empty() && !k.chars().any(|c| c == '"' || c == '\\' || c.is_control())
        })
        .collect();
    let boundary = "emo-fuzz-boundary-7Hq2";
    if multipart_safe.values().any(|v| v.contains(boundary)) {
        return;
    }
    let mut body = Vec::new();
    for (k, v) in &multipart_safe {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(v.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/form-data; boundary={boundary}");
    let req = request(Some(ct.as_bytes()), Body::Binary(body)).expect("a request");
    check(
        parse(&req).expect("multipart parses"),
        &multipart_safe,
        "multipart",
    );
}

/// `application/x-www-form-urlencoded` as the WHATWG URL standard writes it, kept here so the
/// target does not share an encoder with the parser under test.
fn urlencode(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (k, v) in fields {
        if !out.is_empty() {
            out.push('&');
        }
        encode_component(k, &mut out);
        out.push('=');
        encode_component(v, &mut out);
    }
    out
}

fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw {
            content_type,
            body,
            as_text,
        } => raw(content_type, body, as_text),
        Input::RoundTrip(fields) => round_trip(fields),
    }
});
