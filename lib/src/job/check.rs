//! WeChat's content security for jobs, and the message that tells a WeChat user their sticker is
//! ready. No HTTP here: the create handlers, the worker and the events route call these.
//!
//! - **Texts** ([`check_texts`]): every text the user wrote goes through `msg_sec_check` before
//!   the allowance is taken or anything stored. `risky` refuses the create (400, the word not
//!   named); `review` passes: it is WeChat's "unsure", WeChat's own guidance leaves it to the
//!   service, and DashScope moderates every prompt again (a refusal there ends the job FAILED
//!   for the user), so refusing it would turn away harmless prompts for no added safety. WeChat
//!   unreachable refuses the create (503) with nothing stored: a check is never skipped.
//! - **Images**: an image-to-video job is created in `checking`; the worker sends
//!   `media_check_async` ([`crate::worker`]) and WeChat pushes the verdict to the events route,
//!   which records it on the job ([`apply_media_check`]) and sends a Start; the worker then queues
//!   the job (pass, review) or ends it FAILED with its photo removed (risky: the user's doing, so
//!   the job stays counted, as a DashScope moderation refusal does).
//! - **Ready message** ([`notify_ready`]): when a job of a WeChat user ends, one
//!   `subscribe/send`, claimed by the job's conditional write first so it is sent at most once.
//!
//! The settings ([`CheckSettings`]): `EMO_CONTENT_CHECK`, `EMO_MEDIA_CHECK_DEADLINE_SECS`,
//! `EMO_MEDIA_CHECK_RETRY_SECS`, `WECHAT_STICKER_PAGE`, `WECHAT_MINIPROGRAM_STATE`.

use std::time::Duration;

use serde_json::json;

use crate::AppState;
use crate::domain::Caption;
use crate::settings::{Env, SettingsError, bad};
use crate::store::{StoreError, enqueue};
use crate::wechat::events::{MediaCheck, MediaOutcome};
use crate::wechat::{Scene, SubscribeMessage, Verdict, WeChatError};

use super::lifecycle::save;
use super::{CheckOutcome, Job, JobMessage, JobRequest, JobStatus, Stage};

/// WeChat pushes a media check's result within this long of the check (its documented window).
pub const MEDIA_CHECK_WINDOW_SECS: u64 = 30 * 60;

/// How long the photo's presigned link given to WeChat stays valid: the window, plus a margin for
/// a slow fetch at its very end.
pub const MEDIA_URL_TTL: Duration = Duration::from_secs(MEDIA_CHECK_WINDOW_SECS + 10 * 60);

/// How many `media_check_async` one job sends at most (the first and two re-sends of a lost
/// push); then the job waits for a late push until its check deadline.
pub const MAX_MEDIA_CHECKS: usize = 3;

/// The scene sent with every check: the user's own content, published as a sticker.
pub const SCENE: Scene = Scene::SocialLog;

/// What content security applies (`EMO_CONTENT_CHECK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCheck {
    /// Texts and photos are checked by WeChat; an account without an openid cannot create.
    WeChat,
    /// Nothing is checked (WeChat not configured: local development, tests).
    Off,
}

#[derive(Debug, Clone)]
pub struct CheckSettings {
    /// `EMO_CONTENT_CHECK`: `wechat` (the default when `WECHAT_APPID` is set) or `off` (the
    /// default otherwise); `wechat` without WeChat configured stops the start.
    pub mode: ContentCheck,
    /// `EMO_MEDIA_CHECK_DEADLINE_SECS`: how long after its creation a job may wait in `checking`
    /// (WeChat's 30 minutes plus a margin for a re-sent check); then it ends FAILED (timeout).
    pub media_deadline: Duration,
    /// `EMO_MEDIA_CHECK_RETRY_SECS`: how long after a media check without a push the check is
    /// sent again (at most [`MAX_MEDIA_CHECKS`] in all). At most 900 (SQS's longest delay).
    pub media_retry: Duration,
    /// `WECHAT_STICKER_PAGE`: the mini-program page the ready message opens, `?job_id=…` added.
    pub sticker_page: String,
    /// `WECHAT_MINIPROGRAM_STATE`: which version the message opens: `formal`, `trial`, `developer`.
    pub miniprogram_state: String,
}

impl Default for CheckSettings {
    fn default() -> Self {
        Self {
            mode: ContentCheck::Off,
            media_deadline: Duration::from_secs(MEDIA_CHECK_WINDOW_SECS + 10 * 60),
            media_retry: Duration::from_secs(600),
            sticker_page: "pages/sticker/index".into(),
            miniprogram_state: "formal".into(),
        }
    }
}

impl CheckSettings {
    /// `wechat_configured`: whether `WECHAT_APPID` is set.
    ///
    /// Fails, naming the setting, on an unknown mode, `wechat` without WeChat, a bound out of
    /// range or an unknown mini-program state.
    pub fn from_env(env: &Env<'_>, wechat_configured: bool) -> Result<Self, SettingsError> {
        let d = Self::default();
        let mode = match env.get("EMO_CONTENT_CHECK").as_deref().map(str::trim) {
            None if wechat_configured => ContentCheck::WeChat,
            None => ContentCheck::Off,
            Some("wechat") if wechat_configured => ContentCheck::WeChat,
            Some("wechat") => {
                return Err(bad(
                    "EMO_CONTENT_CHECK",
                    "is `wechat` but WeChat is not configured (set WECHAT_APPID and its secret)",
                ));
            }
            Some("off") => ContentCheck::Off,
            Some(_) => return Err(bad("EMO_CONTENT_CHECK", "must be `wechat` or `off`")),
        };
        let miniprogram_state = env
            .get("WECHAT_MINIPROGRAM_STATE")
            .unwrap_or(d.miniprogram_state);
        if !["formal", "trial", "developer"].contains(&miniprogram_state.as_str()) {
            return Err(bad(
                "WECHAT_MINIPROGRAM_STATE",
                "must be `formal`, `trial` or `developer`",
            ));
        }
        Ok(Self {
            mode,
            media_deadline: env.secs(
                "EMO_MEDIA_CHECK_DEADLINE_SECS",
                d.media_deadline.as_secs(),
                60..=6 * 3600,
            )?,
            media_retry: env.secs(
                "EMO_MEDIA_CHECK_RETRY_SECS",
                d.media_retry.as_secs(),
                1..=900,
            )?,
            sticker_page: env
                .get("WECHAT_STICKER_PAGE")
                .map(|p| p.trim().trim_start_matches('/').to_owned())
                .unwrap_or(d.sticker_page),
            miniprogram_state,
        })
    }
}

/// The texts of a request the user wrote, by form field, in the order they are checked.
pub fn texts_of<'a>(
    request: &'a JobRequest,
    caption: Option<&'a Caption>,
) -> Vec<(&'static str, &'a str)> {
    let mut texts = request.texts();
    if let Some(c) = caption {
        texts.push(("caption", c.text.as_str()));
    }
    texts.retain(|(_, t)| !t.trim().is_empty());
    texts
}

/// Why a create's texts were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum TextCheckError {
    /// WeChat found `field` risky (logged; the user is not told which word).
    #[error("WeChat found the {field} risky")]
    Risky { field: &'static str },
    /// The check could not be made: the create is refused for now, never let through unchecked.
    #[error("the text check could not be made: {0}")]
    Unavailable(WeChatError),
}

/// Checks every text of `texts` as `openid`'s with `msg_sec_check`, all at once. `Ok` when none
/// is risky; with [`ContentCheck::Off`] (or no openid to check for), nothing is asked.
pub async fn check_texts(
    state: &AppState,
    openid: Option<&str>,
    texts: &[(&'static str, &str)],
) -> Result<(), TextCheckError> {
    if state.check.mode == ContentCheck::Off {
        return Ok(());
    }
    let (Some(wechat), Some(openid)) = (&state.wechat, openid) else {
        // Settings refuse `wechat` without a client, and the create refuses an account with no
        // openid before this; reaching here is a bug, and unchecked text never goes through.
        return Err(TextCheckError::Unavailable(WeChatError::Unavailable(
            "no WeChat client or openid for the check".into(),
        )));
    };
    let verdicts = futures_util::future::join_all(texts.iter().map(|(field, text)| async move {
        (*field, wechat.check_text(openid, SCENE, text).await)
    }))
    .await;
    let mut unavailable = None;
    for (field, verdict) in verdicts {
        match verdict {
            Ok(Verdict::Risky) => {
                tracing::info!(field, "WeChat found a text risky; create refused");
                return Err(TextCheckError::Risky { field });
            }
            Ok(Verdict::Review) => tracing::info!(field, "WeChat suggests review; passed"),
            Ok(Verdict::Pass) => {}
            Err(e) => unavailable = Some(e),
        }
    }
    match unavailable {
        Some(e) => {
            tracing::warn!(error = %e, "the text check could not be made; create refused");
            Err(TextCheckError::Unavailable(e))
        }
        None => Ok(()),
    }
}

/// What a media-check push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Recorded on its job, and a Start sent for the worker to act on it.
    Recorded,
    /// Its job had its verdict already or has moved on (a duplicated or late push).
    Stale,
    /// No job has this trace id (or the job is gone).
    Unknown,
}

/// Records a `wxa_media_check` push's verdict on the job its trace id was sent for, and sends the
/// job's Start. A duplicated push changes nothing (only a job in `checking` without a verdict
/// takes one, by a conditional write).
pub async fn apply_media_check(
    state: &AppState,
    check: &MediaCheck,
) -> Result<Applied, StoreError> {
    let id = match state.jobs.find_by_trace(&check.trace_id).await? {
        Some(id) => id,
        None => {
            // The worker records the trace right after WeChat answers the check, and a push can
            // come that fast: one look again before calling it unknown.
            tokio::time::sleep(Duration::from_secs(1)).await;
            match state.jobs.find_by_trace(&check.trace_id).await? {
                Some(id) => id,
                None => return Ok(Applied::Unknown),
            }
        }
    };
    let outcome = match &check.outcome {
        MediaOutcome::Checked { verdict, .. } => match verdict {
            Verdict::Pass => CheckOutcome::Pass,
            Verdict::Review => CheckOutcome::Review,
            Verdict::Risky => CheckOutcome::Risky,
        },
        MediaOutcome::Failed { errcode, .. } => CheckOutcome::Unchecked { errcode: *errcode },
    };
    for _ in 0..5 {
        let Some(job) = state.jobs.get(&id).await? else {
            return Ok(Applied::Unknown);
        };
        let waiting =
            job.stage == Stage::Checking && job.check.as_ref().is_some_and(|c| c.outcome.is_none());
        if !waiting {
            return Ok(Applied::Stale);
        }
        if let Some(job) = save(state, job.check_answered(outcome)).await? {
            tracing::info!(job_id = %job.id, trace_id = %check.trace_id, ?outcome, "media check answered");
            // A lost send is the sweep's to repair: the job is due at once.
            let msg = JobMessage::Start { job_id: job.id };
            enqueue(state.queue.as_ref(), &msg, Duration::ZERO).await?;
            return Ok(Applied::Recorded);
        }
    }
    Err(StoreError::Unavailable(anyhow::anyhow!(
        "job {id} kept changing while recording its media check"
    )))
}

/// Sends the ready message of `job`, just ended, if its user is on WeChat and a template is
/// configured: claimed first by the job's conditional write, so it goes at most once per job
/// however many workers end it. Whatever happens, the job's outcome stays as it is.
pub async fn notify_ready(state: &AppState, job: &Job) {
    let Some(wechat) = &state.wechat else {
        return;
    };
    let Some(template_id) = wechat.settings().subscribe_template_id.clone() else {
        return;
    };
    let (Some(openid), true) = (job.openid.clone(), job.status.is_terminal()) else {
        return;
    };
    let mut current = job.clone();
    let claimed = loop {
        if current.ready_sent || !current.status.is_terminal() {
            return;
        }
        match save(state, current.ready_claimed()).await {
            Ok(Some(claimed)) => break claimed,
            Ok(None) => match state.jobs.get(&current.id).await {
                Ok(Some(fresh)) => current = fresh,
                _ => return,
            },
            Err(e) => {
                tracing::warn!(error = %anyhow::Error::from(e), "could not claim the ready message; not sent");
                return;
            }
        }
    };
    let page = ready_page(&state.check.sticker_page, &claimed);
    let msg = SubscribeMessage {
        openid: &openid,
        template_id: &template_id,
        page: &page,
        data: ready_data(&claimed, state.clock.now()),
        miniprogram_state: &state.check.miniprogram_state,
    };
    match wechat.send_subscribe(&msg).await {
        Ok(()) => tracing::info!(job_id = %claimed.id, "ready message sent"),
        Err(WeChatError::Api { errcode: 43101, .. }) => {
            tracing::info!(job_id = %claimed.id, "the user has not subscribed to the ready message")
        }
        Err(e) => tracing::warn!(job_id = %claimed.id, error = %e, "the ready message failed"),
    }
}

/// The page the ready message opens: `page?job_id=…`.
pub fn ready_page(page: &str, job: &Job) -> String {
    format!("{page}?job_id={}", job.id)
}

/// At most `n` characters of `s` (a template `thing` takes 20).
fn clip(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The template's data: `thing1` what the sticker shows (the prompt, or the character and its
/// action, 20 characters at most), `phrase2` 已完成 or 失败, `time3` when it ended (China time).
pub fn ready_data(job: &Job, now: u64) -> serde_json::Value {
    let subject = match &job.request {
        JobRequest::TextToVideo { prompt, .. } | JobRequest::ImageToVideo { prompt, .. } => {
            prompt.clone()
        }
        JobRequest::Character { role, action, .. } => format!("{role}{action}"),
    };
    let subject = match clip(subject.trim(), 20) {
        s if s.is_empty() => "表情包".to_owned(),
        s => s,
    };
    let phrase = if job.status == JobStatus::Succeeded {
        "已完成"
    } else {
        "失败"
    };
    json!({
        "thing1": { "value": subject },
        "phrase2": { "value": phrase },
        "time3": { "value": china_time(now) },
    })
}

/// `YYYY-MM-DD HH:MM` in China time (UTC+8) of Unix seconds `t`.
fn china_time(t: u64) -> String {
    let c = crate::clock::china_civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VideoSize;
    use crate::job::JobId;

    fn with(vars: &[(&str, &str)], wechat: bool) -> Result<CheckSettings, SettingsError> {
        crate::settings::with_vars(vars, |env| CheckSettings::from_env(env, wechat))
    }

    #[test]
    fn the_check_is_on_by_default_exactly_when_wechat_is_configured() {
        assert_eq!(with(&[], true).unwrap().mode, ContentCheck::WeChat);
        assert_eq!(with(&[], false).unwrap().mode, ContentCheck::Off);
        let off = with(&[("EMO_CONTENT_CHECK", "off")], true).unwrap();
        assert_eq!(off.mode, ContentCheck::Off);
        let e = with(&[("EMO_CONTENT_CHECK", "wechat")], false).unwrap_err();
        assert!(e.to_string().contains("EMO_CONTENT_CHECK"), "{e}");
        assert!(with(&[("EMO_CONTENT_CHECK", "maybe")], true).is_err());
        assert!(with(&[("WECHAT_MINIPROGRAM_STATE", "beta")], true).is_err());
        assert!(with(&[("EMO_MEDIA_CHECK_RETRY_SECS", "901")], true).is_err());
    }

    #[test]
    fn the_check_deadline_covers_wechats_window_by_default() {
        let d = CheckSettings::default();
        assert!(d.media_deadline.as_secs() > MEDIA_CHECK_WINDOW_SECS);
        assert!(MEDIA_URL_TTL.as_secs() > MEDIA_CHECK_WINDOW_SECS);
        // The last re-send happens while the deadline is still ahead.
        assert!(
            d.media_retry.as_secs() * (MAX_MEDIA_CHECKS as u64 - 1) < d.media_deadline.as_secs()
        );
    }

    #[test]
    fn every_text_the_user_wrote_is_checked_and_empty_ones_are_not() {
        let character = JobRequest::Character {
            role: "孙悟空".into(),
            source: Some("西游记".into()),
            action: "跳舞".into(),
            size: VideoSize::parse(None).unwrap(),
        };
        assert_eq!(
            texts_of(&character, None),
            [("role", "孙悟空"), ("source", "西游记"), ("action", "跳舞")]
        );
        let text = JobRequest::TextToVideo {
            prompt: "猫".into(),
            negative_prompt: Some(" ".into()),
            size: VideoSize::parse(None).unwrap(),
        };
        assert_eq!(texts_of(&text, None), [("prompt", "猫")]);
        let caption = Caption::parse(Some("我太难了"), None).unwrap();
        assert_eq!(
            texts_of(&text, caption.as_ref()),
            [("prompt", "猫"), ("caption", "我太难了")]
        );
    }

    #[test]
    fn the_ready_message_names_the_sticker_its_ending_and_the_time_in_china() {
        let request = JobRequest::TextToVideo {
            prompt: "一只在月光下弹吉他的橘猫，背景是星空和城市的剪影，赛博朋克".into(),
            negative_prompt: None,
            size: VideoSize::parse(None).unwrap(),
        };
        let job = Job::new(JobId::new(), 1, request, 0, 60).failed("x");
        // 2025-01-01 00:00 UTC is 08:00 in China.
        let data = ready_data(&job, 1_735_689_600);
        assert_eq!(
            data["thing1"]["value"].as_str().unwrap().chars().count(),
            20
        );
        assert_eq!(data["phrase2"]["value"], "失败");
        assert_eq!(data["time3"]["value"], "2025-01-01 08:00");
        assert_eq!(china_time(951_782_400 - 8 * 3600), "2000-02-29 00:00");
        assert_eq!(
            ready_page("pages/sticker/index", &job),
            format!("pages/sticker/index?job_id={}", job.id)
        );
    }
}
