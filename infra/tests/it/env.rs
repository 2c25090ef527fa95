//! A whole Emo in-process for job tests: an `AppState` on either backend, pointed at a fresh
//! DashScope stand-in, with the worker loop running, and helpers that speak the API through the
//! same router the local server uses.

use std::sync::Arc;
use std::time::Duration;

use emo::{AppState, Role};
use emo_standin::{Standin, StandinConfig, StandinHandle};
use lambda_http::{Body, Request};
use serde_json::{Value, json};

pub const SECRET: &str = "job-test-secret-job-test-secret-job!";

pub struct JobEnv {
    pub state: Arc<AppState>,
    pub standin: StandinHandle,
    pub data_dir: Option<tempfile::TempDir>,
    worker: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// The test settings (cheap argon2, short polls, leases and retries), then `vars`.
async fn state(vars: &[(&str, &str)]) -> AppState {
    let mut all: Vec<(&str, &str)> = vec![
        ("EMO_ARGON2_MEMORY_KIB", "256"),
        ("EMO_ARGON2_ITERATIONS", "1"),
        ("EMO_POLL_INTERVAL_SECS", "1"),
        ("EMO_LEASE_SECS", "10"),
        ("EMO_MAX_RECEIVES", "3"),
        ("EMO_RETRY_BASE_SECS", "1"),
        ("EMO_JWT_SECRET", SECRET),
        ("DASHSCOPE_API_KEY", "sk-test-key-never-shown"),
        ("DASHSCOPE_TIMEOUT_SECS", "2"),
    ];
    all.extend_from_slice(vars);
    AppState::from_vars(Role::Local, &all)
        .await
        .expect("test settings are valid")
}

/// Whether an AWS emulator is configured (`AWS_ENDPOINT_URL`). Outside CI the aws tests skip
/// without one; under CI its absence fails them.
pub fn emulator_configured() -> bool {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the AWS emulator tests, but AWS_ENDPOINT_URL is unset"
        );
        return false;
    }
    true
}

/// A name no other test (or earlier run) uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
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

impl JobEnv {
    async fn standin() -> StandinHandle {
        Standin::start(StandinConfig::default())
            .await
            .expect("the stand-in starts (ffmpeg is installed by infra/ensure-ffmpeg.sh)")
    }

    /// On the embedded backend, worker not started.
    pub async fn local(extra: &[(&str, &str)]) -> Self {
        let standin = Self::standin().await;
        let dir = tempfile::tempdir().unwrap();
        let base = standin.base_url();
        let mut vars = vec![
            ("EMO_DATA_DIR", dir.path().to_str().unwrap()),
            ("DASHSCOPE_BASE_URL", base.as_str()),
        ];
        vars.extend_from_slice(extra);
        let state = state(&vars).await;
        Self {
            state: Arc::new(state),
            standin,
            data_dir: Some(dir),
            worker: None,
        }
    }

    /// On the aws backend (fresh tables, bucket, queue in the emulator), worker not started; `None`
    /// when no emulator is configured outside CI.
    pub async fn aws(extra: &[(&str, &str)]) -> Option<Self> {
        if !emulator_configured() {
            return None;
        }
        let conf = emo::store::aws::sdk_config().await;
        let resources = emo::store::aws::provision(&conf, &unique("emo"), Duration::from_secs(10))
            .await
            .unwrap();
        let standin = Self::standin().await;
        let base = standin.base_url();
        let mut vars: Vec<(&str, &str)> = resources.env().to_vec();
        vars.push(("EMO_BACKEND", "aws"));
        vars.push(("DASHSCOPE_BASE_URL", base.as_str()));
        vars.extend_from_slice(extra);
        let state = state(&vars).await;
        Some(Self {
            state: Arc::new(state),
            standin,
            data_dir: None,
            worker: None,
        })
    }

    pub fn start_worker(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(emo_infra::local::worker::run(
            self.state.clone(),
            2,
            async {
                let _ = rx.await;
            },
        ));
        self.worker = Some((tx, handle));
    }

    #[allow(dead_code)]
    pub async fn stop_worker(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            let _ = tx.send(());
            let _ = handle.await;
        }
    }

    pub async fn call(&self, req: Request) -> (u16, Value) {
        call(&self.state, req).await
    }

    /// Registers and logs in a user; returns the token.
    pub async fn user(&self, phone: &str) -> String {
        let creds = json!({"phone": phone, "password": "job-test-password"});
        let (status, _) = self
            .call(post("/api/v1/users/register", &creds, None))
            .await;
        assert_eq!(status, 200);
        let (status, body) = self.call(post("/api/v1/users/login", &creds, None)).await;
        assert_eq!(status, 200);
        body["data"]["token"].as_str().unwrap().to_owned()
    }

    pub async fn create(&self, token: &str, fields: Value) -> (u16, Value) {
        self.call(post("/api/v1/video/create", &fields, Some(token)))
            .await
    }

    pub async fn query(&self, token: &str, job_id: &str) -> (u16, Value) {
        let req = http::Request::builder()
            .method("GET")
            .uri(format!("/api/v1/video/query/{job_id}"))
            .header("host", "127.0.0.1:3000")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::Empty)
            .unwrap();
        self.call(req).await
    }

    /// Polls until the job is SUCCEEDED or FAILED, as the mini-program does; returns the last
    /// answer's `data` and every status seen on the way.
    pub async fn wait(&self, token: &str, job_id: &str) -> (Value, Vec<String>) {
        let mut seen = Vec::new();
        for _ in 0..240 {
            let (status, body) = self.query(token, job_id).await;
            assert_eq!(status, 200, "{body}");
            let s = body["data"]["status"].as_str().unwrap().to_owned();
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            if s == "SUCCEEDED" || s == "FAILED" {
                return (body["data"].clone(), seen);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("job {job_id} did not finish in 60 s; statuses seen: {seen:?}");
    }

    /// Fetches a `video_url` as the mini-program would: over HTTP for S3 presigned URLs, through
    /// the local server's router for local ones.
    pub async fn fetch(&self, url: &str) -> (u16, Vec<u8>) {
        if self.state.store.backend == emo::store::Backend::Local {
            let path = url.split_once("://").unwrap().1;
            let path = &path[path.find('/').unwrap()..];
            let req = http::Request::builder()
                .method("GET")
                .uri(path)
                .body(Body::Empty)
                .unwrap();
            let resp = emo_infra::local::router::route(&self.state, req).await;
            let status = resp.status().as_u16();
            let body = match resp.body() {
                Body::Binary(b) => b.clone(),
                Body::Text(t) => t.clone().into_bytes(),
                _ => Vec::new(),
            };
            (status, body)
        } else {
            let resp = reqwest::get(url).await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.bytes().await.unwrap().to_vec())
        }
    }
}

impl Drop for JobEnv {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            let _ = tx.send(());
            handle.abort();
        }
    }
}

/// Routes `req` as a function would; the status and the JSON body.
pub async fn call(state: &AppState, req: Request) -> (u16, Value) {
    let resp = emo_infra::local::router::route(state, req).await;
    let status = resp.status().as_u16();
    let body = match resp.body() {
        Body::Text(t) => t.clone().into_bytes(),
        Body::Binary(b) => b.clone(),
        _ => Vec::new(),
    };
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

pub fn post(path: &str, fields: &Value, token: Option<&str>) -> Request {
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

/// What a user checks of a sticker: a GIF that loops forever, fits 240×240 and 500 KB, and moves.
pub fn assert_sticker(bytes: &[u8]) {
    assert!(bytes.len() <= 512_000, "GIF is {} bytes", bytes.len());
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(bytes).expect("a GIF");
    assert!(decoder.width() <= 240 && decoder.height() <= 240);
    assert!(decoder.width() >= 100 && decoder.height() >= 100);
    let mut frames = 0;
    while decoder.read_next_frame().unwrap().is_some() {
        frames += 1;
    }
    assert!(frames >= 10, "only {frames} frames");
    assert_eq!(decoder.repeat(), gif::Repeat::Infinite);
}

/// A real 640×480 PNG photo-like test image (ffmpeg's test pattern), as a data URI.
pub fn test_png_data_uri() -> String {
    use base64::Engine;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.png");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x480",
            "-frames:v",
            "1",
        ])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&path).unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Generates, for each `case(env: JobEnv)`, a test on the embedded backend and one on the aws
/// backend (skipped without an emulator, failing under CI).
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(crate::env::JobEnv::local(&[]).await).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(env) = crate::env::JobEnv::aws(&[]).await else { return };
                    super::$case(env).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;
