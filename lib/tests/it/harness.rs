//! The shared harness (`emo-test-support`) under the names these tests use, and the user-store
//! fixtures of the contract tests.

use std::sync::Arc;

use emo::store::aws::DynamoUserStore;
use emo::store::local::{LocalDb, LocalUserStore};
use emo::store::{ClientBounds, DailyQuota, UserStore};
pub use emo_test_support::env::TestEnv;
pub use emo_test_support::http::{ENCODINGS, Encoding, post_form as post, raw_post, read};
pub use emo_test_support::{emulator, unique as unique_name};

/// The user ports one adapter serves.
pub trait Users: UserStore + DailyQuota + ClientBounds {}
impl<T: UserStore + DailyQuota + ClientBounds> Users for T {}

pub fn local_users() -> (Arc<dyn Users>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = LocalDb::open(dir.path()).unwrap();
    (Arc::new(LocalUserStore::new(db)), dir)
}

pub async fn aws_users() -> Option<Arc<dyn Users>> {
    let conf = emulator().await?;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let table = unique_name("emo-users");
    DynamoUserStore::create_table(&client, &table)
        .await
        .unwrap();
    Some(Arc::new(DynamoUserStore::new(client, table)))
}
