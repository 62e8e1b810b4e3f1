//! Why ids are `FixedSizeBinary`: the same random trace ids as `FixedSizeBinary(16)` and as
//! 32-character hex `Utf8`, compared on Arrow memory, zstd Parquet size, and the time DataFusion
//! takes to count distinct ids and to join the column with itself (the parent/child join shape).
//!
//! Run: `cargo bench --bench ids` (sizes are printed once before the timings).

use std::sync::Arc;

use arrow::array::{ArrayRef, FixedSizeBinaryArray, RecordBatch, StringArray};
use arrow::datatypes::{Field, Schema};
use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use parquet::arrow::ArrowWriter;
use spanlens::model::builder::hex;
use spanlens::output::{STORE_ZSTD_LEVEL, writer_properties};
use spanlens::testing::SplitMix;

const ROWS: usize = 1_000_000;

fn batches() -> Vec<(&'static str, RecordBatch)> {
    let mut rng = SplitMix::new(7);
    // Traces of about 8 spans: each id appears several times, as trace ids do.
    let ids: Vec<[u8; 16]> = (0..ROWS / 8)
        .map(|_| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
            id[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
            id
        })
        .collect();
    let column: Vec<[u8; 16]> = (0..ROWS).map(|i| ids[(i * 7919) % ids.len()]).collect();
    let binary: ArrayRef = Arc::new(FixedSizeBinaryArray::try_from_iter(column.iter()).expect("ids"));
    let text: ArrayRef = Arc::new(StringArray::from_iter_values(column.iter().map(|id| hex(id))));
    [("fixed_size_binary", binary), ("hex_utf8", text)]
        .into_iter()
        .map(|(name, array)| {
            let schema = Arc::new(Schema::new(vec![Field::new("id", array.data_type().clone(), false)]));
            (name, RecordBatch::try_new(schema, vec![array]).expect("batch"))
        })
        .collect()
}

fn parquet_size(batch: &RecordBatch) -> usize {
    let mut buf = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buf, batch.schema(), Some(writer_properties(STORE_ZSTD_LEVEL, None, &[])))
            .expect("writer");
    writer.write(batch).expect("write");
    writer.close().expect("close");
    buf.len()
}

fn bench_ids(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("ids");
    group.sample_size(10);
    for (name, batch) in batches() {
        eprintln!(
            "{name}: {} rows, arrow {} bytes, parquet zstd {} bytes",
            batch.num_rows(),
            batch.get_array_memory_size(),
            parquet_size(&batch)
        );
        let ctx = SessionContext::new();
        let table = MemTable::try_new(batch.schema(), vec![vec![batch.clone()]]).expect("table");
        ctx.register_table("t", Arc::new(table)).expect("register");
        for (what, sql) in [
            ("count_distinct", "SELECT count(DISTINCT id) FROM t"),
            ("self_join", "SELECT count(*) FROM t a JOIN (SELECT DISTINCT id FROM t) b ON a.id = b.id"),
        ] {
            group.bench_function(format!("{name}/{what}"), |b| {
                b.iter(|| rt.block_on(async { ctx.sql(sql).await.expect(sql).collect().await.expect(sql) }))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_ids);
criterion_main!(benches);
