//! The derivation as SQL: `derive_signals` grouped by trace, unnested (the embedded query
//! signals_from_spans), gives the fast path's signals table on every sample export and on the
//! generated workload, row for row in the fast path's order, and from those signals `metrics`
//! computes byte-identical metric tables.

mod common;

use std::path::Path;

use common::{fixture, spanlens};

/// `spanlens sql INPUT -e STATEMENT` as CSV, or as Parquet into `out`.
fn sql(input: &Path, statement: &str, out: Option<&Path>) -> String {
    let mut cmd = spanlens();
    cmd.arg("sql").arg(input).args(["-e", statement]);
    match out {
        Some(file) => cmd.args(["--format", "parquet", "--out"]).arg(file),
        None => cmd.args(["--format", "csv"]),
    };
    let run = cmd.assert().success();
    String::from_utf8(run.get_output().stdout.clone()).unwrap()
}

const IN_FAST_PATH_ORDER: &str = "SELECT * FROM signals_from_spans ORDER BY trace_id, span_id, record_type DESC";

/// The SQL path's signals equal the fast path's, in order; the metric tables `metrics` computes
/// from each are the same bytes.
fn check(input: &Path, dir: &Path) {
    let fast = sql(input, "SELECT * FROM signals", None);
    let by_sql = sql(input, IN_FAST_PATH_ORDER, None);
    assert!(fast.lines().count() > 1, "{}: no records", input.display());
    assert_eq!(by_sql, fast, "{}: signals differ", input.display());

    let (fast_out, sql_out) = (dir.join("fast"), dir.join("sql"));
    spanlens().arg("metrics").arg(input).arg("--out").arg(&fast_out).arg("--quiet").assert().success();
    std::fs::create_dir_all(&sql_out).unwrap();
    sql(input, IN_FAST_PATH_ORDER, Some(&sql_out.join("signals.parquet")));
    std::fs::copy(fast_out.join("run_info.parquet"), sql_out.join("run_info.parquet")).unwrap();
    let (from_fast, from_sql) = (dir.join("m-fast"), dir.join("m-sql"));
    for (from, to) in [(&fast_out, &from_fast), (&sql_out, &from_sql)] {
        spanlens().arg("metrics").arg(from).arg("--out").arg(to).arg("--quiet").assert().success();
    }
    for table in ["service_metrics", "operation_metrics", "dependency_metrics"] {
        let file = format!("{table}.parquet");
        let (a, b) = (std::fs::read(from_fast.join(&file)).unwrap(), std::fs::read(from_sql.join(&file)).unwrap());
        assert!(a == b, "{}: {table} differs", input.display());
        // And the same as the fast path's own run.
        assert!(a == std::fs::read(fast_out.join(&file)).unwrap(), "{}: {table} differs from the run", input.display());
    }
}

#[test]
fn derive_signals_gives_the_fast_paths_records_on_every_sample() {
    let samples = fixture("otlp-samples");
    let mut inputs: Vec<_> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 8, "{inputs:?}");
    for input in inputs {
        let dir = tempfile::tempdir().unwrap();
        // A sample without records (no server or client spans) has nothing to compare.
        if sql(&input, "SELECT count(*) AS n FROM signals", None) == "n\n0\n" {
            continue;
        }
        check(&input, dir.path());
    }
}

#[test]
fn derive_signals_gives_the_fast_paths_records_on_the_generated_workload() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    spanlens().args(["gen", "--spans", "30000", "--quiet", "--out"]).arg(&data).assert().success();
    check(&data, dir.path());
    // And over a span store of the same spans.
    let store = dir.path().join("store");
    spanlens().arg("ingest").arg(&data).arg("--out").arg(&store).arg("--quiet").assert().success();
    let by_sql = sql(&store, IN_FAST_PATH_ORDER, None);
    assert_eq!(by_sql, sql(&data, "SELECT * FROM signals", None));
}

/// Grouped by something other than the trace alone, each group is derived on its own spans, as
/// one group of its own would be: the records of (trace, kind) groups, derived together, equal
/// those of each group's spans selected and derived alone.
#[test]
fn groups_that_split_traces_are_derived_group_by_group() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    spanlens().args(["gen", "--traces", "40", "--quiet", "--out"]).arg(&data).assert().success();
    let call = "derive_signals(trace_id, span_id, parent_span_id, flags, trace_state, name, kind, end_time, \
                duration_ns, status_code, service_name, scope_name, attributes, resource_attributes)";
    let records = |filter: &str, group: &str| {
        let k = if group.contains("kind") { "arrow_cast(kind, 'Utf8')" } else { "'all'" };
        format!(
            "SELECT t, k, r['record_type'] AS rt, r['operation'] AS op, r['remote_service'] AS rs, r['ordinal'] AS o \
             FROM (SELECT id_to_hex(trace_id) AS t, {k} AS k, unnest({call}) AS r \
                   FROM spans_for_signals {filter} GROUP BY {group}) ORDER BY t, k, o"
        )
    };
    let together = sql(&data, &records("", "trace_id, kind"), None);
    let groups: Vec<String> = sql(
        &data,
        "SELECT DISTINCT id_to_hex(trace_id) || '/' || arrow_cast(kind, 'Utf8') \
                                          FROM spans WHERE kind IN ('SERVER', 'CLIENT') ORDER BY 1 LIMIT 6",
        None,
    )
    .lines()
    .skip(1)
    .map(String::from)
    .collect();
    assert_eq!(groups.len(), 6);
    for g in groups {
        let (t, k) = g.split_once('/').unwrap();
        let filter = format!("WHERE id_to_hex(trace_id) = '{t}' AND arrow_cast(kind, 'Utf8') = '{k}'");
        let alone = sql(&data, &records(&filter, "trace_id, kind"), None);
        let rows: Vec<&str> = alone.lines().skip(1).collect();
        assert!(!rows.is_empty(), "{g}: no records");
        for row in rows {
            assert!(together.lines().any(|l| l == row), "{g}: {row} missing from the grouped run");
        }
    }
    // A CLIENT span's group lacks the server span its operation propagates from: the records
    // differ from the whole traces', so the grouped run did not derive whole traces.
    let without_kind = |text: &str| -> std::collections::BTreeSet<String> {
        text.lines()
            .skip(1)
            .map(|l| l.split(',').enumerate().filter(|(i, _)| *i != 1).map(|(_, f)| f).collect())
            .collect()
    };
    let whole = sql(&data, &records("", "trace_id"), None);
    assert_ne!(without_kind(&whole), without_kind(&together));
}
