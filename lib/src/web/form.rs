//! Request bodies as a flat map of text fields.
//!
//! The spec says `multipart/form-data`; `wx.request` sends `application/x-www-form-urlencoded` or
//! `application/json`, and the spec's own example is JSON. All three are accepted, and the handlers
//! never know which one arrived.

use std::collections::HashMap;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use lambda_http::{Body, Request};

/// The most a body may hold. API Gateway and Lambda refuse bigger payloads before we see them;
/// the local server enforces the same bound.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The text fields of a request body.
#[derive(Debug, Default, Clone)]
pub struct Form {
    fields: HashMap<String, String>,
}

/// Why a body could not be read; the text is what the client reads (with a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("{0}")]
    Malformed(String),
    #[error("{0} is required")]
    Missing(&'static str),
}

impl Form {
    /// A required field; an empty value counts as missing.
    pub fn required(&self, name: &'static str) -> Result<&str, FormError> {
        self.optional(name).ok_or(FormError::Missing(name))
    }

    /// An optional field; an empty value counts as absent.
    pub fn optional(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn insert(&mut self, name: String, value: String) {
        // The first occurrence wins, as in most form decoders.
        self.fields.entry(name).or_insert(value);
    }

    /// Reads the body of `req` according to its `Content-Type`.
    ///
    /// With no `Content-Type`, a body that starts with `{` is read as JSON and anything else as
    /// urlencoded. Any other type, or a body that does not parse as its type says, is an error.
    pub async fn parse(req: &Request) -> Result<Form, FormError> {
        let bytes: &[u8] = match req.body() {
            Body::Empty => &[],
            Body::Text(t) => t.as_bytes(),
            Body::Binary(b) => b,
            _ => &[],
        };
        if bytes.len() > MAX_BODY_BYTES {
            return Err(FormError::Malformed("request body is too large".into()));
        }
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let essence = content_type.as_deref().map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
        match essence.as_deref() {
            Some("multipart/form-data") => {
                parse_multipart(content_type.as_deref().unwrap_or_default(), bytes).await
            }
            Some("application/x-www-form-urlencoded") => parse_urlencoded(bytes),
            Some(e) if e == "application/json" || e.ends_with("+json") || e == "text/json" => {
                parse_json(bytes)
            }
            None | Some("") if bytes.trim_ascii_start().starts_with(b"{") => parse_json(bytes),
            None | Some("") => parse_urlencoded(bytes),
            Some(other) => Err(FormError::Malformed(format!(
                "unsupported Content-Type {other}: send multipart/form-data, \
                 application/x-www-form-urlencoded or application/json"
            ))),
        }
    }
}

fn parse_urlencoded(bytes: &[u8]) -> Result<Form, FormError> {
    // form_urlencoded would replace invalid UTF-8 silently; a password must arrive exactly.
    if std::str::from_utf8(bytes).is_err() {
        return Err(FormError::Malformed("form body is not valid UTF-8".into()));
    }
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|e| FormError::Malformed(format!("form body cannot be parsed: {e}")))?;
    let mut form = Form::default();
    for (k, v) in pairs {
        form.insert(k, v);
    }
    Ok(form)
}

fn parse_json(bytes: &[u8]) -> Result<Form, FormError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| FormError::Malformed(format!("JSON body cannot be parsed: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(FormError::Malformed("JSON body must be an object".into()));
    };
    let mut form = Form::default();
    for (k, v) in map {
        let text = match v {
            serde_json::Value::String(s) => s,
            // A phone sent as a JSON number is still a phone.
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Null => continue,
            _ => {
                return Err(FormError::Malformed(format!(
                    "JSON field {k} must be a string"
                )));
            }
        };
        form.insert(k, text);
    }
    Ok(form)
}

async fn parse_multipart(content_type: &str, bytes: &[u8]) -> Result<Form, FormError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| FormError::Malformed("multipart body has no boundary".into()))?;
    let body = Bytes::copy_from_slice(bytes);
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = Form::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(FormError::Malformed(format!(
                    "multipart body cannot be parsed: {e}"
                )));
            }
        };
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let value = field.bytes().await.map_err(|e| {
            FormError::Malformed(format!("multipart field {name} cannot be read: {e}"))
        })?;
        let text = String::from_utf8(value.to_vec()).map_err(|_| {
            FormError::Malformed(format!("multipart field {name} is not UTF-8 text"))
        })?;
        form.insert(name, text);
    }
    Ok(form)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(content_type: Option<&str>, body: impl Into<Body>) -> Request {
        let mut b = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = content_type {
            b = b.header(CONTENT_TYPE, ct);
        }
        b.body(body.into()).unwrap()
    }

    #[tokio::test]
    async fn the_three_encodings_give_the_same_fields() {
        let multipart = "--XyZ\r\nContent-Disposition: form-data; name=\"phone\"\r\n\r\n13800000000\r\n\
                         --XyZ\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\np@ss word&=1\r\n--XyZ--\r\n";
        let forms = [
            Form::parse(&request(
                Some("multipart/form-data; boundary=XyZ"),
                Body::Binary(multipart.into()),
            ))
            .await,
            Form::parse(&request(
                Some("application/x-www-form-urlencoded"),
                "phone=13800000000&password=p%40ss+word%26%3D1",
            ))
            .await,
            Form::parse(&request(
                Some("application/json; charset=utf-8"),
                r#"{"phone":"13800000000","password":"p@ss word&=1"}"#,
            ))
            .await,
            Form::parse(&request(
                None,
                r#" {"phone":13800000000,"password":"p@ss word&=1"}"#,
            ))
            .await,
        ];
        for f in forms {
            let f = f.unwrap();
            assert_eq!(f.required("phone").unwrap(), "13800000000");
            assert_eq!(f.required("password").unwrap(), "p@ss word&=1");
        }
    }

    #[tokio::test]
    async fn unparsable_bodies_are_malformed_not_missing() {
        let cases = [
            request(Some("application/json"), "{not json"),
            request(Some("application/json"), "[1,2]"),
            request(Some("application/json"), r#"{"phone":{"a":1}}"#),
            request(Some("multipart/form-data"), "no boundary"),
            request(
                Some("multipart/form-data; boundary=B"),
                "--B\r\ngarbage without end",
            ),
            request(
                Some("application/x-www-form-urlencoded"),
                Body::Binary(vec![0xff, 0xfe, b'=']),
            ),
            request(Some("text/xml"), "<phone/>"),
        ];
        for req in cases {
            let err = Form::parse(&req).await.unwrap_err();
            assert!(matches!(err, FormError::Malformed(_)), "{err:?}");
        }
    }

    #[tokio::test]
    async fn empty_and_absent_fields_are_missing() {
        let f = Form::parse(&request(
            Some("application/json"),
            r#"{"phone":"","x":null}"#,
        ))
        .await
        .unwrap();
        assert_eq!(f.required("phone"), Err(FormError::Missing("phone")));
        assert_eq!(f.required("x"), Err(FormError::Missing("x")));
        assert_eq!(FormError::Missing("phone").to_string(), "phone is required");
        let empty = Form::parse(&request(None, Body::Empty)).await.unwrap();
        assert!(empty.optional("phone").is_none());
    }
}
