//! The span data model: the decoder-neutral OTLP view ([`otlp`]), the span table schema
//! ([`schema`]) and the builder that turns one into the other ([`builder`]).
//! Depends on nothing else in the crate.

pub mod builder;
pub mod otlp;
pub mod schema;
