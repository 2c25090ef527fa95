//! Who is calling: argon2id password hashing, JWT issue and verification, and the bearer-token
//! check every protected endpoint shares.

pub mod bearer;
pub mod jwt;
pub mod password;

pub use bearer::{AuthError, authenticate};
pub use jwt::{Claims, Tokens};
pub use password::Passwords;
