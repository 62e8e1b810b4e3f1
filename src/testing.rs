//! Helpers for tests and benchmarks: small deterministic synthetic traces, and re-exports of
//! the encoders tests use. Not used by the binary's commands.

pub use crate::model::encode::{encode_json, encode_proto, frame, to_proto};
use crate::model::otlp::{
    AnyValue, Event, KeyValue, Link, Resource, ResourceSpans, Scope, ScopeSpans, Span, Status, TracesData,
};
pub use crate::util::SplitMix;

fn kv<'a>(key: &'a str, value: AnyValue<'a>) -> KeyValue<'a> {
    KeyValue { key: key.into(), value }
}

fn s(v: &str) -> AnyValue<'_> {
    AnyValue::String(v.into())
}

const SERVICES: [&str; 6] = ["frontend", "checkout", "cart", "payment", "billing-service", "insurance-service"];
const ROUTES: [&str; 5] = ["/owners/{id}", "/pets", "/visits", "/api/cart", "/api/checkout"];

/// `traces` synthetic traces of `spans_per_trace` spans each (a SERVER root and CLIENT children
/// with HTTP and database attributes), one resource per service, starting at `start_ns`.
pub fn synthetic_traces(seed: u64, traces: usize, spans_per_trace: usize, start_ns: u64) -> TracesData<'static> {
    let mut rng = SplitMix::new(seed);
    let mut resources: Vec<ResourceSpans<'static>> = SERVICES
        .iter()
        .map(|svc| ResourceSpans {
            resource: Resource {
                attributes: vec![
                    kv("service.name", s(svc)),
                    kv("deployment.environment", s("production")),
                    kv("k8s.cluster.name", s("demo")),
                    kv("telemetry.sdk.language", s("java")),
                ],
                dropped_attributes_count: 0,
            },
            scope_spans: vec![ScopeSpans {
                scope: Scope { name: "io.opentelemetry.tomcat".into(), version: "2.1.0".into(), attributes: vec![] },
                spans: vec![],
            }],
            resource_text: None,
        })
        .collect();
    for t in 0..traces {
        let mut trace_id = [0u8; 16];
        trace_id[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        trace_id[8..].copy_from_slice(&(t as u64 + 1).to_be_bytes());
        let start = start_ns + t as u64 * 1_000_000;
        let root_service = rng.below(SERVICES.len() as u64) as usize;
        let root_id = (rng.next_u64() | 1).to_be_bytes();
        let route = ROUTES[rng.below(ROUTES.len() as u64) as usize];
        let status: i64 = match rng.below(100) {
            0..=1 => 500,
            2..=6 => 404,
            _ => 200,
        };
        let duration = 1_000_000 + rng.below(200_000_000);
        let root = Span {
            trace_id: Some(trace_id),
            span_id: Some(root_id),
            flags: 0x101,
            name: format!("GET {route}").into(),
            kind: 2,
            start_time_unix_nano: start,
            end_time_unix_nano: start + duration,
            attributes: vec![
                kv("http.request.method", s("GET")),
                kv("http.route", AnyValue::String(route.into())),
                kv("http.response.status_code", AnyValue::Int(status)),
                kv("url.path", AnyValue::String(route.replace("{id}", &rng.below(1000).to_string()).into())),
            ],
            status: Status { message: "".into(), code: if status >= 500 { 2 } else { 0 } },
            ..Default::default()
        };
        resources[root_service].scope_spans[0].spans.push(root);
        for c in 1..spans_per_trace {
            let child_start = start + c as u64 * 1000;
            let db = c % 2 == 0;
            let attributes = if db {
                vec![
                    kv("db.system", s("postgresql")),
                    kv("db.statement", s("SELECT * FROM owners WHERE id = ?")),
                    kv("net.peer.name", s("db.internal")),
                    kv("net.peer.port", AnyValue::Int(5432)),
                ]
            } else {
                vec![
                    kv("http.request.method", s("POST")),
                    kv("url.full", s("http://payment:8080/api/pay?x=1")),
                    kv("server.address", s("payment")),
                    kv("server.port", AnyValue::Int(8080)),
                    kv("http.response.status_code", AnyValue::Int(200)),
                ]
            };
            let child = Span {
                trace_id: Some(trace_id),
                span_id: Some((rng.next_u64() | 1).to_be_bytes()),
                parent_span_id: Some(root_id),
                flags: 0x101,
                name: if db { "SELECT owners".into() } else { "POST".into() },
                kind: 3,
                start_time_unix_nano: child_start,
                end_time_unix_nano: child_start + rng.below(duration / 2).max(1),
                attributes,
                events: if c == 1 && status >= 500 {
                    vec![Event {
                        time_unix_nano: child_start,
                        name: "exception".into(),
                        attributes: vec![kv("exception.type", s("java.io.IOException"))],
                        dropped_attributes_count: 0,
                    }]
                } else {
                    vec![]
                },
                links: if c == 1 && t > 0 {
                    vec![Link { trace_id: Some([9; 16]), span_id: Some([8; 8]), ..Default::default() }]
                } else {
                    vec![]
                },
                ..Default::default()
            };
            resources[root_service].scope_spans[0].spans.push(child);
        }
    }
    resources.retain(|r| !r.scope_spans[0].spans.is_empty());
    TracesData { resource_spans: resources }
}

/// The span-table batch of `doc`'s spans (all of them must be valid).
pub fn span_batch(doc: &TracesData<'_>) -> arrow::array::RecordBatch {
    let mut b = crate::model::builder::SpanBatchBuilder::new(1024);
    for rs in &doc.resource_spans {
        b.begin_resource(&rs.resource);
        for ss in &rs.scope_spans {
            b.begin_scope(&ss.scope);
            for span in &ss.spans {
                b.append_span(span).expect("a valid span");
            }
        }
    }
    b.finish()
}
