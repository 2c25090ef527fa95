//! The shared harness (`emo-test-support`), under the names these tests use.

pub use emo_test_support::env::{JobEnv, call};
pub use emo_test_support::http::post_json as post;
pub use emo_test_support::sticker::{assert_sticker, test_png_data_uri};
pub use emo_test_support::{emulator_configured, unique};
