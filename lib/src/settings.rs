//! Reading settings from the environment: each concern has its own settings struct beside its
//! module ([`crate::store::StoreSettings`], [`crate::auth::AuthSettings`],
//! [`crate::job::JobSettings`], the worker's, DashScope's and the GIF's), read through [`Env`],
//! and a process reads only the ones its role uses ([`crate::state::Role`]).
//!
//! A missing or malformed setting fails start-up with a message naming the variable, never a
//! request later. An empty variable counts as unset, so a template can pass "" for "default".

use std::str::FromStr;
use std::time::Duration;

/// A setting that is missing or cannot be used; the message names the variable.
#[derive(Debug, thiserror::Error)]
#[error("setting {name}: {problem}")]
pub struct SettingsError {
    pub name: &'static str,
    pub problem: String,
}

/// The error for setting `name`.
pub fn bad(name: &'static str, problem: impl Into<String>) -> SettingsError {
    SettingsError {
        name,
        problem: problem.into(),
    }
}

/// Where settings are read from: the process environment, or a map in tests.
pub struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self(lookup)
    }

    /// Runs `f` on the process environment.
    pub fn process<T>(f: impl FnOnce(&Env<'_>) -> T) -> T {
        let lookup = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        f(&Env(&lookup))
    }

    /// The value of `name`, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }

    /// `name` parsed, or `default` when unset.
    pub fn parse<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, SettingsError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e| bad(name, format!("{raw:?} is not valid ({e})"))),
        }
    }

    /// A whole number within `range`.
    pub fn bounded(
        &self,
        name: &'static str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, SettingsError> {
        let v: u32 = self.parse(name, default)?;
        if range.contains(&v) {
            Ok(v)
        } else {
            Err(bad(
                name,
                format!("{v} is outside {}..={}", range.start(), range.end()),
            ))
        }
    }

    /// A whole number of seconds within `range`.
    pub fn secs(
        &self,
        name: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<Duration, SettingsError> {
        let v: u64 = self.parse(name, default)?;
        if range.contains(&v) {
            Ok(Duration::from_secs(v))
        } else {
            Err(bad(
                name,
                format!("{v} is outside {}..={} seconds", range.start(), range.end()),
            ))
        }
    }

    /// `name`, which this process needs: its absence stops the start, saying `why`.
    pub fn required(&self, name: &'static str, why: &str) -> Result<String, SettingsError> {
        self.get(name)
            .ok_or_else(|| bad(name, format!("is required {why}")))
    }
}

/// A lookup over `vars` alone, the last value of a name winning; for tests and tools that set
/// settings by hand.
pub fn vars_lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Sync + use<> {
    let owned: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name: &str| {
        owned
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Builds an [`Env`] over `vars` (see [`vars_lookup`]) and runs `f` on it.
pub fn with_vars<T>(vars: &[(&str, &str)], f: impl FnOnce(&Env<'_>) -> T) -> T {
    f(&Env(&vars_lookup(vars)))
}
