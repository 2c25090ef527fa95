//! "My stickers": a user's jobs, page by page (`GET /api/v1/video/list`), deleting one (`DELETE
//! /api/v1/video/{job_id}`) and regenerating one (`POST /api/v1/video/regenerate/{job_id}`), in
//! the video envelope, for the job's owner only: another user's job answers exactly like a
//! missing one. The rules live in [`crate::job::library`], [`crate::job::delete`] and
//! [`crate::job::regenerate`]; these handlers read the request and shape the answer.

use http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use serde_json::json;

use crate::AppState;
use crate::auth::authenticate;
use crate::domain::JobId;
use crate::job::library::{self, ListQuery, encode_cursor};
use crate::job::regenerate::{RegenerateError, regenerate as regenerate_job};
use crate::job::{Job, JobRequest, eta};
use crate::store::User;
use crate::web::ApiError;
use crate::web::response::json_response;

use super::video::{CHARACTER_NOTICE, JobView, create_error, created, path_job_id, respond};

/// What a missing or foreign job is called.
const NO_SUCH_JOB: &str = "任务不存在";

/// `GET /api/v1/video/list?limit=N&cursor=C&status=S`: `{"code": 200, "data": {"jobs": [...],
/// "next_cursor": "…" | null}}`, newest first; a bad parameter is a 400 naming it.
pub async fn list(state: &AppState, req: Request) -> Response<Body> {
    respond("video-list", list_inner(state, &req).await)
}

/// One job of the list: what the query shows of it, its type and the user's own words.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    view: JobView<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    words: Words<'a>,
}

/// What the user wrote for a job ([`JobRequest::texts`]), one field per text.
struct Words<'a>(Vec<(&'static str, &'a str)>);

impl<'a> Words<'a> {
    fn of(request: &'a JobRequest) -> Self {
        Self(request.texts())
    }
}

impl Serialize for Words<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (field, text) in &self.0 {
            map.serialize_entry(field, text)?;
        }
        map.end()
    }
}

/// The query string's parameters; the first of a repeated name wins.
fn query_params(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(req.uri().query().unwrap_or_default())
        .map_err(|_| ApiError::BadRequest("查询参数无法解析".to_owned()))
}

async fn list_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = authenticate(state, req).await?;
    let params = query_params(req)?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let query = ListQuery::parse(param("limit"), param("status"), param("cursor"))?;
    let page = library::page(state, user.id, &query).await?;
    let refs: Vec<&Job> = page.jobs.iter().collect();
    let history = eta::history(state, &refs).await;
    let now = state.clock.now();
    let mut jobs = Vec::with_capacity(page.jobs.len());
    for job in &page.jobs {
        jobs.push(Listed {
            view: JobView::of(state, job, eta::eta_of(job, &history, now)).await?,
            kind: job.request.type_name(),
            words: Words::of(&job.request),
        });
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "code": 200,
            "data": { "jobs": jobs, "next_cursor": page.next.as_ref().map(encode_cursor) },
        }),
    ))
}

/// The job the path names, if it is `user`'s; a 404 otherwise, the same for a missing, a
/// malformed and another user's id.
async fn owned_job(state: &AppState, user: &User, req: &Request) -> Result<Job, ApiError> {
    let not_found = || ApiError::NotFound(NO_SUCH_JOB.to_owned());
    let id = JobId::parse(&path_job_id(req)).ok_or_else(not_found)?;
    match state.jobs.get(&id).await? {
        Some(job) if job.user_id == user.id => Ok(job),
        _ => Err(not_found()),
    }
}

/// `DELETE /api/v1/video/{job_id}`: `{"code": 200, "message": "已删除", "data": {"job_id"}}`.
pub async fn delete(state: &AppState, req: Request) -> Response<Body> {
    respond("video-delete", delete_inner(state, &req).await)
}

async fn delete_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = authenticate(state, req).await?;
    let job = owned_job(state, &user, req).await?;
    crate::job::delete::delete(state, &job).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "code": 200, "message": "已删除", "data": { "job_id": job.id } }),
    ))
}

/// `POST /api/v1/video/regenerate/{job_id}`: answered like the create that made the job (with
/// `notice` for a character); 409 while the job is in progress, 410 when its input image is gone.
pub async fn regenerate(state: &AppState, req: Request) -> Response<Body> {
    respond("video-regenerate", regenerate_inner(state, &req).await)
}

async fn regenerate_inner(state: &AppState, req: &Request) -> Result<Response<Body>, ApiError> {
    let user = authenticate(state, req).await?;
    let original = owned_job(state, &user, req).await?;
    let job = regenerate_job(state, &user, &original)
        .await
        .map_err(|e| match e {
            RegenerateError::InProgress => {
                ApiError::Conflict("任务还在进行中，结束后才能重新生成".to_owned())
            }
            RegenerateError::InputGone => {
                ApiError::Gone("原图已过期（保留 1 天）或已删除，请重新上传图片生成".to_owned())
            }
            RegenerateError::Create(e) => create_error(e),
        })?;
    Ok(match job.request {
        JobRequest::Character { .. } => {
            created(json!({ "job_id": job.id, "notice": CHARACTER_NOTICE }))
        }
        _ => created(json!({ "job_id": job.id })),
    })
}
