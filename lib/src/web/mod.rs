//! The HTTP edge shared by every handler: request-body parsing, the contract's envelopes, the
//! one error type every handler answers through, and the client's address.

pub mod client;
pub mod error;
pub mod form;
pub mod response;

pub use error::{ApiError, Envelope, respond};
pub use form::{Form, FormError};
