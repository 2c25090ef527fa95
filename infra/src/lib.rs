//! The local server behind `emo-local`: every route of the API on one port, served by the very
//! handlers the Lambdas run (`emo::api`), so what works here works behind API Gateway.
//!
//! [`local`] holds what only `emo-local` has (its router, blob links and worker loop);
//! [`emo_standin`] is the offline DashScope stand-in that the dev server and the tests talk to when
//! there is no API key, [`emo_wechat_standin`] the offline WeChat one, used when `WECHAT_APPID`
//! is unset.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body as AxumBody;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::Response;
use emo::AppState;
use emo::web::form::MAX_BODY_BYTES;
use http::StatusCode;
use tokio::net::TcpListener;

pub mod local;

/// The axum app: one fallback that hands every request to [`local::router::route`].
pub fn app(state: Arc<AppState>) -> axum::Router {
    axum::Router::new().fallback(handle).with_state(state)
}

/// Serves `app` on `listener` until `shutdown` completes, then finishes the requests in flight.
/// Each request reaches its handler with the TCP peer as its client address, as API Gateway
/// gives a Lambda the source address ([`emo::web::client`]).
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
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
            let peer = parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            let mut req = lambda_http::Request::from_parts(parts, body);
            if let Some(ip) = peer {
                req = emo::web::client::with_client_addr(req, ip);
            }
            local::router::route(&state, req).await
        }
        Err(_) => emo::web::Envelope::of_path(&path).error(
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

/// The stand-ins `emo-local` started, living as long as this.
#[derive(Default)]
pub struct LocalStandins {
    pub dashscope: Option<emo_standin::StandinHandle>,
    pub wechat: Option<emo_wechat_standin::WeChatStandinHandle>,
}

impl LocalStandins {
    /// Tells the WeChat stand-in (if running) where `emo-local` listens, so its media check
    /// results are pushed to emo-local's own `/api/v1/wechat/events`.
    pub fn serving_at(&self, addr: SocketAddr) {
        if let Some(w) = &self.wechat {
            w.set_push_url(format!("http://{addr}/api/v1/wechat/events"));
        }
    }

    pub async fn shutdown(self) {
        if let Some(d) = self.dashscope {
            d.shutdown().await;
        }
        if let Some(w) = self.wechat {
            w.shutdown().await;
        }
    }
}

/// `emo-local`'s state ([`emo::Role::Local`]) from the environment. With no DashScope key, starts
/// the offline stand-in and points the worker at it (with a 1 s poll interval unless one is set,
/// so a sticker appears within seconds; its tasks take `EMO_STANDIN_TASK_SECS`, read by
/// `standin_timeline`). With no `WECHAT_APPID`, starts the offline WeChat stand-in and points
/// the client at it, with `WECHAT_TOKEN` (or the stand-in's default) as the
/// push token of both; [`LocalStandins::serving_at`] then gives it the push URL. The stand-ins
/// live as long as the returned handles.
pub async fn local_state() -> anyhow::Result<(AppState, LocalStandins)> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut standins = LocalStandins::default();
    let mut vars: Vec<(&'static str, String)> = Vec::new();
    if env("DASHSCOPE_API_KEY").is_none() && env("DASHSCOPE_API_KEY_SECRET_ID").is_none() {
        let mut config = emo_standin::StandinConfig {
            ffmpeg: env("EMO_FFMPEG").unwrap_or_else(|| "ffmpeg".into()).into(),
            ..Default::default()
        };
        if let Some(v) = env("EMO_STANDIN_TASK_SECS") {
            (
                config.pending_for,
                config.running_for,
                config.running_spread,
            ) = standin_timeline(&v)?;
        }
        let handle = emo_standin::Standin::start(config).await?;
        let base_url = handle.base_url();
        tracing::warn!(
            "DASHSCOPE_API_KEY is not set: using the offline DashScope stand-in at {base_url} \
             (stickers are generated test animations, not AI video)"
        );
        vars.push(("DASHSCOPE_API_KEY", "offline-stand-in".to_owned()));
        vars.push(("DASHSCOPE_VIDEO_HOSTS", handle.addr().ip().to_string()));
        vars.push(("DASHSCOPE_BASE_URL", base_url));
        vars.push((
            "EMO_POLL_INTERVAL_SECS",
            env("EMO_POLL_INTERVAL_SECS").unwrap_or_else(|| "1".to_owned()),
        ));
        standins.dashscope = Some(handle);
    }
    if env("WECHAT_APPID").is_none() {
        let (handle, wx_vars) = wechat_standin(env("WECHAT_TOKEN")).await?;
        tracing::warn!(
            "WECHAT_APPID is not set: using the offline WeChat stand-in at {} \
             (login codes, content checks and messages are simulated)",
            handle.base_url()
        );
        vars.extend(wx_vars);
        // Phone accounts keep creating locally as before; EMO_CONTENT_CHECK=wechat (set by the
        // caller) puts the stand-in's text and photo checks in the way, as in production.
        vars.push((
            "EMO_CONTENT_CHECK",
            env("EMO_CONTENT_CHECK").unwrap_or_else(|| "off".to_owned()),
        ));
        standins.wechat = Some(handle);
    }
    let lookup = move |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| env(name))
    };
    let state = AppState::from_lookup(emo::Role::Local, &lookup).await?;
    Ok((state, standins))
}

/// `EMO_STANDIN_TASK_SECS`, `MIN` or `MIN-MAX` seconds (decimals allowed, at most an hour): how
/// long each stand-in task takes from its create to SUCCEEDED, as the stand-in's `pending_for`,
/// `running_for` and `running_spread` (PENDING for the first half second, or all of `MIN` if
/// shorter; tasks spread evenly between `MIN` and `MAX`).
fn standin_timeline(v: &str) -> anyhow::Result<(Duration, Duration, Duration)> {
    let bad = || {
        anyhow::anyhow!(
            "setting EMO_STANDIN_TASK_SECS: {v:?} is not seconds like 2 or 20-90 \
             (MIN up to MAX, at most 3600)"
        )
    };
    let secs = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| (0.0..=3600.0).contains(x))
            .map(Duration::from_secs_f64)
            .ok_or_else(bad)
    };
    let (min, max) = match v.split_once('-') {
        Some((a, b)) => (secs(a)?, secs(b)?),
        None => (secs(v)?, secs(v)?),
    };
    if max < min {
        return Err(bad());
    }
    let pending = min.min(Duration::from_millis(500));
    Ok((pending, min - pending, max - min))
}

/// Starts a WeChat stand-in signing its pushes with `push_token` (or its default), and the
/// settings that point Emo at it: `WECHAT_API_BASE`, `WECHAT_APPID`, `WECHAT_SECRET`,
/// `WECHAT_TOKEN`.
pub async fn wechat_standin(
    push_token: Option<String>,
) -> anyhow::Result<(
    emo_wechat_standin::WeChatStandinHandle,
    Vec<(&'static str, String)>,
)> {
    let mut config = emo_wechat_standin::WeChatStandinConfig::default();
    if let Some(t) = push_token {
        config.push_token = t;
    }
    let handle = emo_wechat_standin::WeChatStandin::start(config).await?;
    let c = handle.config();
    let vars = vec![
        ("WECHAT_API_BASE", handle.base_url()),
        ("WECHAT_APPID", c.appid.clone()),
        ("WECHAT_SECRET", c.secret.clone()),
        ("WECHAT_TOKEN", c.push_token.clone()),
    ];
    Ok((handle, vars))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn a_stand_in_timeline_is_min_to_max_seconds() {
        assert_eq!(
            standin_timeline("20-90").unwrap(),
            (ms(500), ms(19_500), ms(70_000))
        );
        assert_eq!(
            standin_timeline(" 2.5 - 4 ").unwrap(),
            (ms(500), ms(2_000), ms(1_500))
        );
        // One number: every task takes that long.
        assert_eq!(standin_timeline("2").unwrap(), (ms(500), ms(1_500), ms(0)));
        // Shorter than the usual pending half second: all of it pending.
        assert_eq!(standin_timeline("0.2").unwrap(), (ms(200), ms(0), ms(0)));
    }

    #[test]
    fn a_malformed_stand_in_timeline_is_refused_naming_the_setting() {
        for v in ["", "x", "90-20", "-5", "1-2-3", "20-", "3601", "NaN"] {
            let e = standin_timeline(v).expect_err(v).to_string();
            assert!(e.contains("EMO_STANDIN_TASK_SECS"), "{v}: {e}");
        }
    }
}
