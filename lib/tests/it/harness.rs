//! Builds an [`AppState`] on either backend with cheap password hashing, and API requests.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use emo::store::aws::{DynamoUserStore, provision};
use emo::store::local::{LocalDb, LocalUserStore};
use emo::store::{DailyQuota, UserStore};
use emo::{AppState, Role};
use lambda_http::{Body, Request, Response};
use serde_json::Value;

/// A state plus whatever must live as long as it (the local backend's temp dir).
pub struct TestEnv {
    pub state: Arc<AppState>,
    _dir: Option<tempfile::TempDir>,
}

/// Cheap password hashing for tests (a dedicated test checks the production cost).
const CHEAP_ARGON2: [(&str, &str); 3] = [
    ("EMO_ARGON2_MEMORY_KIB", "256"),
    ("EMO_ARGON2_ITERATIONS", "1"),
    ("EMO_ARGON2_PARALLELISM", "1"),
];

pub const TEST_SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

/// The two user ports one adapter serves.
pub trait Users: UserStore + DailyQuota {}
impl<T: UserStore + DailyQuota> Users for T {}

pub fn local_users() -> (Arc<dyn Users>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = LocalDb::open(dir.path()).unwrap();
    (Arc::new(LocalUserStore::new(db)), dir)
}

/// The emulator's SDK config, or `None` (a skip) when no emulator is configured outside CI.
pub async fn emulator() -> Option<aws_config::SdkConfig> {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the AWS emulator tests, but AWS_ENDPOINT_URL is unset"
        );
        eprintln!("skipped: AWS_ENDPOINT_URL is unset (run the README's test command)");
        return None;
    }
    Some(emo::store::aws::sdk_config().await)
}

/// A name no other test uses, so tests share the emulator without stepping on each other; also a
/// valid S3 bucket prefix (lowercase, digits, dashes).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub async fn aws_users() -> Option<Arc<dyn Users>> {
    let conf = emulator().await?;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let table = unique_name("emo-users");
    DynamoUserStore::create_table(&client, &table)
        .await
        .unwrap();
    Some(Arc::new(DynamoUserStore::new(client, table)))
}

async fn state(role_vars: &[(&str, &str)], dir: Option<tempfile::TempDir>) -> TestEnv {
    let secret = std::str::from_utf8(TEST_SECRET).unwrap();
    let mut vars: Vec<(&str, &str)> = CHEAP_ARGON2.to_vec();
    vars.push(("EMO_JWT_SECRET", secret));
    vars.extend_from_slice(role_vars);
    let state = AppState::from_vars(Role::Local, &vars)
        .await
        .expect("test settings are valid");
    TestEnv {
        state: Arc::new(state),
        _dir: dir,
    }
}

/// A state on the embedded backend, in a fresh temp dir.
pub async fn local_env(extra: &[(&str, &str)]) -> TestEnv {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let mut vars = vec![("EMO_DATA_DIR", data_dir.as_str())];
    vars.extend_from_slice(extra);
    state(&vars, Some(dir)).await
}

/// A state on the aws backend, on fresh tables, bucket and queue in the emulator.
pub async fn aws_env(extra: &[(&str, &str)]) -> Option<TestEnv> {
    let conf = emulator().await?;
    let resources = provision(&conf, &unique_name("emo"), Duration::from_secs(30))
        .await
        .unwrap();
    let mut vars: Vec<(&str, &str)> = resources.env().to_vec();
    vars.push(("EMO_BACKEND", "aws"));
    vars.extend_from_slice(extra);
    Some(state(&vars, None).await)
}

/// How a test sends a form: the three encodings the API accepts.
#[derive(Debug, Clone, Copy)]
pub enum Encoding {
    Multipart,
    Urlencoded,
    Json,
}

pub const ENCODINGS: [Encoding; 3] = [Encoding::Multipart, Encoding::Urlencoded, Encoding::Json];

pub fn post(path: &str, enc: Encoding, fields: &[(&str, &str)], token: Option<&str>) -> Request {
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

/// Status and JSON body of a response.
pub fn read(resp: Response<Body>) -> (u16, Value) {
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    let body = match resp.body() {
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    (
        status,
        serde_json::from_slice(&body).expect("every response is JSON"),
    )
}
