//! What the Lambdas log: the transcoder's JSON subscriber over a whole job, read back line by line.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tracing_subscriber::EnvFilter;

use crate::env::JobEnv;

/// A `MakeWriter` that keeps everything written, for reading back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
    type Writer = Captured;
    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn every_worker_line_is_json_with_the_job_and_its_dashscope_task_and_no_secret() {
    // nextest runs each test in its own process, so the global subscriber is this test's alone.
    let logs = Captured::default();
    tracing::subscriber::set_global_default(emo::telemetry::json_subscriber(
        EnvFilter::new("info"),
        logs.clone(),
    ))
    .unwrap();

    let mut env = JobEnv::local(&[]).await;
    env.start_worker();
    let token = env.user("13800002222").await;
    let (_, body) = env
        .create(
            &token,
            json!({"type": "text_to_video", "prompt": "跳舞的企鹅"}),
        )
        .await;
    let job_id = body["data"]["job_id"].as_str().unwrap().to_owned();
    let (data, _) = env.wait(&token, &job_id).await;
    assert_eq!(data["status"], "SUCCEEDED", "{data}");
    env.stop_worker().await;

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let worker: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["target"].as_str().is_some_and(|t| {
                ["emo::worker", "emo::dashscope", "emo::gif"]
                    .iter()
                    .any(|m| t.starts_with(m))
            })
        })
        .collect();
    assert!(worker.len() >= 3, "{text}");
    let created = worker
        .iter()
        .position(|l| {
            l["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("emo::worker"))
                && l["message"] == "DashScope task created"
        })
        .unwrap_or_else(|| panic!("no task creation logged: {text}"));
    for (i, line) in worker.iter().enumerate() {
        assert_eq!(line["span"]["job_id"], job_id.as_str(), "{line}");
        if i >= created {
            let task = line["span"]["task_id"].as_str().unwrap_or("");
            assert!(!task.is_empty(), "no task id on {line}");
        }
    }
    assert!(
        worker.iter().any(|l| l["message"] == "job SUCCEEDED"),
        "the transcode is logged: {text}"
    );
    for secret in [
        "sk-test-key-never-shown",
        token.as_str(),
        "job-test-password",
    ] {
        assert!(!text.contains(secret), "a secret was logged");
    }
}
