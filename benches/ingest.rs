//! Ingest throughput: decoding OTLP/JSON (JSON Lines, and one large document) and OTLP/protobuf
//! (length-framed, and one large message) of synthetic traces into span-table batches, reported
//! as spans/s and bytes/s.
//!
//! Run: `cargo bench --bench ingest` (set SPANLENS_BENCH_SPANS to change the data size).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rayon::prelude::*;
use spanlens::ingest::otlp_json::TopValue;
use spanlens::ingest::otlp_json_fast::trace_document;
use spanlens::ingest::otlp_proto::{Frame, decode_message, split_frames, to_model};
use spanlens::ingest::otlp_wire;
use spanlens::ingest::{DecodeOptions, decode_bytes};
use spanlens::model::builder::SpanBatchBuilder;
use spanlens::model::otlp::TracesData;
use spanlens::testing::{encode_json, encode_proto, frame, synthetic_traces};

const SPANS_PER_TRACE: usize = 6;
const TRACES_PER_DOCUMENT: usize = 500;

/// The bench data, as exporter batches of 500 traces each.
fn documents() -> Vec<TracesData<'static>> {
    let spans: usize = std::env::var("SPANLENS_BENCH_SPANS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let documents = (spans / SPANS_PER_TRACE).div_ceil(TRACES_PER_DOCUMENT);
    (0..documents)
        .map(|d| {
            let start = 1_700_000_000_000_000_000 + d as u64 * 1_000_000_000;
            synthetic_traces(d as u64, TRACES_PER_DOCUMENT, SPANS_PER_TRACE, start)
        })
        .collect()
}

/// The span count, the documents as JSON Lines, and as length-framed protobuf messages.
fn datasets(docs: &[TracesData<'_>]) -> (u64, Vec<u8>, Vec<u8>) {
    let mut json = Vec::new();
    let mut messages = Vec::new();
    let mut total = 0u64;
    for doc in docs {
        total += doc.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum::<u64>();
        json.extend(encode_json(doc).into_bytes());
        json.push(b'\n');
        messages.push(encode_proto(doc));
    }
    (total, json, frame(&messages))
}

/// All the documents' spans as one large JSON document and as one large protobuf message (both
/// decoded in parallel parts).
fn single_documents(docs: &[TracesData<'_>]) -> (Vec<u8>, Vec<u8>) {
    let all = TracesData { resource_spans: docs.iter().flat_map(|d| d.resource_spans.iter().cloned()).collect() };
    (encode_json(&all).into_bytes(), encode_proto(&all))
}

fn bench_ingest(c: &mut Criterion) {
    let docs = documents();
    let (spans, json, proto) = datasets(&docs);
    let opts = DecodeOptions::default();
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    let (json_document, proto_message) = single_documents(&docs);
    for (format, bytes) in [
        ("otlp_json", &json),
        ("otlp_proto", &proto),
        ("otlp_json_one_document", &json_document),
        ("otlp_proto_one_message", &proto_message),
    ] {
        group.throughput(Throughput::Elements(spans));
        group.bench_function(format!("{format}/spans"), |b| {
            b.iter(|| decode_bytes(format, bytes, &opts).expect("bench data decodes"))
        });
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(format!("{format}/bytes"), |b| {
            b.iter(|| decode_bytes(format, bytes, &opts).expect("bench data decodes"))
        });
    }
    group.finish();

    // Where the time goes: JSON parsing alone (serde, and the fast path), protobuf parsing alone
    // (prost and the wire reader, one thread and all), the Arrow builder alone.
    let mut parts = c.benchmark_group("ingest_parts");
    parts.sample_size(10);
    parts.throughput(Throughput::Elements(spans));
    parts.bench_function("json_parse_only", |b| {
        b.iter(|| {
            let mut n = 0usize;
            // As `decode_bytes` does: UTF-8 checked once, then parsed as text.
            let text = simdutf8::basic::from_utf8(&json).expect("bench data is UTF-8");
            for top in serde_json::Deserializer::from_str(text).into_iter::<TopValue<'_>>() {
                n += top.expect("valid").0.len();
            }
            n
        })
    });
    parts.bench_function("json_fast_parse_only", |b| {
        b.iter(|| {
            let text = simdutf8::basic::from_utf8(&json).expect("bench data is UTF-8");
            text.lines()
                .map(|line| trace_document(line, &|_| None).expect("the fast path takes the bench data").0)
                .map(|doc| doc.resource_spans.len())
                .sum::<usize>()
        })
    });
    let (frames, _) = split_frames(&proto);
    // Each frame decoded into the prost messages and dropped, as decoding does before and after
    // building its columns.
    let parse = |f: &Frame| decode_message(&proto[f.start..f.end]).expect("valid").resource_spans.len();
    parts.bench_function("proto_parse_only", |b| b.iter(|| frames.iter().map(parse).sum::<usize>()));
    // prost's share alone on every core, no column built: the ceiling of protobuf ingest with
    // the `opentelemetry-proto` message types.
    parts.bench_function("proto_parse_only_all_threads", |b| b.iter(|| frames.par_iter().map(parse).sum::<usize>()));
    // The wire reader ingest uses, into the model, one thread and all.
    let read = |f: &Frame| otlp_wire::decode(&proto[f.start..f.end]).expect("valid").resource_spans.len();
    parts.bench_function("proto_wire_parse_only", |b| b.iter(|| frames.iter().map(read).sum::<usize>()));
    parts
        .bench_function("proto_wire_parse_only_all_threads", |b| b.iter(|| frames.par_iter().map(read).sum::<usize>()));
    let messages: Vec<_> = frames.iter().map(|f| decode_message(&proto[f.start..f.end]).expect("valid")).collect();
    parts.bench_function("builder_only", |b| {
        b.iter(|| {
            let mut builder = SpanBatchBuilder::new(1 << 20);
            let mut rows = 0;
            for msg in &messages {
                for rs in to_model(msg).resource_spans {
                    builder.begin_resource(&rs.resource);
                    for ss in &rs.scope_spans {
                        builder.begin_scope(&ss.scope);
                        for span in &ss.spans {
                            builder.append_span(span).expect("valid span");
                            if builder.len() >= 16 * 1024 {
                                rows += builder.finish().num_rows();
                            }
                        }
                    }
                }
            }
            rows + builder.finish().num_rows()
        })
    });
    parts.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
