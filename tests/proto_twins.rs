//! JSON and protobuf give identical batches: each JSON sample is re-encoded with prost as a
//! single `TracesData` message, as the fileexporter's length-framed stream, with per-message
//! zstd framing, and with whole-object gzip and zstd; every variant must decode to exactly the
//! rows the JSON gave.

mod common;

use std::sync::Arc;

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

#[test]
fn a_projected_decode_equals_the_full_decode_projected() {
    let schema = span_schema();
    let index = |name: &str| schema.index_of(name).unwrap();
    // The derivation's columns (no hot columns, events, links or scope attributes), and one
    // with each of those, in a different order.
    let derivation: Vec<usize> = ["trace_id", "span_id", "parent_span_id", "flags", "name", "kind", "end_time"]
        .iter()
        .chain(&["duration_ns", "status_code", "service_name", "scope_name", "attributes", "resource_attributes"])
        .map(|n| index(n))
        .collect();
    let everything_costly =
        vec![index("links"), index("http_method"), index("events"), index("scope_attributes"), index("k8s_pod_name")];
    for file in TWINNED {
        let json = std::fs::read(sample(file)).unwrap();
        let full = decode_all(file, &json);
        for projection in [&derivation, &everything_costly] {
            let opts = DecodeOptions { projection: Some(projection.as_slice().into()), ..DecodeOptions::default() };
            let decoded = decode_bytes(file, &json, &opts).unwrap();
            let got = concat_batches(&Arc::new(schema.project(projection).unwrap()), &decoded.batches).unwrap();
            assert_eq!(got, full.project(projection).unwrap(), "{file} {projection:?}");
        }
    }
}
