//! spanlens's decoders: the JSON fast path and its serde reference, the protobuf wire reader and
//! its prost reference, whole-object gzip inflation.

#[path = "../../src/ingest/otlp_json.rs"]
pub mod otlp_json;
#[path = "../../src/ingest/otlp_json_fast.rs"]
pub mod otlp_json_fast;
#[path = "../../src/ingest/otlp_proto.rs"]
pub mod otlp_proto;
#[path = "../../src/ingest/otlp_wire.rs"]
pub mod otlp_wire;
#[path = "../../src/ingest/inflate.rs"]
pub mod inflate;
