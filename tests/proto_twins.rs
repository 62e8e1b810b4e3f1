//! JSON and protobuf give identical batches: each JSON sample is re-encoded with prost as a
//! single `TracesData` message, as the fileexporter's length-framed stream, with per-message
//! zstd framing, and with whole-object gzip and zstd; every variant must decode to exactly the
//! rows the JSON gave.

mod common;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use common::{gzip, sample};
use spanlens::ingest::otlp_json::{Document, TopValue};
use spanlens::ingest::{DecodeOptions, decode_bytes};
use spanlens::model::otlp::TracesData;
use spanlens::model::schema::span_schema;
use spanlens::testing::{encode_proto, frame};

const TWINNED: &[&str] = &[
    "ymtdzzz__otel-tui__test_data.json",
    "highlight__highlight__fs.json",
    "highlight__highlight__traces.json",
    "highlight__highlight__nextjs.json",
    "open-telemetry__opentelemetry-proto__trace.json",
    "jaegertracing__jaeger__otel_traces_01.json",
    "jaegertracing__jaeger__example_trace.json",
    "jaegertracing__jaeger-ui__otlp2jaeger-multi-in.json.txt",
];

fn decode_all(name: &str, bytes: &[u8]) -> RecordBatch {
    let decoded = decode_bytes(name, bytes, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    concat_batches(&span_schema(), &decoded.batches).unwrap()
}

fn trace_documents(bytes: &[u8]) -> Vec<TracesData<'_>> {
    let mut docs = Vec::new();
    for top in serde_json::Deserializer::from_slice(bytes).into_iter::<TopValue<'_>>() {
        for doc in top.unwrap().0 {
            if let Document::Traces(t) = doc {
                docs.push(t);
            }
        }
    }
    docs
}

#[test]
fn protobuf_twins_decode_to_the_same_batches_as_json() {
    for file in TWINNED {
        let json = std::fs::read(sample(file)).unwrap();
        let from_json = decode_all(file, &json);
        let docs = trace_documents(&json);
        let messages: Vec<Vec<u8>> = docs.iter().map(encode_proto).collect();
        let merged = TracesData { resource_spans: docs.iter().flat_map(|d| d.resource_spans.clone()).collect() };

        let single = encode_proto(&merged);
        let framed = frame(&messages);
        let framed_zstd =
            frame(&messages.iter().map(|m| zstd::encode_all(m.as_slice(), 3).unwrap()).collect::<Vec<_>>());
        let variants: Vec<(&str, Vec<u8>)> = vec![
            ("binpb", single.clone()),
            ("binpb.gz", gzip(&single)),
            ("binpb.zst", zstd::encode_all(single.as_slice(), 3).unwrap()),
            ("framed", framed.clone()),
            ("framed per-message zstd", framed_zstd),
            ("framed in whole-file zstd", zstd::encode_all(framed.as_slice(), 3).unwrap()),
            ("json.gz", gzip(&json)),
        ];
        for (what, bytes) in variants {
            let got = decode_all(what, &bytes);
            assert_eq!(got.num_rows(), from_json.num_rows(), "{file} as {what}");
            assert_eq!(got, from_json, "{file} as {what}: batches differ");
        }
    }
}

#[test]
fn json_payloads_inside_zstd_frames_are_read() {
    // The legacy fileexporter json + zstd mode frames JSON documents.
    let json = std::fs::read(sample("jaegertracing__jaeger__otel_traces_01.json")).unwrap();
    let from_json = decode_all("json", &json);
    let bytes = frame(&[zstd::encode_all(json.as_slice(), 3).unwrap()]);
    let decoded = decode_bytes("framed-json", &bytes, &DecodeOptions::default()).unwrap();
    assert_eq!(decoded.stats.format, "otlp_json_framed_zstd");
    assert_eq!(concat_batches(&span_schema(), &decoded.batches).unwrap(), from_json);
}
