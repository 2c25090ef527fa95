//! The local cloud run: template.yaml deployed on the AWS emulator by `infra/localcloud.py`, with
//! the function binaries of this workspace as the Lambdas' bootstraps, the job queue feeding the
//! transcoder through an SQS event source, and the dead-letter queue behind it. The spec's call
//! flow goes through the emulated HTTP API over real HTTP, then "My stickers" (list, thumbnail,
//! regenerate, delete) through their own Lambdas; DashScope is the offline stand-in.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use emo::worker::MSG_GAVE_UP;
use emo_standin::{Standin, StandinConfig};
use serde_json::{Value, json};

use crate::env::{assert_sticker, emulator_configured, unique};

/// The emulator's Python and the directory of the function binaries; `None` outside CI without
/// an emulator.
fn prerequisites() -> Option<(String, PathBuf)> {
    if !emulator_configured() {
        return None;
    }
    let python = std::env::var("EMO_EMULATOR_PYTHON")
        .expect("EMO_EMULATOR_PYTHON is exported by `eval \"$(bash infra/emulator.sh start)\"`");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bins = target.join("debug");
    assert!(
        bins.join("transcoder").exists(),
        "the function binaries are missing from {}: `cargo build --workspace --all-targets` (infra/test.sh does)",
        bins.display()
    );
    Some((python, bins))
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    /// `method` on `path` with `token`: the status and the JSON body.
    async fn call(&self, method: reqwest::Method, path: &str, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }

    async fn query(&self, token: &str, job_id: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/api/v1/video/query/{job_id}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Polls as the mini-program does until the job ends; its `data`.
    async fn wait(&self, token: &str, job_id: &str) -> Value {
        let start = Instant::now();
        loop {
            let body = self.query(token, job_id).await;
            let status = body["data"]["status"].as_str().unwrap_or("").to_owned();
            if status == "SUCCEEDED" || status == "FAILED" {
                return body["data"].clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(240),
                "job {job_id} still {status} after 4 minutes"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn create(&self, token: &str, path: &str, fields: Value) -> String {
        let (status, body) = self.post(path, Some(token), fields).await;
        assert_eq!((status, &body["code"]), (200, &json!(200)), "{body}");
        body["data"]["job_id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn the_call_flow_runs_through_the_deployed_lambdas_and_a_given_up_job_lands_in_the_dlq() {
    let Some((python, bins)) = prerequisites() else {
        return;
    };
    let standin = Standin::start(StandinConfig::default()).await.unwrap();
    let stack = unique("emo-cloud");
    let deployed = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../infra/localcloud.py"
        ))
        .args(["--stack", &stack, "--dashscope-key", "sk-cloud-run-key"])
        .arg("--bins")
        .arg(&bins)
        .args([
            "--param",
            &format!("DashScopeBaseUrl={}", standin.base_url()),
            "--param",
            "DashScopeVideoHosts=127.0.0.1",
        ])
        // A step that failed for now comes back after its backoff (ChangeMessageVisibility), a
        // given-up one at once; the visibility timeout only covers a worker that died. It must
        // outlast the slowest step on a busy machine, or a message is delivered again while its
        // first delivery still runs (the template has 720 s: six times the function's timeout).
        .args(["--param", "JobMaxReceives=2", "--visibility", "60"])
        .output()
        .unwrap();
    assert!(
        deployed.status.success(),
        "deploy failed: {}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let outputs: Value = serde_json::from_slice(&deployed.stdout).unwrap();
    let api = Api {
        base: outputs["ApiBase"].as_str().unwrap().to_owned(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    };

    // Section 4 of the spec, through API Gateway and the Lambdas.
    let creds = json!({"phone": "13600000001", "password": "cloud-run-password"});
    let (status, body) = api
        .post("/api/v1/users/register", None, creds.clone())
        .await;
    assert_eq!((status, &body["code"]), (200, &json!(0)), "{body}");
    let (status, body) = api.post("/api/v1/users/login", None, creds).await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_owned();

    let text = api
        .create(
            &token,
            "/api/v1/video/create",
            json!({"type": "text_to_video", "prompt": "一只可爱的猫在打篮球"}),
        )
        .await;
    let character = api
        .create(
            &token,
            "/api/v1/video/create_with_prompt",
            json!({"role": "孙悟空", "action": "挥手"}),
        )
        .await;
    // A job given up: Qwen answers 500 to every description of this character (a passing
    // failure, and no create is ever sent). With two deliveries, the second failure ends the job
    // FAILED and the queue moves its message to the dead-letter queue.
    let doomed = api
        .create(
            &token,
            "/api/v1/video/create_with_prompt",
            json!({"role": "坏掉的服务 [standin:500]", "action": "挥手"}),
        )
        .await;
    // A bad input is refused by the function, in the envelope, and makes no job.
    let (status, body) = api
        .post(
            "/api/v1/video/create",
            Some(&token),
            json!({"type": "text_to_video", "prompt": ""}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );

    for job_id in [&text, &character] {
        let data = api.wait(&token, job_id).await;
        assert_eq!(data["status"], "SUCCEEDED", "{data}");
        let url = data["video_url"].as_str().unwrap();
        let gif = api.http.get(url).send().await.unwrap();
        assert_eq!(gif.status(), 200, "{url}");
        assert_sticker(&gif.bytes().await.unwrap());
    }
    let data = api.wait(&token, &doomed).await;
    assert_eq!(data["status"], "FAILED", "{data}");
    assert_eq!(data["error_message"], MSG_GAVE_UP);

    let sqs = aws_sdk_sqs::Client::new(&emo::store::aws::sdk_config().await);
    let dlq = outputs["JobDeadLetterQueueUrl"].as_str().unwrap();
    let start = Instant::now();
    let dead: Vec<String> = loop {
        let got = sqs
            .receive_message()
            .queue_url(dlq)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let bodies: Vec<String> = got
            .messages()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect();
        if !bodies.is_empty() || start.elapsed() > Duration::from_secs(60) {
            break bodies;
        }
    };
    assert!(
        dead.iter().any(|b| b.contains(&doomed)),
        "the given-up job's message is in the DLQ: {dead:?}"
    );
    assert!(
        dead.iter()
            .all(|b| !b.contains(&text) && !b.contains(&character)),
        "only it: {dead:?}"
    );
    // Two stickers made, one task each; the refused creates made none.
    assert_eq!(standin.tasks_created(), 2);

    // My stickers, each route through its own Lambda: the list, newest first, page by page.
    let (status, page) = api
        .call(reqwest::Method::GET, "/api/v1/video/list?limit=2", &token)
        .await;
    assert_eq!(status, 200, "{page}");
    let ids = |page: &Value| -> Vec<String> {
        page["data"]["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&page), [doomed.clone(), character.clone()]);
    let cursor = page["data"]["next_cursor"].as_str().unwrap();
    let (_, rest) = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/video/list?limit=2&cursor={cursor}"),
            &token,
        )
        .await;
    assert_eq!(ids(&rest), std::slice::from_ref(&text));
    assert_eq!(rest["data"]["next_cursor"], Value::Null);
    // The thumbnail, a 120 × 120 PNG, from its presigned S3 URL.
    let sticker = &rest["data"]["jobs"][0];
    let thumb = api
        .http
        .get(sticker["thumbnail_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(thumb.status(), 200);
    let png = thumb.bytes().await.unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let side = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!(
        (side(16), side(20)),
        (120, 120),
        "the IHDR's width and height"
    );
    // A regenerate: a new job, a new seed, a new sticker.
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/video/regenerate/{text}"),
            &token,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let again = body["data"]["job_id"].as_str().unwrap().to_owned();
    assert_eq!(api.wait(&token, &again).await["status"], "SUCCEEDED");
    let seeds: Vec<_> = standin
        .tasks()
        .iter()
        .filter(|t| t.prompt == "一只可爱的猫在打篮球")
        .map(|t| t.seed)
        .collect();
    assert!(seeds.len() == 2 && seeds[0] != seeds[1], "{seeds:?}");
    // A delete: the job and its links are gone.
    let gif_url = api.query(&token, &character).await["data"]["video_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, body) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/video/{character}"),
            &token,
        )
        .await;
    assert_eq!(
        (status, &body["message"]),
        (200, &json!("已删除")),
        "{body}"
    );
    let gone = api.http.get(&gif_url).send().await.unwrap().status();
    assert!(
        gone == 403 || gone == 404,
        "the deleted GIF's link answered {gone}"
    );
    let (status, _) = api
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/video/query/{character}"),
            &token,
        )
        .await;
    assert_eq!(status, 404);
}
