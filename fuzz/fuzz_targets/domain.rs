//! The validated types and job-field rules never panic, accept exactly what their rule says, and
//! what they accept re-parses to itself.

#![no_main]

use arbitrary::Arbitrary;
use emo::domain::{Password, Phone};
use emo::domain::{Resolution, VideoSize};
use emo::job::JobId;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    text: String,
    max: u16,
    required: bool,
}

/// `^1[3-9]\d{9}$` with ASCII digits, written independently of `Phone::parse`.
fn is_phone(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    chars.len() == 11
        && chars[0] == '1'
        && ('3'..='9').contains(&chars[1])
        && chars.iter().all(|c| c.is_ascii_digit())
}

fuzz_target!(|input: Input| {
    let s = input.text.as_str();

    match Phone::parse(s) {
        Ok(phone) => {
            assert!(is_phone(s.trim()), "{s:?} accepted");
            assert_eq!(phone.as_str(), s.trim());
            assert_eq!(Phone::parse(phone.as_str()).as_ref(), Ok(&phone));
            assert_eq!(phone.to_string(), phone.as_str());
            let _ = format!("{phone:?}");
        }
        Err(e) => {
            assert!(!is_phone(s.trim()), "{s:?} refused");
            assert_eq!(e.0, Phone::INVALID);
        }
    }

    let chars = s.chars().count();
    match Password::parse(s) {
        Ok(p) => {
            assert!((8..=128).contains(&chars), "{chars} characters accepted");
            assert_eq!(p.expose(), s);
            assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        }
        Err(_) => assert!(!(8..=128).contains(&chars), "{chars} characters refused"),
    }

    let is_job_id = s.len() == 28
        && s.starts_with("job_")
        && s[4..]
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match JobId::parse(s) {
        Some(id) => {
            assert!(is_job_id, "{s:?} accepted");
            assert_eq!(id.as_str(), s);
            assert_eq!(JobId::parse(id.as_str()), Some(id.clone()));
        }
        None => assert!(!is_job_id, "{s:?} refused"),
    }

    match VideoSize::parse(Some(s)) {
        Ok(size) => {
            assert_eq!(size, s.trim());
            assert!(VideoSize::ALL.contains(&size.as_str()));
        }
        Err(e) => assert!(e.0.chars().count() < 200, "{e}"),
    }

    match Resolution::parse(Some(s)) {
        Ok(r) => {
            assert!(Resolution::ALL.contains(&r.as_str()));
            assert!(r.eq_ignore_ascii_case(s.trim()));
        }
        Err(e) => assert!(e.0.chars().count() < 200, "{e}"),
    }

    let max = usize::from(input.max);
    match emo::domain::bounded_text("field", Some(s), max, input.required) {
        Ok(Some(v)) => {
            assert_eq!(v, s.trim());
            assert!(!v.is_empty() && v.chars().count() <= max);
        }
        Ok(None) => assert!(s.trim().is_empty() && !input.required),
        Err(_) => assert!(s.trim().is_empty() || s.trim().chars().count() > max),
    }
});
