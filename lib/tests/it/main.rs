//! The `emo` crate's integration tests: one binary, one shared harness.
//!
//! Tests that need AWS run against the local emulator named by `AWS_ENDPOINT_URL` (the test script
//! starts one). Without it they are skipped on a laptop, but fail under `CI`, so CI can never pass
//! having silently skipped them.

mod blob_store;
mod captions;
mod dashscope;
mod dashscope_cancel;
mod env;
mod faults;
mod harness;
mod job_lifecycle;
mod job_queue;
mod job_store;
mod jobs;
mod library;
mod limits;
mod properties;
mod spend;
mod upload_limits;
mod user_store;
mod users_api;
mod users_bounds;
mod wechat;
mod wechat_check;
