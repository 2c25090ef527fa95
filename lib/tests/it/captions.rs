//! Captions through the API, on both backends: a bad `caption` or `caption_position` is refused
//! with a 400 naming the problem before anything is stored, queued or counted; a good one is
//! stored on the job, drawn by the worker, shown by the query and the list, and kept by a
//! regenerate. (How a caption looks on the GIF: `emo::gif::caption`'s tests.)

use emo::domain::{Caption, CaptionPosition, JobId};
use emo_test_support::http::get;
use serde_json::{Value, json};

use crate::env::{JobEnv, assert_sticker, post, test_png_data_uri};

async fn create_with_prompt(env: &JobEnv, token: &str, fields: &Value) -> (u16, Value) {
    env.call(post(
        "/api/v1/video/create_with_prompt",
        fields,
        Some(token),
    ))
    .await
}

async fn bad_captions_are_refused_before_anything_is_stored(env: JobEnv) {
    let token = env.user("13900001313").await;
    let png = test_png_data_uri();
    // Each bad caption, and what its message must name.
    let cases = [
        ("好".repeat(21), "21"),
        ("第一行\n第二行".to_owned(), "U+000A"),
        ("开心😀".to_owned(), "😀"),
        ("鎔𠀀".to_owned(), "鎔"),
    ];
    for (caption, named) in &cases {
        for fields in [
            json!({"type": "text_to_video", "prompt": "猫", "caption": caption}),
            json!({"type": "image_to_video", "prompt": "猫", "img_base64": png, "caption": caption}),
        ] {
            let (status, body) = env.create(&token, fields).await;
            assert_eq!(status, 400, "{caption:?} -> {body}");
            let message = body["error"].as_str().unwrap_or_else(|| panic!("{body}"));
            assert!(message.contains(named), "{caption:?}: {message}");
        }
        let fields = json!({"role": "孙悟空", "action": "跳舞", "caption": caption});
        let (status, body) = create_with_prompt(&env, &token, &fields).await;
        assert_eq!(status, 400, "{caption:?} -> {body}");
        assert!(body["error"].as_str().unwrap().contains(named), "{body}");
    }
    let fields = json!({"type": "text_to_video", "prompt": "猫", "caption": "好", "caption_position": "middle"});
    let (status, body) = env.create(&token, fields).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("caption_position"));

    let jobs = env.jobs_of("13900001313").await;
    assert!(jobs.is_empty(), "{jobs:?}");
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

async fn a_caption_is_stored_drawn_shown_and_kept_by_a_regenerate(mut env: JobEnv) {
    env.start_worker();
    let token = env.user("13900001314").await;
    let fields = json!({"type": "text_to_video", "prompt": "一只猫", "caption": "  我太难了　", "caption_position": "top"});
    let (status, body) = env.create(&token, fields).await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["job_id"].as_str().unwrap().to_owned();
    let want = Caption {
        text: "我太难了".into(),
        position: CaptionPosition::Top,
    };
    let stored = env
        .state
        .jobs
        .get(&JobId::parse(&id).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.caption.as_ref(), Some(&want));

    let (data, _) = env.wait(&token, &id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    assert_eq!(
        (&data["caption"], &data["caption_position"]),
        (&json!("我太难了"), &json!("top"))
    );
    let (status, gif) = env.fetch(data["video_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    assert_sticker(&gif);

    let (status, body) = env
        .call(post(
            &format!("/api/v1/video/regenerate/{id}"),
            &json!({}),
            Some(&token),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    let again = JobId::parse(body["data"]["job_id"].as_str().unwrap()).unwrap();
    let regenerated = env.state.jobs.get(&again).await.unwrap().unwrap();
    assert_eq!(regenerated.caption.as_ref(), Some(&want));

    // A character's caption is stored too, and the list shows each job's.
    let fields = json!({"role": "孙悟空", "action": "跳舞", "caption": "OK，收到！"});
    let (status, body) = create_with_prompt(&env, &token, &fields).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = env.call(get("/api/v1/video/list", &token)).await;
    assert_eq!(status, 200, "{body}");
    let captions: Vec<(&Value, &Value)> = body["data"]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| (&j["caption"], &j["caption_position"]))
        .collect();
    assert_eq!(
        captions,
        [
            (&json!("OK，收到！"), &json!("bottom")),
            (&json!("我太难了"), &json!("top")),
            (&json!("我太难了"), &json!("top")),
        ]
    );
}

emo_test_support::on_both_backends!(
    emo_test_support::env::JobEnv;
    bad_captions_are_refused_before_anything_is_stored,
    a_caption_is_stored_drawn_shown_and_kept_by_a_regenerate,
);
