//! How passwords are hashed, logins locked, clients bounded and tokens signed: `EMO_ARGON2_*`,
//! `EMO_LOGIN_MAX_FAILURES`, `EMO_LOGIN_LOCKOUT_SECS`, `EMO_REGISTER_PER_IP_PER_HOUR`,
//! `EMO_LOGIN_PER_IP_PER_MINUTE`, `EMO_JWT_SECRET`, `EMO_JWT_SECRET_ID`, `EMO_JWT_TTL_SECS`. Each
//! part is read only by the functions that use it.

use std::time::Duration;

use crate::settings::{Env, SettingsError, bad};
use crate::store::Backend;

/// argon2id cost. Production uses OWASP's m = 19 MiB, t = 2, p = 1; tests set a cheap one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Cost {
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
}

/// How many failed logins in a row lock a phone, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lockout: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout: Duration::from_secs(15 * 60),
        }
    }
}

/// How many requests one client address may make, in fixed windows; 0 is no bound.
///
/// The defaults leave room for many people behind one address (mobile carriers put whole
/// neighbourhoods behind one), and still stop a script from one address: registering is done
/// once per person, and every account gets its own daily job allowance at DashScope's cost, so 10
/// an hour bound the accounts, and so the spend, one address can make; a token lasts 7 days, so
/// 30 logins a minute are far more than people need and bound the argon2 work one address can
/// cause across all phones (the lockout bounds it per phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientLimits {
    /// `EMO_REGISTER_PER_IP_PER_HOUR`: registrations per address and clock hour.
    pub register_per_hour: u32,
    /// `EMO_LOGIN_PER_IP_PER_MINUTE`: logins per address and clock minute.
    pub login_per_minute: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            register_per_hour: 10,
            login_per_minute: 30,
        }
    }
}

/// The largest bound accepted: beyond it a bound bounds nothing (use 0 for none).
const MAX_CLIENT_LIMIT: u32 = 1_000_000;

/// Which parts of authentication a process uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthUse {
    /// Hashes or verifies passwords (register, login, change-password).
    pub passwords: bool,
    /// Counts failed logins (login).
    pub lockout: bool,
    /// Issues or checks tokens.
    pub tokens: bool,
    /// Bounds registrations per client address (register).
    pub register_bound: bool,
    /// Bounds logins per client address (login).
    pub login_bound: bool,
}

/// The shortest JWT key accepted: HS256 wants a key of at least its 256-bit output.
pub const MIN_JWT_SECRET_LEN: usize = 32;

#[derive(Clone)]
pub struct AuthSettings {
    pub argon2: Argon2Cost,
    pub lockout: LockoutPolicy,
    /// The per-address bounds; each is read only by the function it bounds (the other keeps its
    /// default, unused).
    pub clients: ClientLimits,
    /// `EMO_JWT_SECRET`: HS256 key. Optional on the local backend (one is generated and kept in
    /// the data dir). On aws it or `EMO_JWT_SECRET_ID` is given to the functions that issue or
    /// check tokens; the others get neither and can do neither.
    pub jwt_secret: Option<String>,
    /// `EMO_JWT_SECRET_ID`: the Secrets Manager secret (name or ARN) holding the HS256 key, read
    /// at run time (aws backend only; see `crate::secrets`).
    pub jwt_secret_id: Option<String>,
    pub jwt_ttl: Duration,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("argon2", &self.argon2)
            .field("lockout", &self.lockout)
            .field("clients", &self.clients)
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("jwt_secret_id", &self.jwt_secret_id)
            .field("jwt_ttl", &self.jwt_ttl)
            .finish()
    }
}

impl AuthSettings {
    pub fn from_env(env: &Env<'_>, backend: Backend, uses: AuthUse) -> Result<Self, SettingsError> {
        let mut s = Self {
            argon2: Argon2Cost::OWASP,
            lockout: LockoutPolicy::default(),
            clients: ClientLimits::default(),
            jwt_secret: None,
            jwt_secret_id: None,
            jwt_ttl: Duration::from_secs(7 * 24 * 3600),
        };
        if uses.passwords {
            s.argon2 = Argon2Cost {
                memory_kib: env.parse("EMO_ARGON2_MEMORY_KIB", Argon2Cost::OWASP.memory_kib)?,
                iterations: env.parse("EMO_ARGON2_ITERATIONS", Argon2Cost::OWASP.iterations)?,
                parallelism: env.parse("EMO_ARGON2_PARALLELISM", Argon2Cost::OWASP.parallelism)?,
            };
            if let Err(e) = argon2::Params::new(
                s.argon2.memory_kib,
                s.argon2.iterations,
                s.argon2.parallelism,
                None,
            ) {
                return Err(bad(
                    "EMO_ARGON2_MEMORY_KIB",
                    format!("argon2 rejects this cost ({e})"),
                ));
            }
        }
        if uses.lockout {
            let max_failures: u32 = env.parse("EMO_LOGIN_MAX_FAILURES", 5)?;
            if max_failures == 0 {
                return Err(bad("EMO_LOGIN_MAX_FAILURES", "must be at least 1"));
            }
            s.lockout = LockoutPolicy {
                max_failures,
                lockout: Duration::from_secs(env.parse("EMO_LOGIN_LOCKOUT_SECS", 15 * 60)?),
            };
        }
        let defaults = ClientLimits::default();
        if uses.register_bound {
            s.clients.register_per_hour = env.bounded(
                "EMO_REGISTER_PER_IP_PER_HOUR",
                defaults.register_per_hour,
                0..=MAX_CLIENT_LIMIT,
            )?;
        }
        if uses.login_bound {
            s.clients.login_per_minute = env.bounded(
                "EMO_LOGIN_PER_IP_PER_MINUTE",
                defaults.login_per_minute,
                0..=MAX_CLIENT_LIMIT,
            )?;
        }
        if uses.tokens {
            s.jwt_secret = env.get("EMO_JWT_SECRET");
            if let Some(k) = &s.jwt_secret
                && k.len() < MIN_JWT_SECRET_LEN
            {
                return Err(bad(
                    "EMO_JWT_SECRET",
                    format!("must be at least {MIN_JWT_SECRET_LEN} bytes long"),
                ));
            }
            s.jwt_secret_id = crate::secrets::secret_id(
                env,
                backend,
                "EMO_JWT_SECRET_ID",
                s.jwt_secret.is_some(),
                "EMO_JWT_SECRET",
            )?;
            let ttl: u64 = env.parse("EMO_JWT_TTL_SECS", 7 * 24 * 3600)?;
            if ttl == 0 {
                return Err(bad("EMO_JWT_TTL_SECS", "must be at least 1"));
            }
            s.jwt_ttl = Duration::from_secs(ttl);
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::with_vars;

    const ALL: AuthUse = AuthUse {
        passwords: true,
        lockout: true,
        tokens: true,
        register_bound: true,
        login_bound: true,
    };

    fn read(vars: &[(&str, &str)]) -> Result<AuthSettings, SettingsError> {
        with_vars(vars, |env| AuthSettings::from_env(env, Backend::Local, ALL))
    }

    #[test]
    fn with_nothing_set_passwords_get_production_cost() {
        let s = read(&[]).unwrap();
        assert_eq!(s.argon2, Argon2Cost::OWASP);
        assert_eq!(s.argon2.memory_kib, 19 * 1024);
        assert_eq!(s.lockout.max_failures, 5);
        assert_eq!(s.lockout.lockout, Duration::from_secs(900));
        assert_eq!(
            (s.clients.register_per_hour, s.clients.login_per_minute),
            (10, 30)
        );
        assert!(s.jwt_secret.is_none());
    }

    #[test]
    fn client_bounds_are_read_zero_is_none_and_nonsense_is_named() {
        let s = read(&[
            ("EMO_REGISTER_PER_IP_PER_HOUR", "0"),
            ("EMO_LOGIN_PER_IP_PER_MINUTE", "7"),
        ])
        .unwrap();
        assert_eq!(
            (s.clients.register_per_hour, s.clients.login_per_minute),
            (0, 7)
        );
        for (name, value) in [
            ("EMO_REGISTER_PER_IP_PER_HOUR", "-1"),
            ("EMO_REGISTER_PER_IP_PER_HOUR", "ten"),
            ("EMO_LOGIN_PER_IP_PER_MINUTE", "2000000"),
        ] {
            assert_eq!(read(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn each_client_bound_is_read_only_by_the_function_it_bounds() {
        let nonsense = [
            ("EMO_REGISTER_PER_IP_PER_HOUR", "x"),
            ("EMO_LOGIN_PER_IP_PER_MINUTE", "x"),
        ];
        let only = |uses: AuthUse| {
            with_vars(&nonsense, |env| {
                AuthSettings::from_env(env, Backend::Local, uses)
            })
            .map_err(|e| e.name)
        };
        let register = AuthUse {
            passwords: true,
            register_bound: true,
            ..AuthUse::default()
        };
        assert_eq!(only(register).unwrap_err(), "EMO_REGISTER_PER_IP_PER_HOUR");
        let login = AuthUse {
            passwords: true,
            lockout: true,
            login_bound: true,
            ..AuthUse::default()
        };
        assert_eq!(only(login).unwrap_err(), "EMO_LOGIN_PER_IP_PER_MINUTE");
        let change_password = AuthUse {
            passwords: true,
            ..AuthUse::default()
        };
        assert!(only(change_password).is_ok());
    }

    #[test]
    fn a_malformed_setting_is_named_in_the_error() {
        let e = read(&[("EMO_LOGIN_MAX_FAILURES", "five")]).unwrap_err();
        assert_eq!(e.name, "EMO_LOGIN_MAX_FAILURES");
        assert!(e.to_string().contains("EMO_LOGIN_MAX_FAILURES"));
        let e = read(&[("EMO_ARGON2_MEMORY_KIB", "1")]).unwrap_err();
        assert_eq!(e.name, "EMO_ARGON2_MEMORY_KIB");
    }

    #[test]
    fn a_short_jwt_secret_is_refused_and_never_printed() {
        let e = read(&[("EMO_JWT_SECRET", "tooshort")]).unwrap_err();
        assert_eq!(e.name, "EMO_JWT_SECRET");
        assert!(!e.to_string().contains("tooshort"));
        let s = read(&[("EMO_JWT_SECRET", &"k".repeat(40))]).unwrap();
        assert!(!format!("{s:?}").contains("kkkk"));
    }

    #[test]
    fn an_empty_variable_means_the_default() {
        let s = read(&[("EMO_LOGIN_LOCKOUT_SECS", "")]).unwrap();
        assert_eq!(s.lockout.lockout, Duration::from_secs(900));
    }

    #[test]
    fn a_part_not_used_is_not_read() {
        let register = AuthUse {
            passwords: true,
            ..AuthUse::default()
        };
        let s = with_vars(
            &[("EMO_JWT_SECRET", "short"), ("EMO_LOGIN_MAX_FAILURES", "x")],
            |env| AuthSettings::from_env(env, Backend::Local, register),
        )
        .unwrap();
        assert!(s.jwt_secret.is_none());
    }

    #[test]
    fn the_jwt_key_comes_from_one_place_and_secrets_manager_only_on_aws() {
        let aws = |vars: &[(&str, &str)]| {
            with_vars(vars, |env| AuthSettings::from_env(env, Backend::Aws, ALL))
        };
        let s = aws(&[("EMO_JWT_SECRET_ID", "emo/jwt")]).unwrap();
        assert_eq!(s.jwt_secret_id.as_deref(), Some("emo/jwt"));
        let secret = "s".repeat(MIN_JWT_SECRET_LEN);
        let e = aws(&[
            ("EMO_JWT_SECRET_ID", "emo/jwt"),
            ("EMO_JWT_SECRET", &secret),
        ])
        .unwrap_err();
        assert_eq!(e.name, "EMO_JWT_SECRET_ID");
        assert_eq!(
            read(&[("EMO_JWT_SECRET_ID", "emo/jwt")]).unwrap_err().name,
            "EMO_JWT_SECRET_ID"
        );
    }
}
