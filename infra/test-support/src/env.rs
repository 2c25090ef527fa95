//! Whole Emos in-process: [`TestEnv`], a state on either backend with cheap password hashing, and
//! [`JobEnv`], that plus a fresh DashScope stand-in and `emo-local`'s worker loop, spoken to
//! through `emo-local`'s own router; and [`WeChatEnv`], a [`JobEnv`] with a WeChat stand-in too,
//! served over HTTP so the stand-in can fetch blob links and push back.

use std::sync::Arc;
use std::time::Duration;

use emo::{AppState, Role};
use emo_standin::{Standin, StandinConfig, StandinHandle};
use lambda_http::{Body, Request};
use serde_json::{Value, json};

use crate::http::{body_bytes, get, post_json, read_lenient};
use crate::{CHEAP_ARGON2, emulator, unique};

/// The JWT key every test state signs with.
pub const SECRET: &str = "test-secret-test-secret-test-secret!";

/// `emo-local`'s state ([`Role::Local`]) from the test settings, then `vars`. The caption font is
/// the process's `EMO_CAPTION_FONT` (the test command exports what `infra/ensure-font.sh` made).
pub async fn state(vars: &[(&str, &str)]) -> AppState {
    let mut all: Vec<(&str, &str)> = CHEAP_ARGON2.to_vec();
    all.push(("EMO_JWT_SECRET", SECRET));
    let font = std::env::var("EMO_CAPTION_FONT").unwrap_or_default();
    if !font.is_empty() {
        all.push(("EMO_CAPTION_FONT", &font));
    }
    all.extend_from_slice(vars);
    AppState::from_vars(Role::Local, &all)
        .await
        .expect("test settings are valid")
}

/// The variables of fresh tables, a bucket and a queue in the emulator, with the aws backend;
/// `None` (a skip) when no emulator is configured outside CI.
async fn aws_vars() -> Option<Vec<(String, String)>> {
    aws_backend_vars("emo", Duration::from_secs(30)).await
}

/// As the job envs' aws backend: fresh resources named from `prefix`, the queue's messages
/// coming back after `visibility`; `None` (a skip) when no emulator is configured outside CI.
pub async fn aws_backend_vars(prefix: &str, visibility: Duration) -> Option<Vec<(String, String)>> {
    let conf = emulator().await?;
    let resources = emo::store::aws::provision(&conf, &unique(prefix), visibility)
        .await
        .unwrap();
    let mut vars: Vec<(String, String)> = resources
        .env()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.push(("EMO_BACKEND".into(), "aws".into()));
    Some(vars)
}

fn borrowed(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A state plus whatever must live as long as it (the local backend's temp dir).
pub struct TestEnv {
    pub state: Arc<AppState>,
    pub data_dir: Option<tempfile::TempDir>,
}

impl TestEnv {
    /// On the embedded backend, in a fresh temp dir.
    pub async fn local(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut vars = vec![("EMO_DATA_DIR", dir.path().to_str().unwrap())];
        vars.extend_from_slice(extra);
        Self {
            state: Arc::new(state(&vars).await),
            data_dir: Some(dir),
        }
    }

    /// On the aws backend, on fresh tables, bucket and queue in the emulator.
    pub async fn aws(extra: &[(&str, &str)]) -> Option<Self> {
        let owned = aws_vars().await?;
        let mut vars = borrowed(&owned);
        vars.extend_from_slice(extra);
        Some(Self {
            state: Arc::new(state(&vars).await),
            data_dir: None,
        })
    }
}

/// A whole Emo for job tests: a state on either backend pointed at its own DashScope stand-in,
/// with short polls, leases and retries; the worker starts when the test says.
pub struct JobEnv {
    pub state: Arc<AppState>,
    pub standin: StandinHandle,
    pub data_dir: Option<tempfile::TempDir>,
    worker: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

/// The job tests' settings. The lease bounds every step (a step is cut 2 s before it ends), so it
/// is long enough for a transcode on a loaded machine: at 10 s, a good job ended FAILED there
/// ("no time left for the GIF", three times) while the machine ran a build beside the tests.
const JOB_VARS: [(&str, &str); 6] = [
    ("EMO_POLL_INTERVAL_SECS", "1"),
    ("EMO_LEASE_SECS", "60"),
    ("EMO_MAX_RECEIVES", "3"),
    ("EMO_RETRY_BASE_SECS", "1"),
    ("DASHSCOPE_API_KEY", "sk-test-key-never-shown"),
    ("DASHSCOPE_TIMEOUT_SECS", "2"),
];

/// How long [`JobEnv::wait`] waits for a job to end: long enough for a good job on a busy
/// machine, as any job ends by its deadline anyway.
const WAIT: Duration = Duration::from_secs(300);

impl JobEnv {
    pub(crate) async fn standin() -> StandinHandle {
        Standin::start(StandinConfig::default())
            .await
            .expect("the stand-in starts (ffmpeg is installed by infra/ensure-ffmpeg.sh)")
    }

    pub(crate) async fn with(
        base: Vec<(&str, &str)>,
        extra: &[(&str, &str)],
        standin: StandinHandle,
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        let url = standin.base_url();
        let mut vars: Vec<(&str, &str)> = JOB_VARS.to_vec();
        vars.extend(base);
        vars.push(("DASHSCOPE_BASE_URL", url.as_str()));
        vars.push(("DASHSCOPE_VIDEO_HOSTS", "127.0.0.1"));
        vars.extend_from_slice(extra);
        Self {
            state: Arc::new(state(&vars).await),
            standin,
            data_dir: dir,
            worker: None,
        }
    }

    /// On the embedded backend, worker not started.
    pub async fn local(extra: &[(&str, &str)]) -> Self {
        let standin = Self::standin().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_owned();
        Self::with(vec![("EMO_DATA_DIR", &path)], extra, standin, Some(dir)).await
    }

    /// On the aws backend (fresh tables, bucket, queue in the emulator), worker not started; `None`
    /// when no emulator is configured outside CI.
    pub async fn aws(extra: &[(&str, &str)]) -> Option<Self> {
        let owned = aws_vars().await?;
        let standin = Self::standin().await;
        Some(Self::with(borrowed(&owned), extra, standin, None).await)
    }

    /// Starts `emo-local`'s worker loop, two messages at a time.
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

    pub async fn stop_worker(&mut self) {
        if let Some((tx, handle)) = self.worker.take() {
            let _ = tx.send(());
            let _ = handle.await;
        }
    }

    pub async fn call(&self, req: Request) -> (u16, Value) {
        call(&self.state, req).await
    }

    /// The jobs stored for the user of `phone` (at most ten): what a refused create must not
    /// have left.
    pub async fn jobs_of(&self, phone: &str) -> Vec<emo::job::Job> {
        let user = self
            .state
            .users
            .find_by_phone(phone)
            .await
            .unwrap()
            .expect("a registered user");
        self.state.jobs.list_for_user(user.id, 0, 10).await.unwrap()
    }

    /// Registers and logs in a user; returns the token.
    pub async fn user(&self, phone: &str) -> String {
        let creds = json!({"phone": phone, "password": "job-test-password"});
        let (status, _) = self
            .call(post_json("/api/v1/users/register", &creds, None))
            .await;
        assert_eq!(status, 200);
        let (status, body) = self
            .call(post_json("/api/v1/users/login", &creds, None))
            .await;
        assert_eq!(status, 200);
        body["data"]["token"].as_str().unwrap().to_owned()
    }

    pub async fn create(&self, token: &str, fields: Value) -> (u16, Value) {
        self.call(post_json("/api/v1/video/create", &fields, Some(token)))
            .await
    }

    pub async fn query(&self, token: &str, job_id: &str) -> (u16, Value) {
        self.call(get(&format!("/api/v1/video/query/{job_id}"), token))
            .await
    }

    /// Polls until the job is SUCCEEDED or FAILED, as the mini-program does; returns the last
    /// answer's `data` and every status seen on the way.
    pub async fn wait(&self, token: &str, job_id: &str) -> (Value, Vec<String>) {
        let mut seen = Vec::new();
        let started = std::time::Instant::now();
        while started.elapsed() < WAIT {
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
        panic!("job {job_id} did not finish in {WAIT:?}; statuses seen: {seen:?}");
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
            (resp.status().as_u16(), body_bytes(&resp))
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

/// Routes `req` as API Gateway would to a function; the status and the JSON body.
pub async fn call(state: &AppState, req: Request) -> (u16, Value) {
    read_lenient(emo_infra::local::router::route(state, req).await)
}

/// A state on either backend pointed at its own WeChat stand-in (and, for the media checks'
/// images, at its own DashScope stand-in, with the worker not started), served over HTTP on a
/// free port as `emo-local` serves it, so the stand-in can fetch blob links and push to
/// `/api/v1/wechat/events`. `EMO_PUBLIC_URL` is that server.
pub struct WeChatEnv {
    pub jobs: JobEnv,
    pub wechat: emo_wechat_standin::WeChatStandinHandle,
    /// Where the state is served, e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    server: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for WeChatEnv {
    type Target = JobEnv;
    fn deref(&self) -> &JobEnv {
        &self.jobs
    }
}

impl std::ops::DerefMut for WeChatEnv {
    fn deref_mut(&mut self) -> &mut JobEnv {
        &mut self.jobs
    }
}

impl WeChatEnv {
    async fn build(
        base: Vec<(String, String)>,
        extra: &[(&str, &str)],
        dir: Option<tempfile::TempDir>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (wechat, wx_vars) = emo_infra::wechat_standin(None).await.unwrap();
        wechat.set_push_url(format!("{url}/api/v1/wechat/events"));
        let mut owned = base;
        owned.extend(wx_vars.into_iter().map(|(k, v)| (k.to_owned(), v)));
        owned.push(("EMO_PUBLIC_URL".into(), url.clone()));
        let mut vars = borrowed(&owned);
        vars.extend_from_slice(extra);
        let jobs = JobEnv::with(vars, &[], JobEnv::standin().await, dir).await;
        let state = jobs.state.clone();
        let server = tokio::spawn(async move {
            let _ = emo_infra::serve(listener, state, std::future::pending()).await;
        });
        Self {
            jobs,
            wechat,
            url,
            server,
        }
    }

    /// On the embedded backend.
    pub async fn local(extra: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap().to_owned();
        Self::build(vec![("EMO_DATA_DIR".into(), path)], extra, Some(dir)).await
    }

    /// On the aws backend; `None` when no emulator is configured outside CI.
    pub async fn aws(extra: &[(&str, &str)]) -> Option<Self> {
        let owned = aws_vars().await?;
        Some(Self::build(owned, extra, None).await)
    }

    /// Logs in with a `wx.login` code (`POST /api/v1/users/wechat-login`); the status and body.
    pub async fn wechat_login(&self, code: &str) -> (u16, Value) {
        self.call(post_json(
            "/api/v1/users/wechat-login",
            &json!({ "code": code }),
            None,
        ))
        .await
    }
}

impl Drop for WeChatEnv {
    fn drop(&mut self) {
        self.server.abort();
    }
}
