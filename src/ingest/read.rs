//! Reading a run's inputs: expanded, read and decoded in parallel windows of whole inputs (or
//! streamed, when large), with a progress bar, and handed in input order to a consumer on
//! another thread. `ingest` (into the store) and the derivation (into the spool) share this.

use std::io::IsTerminal;
use std::sync::mpsc;

use arrow::array::RecordBatch;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::ingest::coalesce::coalesce_batches;
use crate::ingest::decode::{decode_bytes_into, span_builder};
use crate::ingest::files::Input;
use crate::ingest::{DecodeOptions, Decoded, SourceStats, decode_stream};
use crate::model::builder::SpanBatchBuilder;

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style =
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// The stats of an input skipped because it could not be read (`--keep-going`).
fn unreadable(input: &Input, e: &Error) -> SourceStats {
    let mut stats = SourceStats::new(&input.name());
    let msg = format!("{e}: {}", std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_default());
    stats.skip_record("unreadable", || msg);
    stats
}

/// Read and decode one input into `carry`, the span builder its group shares, reading it into
/// `buf`.
fn read_and_decode(
    input: &Input,
    decode: &DecodeOptions,
    carry: &mut SpanBatchBuilder,
    buf: &mut Vec<u8>,
) -> Result<Decoded> {
    match input.read_into(buf) {
        Ok(()) => Ok(decode_bytes_into(&input.name(), buf, decode, carry)?),
        Err(e) if decode.keep_going => Ok(Decoded { batches: Vec::new(), stats: unreadable(input, &e) }),
        Err(e) => Err(e),
    }
}

/// The buffers whole inputs are read into, passed from input to input for one run: reading each
/// input into a fresh allocation of tens of MB cost a page fault per 4 KiB page, about 4% of the
/// CPU time of `metrics` on 1 M spans.
#[derive(Default)]
struct ReadBuffers(std::sync::Mutex<Vec<Vec<u8>>>);

impl ReadBuffers {
    fn take(&self) -> Vec<u8> {
        self.0.lock().ok().and_then(|mut free| free.pop()).unwrap_or_default()
    }

    fn give_back(&self, buf: Vec<u8>) {
        if let Ok(mut free) = self.0.lock() {
            free.push(buf);
        }
    }
}

/// Whole inputs decoded together in one parallel window: at least two per thread, and more
/// while they are small (up to these totals per thread), so that small objects fill batches.
const WINDOW_BYTES_PER_THREAD: u64 = 16 << 20;
const WINDOW_INPUTS_PER_THREAD: usize = 256;

/// Decode inputs in parallel windows, handing batches to the writer in input order. Large
/// inputs and stdin are streamed on their own, with parallelism inside the input.
fn decode_all(
    inputs: &[Input],
    decode: &DecodeOptions,
    bar: &ProgressBar,
    tx: &mpsc::SyncSender<Vec<RecordBatch>>,
) -> Result<Vec<SourceStats>> {
    let threads = rayon::current_num_threads().max(1);
    let full = |count: usize, bytes: u64| {
        count >= threads * WINDOW_INPUTS_PER_THREAD
            || (count >= 2 * threads && bytes >= threads as u64 * WINDOW_BYTES_PER_THREAD)
    };
    let mut sources = Vec::with_capacity(inputs.len());
    let buffers = ReadBuffers::default();
    let mut pending: Vec<(&Input, u64)> = Vec::new();
    let mut pending_bytes = 0u64;
    for input in inputs {
        let size = input.size_hint();
        let streamed = size.is_none_or(|size| size > decode.stream_threshold_bytes);
        if streamed || full(pending.len(), pending_bytes) {
            if !decode_window(&pending, decode, &buffers, bar, tx, &mut sources)? {
                return Ok(sources);
            }
            pending.clear();
            pending_bytes = 0;
        }
        if !streamed {
            pending.push((input, size.unwrap_or(0)));
            pending_bytes += size.unwrap_or(0);
            continue;
        }
        let mut writer_alive = true;
        let mut failed = None;
        let mut seen = 0u64;
        let mut emit = |batches: Vec<RecordBatch>, raw: u64| {
            bar.inc(raw.saturating_sub(seen));
            seen = raw;
            match coalesce_batches(batches, decode.batch_rows) {
                Ok(batches) => writer_alive = tx.send(batches).is_ok(),
                Err(e) => failed = Some(e),
            }
            writer_alive && failed.is_none()
        };
        let stats = match input.open() {
            Ok(reader) => decode_stream(&input.name(), reader, decode, &mut emit)?,
            Err(e) if decode.keep_going => unreadable(input, &e),
            Err(e) => return Err(e),
        };
        if let Some(e) = failed {
            return Err(e);
        }
        sources.push(stats);
        if !writer_alive {
            return Ok(sources);
        }
    }
    decode_window(&pending, decode, &buffers, bar, tx, &mut sources)?;
    Ok(sources)
}

/// Decode whole inputs (with their sizes) in parallel and send their batches in order, small
/// ones merged. Returns false when the writer has stopped (it reports its own error).
fn decode_window(
    inputs: &[(&Input, u64)],
    decode: &DecodeOptions,
    buffers: &ReadBuffers,
    bar: &ProgressBar,
    tx: &mpsc::SyncSender<Vec<RecordBatch>>,
    sources: &mut Vec<SourceStats>,
) -> Result<bool> {
    // Runs of consecutive inputs, a few per thread, each sharing one span builder: small inputs
    // fill batches together instead of each making (and finishing) its own.
    let groups = split_by_bytes(inputs, 2 * rayon::current_num_threads().max(1));
    let results: Vec<Result<(Vec<SourceStats>, Vec<RecordBatch>)>> = groups
        .par_iter()
        .map(|group| {
            let mut builder = span_builder(decode);
            let mut stats = Vec::with_capacity(group.len());
            let mut batches = Vec::new();
            let mut buf = buffers.take();
            for &(input, size) in *group {
                let decoded = read_and_decode(input, decode, &mut builder, &mut buf)?;
                bar.inc(size);
                stats.push(decoded.stats);
                batches.extend(decoded.batches);
            }
            buffers.give_back(buf);
            if !builder.is_empty() {
                batches.push(builder.finish());
            }
            Ok((stats, batches))
        })
        .collect();
    let mut batches = Vec::new();
    for result in results {
        let (stats, group_batches) = result?;
        sources.extend(stats);
        batches.extend(group_batches);
    }
    Ok(batches.is_empty() || tx.send(coalesce_batches(batches, decode.batch_rows)?).is_ok())
}

/// Cut `items` (with their sizes) into at most `parts` runs of consecutive items of about equal
/// total size; every run has at least one item.
fn split_by_bytes<T>(items: &[(T, u64)], parts: usize) -> Vec<&[(T, u64)]> {
    let total: u64 = items.iter().map(|(_, size)| size.max(&1)).sum();
    let target = total.div_ceil(parts.max(1) as u64);
    let mut runs = Vec::with_capacity(parts);
    let (mut start, mut bytes) = (0, 0u64);
    for (i, (_, size)) in items.iter().enumerate() {
        bytes += size.max(&1);
        if bytes >= target {
            runs.push(&items[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < items.len() {
        runs.push(&items[start..]);
    }
    runs
}

/// Decode `inputs` whole into memory: their non-empty batches in input order, and what each
/// input gave (the `sql` and `graph` commands' raw inputs).
pub fn decode_to_memory(
    inputs: Vec<Input>,
    decode: &DecodeOptions,
    quiet: bool,
) -> Result<(Vec<RecordBatch>, Vec<SourceStats>)> {
    decode_into(inputs, decode, quiet, |rx| Ok(rx.into_iter().flatten().filter(|b| b.num_rows() > 0).collect()))
}

/// Decode `inputs` (as [`files::expand`] gives them) on this thread, in parallel windows, while
/// `consume` takes their batches, in input order, on another: the stages of `ingest` and
/// `metrics` share this.
pub fn decode_into<T: Send>(
    inputs: Vec<Input>,
    decode: &DecodeOptions,
    quiet: bool,
    consume: impl FnOnce(mpsc::Receiver<Vec<RecordBatch>>) -> Result<T> + Send,
) -> Result<(T, Vec<SourceStats>)> {
    let total: u64 = inputs.iter().filter_map(Input::size_hint).sum();
    // Objects of s3:// inputs are fetched ahead, many at a time, while earlier inputs decode.
    let objects: Vec<_> =
        inputs.iter().filter_map(|i| if let Input::S3(o) = i { Some(o.clone()) } else { None }).collect();
    if let Some(first) = objects.first() {
        first.source.prefetch(&objects, decode.stream_threshold_bytes);
    }
    let bar = progress_bar(total, quiet);
    let (tx, rx) = mpsc::sync_channel::<Vec<RecordBatch>>(2);
    let result = std::thread::scope(|scope| -> Result<(T, Vec<SourceStats>)> {
        let consumer = scope.spawn(move || consume(rx));
        let decoded = decode_all(&inputs, decode, &bar, &tx);
        drop(tx);
        let consumed = consumer.join().map_err(|_| Error::Config("the batch consumer thread panicked".into()))?;
        // A decode error is the root cause when both fail (the consumer then saw a closed channel).
        let sources = decoded?;
        Ok((consumed?, sources))
    });
    bar.finish_and_clear();
    result
}

#[cfg(test)]
mod tests {
    use super::split_by_bytes;

    #[test]
    fn inputs_split_into_consecutive_runs_of_about_equal_bytes() {
        let sizes = |items: &[(char, u64)], parts| -> Vec<String> {
            split_by_bytes(items, parts).iter().map(|run| run.iter().map(|(c, _)| *c).collect()).collect()
        };
        let small: Vec<(char, u64)> = "abcdefgh".chars().map(|c| (c, 10)).collect();
        assert_eq!(sizes(&small, 4), ["ab", "cd", "ef", "gh"]);
        assert_eq!(sizes(&small, 3), ["abc", "def", "gh"]);
        assert_eq!(sizes(&small, 1), ["abcdefgh"]);
        // A large input makes a run of its own; empty inputs count as one byte.
        let mixed = [('a', 5), ('b', 100), ('c', 0), ('d', 5), ('e', 5)];
        assert_eq!(sizes(&mixed, 4), ["ab", "cde"]);
        assert_eq!(sizes(&mixed, 100), ["a", "b", "cd", "e"]);
        assert!(split_by_bytes::<char>(&[], 4).is_empty());
    }
}
