//! One handler per endpoint, each `async fn(&AppState, Request) -> Response`. Handlers never fail:
//! every expected problem is the contract's envelope with a clear message, and an unexpected one is
//! logged with its cause and answered with an opaque 500.
//!
//! Each Lambda calls its own handler; [`route`] dispatches every route for the local server.

pub mod users;

use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

use crate::AppState;
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

/// Dispatches a request to the handler of its route, as API Gateway does for the Lambdas.
pub async fn route(state: &AppState, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        &path
    };
    let method = req.method().clone();
    let expected = match path {
        "/api/v1/users/register" | "/api/v1/users/login" | "/api/v1/users/change-password" => {
            Method::POST
        }
        _ => {
            return error_for_path(path, StatusCode::NOT_FOUND, &format!("no route for {path}"));
        }
    };
    if method != expected {
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
        _ => users::change_password(state, req).await,
    }
}
