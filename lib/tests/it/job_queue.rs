//! The `JobQueue` contract, run against every adapter: `local` (a SQLite table) and `aws` (SQS on
//! the emulator). Both queues hide a received message for one second, so redelivery is quick to
//! see. Timing is asserted loosely: the machine running the tests may be busy.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use emo::job::{JobId, JobMessage};
use emo::store::aws::SqsJobQueue;
use emo::store::local::{LocalDb, LocalJobQueue};
use emo::store::{Delivery, JobQueue, enqueue};

use crate::harness::{emulator, unique_name};

const VISIBILITY: Duration = Duration::from_secs(1);

fn local_queue() -> (Arc<dyn JobQueue>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = LocalDb::open(dir.path()).unwrap();
    (Arc::new(LocalJobQueue::new(db, VISIBILITY)), dir)
}

async fn aws_queue() -> Option<Arc<dyn JobQueue>> {
    let conf = emulator().await?;
    let client = aws_sdk_sqs::Client::new(&conf);
    let url = SqsJobQueue::create_queue(&client, &unique_name("emo-jobs"), VISIBILITY)
        .await
        .unwrap();
    Some(Arc::new(SqsJobQueue::new(client, url)))
}

/// Receives until something arrives or `within` has passed, one-second waits at a time.
async fn receive_within(queue: &dyn JobQueue, max: usize, within: Duration) -> Vec<Delivery> {
    let give_up = Instant::now() + within;
    loop {
        let got = queue.receive(max, Duration::from_secs(1)).await.unwrap();
        if !got.is_empty() || Instant::now() >= give_up {
            return got;
        }
    }
}

fn bodies(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(|d| d.body.as_str()).collect()
}

async fn a_sent_message_is_received_with_receive_count_one(queue: Arc<dyn JobQueue>) {
    let message = JobMessage::Poll {
        job_id: JobId::new(),
        seq: 3,
    };
    enqueue(&*queue, &message, Duration::ZERO).await.unwrap();
    let got = receive_within(&*queue, 10, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].receive_count, 1);
    assert!(!got[0].receipt.is_empty());
    let back: JobMessage = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(back, message);
    queue.delete(&got[0].receipt).await.unwrap();

    // Any text survives as it was sent.
    let odd = "  表情包 🐱 \"quoted\" <tag> &amp; \n second line ";
    queue.send(odd, Duration::ZERO).await.unwrap();
    let got = receive_within(&*queue, 10, Duration::from_secs(5)).await;
    assert_eq!(bodies(&got), [odd]);
}

async fn a_delayed_message_is_received_only_after_its_delay(queue: Arc<dyn JobQueue>) {
    let sent = Instant::now();
    queue.send("later", Duration::from_secs(2)).await.unwrap();
    let early = queue.receive(10, Duration::from_secs(1)).await.unwrap();
    assert!(
        early.is_empty(),
        "received {:?} after {:?}",
        bodies(&early),
        sent.elapsed()
    );
    let got = receive_within(&*queue, 10, Duration::from_secs(8)).await;
    let after = sent.elapsed();
    assert_eq!(bodies(&got), ["later"]);
    assert_eq!(got[0].receive_count, 1);
    assert!(after >= Duration::from_millis(1500), "after {after:?}");
}

async fn an_unacknowledged_message_comes_back_after_the_visibility_timeout(
    queue: Arc<dyn JobQueue>,
) {
    queue.send("again", Duration::ZERO).await.unwrap();
    let first = receive_within(&*queue, 10, Duration::from_secs(5)).await;
    let received = Instant::now();
    assert_eq!(bodies(&first), ["again"]);
    assert_eq!(first[0].receive_count, 1);

    // Hidden meanwhile.
    let hidden = queue.receive(10, Duration::ZERO).await.unwrap();
    assert!(hidden.is_empty(), "{hidden:?}");

    let second = receive_within(&*queue, 10, Duration::from_secs(8)).await;
    let back_after = received.elapsed();
    assert_eq!(bodies(&second), ["again"]);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(second[0].receipt, first[0].receipt);
    assert!(back_after >= VISIBILITY / 2, "back after {back_after:?}");

    // Acknowledging the latest delivery ends it.
    queue.delete(&second[0].receipt).await.unwrap();
    let after = queue.receive(10, VISIBILITY * 2).await.unwrap();
    assert!(after.is_empty(), "{after:?}");
}

async fn a_delivery_retried_after_a_delay_comes_back_then_and_not_at_the_visibility_timeout(
    queue: Arc<dyn JobQueue>,
) {
    queue.send("backoff", Duration::ZERO).await.unwrap();
    let first = receive_within(&*queue, 10, Duration::from_secs(5)).await;
    assert_eq!(bodies(&first), ["backoff"]);
    let asked = Instant::now();
    queue
        .retry_after(&first[0].receipt, Duration::from_secs(4))
        .await
        .unwrap();
    // Past the 1 s visibility timeout it is still hidden...
    tokio::time::sleep(VISIBILITY * 2).await;
    let hidden = queue.receive(10, Duration::ZERO).await.unwrap();
    assert!(hidden.is_empty(), "back after {:?}", asked.elapsed());
    // ...and it comes back after the delay asked for.
    let second = receive_within(&*queue, 10, Duration::from_secs(10)).await;
    assert_eq!(bodies(&second), ["backoff"]);
    assert_eq!(second[0].receive_count, 2);
    assert!(
        asked.elapsed() >= Duration::from_secs(3),
        "{:?}",
        asked.elapsed()
    );

    // Zero makes it visible at once.
    queue
        .retry_after(&second[0].receipt, Duration::ZERO)
        .await
        .unwrap();
    let third = queue.receive(10, Duration::from_millis(500)).await.unwrap();
    assert_eq!(bodies(&third), ["backoff"]);
}

async fn a_deleted_message_never_comes_back(queue: Arc<dyn JobQueue>) {
    queue.send("done", Duration::ZERO).await.unwrap();
    let done = receive_within(&*queue, 10, Duration::from_secs(5)).await;
    assert_eq!(bodies(&done), ["done"]);
    queue.delete(&done[0].receipt).await.unwrap();
    // A message left unacknowledged beside it shows that redelivery is working meanwhile.
    queue.send("other", Duration::ZERO).await.unwrap();
    let other = receive_within(&*queue, 10, Duration::from_secs(5)).await;
    assert_eq!(bodies(&other), ["other"]);

    tokio::time::sleep(VISIBILITY + Duration::from_millis(500)).await;
    let mut back = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(3);
    while Instant::now() < give_up {
        back.extend(queue.receive(10, Duration::from_secs(1)).await.unwrap());
    }
    assert!(!back.is_empty(), "the undeleted message never came back");
    assert!(back.iter().all(|d| d.body == "other"), "{back:?}");
}

async fn a_receive_returns_at_most_max_messages(queue: Arc<dyn JobQueue>) {
    let sent: BTreeSet<String> = (0..5).map(|i| format!("message {i}")).collect();
    for body in &sent {
        queue.send(body, Duration::ZERO).await.unwrap();
    }
    let mut seen = BTreeSet::new();
    let give_up = Instant::now() + Duration::from_secs(10);
    while seen.len() < sent.len() && Instant::now() < give_up {
        let got = queue.receive(2, Duration::from_secs(1)).await.unwrap();
        assert!(got.len() <= 2, "asked for 2, got {}", got.len());
        for d in got {
            queue.delete(&d.receipt).await.unwrap();
            seen.insert(d.body);
        }
    }
    assert_eq!(seen, sent);
    let one = {
        queue.send("a", Duration::ZERO).await.unwrap();
        queue.send("b", Duration::ZERO).await.unwrap();
        receive_within(&*queue, 1, Duration::from_secs(5)).await
    };
    assert_eq!(one.len(), 1, "{one:?}");
}

async fn concurrent_receivers_get_different_messages(queue: Arc<dyn JobQueue>) {
    for i in 0..4 {
        queue.send(&format!("m{i}"), Duration::ZERO).await.unwrap();
    }
    let receivers = (0..4).map(|_| {
        let queue = queue.clone();
        async move { queue.receive(1, Duration::from_secs(2)).await.unwrap() }
    });
    let got: Vec<Delivery> = futures_util::future::join_all(receivers)
        .await
        .into_iter()
        .flatten()
        .collect();
    let distinct: BTreeSet<&str> = bodies(&got).into_iter().collect();
    assert_eq!(
        distinct.len(),
        got.len(),
        "a message went to two receivers: {got:?}"
    );
    assert!(got.iter().all(|d| d.receive_count == 1), "{got:?}");
}

async fn receiving_from_an_empty_queue_waits_about_the_wait_and_returns_nothing(
    queue: Arc<dyn JobQueue>,
) {
    let wait = Duration::from_secs(2);
    let start = Instant::now();
    let got = queue.receive(10, wait).await.unwrap();
    let took = start.elapsed();
    assert!(got.is_empty(), "{got:?}");
    assert!(
        took >= wait / 2 && took <= wait + Duration::from_secs(5),
        "waited {took:?} for a {wait:?} wait"
    );
    // A zero wait answers at once.
    let start = Instant::now();
    assert!(queue.receive(10, Duration::ZERO).await.unwrap().is_empty());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (queue, _dir) = super::local_queue();
                    super::$case(queue).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(queue) = super::aws_queue().await else { return };
                    super::$case(queue).await;
                }
            )*
        }
    };
}

contract!(
    a_sent_message_is_received_with_receive_count_one,
    a_delayed_message_is_received_only_after_its_delay,
    an_unacknowledged_message_comes_back_after_the_visibility_timeout,
    a_delivery_retried_after_a_delay_comes_back_then_and_not_at_the_visibility_timeout,
    a_deleted_message_never_comes_back,
    a_receive_returns_at_most_max_messages,
    concurrent_receivers_get_different_messages,
    receiving_from_an_empty_queue_waits_about_the_wait_and_returns_nothing,
);
