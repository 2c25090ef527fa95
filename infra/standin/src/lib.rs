//! The offline DashScope stand-in: an HTTP server that speaks the slice of DashScope Emo uses,
//! with the same paths, headers, JSON shapes and error statuses, and answers with real MP4s, so
//! the client, the worker and the GIF pipeline run end to end with no account and no network.
//!
//! Endpoints (under `{base_url}` = `http://127.0.0.1:PORT/api/v1`):
//! - `POST /services/aigc/video-generation/video-synthesis`: creates a text-to-video or
//!   image-to-video task; needs `Authorization: Bearer …` (401 `InvalidApiKey`) and
//!   `X-DashScope-Async: enable` (403 `AccessDenied`); validates model, `size` (t2v),
//!   `resolution` and `img_url` (i2v), `duration` (400 `InvalidParameter`).
//! - `GET /tasks/{task_id}`: `PENDING` for `pending_for`, `RUNNING` for `running_for` (and
//!   until the video is rendered), then `SUCCEEDED` with a `video_url`, or `FAILED` with `code`
//!   and `message`; unknown ids answer `UNKNOWN`, as DashScope does.
//! - `POST /services/aigc/text-generation/generation`: Qwen's native answer with
//!   `output.choices[0].message.content`, a canned description of a character.
//! - `GET /files/{task_id}.mp4?Expires=…&OSSAccessKeyId=…&Signature=…` (outside `/api/v1`): the
//!   video, like a signed OSS URL: a wrong or re-encoded `Signature` answers 403, and an
//!   `Authorization` header answers 400, so a client that mangles the query string or sends its
//!   API key to the file host is caught.
//!
//! Videos are real: 5 s, 30 fps, H.264, yuv420p, silent MP4s of a bouncing smiley, made by the
//! `ffmpeg` binary (required; [`Standin::start`] fails without it) on the blocking pool, once
//! per size, cached in `$TMPDIR/emo-dashscope-standin/`. Text-to-video has the requested
//! `size`; image-to-video keeps the image's aspect ratio (read from a PNG, JPEG, BMP, WebP or GIF
//! data-URI header) at the tier's pixel count, like wan2.2-i2v-flash.
//!
//! Failure injection, from tests through [`StandinHandle`] (`fail_next_task`,
//! `throttle_next_requests`, `server_error_next`, `reject_next_requests`, and `hang_next` /
//! `garble_next` for answers that come too late or are not JSON), or by anyone through
//! markers in a prompt (or in a Qwen message):
//!
//! | marker | effect |
//! |---|---|
//! | `[standin:fail]` | the task ends `FAILED`, `DataInspectionFailed` (Qwen: HTTP 400 at once) |
//! | `[standin:ip]` | the task ends `FAILED`, `IPInfringementSuspect` |
//! | `[standin:fail-silent]` | the task ends `FAILED` with no code and no message |
//! | `[standin:lost]` | the task answers `UNKNOWN`, as an expired or foreign task does |
//! | `[standin:slow]` | the task stays pending and running ten times longer |
//! | `[standin:reject]` | the create answers HTTP 400 `DataInspectionFailed` |
//! | `[standin:throttle]` | the create answers HTTP 429 `Throttling.RateQuota`, every time |
//! | `[standin:arrearage]` | the create answers HTTP 400 `Arrearage` |
//! | `[standin:500]` | the create answers HTTP 500 `InternalError` |
//! | `[standin:corrupt]` | the task succeeds, but its video URL serves bytes that are no MP4 |
//! | `[standin:gone]` | the task succeeds, but its video URL answers 404 |

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;

/// Sizes wanx2.1-t2v-turbo accepts (480P and 720P tiers).
pub const T2V_SIZES: [&str; 8] = [
    "832*480", "480*832", "624*624", "1280*720", "720*1280", "960*960", "1088*832", "832*1088",
];
/// Tiers wan2.2-i2v-flash accepts.
pub const I2V_RESOLUTIONS: [&str; 3] = ["480P", "720P", "1080P"];

const T2V_MODELS: [&str; 3] = ["wanx2.1-t2v-turbo", "wan2.1-t2v-turbo", "wanx2.1-t2v-plus"];
const I2V_MODELS: [&str; 4] = [
    "wan2.2-i2v-flash",
    "wan2.2-i2v-plus",
    "wanx2.1-i2v-turbo",
    "wanx2.1-i2v-plus",
];
/// Text models whose names start with one of these may search the web (Beijing region).
const SEARCH_MODELS: [&str; 6] = [
    "qwen-plus",
    "qwen-max",
    "qwen-turbo",
    "qwen-flash",
    "qwen3-max",
    "qwq-plus",
];
/// Bodies above this answer 413, like DashScope's 10 MiB data-URI cap plus JSON around it.
const MAX_BODY_BYTES: usize = 12 << 20;
const MAX_DATA_URI_BYTES: usize = 10 << 20;
/// Bumped whenever the ffmpeg recipe changes, so cached files of an older recipe are not served.
const RENDER_RECIPE: &str = "smiley-v1";
/// How long a task can be queried.
const TASK_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How many requests [`StandinHandle::requests`] remembers (the binary may run for days).
const MAX_SEEN_REQUESTS: usize = 10_000;

/// How the stand-in behaves. `Default` finishes a task in about two seconds.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    /// How long a new task answers `PENDING`.
    pub pending_for: Duration,
    /// How long it then answers `RUNNING` (longer if its video is still rendering).
    pub running_for: Duration,
    /// The ffmpeg binary: a name looked up on `PATH`, or a path.
    pub ffmpeg: PathBuf,
    /// Where rendered videos are cached; `None` means `$TMPDIR/emo-dashscope-standin`.
    pub cache_dir: Option<PathBuf>,
    /// When set, only this bearer token is accepted; otherwise any non-empty one is.
    pub api_key: Option<String>,
}

impl Default for StandinConfig {
    fn default() -> Self {
        Self {
            pending_for: Duration::from_millis(500),
            running_for: Duration::from_millis(1500),
            ffmpeg: PathBuf::from("ffmpeg"),
            cache_dir: None,
            api_key: None,
        }
    }
}

/// One request the stand-in received, for tests that count calls or check headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    /// Whether `X-DashScope-Async` was present (whatever its value).
    pub async_header: bool,
    /// Whether an `Authorization` header was present.
    pub authorization: bool,
    /// The key it carried after `Bearer ` (the stand-in takes any key; tests check which was sent).
    pub api_key: Option<String>,
    /// The status the stand-in answered.
    pub status: u16,
}

/// Starts stand-ins.
pub struct Standin;

impl Standin {
    /// Serves on `127.0.0.1` at a free port. Fails when the port cannot be bound, the cache
    /// directory cannot be made, or ffmpeg does not run.
    pub async fn start(config: StandinConfig) -> io::Result<StandinHandle> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        Self::serve(listener, config).await
    }

    /// Serves on `listener` (the binary binds `STANDIN_ADDR`). Fails like [`Standin::start`].
    pub async fn serve(listener: TcpListener, config: StandinConfig) -> io::Result<StandinHandle> {
        let cache_dir = config
            .cache_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("emo-dashscope-standin"));
        let ffmpeg = config.ffmpeg.clone();
        let dir = cache_dir.clone();
        tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            check_ffmpeg(&ffmpeg)
        })
        .await
        .map_err(io::Error::other)??;

        let mut addr = listener.local_addr()?;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        let shared = Arc::new(Shared {
            config,
            origin: format!("http://{addr}"),
            cache_dir,
            state: Mutex::new(Inner::default()),
            renders: Mutex::new(HashMap::new()),
        });
        let app = router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        tracing::info!(%addr, "dashscope stand-in listening");
        Ok(StandinHandle {
            addr,
            shared,
            shutdown: Some(tx),
            server: Some(server),
        })
    }
}

/// A running stand-in: its address, failure injection, and counters. Dropping it stops the
/// server; [`StandinHandle::shutdown`] also waits for it.
pub struct StandinHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<io::Result<()>>>,
}

impl StandinHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The native API root to give the client, e.g. `http://127.0.0.1:PORT/api/v1`.
    pub fn base_url(&self) -> String {
        format!("{}/api/v1", self.shared.origin)
    }

    /// The next task created ends `FAILED` with this `code` and `message` (queued: calling it
    /// twice fails the next two tasks). Takes precedence over prompt markers.
    pub fn fail_next_task(&self, code: &str, message: &str) {
        self.shared.lock().next_failures.push_back(Failure {
            code: Some(code.to_owned()),
            message: Some(message.to_owned()),
        });
    }

    /// The next `n` API requests (of any endpoint) answer 429 `Throttling.RateQuota`.
    pub fn throttle_next_requests(&self, n: usize) {
        self.reject_next_requests(
            n,
            429,
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        );
    }

    /// The next `n` API requests answer 500 `InternalError`.
    pub fn server_error_next(&self, n: usize) {
        self.reject_next_requests(
            n,
            500,
            "InternalError",
            "An internal error has occurred, please try again later or contact service support.",
        );
    }

    /// The next `n` API requests answer `status` with DashScope's error JSON carrying `code` and
    /// `message`. Queued after any rejections already pending.
    pub fn reject_next_requests(&self, n: usize, status: u16, code: &str, message: &str) {
        let mut state = self.shared.lock();
        for _ in 0..n {
            state.rejections.push_back(Rejection {
                status,
                code: code.to_owned(),
                message: message.to_owned(),
            });
        }
    }

    /// The next `n` calls of `call` are answered only after `delay` (past a client's timeout,
    /// say); the call itself still takes effect, as a slow DashScope's would.
    pub fn hang_next(&self, call: Call, n: usize, delay: Duration) {
        let mut state = self.shared.lock();
        for _ in 0..n {
            state.mishaps.push_back((call, Mishap::Hang(delay)));
        }
    }

    /// The next `n` calls of `call` take effect but answer 200 with a body that is not JSON.
    pub fn garble_next(&self, call: Call, n: usize) {
        let mut state = self.shared.lock();
        for _ in 0..n {
            state.mishaps.push_back((call, Mishap::Garble));
        }
    }

    /// Tasks created so far (refused creates do not count).
    pub fn tasks_created(&self) -> usize {
        self.shared.lock().tasks_created
    }

    /// The most tasks that were pending or running at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// The requests received so far, oldest first (the last 10 000).
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.lock().seen.iter().cloned().collect()
    }

    /// Stops accepting connections and waits for the requests in flight.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            match server.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "dashscope stand-in stopped with an error")
                }
                Err(e) => tracing::warn!(error = %e, "dashscope stand-in task failed"),
            }
        }
    }
}

impl Drop for StandinHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

struct Shared {
    config: StandinConfig,
    /// `http://host:port`, for video URLs.
    origin: String,
    cache_dir: PathBuf,
    state: Mutex<Inner>,
    /// One render per size; every task of that size waits on the same cell. A failed render
    /// stays failed for this stand-in's life: ffmpeg does not fix itself between two tasks.
    renders: Mutex<HashMap<(u32, u32), Arc<Render>>>,
}

type Render = OnceCell<Result<Bytes, String>>;

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The render of a `w`×`h` video, started now if it is not under way yet.
    fn render(self: &Arc<Self>, w: u32, h: u32) -> Arc<Render> {
        let cell = {
            let mut renders = self.renders.lock().unwrap_or_else(|e| e.into_inner());
            renders.entry((w, h)).or_default().clone()
        };
        if !cell.initialized() {
            let cell = cell.clone();
            let ffmpeg = self.config.ffmpeg.clone();
            let dir = self.cache_dir.clone();
            tokio::spawn(async move {
                cell.get_or_init(|| async move {
                    tokio::task::spawn_blocking(move || render_video(&ffmpeg, &dir, w, h))
                        .await
                        .unwrap_or_else(|e| Err(format!("render task failed: {e}")))
                })
                .await;
            });
        }
        cell
    }
}

#[derive(Default)]
struct Inner {
    tasks: HashMap<String, Task>,
    rejections: VecDeque<Rejection>,
    mishaps: VecDeque<(Call, Mishap)>,
    next_failures: VecDeque<Failure>,
    tasks_created: usize,
    max_in_flight: usize,
    seen: VecDeque<SeenRequest>,
}

struct Rejection {
    status: u16,
    code: String,
    message: String,
}

#[derive(Clone)]
struct Failure {
    code: Option<String>,
    message: Option<String>,
}

struct Task {
    model: String,
    prompt: String,
    created: Instant,
    submitted_at: SystemTime,
    pending_for: Duration,
    running_for: Duration,
    outcome: Outcome,
    /// `W*H` for text-to-video, the tier for image-to-video; reported in `usage`.
    usage: Value,
    signature: String,
}

enum Outcome {
    Succeed(Arc<Render>),
    Fail(Failure),
    Lost,
}

impl Task {
    fn ends_at(&self) -> Instant {
        self.created + self.pending_for + self.running_for
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/api/v1/services/aigc/video-generation/video-synthesis",
            post(create_video),
        )
        .route("/api/v1/tasks/{task_id}", get(query_task))
        .route(
            "/api/v1/services/aigc/text-generation/generation",
            post(generate_text),
        )
        .route("/files/{file}", get(serve_file))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

/// Which API call a mishap is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `POST …/video-synthesis`.
    Create,
    /// `GET /tasks/{task_id}`.
    Query,
}

#[derive(Debug, Clone, Copy)]
enum Mishap {
    Hang(Duration),
    Garble,
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
    } else if method == "GET" && path.starts_with("/api/v1/tasks/") {
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
        Some(Mishap::Hang(delay)) => tokio::time::sleep(delay).await,
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
    tracing::debug!(target: "emo_infra::standin", "{method} {path} {status}");
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
fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
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

async fn read_json(body: Body) -> Result<Value, ApiError> {
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

/// Answers for the markers that make a create or a Qwen call fail at once.
fn marker_refusal(text: &str) -> Option<ApiError> {
    if text.contains("[standin:throttle]") {
        Some(error(
            429,
            "Throttling.RateQuota",
            "Requests rate limit exceeded, please try again later.",
        ))
    } else if text.contains("[standin:arrearage]") {
        Some(error(
            400,
            "Arrearage",
            "Access denied, please make sure your account is in good standing.",
        ))
    } else if text.contains("[standin:500]") {
        Some(error(
            500,
            "InternalError",
            "An internal error has occurred, please try again later.",
        ))
    } else if text.contains("[standin:reject]") {
        Some(error(
            400,
            "DataInspectionFailed",
            "Input data may contain inappropriate content.",
        ))
    } else {
        None
    }
}

async fn create_video(
    State(shared): State<Arc<Shared>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    gate(&shared, &parts.headers)?;
    let async_enabled = parts
        .headers
        .get("x-dashscope-async")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("enable"));
    if !async_enabled {
        return Err(error(
            403,
            "AccessDenied",
            "current user api does not support synchronous calls.",
        ));
    }
    let body = read_json(body).await?;
    let request = validate_video(&body)?;
    if let Some(refusal) = marker_refusal(&request.prompt) {
        return Err(refusal);
    }
    let (size, image_problem) = match &request.shape {
        Shape::Size(w, h) => ((*w, *h), None),
        Shape::Image { resolution, image } => i2v_size(resolution, image),
    };
    let task_id = uuid_like();
    let now = Instant::now();
    let slow = if request.prompt.contains("[standin:slow]") {
        10
    } else {
        1
    };
    let mut state = shared.lock();
    // DashScope forgets tasks after 24 h; so does the stand-in, which may run for days.
    state
        .tasks
        .retain(|_, t| t.created.elapsed() < TASK_LIFETIME);
    let outcome = if let Some(f) = state.next_failures.pop_front() {
        Outcome::Fail(f)
    } else if let Some(f) = prompt_failure(&request.prompt) {
        Outcome::Fail(f)
    } else if request.prompt.contains("[standin:lost]") {
        Outcome::Lost
    } else if let Some(problem) = image_problem {
        Outcome::Fail(Failure {
            code: Some("InvalidParameter".into()),
            message: Some(problem.into()),
        })
    } else {
        Outcome::Succeed(shared.render(size.0, size.1))
    };
    let usage = match &request.shape {
        Shape::Size(w, h) => {
            json!({"video_duration": 5, "video_count": 1, "video_ratio": format!("{w}*{h}")})
        }
        Shape::Image { resolution, .. } => json!({
            "duration": 5,
            "video_count": 1,
            "SR": resolution.trim_end_matches('P').parse::<u32>().unwrap_or(720),
        }),
    };
    let task = Task {
        model: request.model,
        prompt: request.prompt,
        created: now,
        submitted_at: SystemTime::now(),
        pending_for: shared.config.pending_for * slow,
        running_for: shared.config.running_for * slow,
        outcome,
        usage,
        signature: signature(),
    };
    state.tasks_created += 1;
    let in_flight = 1 + state
        .tasks
        .values()
        .filter(|t| !matches!(t.outcome, Outcome::Lost) && t.ends_at() > now)
        .count();
    state.max_in_flight = state.max_in_flight.max(in_flight);
    tracing::info!(
        target: "emo_infra::standin",
        %task_id,
        model = %task.model,
        width = size.0,
        height = size.1,
        "stand-in task created"
    );
    state.tasks.insert(task_id.clone(), task);
    drop(state);
    Ok(json_response(
        200,
        json!({
            "request_id": uuid_like(),
            "output": {"task_id": task_id, "task_status": "PENDING"},
        }),
    ))
}

fn prompt_failure(prompt: &str) -> Option<Failure> {
    let failure = |code: &str, message: &str| Failure {
        code: Some(code.to_owned()),
        message: Some(message.to_owned()),
    };
    if prompt.contains("[standin:fail-silent]") {
        Some(Failure {
            code: None,
            message: None,
        })
    } else if prompt.contains("[standin:fail]") {
        Some(failure(
            "DataInspectionFailed",
            "Output data may contain inappropriate content.",
        ))
    } else if prompt.contains("[standin:ip]") {
        Some(failure(
            "IPInfringementSuspect",
            "Input data is suspected of being involved in IP infringement.",
        ))
    } else {
        None
    }
}

struct VideoRequest {
    model: String,
    prompt: String,
    shape: Shape,
}

enum Shape {
    Size(u32, u32),
    Image { resolution: String, image: ImageRef },
}

enum ImageRef {
    /// Decoded bytes of a data URI.
    Inline(Vec<u8>),
    /// A public URL the stand-in does not fetch (it has no network).
    Remote,
}

fn validate_video(body: &Value) -> Result<VideoRequest, ApiError> {
    let invalid = |message: &str| error(400, "InvalidParameter", message);
    let model = match body.get("model").and_then(Value::as_str).map(str::trim) {
        None | Some("") => {
            return Err(error(
                400,
                "BadRequest.EmptyModel",
                "Required parameter \"model\" missing from request.",
            ));
        }
        Some(m) => m.to_owned(),
    };
    let Some(input) = body.get("input").filter(|i| i.is_object()) else {
        return Err(error(
            400,
            "BadRequest.EmptyInput",
            "Required input parameter missing from request.",
        ));
    };
    let t2v = T2V_MODELS.contains(&model.as_str());
    if !t2v && !I2V_MODELS.contains(&model.as_str()) {
        return Err(invalid("Model not exist."));
    }
    let prompt = match input.get("prompt") {
        Some(Value::String(p)) => p.clone(),
        None | Some(Value::Null) if !t2v => String::new(),
        None | Some(Value::Null) => return Err(invalid("Field required: input.prompt")),
        Some(_) => return Err(invalid("input.prompt must be a string")),
    };
    if t2v && prompt.trim().is_empty() {
        return Err(invalid("Field required: input.prompt"));
    }
    if let Some(n) = input.get("negative_prompt")
        && !(n.is_string() || n.is_null())
    {
        return Err(invalid("input.negative_prompt must be a string"));
    }
    let params = match body.get("parameters") {
        None | Some(Value::Null) => json!({}),
        Some(p) if p.is_object() => p.clone(),
        Some(_) => return Err(invalid("parameters must be an object")),
    };
    match params.get("duration") {
        None | Some(Value::Null) => {}
        Some(d) if d.as_u64() == Some(5) => {}
        Some(_) => {
            return Err(invalid(
                "parameters.duration must be the integer 5 for this model",
            ));
        }
    }
    for flag in ["prompt_extend", "watermark"] {
        if let Some(v) = params.get(flag)
            && !(v.is_boolean() || v.is_null())
        {
            return Err(invalid(&format!("parameters.{flag} must be a boolean")));
        }
    }
    if let Some(seed) = params.get("seed")
        && !seed.is_null()
        && seed.as_u64().is_none_or(|s| s > 2_147_483_647)
    {
        return Err(invalid(
            "parameters.seed must be an integer in [0, 2147483647]",
        ));
    }
    let shape = if t2v {
        let size = params
            .get("size")
            .and_then(Value::as_str)
            .unwrap_or("1280*720");
        if !T2V_SIZES.contains(&size) {
            return Err(invalid(&format!(
                "The size is not match the allowed size [{}]",
                T2V_SIZES.join(", ")
            )));
        }
        let (w, h) = size.split_once('*').unwrap_or(("1280", "720"));
        Shape::Size(w.parse().unwrap_or(1280), h.parse().unwrap_or(720))
    } else {
        let resolution = params
            .get("resolution")
            .and_then(Value::as_str)
            .unwrap_or("720P");
        if !I2V_RESOLUTIONS.contains(&resolution) {
            return Err(invalid(
                "parameters.resolution must be one of 480P, 720P, 1080P",
            ));
        }
        let Some(img_url) = input.get("img_url").and_then(Value::as_str) else {
            return Err(invalid("Field required: input.img_url"));
        };
        Shape::Image {
            resolution: resolution.to_owned(),
            image: parse_image_ref(img_url)?,
        }
    };
    Ok(VideoRequest {
        model,
        prompt,
        shape,
    })
}

fn parse_image_ref(img_url: &str) -> Result<ImageRef, ApiError> {
    let invalid = |message: &str| error(400, "InvalidParameter", message);
    let img_url = img_url.trim();
    if img_url.starts_with("http://") || img_url.starts_with("https://") {
        return Ok(ImageRef::Remote);
    }
    let Some(rest) = img_url.strip_prefix("data:") else {
        return Err(invalid(
            "The img_url must be an http(s) URL or a data URI (data:{MIME_type};base64,{base64_data}).",
        ));
    };
    if img_url.len() > MAX_DATA_URI_BYTES {
        return Err(invalid("The data URI is larger than 10485760 bytes."));
    }
    let Some((mime, data)) = rest.split_once(";base64,") else {
        return Err(invalid(
            "The data URI must be base64 encoded: data:{MIME_type};base64,{base64_data}",
        ));
    };
    let known = [
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/bmp",
        "image/webp",
    ];
    if !known.contains(&mime.trim().to_ascii_lowercase().as_str()) {
        return Err(invalid(
            "The image format is not supported: use JPEG, PNG, BMP or WEBP.",
        ));
    }
    let data = data.trim();
    STANDARD
        .decode(data)
        .or_else(|_| STANDARD_NO_PAD.decode(data))
        .map(ImageRef::Inline)
        .map_err(|_| invalid("The base64 data of the data URI cannot be decoded."))
}

/// The output size for an image-to-video task: the image's aspect ratio at the tier's pixel
/// count (even sides), plus the reason the task must fail when the image is unusable.
fn i2v_size(resolution: &str, image: &ImageRef) -> ((u32, u32), Option<&'static str>) {
    let pixels: f64 = match resolution {
        "480P" => 832.0 * 480.0,
        "1080P" => 1920.0 * 1080.0,
        _ => 1280.0 * 720.0,
    };
    let (aspect, problem) = match image {
        // No network here: assume the common 16:9.
        ImageRef::Remote => (16.0 / 9.0, None),
        ImageRef::Inline(bytes) => match image_dimensions(bytes) {
            None => (16.0 / 9.0, Some("The image cannot be decoded.")),
            Some((w, h)) if !(360..=2000).contains(&w) || !(360..=2000).contains(&h) => (
                16.0 / 9.0,
                Some("The image width and height must be within [360, 2000] pixels."),
            ),
            Some((w, h)) => (f64::from(w) / f64::from(h), None),
        },
    };
    let aspect = aspect.clamp(0.25, 4.0);
    let even = |v: f64| ((v / 2.0).round() as u32 * 2).max(16);
    (
        (
            even((pixels * aspect).sqrt()),
            even((pixels / aspect).sqrt()),
        ),
        problem,
    )
}

/// Width and height from the header of a PNG, JPEG, GIF, BMP or WebP image.
pub fn image_dimensions(b: &[u8]) -> Option<(u32, u32)> {
    let be16 = |i: usize| Some(u32::from(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let le16 = |i: usize| Some(u32::from(u16::from_le_bytes([*b.get(i)?, *b.get(i + 1)?])));
    let be32 = |i: usize| Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le32 = |i: usize| Some(i32::from_le_bytes(b.get(i..i + 4)?.try_into().ok()?));
    let le24 = |i: usize| {
        Some(u32::from_le_bytes([
            *b.get(i)?,
            *b.get(i + 1)?,
            *b.get(i + 2)?,
            0,
        ]))
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if b.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if b.starts_with(b"BM") {
        return Some((le32(18)?.unsigned_abs(), le32(22)?.unsigned_abs()));
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8X" => Some((1 + le24(24)?, 1 + le24(27)?)),
            b"VP8 " => Some((le16(26)? & 0x3fff, le16(28)? & 0x3fff)),
            b"VP8L" => {
                let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
                Some((1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff)))
            }
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        let mut i = 2;
        while i + 3 < b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            match marker {
                0xff => i += 1,
                0x01 | 0xd0..=0xd7 => i += 2,
                0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                    return Some((be16(i + 7)?, be16(i + 5)?));
                }
                _ => i += 2 + be16(i + 2)? as usize,
            }
        }
    }
    None
}

async fn query_task(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    gate(&shared, &headers)?;
    let state = shared.lock();
    let Some(task) = state.tasks.get(&task_id) else {
        return Ok(json_response(
            200,
            json!({"request_id": uuid_like(), "output": {"task_id": task_id, "task_status": "UNKNOWN"}}),
        ));
    };
    let elapsed = task.created.elapsed();
    let submit_time = beijing_time(task.submitted_at);
    let scheduled_time = beijing_time(task.submitted_at + task.pending_for);
    let mut output = json!({"task_id": task_id, "submit_time": submit_time});
    let mut usage = None;
    let status = if matches!(task.outcome, Outcome::Lost) {
        output = json!({"task_id": task_id});
        "UNKNOWN"
    } else if elapsed < task.pending_for {
        "PENDING"
    } else if elapsed < task.pending_for + task.running_for {
        output["scheduled_time"] = json!(scheduled_time);
        "RUNNING"
    } else {
        output["scheduled_time"] = json!(scheduled_time);
        let end_time = beijing_time(task.submitted_at + task.pending_for + task.running_for);
        let failed = |output: &mut Value, f: &Failure| {
            output["end_time"] = json!(end_time);
            if let Some(code) = &f.code {
                output["code"] = json!(code);
            }
            if let Some(message) = &f.message {
                output["message"] = json!(message);
            }
            "FAILED"
        };
        match &task.outcome {
            Outcome::Fail(f) => failed(&mut output, f),
            Outcome::Succeed(render) => match render.get() {
                None => "RUNNING",
                Some(Ok(_)) => {
                    output["end_time"] = json!(end_time);
                    output["video_url"] = json!(video_url(&shared, &task_id, task));
                    output["orig_prompt"] = json!(task.prompt);
                    usage = Some(task.usage.clone());
                    "SUCCEEDED"
                }
                Some(Err(_)) => failed(
                    &mut output,
                    &Failure {
                        code: Some("InternalError".into()),
                        message: Some(
                            "The stand-in could not render the video (see its log).".into(),
                        ),
                    },
                ),
            },
            Outcome::Lost => unreachable!("handled above"),
        }
    };
    output["task_status"] = json!(status);
    let mut answer = json!({"request_id": uuid_like(), "output": output});
    if let Some(usage) = usage {
        answer["usage"] = usage;
    }
    Ok(json_response(200, answer))
}

fn video_url(shared: &Shared, task_id: &str, task: &Task) -> String {
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

async fn serve_file(
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

async fn generate_text(
    State(shared): State<Arc<Shared>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    gate(&shared, &parts.headers)?;
    let body = read_json(body).await?;
    let invalid = |message: &str| error(400, "InvalidParameter", message);
    let model = match body.get("model").and_then(Value::as_str).map(str::trim) {
        None | Some("") => {
            return Err(error(
                400,
                "BadRequest.EmptyModel",
                "Required parameter \"model\" missing from request.",
            ));
        }
        Some(m) => m.to_owned(),
    };
    if !(model.starts_with("qwen") || model.starts_with("qwq")) {
        return Err(invalid("Model not exist."));
    }
    let messages = body
        .pointer("/input/messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty());
    let Some(messages) = messages else {
        return Err(invalid(
            "Either \"prompt\" or \"messages\" must exist and cannot both be none",
        ));
    };
    let mut user = String::new();
    for m in messages {
        let (Some(role), Some(content)) = (
            m.get("role").and_then(Value::as_str),
            m.get("content").and_then(Value::as_str),
        ) else {
            return Err(invalid(
                "Each message needs a string role and a string content.",
            ));
        };
        if role == "user" {
            user = content.to_owned();
        }
        if let Some(refusal) = marker_refusal(content) {
            return Err(refusal);
        }
        if content.contains("[standin:fail]") || content.contains("[standin:ip]") {
            return Err(error(
                400,
                "DataInspectionFailed",
                "Input data may contain inappropriate content.",
            ));
        }
    }
    let params = body.get("parameters").cloned().unwrap_or(Value::Null);
    if params.get("enable_search").and_then(Value::as_bool) == Some(true)
        && !SEARCH_MODELS.iter().any(|m| model.starts_with(m))
    {
        return Err(invalid("This model does not support enable_search."));
    }
    let content = canned_description(&user);
    let input_tokens: usize = messages
        .iter()
        .filter_map(|m| m.get("content").and_then(Value::as_str))
        .map(|c| c.chars().count())
        .sum();
    let output_tokens = content.chars().count();
    let mut output = if params.get("result_format").and_then(Value::as_str) == Some("message") {
        json!({"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": content}}]})
    } else {
        json!({"text": content, "finish_reason": "stop"})
    };
    if params
        .pointer("/search_options/enable_source")
        .and_then(Value::as_bool)
        == Some(true)
    {
        output["search_info"] = json!({"search_results": [{
            "index": 1,
            "title": "离线替身的搜索结果",
            "url": "https://example.invalid/standin",
            "site_name": "stand-in",
            "icon": "",
        }]});
    }
    Ok(json_response(
        200,
        json!({
            "request_id": uuid_like(),
            "output": output,
            "usage": {
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }),
    ))
}

/// A plausible appearance, varied by the question so different characters read differently.
fn canned_description(question: &str) -> String {
    const HAIR: [&str; 5] = [
        "黑色短发",
        "金色长发",
        "粉色双马尾",
        "银白色卷发",
        "棕色蓬松短发",
    ];
    const CLOTHES: [&str; 5] = [
        "红色连帽外套",
        "蓝白相间的校服",
        "黄色背带裤",
        "绿色斗篷",
        "黑色皮夹克",
    ];
    const PROP: [&str; 5] = ["圆框眼镜", "星形发卡", "小背包", "长围巾", "木制法杖"];
    let h = question
        .bytes()
        .fold(5381u64, |h, b| h.wrapping_mul(33) ^ u64::from(b));
    let pick = |n: u64| (h / n % 5) as usize;
    format!(
        "圆脸大眼睛，{}，身材娇小，穿着{}，带着{}，表情活泼，动作夸张可爱。",
        HAIR[pick(1)],
        CLOTHES[pick(7)],
        PROP[pick(49)]
    )
}

fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A refused API call, answered with DashScope's error body `{"code","message","request_id"}`.
struct ApiError {
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

fn error(status: u16, code: &str, message: &str) -> ApiError {
    ApiError {
        status,
        code: code.to_owned(),
        message: message.to_owned(),
    }
}

fn uuid_like() -> String {
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

/// Like an OSS signature: base64 of a 20-byte HMAC, percent-encoded (so `%2B`, `%2F`, `%3D`
/// appear, and a client that decodes the query string breaks it).
fn signature() -> String {
    let raw: [u8; 20] = rand::random();
    STANDARD
        .encode(raw)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D")
}

/// `2025-07-27 21:05:15.212`, Beijing time, as DashScope writes timestamps.
fn beijing_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let millis = since.subsec_millis();
    let secs = since.as_secs() + 8 * 3600;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

fn check_ffmpeg(ffmpeg: &FsPath) -> io::Result<()> {
    let status = Command::new(ffmpeg)
        .arg("-version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "the DashScope stand-in needs ffmpeg, and {:?} does not run \
                 (install it: apt-get install ffmpeg, or set StandinConfig::ffmpeg)",
                ffmpeg
            ),
        )),
    }
}

/// Renders (or reads from the cache) the `w`×`h` video. Blocking: runs ffmpeg.
fn render_video(ffmpeg: &FsPath, dir: &FsPath, w: u32, h: u32) -> Result<Bytes, String> {
    let path = dir.join(format!("{RENDER_RECIPE}-{w}x{h}.mp4"));
    if let Ok(bytes) = std::fs::read(&path)
        && !bytes.is_empty()
    {
        return Ok(Bytes::from(bytes));
    }
    // A unique partial name, then a rename: parallel stand-ins (tests) never read a half file.
    let part = dir.join(format!("{RENDER_RECIPE}-{w}x{h}.{}.part", uuid_like()));
    let started = Instant::now();
    let output = Command::new(ffmpeg)
        .args(ffmpeg_args(w, h))
        .arg(&part)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {ffmpeg:?}: {e}"))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&part);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        tracing::error!(target: "emo_infra::standin", width = w, height = h, %tail, "ffmpeg failed");
        return Err(format!("ffmpeg failed for {w}x{h}: {tail}"));
    }
    std::fs::rename(&part, &path).map_err(|e| format!("cannot keep the rendered video: {e}"))?;
    tracing::info!(
        target: "emo_infra::standin",
        width = w,
        height = h,
        ms = started.elapsed().as_millis() as u64,
        "stand-in video rendered"
    );
    std::fs::read(&path)
        .map(Bytes::from)
        .map_err(|e| format!("cannot read the rendered video: {e}"))
}

/// A smiley that bounces, sways and wobbles over a background whose hue turns once in 5 s: it
/// moves everywhere, like a sticker, so GIF frame sampling and palettes get real work.
fn ffmpeg_args(w: u32, h: u32) -> Vec<String> {
    let d = ((w.min(h) * 2 / 5) / 2 * 2).max(16);
    // Inside the face square: st(0) distance to the centre, st(1) inside the face, st(2) on a
    // dark feature (outline, eyes, smile).
    let face = "st(0,hypot(X-W/2,Y-H/2));st(1,lt(ld(0),W*0.46));\
st(2,ld(1)*(gt(ld(0),W*0.42)+lt(hypot(X-W*0.34,Y-H*0.38),W*0.065)\
+lt(hypot(X-W*0.66,Y-H*0.38),W*0.065)+gt(Y,H*0.58)*between(hypot(X-W/2,Y-H*0.5),W*0.22,W*0.28)))";
    let graph = format!(
        "[0:v]hue=H=2*PI*t/5[bg];\
[1:v]format=rgba,trim=end_frame=1,\
geq=r='{face};if(gt(ld(2),0),70,255)':g='{face};if(gt(ld(2),0),45,205)':\
b='{face};if(gt(ld(2),0),20,40)':a='{face};255*ld(1)',\
loop=loop=-1:size=1,rotate=a='0.35*sin(2*PI*t)':c=none[face];\
[bg][face]overlay=x='(W-w)/2+(W-w)/2*0.8*sin(2*PI*t/2.5)':\
y='(H-h)-abs(sin(PI*t/1.25))*(H-h)*0.8':shortest=1,format=yuv420p"
    );
    [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "lavfi",
        "-i",
        &format!("color=c=0xFFD6E8:s={w}x{h}:r=30:d=5"),
        "-f",
        "lavfi",
        "-i",
        &format!("color=c=black:s={d}x{d}:r=30:d=1"),
        "-filter_complex",
        &graph,
        "-t",
        "5",
        "-r",
        "30",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-an",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_headers_give_their_dimensions() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&640u32.to_be_bytes());
        png.extend_from_slice(&480u32.to_be_bytes());
        assert_eq!(image_dimensions(&png), Some((640, 480)));

        // SOI, an APP0 segment of 16 bytes, then SOF0 with height 300 and width 400.
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        jpeg.extend_from_slice(&[0; 14]);
        jpeg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x01, 0x2c, 0x01, 0x90, 0x03]);
        assert_eq!(image_dimensions(&jpeg), Some((400, 300)));

        assert_eq!(image_dimensions(b"not an image"), None);
    }

    #[test]
    fn image_to_video_keeps_the_aspect_ratio_at_the_tier_pixel_count() {
        let portrait = ImageRef::Inline({
            let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
            png.extend_from_slice(&600u32.to_be_bytes());
            png.extend_from_slice(&800u32.to_be_bytes());
            png
        });
        let ((w, h), problem) = i2v_size("480P", &portrait);
        assert!(problem.is_none());
        assert!(w % 2 == 0 && h % 2 == 0);
        assert!((f64::from(w) / f64::from(h) - 0.75).abs() < 0.01, "{w}x{h}");
        let pixels = f64::from(w * h);
        assert!((pixels / (832.0 * 480.0) - 1.0).abs() < 0.02, "{w}x{h}");
    }

    #[test]
    fn timestamps_are_beijing_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_753_621_515_212); // 2025-07-27 13:05:15.212 UTC
        assert_eq!(beijing_time(t), "2025-07-27 21:05:15.212");
    }
}
