//! Emo's shared crate: everything with logic lives here, so every Lambda binary, the local server
//! and the tests run exactly the same code. Cargo features keep each Lambda to what it uses:
//! `local` (the embedded backend), `photo` (checking input photos), `worker` (running jobs).
//!
//! - [`domain`]: validated types built at the edge (`Phone`, `Password`, `JobId`, `VideoSize`, ...).
//! - [`job`]: the sticker job: its record, its transitions (one file), saving and failing it, and
//!   the create saga.
//! - [`settings`]: reading settings; each concern's own settings struct lives beside it.
//! - [`auth`]: argon2id password hashing, JWT issue/verify, the bearer-token check.
//! - [`web`]: request-body parsing (multipart, urlencoded, JSON), the contract's envelopes and the
//!   one error type handlers answer through.
//! - [`api`]: one handler per endpoint, `async fn(&AppState, Request) -> Response`.
//! - [`store`]: the storage ports and their `local` (SQLite) and `aws` (DynamoDB, S3, SQS)
//!   adapters.
//! - [`wechat`]: the WeChat server-API client (access token, login, content security, the ready
//!   message) and WeChat's pushes ([`wechat::events`]).
//! - [`secrets`]: keys read from Secrets Manager at run time.
//! - [`state`]: `AppState`, the settings and ports a process's role uses, built once per process.
//! - [`photo`] (`photo`): the `img_base64` input image: Data URI parsing, DashScope's format, size
//!   and dimension rules, alpha flattened onto white.
//! - [`dashscope`] (`worker`): the DashScope client (video tasks, Qwen with web search) and its
//!   errors.
//! - [`gif`] (`worker`): MP4 -> looping GIF sticker within a byte budget (ffmpeg decodes, gifski
//!   encodes).
//! - [`worker`] (`worker`): the transcoder's SQS handler and the steps that advance a job.
//! - [`clock`], [`telemetry`]: the time handlers read, and log set-up.

pub mod api;
pub mod auth;
pub mod clock;
#[cfg(feature = "worker")]
pub mod dashscope;
pub mod domain;
#[cfg(feature = "worker")]
pub mod gif;
pub mod job;
#[cfg(feature = "photo")]
pub mod photo;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod wechat;
#[cfg(feature = "worker")]
pub mod worker;

pub use state::{AppState, Role};
