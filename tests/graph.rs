//! `spanlens graph`: the trace-stitched edges of the OpenTelemetry Demo capture equal an
//! independent pairing of its raw JSON; every pairing rule (parent, link, same service, each
//! virtual node) counted exactly on a synthetic trace set; DOT rendered by Graphviz, Mermaid and
//! JSON shapes; the same tables from raw input and from a span store; the `sql` views.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use common::{sample, spanlens};
use serde_json::{Value, json};

const DEMO: &str = "ymtdzzz__otel-tui__test_data.json";

/// Run `spanlens graph ARGS`; stdout. It must succeed.
fn graph(args: &[&str]) -> String {
    let out = spanlens().arg("graph").args(args).output().unwrap();
    assert!(out.status.success(), "spanlens graph {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn text(b: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let c = arrow::compute::cast(b.column_by_name(name).unwrap(), &arrow::datatypes::DataType::Utf8).unwrap();
    let c = c.as_string::<i32>();
    c.is_valid(row).then(|| c.value(row).to_string())
}

fn int(b: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let c = b.column_by_name(name).unwrap().as_primitive::<Int64Type>();
    c.is_valid(row).then(|| c.value(row))
}

fn float(b: &RecordBatch, name: &str, row: usize) -> Option<f64> {
    let c = b.column_by_name(name).unwrap().as_primitive::<Float64Type>();
    c.is_valid(row).then(|| c.value(row))
}

/// An edge: client, server, connection type, virtual side.
type EdgeKey = (String, String, String, Option<String>);

/// The whole-window edges of a `service_graph.parquet`: (client, server, type, virtual) → row.
fn window_edges(b: &RecordBatch) -> BTreeMap<EdgeKey, usize> {
    (0..b.num_rows())
        .filter(|&r| b.column_by_name("bucket_start").unwrap().is_null(r))
        .map(|r| {
            let key = (
                text(b, "client", r).unwrap(),
                text(b, "server", r).unwrap(),
                text(b, "connection_type", r).unwrap(),
                text(b, "virtual", r),
            );
            (key, r)
        })
        .collect()
}

fn attr<'a>(span: &'a Value, keys: &[&str]) -> Option<&'a str> {
    let attrs = span["attributes"].as_array()?;
    keys.iter().find_map(|k| attrs.iter().find(|a| a["key"] == *k).and_then(|a| a["value"]["stringValue"].as_str()))
}

/// The demo capture's edges counted from its raw JSON, independently of spanlens: client and
/// server spans paired by parent id within a trace, unpaired clients named by their peer
/// attributes, servers whose parent is absent called by `user`.
fn independent_edges(path: &Path) -> BTreeMap<(String, String, Option<&'static str>), u64> {
    struct Span {
        service: String,
        kind: i64,
        parent: String,
        peer: Option<String>,
    }
    let mut spans: HashMap<(String, String), Span> = HashMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines().filter(|l| !l.trim().is_empty()) {
        let doc: Value = serde_json::from_str(line).unwrap();
        for rs in doc["resourceSpans"].as_array().into_iter().flatten() {
            let service = rs["resource"]["attributes"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["key"] == "service.name"))
                .and_then(|a| a["value"]["stringValue"].as_str())
                .filter(|s| !s.starts_with("unknown_service"))
                .unwrap_or("UnknownService")
                .to_string();
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for sp in ss["spans"].as_array().into_iter().flatten() {
                    let peer = attr(sp, &["peer.service"])
                        .or(attr(sp, &["db.namespace", "db.name"]))
                        .or(attr(sp, &["db.system.name", "db.system"]))
                        .or(attr(sp, &["messaging.destination.name", "messaging.destination"]))
                        .or(attr(sp, &["server.address", "net.peer.name"]))
                        .map(str::to_string);
                    let key =
                        (sp["traceId"].as_str().unwrap().to_lowercase(), sp["spanId"].as_str().unwrap().to_lowercase());
                    let parent = sp["parentSpanId"].as_str().unwrap_or("").to_lowercase();
                    let kind = sp["kind"].as_i64().unwrap_or(0);
                    spans.insert(key, Span { service: service.clone(), kind, parent, peer });
                }
            }
        }
    }
    let (server, client) = (|k: i64| k == 2 || k == 5, |k: i64| k == 3 || k == 4);
    let mut edges = BTreeMap::new();
    let mut paired_clients = HashSet::new();
    for ((trace, _), s) in spans.iter().filter(|(_, s)| server(s.kind)) {
        match spans.get(&(trace.clone(), s.parent.clone())) {
            Some(c) if client(c.kind) => {
                paired_clients.insert((trace.clone(), s.parent.clone()));
                if c.service != s.service {
                    *edges.entry((c.service.clone(), s.service.clone(), None)).or_default() += 1;
                }
            }
            Some(_) => {}
            None => *edges.entry(("user".to_string(), s.service.clone(), Some("client"))).or_default() += 1,
        }
    }
    for (key, c) in spans.iter().filter(|(_, s)| client(s.kind)) {
        if !paired_clients.contains(key) {
            let peer = c.peer.clone().unwrap_or_else(|| "unknown".into());
            *edges.entry((c.service.clone(), peer, Some("server"))).or_default() += 1;
        }
    }
    edges
}

#[test]
fn demo_edges_equal_an_independent_pairing_of_the_raw_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g");
    let input = sample(DEMO);
    graph(&[input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    let b = read_parquet(&out.join("service_graph.parquet"));
    let mut got: BTreeMap<(String, String, Option<&'static str>), u64> = BTreeMap::new();
    for ((client, server, _, side), r) in window_edges(&b) {
        let side = side.map(|s| if s == "client" { "client" } else { "server" });
        *got.entry((client, server, side)).or_default() += int(&b, "requests", r).unwrap() as u64;
    }
    let want = independent_edges(&input);
    assert_eq!(got, want);
    // The pairs the Application Signals map names otherwise.
    assert_eq!(want[&("frontend".into(), "productcatalogservice".into(), None)], 36);
    assert_eq!(want[&("frontend-proxy".into(), "frontend".into(), None)], 75);
    // Per-bucket rows add up to the window's.
    let bucket_total: i64 = (0..b.num_rows())
        .filter(|&r| b.column_by_name("bucket_start").unwrap().is_valid(r))
        .filter_map(|r| int(&b, "requests", r))
        .sum();
    assert_eq!(bucket_total as u64, want.values().sum::<u64>());
    // Nodes: every end of an edge, the `user` node virtual.
    let n = read_parquet(&out.join("service_graph_nodes.parquet"));
    let names: Vec<String> = (0..n.num_rows()).map(|r| text(&n, "node", r).unwrap()).collect();
    let mut ends: Vec<String> = want.keys().flat_map(|(c, s, _)| [c.clone(), s.clone()]).collect();
    ends.sort();
    ends.dedup();
    assert_eq!(names, ends);
    let user = names.iter().position(|n| n == "user").unwrap();
    assert_eq!(text(&n, "virtual", user).as_deref(), Some("true"));
}

/// An OTLP/JSON span.
fn span(trace: u8, id: u8, parent: Option<u8>, kind: i64, start_ms: u64, end_ms: u64, attrs: Value) -> Value {
    let base = 1_764_000_000_000u64; // 2025-11-24T16:00:00Z, in ms
    let mut s = json!({
        "traceId": format!("{trace:032x}"),
        "spanId": format!("{id:016x}"),
        "name": format!("span-{id}"),
        "kind": kind,
        "startTimeUnixNano": ((base + start_ms) * 1_000_000).to_string(),
        "endTimeUnixNano": ((base + end_ms) * 1_000_000).to_string(),
        "attributes": attrs,
    });
    if let Some(p) = parent {
        s["parentSpanId"] = json!(format!("{p:016x}"));
    }
    s
}

fn kv(key: &str, value: Value) -> Value {
    match value {
        Value::Number(n) => json!({"key": key, "value": {"intValue": n.to_string()}}),
        v => json!({"key": key, "value": {"stringValue": v}}),
    }
}

fn resource(service: &str, spans: Vec<Value>) -> Value {
    json!({"resource": {"attributes": [kv("service.name", json!(service))]}, "scopeSpans": [{"spans": spans}]})
}

const SERVER: i64 = 2;
const CLIENT: i64 = 3;
const PRODUCER: i64 = 4;
const CONSUMER: i64 = 5;

/// Every pairing rule once: a paired HTTP call with a server fault, a call within one service, a
/// producer and its consumer by parent and by link, unpaired clients named by peer.service,
/// db.system and nothing, a root server, a server whose parent is absent, and a consumer whose
/// link points nowhere.
fn synthetic() -> Value {
    let http =
        |code: i64| json!([kv("http.request.method", json!("GET")), kv("http.response.status_code", json!(code))]);
    let link = |trace: u8, id: u8| json!({"traceId": format!("{trace:032x}"), "spanId": format!("{id:016x}")});
    let mut consumer_linked = span(3, 2, None, CONSUMER, 50, 60, json!([kv("messaging.system", json!("kafka"))]));
    consumer_linked["links"] = json!([link(2, 1)]);
    let mut consumer_lost = span(4, 2, None, CONSUMER, 50, 60, json!([kv("messaging.system", json!("kafka"))]));
    consumer_lost["links"] = json!([link(9, 9)]);
    json!({"resourceSpans": [
        resource("web", vec![
            span(1, 1, None, SERVER, 0, 200, http(200)),          // root server: user → web
            span(1, 2, Some(1), CLIENT, 10, 110, http(503)),      // → api, paired
            span(1, 3, Some(1), CLIENT, 120, 130, json!([kv("peer.service", json!("payments"))])),
            span(1, 4, Some(1), CLIENT, 130, 140, json!([kv("db.system", json!("postgresql"))])),
            span(1, 5, Some(1), CLIENT, 140, 150, json!([])),     // unknown
            span(1, 6, Some(1), CLIENT, 150, 160, http(200)),     // → web itself: no edge
            span(1, 7, Some(6), SERVER, 152, 158, http(200)),
        ]),
        resource("api", vec![
            span(1, 10, Some(2), SERVER, 20, 100, http(503)),     // 80 ms of the client's 100
            span(5, 1, Some(77), SERVER, 0, 10, http(404)),       // parent absent: user → api
        ]),
        resource("queue-writer", vec![
            span(2, 1, None, PRODUCER, 0, 5, json!([kv("messaging.system", json!("kafka"))])),
            span(6, 1, None, PRODUCER, 0, 5, json!([kv("messaging.system", json!("kafka"))])),
        ]),
        resource("queue-reader", vec![
            consumer_linked,                                     // linked to trace 2's producer
            consumer_lost,                                       // link to nothing: user → queue-reader
            span(6, 2, Some(1), CONSUMER, 10, 20, json!([])),     // child of trace 6's producer
        ]),
    ]})
}

#[test]
fn every_pairing_rule_is_counted_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("synthetic.json");
    std::fs::write(&input, serde_json::to_vec(&synthetic()).unwrap()).unwrap();
    let out = dir.path().join("g");
    graph(&[input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--quiet"]);
    let b = read_parquet(&out.join("service_graph.parquet"));
    let edges = window_edges(&b);
    let key =
        |c: &str, s: &str, t: &str, v: Option<&str>| (c.to_string(), s.to_string(), t.to_string(), v.map(String::from));
    let expected: Vec<(EdgeKey, i64)> = vec![
        (key("queue-writer", "queue-reader", "messaging", None), 2),
        (key("user", "api", "http", Some("client")), 1),
        (key("user", "queue-reader", "messaging", Some("client")), 1),
        (key("user", "web", "http", Some("client")), 1),
        (key("web", "api", "http", None), 1),
        (key("web", "payments", "other", Some("server")), 1),
        (key("web", "postgresql", "database", Some("server")), 1),
        (key("web", "unknown", "other", Some("server")), 1),
    ];
    let got: Vec<_> = edges.iter().map(|(k, &r)| (k.clone(), int(&b, "requests", r).unwrap())).collect();
    assert_eq!(got, expected);
    // The paired HTTP call: both sides' faults and latencies, and the network time between them.
    let r = edges[&key("web", "api", "http", None)];
    assert_eq!((int(&b, "client_faults", r), int(&b, "server_faults", r)), (Some(1), Some(1)));
    assert_eq!((int(&b, "client_errors", r), int(&b, "server_errors", r)), (Some(0), Some(0)));
    assert_eq!(float(&b, "client_latency_p99_ms", r), Some(100.0));
    assert_eq!(float(&b, "server_latency_p50_ms", r), Some(80.0));
    assert_eq!(float(&b, "network_avg_ms", r), Some(20.0));
    assert_eq!(float(&b, "network_share", r), Some(20.0));
    // A virtual server side has no spans, a virtual client side neither.
    let r = edges[&key("web", "payments", "other", Some("server"))];
    assert_eq!((int(&b, "server_spans", r), float(&b, "server_latency_p50_ms", r)), (Some(0), None));
    let r = edges[&key("user", "api", "http", Some("client"))];
    assert_eq!((int(&b, "client_spans", r), int(&b, "server_errors", r)), (Some(0), Some(1)));
    assert_eq!(float(&b, "network_avg_ms", r), None);
    // --peer-attributes: which attributes name a virtual callee, the first present.
    let named = graph(&[input.to_str().unwrap(), "--format", "json", "--quiet", "--peer-attributes", "db.system.name"]);
    let json: Value = serde_json::from_str(&named).unwrap();
    let to = |server: &str| {
        json["edges"].as_array().unwrap().iter().find(|e| e["source"] == "web" && e["target"] == server).cloned()
    };
    assert_eq!(to("postgresql").unwrap()["requests"], 1);
    assert_eq!(to("unknown").unwrap()["requests"], 2, "the peer.service span is no longer named: {named}");
    assert!(to("payments").is_none());
    spanlens()
        .arg("graph")
        .arg(&input)
        .args(["--peer-attributes", "peer.service,http.url"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("\"http.url\" is not an attribute virtual callees can be named by"));
}

#[test]
fn links_across_spilled_partitions_are_paired() {
    // Trace ids that differ in their first hex digit land in different spilled partitions.
    let in_trace = |span: Value, first: char| {
        let mut span = span;
        let id = span["traceId"].as_str().unwrap().to_string();
        span["traceId"] = json!(format!("{first}{}", &id[1..]));
        span
    };
    let link = |first: char, trace: u8, id: u8| json!({"traceId": format!("{first}{}", &format!("{trace:032x}")[1..]), "spanId": format!("{id:016x}")});
    let messaging = || json!([kv("messaging.system", json!("kafka"))]);
    let mut consumers = Vec::new();
    for (i, first) in ['1', '5', '9', 'd'].into_iter().enumerate() {
        let mut consumer = in_trace(span(20 + i as u8, 2, None, CONSUMER, 50, 60, messaging()), first);
        // Each consumer links to the producer of the trace in the next partition.
        let next = ['5', '9', 'd', '1'][i];
        consumer["links"] = json!([link(next, 30 + i as u8, 1)]);
        consumers.push(consumer);
    }
    let producers: Vec<Value> = ['5', '9', 'd', '1']
        .into_iter()
        .enumerate()
        .map(|(i, first)| in_trace(span(30 + i as u8, 1, None, PRODUCER, 0, 5, messaging()), first))
        .collect();
    let doc = json!({"resourceSpans": [resource("writer", producers), resource("reader", consumers)]});
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("links.json");
    std::fs::write(&input, serde_json::to_vec(&doc).unwrap()).unwrap();
    let (held, spilled) = (dir.path().join("held"), dir.path().join("spilled"));
    for (out, threshold) in [(&held, "1GiB"), (&spilled, "1")] {
        let out = out.to_str().unwrap();
        metrics(&input, &["--quiet", "--spill-threshold", threshold, "--tables", "graph,quality", "--out", out]);
    }
    let b = read_parquet(&spilled.join("service_graph.parquet"));
    let edges = window_edges(&b);
    let key = ("writer".to_string(), "reader".to_string(), "messaging".to_string(), None);
    assert_eq!(edges.len(), 1, "every producer paired with its linked consumer: {edges:?}");
    assert_eq!(int(&b, "requests", edges[&key]), Some(4));
    for table in spanlens::graph::METRICS_GRAPH_TABLES {
        let file = format!("{table}.parquet");
        let held = std::fs::read(held.join(&file)).unwrap();
        assert!(held == std::fs::read(spilled.join(&file)).unwrap(), "{file}: held and spilled");
    }
}

#[test]
fn dot_mermaid_and_json_forms() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("synthetic.json");
    std::fs::write(&input, serde_json::to_vec(&synthetic()).unwrap()).unwrap();
    let input = input.to_str().unwrap();

    let dot = graph(&[input, "--format", "dot", "--quiet"]);
    assert!(dot.starts_with("digraph service_graph {"), "{dot}");
    assert!(dot.contains("\"web\" -> \"api\" [label=\"http\\n1 req\\n100.00% faults\\np99 100.00 ms\"];"), "{dot}");
    // Graphviz parses and renders it.
    let dot_bin = std::env::var_os("SPANLENS_DOT").unwrap_or_else(|| "dot".into());
    let mut child = std::process::Command::new(&dot_bin)
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("Graphviz's dot: `bash .ci/setup` installs Debian's graphviz");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
    let rendered = child.wait_with_output().unwrap();
    assert!(rendered.status.success() && rendered.stderr.is_empty(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let svg = String::from_utf8(rendered.stdout).unwrap();
    assert_eq!(svg.matches("class=\"node\"").count(), 8, "eight nodes drawn");
    assert_eq!(svg.matches("class=\"edge\"").count(), 8, "eight edges drawn");

    let mermaid = graph(&[input, "--format", "mermaid", "--quiet"]);
    let lines: Vec<&str> = mermaid.lines().collect();
    assert_eq!(lines[0], "flowchart LR");
    assert_eq!(lines.iter().filter(|l| l.contains("-->") || l.contains("-.->")).count(), 8);
    assert!(lines.contains(&"  n6([\"user\"])"), "{mermaid}");

    let json: Value = serde_json::from_str(&graph(&[input, "--format", "json", "--quiet"])).unwrap();
    assert_eq!(json["nodes"].as_array().unwrap().len(), 8);
    assert_eq!(json["edges"].as_array().unwrap().len(), 8);
    let web_api =
        json["edges"].as_array().unwrap().iter().find(|e| e["source"] == "web" && e["target"] == "api").unwrap();
    assert_eq!(web_api["requests"], 1);
    assert_eq!(web_api["fault_rate"], 100.0);

    let table = graph(&[input, "--quiet"]);
    assert!(table.lines().next().unwrap().starts_with("Client"), "{table}");
    assert_eq!(table.lines().count(), 1 + 8, "{table}");
}

#[test]
fn raw_input_and_its_span_store_give_the_same_tables() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample(DEMO);
    let store = dir.path().join("store");
    spanlens().args(["ingest", "--quiet"]).arg(&input).arg("--out").arg(&store).assert().success();
    let (raw, stored) = (dir.path().join("raw"), dir.path().join("stored"));
    graph(&[input.to_str().unwrap(), "--out", raw.to_str().unwrap(), "--quiet", "--bucket", "5m"]);
    graph(&[store.to_str().unwrap(), "--out", stored.to_str().unwrap(), "--quiet", "--bucket", "5m"]);
    for table in ["service_graph.parquet", "service_graph_nodes.parquet", "data_quality.parquet"] {
        assert!(std::fs::read(raw.join(table)).unwrap() == std::fs::read(stored.join(table)).unwrap(), "{table}");
    }
    // A metrics output has no spans to pair.
    let metrics = dir.path().join("m");
    spanlens().args(["metrics", "--quiet"]).arg(&input).arg("--out").arg(&metrics).assert().success();
    spanlens().arg("graph").arg(&metrics).assert().code(2).stderr(predicates::str::contains("not a metrics output"));
}

#[test]
fn sql_makes_the_graph_tables_on_demand() {
    let input = sample(DEMO);
    let out = spanlens()
        .args(["sql", "--format", "csv", "-e"])
        .arg(
            "SELECT client, server, requests FROM service_graph WHERE bucket_start IS NULL AND virtual IS NULL \
              AND client = 'frontend-proxy' AND server = 'frontend'",
        )
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "client,server,requests\nfrontend-proxy,frontend,75\n");
    let out = spanlens()
        .args(["sql", "--format", "csv", "-e", "SELECT count(*) AS n FROM service_graph_calls WHERE virtual IS NULL"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let paired: u64 = independent_edges(&input).iter().filter(|(k, _)| k.2.is_none()).map(|(_, n)| n).sum();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("n\n{paired}\n"));
    // The steps are tables too: no span links in this capture, so the calls are the partial calls.
    let statement = "SELECT (SELECT count(*) FROM service_graph_partial_calls) AS partial, \
                     (SELECT count(*) FROM service_graph_calls) AS calls, \
                     (SELECT count(*) FROM service_graph_link_ends WHERE role = 'consumer') AS links, \
                     (SELECT count(*) FROM data_quality_spans) AS checks, \
                     (SELECT sum(calls) FROM service_graph_matches WHERE side = 'client') AS matched";
    let out = spanlens().args(["sql", "--format", "csv", "-e", statement]).arg(&input).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let total: u64 = independent_edges(&input).values().sum();
    let text = String::from_utf8(out.stdout).unwrap();
    let row: Vec<&str> = text.lines().nth(1).unwrap().split(',').collect();
    assert_eq!(row[..4], [total.to_string().as_str(), total.to_string().as_str(), "0", "9"], "{text}");
    assert!(row[4].parse::<u64>().unwrap() > 0, "dependency records matched to requests: {text}");
}

/// check, detail, unit, count, total, the example trace ids' last two hex digits.
type QualityRow = (String, Option<String>, String, i64, i64, Vec<String>);

#[test]
fn every_data_quality_check_counts_exactly() {
    let root = |trace: u8, id: u8, kind: i64| span(trace, id, None, kind, 0, 10, json!([]));
    let mut error = root(0xd, 1, 1);
    error["status"] = json!({"code": 2});
    // Sampled with a threshold (after another vendor's entry); an old-style `p` and an empty `th` are not.
    error["traceState"] = json!("congo=t61rcWkgMzE, ot=rv:1234567890abcd;th:c");
    let mut dropped = root(0xe, 1, 1);
    dropped["droppedAttributesCount"] = json!(3);
    dropped["traceState"] = json!("ot=th:");
    let mut old_style = root(0x9, 1, 1);
    old_style["traceState"] = json!("ot=p:8;r:62");
    let input = json!({"resourceSpans": [
        resource("a", vec![
            span(0xa, 1, None, SERVER, 0, 100, json!([])),   // unpaired server (a root: from user)
            span(0xa, 2, Some(1), CLIENT, 10, 90, json!([])),
            root(0xb, 1, 1), root(0xb, 1, 1),                  // a duplicate span id
            error,                                            // ERROR without a message
            dropped,                                          // attributes dropped
            span(0xf, 1, Some(0x77), 1, 0, 10, json!([])),    // orphan; trace f has no root
            old_style,
            span(0x9, 2, Some(1), CLIENT, 1, 5, json!([])),   // unpaired client
        ]),
        resource("b", vec![
            span(0xa, 3, Some(2), SERVER, 5, 80, json!([])),  // starts 5 ms before its client
        ]),
        json!({"resource": {"attributes": []}, "scopeSpans": [{"spans": [root(0xc, 1, 1)]}]}),
    ]});
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quality.json");
    std::fs::write(&file, serde_json::to_vec(&input).unwrap()).unwrap();
    let out = dir.path().join("g");
    let run = spanlens().arg("graph").arg(&file).arg("--out").arg(&out).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let said = String::from_utf8(run.stderr).unwrap();
    assert!(said.contains("data quality") && said.contains("  clock_skew a -> b: 1 (9.09% of spans)"), "{said}");
    let b = read_parquet(&out.join("data_quality.parquet"));
    let got: Vec<QualityRow> = (0..b.num_rows())
        .map(|r| {
            let examples = b.column_by_name("example_trace_ids").unwrap().as_list::<i32>();
            let ids: Vec<String> = if examples.is_valid(r) {
                examples.value(r).as_string::<i32>().iter().map(|v| v.unwrap()[30..].to_string()).collect()
            } else {
                Vec::new()
            };
            (
                text(&b, "check", r).unwrap(),
                text(&b, "detail", r),
                text(&b, "unit", r).unwrap(),
                int(&b, "count", r).unwrap(),
                int(&b, "total", r).unwrap(),
                ids,
            )
        })
        .collect();
    let row = |check: &str, detail: Option<&str>, unit: &str, count: i64, total: i64, ids: &[&str]| {
        (
            check.to_string(),
            detail.map(String::from),
            unit.to_string(),
            count,
            total,
            ids.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    let want = vec![
        row("clock_skew", Some("a -> b"), "spans", 1, 11, &["0a"]),
        row("dropped_attributes", None, "spans", 1, 11, &["0e"]),
        row("duplicate_span_ids", None, "spans", 1, 11, &["0b"]),
        row("error_without_message", None, "spans", 1, 11, &["0d"]),
        row("missing_service_name", None, "spans", 1, 11, &["0c"]),
        row("orphan_spans", None, "spans", 1, 11, &["0f"]),
        row("sampled_spans", None, "spans", 1, 11, &["0d"]),
        row("traces_without_root", None, "traces", 1, 7, &["0f"]),
        row("unpaired_client_spans", None, "spans", 1, 11, &["09"]),
        row("unpaired_server_spans", None, "spans", 1, 11, &["0a"]),
    ];
    assert_eq!(got, want);
}

/// `metrics OUT_ARGS...` over `input`; it must succeed. Its stdout.
fn metrics(input: &Path, args: &[&str]) -> String {
    let out = spanlens().arg("metrics").arg(input).args(args).output().unwrap();
    assert!(out.status.success(), "spanlens metrics {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn metrics_writes_the_graph_tables_from_raw_spans_a_store_or_spilled_spans() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    spanlens().args(["gen", "--quiet", "--traces", "600", "--out"]).arg(p("data")).assert().success();
    spanlens().args(["ingest", "--quiet"]).arg(p("data")).arg("--out").arg(p("store")).assert().success();
    let out = |name: &str| p(name).display().to_string();
    let stdout = metrics(&p("data"), &["--quiet", "--out", &out("m-raw")]);
    metrics(&p("store"), &["--quiet", "--out", &out("m-store")]);
    // Spans beyond the spill threshold: the graph's columns go to a scratch Parquet file.
    metrics(&p("data"), &["--quiet", "--spill-threshold", "64KiB", "--out", &out("m-spill")]);
    graph(&[&out("data"), "--quiet", "--out", &out("g")]);
    for table in spanlens::graph::METRICS_GRAPH_TABLES {
        let file = format!("{table}.parquet");
        let raw = std::fs::read(p("m-raw").join(&file)).unwrap();
        assert!(raw == std::fs::read(p("m-store").join(&file)).unwrap(), "{file}: raw and store");
        assert!(raw == std::fs::read(p("m-spill").join(&file)).unwrap(), "{file}: in memory and spilled");
        if table != spanlens::graph::RECONCILIATION {
            assert!(raw == std::fs::read(p("g").join(&file)).unwrap(), "{file}: metrics and graph");
        }
    }
    assert!(!p("m-spill").join(".graph_spans.parquet").exists(), "the scratch file is removed");
    // --tables picks them; a metrics output cannot give them (it holds no spans).
    metrics(&p("data"), &["--quiet", "--tables", "quality", "--out", &out("q")]);
    let mut names: Vec<String> =
        std::fs::read_dir(p("q")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    assert_eq!(names, ["data_quality.parquet", "run_info.parquet"]);
    let again = spanlens().arg("metrics").arg(p("m-raw")).arg("--out").arg(p("again")).assert().success();
    let stderr = String::from_utf8(again.get_output().stderr.clone()).unwrap();
    assert!(stderr.contains("note: the service graph and data-quality tables were not computed"), "{stderr}");
    assert!(!p("again").join("service_graph.parquet").exists());
    spanlens()
        .arg("metrics")
        .arg(p("m-raw"))
        .args(["--tables", "graph", "--out"])
        .arg(p("again2"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("pair spans"));
    spanlens()
        .arg("metrics")
        .arg(p("data"))
        .args(["--tables", "graph"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("written to --out"));
    // --platform auto (the default): each resource's own platform, as the agent on its host
    // would see it; --platform generic: one for all.
    assert!(stdout.contains("eks:pet-clinic/pet-clinic") && stdout.contains("lambda:default"), "{stdout}");
    assert!(!stdout.contains("generic:default"), "{stdout}");
    let generic = metrics(&p("data"), &["--platform", "generic"]);
    assert!(generic.contains("generic:default") && !generic.contains("eks:"), "{generic}");
}

#[test]
fn the_reconciliation_names_what_each_view_sees() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    spanlens().args(["gen", "--quiet", "--traces", "800", "--out"]).arg(p("data")).assert().success();
    metrics(&p("data"), &["--quiet", "--tables", "graph", "--out", &p("m").display().to_string()]);
    let b = read_parquet(&p("m").join("service_graph_reconciliation.parquet"));
    // (client, server) → (seen_by, trace requests, signals requests, difference, reason, other name).
    type Row = (String, i64, i64, i64, Option<String>, Option<String>);
    let rows: BTreeMap<(String, String), Row> = (0..b.num_rows())
        .map(|r| {
            let key = (text(&b, "client", r).unwrap(), text(&b, "server", r).unwrap());
            let row = (
                text(&b, "seen_by", r).unwrap(),
                int(&b, "trace_requests", r).unwrap(),
                int(&b, "signals_requests", r).unwrap(),
                int(&b, "difference", r).unwrap(),
                text(&b, "reason", r),
                text(&b, "other_name", r),
            );
            (key, row)
        })
        .collect();
    let row = |client: &str, server: &str| {
        rows.get(&(client.to_string(), server.to_string()))
            .unwrap_or_else(|| panic!("no row {client} -> {server}: {rows:#?}"))
            .clone()
    };
    let s = |v: &str| Some(v.to_string());
    // Every edge is an edge of either view, its difference the two counts'.
    for (key, (seen_by, trace, signals, difference, ..)) in &rows {
        assert_eq!(*difference, trace - signals, "{key:?}");
        let want = match (trace > &0, signals > &0) {
            (true, true) => "both",
            (true, false) => "trace_only",
            (false, true) => "client_only",
            (false, false) => panic!("an edge of neither view: {key:?}"),
        };
        assert_eq!(seen_by, want, "{key:?}");
    }
    // The stitched calls, counted independently from the raw JSON.
    let mut independent: BTreeMap<(String, String), u64> = BTreeMap::new();
    for entry in std::fs::read_dir(p("data")).unwrap() {
        for ((client, server, _), n) in independent_edges(&entry.unwrap().path()) {
            *independent.entry((client, server)).or_default() += n;
        }
    }
    let calls = |client: &str, server: &str| independent[&(client.to_string(), server.to_string())] as i64;
    // host:port: Application Signals names the callee as its clients address it.
    let named = row("frontend-api", "billing-service:8080");
    let n = calls("frontend-api", "billing-service");
    assert!(n > 0);
    assert_eq!(named, ("client_only".into(), 0, n, -n, s("remote_named_by_address"), s("billing-service")));
    assert_eq!(
        row("frontend-api", "billing-service"),
        ("trace_only".into(), n, 0, n, s("remote_named_by_address"), s("billing-service:8080"))
    );
    // SQS: the producer's record names the queue's service; the traces show the consumer.
    let n = calls("customers-service", "visits-service");
    assert!(n > 0);
    assert_eq!(
        row("customers-service", "AWS::SQS"),
        ("client_only".into(), 0, n, -n, s("remote_named_differently"), s("visits-service"))
    );
    assert_eq!(
        row("customers-service", "visits-service"),
        ("trace_only".into(), n, 0, n, s("remote_named_differently"), s("AWS::SQS"))
    );
    // The consumer's own record of the queue comes from the server side of that call.
    let (seen_by, _, _, _, reason, other) = row("visits-service", "AmazonSQS");
    assert_eq!(
        (seen_by.as_str(), reason, other),
        ("client_only", s("recorded_on_server_side"), s("customers-service"))
    );
    // Every trace starts at frontend-api, called from outside the traces.
    assert_eq!(row("user", "frontend-api"), ("trace_only".into(), 800, 0, 800, s("uninstrumented_client"), None));
    // Databases and the exchange-rate API answer without spans.
    let (_, _, _, _, reason, _) = row("billing-service", "api.exchangerate.example.com");
    assert_eq!(reason, s("uninstrumented_server"));
    // The one edge both views name alike.
    let n = calls("frontend-api", "pet-clinic-audit");
    assert_eq!(row("frontend-api", "pet-clinic-audit"), ("both".into(), n, n, 0, None, None));
}
