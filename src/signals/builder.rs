//! The Arrow builders of the `signals` table, rows appended in runs.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, FixedSizeBinaryBuilder, Float64Builder, Int64Builder, RecordBatch, StringDictionaryBuilder,
    TimestampNanosecondBuilder,
};
use arrow::datatypes::Int32Type;
use rayon::prelude::*;

use crate::derive::classify::latency_ms;
use crate::error::Result;

use super::*;

/// Arrow builders of the signals table.
pub(crate) struct SignalsBuilder {
    pub(crate) record_type: StringDictionaryBuilder<Int32Type>,
    pub(crate) dims: Vec<StringDictionaryBuilder<Int32Type>>,
    pub(crate) latency: Float64Builder,
    pub(crate) duration: Int64Builder,
    pub(crate) error: Int64Builder,
    pub(crate) fault: Int64Builder,
    pub(crate) adjusted_count: Int64Builder,
    pub(crate) timestamp: TimestampNanosecondBuilder,
    pub(crate) trace_id: FixedSizeBinaryBuilder,
    pub(crate) span_id: FixedSizeBinaryBuilder,
}

impl SignalsBuilder {
    pub(crate) fn new() -> Self {
        SignalsBuilder {
            record_type: StringDictionaryBuilder::new(),
            dims: DIMENSIONS.iter().map(|_| StringDictionaryBuilder::new()).collect(),
            latency: Float64Builder::new(),
            duration: Int64Builder::new(),
            error: Int64Builder::new(),
            fault: Int64Builder::new(),
            adjusted_count: Int64Builder::new(),
            timestamp: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            trace_id: FixedSizeBinaryBuilder::new(16),
            span_id: FixedSizeBinaryBuilder::new(8),
        }
    }

    /// Append `rows` in order. The dimension columns (a dictionary lookup per value, most of
    /// the work) are built in parallel, one rayon task per column; the rows are the same as
    /// appending them one by one.
    pub(crate) fn append(&mut self, rows: &[&Row]) -> Result<()> {
        let SignalsBuilder {
            record_type,
            dims,
            latency,
            duration,
            error,
            fault,
            adjusted_count,
            timestamp,
            trace_id,
            span_id,
        } = self;
        let (_, fixed) = rayon::join(
            || dims.par_iter_mut().enumerate().for_each(|(d, b)| append_runs(b, rows.iter().map(|r| r.dimension(d)))),
            || -> Result<()> {
                append_runs(
                    record_type,
                    rows.iter().map(|r| Some(if r.dependency { "dependency" } else { "service" })),
                );
                for r in rows {
                    latency.append_value(latency_ms(r.duration_ns));
                    duration.append_value(r.duration_ns);
                    error.append_value(i64::from(r.error));
                    fault.append_value(i64::from(r.fault));
                    adjusted_count.append_value(r.adjusted_count);
                    timestamp.append_value(r.end_time);
                    trace_id.append_value(r.trace_id)?;
                    span_id.append_value(r.span_id)?;
                }
                Ok(())
            },
        );
        fixed
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![Arc::new(self.record_type.finish())];
        columns.extend(self.dims.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend([
            Arc::new(self.latency.finish()) as ArrayRef,
            Arc::new(self.duration.finish()),
            Arc::new(self.error.finish()),
            Arc::new(self.fault.finish()),
            Arc::new(self.adjusted_count.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
        ]);
        Ok(RecordBatch::try_new(signals_schema(), columns)?)
    }
}

/// Append `values` to `b` in order. Consecutive records often share a value (those of one
/// resource or operation): one lookup per run of equal values.
pub(crate) fn append_runs<'v>(
    b: &mut StringDictionaryBuilder<Int32Type>,
    mut values: impl Iterator<Item = Option<&'v str>>,
) {
    let Some(mut run) = values.next() else { return };
    let mut n = 1;
    for v in values {
        if v == run {
            n += 1;
        } else {
            append_run(b, run, n);
            (run, n) = (v, 1);
        }
    }
    append_run(b, run, n);
}

pub(crate) fn append_run(b: &mut StringDictionaryBuilder<Int32Type>, value: Option<&str>, n: usize) {
    match value {
        Some(v) => b.append_values(v, n),
        None => b.append_nulls(n),
    }
}
