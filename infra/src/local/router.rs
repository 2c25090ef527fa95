//! Every route on one port, as API Gateway routes them to the Lambdas: [`ROUTES`] is the one
//! table of paths, methods and handlers. A request goes to the first row of its path and method
//! (so `DELETE /api/v1/video/list` reaches the delete handler, which finds no such job, as on API
//! Gateway); a path in no row is a 404, and another method of a path a 405 with the `Allow` of
//! its first row, both in the path's envelope.

use std::future::Future;
use std::pin::Pin;

use emo::AppState;
use emo::web::Envelope;
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};

type Reply<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;
type Handler = for<'a> fn(&'a AppState, Request) -> Reply<'a>;

/// How a row matches a path.
enum PathMatch {
    Exact(&'static str),
    /// The prefix and anything after it (`/api/v1/video/query/{job_id}`, `/blobs/{key…}`).
    Prefix(&'static str),
    /// The prefix and exactly one more non-empty segment (`/api/v1/video/{job_id}`).
    Segment(&'static str),
}

struct Route {
    path: PathMatch,
    method: Method,
    handler: Handler,
}

macro_rules! handler {
    ($f:path) => {{
        fn h<'a>(state: &'a AppState, req: Request) -> Reply<'a> {
            Box::pin($f(state, req))
        }
        h as Handler
    }};
}

fn openapi<'a>(_: &'a AppState, _: Request) -> Reply<'a> {
    Box::pin(async {
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/yaml")
            .body(Body::Text(super::OPENAPI_YAML.to_owned()))
            .expect("a status and a static header always build")
    })
}

/// Every route `emo-local` serves: the spec's six and the library's three (the Lambdas' routes
/// in `template.yaml`), the contract, and the local blob links. The first row whose path matches
/// is the route, so the job-id row of `/api/v1/video/` comes after the fixed video paths.
const ROUTES: &[Route] = &[
    Route {
        path: PathMatch::Exact("/api/v1/users/register"),
        method: Method::POST,
        handler: handler!(emo::api::users::register),
    },
    Route {
        path: PathMatch::Exact("/api/v1/users/login"),
        method: Method::POST,
        handler: handler!(emo::api::users::login),
    },
    Route {
        path: PathMatch::Exact("/api/v1/users/wechat-login"),
        method: Method::POST,
        handler: handler!(emo::api::users::wechat_login),
    },
    Route {
        path: PathMatch::Exact("/api/v1/users/change-password"),
        method: Method::POST,
        handler: handler!(emo::api::users::change_password),
    },
    Route {
        path: PathMatch::Exact("/api/v1/video/create"),
        method: Method::POST,
        handler: handler!(emo::api::video::create),
    },
    Route {
        path: PathMatch::Exact("/api/v1/video/create_with_prompt"),
        method: Method::POST,
        handler: handler!(emo::api::video::create_with_prompt),
    },
    Route {
        path: PathMatch::Prefix("/api/v1/video/query/"),
        method: Method::GET,
        handler: handler!(emo::api::video::query),
    },
    Route {
        path: PathMatch::Exact("/api/v1/video/list"),
        method: Method::GET,
        handler: handler!(emo::api::library::list),
    },
    Route {
        path: PathMatch::Segment("/api/v1/video/regenerate/"),
        method: Method::POST,
        handler: handler!(emo::api::library::regenerate),
    },
    Route {
        path: PathMatch::Segment("/api/v1/video/"),
        method: Method::DELETE,
        handler: handler!(emo::api::library::delete),
    },
    Route {
        path: PathMatch::Exact("/api/v1/wechat/events"),
        method: Method::POST,
        handler: handler!(emo::api::wechat_events::events),
    },
    Route {
        path: PathMatch::Exact("/api/v1/wechat/events"),
        method: Method::GET,
        handler: handler!(emo::api::wechat_events::events),
    },
    Route {
        path: PathMatch::Exact(super::OPENAPI_ROUTE),
        method: Method::GET,
        handler: openapi,
    },
    Route {
        path: PathMatch::Prefix(emo::store::local::BLOB_ROUTE),
        method: Method::GET,
        handler: handler!(super::blobs::get),
    },
];

impl PathMatch {
    fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Exact(p) => path == *p,
            PathMatch::Prefix(p) => path.starts_with(p),
            PathMatch::Segment(p) => path
                .strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains('/')),
        }
    }
}

/// Dispatches a request to the handler of its route, as API Gateway does for the Lambdas. Links
/// the handler mints start at the host the request came to.
pub async fn route(state: &AppState, req: Request) -> Response<Body> {
    let full = req.uri().path().to_owned();
    let path = if full.len() > 1 {
        full.trim_end_matches('/')
    } else {
        &full
    };
    let Some(first) = ROUTES.iter().find(|r| r.path.matches(path)) else {
        return Envelope::of_path(path)
            .error(StatusCode::NOT_FOUND, &format!("no route for {path}"));
    };
    let method = req.method();
    let takes =
        |r: &Route| *method == r.method || (r.method == Method::GET && method == Method::HEAD);
    let Some(route) = ROUTES.iter().find(|r| r.path.matches(path) && takes(r)) else {
        let mut resp = Envelope::of_path(path).error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{path} accepts {} only", first.method),
        );
        resp.headers_mut().insert(
            http::header::ALLOW,
            http::HeaderValue::from_str(first.method.as_str())
                .expect("a method name is a valid header value"),
        );
        return resp;
    };
    let base = request_base(&req);
    emo::store::local::with_request_base(base, (route.handler)(state, req)).await
}

/// `http://host:port` as the request reached us (`Host`, `X-Forwarded-Proto`).
fn request_base(req: &Request) -> String {
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
