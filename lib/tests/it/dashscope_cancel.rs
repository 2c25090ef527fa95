//! The DashScope client's cancel and seeds against the offline stand-in, which is as strict as
//! DashScope: only a task still PENDING can be cancelled, and a seed is an integer in
//! `[0, 2147483647]`.

use std::time::Duration;

use emo::dashscope::{DashScope, DashScopeConfig, DashScopeError, TaskStatus};
use emo_standin::{Standin, StandinConfig, StandinHandle};

async fn standin(pending_for: Duration) -> StandinHandle {
    Standin::start(StandinConfig {
        pending_for,
        ..StandinConfig::default()
    })
    .await
    .expect("the stand-in starts (ffmpeg must be installed)")
}

fn client(standin: &StandinHandle) -> DashScope {
    let mut config = DashScopeConfig::new("sk-emo-test-cancel");
    config.base_url = standin.base_url();
    config.backoff_base = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    DashScope::new(config).unwrap()
}

#[tokio::test]
async fn a_pending_task_is_cancelled_and_ends_canceled_and_only_once() {
    let standin = standin(Duration::from_secs(60)).await;
    let client = client(&standin);
    let task = client
        .create_text_to_video("一只猫", None, "624*624")
        .await
        .unwrap();
    client.cancel_task(&task).await.unwrap();
    let state = client.query_task(&task).await.unwrap();
    assert_eq!(state.status, TaskStatus::Canceled);
    assert!(state.video_url.is_none());
    // Cancelled already: no longer pending, so refused, and not worth repeating.
    let again = client.cancel_task(&task).await.unwrap_err();
    assert!(
        matches!(&again, DashScopeError::Api { status: 400, .. }) && !again.is_retryable(),
        "{again:?}"
    );
    assert!(standin.tasks()[0].canceled);
}

#[tokio::test]
async fn a_task_past_pending_cannot_be_cancelled_and_runs_on() {
    let standin = standin(Duration::ZERO).await;
    let client = client(&standin);
    let task = client
        .create_text_to_video("一只狗", None, "624*624")
        .await
        .unwrap();
    let refused = client.cancel_task(&task).await.unwrap_err();
    assert!(
        matches!(&refused, DashScopeError::Api { status: 400, .. }) && !refused.is_retryable(),
        "{refused:?}"
    );
    assert!(!standin.tasks()[0].canceled);
    assert!(client.cancel_task("no/such task").await.is_err());
    let unknown = client
        .cancel_task("00000000-0000-0000-0000-000000000000")
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, DashScopeError::Api { status: 400, .. }),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn a_seed_goes_with_the_create_and_none_lets_dashscope_pick() {
    let standin = standin(Duration::from_millis(500)).await;
    let client = client(&standin);
    client
        .create_text_to_video_seeded("一只猫", None, "624*624", Some(2_147_483_647))
        .await
        .unwrap();
    client
        .create_image_to_video_seeded(
            "挥手",
            None,
            &emo_test_support::sticker::test_png_data_uri(),
            "480P",
            Some(0),
        )
        .await
        .unwrap();
    client
        .create_text_to_video("一只狗", None, "624*624")
        .await
        .unwrap();
    let seeds: Vec<_> = standin.tasks().iter().map(|t| t.seed).collect();
    assert_eq!(seeds, [Some(2_147_483_647), Some(0), None]);
    // A seed out of DashScope's range is refused before anything is sent.
    let refused = client
        .create_text_to_video_seeded("一只鸟", None, "624*624", Some(2_147_483_648))
        .await;
    assert!(
        matches!(refused, Err(DashScopeError::InvalidInput(_))),
        "{refused:?}"
    );
    assert_eq!(standin.tasks_created(), 3);
}
