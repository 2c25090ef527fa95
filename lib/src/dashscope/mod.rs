//! The typed DashScope client: async video tasks (text-to-video, image-to-video), task queries,
//! Qwen text generation with web search, and downloading the finished MP4; plus the error
//! taxonomy that turns every upstream failure into a short Chinese message for sticker makers.
//!
//! Owns the retry policy. Throttling (429) is retried with exponential backoff and jitter; 5xx
//! answers and transport failures are retried for reads only. A create without a clear answer
//! (any 5xx, a timeout, a connection that broke once the request may have been written) is never
//! repeated, because each task is billed: it fails `Interrupted`, and [`DashScope::list_tasks`]
//! can look for the task it may have made. The finished video is fetched only from the hosts in
//! `DASHSCOPE_VIDEO_HOSTS` ([`VideoHosts`]).
//!
//! The API key goes into one sensitive header value and nowhere else: not into logs, errors or
//! the config's Debug. Research notes on the API: `shared/dashscope-notes.md`.
//!
//! The files: `client` the calls and the retry policy; `error` the taxonomy and its messages;
//! `wire` the JSON; `hosts` the video host allow-list; [`settings`] reads the configuration. The
//! character job's prompt (Qwen's description plus the action) is built here too
//! ([`character_prompt`]), beside the call that asks for it.

mod client;
mod error;
mod hosts;
pub mod settings;
mod wire;

pub use client::{
    DEFAULT_BASE_URL, DEFAULT_I2V_MODEL, DEFAULT_T2V_MODEL, DEFAULT_TEXT_MODEL, DashScope,
    DashScopeConfig, MAX_DESCRIPTION_CHARS, MAX_LIST_PAGES, MAX_LIST_WINDOW_MS, character_prompt,
};
pub use error::{DashScopeError, ErrorKind, failure_message};
pub use hosts::{DEFAULT_VIDEO_HOSTS, VideoHosts};
pub use settings::DashScopeSettings;
pub use wire::{ListedTask, TaskState, TaskStatus};
