//! The `UserStore` contract, run against every adapter: `local` (SQLite) and `aws` (DynamoDB on
//! the emulator).

use std::sync::Arc;
use std::time::Duration;

use emo::auth::LockoutPolicy;
use emo::domain::Phone;
use emo::store::{Allowance, LoginAttempts, StoreError};

use crate::harness::{Users, aws_users, local_users};

const POLICY: LockoutPolicy = LockoutPolicy {
    max_failures: 3,
    lockout: Duration::from_secs(900),
};

fn phone(s: &str) -> Phone {
    Phone::parse(s).unwrap()
}

async fn registering_assigns_distinct_ids_and_finds_users_by_phone(users: Arc<dyn Users>) {
    let a = users
        .create(&phone("13800000001"), "hash-a", 100)
        .await
        .unwrap();
    let b = users
        .create(&phone("13800000002"), "hash-b", 101)
        .await
        .unwrap();
    assert_ne!(a.id, b.id);
    assert!(a.id > 0 && b.id > 0);
    assert_eq!(a.token_version, 0);
    let found = users.find_by_phone("13800000002").await.unwrap().unwrap();
    assert_eq!(found, b);
    assert_eq!(found.password_hash, "hash-b");
    assert_eq!(found.created_at, 101);
    assert!(users.find_by_phone("13800000003").await.unwrap().is_none());
}

async fn a_phone_can_register_only_once(users: Arc<dyn Users>) {
    users
        .create(&phone("13900000000"), "first", 1)
        .await
        .unwrap();
    let again = users.create(&phone("13900000000"), "second", 2).await;
    assert!(matches!(again, Err(StoreError::PhoneTaken)), "{again:?}");
    let kept = users.find_by_phone("13900000000").await.unwrap().unwrap();
    assert_eq!(kept.password_hash, "first");
}

async fn simultaneous_registrations_of_one_phone_make_exactly_one_user(users: Arc<dyn Users>) {
    let p = phone("13700000000");
    let attempts = (0..8).map(|i| {
        let users = users.clone();
        let p = p.clone();
        async move { users.create(&p, &format!("hash-{i}"), 1).await }
    });
    let results = futures_util::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    let taken = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::PhoneTaken)))
        .count();
    assert_eq!((created, taken), (1, 7), "{results:?}");
}

async fn changing_the_password_replaces_the_hash_and_bumps_the_token_version(
    users: Arc<dyn Users>,
) {
    let u = users.create(&phone("13600000000"), "old", 1).await.unwrap();
    assert_eq!(
        users.change_password("13600000000", "new").await.unwrap(),
        1
    );
    assert_eq!(
        users.change_password("13600000000", "newer").await.unwrap(),
        2
    );
    let after = users.find_by_phone("13600000000").await.unwrap().unwrap();
    assert_eq!(
        (after.id, after.password_hash.as_str(), after.token_version),
        (u.id, "newer", 2)
    );
    let missing = users.change_password("13600000001", "x").await;
    assert!(
        matches!(missing, Err(StoreError::NoSuchUser)),
        "{missing:?}"
    );
}

async fn failed_logins_lock_a_phone_and_the_lock_expires(users: Arc<dyn Users>) {
    let p = phone("13500000000");
    assert_eq!(
        users.login_attempts(&p).await.unwrap(),
        LoginAttempts::default()
    );
    let first = users.record_login_failure(&p, 1000, POLICY).await.unwrap();
    assert_eq!(first.failures, 1);
    assert!(!first.is_locked(1000));
    users.record_login_failure(&p, 1001, POLICY).await.unwrap();
    let third = users.record_login_failure(&p, 1002, POLICY).await.unwrap();
    assert!(third.is_locked(1002));
    assert_eq!(third.locked_until, 1002 + 900);
    // While locked, more failures change nothing: the lock is not extended.
    let during = users.record_login_failure(&p, 1500, POLICY).await.unwrap();
    assert_eq!(during, third);
    assert_eq!(users.login_attempts(&p).await.unwrap(), third);
    // After it, counting starts again from zero.
    let after = users.record_login_failure(&p, 1902, POLICY).await.unwrap();
    assert!(!after.is_locked(1902));
    assert_eq!(after.failures, 1);
}

async fn a_success_clears_the_failures(users: Arc<dyn Users>) {
    let p = phone("13400000000");
    users.record_login_failure(&p, 10, POLICY).await.unwrap();
    users.record_login_failure(&p, 11, POLICY).await.unwrap();
    users.clear_login_failures(&p).await.unwrap();
    assert_eq!(
        users.login_attempts(&p).await.unwrap(),
        LoginAttempts::default()
    );
    // Another phone's counter is its own.
    let other = phone("13400000001");
    users
        .record_login_failure(&other, 12, POLICY)
        .await
        .unwrap();
    assert_eq!(users.login_attempts(&p).await.unwrap().failures, 0);
    assert_eq!(users.login_attempts(&other).await.unwrap().failures, 1);
}

async fn simultaneous_failures_are_all_counted(users: Arc<dyn Users>) {
    let p = phone("13300000000");
    let wide = LockoutPolicy {
        max_failures: 100,
        ..POLICY
    };
    let fails = (0..6).map(|_| {
        let users = users.clone();
        let p = p.clone();
        async move { users.record_login_failure(&p, 50, wide).await.unwrap() }
    });
    futures_util::future::join_all(fails).await;
    assert_eq!(users.login_attempts(&p).await.unwrap().failures, 6);
}

async fn a_days_job_allowance_is_counted_atomically_per_user_and_day(users: Arc<dyn Users>) {
    let takes = (0..6).map(|_| {
        let users = users.clone();
        async move { users.take_daily_job(7, 20_000, 4, 1000).await.unwrap() }
    });
    let taken = futures_util::future::join_all(takes)
        .await
        .into_iter()
        .filter(|t| *t == Allowance::Taken)
        .count();
    assert_eq!(taken, 4);
    assert_eq!(
        users.take_daily_job(7, 20_000, 4, 1000).await.unwrap(),
        Allowance::UserSpent
    );
    // Another day, another user: their own allowances.
    assert_eq!(
        users.take_daily_job(7, 20_001, 4, 1000).await.unwrap(),
        Allowance::Taken
    );
    assert_eq!(
        users.take_daily_job(8, 20_000, 4, 1000).await.unwrap(),
        Allowance::Taken
    );
}

async fn the_services_daily_bound_holds_across_users_and_counts_nothing_when_refused(
    users: Arc<dyn Users>,
) {
    // Ten users at once, three each, against a bound of twelve for everyone.
    let takes = (0..30).map(|i| {
        let users = users.clone();
        async move {
            users
                .take_daily_job(100 + i % 10, 30_000, 3, 12)
                .await
                .unwrap()
        }
    });
    let outcomes = futures_util::future::join_all(takes).await;
    let taken = outcomes.iter().filter(|t| **t == Allowance::Taken).count();
    assert_eq!(taken, 12, "{outcomes:?}");
    assert!(outcomes.iter().all(|t| *t != Allowance::UserSpent));
    // A user who has made nothing yet is refused too, and being refused counted nothing for
    // them: a job given back makes room for exactly one.
    assert_eq!(
        users.take_daily_job(500, 30_000, 3, 12).await.unwrap(),
        Allowance::ServiceSpent
    );
    users.give_back_daily_job(100, 30_000).await.unwrap();
    assert_eq!(
        users.take_daily_job(500, 30_000, 3, 12).await.unwrap(),
        Allowance::Taken
    );
    assert_eq!(
        users.take_daily_job(501, 30_000, 3, 12).await.unwrap(),
        Allowance::ServiceSpent
    );
    // The next day starts from zero.
    assert_eq!(
        users.take_daily_job(500, 30_001, 3, 12).await.unwrap(),
        Allowance::Taken
    );
}

async fn a_job_given_back_is_the_users_to_make_again_and_never_below_zero(users: Arc<dyn Users>) {
    for _ in 0..2 {
        assert_eq!(
            users.take_daily_job(9, 40_000, 2, 100).await.unwrap(),
            Allowance::Taken
        );
    }
    assert_eq!(
        users.take_daily_job(9, 40_000, 2, 100).await.unwrap(),
        Allowance::UserSpent
    );
    users.give_back_daily_job(9, 40_000).await.unwrap();
    assert_eq!(
        users.take_daily_job(9, 40_000, 2, 100).await.unwrap(),
        Allowance::Taken
    );
    // Giving back more than was taken (or on a day with nothing) leaves no credit behind.
    for _ in 0..5 {
        users.give_back_daily_job(9, 40_000).await.unwrap();
        users.give_back_daily_job(9, 40_001).await.unwrap();
    }
    for _ in 0..2 {
        assert_eq!(
            users.take_daily_job(9, 40_000, 2, 100).await.unwrap(),
            Allowance::Taken
        );
    }
    assert_eq!(
        users.take_daily_job(9, 40_000, 2, 100).await.unwrap(),
        Allowance::UserSpent
    );
}

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let (users, _dir) = super::local_users();
                    super::$case(users).await;
                }
            )*
        }
        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(users) = super::aws_users().await else { return };
                    super::$case(users).await;
                }
            )*
        }
    };
}

contract!(
    registering_assigns_distinct_ids_and_finds_users_by_phone,
    a_phone_can_register_only_once,
    simultaneous_registrations_of_one_phone_make_exactly_one_user,
    changing_the_password_replaces_the_hash_and_bumps_the_token_version,
    failed_logins_lock_a_phone_and_the_lock_expires,
    a_success_clears_the_failures,
    simultaneous_failures_are_all_counted,
    a_days_job_allowance_is_counted_atomically_per_user_and_day,
    the_services_daily_bound_holds_across_users_and_counts_nothing_when_refused,
    a_job_given_back_is_the_users_to_make_again_and_never_below_zero,
);
