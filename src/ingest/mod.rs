//! Stage 1: read OTLP trace exports and decode them into span-table record batches.
//!
//! [`files`] resolves inputs, [`compression`] sniffs and inflates with a cap ([`inflate`]: whole
//! gzip objects in one libdeflate call), [`otlp_json`] (with
//! its fast path [`otlp_json_fast`]) and [`otlp_wire`] decode the two encodings into the model's
//! neutral view ([`otlp_proto`] holds prost's message types, the protobuf reader's reference, and
//! the fileexporter's framing), and [`decode`] drives a
//! whole input through them into a [`crate::model::builder::SpanBatchBuilder`]; [`coalesce`] merges
//! the small batches of small inputs; [`read`] runs a command's inputs through all of this in
//! parallel, in order, into a consumer. Nothing here writes output.

pub mod coalesce;
pub mod compression;
pub mod decode;
pub mod files;
pub mod inflate;
pub mod otlp_json;
pub mod otlp_json_fast;
pub mod otlp_proto;
pub mod otlp_wire;
pub mod read;
pub mod stats;
pub mod stream;

pub use decode::{DecodeOptions, Decoded, decode_bytes};
pub use stats::SourceStats;
pub use stream::decode_stream;
