//! spanlens's `model::otlp`, the decoders' output.

#[path = "../../src/model/otlp.rs"]
pub mod otlp;
