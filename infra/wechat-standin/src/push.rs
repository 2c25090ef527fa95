//! A media check after it was asked for: fetch the media as WeChat does, decide, and push the
//! `wxa_media_check` event to the push URL, signed, tried three times, or dropped on purpose.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::{MediaState, Shared, signature};

/// WeChat's limit on a checked image.
const MAX_MEDIA_BYTES: usize = 10 << 20;

/// How many times a push is tried.
const PUSH_TRIES: u32 = 3;

/// The verdict for the media at `url`: (errcode, suggest, label).
async fn decide(shared: &Shared, url: &str) -> (i64, Option<&'static str>, i64) {
    if url.contains("wx-risky") {
        return (0, Some("risky"), 20002);
    }
    if url.contains("wx-review") {
        return (0, Some("review"), 21000);
    }
    let bytes = match shared.http.get(url).send().await {
        Ok(r) if r.status().is_success() => r.bytes().await.ok(),
        Ok(r) => {
            tracing::info!(status = %r.status(), "wechat stand-in: the media URL answered an error");
            None
        }
        Err(e) => {
            tracing::info!(error = %e.without_url(), "wechat stand-in: cannot fetch the media");
            None
        }
    };
    let Some(bytes) = bytes.filter(|b| b.len() <= MAX_MEDIA_BYTES) else {
        return (40006, None, 0);
    };
    let decoded = tokio::task::spawn_blocking(move || image::load_from_memory(&bytes).ok())
        .await
        .ok()
        .flatten();
    let Some(img) = decoded else {
        return (40006, None, 0);
    };
    let rgb = img.thumbnail(64, 64).to_rgb8();
    let n = (rgb.width() * rgb.height()).max(1) as u64;
    let (mut r, mut g, mut b) = (0u64, 0u64, 0u64);
    for p in rgb.pixels() {
        r += u64::from(p[0]);
        g += u64::from(p[1]);
        b += u64::from(p[2]);
    }
    let (r, g, b) = (r / n, g / n, b / n);
    if r >= 200 && g <= 60 && b <= 60 {
        (0, Some("risky"), 20002)
    } else {
        (0, Some("pass"), 100)
    }
}

pub(crate) async fn check_and_push(shared: Arc<Shared>, trace_id: String) {
    tokio::time::sleep(shared.config.push_delay).await;
    let Some(check) = shared
        .lock()
        .media
        .iter()
        .find(|m| m.trace_id == trace_id)
        .cloned()
    else {
        return;
    };
    let (errcode, suggest, label) = decide(&shared, &check.media_url).await;
    let c = &shared.config;
    let event = json!({
        "ToUserName": "gh_standin00000",
        "FromUserName": check.openid,
        "CreateTime": now(),
        "MsgType": "event",
        "Event": "wxa_media_check",
        "appid": c.appid,
        "trace_id": trace_id,
        "version": 2,
        "detail": [{"strategy": "content_model", "errcode": errcode, "suggest": suggest.unwrap_or("review"), "label": label, "prob": 90}],
        "errcode": errcode,
        "errmsg": if errcode == 0 { "ok" } else { "invalid media" },
        "result": {"suggest": suggest.unwrap_or("review"), "label": label},
    });
    let push_url = {
        let mut s = shared.lock();
        let dropped = s.drop_pushes > 0;
        if dropped {
            s.drop_pushes -= 1;
        }
        if let Some(m) = s.media.iter_mut().find(|m| m.trace_id == trace_id) {
            m.verdict = suggest;
            if dropped {
                m.state = MediaState::Dropped;
            }
        }
        if dropped {
            tracing::info!(%trace_id, "wechat stand-in: dropped a push on purpose");
            return;
        }
        s.push_url.clone()
    };
    let Some(push_url) = push_url else {
        return;
    };
    let mut wait = c.push_retry;
    for attempt in 1..=PUSH_TRIES {
        let ok = push_once(&shared, &push_url, &event).await;
        if let Some(m) = shared
            .lock()
            .media
            .iter_mut()
            .find(|m| m.trace_id == trace_id)
        {
            m.push_attempts = attempt;
            if ok {
                m.state = MediaState::Pushed;
            } else if attempt == PUSH_TRIES {
                m.state = MediaState::Failed;
            }
        }
        if ok {
            return;
        }
        if attempt < PUSH_TRIES {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::info!(%trace_id, "wechat stand-in: gave up pushing the media check result");
}

async fn push_once(shared: &Shared, url: &str, event: &Value) -> bool {
    let c = &shared.config;
    let timestamp = now().to_string();
    let nonce = format!("{}", rand::random::<u32>());
    let mut query = vec![
        ("signature", signature(&[&c.push_token, &timestamp, &nonce])),
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
    ];
    let body = match &c.encrypt {
        None => event.to_string(),
        Some(encrypt) => {
            let enc = encrypt(&event.to_string());
            query.push(("encrypt_type", "aes".into()));
            query.push((
                "msg_signature",
                signature(&[&c.push_token, &timestamp, &nonce, &enc]),
            ));
            json!({"ToUserName": event["ToUserName"], "Encrypt": enc}).to_string()
        }
    };
    let Ok(url) = reqwest::Url::parse_with_params(url, &query) else {
        return false;
    };
    match shared
        .http
        .post(url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::info!(status = %r.status(), "wechat stand-in: push refused");
            false
        }
        Err(e) => {
            tracing::info!(error = %e.without_url(), "wechat stand-in: push failed");
            false
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
