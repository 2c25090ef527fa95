//! Every token signed for any claims verifies to exactly those claims, and every change to one of
//! its three parts (or to how they are joined) makes it refused.

#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use arbitrary::Arbitrary;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use emo::auth::jwt::{Claims, ISSUER, Tokens};
use libfuzzer_sys::fuzz_target;

static TOKENS: LazyLock<Tokens> =
    LazyLock::new(|| Tokens::new(b"fuzz-secret-fuzz-secret-fuzz-sec", 3600));

#[derive(Debug, Arbitrary)]
enum Mutation {
    /// Replaces the byte at `at` (modulo the length) with `with`.
    Replace {
        at: usize,
        with: u8,
    },
    Insert {
        at: usize,
        byte: u8,
    },
    Remove {
        at: usize,
    },
    Truncate {
        at: usize,
    },
    /// Swaps the bytes at `a` and `b`.
    Swap {
        a: usize,
        b: usize,
    },
    /// Replaces part `part` (0 header, 1 payload, 2 signature) with the base64url of `json`.
    Part {
        part: u8,
        json: Vec<u8>,
    },
    Append(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Input {
    id: i64,
    phone: String,
    /// Seconds from now until expiry; at least one, so the token is valid when checked.
    lifetime: u32,
    iat: u64,
    ver: u32,
    mutations: Vec<Mutation>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn mutate(token: &mut Vec<u8>, m: &Mutation) {
    let len = token.len();
    match *m {
        Mutation::Replace { at, with } if len > 0 => token[at % len] = with,
        Mutation::Insert { at, byte } => token.insert(at % (len + 1), byte),
        Mutation::Remove { at } if len > 0 => {
            token.remove(at % len);
        }
        Mutation::Truncate { at } => token.truncate(at % (len + 1)),
        Mutation::Swap { a, b } if len > 0 => token.swap(a % len, b % len),
        Mutation::Part { part, ref json } => {
            let text = String::from_utf8_lossy(token).into_owned();
            let mut parts: Vec<String> = text.split('.').map(str::to_owned).collect();
            let i = usize::from(part) % 3;
            if i < parts.len() {
                parts[i] = URL_SAFE_NO_PAD.encode(json);
                *token = parts.join(".").into_bytes();
            }
        }
        Mutation::Append(ref bytes) => token.extend_from_slice(bytes),
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    let claims = Claims {
        id: input.id,
        phone: input.phone,
        exp: now() + u64::from(input.lifetime.max(60)),
        iss: ISSUER.into(),
        iat: input.iat,
        ver: input.ver,
    };
    let token = TOKENS.sign(&claims).expect("any claims can be signed");
    assert_eq!(TOKENS.verify(&token).as_ref(), Some(&claims));

    let mut mutated = token.clone().into_bytes();
    for m in &input.mutations {
        mutate(&mut mutated, m);
    }
    let Ok(mutated) = String::from_utf8(mutated) else {
        return;
    };
    if mutated != token {
        assert!(
            TOKENS.verify(&mutated).is_none(),
            "{mutated:?} verified, from {token:?}"
        );
    }
});
