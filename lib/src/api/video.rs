//! Sections 2.2 and 2.3 of the spec: create a sticker job (from a prompt, a photo, or a character
//! and an action) and query it.
//!
//! Create validates everything before anything is stored or queued, then hands the job to
//! [`crate::job::create`]: a refused request leaves nothing behind and costs nothing at DashScope.
//! The slow work happens in the worker; these handlers answer at once. Query reads only the jobs
//! table (and ends a job its worker lost once it is past its deadline), and for a job in progress
//! the recent durations of its model, for its `eta_seconds`. [`JobView`] is what it shows of a
//! job; the list ([`super::library`]) shows the same of each.

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::authenticate;
use crate::domain::{
    Caption, JobId, MAX_ACTION_CHARS, MAX_NEGATIVE_PROMPT_CHARS, MAX_PROMPT_CHARS, MAX_ROLE_CHARS,
    MAX_SOURCE_CHARS, Resolution, VideoSize, bounded_text,
};
use crate::job::create::{CreateError, Input, InputBlob, OVERDUE_GRACE_SECS, Origin};
use crate::job::eta;
use crate::job::lifecycle::{self, Blame, FailError};
use crate::job::{Job, JobRequest, JobStatus, Stage};
use crate::store::User;
use crate::web::response::json_response;
use crate::web::{ApiError, Envelope, Form};

/// The spec's sentence for `create_with_prompt`, to be shown to the user.
pub const CHARACTER_NOTICE: &str = "目前联网生成是根据角色，通过联网，用文本描述样貌之后进行生成。效果远不及图生表情。建议通过图生表情";

pub(crate) fn respond(
    endpoint: &'static str,
    result: Result<Response<Body>, ApiError>,
) -> Response<Body> {
    crate::web::respond(Envelope::Video, endpoint, result)
}

/// `{"code": 200, "message": "任务创建成功", "data": {...}}`.
pub(crate) fn created(data: Value) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "code": 200, "message": "任务创建成功", "data": data }),
    )
}

/// `POST /api/v1/video/create`: `type` (`text_to_video` | `image_to_video`), `prompt`,
/// `negative_prompt`, `size` (text), `resolution` and `img_base64` (image); for both, Emo's
/// `caption` and `caption_position`.
pub async fn create(state: &AppState, req: Request) -> Response<Body> {
    respond("video-create", create_inner(state, &req).await)
}

async fn create_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
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
    let caption = caption(&form)?;
    let job_id = JobId::new();
    let (request, image) = match kind.as_str() {
        "text_to_video" => (
            JobRequest::TextToVideo {
                prompt,
                negative_prompt,
                size: VideoSize::parse(form.optional("size"))?,
            },
            None,
        ),
        "image_to_video" => {
            let resolution = Resolution::parse(form.optional("resolution"))?;
            let image = photo(&form, &job_id).await?;
            (
                JobRequest::ImageToVideo {
                    prompt,
                    negative_prompt,
                    resolution,
                    image_key: image.key.clone(),
                },
                Some(image),
            )
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "type 必须为 text_to_video 或 image_to_video（收到 {}）",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    let job = start_job(state, &user, job_id, request, image, caption).await?;
    Ok(created(json!({ "job_id": job.id })))
}

/// The form's `caption` and `caption_position`, checked like every other field.
fn caption(form: &Form) -> Result<Option<Caption>, ApiError> {
    Ok(Caption::parse(
        form.optional("caption"),
        form.optional("caption_position"),
    )?)
}

/// The validated `img_base64` of an image-to-video request, as job `id`'s input image.
#[cfg(feature = "photo")]
async fn photo(form: &Form, id: &JobId) -> Result<InputBlob, ApiError> {
    let uri = form
        .optional("img_base64")
        .ok_or_else(|| {
            crate::domain::Invalid("img_base64 不能为空（image_to_video 需要输入图片）".into())
        })?
        .to_owned();
    // Decoding a 2000 px image takes tens of milliseconds of CPU: not on an async thread.
    let image = tokio::task::spawn_blocking(move || crate::photo::parse_data_uri(&uri))
        .await
        .map_err(|e| anyhow::anyhow!("image validation panicked: {e}"))??;
    Ok(InputBlob {
        key: crate::store::input_key(id, image.extension()),
        content_type: image.mime(),
        bytes: image.bytes,
    })
}

#[cfg(not(feature = "photo"))]
async fn photo(_: &Form, _: &JobId) -> Result<InputBlob, ApiError> {
    Err(anyhow::anyhow!("this build cannot check photos (it lacks the `photo` feature)").into())
}

/// `POST /api/v1/video/create_with_prompt`: `role`, `source`, `action`, `size`, and Emo's
/// `caption` and `caption_position`.
pub async fn create_with_prompt(state: &AppState, req: Request) -> Response<Body> {
    respond(
        "video-create-with-prompt",
        create_with_prompt_inner(state, &req).await,
    )
}

async fn create_with_prompt_inner(
    state: &AppState,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let user = authenticate(state, req).await?;
    let form = Form::parse(req).await?;
    let role =
        bounded_text("role", form.optional("role"), MAX_ROLE_CHARS, true)?.unwrap_or_default();
    let source = bounded_text("source", form.optional("source"), MAX_SOURCE_CHARS, false)?;
    let action = bounded_text("action", form.optional("action"), MAX_ACTION_CHARS, true)?
        .unwrap_or_default();
    let size = VideoSize::parse(form.optional("size"))?;
    let caption = caption(&form)?;
    let request = JobRequest::Character {
        role,
        source,
        action,
        size,
    };
    let job = start_job(state, &user, JobId::new(), request, None, caption).await?;
    Ok(created(
        json!({ "job_id": job.id, "notice": CHARACTER_NOTICE }),
    ))
}

async fn start_job(
    state: &AppState,
    user: &User,
    id: JobId,
    request: JobRequest,
    image: Option<InputBlob>,
    caption: Option<Caption>,
) -> Result<Job, ApiError> {
    let input = image.map_or(Input::None, Input::Upload);
    let origin = Origin {
        caption,
        ..Origin::default()
    };
    crate::job::create::create_with(state, user, id, request, input, origin)
        .await
        .map_err(create_error)
}

/// A refused or failed create, as the API answers it.
pub(crate) fn create_error(e: CreateError) -> ApiError {
    match e {
        CreateError::OverAllowance(m) => ApiError::TooMany(m),
        CreateError::InputGone => ApiError::Internal(anyhow::anyhow!("an upload was lost")),
        CreateError::NeedsWeChat => ApiError::Forbidden(crate::job::MSG_NEEDS_WECHAT.into()),
        CreateError::TextRefused => ApiError::BadRequest(crate::job::MSG_TEXT_REFUSED.into()),
        CreateError::CheckUnavailable => {
            ApiError::Unavailable(crate::job::MSG_CHECK_UNAVAILABLE.into())
        }
        CreateError::Store(s) => s.into(),
    }
}

/// `GET /api/v1/video/query/{job_id}`.
pub async fn query(state: &AppState, req: Request) -> Response<Body> {
    respond("video-query", query_inner(state, &req).await)
}

/// The `{job_id}` of the path: API Gateway's path parameter, or the last segment of the path
/// (the local server has no parameters).
pub(crate) fn path_job_id(req: &Request) -> String {
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

/// The query's `data`: the spec's fields, then Emo's additive ones.
#[derive(Serialize)]
pub(crate) struct JobView<'a> {
    job_id: &'a JobId,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    video_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_in: Option<u64>,
    #[serde(flatten)]
    gif: Option<GifView>,
    /// A 120 × 120 PNG of the sticker, presigned like `video_url` (for the same time).
    #[serde(skip_serializing_if = "Option::is_none")]
    thumbnail_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    stage: Stage,
    /// While in progress, with a history of the model: the seconds it still has (`job::eta`).
    #[serde(skip_serializing_if = "Option::is_none")]
    eta_seconds: Option<u64>,
    created_at: u64,
    updated_at: u64,
    /// The caption drawn on the sticker, as it was sent (trimmed), and where.
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption_position: Option<&'static str>,
}

impl<'a> JobView<'a> {
    /// What the query shows of `job`, its links minted afresh, with `eta_seconds` if given.
    pub(crate) async fn of(
        state: &AppState,
        job: &'a Job,
        eta_seconds: Option<u64>,
    ) -> Result<Self, ApiError> {
        let ttl = state.job_settings.gif_url_ttl;
        let mut view = JobView {
            job_id: &job.id,
            status: job.status.as_str(),
            video_url: None,
            expires_in: None,
            gif: None,
            thumbnail_url: None,
            error_message: None,
            stage: job.stage,
            eta_seconds,
            created_at: job.created_at,
            updated_at: job.updated_at,
            caption: job.caption.as_ref().map(|c| c.text.as_str()),
            caption_position: job.caption.as_ref().map(|c| c.position.as_str()),
        };
        match job.status {
            JobStatus::Succeeded => {
                if let Some(key) = &job.gif_key {
                    view.video_url = Some(state.blobs.url(key, ttl).await?);
                    view.expires_in = Some(ttl.as_secs());
                }
                if let Some(key) = &job.thumb_key {
                    view.thumbnail_url = Some(state.blobs.url(key, ttl).await?);
                }
                view.gif = Some(GifView {
                    gif_bytes: job.gif_bytes,
                    width: job.gif_width,
                    height: job.gif_height,
                });
            }
            JobStatus::Failed => {
                view.error_message = Some(job.error_message.as_deref().unwrap_or("视频生成失败"));
            }
            JobStatus::Pending | JobStatus::Running => {}
        }
        Ok(view)
    }
}

/// A finished job's GIF: its size and dimensions.
#[derive(Serialize)]
struct GifView {
    gif_bytes: Option<u64>,
    width: Option<u32>,
    height: Option<u32>,
}

async fn query_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
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
    if job.is_overdue(state.clock.now(), OVERDUE_GRACE_SECS) {
        // The worker should have ended it; if its messages were lost, end it here, freeing what
        // it held just as the worker does.
        tracing::warn!(job_id = %job.id, "job overdue; ending it FAILED");
        job = match lifecycle::fail(state, job.clone(), crate::job::MSG_TIMEOUT, Blame::Emo).await {
            Ok(Some(ended)) => ended,
            Ok(None) => return Ok(unknown(&raw_id)),
            // Others keep writing it: show what is there now.
            Err(FailError::Contended) => state.jobs.get(&id).await?.unwrap_or(job),
            Err(FailError::Store(e)) => return Err(e.into()),
        };
    }
    let history = eta::history(state, &[&job]).await;
    let eta_seconds = eta::eta_of(&job, &history, state.clock.now());
    let view = JobView::of(state, &job, eta_seconds).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "code": 200, "data": view }),
    ))
}
