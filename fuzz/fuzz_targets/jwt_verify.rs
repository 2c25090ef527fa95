//! `Tokens::verify` refuses every string it did not sign, without panicking.

#![no_main]

use std::sync::LazyLock;

use emo::auth::Tokens;
use libfuzzer_sys::fuzz_target;

static TOKENS: LazyLock<Tokens> =
    LazyLock::new(|| Tokens::new(b"fuzz-secret-fuzz-secret-fuzz-sec", 3600));

fuzz_target!(|token: &str| {
    assert!(TOKENS.verify(token).is_none(), "{token:?} verified");
});
