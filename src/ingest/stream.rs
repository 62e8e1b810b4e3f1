//! Streaming decode of one large input (or stdin) with bounded memory.
//!
//! The input is read through its decompressor (sniffed from the first bytes, capped like
//! everywhere else). JSON Lines content is cut into blocks at line ends and decoded a window of
//! blocks at a time in parallel, each window's batches handed to `emit` in input order, so only
//! a few blocks are in memory at once. Any other content (one large document, protobuf) cannot
//! be split safely and is read whole, then decoded as [`super::decode_bytes`] would.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::RecordBatch;
use rayon::prelude::*;

use super::compression::{Compression, UTF8_BOM};
use super::decode::{
    DecodeOptions, Decoded, Sink, decode_decompressed, decode_json_chunk, is_json_lines, no_trace_data, skip_whole,
};
use super::stats::SourceStats;
use crate::error::{DecodeError, Position};

/// Receives each window's batches in input order and the raw bytes consumed so far; returns
/// false to stop (the consumer has failed and reports its own error).
pub type Emit<'e> = dyn FnMut(Vec<RecordBatch>, u64) -> bool + 'e;

/// Counts the raw bytes read through it, readable while the decompressor owns the reader.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Read until `buf` holds at least `want` bytes or the input ends. Returns false at the end.
fn fill(reader: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> std::io::Result<bool> {
    let mut chunk = vec![0u8; 1 << 20];
    while buf.len() < want {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(false);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(true)
}

fn read_error(source: &str, compression: Compression, decoded: u64, e: &std::io::Error) -> DecodeError {
    let what = if e.kind() == std::io::ErrorKind::UnexpectedEof { "truncated" } else { "corrupt" };
    let (reason, message) = match compression {
        Compression::None => ("unreadable", format!("read failed after {decoded} bytes: {e}")),
        c => ("corrupt_compression", format!("{what} {} data after {decoded} decompressed bytes: {e}", c.name())),
    };
    DecodeError::new(source, Some(Position::Offset(decoded)), reason, message)
}

/// Decode one input from `raw`, handing batches to `emit` as they are produced.
pub fn decode_stream(
    source: &str,
    raw: impl Read + Send,
    opts: &DecodeOptions,
    emit: &mut Emit<'_>,
) -> Result<SourceStats, DecodeError> {
    let mut stats = SourceStats::new(source);
    let raw_bytes = Arc::new(AtomicU64::new(0));
    let raw_count = || raw_bytes.load(Ordering::Relaxed);
    let mut raw = Counting { inner: raw, count: Arc::clone(&raw_bytes) };
    let mut head = Vec::new();
    if let Err(e) = (&mut raw).take(4).read_to_end(&mut head) {
        return finish_failed(stats, read_error(source, Compression::None, 0, &e), opts);
    }
    let compression = Compression::sniff(&head);
    stats.compression = compression.name();
    let chained = std::io::Cursor::new(head).chain(raw);
    let decoder: Box<dyn Read + Send + '_> = match compression {
        Compression::None => Box::new(chained),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
        Compression::Zstd => match zstd::stream::read::Decoder::new(chained) {
            Ok(d) => Box::new(d),
            Err(e) => {
                let msg = format!("cannot start zstd decoder: {e}");
                return finish_failed(stats, DecodeError::new(source, None, "corrupt_compression", msg), opts);
            }
        },
    };
    let cap = opts.max_decompressed_bytes;
    let mut reader = decoder.take(cap.saturating_add(1));
    let block = opts.stream_block_bytes.max(1);

    let mut buf = Vec::new();
    let mut more = match fill(&mut reader, &mut buf, block) {
        Ok(more) => more,
        Err(e) => return finish_failed(stats, read_error(source, compression, 0, &e), opts),
    };
    let bom = if buf.starts_with(&UTF8_BOM) { UTF8_BOM.len() } else { 0 };
    let first = buf[bom..].iter().find(|b| !b.is_ascii_whitespace()).copied();
    let json_lines = first == Some(b'{') && is_json_lines(&buf[bom..]);
    if !json_lines {
        // Not splittable: read the rest and decode it whole.
        if let Err(e) = reader.read_to_end(&mut buf) {
            return finish_failed(stats, read_error(source, compression, buf.len() as u64, &e), opts);
        }
        if buf.len() as u64 > cap {
            return finish_failed(stats, over_cap(source, compression, cap), opts);
        }
        stats.bytes_read = raw_count();
        stats.bytes_decoded = buf.len() as u64;
        let decoded = decode_decompressed(source, &buf, stats.bytes_read == 0, stats, opts)?;
        let Decoded { batches, stats } = decoded;
        emit(batches, stats.bytes_read);
        return Ok(stats);
    }

    let window = rayon::current_num_threads().max(1);
    let mut decoded_bytes = 0u64;
    let mut next_line = 1u64;
    let mut offset_bom = bom;
    let mut parts = SourceStats::new(source);
    loop {
        // Cut a window of line-aligned blocks out of the buffer, reading more as needed.
        let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(window);
        while blocks.len() < window && (!buf.is_empty() || more) {
            if more && buf.len() < block {
                match fill(&mut reader, &mut buf, block) {
                    Ok(m) => more = m,
                    Err(e) => {
                        let err = read_error(source, compression, decoded_bytes + buf.len() as u64, &e);
                        return finish_partial(stats, parts, err, opts);
                    }
                }
            }
            let cut = match (more, buf.iter().rposition(|b| *b == b'\n')) {
                (false, _) => buf.len(),
                (true, Some(i)) => i + 1,
                // One line longer than a block: keep reading until it ends.
                (true, None) => match continue_line(&mut reader, &mut buf, &mut more) {
                    Ok(cut) => cut,
                    Err(e) => {
                        let err = read_error(source, compression, decoded_bytes + buf.len() as u64, &e);
                        return finish_partial(stats, parts, err, opts);
                    }
                },
            };
            let rest = buf.split_off(cut);
            decoded_bytes += buf.len() as u64;
            blocks.push(std::mem::replace(&mut buf, rest));
        }
        if decoded_bytes > cap {
            return finish_partial(stats, parts, over_cap(source, compression, cap), opts);
        }
        if blocks.is_empty() {
            break;
        }
        let mut starts = Vec::with_capacity(blocks.len());
        for b in &blocks {
            starts.push(next_line);
            next_line += b.iter().filter(|c| **c == b'\n').count() as u64;
        }
        let bom_now = std::mem::take(&mut offset_bom);
        let results: Vec<Result<Decoded, DecodeError>> = blocks
            .par_iter()
            .zip(starts.par_iter())
            .enumerate()
            .map(|(i, (b, line))| {
                let mut sink = Sink::new(source, opts);
                let skip = if i == 0 { bom_now } else { 0 };
                decode_json_chunk(&mut sink, &b[skip..], *line, true, skip)?;
                Ok(sink.finish())
            })
            .collect();
        let mut batches = Vec::new();
        for r in results {
            let d = r?;
            batches.extend(d.batches);
            parts.absorb(d.stats);
        }
        if !emit(batches, raw_count()) {
            break;
        }
    }
    stats.bytes_read = raw_count();
    stats.bytes_decoded = decoded_bytes;
    stats.format = "otlp_json_stream";
    stats.absorb(parts);
    if stats.documents == 0 {
        let err = no_trace_data(source, &stats);
        return skip_whole(stats, err, opts).map(|d| d.stats);
    }
    Ok(stats)
}

/// Read on until the current (overlong) line ends; returns the cut position.
fn continue_line(reader: &mut impl Read, buf: &mut Vec<u8>, more: &mut bool) -> std::io::Result<usize> {
    loop {
        let before = buf.len();
        *more = fill(reader, buf, before + (1 << 20))?;
        if let Some(i) = buf[before..].iter().position(|b| *b == b'\n') {
            return Ok(before + i + 1);
        }
        if !*more {
            return Ok(buf.len());
        }
    }
}

fn over_cap(source: &str, compression: Compression, cap: u64) -> DecodeError {
    DecodeError::new(
        source,
        None,
        "decompression_limit",
        format!(
            "{} data decompresses to more than {}; raise --max-decompressed-size if this input is genuine",
            compression.name(),
            crate::util::human_bytes(cap)
        ),
    )
}

fn finish_failed(stats: SourceStats, err: DecodeError, opts: &DecodeOptions) -> Result<SourceStats, DecodeError> {
    skip_whole(stats, err, opts).map(|d| d.stats)
}

fn finish_partial(
    mut stats: SourceStats,
    parts: SourceStats,
    err: DecodeError,
    opts: &DecodeOptions,
) -> Result<SourceStats, DecodeError> {
    stats.absorb(parts);
    stats.format = "otlp_json_stream";
    finish_failed(stats, err, opts)
}
