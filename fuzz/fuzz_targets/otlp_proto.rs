//! The OTLP/protobuf wire reader against prost: the same model or the same refusal, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens_fuzz::ingest::{otlp_proto, otlp_wire};

fuzz_target!(|data: &[u8]| {
    let reference = otlp_proto::decode_message(data).ok().map(|m| format!("{:?}", otlp_proto::to_model(&m)));
    let ours = otlp_wire::decode(data).ok().map(|d| format!("{d:?}"));
    assert_eq!(ours, reference);
});
