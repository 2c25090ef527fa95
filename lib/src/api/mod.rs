//! One handler per endpoint, each `async fn(&AppState, Request) -> Response`. Handlers never fail:
//! every expected problem is the contract's envelope with a clear message, and an unexpected one is
//! logged with its cause and answered with an opaque 500.
//!
//! Each Lambda calls its own handler; [`route`] dispatches every route for the local server, which
//! also serves the contract, [`OPENAPI_YAML`], at `GET /openapi.yaml`.

pub mod blobs;
pub mod users;
pub mod video;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::AppState;
use crate::store::local::BLOB_ROUTE;
use crate::web::response::{user_error, video_error};

/// Whether a path belongs to the users endpoints (`{"code":1,…}` errors) rather than the video
/// ones (`{"error":…}`).
fn is_users_path(path: &str) -> bool {
    path.starts_with("/api/v1/users/")
}

/// An error in the envelope of the route family `path` belongs to.
pub fn error_for_path(path: &str, status: StatusCode, message: &str) -> Response<Body> {
    if is_users_path(path) {
        user_error(status, message)
    } else {
        video_error(status, message)
    }
}

const QUERY_PREFIX: &str = "/api/v1/video/query/";

/// The API's contract as OpenAPI (`openapi.yaml` at the repository root), served by the local
/// server at [`OPENAPI_ROUTE`].
pub const OPENAPI_YAML: &str = include_str!("../../../openapi.yaml");
pub const OPENAPI_ROUTE: &str = "/openapi.yaml";

fn openapi() -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/yaml")
        .body(Body::Text(OPENAPI_YAML.to_owned()))
        .expect("a status and a static header always build")
}

/// Dispatches a request to the handler of its route, as API Gateway does for the Lambdas.
pub async fn route(state: &AppState, req: Request) -> Response<Body> {
    let full = req.uri().path().to_owned();
    let path = if full.len() > 1 {
        full.trim_end_matches('/')
    } else {
        &full
    };
    let expected = match path {
        "/api/v1/users/register"
        | "/api/v1/users/login"
        | "/api/v1/users/change-password"
        | "/api/v1/video/create"
        | "/api/v1/video/create_with_prompt" => Method::POST,
        p if p.starts_with(QUERY_PREFIX) => Method::GET,
        OPENAPI_ROUTE => Method::GET,
        p if p.starts_with(BLOB_ROUTE) && state.local_blobs.is_some() => Method::GET,
        _ => {
            return error_for_path(path, StatusCode::NOT_FOUND, &format!("no route for {path}"));
        }
    };
    if req.method() != expected && !(expected == Method::GET && req.method() == Method::HEAD) {
        let mut resp = error_for_path(
            path,
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{path} accepts {expected} only"),
        );
        resp.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_str(expected.as_str())
                .expect("a method name is a valid header value"),
        );
        return resp;
    }
    match path {
        "/api/v1/users/register" => users::register(state, req).await,
        "/api/v1/users/login" => users::login(state, req).await,
        "/api/v1/users/change-password" => users::change_password(state, req).await,
        "/api/v1/video/create" => video::create(state, req).await,
        "/api/v1/video/create_with_prompt" => video::create_with_prompt(state, req).await,
        p if p.starts_with(QUERY_PREFIX) => video::query(state, req).await,
        OPENAPI_ROUTE => openapi(),
        _ => blobs::get(state, req).await,
    }
}
