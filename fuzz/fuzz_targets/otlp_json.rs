//! The OTLP/JSON fast path against the serde decoder: whatever the fast path takes (a document,
//! or a span alone as a large document's parts are read), it decodes as serde does; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spanlens_fuzz::ingest::otlp_json::{Document, TopValue, decode_span};
use spanlens_fuzz::ingest::otlp_json_fast::{span, trace_document};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Some((fast, len)) = trace_document(text, &|_| None) {
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<TopValue<'_, true>>();
        let Some(Ok(TopValue(docs))) = stream.next() else { panic!("serde refuses what the fast path took") };
        let Ok([Document::Traces(reference)]) = <[Document<'_>; 1]>::try_from(docs) else {
            panic!("serde reads another document than the fast path")
        };
        assert_eq!(format!("{fast:?}"), format!("{reference:?}"));
        assert_eq!(len, stream.byte_offset());
    }
    if let Some(fast) = span(text) {
        let reference = decode_span(text).map(|s| format!("{s:?}")).ok();
        assert_eq!(Some(format!("{fast:?}")), reference);
    }
});
