//! The typed DashScope client: async video tasks (text-to-video, image-to-video), task queries,
//! Qwen text generation with web search, and downloading the finished MP4; plus the error
//! taxonomy that turns every upstream failure into a short Chinese message for sticker makers.
//!
//! Owns the retry policy. Throttling (429) and DashScope's 5xx refusals are retried with
//! exponential backoff and jitter; transport failures are retried for reads only. A create that
//! may have reached DashScope is never repeated, because each task is billed.
//!
//! The API key goes into one sensitive header value and nowhere else: not into logs, errors or
//! the config's Debug. Research notes on the API: `shared/dashscope-notes.md`.

//!
//! [`settings`] reads its configuration; the character job's prompt (Qwen's description plus the
//! action) is built here too ([`character_prompt`]), beside the call that asks for it.

mod client;
mod error;
pub mod settings;
mod wire;

pub use client::{
    DEFAULT_BASE_URL, DEFAULT_I2V_MODEL, DEFAULT_T2V_MODEL, DEFAULT_TEXT_MODEL, DashScope,
    DashScopeConfig, ListedTask, MAX_DESCRIPTION_CHARS, character_prompt,
};
pub use error::{DashScopeError, ErrorKind, failure_message};
pub use settings::DashScopeSettings;
pub use wire::{TaskState, TaskStatus};
