//! Bounded memory for the derivation: the span columns it reads are held in memory up to a
//! budget; beyond it they are spilled to disk as Arrow IPC files, range-partitioned by the
//! leading hex digit of the trace id, and handed back one partition at a time.
//!
//! A trace lies wholly in one partition, so each partition can be derived on its own, and
//! partitions come back in trace-id order (a partition larger than the budget is split again by
//! the next digit), so the records come out in the same order as from memory. Spans of one
//! partition keep their input order. The files live in a temporary directory that is removed
//! when the spool is dropped.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;

use crate::error::{Error, Result};
use crate::model::schema::TRACE_ID;
use crate::util::leftovers;

/// Partitions per split: one per hex digit of the trace id.
const FANOUT: usize = 16;

/// Hex digits of a trace id: a partition split this deep holds one trace id.
const MAX_DEPTH: usize = 32;

/// Rows gathered for a partition before they are written as one IPC batch.
const WRITE_ROWS: usize = 8 * 1024;

/// Where and when to spill.
#[derive(Debug, Clone)]
pub struct SpillOptions {
    /// Span data held in memory beyond this many bytes is spilled.
    pub threshold_bytes: usize,
    /// Directory for the spill files (a fresh subdirectory is made in it); the system temp
    /// directory when `None`.
    pub temp_dir: Option<PathBuf>,
}

impl Default for SpillOptions {
    fn default() -> Self {
        SpillOptions { threshold_bytes: 1 << 30, temp_dir: None }
    }
}

/// The name prefix of spill directories, followed by the process id.
pub const SPILL_PREFIX: &str = "spanlens-spill-";

/// The name prefix of the scratch directory of a run that writes no output.
pub const SCRATCH_PREFIX: &str = ".spanlens-scratch-";

/// Remove the spill and scratch directories in `temp_dir` (default: the system's) left by
/// processes that no longer exist (a run killed with `kill -9`).
pub fn remove_dead_leftovers(temp_dir: Option<&Path>) {
    let parent = temp_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    leftovers::remove_dead(&parent, |name| {
        leftovers::leftover_pid(name, SPILL_PREFIX).or_else(|| leftovers::leftover_pid(name, SCRATCH_PREFIX))
    });
}

/// A new directory `<prefix><pid>-<random>` in `temp_dir` (default: the system's), removed when
/// dropped.
pub fn scratch_dir(prefix: &str, temp_dir: Option<&Path>) -> Result<tempfile::TempDir> {
    let parent = temp_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    let own = format!("{prefix}{}-", std::process::id());
    tempfile::Builder::new().prefix(&own).tempdir_in(&parent).map_err(|e| Error::output(&parent, e))
}

/// What spilling did, for `run_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpillStats {
    /// Span rows written to spill files (rows split again are counted again).
    pub rows: u64,
    /// Bytes written to spill files.
    pub bytes: u64,
    /// Partitions handed to the derivation.
    pub partitions: u64,
}

/// A written spill file.
struct SpillFile {
    path: PathBuf,
    bytes: u64,
    rows: u64,
}

/// One spill file being written.
struct PartWriter {
    path: PathBuf,
    writer: Option<StreamWriter<BufWriter<File>>>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows: u64,
}

impl PartWriter {
    fn new(path: PathBuf) -> Self {
        PartWriter { path, writer: None, pending: Vec::new(), pending_rows: 0, rows: 0 }
    }

    fn push(&mut self, batch: RecordBatch) -> Result<()> {
        self.pending_rows += batch.num_rows();
        self.pending.push(batch);
        if self.pending_rows >= WRITE_ROWS { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<()> {
        let Some(first) = self.pending.first() else { return Ok(()) };
        let schema = first.schema();
        let batch = concat_batches(&schema, &self.pending)?;
        self.pending.clear();
        self.pending_rows = 0;
        let writer = match &mut self.writer {
            Some(w) => w,
            None => {
                let file = File::create(&self.path).map_err(|e| Error::output(&self.path, e))?;
                let writer = StreamWriter::try_new(BufWriter::new(file), &schema);
                self.writer.insert(writer.map_err(|e| Error::output(&self.path, e))?)
            }
        };
        writer.write(&batch).map_err(|e| Error::output(&self.path, e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Flush and close (0 rows: no file was made).
    fn close(mut self) -> Result<SpillFile> {
        self.flush()?;
        let Some(mut writer) = self.writer.take() else { return Ok(SpillFile { path: self.path, bytes: 0, rows: 0 }) };
        writer.finish().map_err(|e| Error::output(&self.path, e))?;
        drop(writer);
        let bytes = std::fs::metadata(&self.path).map_err(|e| Error::output(&self.path, e))?.len();
        Ok(SpillFile { path: self.path, bytes, rows: self.rows })
    }
}

/// Range-partitions batches by one hex digit of the trace id into [`FANOUT`] files.
struct Splitter {
    depth: usize,
    parts: Vec<PartWriter>,
    /// The first trace id seen, and whether any other one was.
    first: Option<Vec<u8>>,
    mixed: bool,
}

impl Splitter {
    fn new(dir: &Path, prefix: &str, depth: usize) -> Self {
        let parts = (0..FANOUT).map(|p| PartWriter::new(dir.join(format!("{prefix}{p:x}")))).collect();
        Splitter { depth, parts, first: None, mixed: false }
    }

    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let ids = batch
            .column_by_name(TRACE_ID)
            .and_then(|c| c.as_fixed_size_binary_opt())
            .ok_or_else(|| Error::Config(format!("spilled span batches need a {TRACE_ID} column")))?;
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); FANOUT];
        for i in 0..ids.len() {
            let id = if ids.is_valid(i) { ids.value(i) } else { &[] };
            match &self.first {
                None => self.first = Some(id.to_vec()),
                Some(first) => self.mixed |= first.as_slice() != id,
            }
            rows[hex_digit(id, self.depth)].push(i as u32);
        }
        for (part, rows) in self.parts.iter_mut().zip(rows) {
            if rows.len() == batch.num_rows() {
                part.push(batch.clone())?;
            } else if !rows.is_empty() {
                part.push(take_record_batch(batch, &UInt32Array::from(rows))?)?;
            }
        }
        Ok(())
    }

    /// Close every file, in digit order.
    fn close(self) -> Result<Vec<SpillFile>> {
        self.parts.into_iter().map(PartWriter::close).collect()
    }
}

/// Digit `depth` (0 = most significant) of an id read as hex.
fn hex_digit(id: &[u8], depth: usize) -> usize {
    let byte = id.get(depth / 2).copied().unwrap_or(0);
    usize::from(if depth.is_multiple_of(2) { byte >> 4 } else { byte & 0x0f })
}

/// Span batches held for the derivation, in memory or spilled.
pub struct SpanSpool {
    opts: SpillOptions,
    /// A spilled partition is split again only when larger than this, and at most this deep.
    min_split_bytes: usize,
    max_depth: usize,
    held: Vec<RecordBatch>,
    held_bytes: usize,
    spill: Option<(tempfile::TempDir, Splitter)>,
    stats: SpillStats,
}

impl SpanSpool {
    /// A spool that spills beyond `opts.threshold_bytes`; what killed runs left in its temp
    /// directory is removed first.
    pub fn new(opts: SpillOptions) -> Self {
        remove_dead_leftovers(opts.temp_dir.as_deref());
        SpanSpool {
            opts,
            min_split_bytes: 0,
            max_depth: MAX_DEPTH,
            held: Vec::new(),
            held_bytes: 0,
            spill: None,
            stats: SpillStats::default(),
        }
    }

    /// Split spilled partitions again only while they are larger than `min_bytes` as well as
    /// the threshold, and at most `max_depth` hex digits deep: for a consumer whose cost per
    /// partition matters more than a partition's size (the service graph's queries).
    pub fn with_split_limits(mut self, min_bytes: usize, max_depth: usize) -> Self {
        self.min_split_bytes = min_bytes;
        self.max_depth = max_depth.clamp(1, MAX_DEPTH);
        self
    }

    /// Whether the spans went to disk.
    pub fn spilled(&self) -> bool {
        self.spill.is_some()
    }

    /// Add a batch of spans (the derivation's columns, with `trace_id`).
    pub fn push(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if let Some((_, splitter)) = &mut self.spill {
            return splitter.push(&batch);
        }
        self.held_bytes += batch.get_array_memory_size();
        self.held.push(batch);
        if self.held_bytes > self.opts.threshold_bytes {
            self.start_spilling()?;
        }
        Ok(())
    }

    fn start_spilling(&mut self) -> Result<()> {
        let dir = scratch_dir(SPILL_PREFIX, self.opts.temp_dir.as_deref())?;
        let mut splitter = Splitter::new(dir.path(), "p", 0);
        for batch in std::mem::take(&mut self.held) {
            splitter.push(&batch)?;
        }
        self.held_bytes = 0;
        self.spill = Some((dir, splitter));
        Ok(())
    }

    /// Hand the spans to `derive` one partition at a time, in trace-id order (all at once when
    /// nothing was spilled). Each call gets whole traces.
    pub fn drain(mut self, mut derive: impl FnMut(Vec<RecordBatch>) -> Result<()>) -> Result<SpillStats> {
        let Some((dir, splitter)) = self.spill.take() else {
            self.stats.partitions = 1;
            derive(std::mem::take(&mut self.held))?;
            return Ok(self.stats);
        };
        // (file, the digit its partitions split on next), lowest digits on top.
        let mut stack: Vec<(SpillFile, usize)> = Vec::new();
        push_parts(&mut stack, splitter.close()?, 1, &mut self.stats);
        while let Some((file, depth)) = stack.pop() {
            let small = file.bytes as usize <= self.opts.threshold_bytes.max(self.min_split_bytes);
            if small || depth >= self.max_depth {
                let batches = read_spill(&file.path)?;
                let _ = std::fs::remove_file(&file.path);
                self.stats.partitions += 1;
                derive(batches)?;
                continue;
            }
            let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mut splitter = Splitter::new(dir.path(), &format!("{name}-"), depth);
            for batch in open_spill(&file.path)? {
                splitter.push(&batch.map_err(|e| Error::input(&file.path, e))?)?;
            }
            let _ = std::fs::remove_file(&file.path);
            // One trace cannot be split: derive it whatever its size.
            let next = if splitter.mixed { depth + 1 } else { MAX_DEPTH };
            push_parts(&mut stack, splitter.close()?, next, &mut self.stats);
        }
        Ok(self.stats)
    }
}

/// Queue closed partitions so that the lowest digit is popped first; empty ones are dropped.
fn push_parts(stack: &mut Vec<(SpillFile, usize)>, parts: Vec<SpillFile>, depth: usize, stats: &mut SpillStats) {
    for file in parts.into_iter().rev() {
        if file.rows > 0 {
            stats.rows += file.rows;
            stats.bytes += file.bytes;
            stack.push((file, depth));
        }
    }
}

fn open_spill(path: &Path) -> Result<StreamReader<BufReader<File>>> {
    let file = File::open(path).map_err(|e| Error::input(path, e))?;
    StreamReader::try_new(BufReader::new(file), None).map_err(|e| Error::input(path, e))
}

fn read_spill(path: &Path) -> Result<Vec<RecordBatch>> {
    open_spill(path)?.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| Error::input(path, e))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{FixedSizeBinaryArray, UInt32Array};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// A batch of (trace_id, n) rows.
    fn batch(rows: &[([u8; 16], u32)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(TRACE_ID, DataType::FixedSizeBinary(16), false),
            Field::new("n", DataType::UInt32, false),
        ]));
        let ids = FixedSizeBinaryArray::try_from_iter(rows.iter().map(|r| r.0)).unwrap();
        let n = UInt32Array::from(rows.iter().map(|r| r.1).collect::<Vec<_>>());
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(n)]).unwrap()
    }

    type Rows = Vec<([u8; 16], u32)>;

    fn rows_of(batches: &[RecordBatch]) -> Rows {
        let mut out = Vec::new();
        for b in batches {
            let ids = b.column(0).as_fixed_size_binary();
            let n = b.column(1).as_primitive::<arrow::datatypes::UInt32Type>();
            for i in 0..b.num_rows() {
                out.push((ids.value(i).try_into().unwrap(), n.value(i)));
            }
        }
        out
    }

    /// 3,000 spans of 300 traces with spread-out ids, plus one big trace, interleaved.
    fn input() -> Rows {
        let mut rng = crate::util::SplitMix::new(7);
        let ids: Vec<[u8; 16]> = (0..300)
            .map(|_| {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
                id[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
                id
            })
            .collect();
        let big = [0x5a; 16];
        (0..3000u32).map(|n| (if n % 4 == 0 { big } else { ids[n as usize % 300] }, n)).collect()
    }

    fn drain_all(spool: SpanSpool) -> (Vec<Rows>, SpillStats) {
        let mut parts = Vec::new();
        let stats = spool
            .drain(|batches| {
                parts.push(rows_of(&batches));
                Ok(())
            })
            .unwrap();
        (parts, stats)
    }

    fn spool_with(threshold_bytes: usize, dir: &Path) -> SpanSpool {
        let mut spool = SpanSpool::new(SpillOptions { threshold_bytes, temp_dir: Some(dir.to_path_buf()) });
        for chunk in input().chunks(256) {
            spool.push(batch(chunk)).unwrap();
        }
        spool
    }

    #[test]
    fn within_the_threshold_everything_is_one_partition_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool_with(usize::MAX, dir.path());
        assert!(!spool.spilled());
        let (parts, stats) = drain_all(spool);
        assert_eq!(parts, vec![input()]);
        assert_eq!(stats, SpillStats { rows: 0, bytes: 0, partitions: 1 });
    }

    #[test]
    fn spilled_partitions_hold_whole_traces_in_id_order_and_input_order() {
        let dir = tempfile::tempdir().unwrap();
        // 8 KiB: the first split (16 partitions) is still too big, so partitions split again,
        // and the big trace ends up alone.
        let spool = spool_with(8 << 10, dir.path());
        assert!(spool.spilled());
        let (parts, stats) = drain_all(spool);
        assert!(parts.len() > FANOUT, "partitions split again: {}", parts.len());
        assert_eq!(stats.partitions as usize, parts.len());
        assert!(stats.rows > 3000 && stats.bytes > 0, "{stats:?}");

        // Every row once; each trace in one partition; partitions in trace-id order.
        let mut all: Vec<_> = parts.iter().flatten().copied().collect();
        all.sort_by_key(|r| r.1);
        assert_eq!(all, input());
        for pair in parts.windows(2) {
            let last = pair[0].iter().map(|r| r.0).max().unwrap();
            let first = pair[1].iter().map(|r| r.0).min().unwrap();
            assert!(last < first, "partitions out of order or sharing a trace");
        }
        // Within a partition, the input order.
        for part in &parts {
            assert!(part.windows(2).all(|w| w[0].1 < w[1].1));
        }
        // The big trace (750 spans, larger than the threshold) is a partition of its own.
        assert!(parts.iter().any(|p| p.len() == 750 && p.iter().all(|r| r.0 == [0x5a; 16])));
        // The spill directory is gone with the spool.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
