//! Sections 2.2 and 2.3 of the spec: create a sticker job (from a prompt, a photo, or a character
//! and an action) and query it.
//!
//! Create validates everything before anything is stored or queued, then writes the input image
//! (if any), the job and its Start message, undoing the first two if a later one fails: a refused
//! request leaves nothing behind and costs nothing at DashScope. The slow work happens in the
//! worker; these handlers answer at once. Query reads only the jobs table.

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::{AuthError, authenticate, bearer::INVALID_TOKEN};
use crate::domain::Invalid;
use crate::job::{
    Job, JobId, JobMessage, JobRequest, JobStatus, MAX_ACTION_CHARS, MAX_NEGATIVE_PROMPT_CHARS,
    MAX_PROMPT_CHARS, MAX_ROLE_CHARS, MAX_SOURCE_CHARS, bounded_text, parse_resolution, parse_size,
};
use crate::store::{StoreError, User, enqueue, input_key};
use crate::web::response::{INTERNAL, json_response, video_error};
use crate::web::{Form, FormError};

/// The spec's sentence for `create_with_prompt`, to be shown to the user.
pub const CHARACTER_NOTICE: &str = "目前联网生成是根据角色，通过联网，用文本描述样貌之后进行生成。效果远不及图生表情。建议通过图生表情";

/// What can go wrong in a video endpoint, each with its status and client message.
#[derive(Debug)]
enum Failure {
    BadRequest(String),
    Unauthorized,
    /// Over a per-user allowance: refused before anything is stored, so it costs nothing.
    TooMany(String),
    Internal(anyhow::Error),
}

impl From<FormError> for Failure {
    fn from(e: FormError) -> Self {
        match e {
            FormError::Missing(name) => Failure::BadRequest(format!("{name} 不能为空")),
            FormError::Malformed(m) => Failure::BadRequest(m),
        }
    }
}

impl From<Invalid> for Failure {
    fn from(e: Invalid) -> Self {
        Failure::BadRequest(e.0)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Internal(e.into())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Internal(e)
    }
}

impl From<AuthError> for Failure {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthorized => Failure::Unauthorized,
            AuthError::Store(s) => s.into(),
        }
    }
}

fn respond(endpoint: &'static str, result: Result<Response<Body>, Failure>) -> Response<Body> {
    match result {
        Ok(r) => r,
        Err(Failure::BadRequest(m)) => video_error(StatusCode::BAD_REQUEST, &m),
        Err(Failure::Unauthorized) => video_error(StatusCode::UNAUTHORIZED, INVALID_TOKEN),
        Err(Failure::TooMany(m)) => video_error(StatusCode::TOO_MANY_REQUESTS, &m),
        Err(Failure::Internal(e)) => {
            tracing::error!(endpoint, error = format!("{e:#}"), "request failed");
            video_error(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL)
        }
    }
}

/// `{"code": 200, "message": "任务创建成功", "data": {...}}`.
fn created(data: Value) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "code": 200, "message": "任务创建成功", "data": data }),
    )
}

/// `POST /api/v1/video/create`: `type` (`text_to_video` | `image_to_video`), `prompt`,
/// `negative_prompt`, `size` (text), `resolution` and `img_base64` (image).
pub async fn create(state: &AppState, req: Request) -> Response<Body> {
    respond("video-create", create_inner(state, &req).await)
}

async fn create_inner(state: &AppState, req: &Request) -> Result<Response<Body>, Failure> {
    let user = authenticate(state, req).await?;
    let form = Form::parse(req).await?;
    let kind = form.required("type")?.trim().to_owned();
    let prompt = bounded_text("prompt", form.optional("prompt"), MAX_PROMPT_CHARS, true)?
        .unwrap_or_default();
    let negative_prompt = bounded_text(
        "negative_prompt",
        form.optional("negative_prompt"),
        MAX_NEGATIVE_PROMPT_CHARS,
        false,
    )?;
    let job_id = JobId::new();
    let (request, image) = match kind.as_str() {
        "text_to_video" => (
            JobRequest::TextToVideo {
                prompt,
                negative_prompt,
                size: parse_size(form.optional("size"))?,
            },
            None,
        ),
        "image_to_video" => {
            let resolution = parse_resolution(form.optional("resolution"))?;
            let uri = form
                .optional("img_base64")
                .ok_or_else(|| {
                    Invalid("img_base64 不能为空（image_to_video 需要输入图片）".into())
                })?
                .to_owned();
            // Decoding a 2000 px image takes tens of milliseconds of CPU: not on an async thread.
            let image = tokio::task::spawn_blocking(move || crate::photo::parse_data_uri(&uri))
                .await
                .map_err(|e| anyhow::anyhow!("image validation panicked: {e}"))??;
            let key = input_key(&job_id, image.extension());
            (
                JobRequest::ImageToVideo {
                    prompt,
                    negative_prompt,
                    resolution,
                    image_key: key.clone(),
                },
                Some((key, image)),
            )
        }
        other => {
            return Err(Failure::BadRequest(format!(
                "type 必须为 text_to_video 或 image_to_video（收到 {}）",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    let job = start_job(state, &user, job_id, request, image).await?;
    Ok(created(json!({ "job_id": job.id })))
}

/// `POST /api/v1/video/create_with_prompt`: `role`, `source`, `action`, `size`.
pub async fn create_with_prompt(state: &AppState, req: Request) -> Response<Body> {
    respond(
        "video-create-with-prompt",
        create_with_prompt_inner(state, &req).await,
    )
}

async fn create_with_prompt_inner(
    state: &AppState,
    req: &Request,
) -> Result<Response<Body>, Failure> {
    let user = authenticate(state, req).await?;
    let form = Form::parse(req).await?;
    let role =
        bounded_text("role", form.optional("role"), MAX_ROLE_CHARS, true)?.unwrap_or_default();
    let source = bounded_text("source", form.optional("source"), MAX_SOURCE_CHARS, false)?;
    let action = bounded_text("action", form.optional("action"), MAX_ACTION_CHARS, true)?
        .unwrap_or_default();
    let size = parse_size(form.optional("size"))?;
    let request = JobRequest::Character {
        role,
        source,
        action,
        size,
    };
    let job = start_job(state, &user, JobId::new(), request, None).await?;
    Ok(created(
        json!({ "job_id": job.id, "notice": CHARACTER_NOTICE }),
    ))
}

/// Stores the input image, the job and its Start message, in that order, undoing what was done
/// if a later write fails.
async fn start_job(
    state: &AppState,
    user: &User,
    id: JobId,
    request: JobRequest,
    image: Option<(String, crate::photo::InputImage)>,
) -> Result<Job, Failure> {
    let now = state.clock.now();
    check_allowance(state, user, now).await?;
    let mut job = Job::new(
        user.id,
        request,
        now,
        state.settings.jobs.deadline.as_secs(),
    );
    job.id = id;
    let image_key = image.as_ref().map(|(k, _)| k.clone());
    if let Some((key, image)) = image {
        let mime = image.mime();
        state.blobs.put(&key, image.bytes, mime).await?;
    }
    let undo_image = || async {
        if let Some(key) = &image_key
            && let Err(e) = state.blobs.delete(key).await
        {
            tracing::error!(key, error = %anyhow::Error::from(e), "could not undo the input image");
        }
    };
    if let Err(e) = state.jobs.create(&job).await {
        undo_image().await;
        return Err(e.into());
    }
    let message = JobMessage::Start {
        job_id: job.id.clone(),
    };
    if let Err(e) = enqueue(state.queue.as_ref(), &message, std::time::Duration::ZERO).await {
        if let Err(undo) = state.jobs.delete(&job.id).await {
            tracing::error!(job_id = %job.id, error = %anyhow::Error::from(undo), "could not undo the job");
        }
        undo_image().await;
        return Err(e.into());
    }
    tracing::info!(job_id = %job.id, user_id = user.id, kind = job.request.model_kind(), "job created");
    Ok(job)
}

/// China's day number (UTC+8): the day the daily allowance counts in.
fn china_day(now: u64) -> u64 {
    (now + 8 * 3600) / 86_400
}

/// Refuses a job beyond the user's allowances: jobs in progress at once (read from the user
/// index, so two requests in the same instant may both pass), and jobs per day (an atomic
/// counter, so the bill is bounded however requests race). Counts the job against the day.
async fn check_allowance(state: &AppState, user: &User, now: u64) -> Result<(), Failure> {
    let limits = &state.settings.jobs;
    let window = now.saturating_sub(limits.deadline.as_secs() + OVERDUE_GRACE_SECS);
    let recent = state
        .jobs
        .list_for_user(
            user.id,
            window,
            (limits.max_daily_per_user + limits.max_active_per_user) as usize,
        )
        .await?;
    let active = recent.iter().filter(|j| !j.status.is_terminal()).count();
    if active >= limits.max_active_per_user as usize {
        return Err(Failure::TooMany(format!(
            "同时进行中的任务最多 {} 个，请等当前任务完成后再试",
            limits.max_active_per_user
        )));
    }
    if !state
        .users
        .take_daily_job(user.id, china_day(now), limits.max_daily_per_user)
        .await?
    {
        return Err(Failure::TooMany(format!(
            "今天的生成次数已用完（每天 {} 次），请明天再来",
            limits.max_daily_per_user
        )));
    }
    Ok(())
}

/// `GET /api/v1/video/query/{job_id}`.
pub async fn query(state: &AppState, req: Request) -> Response<Body> {
    respond("video-query", query_inner(state, &req).await)
}

/// The `{job_id}` of the path: API Gateway's path parameter, or the last segment of the path
/// (the local server has no parameters).
fn path_job_id(req: &Request) -> String {
    if let Some(id) = req.path_parameters().first("job_id") {
        return id.to_owned();
    }
    let path = req.uri().path().trim_end_matches('/');
    path.rsplit('/').next().unwrap_or_default().to_owned()
}

/// The spec's answer for a job that does not exist, or is not the caller's.
fn unknown(job_id: &str) -> Response<Body> {
    let shown: String = job_id.chars().take(64).collect();
    json_response(
        StatusCode::NOT_FOUND,
        &json!({
            "code": 500,
            "message": "任务不存在",
            "data": { "job_id": shown, "status": "UNKNOWN" }
        }),
    )
}

async fn query_inner(state: &AppState, req: &Request) -> Result<Response<Body>, Failure> {
    let user = authenticate(state, req).await?;
    let raw_id = path_job_id(req);
    let Some(id) = JobId::parse(&raw_id) else {
        return Ok(unknown(&raw_id));
    };
    let Some(mut job) = state.jobs.get(&id).await? else {
        return Ok(unknown(&raw_id));
    };
    if job.user_id != user.id {
        // Exactly the answer for a missing job: whether an id exists is nobody else's business.
        return Ok(unknown(&raw_id));
    }
    let now = state.clock.now();
    if !job.status.is_terminal() && now > job.deadline_at + OVERDUE_GRACE_SECS {
        // The worker should have ended it; if its messages were lost, end it here.
        job = fail_overdue(state, job, now).await?;
    }
    let mut data = Map::new();
    data.insert("job_id".into(), json!(job.id));
    data.insert("status".into(), json!(job.status.as_str()));
    match job.status {
        JobStatus::Succeeded => {
            if let Some(key) = &job.gif_key {
                let base = public_base(state, req);
                let url = state
                    .blobs
                    .url(key, state.settings.jobs.gif_url_ttl, &base)
                    .await?;
                data.insert("video_url".into(), json!(url));
                data.insert(
                    "expires_in".into(),
                    json!(state.settings.jobs.gif_url_ttl.as_secs()),
                );
            }
            data.insert("gif_bytes".into(), json!(job.gif_bytes));
            data.insert("width".into(), json!(job.gif_width));
            data.insert("height".into(), json!(job.gif_height));
        }
        JobStatus::Failed => {
            data.insert(
                "error_message".into(),
                json!(job.error_message.as_deref().unwrap_or("视频生成失败")),
            );
        }
        JobStatus::Pending | JobStatus::Running => {}
    }
    data.insert("stage".into(), json!(job.stage));
    data.insert("created_at".into(), json!(job.created_at));
    data.insert("updated_at".into(), json!(job.updated_at));
    Ok(json_response(
        StatusCode::OK,
        &json!({ "code": 200, "data": data }),
    ))
}

/// How long past its deadline a job may stay in progress before a query ends it.
const OVERDUE_GRACE_SECS: u64 = 120;

async fn fail_overdue(state: &AppState, job: Job, now: u64) -> Result<Job, Failure> {
    let mut next = job.clone();
    next.fail(crate::worker::MSG_TIMEOUT, now);
    next.rev += 1;
    if state.jobs.update(&next).await? {
        tracing::warn!(job_id = %job.id, "job overdue; ended FAILED by a query");
        Ok(next)
    } else {
        // Someone wrote meanwhile: show what is there now.
        Ok(state.jobs.get(&job.id).await?.unwrap_or(job))
    }
}

/// Where GIF links start for the local backend: `EMO_PUBLIC_URL`, else the host the request came
/// to. (S3 presigned URLs ignore it.)
fn public_base(state: &AppState, req: &Request) -> String {
    if let Some(url) = &state.settings.jobs.public_url {
        return url.clone();
    }
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:3000");
    let proto = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    format!("{proto}://{host}")
}
