//! The `UserStore`, `DailyQuota` and `ClientBounds` contracts, run against every adapter: `local`
//! (SQLite) and `aws` (DynamoDB on the emulator).

use std::sync::Arc;
use std::time::Duration;

use emo::auth::LockoutPolicy;
use emo::domain::Phone;
use emo::store::{
    Allowance, ClientBound, LOGIN_CHECK_LEASE_SECS, LoginAttempts, LoginCheck, StoreError,
};

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
        users
            .change_password("13600000000", "new", 0)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        users
            .change_password("13600000000", "newer", 1)
            .await
            .unwrap(),
        2
    );
    let after = users.find_by_phone("13600000000").await.unwrap().unwrap();
    assert_eq!(
        (after.id, after.password_hash.as_str(), after.token_version),
        (u.id, "newer", 2)
    );
    let missing = users.change_password("13600000001", "x", 0).await;
    assert!(
        matches!(missing, Err(StoreError::NoSuchUser)),
        "{missing:?}"
    );
}

async fn a_password_change_made_with_an_old_token_version_writes_nothing(users: Arc<dyn Users>) {
    users
        .create(&phone("13600000010"), "first", 1)
        .await
        .unwrap();
    users
        .change_password("13600000010", "second", 0)
        .await
        .unwrap();
    // A request authenticated at version 0 arrives after the change to version 1.
    let late = users.change_password("13600000010", "stale", 0).await;
    assert!(
        matches!(late, Err(StoreError::TokenVersionChanged)),
        "{late:?}"
    );
    let kept = users.find_by_phone("13600000010").await.unwrap().unwrap();
    assert_eq!(
        (kept.password_hash.as_str(), kept.token_version),
        ("second", 1)
    );
    // Of two changes made with one version, exactly one is written.
    let racers = ["a", "b", "c", "d"].map(|hash| {
        let users = users.clone();
        async move { users.change_password("13600000010", hash, 1).await }
    });
    let results = futures_util::future::join_all(racers).await;
    let written: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(written, [&2], "{results:?}");
    assert!(
        results
            .iter()
            .filter(|r| r.is_err())
            .all(|r| matches!(r, Err(StoreError::TokenVersionChanged))),
        "{results:?}"
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
    assert_eq!(
        users.begin_login_check(&p, 12, POLICY).await.unwrap(),
        LoginCheck::Granted
    );
    assert_eq!(
        users.record_login_success(&p, 12).await.unwrap(),
        LoginCheck::Granted
    );
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

async fn simultaneous_checks_of_one_phone_are_reserved_no_more_than_the_policy_allows(
    users: Arc<dyn Users>,
) {
    let p = phone("13400000100");
    let checks = (0..20).map(|_| {
        let users = users.clone();
        let p = p.clone();
        async move { users.begin_login_check(&p, 100, POLICY).await.unwrap() }
    });
    let verdicts = futures_util::future::join_all(checks).await;
    let granted = verdicts
        .iter()
        .filter(|v| **v == LoginCheck::Granted)
        .count();
    assert_eq!(granted, 3, "{verdicts:?}");
    assert!(verdicts.contains(&LoginCheck::Refused { until: 1000 }));
    assert_eq!(users.login_attempts(&p).await.unwrap().checking, 3);
    // They fail: the phone locks, and no check is reserved until the lock ends.
    for _ in 0..3 {
        users.record_login_failure(&p, 101, POLICY).await.unwrap();
    }
    assert_eq!(
        users.begin_login_check(&p, 1000, POLICY).await.unwrap(),
        LoginCheck::Refused { until: 1001 }
    );
    assert_eq!(
        users.begin_login_check(&p, 1001, POLICY).await.unwrap(),
        LoginCheck::Granted
    );
}

async fn a_right_password_found_after_the_phone_locked_is_refused(users: Arc<dyn Users>) {
    let p = phone("13400000200");
    assert_eq!(
        users.begin_login_check(&p, 100, POLICY).await.unwrap(),
        LoginCheck::Granted
    );
    // Meanwhile other guesses lock the phone.
    for _ in 0..3 {
        users.record_login_failure(&p, 101, POLICY).await.unwrap();
    }
    assert_eq!(
        users.record_login_success(&p, 102).await.unwrap(),
        LoginCheck::Refused { until: 1001 }
    );
    let after = users.login_attempts(&p).await.unwrap();
    assert_eq!((after.locked_until, after.checking), (1001, 0));
}

async fn checks_that_never_end_free_their_places_after_the_lease(users: Arc<dyn Users>) {
    let p = phone("13400000300");
    for _ in 0..3 {
        assert_eq!(
            users.begin_login_check(&p, 100, POLICY).await.unwrap(),
            LoginCheck::Granted
        );
    }
    let later = 100 + LOGIN_CHECK_LEASE_SECS;
    assert!(matches!(
        users
            .begin_login_check(&p, later - 1, POLICY)
            .await
            .unwrap(),
        LoginCheck::Refused { .. }
    ));
    assert_eq!(
        users.begin_login_check(&p, later, POLICY).await.unwrap(),
        LoginCheck::Granted
    );
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

async fn a_clients_requests_are_counted_atomically_per_bound_address_and_window(
    users: Arc<dyn Users>,
) {
    let takes = (0..8).map(|_| {
        let users = users.clone();
        async move {
            users
                .take_client_request(ClientBound::Login, "203.0.113.5", 6_000, 5)
                .await
                .unwrap()
        }
    });
    let taken = futures_util::future::join_all(takes)
        .await
        .into_iter()
        .filter(|t| *t)
        .count();
    assert_eq!(taken, 5);
    let take = |bound, client: &'static str, now| {
        let users = users.clone();
        async move {
            users
                .take_client_request(bound, client, now, 5)
                .await
                .unwrap()
        }
    };
    // Still the same minute: refused, and a refusal is not counted.
    assert!(!take(ClientBound::Login, "203.0.113.5", 6_059).await);
    // Another address, another bound, the next window: their own counts.
    assert!(take(ClientBound::Login, "203.0.113.6", 6_000).await);
    assert!(take(ClientBound::Register, "203.0.113.5", 6_000).await);
    assert!(take(ClientBound::Login, "203.0.113.5", 6_060).await);
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
    a_password_change_made_with_an_old_token_version_writes_nothing,
    failed_logins_lock_a_phone_and_the_lock_expires,
    a_success_clears_the_failures,
    simultaneous_checks_of_one_phone_are_reserved_no_more_than_the_policy_allows,
    a_right_password_found_after_the_phone_locked_is_refused,
    checks_that_never_end_free_their_places_after_the_lease,
    simultaneous_failures_are_all_counted,
    a_days_job_allowance_is_counted_atomically_per_user_and_day,
    the_services_daily_bound_holds_across_users_and_counts_nothing_when_refused,
    a_job_given_back_is_the_users_to_make_again_and_never_below_zero,
    a_clients_requests_are_counted_atomically_per_bound_address_and_window,
);
