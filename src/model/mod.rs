//! The span data model: the decoder-neutral OTLP view ([`otlp`]), the span table schema
//! ([`schema`]), the builder that turns one into the other ([`builder`]), and the encoders
//! that write the view back as OTLP/JSON or OTLP/protobuf ([`encode`]), and [`table`], a
//! computed table as the query stages return it.
//! Depends on nothing else in the crate.

pub mod builder;
pub mod encode;
pub mod otlp;
pub mod schema;
pub mod table;
