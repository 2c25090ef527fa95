//! Emo's shared crate: everything with logic lives here, so every Lambda binary, the local server
//! and the tests run exactly the same code.
//!
//! - [`domain`]: validated types built at the edge (`Phone`, `Password`, ...).
//! - [`job`]: the sticker job, its request, status and queue messages.
//! - [`settings`]: configuration read once from the environment.
//! - [`auth`]: argon2id password hashing, JWT issue/verify, the bearer-token check.
//! - [`dashscope`]: the DashScope client (video tasks, Qwen with web search) and its errors.
//! - [`photo`]: the `img_base64` input image: Data URI parsing, DashScope's format, size and
//!   dimension rules, alpha flattened onto white.
//! - [`web`]: request-body parsing (multipart, urlencoded, JSON) and the contract's envelopes.
//! - [`gif`]: MP4 -> looping GIF sticker within a byte budget (ffmpeg decodes, gifski encodes).
//! - [`api`]: one handler per endpoint, `async fn(&AppState, Request) -> Response`.
//! - [`store`]: the storage ports and their `local` (SQLite) and `aws` (DynamoDB) adapters.
//! - [`state`]: `AppState`, settings plus ports, built once per process.

pub mod api;
pub mod auth;
pub mod clock;
pub mod dashscope;
pub mod domain;
pub mod gif;
pub mod job;
pub mod photo;
pub mod secrets;
pub mod settings;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod worker;

pub use state::AppState;
