//! Validated types: a value of one of these has passed the contract's rules, so the code behind the
//! edge never checks them again. Each is parsed once, where the request comes in.
//!
//! - [`account`]: [`Phone`], [`Password`].
//! - [`request`]: what a sticker request names: [`JobId`], [`VideoSize`], [`Resolution`],
//!   [`ModelKind`], and the bounded text fields (prompt, role, …) with their limits.
//! - [`caption`]: the sticker's [`Caption`] and its position, and the characters it may hold
//!   (the caption font's character set).

pub mod account;
pub mod caption;
pub mod request;

pub use account::{Password, Phone};
pub use caption::{Caption, CaptionPosition};
pub use request::{
    JobId, MAX_ACTION_CHARS, MAX_NEGATIVE_PROMPT_CHARS, MAX_PROMPT_CHARS, MAX_ROLE_CHARS,
    MAX_SOURCE_CHARS, ModelKind, Resolution, VideoSize, bounded_text,
};

/// Why an input was refused; the text is what the client reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);
