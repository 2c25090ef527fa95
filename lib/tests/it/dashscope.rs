//! The DashScope client (`emo::dashscope`) against the offline stand-in (`emo_standin`):
//! real HTTP on loopback, real MP4s checked with ffprobe. Spend safety: a create without a clear
//! answer is never repeated and its task can be found in the task list; the error table as
//! DashScope publishes it; the video fetched only from the listed hosts.

use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use emo::dashscope::{
    DashScope, DashScopeConfig, DashScopeError, ErrorKind, MAX_DESCRIPTION_CHARS, MAX_LIST_PAGES,
    TaskState, TaskStatus, VideoHosts, failure_message,
};
use emo_standin::{SeenRequest, Standin, StandinConfig, StandinHandle};
use serde_json::{Value, json};

const KEY: &str = "sk-emo-test-0123456789abcdef";
const VIDEO_PATH: &str = "/api/v1/services/aigc/video-generation/video-synthesis";
const MAX_VIDEO_BYTES: usize = 20 << 20;

async fn standin() -> StandinHandle {
    Standin::start(StandinConfig::default())
        .await
        .expect("the stand-in starts (ffmpeg must be installed)")
}

fn config(base_url: &str) -> DashScopeConfig {
    let mut config = DashScopeConfig::new(KEY);
    config.base_url = base_url.to_owned();
    config.timeout = Duration::from_secs(20);
    config.max_retries = 3;
    config.backoff_base = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    // The stand-in serves its videos from its own loopback address.
    config.video_hosts = VideoHosts::parse("127.0.0.1").unwrap();
    config
}

fn client(standin: &StandinHandle) -> DashScope {
    DashScope::new(config(&standin.base_url())).unwrap()
}

/// Polls until the task ends; a generous bound keeps a stuck task from hanging the suite.
async fn wait_for_end(client: &DashScope, task_id: &str) -> TaskState {
    let poll = async {
        loop {
            let state = client.query_task(task_id).await.expect("the query works");
            if state.status.is_terminal() {
                return state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(90), poll)
        .await
        .expect("the task ends within 90 s")
}

fn creates(requests: &[SeenRequest]) -> Vec<&SeenRequest> {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == VIDEO_PATH)
        .collect()
}

/// ffprobe's view of the first video stream of `mp4`.
fn probe(mp4: &[u8]) -> Value {
    let path = std::env::temp_dir().join(format!("emo-it-{}.mp4", rand::random::<u64>()));
    std::fs::write(&path, mp4).unwrap();
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_frames"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,pix_fmt,r_frame_rate,nb_read_frames",
        ])
        .args(["-show_entries", "format=duration", "-of", "json"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .expect("ffprobe runs (it comes with ffmpeg)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut stream = v["streams"][0].clone();
    stream["duration"] = v["format"]["duration"].clone();
    stream
}

fn assert_sticker_video(stream: &Value) {
    assert_eq!(stream["codec_name"], "h264", "{stream}");
    assert_eq!(stream["pix_fmt"], "yuv420p", "{stream}");
    assert_eq!(stream["r_frame_rate"], "30/1", "{stream}");
    assert_eq!(stream["nb_read_frames"], "150", "{stream}");
    let seconds: f64 = stream["duration"].as_str().unwrap().parse().unwrap();
    assert!((seconds - 5.0).abs() < 0.1, "{stream}");
}

/// A real PNG made by ffmpeg.
fn png(width: u32, height: u32) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i"])
        .arg(format!("color=c=0x3366cc:s={width}x{height}"))
        .args([
            "-frames:v",
            "1",
            "-c:v",
            "png",
            "-f",
            "image2pipe",
            "pipe:1",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[tokio::test]
async fn a_text_to_video_task_is_created_polled_to_success_and_its_mp4_has_the_requested_size() {
    let standin = standin().await;
    let client = client(&standin);

    let task_id = client
        .create_text_to_video("一只橘猫开心地跳舞", Some("模糊，低分辨率"), "624*624")
        .await
        .unwrap();
    let state = wait_for_end(&client, &task_id).await;
    assert_eq!(state.status, TaskStatus::Succeeded, "{state:?}");
    assert_eq!(state.task_id, task_id);
    let url = state.video_url.expect("a succeeded task has a video URL");

    let mp4 = client.download_video(&url, MAX_VIDEO_BYTES).await.unwrap();
    assert_eq!(&mp4[4..8], b"ftyp", "an MP4 starts with an ftyp box");
    let stream = probe(&mp4);
    assert_eq!(
        (stream["width"].as_u64(), stream["height"].as_u64()),
        (Some(624), Some(624))
    );
    assert_sticker_video(&stream);

    let requests = standin.requests();
    let create = creates(&requests);
    assert_eq!(create.len(), 1);
    assert!(create[0].async_header && create[0].authorization);
    for r in requests
        .iter()
        .filter(|r| r.path.starts_with("/api/v1/tasks/"))
    {
        assert!(!r.async_header, "a query never carries X-DashScope-Async");
        assert!(r.authorization);
    }
    let file = requests
        .iter()
        .find(|r| r.path.starts_with("/files/"))
        .unwrap();
    assert!(
        !file.authorization,
        "the API key never goes to the file host"
    );
    assert_eq!(file.status, 200, "the signed query string arrived intact");
    assert_eq!(standin.tasks_created(), 1);
    standin.shutdown().await;
}

#[tokio::test]
async fn an_image_to_video_task_from_a_data_uri_keeps_the_image_aspect_ratio() {
    let standin = standin().await;
    let client = client(&standin);
    let image = png(600, 800);
    let data_uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&image)
    );

    let task_id = client
        .create_image_to_video("她转身对镜头微笑", None, &data_uri, "480P")
        .await
        .unwrap();
    let state = wait_for_end(&client, &task_id).await;
    assert_eq!(state.status, TaskStatus::Succeeded, "{state:?}");
    let mp4 = client
        .download_video(state.video_url.as_deref().unwrap(), MAX_VIDEO_BYTES)
        .await
        .unwrap();
    let stream = probe(&mp4);
    let (w, h) = (
        stream["width"].as_u64().unwrap(),
        stream["height"].as_u64().unwrap(),
    );
    assert!(w % 2 == 0 && h % 2 == 0, "{w}x{h}");
    assert!(
        ((w as f64 / h as f64) - 0.75).abs() < 0.01,
        "3:4 like the image, got {w}x{h}"
    );
    let pixels = (w * h) as f64;
    assert!(
        (pixels / (832.0 * 480.0) - 1.0).abs() < 0.05,
        "about 480P, got {w}x{h}"
    );
    assert_sticker_video(&stream);
    standin.shutdown().await;
}

#[tokio::test]
async fn a_create_without_the_async_header_is_refused_with_403_and_not_retried() {
    let standin = standin().await;
    let raw = reqwest::Client::new()
        .post(format!("{}/services/aigc/video-generation/video-synthesis", standin.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(r#"{"model":"wanx2.1-t2v-turbo","input":{"prompt":"猫"},"parameters":{"size":"832*480"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 403);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["code"], "AccessDenied");
    assert_eq!(
        body["message"],
        "current user api does not support synchronous calls."
    );
    assert!(body["request_id"].is_string());

    // The client always sends the header, so make the stand-in answer the same refusal once.
    standin.reject_next_requests(
        1,
        403,
        "AccessDenied",
        "current user api does not support synchronous calls.",
    );
    let client = client(&standin);
    let err = client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap_err();
    match &err {
        DashScopeError::Api {
            status,
            code,
            attempts,
            ..
        } => {
            assert_eq!(
                (*status, code.as_str(), *attempts),
                (403, "AccessDenied", 1)
            );
        }
        other => panic!("expected an API refusal, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        creates(&standin.requests()).len(),
        2,
        "the raw call and one client call"
    );
    assert_eq!(standin.tasks_created(), 0);
    standin.shutdown().await;
}

#[tokio::test]
async fn throttling_twice_then_success_is_retried_into_a_single_task() {
    let standin = standin().await;
    let client = client(&standin);
    standin.throttle_next_requests(2);

    let task_id = client
        .create_text_to_video("跳舞的小狗", None, "832*480")
        .await
        .unwrap();
    assert!(!task_id.is_empty());
    let statuses: Vec<u16> = creates(&standin.requests())
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);
    assert_eq!(standin.tasks_created(), 1);

    // A 500 may come after the task was made: the create is not repeated.
    standin.server_error_next(1);
    let err = client
        .create_text_to_video("跳舞的小狗", None, "832*480")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DashScopeError::Interrupted { status: Some(500), ref code, .. } if code.as_deref() == Some("InternalError")),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(creates(&standin.requests()).len(), 4, "three, then one");
    assert_eq!(standin.tasks_created(), 1);
    standin.shutdown().await;
}

#[tokio::test]
async fn throttling_that_outlives_the_retries_gives_a_throttling_error_with_a_user_message() {
    let standin = standin().await;
    let mut config = config(&standin.base_url());
    config.max_retries = 2;
    let client = DashScope::new(config).unwrap();
    standin.throttle_next_requests(100);

    let err = client
        .create_text_to_video("跳舞的小狗", None, "832*480")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Throttled, "{err:?}");
    assert_eq!(err.code(), Some("Throttling.RateQuota"));
    assert!(err.is_retryable(), "the caller may try again later");
    assert!(
        matches!(err, DashScopeError::Api { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(err.user_message(), ErrorKind::Throttled.user_message());
    assert!(!err.user_message().is_empty() && !err.user_message().contains("Throttling"));
    assert_eq!(creates(&standin.requests()).len(), 3);
    assert_eq!(standin.tasks_created(), 0);
    standin.shutdown().await;
}

#[tokio::test]
async fn a_failed_task_maps_to_the_moderation_or_copyright_message() {
    let standin = standin().await;
    let client = client(&standin);

    standin.fail_next_task(
        "DataInspectionFailed",
        "Output data may contain inappropriate content.",
    );
    let task_id = client
        .create_text_to_video("一只猫", None, "832*480")
        .await
        .unwrap();
    let state = wait_for_end(&client, &task_id).await;
    assert_eq!(state.status, TaskStatus::Failed);
    assert_eq!(state.code.as_deref(), Some("DataInspectionFailed"));
    assert!(state.video_url.is_none());
    assert_eq!(
        failure_message(state.code.as_deref(), state.message.as_deref()),
        ErrorKind::Moderation.user_message()
    );

    let task_id = client
        .create_text_to_video("[standin:ip] 某著名动画角色", None, "832*480")
        .await
        .unwrap();
    let state = wait_for_end(&client, &task_id).await;
    assert_eq!(state.status, TaskStatus::Failed);
    assert_eq!(
        failure_message(state.code.as_deref(), state.message.as_deref()),
        ErrorKind::Copyright.user_message()
    );
    standin.shutdown().await;
}

#[tokio::test]
async fn an_unknown_task_id_answers_unknown_which_ends_polling() {
    let standin = standin().await;
    let client = client(&standin);
    let state = client
        .query_task("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap();
    assert_eq!(state.status, TaskStatus::Unknown);
    assert!(state.status.is_terminal());
    let err = client.query_task("../etc/passwd").await.unwrap_err();
    assert!(matches!(err, DashScopeError::InvalidInput(_)));
    standin.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_image_is_accepted_and_then_fails_the_task_with_a_bad_request_message() {
    let standin = standin().await;
    let client = client(&standin);
    let not_an_image = base64::engine::general_purpose::STANDARD.encode(b"definitely not a png");
    let task_id = client
        .create_image_to_video(
            "挥手",
            None,
            &format!("data:image/png;base64,{not_an_image}"),
            "720P",
        )
        .await
        .unwrap();
    let state = wait_for_end(&client, &task_id).await;
    assert_eq!(state.status, TaskStatus::Failed);
    assert_eq!(state.code.as_deref(), Some("InvalidParameter"));
    assert_eq!(
        failure_message(state.code.as_deref(), state.message.as_deref()),
        ErrorKind::BadRequest.user_message()
    );
    standin.shutdown().await;
}

#[tokio::test]
async fn tasks_created_together_count_as_in_flight_together() {
    let standin = Standin::start(StandinConfig {
        pending_for: Duration::from_secs(30),
        ..StandinConfig::default()
    })
    .await
    .unwrap();
    let client = client(&standin);
    for _ in 0..3 {
        client
            .create_text_to_video("[standin:fail] 猫", None, "832*480")
            .await
            .unwrap();
    }
    assert_eq!(standin.tasks_created(), 3);
    assert_eq!(standin.max_in_flight(), 3);
    standin.shutdown().await;
}

#[tokio::test]
async fn a_bad_size_is_refused_as_a_bad_request() {
    let standin = standin().await;
    let client = client(&standin);
    let err = client
        .create_text_to_video("猫", None, "800*600")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadRequest, "{err:?}");
    assert_eq!(err.code(), Some("InvalidParameter"));
    assert!(!err.is_retryable());
    assert_eq!(standin.tasks_created(), 0);
    standin.shutdown().await;
}

#[tokio::test]
async fn describe_character_returns_a_bounded_description() {
    let standin = standin().await;
    let client = client(&standin);
    let text = client
        .describe_character("皮卡丘", Some("宝可梦"))
        .await
        .unwrap();
    assert!(!text.is_empty());
    assert!(text.chars().count() <= MAX_DESCRIPTION_CHARS);
    assert_eq!(text, text.trim());
    let text = client.describe_character("孙悟空", None).await.unwrap();
    assert!(!text.is_empty());

    let err = client.describe_character("  ", None).await.unwrap_err();
    assert!(matches!(err, DashScopeError::InvalidInput(_)));
    let err = client
        .describe_character("[standin:reject]", None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Moderation);
    standin.shutdown().await;
}

/// A server that accepts connections and never answers, counting them.
async fn silent_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });
    (format!("http://{addr}/api/v1"), accepted)
}

#[tokio::test]
async fn a_create_that_times_out_is_not_repeated_but_a_query_is() {
    use std::sync::atomic::Ordering;
    let (base, accepted) = silent_server().await;
    let mut config = config(&base);
    config.timeout = Duration::from_millis(300);
    config.max_retries = 2;
    let client = DashScope::new(config).unwrap();

    let err = client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap_err();
    assert!(matches!(err, DashScopeError::Interrupted { .. }), "{err:?}");
    assert!(!err.is_retryable(), "repeating could pay for a second task");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    let err = client.query_task("task-1").await.unwrap_err();
    assert!(
        matches!(err, DashScopeError::Timeout { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_create_that_could_not_connect_is_repeated_because_nothing_was_sent() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut config = config(&format!("http://{closed}/api/v1"));
    config.max_retries = 2;
    let client = DashScope::new(config).unwrap();
    let err = client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap_err();
    assert!(
        matches!(err, DashScopeError::Unreachable { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.kind(), ErrorKind::Upstream);
}

#[tokio::test]
async fn a_gateway_error_on_create_is_not_repeated_but_on_a_query_it_is() {
    let standin = standin().await;
    let client = client(&standin);
    standin.reject_next_requests(1, 504, "GatewayTimeout", "upstream timed out");
    let err = client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DashScopeError::Interrupted {
                status: Some(504),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(creates(&standin.requests()).len(), 1);

    standin.reject_next_requests(2, 502, "BadGateway", "bad gateway");
    let state = client.query_task("no-such-task").await.unwrap();
    assert_eq!(state.status, TaskStatus::Unknown);
    standin.shutdown().await;
}

#[tokio::test]
async fn the_api_key_never_appears_in_any_error() {
    let standin = Standin::start(StandinConfig {
        api_key: Some("sk-the-right-key".into()),
        ..StandinConfig::default()
    })
    .await
    .unwrap();
    let client = client(&standin); // holds KEY, which the stand-in refuses
    let mut errors = Vec::new();

    let err = client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidApiKey"));
    assert_eq!(err.kind(), ErrorKind::Unavailable, "never the user's fault");
    errors.push(err);
    errors.push(client.query_task("abc").await.unwrap_err());
    errors.push(client.describe_character("皮卡丘", None).await.unwrap_err());

    let good = DashScope::new(DashScopeConfig {
        api_key: "sk-the-right-key".into(),
        ..config(&standin.base_url())
    })
    .unwrap();
    standin.throttle_next_requests(100);
    errors.push(
        good.create_text_to_video("猫", None, "832*480")
            .await
            .unwrap_err(),
    );
    let file = format!("http://{}/files/nope.mp4?Signature=x", standin.addr());
    errors.push(client.download_video(&file, 1024).await.unwrap_err());

    let (silent, _) = silent_server().await;
    let mut cfg = config(&silent);
    cfg.timeout = Duration::from_millis(200);
    cfg.max_retries = 0;
    let stalled = DashScope::new(cfg).unwrap();
    errors.push(
        stalled
            .create_text_to_video("猫", None, "832*480")
            .await
            .unwrap_err(),
    );
    errors.push(stalled.query_task("abc").await.unwrap_err());

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = config(&format!("http://{closed}/api/v1"));
    cfg.max_retries = 1;
    errors.push(
        DashScope::new(cfg)
            .unwrap()
            .query_task("abc")
            .await
            .unwrap_err(),
    );

    for err in &errors {
        let mut shown = format!("{err} | {err:?} | {err:#?} | {}", err.user_message());
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            shown.push_str(&format!(" | {s} | {s:?}"));
            source = s.source();
        }
        assert!(!shown.contains(KEY), "key leaked: {shown}");
        assert!(!shown.contains("sk-the-right-key"), "key leaked: {shown}");
    }
    let config_shown = format!("{:?} {:?}", client.config(), client);
    assert!(!config_shown.contains(KEY));
    standin.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Spend safety: creates without a clear answer, the task list, the error table, video hosts

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A prompt no other test uses, so that the stand-in's tasks can be counted per test.
fn unique(marker: &str) -> String {
    format!("{marker} 一只猫 {:016x}", rand::random::<u64>())
}

#[tokio::test]
async fn a_create_answered_500_after_its_task_was_made_is_interrupted_and_the_list_finds_the_task()
{
    let standin = standin().await;
    let client = client(&standin);
    let model = client.config().t2v_model.clone();
    let prompt = unique("[standin:500-after-create]");

    let before = now_ms();
    let err = client
        .create_text_to_video(&prompt, None, "832*480")
        .await
        .unwrap_err();
    let after = now_ms();
    match &err {
        DashScopeError::Interrupted {
            status,
            code,
            request_id,
            ..
        } => {
            assert_eq!(*status, Some(500));
            assert_eq!(code.as_deref(), Some("InternalError"));
            assert!(request_id.is_some(), "kept for DashScope's support");
        }
        other => panic!("expected Interrupted, got {other:?}"),
    }
    assert!(!err.is_retryable(), "repeating could pay for a second task");
    assert_eq!(creates(&standin.requests()).len(), 1, "never repeated");
    let made = standin.task_ids(&prompt);
    assert_eq!(made.len(), 1, "the stand-in made exactly one task");

    let listed = client.list_tasks(&model, before, after).await.unwrap();
    let found: Vec<_> = listed.iter().filter(|t| t.task_id == made[0]).collect();
    assert_eq!(found.len(), 1, "{listed:?}");
    assert!((before..=after).contains(&found[0].created_ms), "{found:?}");
    assert!(
        matches!(
            found[0].status,
            TaskStatus::Pending | TaskStatus::Running | TaskStatus::Succeeded
        ),
        "{found:?}"
    );

    // Outside the window, or for another model, it is not there.
    for (model, from, to) in [
        (model.as_str(), after + 1, after + 60_000),
        (model.as_str(), before.saturating_sub(3_600_000), before - 1),
        (client.config().i2v_model.as_str(), before, after),
    ] {
        let listed = client.list_tasks(model, from, to).await.unwrap();
        assert!(
            listed.iter().all(|t| t.task_id != made[0]),
            "{model} {from}..{to}: {listed:?}"
        );
    }
    standin.shutdown().await;
}

#[tokio::test]
async fn a_create_whose_answer_never_comes_is_interrupted_at_the_clients_timeout_with_one_task() {
    let standin = standin().await;
    let mut config = config(&standin.base_url());
    config.timeout = Duration::from_secs(1);
    config.max_retries = 3;
    let client = DashScope::new(config).unwrap();
    let prompt = unique("[standin:hang-create]");

    let before = now_ms();
    let err = client
        .create_text_to_video(&prompt, None, "832*480")
        .await
        .unwrap_err();
    match &err {
        DashScopeError::Interrupted {
            status: None,
            source: Some(source),
            ..
        } => assert!(source.is_timeout(), "{source:?}"),
        other => panic!("expected an interrupted create, got {other:?}"),
    }
    assert!(!err.is_retryable());
    // The held create is not in the request log until the stand-in answers it; every create of
    // this prompt makes a task, so one task means it was sent once.
    let made = standin.task_ids(&prompt);
    assert_eq!(made.len(), 1, "never repeated");
    let listed = client
        .list_tasks(&client.config().t2v_model, before, now_ms())
        .await
        .unwrap();
    assert!(listed.iter().any(|t| t.task_id == made[0]), "{listed:?}");
    standin.shutdown().await;
}

#[tokio::test]
async fn a_storm_of_429s_is_retried_into_exactly_one_task() {
    let standin = standin().await;
    let client = client(&standin);
    let prompt = unique("[standin:429-storm]");
    let task_id = client
        .create_text_to_video(&prompt, None, "832*480")
        .await
        .unwrap();
    let statuses: Vec<u16> = creates(&standin.requests())
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 429, 200]);
    assert_eq!(standin.task_ids(&prompt), [task_id]);
    assert_eq!(standin.tasks_created(), 1);
    standin.shutdown().await;
}

#[tokio::test]
async fn queries_that_fail_for_a_while_are_retried_and_an_undocumented_status_does_not_end_the_task()
 {
    let standin = standin().await;
    let client = client(&standin);

    let task_id = client
        .create_text_to_video(&unique("[standin:query-5xx]"), None, "832*480")
        .await
        .unwrap();
    let state = client.query_task(&task_id).await.unwrap();
    assert_eq!(state.task_id, task_id);
    let statuses: Vec<u16> = standin
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(&task_id))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [500, 500, 500, 200]);

    let task_id = client
        .create_text_to_video(&unique("[standin:odd-status]"), None, "832*480")
        .await
        .unwrap();
    let first = client.query_task(&task_id).await.unwrap();
    assert_eq!(first.status, TaskStatus::Unrecognized, "{first:?}");
    assert!(
        !first.status.is_terminal(),
        "SUSPENDED must be polled again"
    );
    let last = wait_for_end(&client, &task_id).await;
    assert_eq!(last.status, TaskStatus::Succeeded, "{last:?}");
    standin.shutdown().await;
}

#[tokio::test]
async fn the_task_list_is_read_to_its_last_page() {
    let standin = standin().await;
    let client = client(&standin);
    let marker = unique("[standin:fail]");
    let before = now_ms();
    let mut made = Vec::new();
    for n in 0..105 {
        made.push(
            client
                .create_text_to_video(&format!("{marker} {n}"), None, "832*480")
                .await
                .unwrap(),
        );
    }
    let mut listed: Vec<String> = client
        .list_tasks(&client.config().t2v_model, before, now_ms())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.task_id)
        .collect();
    listed.sort();
    made.sort();
    assert_eq!(listed, made, "105 tasks are more than one page of 100");
    let pages = standin
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/tasks/")
        .count();
    assert_eq!(pages, 2);
    standin.shutdown().await;
}

#[tokio::test]
async fn the_account_codes_of_the_error_table_are_not_retried_as_throttling() {
    let standin = standin().await;
    let client = client(&standin);
    for (code, message) in [
        ("CommodityNotPurchased", "Commodity has not purchased yet."),
        ("PrepaidBillOverdue", "The prepaid bill is overdue."),
        ("PostpaidBillOverdue", "The postpaid bill is overdue."),
    ] {
        let sent = creates(&standin.requests()).len();
        standin.reject_next_requests(1, 429, code, message);
        let err = client
            .create_text_to_video("猫", None, "832*480")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                DashScopeError::Api {
                    status: 429,
                    attempts: 1,
                    ..
                }
            ),
            "{code}: {err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{code}");
        assert!(!err.is_retryable(), "{code}");
        assert_eq!(creates(&standin.requests()).len(), sent + 1, "{code}");
    }
    assert_eq!(standin.tasks_created(), 0);

    // Throttling.AllocationQuota is a tokens-per-second limit: waiting helps.
    standin.reject_next_requests(
        1,
        429,
        "Throttling.AllocationQuota",
        "Allocated quota exceeded, please increase your quota limit.",
    );
    client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap();
    assert_eq!(standin.tasks_created(), 1);
    standin.shutdown().await;
}

#[tokio::test]
async fn media_dashscope_cannot_read_gets_its_own_message_not_the_moderation_one() {
    let standin = standin().await;
    let client = client(&standin);
    standin.reject_next_requests(
        1,
        400,
        "InvalidParameter.DataInspection",
        "The media format is not supported or incorrect for the data inspection.",
    );
    let err = client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadMedia, "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(
        err.user_message(),
        "图片无法读取，请换一张 JPG 或 PNG 图片再试"
    );

    standin.fail_next_task(
        "InvalidParameter.DataInspection",
        "Unable to download the media resource during the data inspection process.",
    );
    let task_id = client
        .create_text_to_video("猫", None, "832*480")
        .await
        .unwrap();
    let state = wait_for_end(&client, &task_id).await;
    assert_eq!(state.status, TaskStatus::Failed);
    let shown = failure_message(state.code.as_deref(), state.message.as_deref());
    assert_eq!(shown, ErrorKind::BadMedia.user_message());
    assert_ne!(shown, ErrorKind::Moderation.user_message());
    standin.shutdown().await;
}

/// A finished task's video URL on the stand-in.
async fn video_url(standin: &StandinHandle) -> String {
    let client = client(standin);
    let task_id = client
        .create_text_to_video("一只橘猫开心地跳舞", None, "624*624")
        .await
        .unwrap();
    let state = wait_for_end(&client, &task_id).await;
    assert_eq!(state.status, TaskStatus::Succeeded, "{state:?}");
    state.video_url.unwrap()
}

fn files_fetched(standin: &StandinHandle) -> usize {
    standin
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/files/"))
        .count()
}

#[tokio::test]
async fn a_video_url_on_a_host_not_listed_is_refused_without_being_fetched() {
    let standin = standin().await;
    let url = video_url(&standin).await;
    for hosts in [
        None,
        Some("localhost"),
        Some("127.0.0.2, videos.example.com"),
    ] {
        let mut config = config(&standin.base_url());
        config.video_hosts =
            hosts.map_or_else(VideoHosts::default, |h| VideoHosts::parse(h).unwrap());
        let client = DashScope::new(config).unwrap();
        let err = client
            .download_video(&url, MAX_VIDEO_BYTES)
            .await
            .unwrap_err();
        assert!(
            matches!(err, DashScopeError::UntrustedVideo { ref host, .. } if host == "127.0.0.1"),
            "{hosts:?}: {err:?}"
        );
        assert!(!err.is_retryable(), "the same URL would be refused again");
        assert_eq!(err.kind(), ErrorKind::Upstream);
    }
    assert_eq!(files_fetched(&standin), 0, "nothing was fetched");
    // Listed, it downloads.
    let mp4 = client(&standin)
        .download_video(&url, MAX_VIDEO_BYTES)
        .await
        .unwrap();
    assert_eq!(&mp4[4..8], b"ftyp");
    standin.shutdown().await;
}

/// A server on loopback that answers every request with what `answer` makes of its request
/// line, counting the requests.
async fn raw_server(
    answer: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = std::sync::Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let answer = answer.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let head = String::from_utf8_lossy(&head);
                let line = head.lines().next().unwrap_or("").to_owned();
                let _ = socket.write_all(answer(&line).as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (addr, served)
}

#[tokio::test]
async fn a_redirect_off_the_list_is_refused_and_one_on_it_is_followed() {
    use std::sync::atomic::Ordering;
    let standin = standin().await;
    let url = video_url(&standin).await;
    // The same file, named through another host.
    let elsewhere = url.replacen("127.0.0.1", "localhost", 1);
    let (redirector, served) = raw_server(move |_| {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {elsewhere}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    })
    .await;
    let start = format!("http://{redirector}/video.mp4?Signature=abc");

    let err = client(&standin)
        .download_video(&start, MAX_VIDEO_BYTES)
        .await
        .unwrap_err();
    assert!(
        matches!(err, DashScopeError::UntrustedVideo { ref host, .. } if host == "localhost"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(served.load(Ordering::SeqCst), 1, "asked once, not retried");
    assert_eq!(files_fetched(&standin), 0, "the redirect was not followed");

    let mut config = config(&standin.base_url());
    config.video_hosts = VideoHosts::parse("127.0.0.1, localhost").unwrap();
    let mp4 = DashScope::new(config)
        .unwrap()
        .download_video(&start, MAX_VIDEO_BYTES)
        .await
        .unwrap();
    assert_eq!(&mp4[4..8], b"ftyp");
    assert_eq!(files_fetched(&standin), 1, "followed to the listed host");
    standin.shutdown().await;
}

fn http_answer(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn a_task_list_that_cannot_be_read_in_full_is_an_error_not_an_empty_answer() {
    use std::sync::atomic::Ordering;
    let model = "wanx2.1-t2v-turbo";
    let t = now_ms();
    // Pages without end: past MAX_LIST_PAGES the caller cannot tell.
    let (endless, served) = raw_server(move |_| {
        let body = json!({"total": 100_000, "total_page": 1000, "page_no": 1, "page_size": 100,
            "data": [{"task_id": "t-old", "model_name": model, "gmt_create": 1, "status": "SUCCEEDED"}]});
        http_answer("200 OK", &body.to_string())
    })
    .await;
    let client = DashScope::new(config(&format!("http://{endless}/api/v1"))).unwrap();
    let err = client.list_tasks(model, t - 1000, t).await.unwrap_err();
    assert!(
        matches!(err, DashScopeError::TaskListTooLong { pages } if pages == MAX_LIST_PAGES),
        "{err:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), MAX_LIST_PAGES as usize);

    // An item that does not say when it was made could be the task looked for.
    let (vague, _) = raw_server(move |_| {
        let body = json!({"total": 1, "total_page": 1, "page_no": 1, "page_size": 100,
            "data": [{"task_id": "t-1", "model_name": model, "status": "RUNNING"}]});
        http_answer("200 OK", &body.to_string())
    })
    .await;
    let client = DashScope::new(config(&format!("http://{vague}/api/v1"))).unwrap();
    let err = client.list_tasks(model, t - 1000, t).await.unwrap_err();
    assert!(matches!(err, DashScopeError::Protocol { .. }), "{err:?}");

    // A read is retried through a passing failure, and the range goes as documented.
    let (flaky, served) = raw_server(move |line| {
        assert!(line.starts_with("GET /api/v1/tasks/?start_time="), "{line}");
        for field in [
            "&end_time=",
            "&model_name=wanx2.1-t2v-turbo",
            "&page_no=1",
            "&page_size=100",
        ] {
            assert!(line.contains(field), "{line}");
        }
        http_answer(
            "503 Service Unavailable",
            r#"{"code":"ServiceUnavailable"}"#,
        )
    })
    .await;
    let mut cfg = config(&format!("http://{flaky}/api/v1"));
    cfg.max_retries = 2;
    let err = DashScope::new(cfg)
        .unwrap()
        .list_tasks(model, t - 1000, t)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DashScopeError::Api {
                status: 503,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(served.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_stand_ins_task_list_checks_its_query_like_the_reference_and_counts_tasks() {
    let standin = standin().await;
    let http = reqwest::Client::new();
    let get = |query: &str| {
        let request = http
            .get(format!("{}/tasks/{query}", standin.base_url()))
            .bearer_auth(KEY);
        async move {
            let resp = request.send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    for bad in [
        "?start_time=2025-04-25&end_time=20250425160708",
        "?start_time=20250425160708&end_time=20250425",
        "?start_time=20250230000000&end_time=20250301000000",
        "?start_time=20250424160707&end_time=20250425160708",
        "?start_time=20250425160708&end_time=20250425160707",
        "?page_size=0",
        "?page_size=101",
        "?page_no=0",
        "?status=DONE",
    ] {
        let (status, body) = get(bad).await;
        assert_eq!(
            (status, &body["code"]),
            (400, &json!("InvalidParameter")),
            "{bad}: {body}"
        );
    }
    // Exactly 24 hours is allowed; no range means the last 24 hours.
    let (status, body) = get("?start_time=20250424160708&end_time=20250425160708").await;
    assert_eq!(status, 200, "{body}");

    let client = client(&standin);
    let prompt = unique("[standin:fail]");
    let task_id = client
        .create_text_to_video(&prompt, None, "832*480")
        .await
        .unwrap();
    let (status, body) = get("").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["total"], 1, "{body}");
    assert_eq!(body["total_page"], 1);
    assert_eq!(body["page_size"], 10, "the reference's default");
    let item = &body["data"][0];
    assert_eq!(item["task_id"], task_id.as_str());
    assert_eq!(item["model_name"], "wanx2.1-t2v-turbo");
    assert!(
        item["gmt_create"].is_u64() && item["request_id"].is_string(),
        "{item}"
    );
    let (_, body) = get("?model_name=wan2.2-i2v-flash").await;
    assert_eq!(body["total"], 0, "{body}");

    // The stand-in-only count, for tests that run Emo in another process.
    let mut count_url =
        reqwest::Url::parse(&format!("http://{}/_standin/tasks", standin.addr())).unwrap();
    count_url
        .query_pairs_mut()
        .append_pair("prompt_contains", &prompt);
    let counted: Value = http
        .get(count_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counted, json!({"count": 1, "task_ids": [task_id]}));
    standin.shutdown().await;
}

#[tokio::test]
async fn a_create_accepted_with_an_unreadable_answer_is_interrupted_and_its_task_is_listed() {
    let standin = standin().await;
    let client = client(&standin);
    standin.garble_next(emo_standin::Call::Create, 1);
    let before = now_ms();
    let err = client
        .create_text_to_video("一只猫", None, "832*480")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            DashScopeError::Interrupted {
                status: Some(200),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    assert_eq!(creates(&standin.requests()).len(), 1);
    let made = standin.task_ids("");
    assert_eq!(made.len(), 1);
    let listed = client
        .list_tasks(&client.config().t2v_model, before, now_ms())
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|t| &t.task_id).collect::<Vec<_>>(),
        [&made[0]]
    );
    standin.shutdown().await;
}
