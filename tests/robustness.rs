//! Never a panic: thousands of corrupted inputs (flipped bytes, truncations, spliced garbage) in
//! every container format must each decode to batches or to an error, in strict and
//! keep-going mode, through whole-input and streamed decoding.

mod common;

use common::{gzip, sample};
use spanlens::ingest::{DecodeOptions, decode_bytes, decode_stream};
use spanlens::testing::{SplitMix, encode_proto, frame, synthetic_traces};

fn corrupt(rng: &mut SplitMix, input: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    match rng.below(4) {
        0 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = rng.next_u64() as u8;
            }
        }
        1 => bytes.truncate(rng.below(bytes.len() as u64) as usize),
        2 => {
            let at = rng.below(bytes.len() as u64) as usize;
            let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next_u64() as u8).collect();
            bytes.splice(at..at, junk);
        }
        _ => {
            let a = rng.below(bytes.len() as u64) as usize;
            let b = rng.below(bytes.len() as u64) as usize;
            let (lo, hi) = (a.min(b), a.max(b));
            bytes.drain(lo..hi);
        }
    }
    bytes
}

#[test]
fn corrupted_inputs_never_panic() {
    let json = std::fs::read(sample("jaegertracing__jaeger__otel_traces_01.json")).unwrap();
    let jsonl = std::fs::read(sample("jaegertracing__jaeger-ui__otlp2jaeger-multi-in.json.txt")).unwrap();
    let proto = encode_proto(&synthetic_traces(5, 10, 4, 1_700_000_000_000_000_000));
    let framed = frame(&[proto.clone(), proto.clone()]);
    let framed_zstd = frame(&[zstd::encode_all(proto.as_slice(), 1).unwrap()]);
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("json", json.clone()),
        ("jsonl", jsonl),
        ("json.gz", gzip(&json)),
        ("json.zst", zstd::encode_all(json.as_slice(), 1).unwrap()),
        ("binpb", proto),
        ("framed", framed),
        ("framed-zstd", framed_zstd),
    ];
    let strict = DecodeOptions { max_decompressed_bytes: 1 << 20, ..DecodeOptions::default() };
    let lenient = DecodeOptions { keep_going: true, ..strict.clone() };
    let streamed = DecodeOptions { stream_threshold_bytes: 0, stream_block_bytes: 256, ..lenient.clone() };
    let mut rng = SplitMix::new(2026);
    let mut outcomes = [0usize; 2];
    for round in 0..400 {
        for (what, input) in &inputs {
            let bytes = corrupt(&mut rng, input);
            let name = format!("{what}#{round}");
            outcomes[usize::from(decode_bytes(&name, &bytes, &strict).is_ok())] += 1;
            if let Ok(d) = decode_bytes(&name, &bytes, &lenient) {
                let s = &d.stats;
                assert_eq!(s.spans_read, s.spans_written + s.spans_skipped_total(), "{name}");
            }
            let mut sink = |_batches, _raw| true;
            let _ = decode_stream(&name, bytes.as_slice(), &streamed, &mut sink);
        }
    }
    // Both outcomes occur: the corruption is neither always fatal nor always harmless.
    assert!(outcomes[0] > 100 && outcomes[1] > 20, "{outcomes:?}");
}
