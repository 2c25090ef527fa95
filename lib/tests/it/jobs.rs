//! Sections 2.2, 2.3, 3 and 4 of the spec end to end: the handlers, the queue, the worker, the
//! DashScope stand-in, ffmpeg and gifski, on both backends (aws on the emulator).

use serde_json::json;

use crate::env::{JobEnv, assert_sticker, test_png_data_uri};

async fn the_call_flow_ends_succeeded_with_a_gif_url_that_works(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13800001111").await;
    let (status, body) = env
        .create(
            &token,
            json!({"type": "text_to_video", "prompt": "一只可爱的猫在打篮球", "size": "624*624"}),
        )
        .await;
    assert_eq!(
        (status, &body["code"], &body["message"]),
        (200, &json!(200), &json!("任务创建成功"))
    );
    let job_id = body["data"]["job_id"].as_str().unwrap().to_owned();
    assert!(job_id.starts_with("job_"));

    let (data, seen) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert!(
        seen.iter().any(|s| s == "PENDING" || s == "RUNNING"),
        "{seen:?}"
    );
    assert_eq!(data["job_id"], job_id.as_str());
    let url = data["video_url"].as_str().unwrap();
    let (status, gif) = env.fetch(url).await;
    assert_eq!(status, 200);
    assert_sticker(&gif);
    assert_eq!(data["gif_bytes"], json!(gif.len()));
    // Every query mints a fresh URL; none is stored.
    let (_, again) = env.query(&token, &job_id).await;
    assert_eq!(again["data"]["status"], "SUCCEEDED");
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_photo_becomes_a_sticker_with_its_aspect_ratio(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13800002222").await;
    let (status, body) = env
        .create(
            &token,
            json!({"type": "image_to_video", "prompt": "挥手打招呼", "img_base64": test_png_data_uri()}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let job_id = body["data"]["job_id"].as_str().unwrap();
    let (data, _) = env.wait(&token, job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    // 640×480 in, 4:3 out: 240 wide, 180 high.
    assert_eq!(
        (data["width"].as_u64(), data["height"].as_u64()),
        (Some(240), Some(180))
    );
    let (status, gif) = env.fetch(data["video_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_sticker(&gif);
}

async fn a_character_and_an_action_become_a_sticker_with_the_notice(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13800003333").await;
    let req = crate::env::post(
        "/api/v1/video/create_with_prompt",
        &json!({"role": "孙悟空", "source": "西游记", "action": "正在跳舞"}),
        Some(&token),
    );
    let (status, body) = env.call(req).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["notice"], emo::api::video::CHARACTER_NOTICE);
    let job_id = body["data"]["job_id"].as_str().unwrap();
    let (data, _) = env.wait(&token, job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    // Qwen was asked, then one video task was made.
    assert!(
        env.standin
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/text-generation/generation"))
    );
    assert_eq!(env.standin.tasks_created(), 1);
}

async fn a_task_dashscope_fails_ends_failed_with_a_readable_message(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13800004444").await;
    let (_, body) = env
        .create(
            &token,
            json!({"type": "text_to_video", "prompt": "不该生成的内容 [standin:fail]"}),
        )
        .await;
    let job_id = body["data"]["job_id"].as_str().unwrap();
    let (data, _) = env.wait(&token, job_id).await;
    assert_eq!(data["status"], "FAILED");
    let message = data["error_message"].as_str().unwrap();
    assert!(
        !message.is_empty()
            && !message.contains("DataInspection")
            && !message.contains("request_id"),
        "{message}"
    );
    assert!(data.get("video_url").is_none());
}

async fn missing_and_foreign_jobs_answer_unknown(mut env: JobEnv) {
    env.start_worker();
    let alice = env.user("13800005555").await;
    let bob = env.user("13800006666").await;
    let (_, body) = env
        .create(&alice, json!({"type": "text_to_video", "prompt": "猫"}))
        .await;
    let job_id = body["data"]["job_id"].as_str().unwrap();
    let unknown = |id: &str| {
        (
            404,
            json!({"code": 500, "message": "任务不存在", "data": {"job_id": id, "status": "UNKNOWN"}}),
        )
    };
    assert_eq!(env.query(&bob, job_id).await, unknown(job_id));
    assert_eq!(
        env.query(&alice, "job_0123456789abcdef01234567").await,
        unknown("job_0123456789abcdef01234567")
    );
    assert_eq!(
        env.query(&alice, "not-a-job-id").await,
        unknown("not-a-job-id")
    );
    assert_eq!(env.query(&alice, job_id).await.0, 200);
    let (status, body) = env.query("not-a-token", job_id).await;
    assert_eq!(
        (status, body),
        (401, json!({"error": "Invalid or expired JWT"}))
    );
}

async fn bad_input_is_refused_and_leaves_nothing_behind(env: JobEnv) {
    // No worker: whatever a request left would still be in the queue.
    let token = env.user("13800007777").await;
    let png = test_png_data_uri();
    let long = "猫".repeat(801);
    let cases = [
        json!({"prompt": "猫"}),
        json!({"type": "text_to_gif", "prompt": "猫"}),
        json!({"type": "text_to_video"}),
        json!({"type": "text_to_video", "prompt": long}),
        json!({"type": "text_to_video", "prompt": "猫", "negative_prompt": "狗".repeat(501)}),
        json!({"type": "text_to_video", "prompt": "猫", "size": "1920*1080"}),
        json!({"type": "image_to_video", "prompt": "猫"}),
        json!({"type": "image_to_video", "prompt": "猫", "img_base64": "iVBORw0KGgo="}),
        json!({"type": "image_to_video", "prompt": "猫", "img_base64": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}),
        json!({"type": "image_to_video", "prompt": "猫", "img_base64": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA"}),
        json!({"type": "image_to_video", "prompt": "猫", "img_base64": png, "resolution": "1080P"}),
    ];
    for fields in cases {
        let (status, body) = env.create(&token, fields.clone()).await;
        assert_eq!(status, 400, "{fields} -> {body}");
        let message = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
        assert!(message.chars().count() >= 4, "{message}");
    }
    for fields in [
        json!({"action": "跳舞"}),
        json!({"role": "孙悟空"}),
        json!({"role": "孙悟空", "action": "跳舞", "size": "1*1"}),
        json!({"role": "猴".repeat(51), "action": "跳舞"}),
        json!({"role": "孙悟空", "source": "书".repeat(51), "action": "跳舞"}),
        json!({"role": "孙悟空", "action": "跳".repeat(201)}),
    ] {
        let req = crate::env::post("/api/v1/video/create_with_prompt", &fields, Some(&token));
        let (status, body) = env.call(req).await;
        assert_eq!(status, 400, "{fields} -> {body}");
        assert!(body["error"].is_string());
    }
    let raw = http::Request::builder()
        .method("POST")
        .uri("/api/v1/video/create")
        .header("content-type", "application/json")
        .header("authorization", format!("Bearer {token}"))
        .body(lambda_http::Body::Text("{\"type\": ".into()))
        .unwrap();
    assert_eq!(env.call(raw).await.0, 400);

    assert!(env.jobs_of("13800007777").await.is_empty());
    let left = env
        .state
        .queue
        .receive(10, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    if let Some(dir) = &env.data_dir {
        let inputs = dir.path().join("blobs/inputs");
        let n = std::fs::read_dir(&inputs).map(|d| d.count()).unwrap_or(0);
        assert_eq!(n, 0, "input images left in {}", inputs.display());
    }
    assert_eq!(env.standin.tasks_created(), 0);
}

emo_test_support::on_both_backends!(
    emo_test_support::env::JobEnv;
    the_call_flow_ends_succeeded_with_a_gif_url_that_works,
    a_photo_becomes_a_sticker_with_its_aspect_ratio,
    a_character_and_an_action_become_a_sticker_with_the_notice,
    a_task_dashscope_fails_ends_failed_with_a_readable_message,
    missing_and_foreign_jobs_answer_unknown,
    bad_input_is_refused_and_leaves_nothing_behind,
);

/// The `events/` fixtures, through the very handlers each Lambda runs.
mod fixtures {
    use emo::api::video::{create, create_with_prompt, query};
    use emo_test_support::fixture;
    use emo_test_support::http::read;
    use serde_json::json;

    use crate::env::JobEnv;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_video_event_fixtures_get_the_answers_they_describe() {
        // Four creates in progress at once: one more than the default allowance.
        let env = JobEnv::local(&[("EMO_MAX_ACTIVE_JOBS", "4")]).await;
        let token = env.user("13800009999").await;
        let event = |name: &str| emo_test_support::event(name, &token);

        for name in [
            "video-create-text.json",
            "video-create-image.json",
            "video-create-captioned.json",
        ] {
            let (status, body) = read(create(&env.state, event(name)).await);
            assert_eq!(
                (status, &body["code"]),
                (200, &json!(200)),
                "{name}: {body}"
            );
        }
        let (status, body) =
            read(create_with_prompt(&env.state, event("video-create-with-prompt.json")).await);
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["notice"].is_string());
        for (name, status) in [
            ("video-create-bad-type.json", 400),
            ("video-create-bad-caption.json", 400),
            ("video-create-no-token.json", 401),
        ] {
            let (got, body) = read(create(&env.state, event(name)).await);
            assert_eq!(got, status, "{name}: {body}");
            assert!(body["error"].is_string());
        }
        let (got, body) = read(
            create_with_prompt(
                &env.state,
                event("video-create-with-prompt-missing-action.json"),
            )
            .await,
        );
        assert_eq!(got, 400, "{body}");
        for name in ["video-query.json", "video-query-malformed-id.json"] {
            let (status, body) = read(query(&env.state, event(name)).await);
            assert_eq!(
                (status, &body["data"]["status"]),
                (404, &json!("UNKNOWN")),
                "{name}: {body}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_sqs_batch_reports_only_its_malformed_record_as_failed() {
        let env = JobEnv::local(&[]).await;
        let token = env.user("13800009998").await;
        let (_, body) = env
            .create(&token, json!({"type": "text_to_video", "prompt": "批处理"}))
            .await;
        let job_id = body["data"]["job_id"].as_str().unwrap();
        let batch = fixture("sqs-transcoder-batch.json", &token)
            .replace("job_0123456789abcdef01234567", job_id);
        let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(&batch).unwrap();
        let malformed = event.records[1].message_id.clone().unwrap();
        let response = emo::worker::handle_sqs_event(
            &env.state,
            event,
            emo::worker::lease_step_time(&env.state),
        )
        .await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(failed, vec![malformed]);
        // The good record started the job: its DashScope task exists.
        assert_eq!(env.standin.tasks_created(), 1);
        assert_eq!(
            env.query(&token, job_id).await.1["data"]["status"],
            "RUNNING"
        );
    }
}
