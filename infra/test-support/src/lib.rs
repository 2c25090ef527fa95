//! The one test harness of Emo's crates (`lib`'s and `infra`'s integration tests use it alike):
//!
//! - here: [`unique`] names, the [`emulator`] check, the cheap test settings, the `events/`
//!   [`fixture`]s, and [`on_both_backends!`];
//! - [`http`]: request builders (the three encodings the API accepts) and reading answers;
//! - [`env`]: [`env::TestEnv`], a state on either backend, and [`env::JobEnv`], a whole Emo
//!   with the DashScope stand-in and `emo-local`'s worker loop, and [`env::WeChatEnv`], that
//!   plus the WeChat stand-in;
//! - [`sticker`]: what a user checks of a sticker, and a test photo.

pub mod env;
pub mod http;
pub mod sticker;

use std::sync::atomic::{AtomicU32, Ordering};

/// Cheap password hashing for tests (a dedicated test checks the production cost).
pub const CHEAP_ARGON2: [(&str, &str); 3] = [
    ("EMO_ARGON2_MEMORY_KIB", "256"),
    ("EMO_ARGON2_ITERATIONS", "1"),
    ("EMO_ARGON2_PARALLELISM", "1"),
];

/// A name no other test (or earlier run) uses, so tests share the emulator without stepping on
/// each other; with a lowercase prefix also a valid S3 bucket name (lowercase, digits, dashes).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Whether an AWS emulator is configured (`AWS_ENDPOINT_URL`; the test command starts one).
/// Outside CI the aws tests skip without one; under `CI` its absence fails them, so CI can never
/// pass having silently skipped them.
pub fn emulator_configured() -> bool {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run the AWS emulator tests, but AWS_ENDPOINT_URL is unset"
        );
        eprintln!("skipped: AWS_ENDPOINT_URL is unset (run the README's test command)");
        return false;
    }
    true
}

/// The emulator's SDK config, or `None` (a skip) when no emulator is configured outside CI.
pub async fn emulator() -> Option<aws_config::SdkConfig> {
    if !emulator_configured() {
        return None;
    }
    Some(emo::store::aws::sdk_config().await)
}

/// The text of `events/<name>`, with `REPLACE_WITH_TOKEN_FROM_LOGIN` replaced by `token`.
pub fn fixture(name: &str, token: &str) -> String {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .replace("REPLACE_WITH_TOKEN_FROM_LOGIN", token)
}

/// `events/<name>` as the request API Gateway hands a Lambda.
pub fn event(name: &str, token: &str) -> lambda_http::Request {
    lambda_http::request::from_str(&fixture(name, token)).expect("an API Gateway v2 event")
}

/// For each `case(env)`, a test on the embedded backend and one on the aws backend (skipped
/// without an emulator, failing under CI). `Env` is [`env::TestEnv`] or [`env::JobEnv`]; `Env,
/// vars; cases` starts each with those extra settings.
#[macro_export]
macro_rules! on_both_backends {
    ($env:ty; $($case:ident),* $(,)?) => {
        $crate::on_both_backends!($env, &[]; $($case),*);
    };
    ($env:ty, $vars:expr; $($case:ident),* $(,)?) => {
        mod local {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(<$env>::local($vars).await).await;
                }
            )*
        }
        mod aws {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(env) = <$env>::aws($vars).await else { return };
                    super::$case(env).await;
                }
            )*
        }
    };
}
