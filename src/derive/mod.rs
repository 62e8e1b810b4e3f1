//! Application Signals derivation rules (`application-signals.md`), as pure functions with no
//! I/O and no Arrow: which operation, service, error and fault a span record gets. The span
//! table's columns feed them; the `signals` table is built from their results.
//!
//! Rule numbers in comments and tests refer to the spec's sections. Where the ADOT SDKs differ,
//! [`Compat`] selects the behaviour (Java by default, as the spec recommends).

pub mod classify;
pub mod dependency;
pub mod environment;
pub mod local;
pub mod propagate;
pub mod records;
pub mod remote;
pub mod resource;

/// Which SDK's behaviour to reproduce where the SDKs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    #[default]
    Java,
    Python,
    Js,
}

/// An attribute value that is present and not empty: the SDKs treat `""` as absent.
pub fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// Truncate to at most `max` characters (the agent's limits count characters).
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
