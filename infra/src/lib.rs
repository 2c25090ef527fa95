//! The local server behind `emo-local`: every route of the API on one port, served by the very
//! handlers the Lambdas run (`emo::api`), so what works here works behind API Gateway.
//!
//! [`emo_standin`] is the offline DashScope stand-in that the dev server and the tests talk to when
//! there is no API key.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::response::Response;
use emo::AppState;
use emo::web::form::MAX_BODY_BYTES;
use http::StatusCode;
use tokio::net::TcpListener;

/// The axum app: one fallback that hands every request to [`emo::api::route`].
pub fn app(state: Arc<AppState>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn handle(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let path = parts.uri.path().to_owned();

    let resp = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            let body = if bytes.is_empty() {
                lambda_http::Body::Empty
            } else {
                lambda_http::Body::Binary(bytes.to_vec())
            };
            let req = lambda_http::Request::from_parts(parts, body);
            emo::api::route(&state, req).await
        }
        Err(_) => emo::api::error_for_path(
            &path,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body is larger than {} MiB", MAX_BODY_BYTES >> 20),
        ),
    };

    let (parts, body) = resp.into_parts();
    tracing::info!(
        target: "emo_local::access",
        "{method} {path} {} {:.1}ms",
        parts.status.as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    let body = match body {
        lambda_http::Body::Empty => AxumBody::empty(),
        lambda_http::Body::Text(t) => AxumBody::from(t),
        lambda_http::Body::Binary(b) => AxumBody::from(b),
        _ => AxumBody::empty(),
    };
    Response::from_parts(parts, body)
}

/// With no `DASHSCOPE_API_KEY`, starts the offline stand-in and points `settings` at it (with a
/// short poll interval unless one is set, so a sticker appears within seconds); with a key, does
/// nothing. The stand-in lives as long as the returned handle.
pub async fn standin_unless_keyed(
    settings: &mut emo::settings::Settings,
) -> anyhow::Result<Option<emo_standin::StandinHandle>> {
    if settings.dashscope.api_key.is_some() {
        return Ok(None);
    }
    let config = emo_standin::StandinConfig {
        ffmpeg: settings.ffmpeg.clone(),
        ..Default::default()
    };
    let handle = emo_standin::Standin::start(config).await?;
    settings.dashscope.api_key = Some("offline-stand-in".into());
    settings.dashscope.base_url = handle.base_url();
    if std::env::var_os("EMO_POLL_INTERVAL_SECS").is_none() {
        settings.jobs.poll_interval = std::time::Duration::from_secs(1);
    }
    tracing::warn!(
        "DASHSCOPE_API_KEY is not set: using the offline DashScope stand-in at {} \
         (stickers are generated test animations, not AI video)",
        handle.base_url()
    );
    Ok(Some(handle))
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
