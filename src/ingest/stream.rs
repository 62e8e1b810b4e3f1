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

use super::compression::{Compression, UTF8_BOM, decoder, limit_error, read_error};
use super::decode::{
    DecodeOptions, Decoded, count_newlines, decode_decompressed, decode_json_blocks, is_json_lines, no_trace_data,
    skip_whole,
};
use super::stats::SourceStats;
use crate::error::DecodeError;

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
    let decoder = match decoder(source, compression, chained) {
        Ok(d) => d,
        Err(e) => return finish_failed(stats, e, opts),
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
            return finish_failed(stats, limit_error(source, compression, cap, None), opts);
        }
        stats.bytes_read = raw_count();
        stats.bytes_decoded = buf.len() as u64;
        let decoded = decode_decompressed(source, &buf, stats.bytes_read == 0, stats, opts, None)?;
        let Decoded { batches, stats } = decoded;
        emit(batches, stats.bytes_read);
        return Ok(stats);
    }

    let window = rayon::current_num_threads().max(1);
    // The byte-order mark counts as decoded but is not part of line 1's text.
    buf.drain(..bom);
    let mut decoded_bytes = bom as u64;
    let mut next_line = 1u64;
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
            let cut = match (more, memchr::memrchr(b'\n', &buf)) {
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
            return finish_partial(stats, parts, limit_error(source, compression, cap, None), opts);
        }
        if blocks.is_empty() {
            break;
        }
        let refs: Vec<&[u8]> = blocks.iter().map(Vec::as_slice).collect();
        let decoded = decode_json_blocks(source, &refs, next_line, true, bom, opts, None)?;
        next_line += refs.par_iter().map(|block| count_newlines(block)).sum::<u64>();
        parts.absorb(decoded.stats);
        if !emit(decoded.batches, raw_count()) {
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
        if let Some(i) = memchr::memchr(b'\n', &buf[before..]) {
            return Ok(before + i + 1);
        }
        if !*more {
            return Ok(buf.len());
        }
    }
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
