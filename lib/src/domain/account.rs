//! The account's validated types: the phone number a user signs up with and their password.

use std::fmt;

use super::Invalid;

/// A mainland-China mobile number: 11 digits, `^1[3-9]\d{9}$`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// The spec's message for any phone that fails the rule.
    pub const INVALID: &'static str = "Invalid phone number format";

    /// Parses a phone number; surrounding white space is ignored.
    ///
    /// Fails with the spec's "Invalid phone number format" unless the rest is exactly 11 ASCII
    /// digits starting with 1 and then 3 to 9.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let b = s.as_bytes();
        let ok = b.len() == 11
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1])
            && b.iter().all(u8::is_ascii_digit);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid(Self::INVALID.into()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only the last four digits: enough to tell users apart in logs, not enough to dial them.
        write!(f, "Phone(*******{})", &self.0[7..])
    }
}

/// A password of 8 to 128 characters (Unicode scalar values, not bytes).
///
/// Its `Debug` never shows the text, so a password cannot leak through a log line.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Checks the length rule. The text is kept as sent: spaces are part of a password.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let n = raw.chars().count();
        if n < Self::MIN_CHARS {
            Err(Invalid(format!(
                "Password must be at least {} characters",
                Self::MIN_CHARS
            )))
        } else if n > Self::MAX_CHARS {
            Err(Invalid(format!(
                "Password must be at most {} characters",
                Self::MAX_CHARS
            )))
        } else {
            Ok(Self(raw.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mainland_mobile_number_is_accepted() {
        for ok in ["13800000000", "19912345678", " 15012345678 "] {
            assert_eq!(Phone::parse(ok).unwrap().as_str(), ok.trim());
        }
    }

    #[test]
    fn anything_but_a_mainland_mobile_number_is_refused_with_the_spec_message() {
        for bad in [
            "",
            "1380000000",
            "138000000000",
            "12800000000",
            "23800000000",
            "1380000000a",
            "+8613800000000",
            "13800000000000",
            "１３８００００００００",
        ] {
            assert_eq!(
                Phone::parse(bad).unwrap_err().0,
                "Invalid phone number format",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn passwords_are_counted_in_characters_not_bytes() {
        assert!(Password::parse("密码密码密码密码").is_ok());
        assert!(Password::parse("密码密码密码密").is_err());
        assert!(Password::parse(&"码".repeat(128)).is_ok());
        assert!(Password::parse(&"码".repeat(129)).is_err());
    }

    #[test]
    fn password_length_errors_say_which_bound_was_crossed() {
        assert!(
            Password::parse("1234567")
                .unwrap_err()
                .0
                .contains("at least 8")
        );
        assert!(
            Password::parse(&"x".repeat(10_000))
                .unwrap_err()
                .0
                .contains("at most 128")
        );
    }

    #[test]
    fn debug_output_hides_secrets() {
        let p = Password::parse("hunter2hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
        let phone = Phone::parse("13812345678").unwrap();
        assert!(!format!("{phone:?}").contains("1381234"));
    }
}
