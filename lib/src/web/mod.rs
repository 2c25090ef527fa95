//! The HTTP edge shared by every handler: request-body parsing and the contract's envelopes.

pub mod form;
pub mod response;

pub use form::{Form, FormError};
