//! WeChat's content security against the WeChat stand-in, on both backends: the events route's
//! signatures (plain and safe mode), the 403 of an account without WeChat, and photo jobs through
//! `checking` (a risky photo ends FAILED with no DashScope task; a lost push is re-checked and
//! the job goes on to its sticker), each with its one ready message.
//!
//! Every job is made the mini-program's way: a WeChat login, then `POST /api/v1/video/create`.

use std::time::Duration;

use emo::job::{Job, JobId, JobStatus, MSG_IMAGE_REFUSED, MSG_TEXT_REFUSED, Stage};
use emo::wechat::events::{AesKey, encrypt, sign};
use emo_test_support::env::WeChatEnv;
use emo_test_support::http::{Encoding, body_bytes, post_form};
use http::Request;
use lambda_http::Body;

const TEMPLATE: &str = "tmpl-sticker-ready";
const AES_KEY: &str = "k7Zq2LmN4pR8sT1vW3xY5zA6bC9dE0fGhIjKlMnOpQr";

const VARS: &[(&str, &str)] = &[
    ("WECHAT_SUBSCRIBE_TEMPLATE_ID", TEMPLATE),
    ("EMO_MEDIA_CHECK_RETRY_SECS", "2"),
    ("WECHAT_ENCODING_AES_KEY", AES_KEY),
    ("EMO_MAX_DAILY_JOBS", "1"),
];

/// A `/api/v1/wechat/events` request signed with `token` (or not, when `None`).
fn push_request(method: &str, token: Option<&str>, extra_query: &str, body: &str) -> Request<Body> {
    let (t, n) = ("1700000000", "4242");
    let signature = token.map_or("0".repeat(40), |tok| sign(&[tok, t, n]));
    Request::builder()
        .method(method)
        .uri(format!(
            "/api/v1/wechat/events?signature={signature}&timestamp={t}&nonce={n}{extra_query}"
        ))
        .header("content-type", "application/json")
        .body(Body::Text(body.to_owned()))
        .unwrap()
}

async fn send(env: &WeChatEnv, req: Request<Body>) -> (u16, String) {
    let resp = emo::api::wechat_events::events(&env.state, req).await;
    let status = resp.status().as_u16();
    (status, String::from_utf8(body_bytes(&resp)).unwrap())
}

async fn the_events_route_takes_only_what_is_signed_with_the_token(env: WeChatEnv) {
    let token = env.state.push.as_ref().unwrap().token.clone();
    let (status, body) = send(
        &env,
        push_request("GET", Some(&token), "&echostr=hello-42", ""),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "hello-42"));
    let (status, body) = send(&env, push_request("GET", None, "&echostr=hello-42", "")).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("error"), "{body}");

    let unknown = r#"{"MsgType":"event","Event":"wxa_media_check","trace_id":"no-such-trace","version":2,"errcode":0,"result":{"suggest":"risky","label":20002}}"#;
    let (status, body) = send(
        &env,
        push_request("POST", Some("not-the-token"), "", unknown),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(&env, push_request("POST", Some(&token), "", unknown)).await;
    assert_eq!((status, body.as_str()), (200, "success"));

    // The safe mode: the body encrypted, msg_signature over the token, timestamp, nonce and it.
    let appid = env.state.push.as_ref().unwrap().appid.clone();
    let key = AesKey::from_encoding_key(AES_KEY).unwrap();
    let sealed = encrypt(&key, &appid, unknown, [9; 16]);
    let envelope = serde_json::json!({ "ToUserName": "gh_x", "Encrypt": sealed }).to_string();
    let good = format!(
        "&encrypt_type=aes&msg_signature={}",
        sign(&[&token, "1700000000", "4242", &sealed])
    );
    let (status, body) = send(&env, push_request("POST", Some(&token), &good, &envelope)).await;
    assert_eq!((status, body.as_str()), (200, "success"));
    let bad = format!(
        "&encrypt_type=aes&msg_signature={}",
        sign(&[&token, "1700000000", "4242", "other"])
    );
    let (status, _) = send(&env, push_request("POST", Some(&token), &bad, &envelope)).await;
    assert_eq!(status, 401);
}

async fn an_account_without_wechat_cannot_create_and_nothing_is_kept(env: WeChatEnv) {
    let token = env.user("13800007777").await;
    let (status, body) = env
        .call(post_form(
            "/api/v1/video/create",
            Encoding::Multipart,
            &[("type", "text_to_video"), ("prompt", "一只猫")],
            Some(&token),
        ))
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"].as_str().unwrap().contains("微信"), "{body}");
    let (status, list) = env
        .call(emo_test_support::http::get("/api/v1/video/list", &token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        list["data"]["jobs"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );
    assert_eq!(env.standin.tasks_created(), 0);
}

/// A 640×480 PNG of one colour (`red` is the stand-in's risky photo).
fn photo(colour: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.png");
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("color=c={colour}:s=640x480"))
        .args(["-frames:v", "1"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(&path).unwrap()
}

/// An image-to-video job made through `POST /api/v1/video/create` by the WeChat user of the
/// login `code`: its id and its stored photo's key.
async fn photo_job(env: &WeChatEnv, code: &str, png: Vec<u8>) -> (JobId, String) {
    use base64::Engine as _;
    let token = wechat_user(env, code).await;
    let data_uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    let (status, body) = env
        .create(
            &token,
            serde_json::json!({"type": "image_to_video", "prompt": "挥手打招呼", "img_base64": data_uri}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = JobId::parse(body["data"]["job_id"].as_str().unwrap()).unwrap();
    let job = env.state.jobs.get(&id).await.unwrap().unwrap();
    let key = job.request.input_key().unwrap().to_owned();
    (id, key)
}

/// The ready messages sent, once the first has arrived (the worker sends it after the job's
/// terminal write, so it may come a little after the job is seen ended), plus a second's grace
/// for a duplicate to show.
async fn ready_messages(env: &WeChatEnv) -> Vec<emo_wechat_standin::SentMessage> {
    for _ in 0..600 {
        if !env.wechat.messages().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.wechat.messages()
}

/// Waits for the job to end; returns it and the stages seen.
async fn ended(env: &WeChatEnv, id: &JobId) -> (Job, Vec<Stage>) {
    let mut stages = Vec::new();
    for _ in 0..1200 {
        let job = env.state.jobs.get(id).await.unwrap().unwrap();
        if stages.last() != Some(&job.stage) {
            stages.push(job.stage);
        }
        if job.status.is_terminal() {
            return (job, stages);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end; stages seen: {stages:?}");
}

async fn a_risky_photo_ends_failed_with_no_task_and_one_ready_message(mut env: WeChatEnv) {
    env.start_worker();
    let (id, key) = photo_job(&env, "risky-photo.1", photo("red")).await;
    let (job, stages) = ended(&env, &id).await;
    assert_eq!(job.status, JobStatus::Failed, "{stages:?}");
    assert_eq!(job.error_message.as_deref(), Some(MSG_IMAGE_REFUSED));
    assert_eq!(stages.first(), Some(&Stage::Checking));
    assert_eq!(env.standin.tasks_created(), 0, "no DashScope task");
    assert_eq!(
        env.state.blobs.get(&key).await.unwrap(),
        None,
        "photo removed"
    );
    let messages = ready_messages(&env).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].template_id, TEMPLATE);
    assert_eq!(
        messages[0].page.as_deref(),
        Some(format!("pages/sticker/index?job_id={id}").as_str())
    );
    assert_eq!(messages[0].data["phrase2"]["value"], "失败");
}

async fn a_lost_push_is_checked_again_and_the_photo_becomes_a_sticker(mut env: WeChatEnv) {
    env.wechat.drop_next_pushes(1);
    env.start_worker();
    let (id, _) = photo_job(&env, "good-photo.1", photo("0x3366aa")).await;
    let (job, stages) = ended(&env, &id).await;
    assert_eq!(job.status, JobStatus::Succeeded, "{stages:?} {job:?}");
    assert_eq!(stages.first(), Some(&Stage::Checking));
    let checks = env.wechat.media_checks();
    assert_eq!(
        checks.len(),
        2,
        "the lost push's check was sent again: {checks:?}"
    );
    assert_eq!(env.standin.tasks_created(), 1);
    let (status, gif) = env
        .fetch(
            &env.state
                .blobs
                .url(job.gif_key.as_ref().unwrap(), Duration::from_secs(60))
                .await
                .unwrap(),
        )
        .await;
    assert_eq!(status, 200);
    emo_test_support::sticker::assert_sticker(&gif);
    let messages = ready_messages(&env).await;
    assert_eq!(messages.len(), 1, "one ready message: {messages:?}");
    assert_eq!(messages[0].data["phrase2"]["value"], "已完成");
    assert!(
        messages[0]
            .page
            .as_deref()
            .unwrap()
            .ends_with(&format!("job_id={id}")),
        "{messages:?}"
    );
}

/// A WeChat user's token, from a WeChat login with `code`.
async fn wechat_user(env: &WeChatEnv, code: &str) -> String {
    let (status, body) = env.wechat_login(code).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["token"].as_str().unwrap().to_owned()
}

async fn a_risky_prompt_role_or_caption_is_refused_with_nothing_kept_or_counted(env: WeChatEnv) {
    // One job a day: if a refused create counted, the good one at the end would be refused.
    let token = wechat_user(&env, "erin.1").await;
    let risky: [(&str, &[(&str, &str)]); 4] = [
        (
            "/api/v1/video/create",
            &[("type", "text_to_video"), ("prompt", "一只猫 [wx:risky]")],
        ),
        (
            "/api/v1/video/create",
            &[
                ("type", "text_to_video"),
                ("prompt", "一只猫"),
                ("negative_prompt", "[wx:risky]"),
            ],
        ),
        (
            "/api/v1/video/create_with_prompt",
            &[("role", "[wx:risky]孙悟空"), ("action", "跳舞")],
        ),
        (
            "/api/v1/video/create",
            &[
                ("type", "text_to_video"),
                ("prompt", "一只猫"),
                ("caption", "我太难了[wx:risky]"),
            ],
        ),
    ];
    for (path, fields) in risky {
        let (status, body) = env
            .call(post_form(path, Encoding::Multipart, fields, Some(&token)))
            .await;
        assert_eq!(status, 400, "{fields:?}: {body}");
        assert_eq!(body["error"], MSG_TEXT_REFUSED, "{fields:?}");
    }
    let (_, list) = env
        .call(emo_test_support::http::get("/api/v1/video/list", &token))
        .await;
    assert_eq!(
        list["data"]["jobs"].as_array().map(Vec::len),
        Some(0),
        "{list}"
    );
    assert_eq!(env.standin.tasks_created(), 0);
    assert!(env.wechat.calls(emo_wechat_standin::Api::MsgSecCheck) >= 4);

    let (status, body) = env
        .call(post_form(
            "/api/v1/video/create",
            Encoding::Multipart,
            &[
                ("type", "text_to_video"),
                ("prompt", "一只猫"),
                ("caption", "我太难了"),
            ],
            Some(&token),
        ))
        .await;
    assert_eq!(status, 200, "the day's one job is still there: {body}");
}

emo_test_support::on_both_backends!(WeChatEnv, VARS;
    the_events_route_takes_only_what_is_signed_with_the_token,
    an_account_without_wechat_cannot_create_and_nothing_is_kept,
    a_risky_prompt_role_or_caption_is_refused_with_nothing_kept_or_counted,
    a_risky_photo_ends_failed_with_no_task_and_one_ready_message,
    a_lost_push_is_checked_again_and_the_photo_becomes_a_sticker,
);
