//! Who is calling: argon2id password hashing, JWT issue and verification, the bearer-token check
//! every protected endpoint shares, and their settings.

pub mod bearer;
pub mod jwt;
pub mod password;
pub mod settings;

pub use bearer::{AuthError, authenticate};
pub use jwt::{Claims, Tokens};
pub use password::Passwords;
pub use settings::{
    Argon2Cost, AuthSettings, AuthUse, ClientLimits, LockoutPolicy, MIN_JWT_SECRET_LEN,
};
