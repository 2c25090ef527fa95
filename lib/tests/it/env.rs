//! The shared harness (`emo-test-support`) under the names the job tests use.

pub use emo_test_support::env::JobEnv;
pub use emo_test_support::http::post_json as post;
pub use emo_test_support::sticker::{assert_sticker, test_png_data_uri};
