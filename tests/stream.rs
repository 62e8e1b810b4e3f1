//! Streaming decode of large inputs and stdin: JSON Lines cut into line-aligned blocks (tiny
//! blocks here, to cross many boundaries) must give exactly the batches and counts of decoding
//! the whole input at once, compressed or not; other content falls back to a whole read.

mod common;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use common::{gzip, sample};
use spanlens::ingest::{DecodeOptions, SourceStats, decode_bytes, decode_stream};
use spanlens::model::schema::span_schema;

fn streamed(bytes: &[u8], opts: &DecodeOptions) -> Result<(RecordBatch, SourceStats), String> {
    let mut batches = Vec::new();
    let mut emit = |b: Vec<RecordBatch>, _raw: u64| {
        batches.extend(b);
        true
    };
    let stats = decode_stream("input", bytes, opts, &mut emit).map_err(|e| e.to_string())?;
    Ok((concat_batches(&span_schema(), &batches).unwrap(), stats))
}

fn whole(bytes: &[u8], opts: &DecodeOptions) -> Result<(RecordBatch, SourceStats), String> {
    let d = decode_bytes("input", bytes, opts).map_err(|e| e.to_string())?;
    Ok((concat_batches(&span_schema(), &d.batches).unwrap(), d.stats))
}

fn small_blocks(block: usize) -> DecodeOptions {
    DecodeOptions { stream_threshold_bytes: 0, stream_block_bytes: block, ..DecodeOptions::default() }
}

fn assert_same(a: &(RecordBatch, SourceStats), b: &(RecordBatch, SourceStats), what: &str) {
    assert_eq!(a.0, b.0, "{what}: batches differ");
    let counts = |s: &SourceStats| {
        (
            s.documents,
            s.spans_read,
            s.spans_written,
            s.spans_skipped.clone(),
            s.records_skipped.clone(),
            s.bytes_decoded,
        )
    };
    assert_eq!(counts(&a.1), counts(&b.1), "{what}: counts differ");
    assert_eq!(a.1.messages, b.1.messages, "{what}: messages differ");
}

#[test]
fn streamed_json_lines_equal_whole_decoding_across_block_sizes_and_compression() {
    let json = std::fs::read(sample("ymtdzzz__otel-tui__test_data.json")).unwrap();
    let expected = whole(&json, &DecodeOptions::default()).unwrap();
    assert_eq!(expected.1.spans_written, 547);
    let zst = zstd::encode_all(json.as_slice(), 3).unwrap();
    let gz = gzip(&json);
    // 1 KiB blocks are shorter than most lines of this file: every line crosses a boundary.
    for block in [1 << 10, 64 << 10, 1 << 20] {
        for (what, bytes) in [("plain", &json), ("gzip", &gz), ("zstd", &zst)] {
            let got = streamed(bytes, &small_blocks(block)).unwrap();
            assert_same(&got, &expected, &format!("{what}, {block}-byte blocks"));
            assert_eq!(got.1.bytes_read, bytes.len() as u64, "{what}: raw bytes counted");
            assert_eq!(got.1.format, "otlp_json_stream");
        }
    }
}

#[test]
fn streamed_errors_name_the_same_line_as_whole_decoding() {
    let good = std::fs::read_to_string(sample("jaegertracing__jaeger-ui__otlp2jaeger-multi-in.json.txt")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(2, "{\"resourceSpans\":[oops]}");
    let text = lines.join("\n") + "\n";
    let strict = small_blocks(64);
    let a = streamed(text.as_bytes(), &strict).unwrap_err();
    let b = whole(text.as_bytes(), &DecodeOptions::default()).unwrap_err();
    assert_eq!(a, b);
    assert!(a.contains("line 3, column"), "{a}");

    let lenient = DecodeOptions { keep_going: true, ..small_blocks(64) };
    let a = streamed(text.as_bytes(), &lenient).unwrap();
    let b = whole(text.as_bytes(), &DecodeOptions { keep_going: true, ..DecodeOptions::default() }).unwrap();
    assert_same(&a, &b, "keep-going");
    assert_eq!(a.1.records_skipped.get("invalid_json"), Some(&1));
    assert_eq!(a.1.spans_written, 4);
}

#[test]
fn non_splittable_content_falls_back_to_a_whole_read() {
    let pretty = std::fs::read(sample("highlight__highlight__fs.json")).unwrap();
    let got = streamed(&pretty, &small_blocks(1 << 10)).unwrap();
    assert_same(&got, &whole(&pretty, &DecodeOptions::default()).unwrap(), "pretty document");
    let doc = spanlens::testing::synthetic_traces(3, 50, 4, 1_700_000_000_000_000_000);
    let proto = spanlens::testing::encode_proto(&doc);
    let got = streamed(&proto, &small_blocks(1 << 10)).unwrap();
    assert_same(&got, &whole(&proto, &DecodeOptions::default()).unwrap(), "protobuf");
    assert_eq!(got.1.spans_written, 200);
}

#[test]
fn streamed_bad_compression_and_caps_are_errors() {
    let json = std::fs::read(sample("ymtdzzz__otel-tui__test_data.json")).unwrap();
    let gz = gzip(&json);
    let err = streamed(&gz[..gz.len() / 2], &small_blocks(64 << 10)).unwrap_err();
    assert!(err.contains("truncated gzip") || err.contains("corrupt gzip"), "{err}");
    let capped = DecodeOptions { max_decompressed_bytes: 100_000, ..small_blocks(16 << 10) };
    let err = streamed(&gz, &capped).unwrap_err();
    assert!(err.contains("decompresses to more than"), "{err}");
    let err = streamed(b"", &small_blocks(1024)).unwrap_err();
    assert!(err.contains("empty input"), "{err}");
}
