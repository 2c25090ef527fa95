//! The offline DashScope stand-in: an HTTP server that speaks the slice of DashScope Emo uses,
//! with the same paths, headers, JSON shapes and error statuses, and answers with real MP4s, so
//! the client, the worker and the GIF pipeline run end to end with no account and no network.
//!
//! Endpoints (under `{base_url}` = `http://127.0.0.1:PORT/api/v1`):
//! - `POST /services/aigc/video-generation/video-synthesis`: creates a text-to-video or
//!   image-to-video task; needs `Authorization: Bearer …` (401 `InvalidApiKey`) and
//!   `X-DashScope-Async: enable` (403 `AccessDenied`); validates model, `size` (t2v),
//!   `resolution` and `img_url` (i2v), `duration` (400 `InvalidParameter`).
//! - `GET /tasks/{task_id}`: `PENDING` for `pending_for`, `RUNNING` for `running_for` plus the
//!   task's share of `running_spread` (and until the video is rendered), then `SUCCEEDED` with a
//!   `video_url` and the `end_time` it became so, or `FAILED` with `code` and `message`; unknown
//!   ids answer `UNKNOWN`, as DashScope does.
//! - `GET /tasks/` (or `/tasks`) `?start_time=&end_time=&model_name=&status=&page_no=&page_size=`:
//!   the task list of the asynchronous task management API, `{"total", "data": [{"task_id",
//!   "model_name", "gmt_create", "start_time", "end_time", "status", "request_id", "api_key_id",
//!   "region", …}], "total_page", "page_no", "page_size", "request_id"}`, newest first. The
//!   times are `YYYYMMDDhhmmss`, which the stand-in reads as Beijing time (UTC+8; the reference
//!   names no zone); 400 `InvalidParameter` on another format, a range over 24 hours or ending
//!   before it starts, an unknown status, a page number below 1, a page size outside 1..=100.
//! - `POST /tasks/{task_id}/cancel`: cancels a task still `PENDING` (`{"request_id"}`; it then
//!   answers `CANCELED`); any other task answers 400 `UnsupportedOperation`, an unknown id 400
//!   `InvalidParameter`. `parameters.seed`, checked at create (an integer in
//!   `[0, 2147483647]`), is kept with the task ([`StandinHandle::tasks`]).
//! - `POST /services/aigc/text-generation/generation`: Qwen's native answer with
//!   `output.choices[0].message.content`, a canned description of a character.
//! - `GET /files/{task_id}.mp4?Expires=…&OSSAccessKeyId=…&Signature=…` (outside `/api/v1`): the
//!   video, like a signed OSS URL: a wrong or re-encoded `Signature` answers 403, and an
//!   `Authorization` header answers 400, so a client that mangles the query string or sends its
//!   API key to the file host is caught.
//! - `GET /_standin/tasks?prompt_contains=…` (outside `/api/v1`, stand-in only, no key): `{"count":
//!   n, "task_ids": [...]}`, the tasks made in the last day whose prompt contains the text (every
//!   task without it), oldest first, so that a test running Emo in another process can count the
//!   tasks a job paid for; in the same process, [`StandinHandle::task_ids`] and
//!   [`StandinHandle::tasks_created`] say the same.
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
//! | `[standin:500]` | the create answers HTTP 500 `InternalError` (no task is made) |
//! | `[standin:500-after-create]` | the create makes (and counts) the task, then answers HTTP 500 `InternalError` |
//! | `[standin:hang-create]` | the create makes the task, then holds its answer until the client gives up (or 10 minutes) |
//! | `[standin:429-storm]` | the first 3 creates with this exact prompt answer 429 `Throttling.RateQuota` without a task; later ones succeed |
//! | `[standin:query-5xx]` | the task's first 3 queries answer HTTP 500 `InternalError`, later ones as usual |
//! | `[standin:odd-status]` | the task's first 3 queries answer the undocumented `task_status` `SUSPENDED`, then it runs as usual |
//! | `[standin:corrupt]` | the task succeeds, but its video URL serves bytes that are no MP4 |
//! | `[standin:gone]` | the task succeeds, but its video URL answers 404 |
//!
//! The source: this file holds the public face (the configuration, [`Standin`], [`StandinHandle`]
//! and its failure injection); `state` what the handle and the handlers share; `routes` the
//! router, the request log, the key check and DashScope's error answers; `validate` the rules of a
//! video-synthesis request; `tasks` a task's create and query along its timeline, with the faults
//! of one task's calls; `list` the task list and the stand-in-only count; `cancel` the cancel of
//! a pending task and what tests read of the tasks made; `markers` the prompt
//! markers that fail a call or a task; `images` the image-to-video input (data URI, header
//! dimensions, output size); `files` the signed video URLs and the file host; `video` the ffmpeg
//! rendering and its caches; `qwen` the canned text generation.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

mod cancel;
mod files;
mod images;
mod list;
mod markers;
mod qwen;
mod routes;
mod state;
mod tasks;
mod validate;
mod video;

pub use cancel::TaskSummary;
pub use images::image_dimensions;

use routes::router;
use state::{Failure, Inner, Mishap, Rejection, Shared};
use video::check_ffmpeg;

/// Sizes wanx2.1-t2v-turbo accepts (480P and 720P tiers).
pub const T2V_SIZES: [&str; 8] = [
    "832*480", "480*832", "624*624", "1280*720", "720*1280", "960*960", "1088*832", "832*1088",
];
/// Tiers wan2.2-i2v-flash accepts.
pub const I2V_RESOLUTIONS: [&str; 3] = ["480P", "720P", "1080P"];

/// How the stand-in behaves. `Default` finishes a task in about two seconds.
#[derive(Debug, Clone)]
pub struct StandinConfig {
    /// How long a new task answers `PENDING`.
    pub pending_for: Duration,
    /// How long it then answers `RUNNING` (longer if its video is still rendering).
    pub running_for: Duration,
    /// Up to how much longer than `running_for` a task runs: the `n`th task made runs
    /// `running_for + running_spread × frac(n × φ)` (the golden-ratio sequence), so durations
    /// differ from task to task, spread evenly over the range, and are the same in every run.
    /// Zero (the default): every task runs `running_for`.
    pub running_spread: Duration,
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
            running_spread: Duration::ZERO,
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
            closing: watch::channel(false).0,
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
    /// say), or when the stand-in shuts down; the call itself still takes effect, as a slow
    /// DashScope's would.
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

    /// Tasks created so far (refused creates do not count; a create that made its task and then
    /// failed or hung does).
    pub fn tasks_created(&self) -> usize {
        self.shared.lock().tasks_created
    }

    /// The tasks made in the last day, oldest first: prompt, seed, whether cancelled, whether
    /// their video was fetched.
    pub fn tasks(&self) -> Vec<TaskSummary> {
        cancel::summaries(&self.shared.lock())
    }

    /// The ids of the tasks made in the last day whose prompt contains `prompt_contains` (every
    /// task for `""`), oldest first: how many tasks one job paid for.
    pub fn task_ids(&self, prompt_contains: &str) -> Vec<String> {
        list::task_ids(&self.shared.lock(), prompt_contains)
    }

    /// The most tasks that were pending or running at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.lock().max_in_flight
    }

    /// The requests received so far, oldest first (the last 10 000).
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.lock().seen.iter().cloned().collect()
    }

    /// Stops accepting connections and waits for the requests in flight (answers held on
    /// purpose end at once).
    pub async fn shutdown(mut self) {
        self.shared.closing.send_replace(true);
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
        self.shared.closing.send_replace(true);
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Which API call a mishap is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `POST …/video-synthesis`.
    Create,
    /// `GET /tasks/{task_id}` (not the task list).
    Query,
}
