//! `argon2-time [RUNS] [MEMORY_KIB] [ITERATIONS] [PARALLELISM]` (default 20, 19456, 2, 1: Emo's
//! OWASP cost): hashes a password RUNS times with a fresh salt and verifies it, exactly as
//! `emo::auth::Passwords` does (argon2id, v0x13), and prints one line of JSON with the
//! milliseconds per hash and per verify (min, median, max), both wall and CPU time of the
//! thread. CPU time is what a Lambda's vCPU share stretches, and it does not grow when other
//! work shares the machine, as wall time does. Run it pinned to one core (`taskset -c 0`).

use std::time::{Duration, Instant};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

fn arg(n: usize, default: u32) -> u32 {
    std::env::args()
        .nth(n)
        .map(|a| a.parse().expect("arguments are numbers"))
        .unwrap_or(default)
}

/// CPU time used by this thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Wall and CPU milliseconds of one call.
fn timed<T>(f: impl FnOnce() -> T, wall: &mut Vec<f64>, cpu: &mut Vec<f64>) -> T {
    let (start, start_cpu) = (Instant::now(), thread_cpu());
    let out = f();
    cpu.push((thread_cpu() - start_cpu).as_secs_f64() * 1000.0);
    wall.push(start.elapsed().as_secs_f64() * 1000.0);
    out
}

fn stats(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let median = if ms.len() % 2 == 1 {
        ms[ms.len() / 2]
    } else {
        (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
    };
    format!(
        "{{\"min\":{:.2},\"median\":{:.2},\"max\":{:.2}}}",
        ms[0],
        median,
        ms[ms.len() - 1]
    )
}

fn main() {
    let runs = arg(1, 20).max(1);
    let (m, t, p) = (arg(2, 19456), arg(3, 2), arg(4, 1));
    let params = Params::new(m, t, p, None).expect("valid argon2 cost");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let password = b"sticker-maker-1";
    let (mut hash_wall, mut hash_cpu) = (Vec::new(), Vec::new());
    let (mut verify_wall, mut verify_cpu) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let phc = timed(
            || {
                argon
                    .hash_password(password)
                    .map(|h| h.to_string())
                    .expect("hashes")
            },
            &mut hash_wall,
            &mut hash_cpu,
        );
        let ok = timed(
            || {
                let parsed = PasswordHash::new(&phc).expect("parses");
                argon.verify_password(password, &parsed).is_ok()
            },
            &mut verify_wall,
            &mut verify_cpu,
        );
        assert!(ok, "the password verifies");
    }
    println!(
        "{{\"memory_kib\":{m},\"iterations\":{t},\"parallelism\":{p},\"runs\":{runs},\"hash_wall_ms\":{},\"hash_cpu_ms\":{},\"verify_wall_ms\":{},\"verify_cpu_ms\":{}}}",
        stats(hash_wall),
        stats(hash_cpu),
        stats(verify_wall),
        stats(verify_cpu)
    );
}
