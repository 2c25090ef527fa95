//! The HTTP side: one `reqwest::Client` per process, the retry policy, and the calls: video
//! tasks (with or without a seed), the task query and its cancel, Qwen, the video download.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderValue;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{DashScopeError, ErrorKind, bounded};
use super::hosts::{OffList, VideoHosts};
use super::wire::{
    ErrorBody, GenerationAnswer, GenerationInput, GenerationParameters, GenerationRequest,
    ListedTask, Message, SearchOptions, TaskAnswer, TaskListAnswer, TaskState, TaskStatus,
    VideoInput, VideoParameters, VideoRequest, as_u64,
};

/// Beijing region, where qwen-plus web search is available.
pub const DEFAULT_BASE_URL: &str = "https://dashscope.aliyuncs.com/api/v1";
/// The Chinese docs' and the Python SDK's spelling; the international region documents
/// `wan2.1-t2v-turbo`.
pub const DEFAULT_T2V_MODEL: &str = "wanx2.1-t2v-turbo";
pub const DEFAULT_I2V_MODEL: &str = "wan2.2-i2v-flash";
pub const DEFAULT_TEXT_MODEL: &str = "qwen-plus";

/// The only duration wanx2.1-t2v-turbo and wan2.2-i2v-flash accept.
const VIDEO_SECONDS: u32 = 5;
use crate::domain::{MAX_PROMPT_CHARS, MAX_ROLE_CHARS};
/// Longest description [`DashScope::describe_character`] returns. The model is asked for 120
/// characters; this leaves room for its overshoot and for the rest of the video prompt within
/// DashScope's 800-character prompt limit.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// Cap on JSON answers; real ones are a few hundred bytes.
const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Cap on error bodies read to find their `code`.
const MAX_ERROR_BYTES: usize = 64 << 10;

/// The most pages [`DashScope::list_tasks`] reads before it gives up on knowing the whole list.
pub const MAX_LIST_PAGES: u32 = 20;
/// Page size asked of the task list; its reference gives a default (10) and no maximum.
const LIST_PAGE_SIZE: u32 = 100;
/// How far the task list's range may span, by its reference.
const LIST_RANGE_MS: u64 = 24 * 3600 * 1000;
/// Beijing time (UTC+8), in which [`DashScope::list_tasks`] writes its range.
const BEIJING_OFFSET_MS: u64 = 8 * 3600 * 1000;
/// The widest window [`DashScope::list_tasks`] accepts: the range less the 8 hours it is widened
/// by, so that either reading of its times stays within 24 hours.
pub const MAX_LIST_WINDOW_MS: u64 = LIST_RANGE_MS - BEIJING_OFFSET_MS;

const VIDEO_PATH: &str = "/services/aigc/video-generation/video-synthesis";
const TEXT_PATH: &str = "/services/aigc/text-generation/generation";

/// Everything the client needs. Build with [`DashScopeConfig::new`] and override fields.
#[derive(Clone)]
pub struct DashScopeConfig {
    /// Native API root, e.g. `https://dashscope.aliyuncs.com/api/v1`; paths are appended to it.
    pub base_url: String,
    /// Sent only as `Authorization: Bearer …` to `base_url`; never logged, never in errors.
    pub api_key: String,
    pub t2v_model: String,
    pub i2v_model: String,
    pub text_model: String,
    /// Limit on one attempt, from connecting to the last byte of the answer.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Extra attempts after the first, for the failures worth retrying.
    pub max_retries: u32,
    /// First retry delay; doubled per retry, capped at `backoff_max`, with jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Where [`DashScope::download_video`] may fetch from, redirects included; DashScope's
    /// result buckets by default.
    pub video_hosts: VideoHosts,
}

impl DashScopeConfig {
    /// The production defaults (Beijing region, documented models) with this key.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: api_key.into(),
            t2v_model: DEFAULT_T2V_MODEL.to_owned(),
            i2v_model: DEFAULT_I2V_MODEL.to_owned(),
            text_model: DEFAULT_TEXT_MODEL.to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 3,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            video_hosts: VideoHosts::default(),
        }
    }
}

impl fmt::Debug for DashScopeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashScopeConfig")
            .field("base_url", &self.base_url)
            .field("api_key", &"<redacted>")
            .field("t2v_model", &self.t2v_model)
            .field("i2v_model", &self.i2v_model)
            .field("text_model", &self.text_model)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("max_retries", &self.max_retries)
            .field("backoff_base", &self.backoff_base)
            .field("backoff_max", &self.backoff_max)
            .field("video_hosts", &self.video_hosts)
            .finish()
    }
}

/// The DashScope client. Build once per process and share it (cloning is cheap).
#[derive(Clone)]
pub struct DashScope {
    config: DashScopeConfig,
    base: String,
    /// `Bearer <key>`, marked sensitive so `http` never prints it; shared by clones and replaced
    /// when the key is rotated.
    auth: Arc<RwLock<HeaderValue>>,
    http: reqwest::Client,
    /// For videos only: no key, and redirects only to `config.video_hosts`.
    video_http: reqwest::Client,
}

impl fmt::Debug for DashScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashScope")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The `Authorization` value for `key`, marked sensitive.
fn bearer(key: &str) -> Result<HeaderValue, DashScopeError> {
    if key.trim().is_empty() {
        return Err(DashScopeError::Setup("the API key is empty"));
    }
    let mut auth = HeaderValue::from_str(&format!("Bearer {}", key.trim()))
        .map_err(|_| DashScopeError::Setup("the API key has characters a header cannot carry"))?;
    auth.set_sensitive(true);
    Ok(auth)
}

/// Whether repeating a call after it may have reached DashScope is harmless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// Creates a billed task: repeat only what DashScope certainly did not act on.
    Create,
    /// Reads, or costs only tokens: repeat on any transient failure.
    Idempotent,
}

impl DashScope {
    /// Fails with [`DashScopeError::Setup`] on an empty or unusable key, a base URL that is not
    /// http(s), or when the HTTP client cannot be built.
    pub fn new(config: DashScopeConfig) -> Result<Self, DashScopeError> {
        let auth = Arc::new(RwLock::new(bearer(&config.api_key)?));
        let base = config.base_url.trim().trim_end_matches('/').to_owned();
        match reqwest::Url::parse(&base) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => return Err(DashScopeError::Setup("base_url is not an http(s) URL")),
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("emo/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| DashScopeError::Setup("the HTTP client cannot be built"))?;
        let video_http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("emo/", env!("CARGO_PKG_VERSION")))
            .redirect(config.video_hosts.redirect_policy())
            .build()
            .map_err(|_| DashScopeError::Setup("the HTTP client cannot be built"))?;
        Ok(Self {
            config,
            base,
            auth,
            http,
            video_http,
        })
    }

    /// Uses `key` from now on, in this client and its clones (a rotated key read again from the
    /// secret store). Refuses, keeping the old key, an empty or unusable one.
    pub fn set_api_key(&self, key: &str) -> Result<(), DashScopeError> {
        let value = bearer(key)?;
        *self.auth.write().unwrap_or_else(|e| e.into_inner()) = value;
        Ok(())
    }

    fn auth(&self) -> HeaderValue {
        self.auth.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The configuration this client was built with (its Debug redacts the key).
    pub fn config(&self) -> &DashScopeConfig {
        &self.config
    }

    /// Submits a text-to-video task (`wanx2.1-t2v-turbo` by default) of `size` `"W*H"` and
    /// returns its task id. 5 s, prompt extension on, no watermark, the seed DashScope picks.
    ///
    /// Fails with `InvalidInput` on an empty prompt, `Api` when DashScope refuses (moderation,
    /// size, account, throttling outliving the retries), `Interrupted` when the request may have
    /// been received but no clear answer came (any 5xx, a timeout, a broken connection, a 2xx
    /// without a readable task id; not repeated, to avoid paying twice), `Unreachable`.
    pub async fn create_text_to_video(
        &self,
        prompt: &str,
        negative_prompt: Option<&str>,
        size: &str,
    ) -> Result<String, DashScopeError> {
        self.create_text_to_video_seeded(prompt, negative_prompt, size, None)
            .await
    }

    /// [`DashScope::create_text_to_video`] with `parameters.seed` (`[0, 2147483647]`) when
    /// given: the same request and seed make the same video, another seed another take.
    pub async fn create_text_to_video_seeded(
        &self,
        prompt: &str,
        negative_prompt: Option<&str>,
        size: &str,
        seed: Option<u32>,
    ) -> Result<String, DashScopeError> {
        let body = VideoRequest {
            model: &self.config.t2v_model,
            input: VideoInput {
                prompt: required(prompt, "the prompt is empty")?,
                negative_prompt: optional(negative_prompt),
                img_url: None,
            },
            parameters: VideoParameters {
                size: Some(required(size, "the size is empty")?),
                resolution: None,
                duration: VIDEO_SECONDS,
                prompt_extend: true,
                watermark: false,
                seed: checked_seed(seed)?,
            },
        };
        self.create_task("text-to-video", &body).await
    }

    /// Submits an image-to-video task (`wan2.2-i2v-flash` by default) animating the image in
    /// `img_data_uri` (`data:image/png;base64,…`, or a public http(s) URL) at `resolution`
    /// (`"480P"`, `"720P"`, `"1080P"`) and returns its task id.
    ///
    /// Fails like [`DashScope::create_text_to_video`]; an image DashScope cannot read often
    /// fails the task later rather than this call.
    pub async fn create_image_to_video(
        &self,
        prompt: &str,
        negative_prompt: Option<&str>,
        img_data_uri: &str,
        resolution: &str,
    ) -> Result<String, DashScopeError> {
        self.create_image_to_video_seeded(prompt, negative_prompt, img_data_uri, resolution, None)
            .await
    }

    /// [`DashScope::create_image_to_video`] with `parameters.seed` when given.
    pub async fn create_image_to_video_seeded(
        &self,
        prompt: &str,
        negative_prompt: Option<&str>,
        img_data_uri: &str,
        resolution: &str,
        seed: Option<u32>,
    ) -> Result<String, DashScopeError> {
        let body = VideoRequest {
            model: &self.config.i2v_model,
            input: VideoInput {
                prompt: required(prompt, "the prompt is empty")?,
                negative_prompt: optional(negative_prompt),
                img_url: Some(required(img_data_uri, "the image is empty")?),
            },
            parameters: VideoParameters {
                size: None,
                resolution: Some(required(resolution, "the resolution is empty")?),
                duration: VIDEO_SECONDS,
                prompt_extend: true,
                watermark: false,
                seed: checked_seed(seed)?,
            },
        };
        self.create_task("image-to-video", &body).await
    }

    /// Asks DashScope to cancel task `task_id` (`POST {base}/tasks/{task_id}/cancel`, the
    /// asynchronous task management API), which it does for a task still `PENDING` only; a
    /// cancelled task ends `CANCELED` and is not billed. Repeating it is harmless, so it is
    /// retried like a read.
    ///
    /// Fails with `InvalidInput` on an id that is not DashScope's shape; `Api` when DashScope
    /// refuses, which for a 4xx that is not throttling means the task cannot be cancelled (it
    /// runs, has ended, or is unknown); `Timeout`, `Unreachable`.
    pub async fn cancel_task(&self, task_id: &str) -> Result<(), DashScopeError> {
        let task_id = well_formed_task_id(task_id)?;
        let url = format!("{}/tasks/{task_id}/cancel", self.base);
        let _: serde::de::IgnoredAny = self
            .call("cancel", Call::Idempotent, || {
                self.http.post(&url).header(AUTHORIZATION, self.auth())
            })
            .await?;
        tracing::info!(task_id, "dashscope task cancelled");
        Ok(())
    }

    /// Where task `task_id` is. Unknown or expired ids answer `Ok` with [`TaskStatus::Unknown`];
    /// a status this client does not know answers `Ok` with [`TaskStatus::Unrecognized`].
    ///
    /// Fails with `InvalidInput` on an id that is not DashScope's shape, `Api` (bad key,
    /// throttling or 5xx outliving the retries), `Timeout`, `Unreachable`, or `Protocol` when the
    /// answer has no `output.task_status`.
    pub async fn query_task(&self, task_id: &str) -> Result<TaskState, DashScopeError> {
        let task_id = well_formed_task_id(task_id)?;
        let url = format!("{}/tasks/{task_id}", self.base);
        // No X-DashScope-Async here: the header belongs to creates only.
        let answer: TaskAnswer = self
            .call("query", Call::Idempotent, || {
                self.http.get(&url).header(AUTHORIZATION, self.auth())
            })
            .await?;
        let output = answer.output.ok_or(DashScopeError::Protocol {
            what: "the task query answer has no output",
        })?;
        let raw_status = output.task_status.ok_or(DashScopeError::Protocol {
            what: "the task query answer has no output.task_status",
        })?;
        let status = TaskStatus::parse(&raw_status);
        if status == TaskStatus::Unrecognized {
            tracing::warn!(
                task_id,
                status = %bounded(&raw_status),
                "dashscope answered a task status this client does not know; polling on"
            );
        }
        let state = TaskState {
            task_id: output.task_id.unwrap_or_else(|| task_id.to_owned()),
            status,
            video_url: output.video_url.filter(|u| !u.is_empty()),
            code: output.code.filter(|c| !c.is_empty()),
            message: output
                .message
                .filter(|m| !m.is_empty())
                .map(|m| bounded(&m)),
        };
        if state.status.is_terminal() {
            tracing::info!(
                task_id = %state.task_id,
                status = state.status.as_str(),
                code = state.code.as_deref().unwrap_or("-"),
                message = state.message.as_deref().unwrap_or("-"),
                "dashscope task finished"
            );
        } else {
            tracing::debug!(task_id = %state.task_id, status = state.status.as_str(), "dashscope task polled");
        }
        Ok(state)
    }

    /// The tasks of model `model` that DashScope made from `from_ms` to `to_ms` (milliseconds
    /// since the Unix epoch, both included), read from the task list of the asynchronous task
    /// management API (`GET {base}/tasks/`; <https://help.aliyun.com/zh/model-studio/manage-asynchronous-tasks>).
    /// It tells whether a create that ended `Interrupted` made a task after all. The list is a
    /// free read, retried like a task query.
    ///
    /// The reference writes `start_time` and `end_time` as `YYYYMMDDhhmmss` and does not say in
    /// which time zone it reads them; that it reads them as UTC or as Beijing time is an
    /// assumption. They are written in Beijing time (UTC+8), the start moved 8 hours earlier and
    /// the end rounded up to the second: read as Beijing time the range is [from − 8 h, to], read
    /// as UTC it is [from, to + 8 h], and both cover the window. The reference allows a range of
    /// at most 24 hours, so the window may span at most [`MAX_LIST_WINDOW_MS`] (16 hours, less the
    /// rounding to whole seconds). The
    /// answer is filtered here by its exact `gmt_create` (epoch milliseconds, unambiguous) and
    /// `model_name`. Pages of 100 are asked for (the reference gives a default of 10 and no
    /// maximum) and read up to the answer's `total_page`, at most [`MAX_LIST_PAGES`] of them.
    ///
    /// Fails with `InvalidInput` on an empty model, a window that ends before it starts or is
    /// longer than 16 hours; `TaskListTooLong` past the page limit; `Protocol` when a page is not
    /// the documented shape (no `data`, no page count, an item without `task_id`, `model_name`
    /// or `gmt_create`, an empty page before the last). After any error the caller cannot tell
    /// whether a task exists. Otherwise it fails like [`DashScope::query_task`].
    pub async fn list_tasks(
        &self,
        model: &str,
        from_ms: u64,
        to_ms: u64,
    ) -> Result<Vec<ListedTask>, DashScopeError> {
        let model = required(model, "the model is empty")?;
        if from_ms > to_ms {
            return Err(DashScopeError::InvalidInput(
                "the window ends before it starts",
            ));
        }
        let start_s = from_ms.saturating_sub(BEIJING_OFFSET_MS) / 1000;
        let end_s = to_ms.div_ceil(1000);
        if (end_s - start_s).saturating_mul(1000) > LIST_RANGE_MS {
            return Err(DashScopeError::InvalidInput(
                "the window is longer than the task list allows (16 hours)",
            ));
        }
        let (start, end) = (beijing_compact(start_s), beijing_compact(end_s));
        let url = reqwest::Url::parse(&format!("{}/tasks/", self.base))
            .map_err(|_| DashScopeError::Setup("base_url does not make a task list URL"))?;
        let size = LIST_PAGE_SIZE.to_string();
        let mut found: Vec<ListedTask> = Vec::new();
        let mut page: u32 = 1;
        loop {
            if page > MAX_LIST_PAGES {
                tracing::warn!(
                    model,
                    from_ms,
                    to_ms,
                    "dashscope task list too long to read"
                );
                return Err(DashScopeError::TaskListTooLong {
                    pages: MAX_LIST_PAGES,
                });
            }
            let mut page_url = url.clone();
            page_url
                .query_pairs_mut()
                .append_pair("start_time", &start)
                .append_pair("end_time", &end)
                .append_pair("model_name", model)
                .append_pair("page_no", &page.to_string())
                .append_pair("page_size", &size);
            let answer: TaskListAnswer = self
                .call("task list", Call::Idempotent, || {
                    self.http
                        .get(page_url.clone())
                        .header(AUTHORIZATION, self.auth())
                })
                .await?;
            let protocol = |what| DashScopeError::Protocol { what };
            let data = answer
                .data
                .ok_or(protocol("the task list answer has no data"))?;
            let pages = answer
                .total_page
                .as_ref()
                .and_then(as_u64)
                .or_else(|| {
                    let total = answer.total.as_ref().and_then(as_u64)?;
                    let per = answer
                        .page_size
                        .as_ref()
                        .and_then(as_u64)
                        .filter(|&n| n > 0)?;
                    Some(total.div_ceil(per))
                })
                .ok_or(protocol("the task list answer has no total_page"))?;
            let empty = data.is_empty();
            for item in data {
                let task_id = item
                    .task_id
                    .filter(|t| !t.is_empty())
                    .ok_or(protocol("a listed task has no task_id"))?;
                let created_ms = item
                    .gmt_create
                    .as_ref()
                    .and_then(as_u64)
                    .ok_or(protocol("a listed task has no gmt_create"))?;
                let listed_model = item
                    .model_name
                    .ok_or(protocol("a listed task has no model_name"))?;
                if listed_model != model
                    || !(from_ms..=to_ms).contains(&created_ms)
                    || found.iter().any(|t| t.task_id == task_id)
                {
                    continue;
                }
                found.push(ListedTask {
                    task_id,
                    created_ms,
                    status: TaskStatus::parse(item.status.as_deref().unwrap_or("")),
                });
            }
            if u64::from(page) >= pages {
                break;
            }
            if empty {
                return Err(protocol("a page before the last of the task list is empty"));
            }
            page += 1;
        }
        tracing::info!(
            model,
            from_ms,
            to_ms,
            pages = page,
            found = found.len(),
            "dashscope task list read"
        );
        Ok(found)
    }

    /// A short Chinese description of how character `role` (from `source`, e.g. a game or a
    /// show) looks, found with Qwen's forced web search, for use in a text-to-video prompt. The
    /// description avoids the character's and the work's names, which video moderation tends to
    /// refuse as IP. Trimmed and cut to [`MAX_DESCRIPTION_CHARS`].
    ///
    /// Fails with `InvalidInput` on an empty or over-long role or source, `Api` (moderation,
    /// account, throttling), `Timeout`, `Unreachable`, or `Protocol` on an empty answer.
    pub async fn describe_character(
        &self,
        role: &str,
        source: Option<&str>,
    ) -> Result<String, DashScopeError> {
        let role = required(role, "the character name is empty")?;
        let source = optional(source);
        if role.chars().count() > MAX_ROLE_CHARS
            || source.is_some_and(|s| s.chars().count() > MAX_ROLE_CHARS)
        {
            return Err(DashScopeError::InvalidInput(
                "the character name or source is too long",
            ));
        }
        let user = match source {
            Some(source) => format!("角色：{role}\n出处：{source}"),
            None => format!("角色：{role}\n出处：未说明（请按最知名的同名角色描述）"),
        };
        let body = GenerationRequest {
            model: &self.config.text_model,
            input: GenerationInput {
                messages: vec![
                    Message {
                        role: "system",
                        content: DESCRIBE_SYSTEM_PROMPT,
                    },
                    Message {
                        role: "user",
                        content: &user,
                    },
                ],
            },
            parameters: GenerationParameters {
                result_format: "message",
                enable_search: true,
                search_options: SearchOptions {
                    forced_search: true,
                    search_strategy: "turbo",
                },
                max_tokens: 400,
            },
        };
        let body =
            Bytes::from(
                serde_json::to_vec(&body).map_err(|_| DashScopeError::Protocol {
                    what: "the request cannot be encoded",
                })?,
            );
        let url = format!("{}{TEXT_PATH}", self.base);
        // A repeated generation costs a few tokens and creates nothing, so it may be retried
        // like a read.
        let answer: GenerationAnswer = self
            .call("describe-character", Call::Idempotent, || {
                self.http
                    .post(&url)
                    .header(AUTHORIZATION, self.auth())
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone())
            })
            .await?;
        let output = answer.output.unwrap_or_default();
        let text = output
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message)
            .and_then(|m| m.content)
            .and_then(|c| c.as_str().map(str::to_owned))
            .or(output.text)
            .unwrap_or_default();
        let description = cut_description(&text);
        if description.is_empty() {
            return Err(DashScopeError::Protocol {
                what: "the text answer has no content",
            });
        }
        tracing::info!(
            request_id = answer.request_id.as_deref().unwrap_or("-"),
            chars = description.chars().count(),
            "dashscope described a character"
        );
        Ok(description)
    }

    /// Fetches the MP4 at `url`, a signed OSS URL from a SUCCEEDED task: a plain GET with the
    /// query string untouched and without the API key, which must not travel to another host.
    /// Only a URL that `config.video_hosts` allows is fetched (https, or http to a listed loopback
    /// host), and a redirect is followed only to another such URL.
    ///
    /// Fails with `InvalidInput` on a URL that is not http(s), `UntrustedVideo` on a URL or a
    /// redirect off the list (nothing is fetched from there), `TooLarge` past `max_bytes`,
    /// `Download` on an error status (403 once the URL has expired), `Timeout`, `Unreachable`.
    pub async fn download_video(
        &self,
        url: &str,
        max_bytes: usize,
    ) -> Result<Bytes, DashScopeError> {
        let parsed = reqwest::Url::parse(url.trim())
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or(DashScopeError::InvalidInput(
                "the video URL is not an http(s) URL",
            ))?;
        // The query string carries the signature: log the host only.
        let host = parsed.host_str().unwrap_or("-").to_owned();
        if let Err(reason) = self.config.video_hosts.check(&parsed) {
            tracing::warn!(%host, reason, allowed = %self.config.video_hosts, "video URL refused");
            return Err(DashScopeError::UntrustedVideo { host, reason });
        }
        let max_attempts = self.config.max_retries.saturating_add(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= max_attempts;
            let failure = match self.video_http.get(parsed.clone()).send().await {
                Ok(resp) if resp.status().is_success() => {
                    match read_capped(resp, max_bytes).await {
                        Ok(Some(bytes)) => {
                            tracing::info!(%host, bytes = bytes.len(), "downloaded a dashscope video");
                            return Ok(bytes);
                        }
                        Ok(None) => return Err(DashScopeError::TooLarge { limit: max_bytes }),
                        Err(e) => e,
                    }
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_server_error() && !last {
                        self.pause("download", attempt, &status.to_string()).await;
                        continue;
                    }
                    tracing::warn!(%host, status = status.as_u16(), attempt, "video download refused");
                    return Err(DashScopeError::Download {
                        status: status.as_u16(),
                        attempts: attempt,
                    });
                }
                Err(e) => e,
            };
            if let Some(off) = OffList::in_error(&failure) {
                tracing::warn!(%host, to = %off.host, reason = off.reason, "video redirect refused");
                return Err(DashScopeError::UntrustedVideo {
                    host: off.host.clone(),
                    reason: off.reason,
                });
            }
            // The URL carries the signature; keep it out of logs and errors.
            let failure = failure.without_url();
            if !last {
                self.pause("download", attempt, transport_label(&failure))
                    .await;
                continue;
            }
            tracing::warn!(%host, attempt, error = %failure, "video download failed");
            return Err(transport_error(failure, attempt));
        }
    }

    async fn create_task(
        &self,
        what: &'static str,
        request: &VideoRequest<'_>,
    ) -> Result<String, DashScopeError> {
        let body =
            Bytes::from(
                serde_json::to_vec(request).map_err(|_| DashScopeError::Protocol {
                    what: "the request cannot be encoded",
                })?,
            );
        let url = format!("{}{VIDEO_PATH}", self.base);
        let answer: TaskAnswer = self
            .call(what, Call::Create, || {
                self.http
                    .post(&url)
                    .header(AUTHORIZATION, self.auth())
                    .header(CONTENT_TYPE, "application/json")
                    .header("X-DashScope-Async", "enable")
                    .body(body.clone())
            })
            .await?;
        let Some(task_id) = answer
            .output
            .and_then(|o| o.task_id)
            .filter(|id| !id.is_empty())
        else {
            // Accepted, but without the id: a task may exist all the same.
            tracing::error!(what, "dashscope create answered without output.task_id");
            return Err(DashScopeError::Interrupted {
                status: Some(200),
                code: None,
                request_id: answer.request_id,
                source: None,
            });
        };
        tracing::info!(
            %task_id,
            model = request.model,
            request_id = answer.request_id.as_deref().unwrap_or("-"),
            "dashscope {what} task created"
        );
        Ok(task_id)
    }

    /// Sends the request `build` makes, retrying what `kind` allows, and parses a 2xx answer.
    ///
    /// For [`Call::Create`], only what DashScope certainly did not act on is repeated: a 429
    /// whose code is throttling, and a connect error (nothing was written). Any 5xx, a timeout,
    /// a connection that broke after the request may have been written, or a 2xx whose answer
    /// cannot be read ends in `Interrupted`; other 4xx refusals are returned as they are. Reads
    /// repeat 429 throttling, 5xx and every transport failure.
    async fn call<T: DeserializeOwned>(
        &self,
        what: &'static str,
        kind: Call,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<T, DashScopeError> {
        let max_attempts = self.config.max_retries.saturating_add(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= max_attempts;
            let (failure, may_have_arrived) = match build().send().await {
                Ok(resp) if resp.status().is_success() => {
                    let status = resp.status().as_u16();
                    // A 2xx means a create did happen; an answer that cannot be read loses only
                    // the task's id, so the create counts as interrupted.
                    let unreadable = |what: &'static str| {
                        tracing::warn!(what, status, "dashscope answered 2xx unreadably");
                        if kind == Call::Create {
                            interrupted_2xx(status)
                        } else {
                            DashScopeError::Protocol { what }
                        }
                    };
                    match read_capped(resp, MAX_ANSWER_BYTES).await {
                        Ok(Some(bytes)) => {
                            return serde_json::from_slice(&bytes)
                                .map_err(|_| unreadable("the answer is not the documented JSON"));
                        }
                        Ok(None) => return Err(unreadable("the answer is too large")),
                        // The answer started, so a create did happen; only its id was lost.
                        Err(e) => (e, true),
                    }
                }
                Ok(resp) => {
                    let status = resp.status();
                    let err = refusal(resp, attempt).await;
                    if kind == Call::Create && status.is_server_error() {
                        // No clear answer: a 500 can come after the task was made and billed,
                        // and a gateway may have passed the create on before failing.
                        let (code, request_id) = match &err {
                            DashScopeError::Api {
                                code, request_id, ..
                            } => (Some(code.clone()), request_id.clone()),
                            _ => (None, None),
                        };
                        tracing::error!(
                            what,
                            status = status.as_u16(),
                            code = code.as_deref().unwrap_or("-"),
                            request_id = request_id.as_deref().unwrap_or("-"),
                            "dashscope create answered 5xx; not repeated, a task may exist"
                        );
                        return Err(DashScopeError::Interrupted {
                            status: Some(status.as_u16()),
                            code,
                            request_id,
                            source: None,
                        });
                    }
                    if repeatable_status(status, &err) && !last {
                        self.pause(what, attempt, err.code().unwrap_or("-")).await;
                        continue;
                    }
                    tracing::warn!(what, error = %err, "dashscope call refused");
                    return Err(err);
                }
                // A connect error (including a connect timeout) happens before any byte of the
                // request is written, so even a create can be repeated safely.
                Err(e) => {
                    let arrived = !e.is_connect();
                    (e, arrived)
                }
            };
            let failure = failure.without_url();
            if kind == Call::Create && may_have_arrived {
                tracing::error!(
                    what,
                    error = %failure,
                    "dashscope create interrupted after it may have arrived; not repeated"
                );
                return Err(DashScopeError::Interrupted {
                    status: None,
                    code: None,
                    request_id: None,
                    source: Some(failure),
                });
            }
            if !last {
                self.pause(what, attempt, transport_label(&failure)).await;
                continue;
            }
            tracing::warn!(what, attempt, error = %failure, "dashscope call failed");
            return Err(transport_error(failure, attempt));
        }
    }

    /// Sleeps before retry `attempt + 1`: exponential from `backoff_base`, capped, with jitter
    /// over the upper half so that workers throttled together do not return together.
    async fn pause(&self, what: &'static str, attempt: u32, reason: &str) {
        let base = self.config.backoff_base.as_millis().min(u64::MAX as u128) as u64;
        let cap = self.config.backoff_max.as_millis().min(u64::MAX as u128) as u64;
        let exp = base
            .saturating_mul(1u64 << (attempt - 1).min(20))
            .min(cap.max(base));
        let delay = if exp > 1 {
            rand::random_range(exp / 2..=exp)
        } else {
            exp
        };
        tracing::warn!(
            what,
            attempt,
            reason,
            delay_ms = delay,
            "dashscope call will be retried"
        );
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
}

/// A create that DashScope accepted (`status`, 2xx) but whose answer lost the task's id.
fn interrupted_2xx(status: u16) -> DashScopeError {
    DashScopeError::Interrupted {
        status: Some(status),
        code: None,
        request_id: None,
        source: None,
    }
}

/// Reads a refused call's body for its `code`, never keeping the body itself.
async fn refusal(resp: reqwest::Response, attempt: u32) -> DashScopeError {
    let status = resp.status().as_u16();
    let body: ErrorBody = match read_capped(resp, MAX_ERROR_BYTES).await {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_default(),
        _ => ErrorBody::default(),
    };
    let code = body
        .code
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(|| "Unknown".to_owned());
    let message = body
        .message
        .filter(|m| !m.trim().is_empty())
        .map(|m| bounded(&m));
    DashScopeError::Api {
        kind: ErrorKind::classify(Some(status), Some(&code), message.as_deref()),
        status,
        code,
        message,
        request_id: body.request_id,
        attempts: attempt,
    }
}

/// 429 throttling (not an account code listed under 429, which waiting does not fix) and 5xx
/// are worth repeating; [`DashScope::call`] never lets a create reach the 5xx case.
fn repeatable_status(status: StatusCode, err: &DashScopeError) -> bool {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return err.kind() == ErrorKind::Throttled;
    }
    status.is_server_error()
}

fn transport_error(source: reqwest::Error, attempts: u32) -> DashScopeError {
    if source.is_timeout() {
        DashScopeError::Timeout { attempts, source }
    } else {
        DashScopeError::Unreachable { attempts, source }
    }
}

fn transport_label(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    }
}

/// The body, or `None` once it passes `cap` bytes (checked against Content-Length first).
async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Option<Bytes>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Ok(None);
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await? {
        if buf.len() + chunk.len() > cap {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Some(buf.freeze()))
}

/// `task_id` trimmed, if it has DashScope's shape (it goes into a URL path).
fn well_formed_task_id(task_id: &str) -> Result<&str, DashScopeError> {
    let task_id = task_id.trim();
    let well_formed = !task_id.is_empty()
        && task_id.len() <= 128
        && task_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if well_formed {
        Ok(task_id)
    } else {
        Err(DashScopeError::InvalidInput("the task id is malformed"))
    }
}

/// The largest `parameters.seed` the video models take.
const MAX_SEED: u32 = 2_147_483_647;

fn checked_seed(seed: Option<u32>) -> Result<Option<u32>, DashScopeError> {
    match seed {
        Some(s) if s > MAX_SEED => Err(DashScopeError::InvalidInput(
            "the seed is outside [0, 2147483647]",
        )),
        other => Ok(other),
    }
}

/// `secs` since the Unix epoch as Beijing time (UTC+8), `YYYYMMDDhhmmss`, the task list's format.
fn beijing_compact(secs: u64) -> String {
    let c = crate::clock::china_civil(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

fn required<'a>(value: &'a str, problem: &'static str) -> Result<&'a str, DashScopeError> {
    let value = value.trim();
    if value.is_empty() {
        Err(DashScopeError::InvalidInput(problem))
    } else {
        Ok(value)
    }
}

fn optional(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Asks for visible traits only and no names: names of famous characters are what video
/// moderation refuses as IP, while a description of the look is what the video model can use.
const DESCRIBE_SYSTEM_PROMPT: &str = "你是表情包动画的角色外观助手。请先联网搜索，再用中文描述用户给出的角色的外貌，\
供文生视频模型作画面提示词。只写看得见的特征：脸型与五官、发型与发色、体型、服装与配色、标志性配饰或道具。\
不要写角色名、作品名、剧情、性格或出处，不要分点，不要加任何解释或前后缀。输出一段话，不超过120个字。";

/// Trims the model's answer and cuts it to [`MAX_DESCRIPTION_CHARS`], at the last sentence or
/// clause end when one is in the second half, so the prompt does not stop mid-phrase.
fn cut_description(text: &str) -> String {
    let text = text
        .trim()
        .trim_matches(|c| c == '"' || c == '“' || c == '”')
        .trim();
    let Some((limit, _)) = text.char_indices().nth(MAX_DESCRIPTION_CHARS) else {
        return text.to_owned();
    };
    let head = &text[..limit];
    let half = head.len() / 2;
    match head.rfind(['。', '；', '，', '.', ';', ',']) {
        Some(i) if i >= half => {
            let end = i + head[i..].chars().next().map_or(0, char::len_utf8);
            head[..end].trim_end_matches(['，', ',']).to_owned()
        }
        _ => head.to_owned(),
    }
}

/// The text-to-video prompt of a character job: Qwen's description (from
/// [`DashScope::describe_character`]), then the action, in sticker style; at most DashScope's
/// prompt limit.
pub fn character_prompt(description: &str, action: &str) -> String {
    let prompt = format!("{description}。动作：{action}。表情包风格，动作夸张生动，背景简洁。");
    prompt.chars().take(MAX_PROMPT_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_debug_never_shows_the_key() {
        let config = DashScopeConfig::new("sk-very-secret-123");
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("sk-very-secret-123"));
        let client = DashScope::new(config).unwrap();
        assert!(!format!("{client:?}").contains("sk-very-secret-123"));
    }

    #[test]
    fn an_empty_key_or_a_bad_base_url_fails_setup() {
        assert!(matches!(
            DashScope::new(DashScopeConfig::new(" ")),
            Err(DashScopeError::Setup(_))
        ));
        let mut config = DashScopeConfig::new("k");
        config.base_url = "ftp://example.com".into();
        assert!(matches!(
            DashScope::new(config),
            Err(DashScopeError::Setup(_))
        ));
    }

    #[test]
    fn the_task_lists_times_are_beijing_time() {
        // 2025-04-25 08:07:08 UTC is 16:07:08 in Beijing.
        assert_eq!(beijing_compact(1_745_568_428), "20250425160708");
        // Across a day and a year boundary: 2024-12-31 16:00:00 UTC is New Year in Beijing.
        assert_eq!(beijing_compact(1_735_660_800), "20250101000000");
        assert_eq!(beijing_compact(0), "19700101080000");
    }

    #[tokio::test]
    async fn a_task_list_window_that_cannot_be_asked_for_is_refused_before_any_call() {
        let mut config = DashScopeConfig::new("k");
        // Nothing listens here: a call would fail Unreachable, not InvalidInput.
        config.base_url = "http://127.0.0.1:9/api/v1".into();
        let client = DashScope::new(config).unwrap();
        let hour = 3_600_000;
        let t = 1_745_568_428_109;
        for (model, from, to) in [
            ("wan2.2-i2v-flash", t, t - 1),
            ("wan2.2-i2v-flash", t, t + MAX_LIST_WINDOW_MS + 1),
            ("wan2.2-i2v-flash", t, t + 17 * hour),
            (" ", t, t + hour),
        ] {
            let err = client.list_tasks(model, from, to).await.unwrap_err();
            assert!(
                matches!(err, DashScopeError::InvalidInput(_)),
                "{model} {from} {to}: {err:?}"
            );
        }
    }

    #[test]
    fn long_descriptions_are_cut_at_a_clause_end() {
        let short = "  圆脸，大眼睛。 ";
        assert_eq!(cut_description(short), "圆脸，大眼睛。");
        let long = "红色短发的少女，".repeat(40);
        let cut = cut_description(&long);
        assert!(cut.chars().count() <= MAX_DESCRIPTION_CHARS);
        assert!(cut.ends_with('女'), "{cut}");
        let unbroken = "字".repeat(500);
        assert_eq!(
            cut_description(&unbroken).chars().count(),
            MAX_DESCRIPTION_CHARS
        );
    }
}
