//! One trace's records: the spans of a trace taken through the rules of [`crate::derive`] into
//! the rows of the `signals` table.

use std::borrow::Cow;

use crate::derive::classify::{classify, is_imds, valid_dimension};
use crate::derive::dependency::{DependencySpan, remote_environment, remote_service_operation};
use crate::derive::local::{IngressSpan, ingress_operation, local_service};
use crate::derive::propagate::{TraceSpan, local_roots, propagate};
use crate::derive::records::{RecordSpan, records};
use crate::derive::remote::{Address, HttpCall};
use crate::derive::resource::{DbConnection, RemoteResource, aws_sdk_resource, db_connection};
use crate::derive::sampling;
use crate::derive::{Compat, Key, key};

use super::columns::*;
use super::*;

/// §2.1 "same ResourceSpans": the same `service.name` and `service.instance.id`.
/// Resources are numbered per trace, into `ids`, by exact comparison of that pair; `seen` is
/// scratch space.
pub(crate) fn resource_ids<'a>(
    keys: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
    seen: &mut Vec<(Option<&'a str>, Option<&'a str>)>,
    ids: &mut Vec<u64>,
) {
    seen.clear();
    ids.clear();
    ids.extend(keys.map(|key| {
        let id = seen.iter().position(|k| *k == key).unwrap_or_else(|| {
            seen.push(key);
            seen.len() - 1
        });
        id as u64
    }));
}

/// §5.1 input of span `i`.
pub(crate) fn ingress_span<'a>(c: &'a Columns, i: usize, local_root: bool, lambda: Option<&'a str>) -> IngressSpan<'a> {
    let a = c.attributes.row(i);
    IngressSpan {
        name: c.name.value(i),
        is_server: c.kind.value(i) == "SERVER",
        local_root,
        method_new: a.text(key!("http.request.method")),
        method_old: a.text(key!("http.method")),
        url_path: a.text(key!("url.path")),
        http_target: a.text(key!("http.target")),
        url_full: a.text(key!("url.full")),
        http_url: a.text(key!("http.url")),
        lambda_function: lambda,
        lambda_override: a.text(key!("aws.lambda.local.operation.override")),
        scope_name: c.scope_name.opt(i),
    }
}

/// §6 input of span `i`, with the manual remote attributes already propagated (§4.2).
pub(crate) fn dependency_span<'a>(
    a: &Attrs<'a>,
    manual_service: Option<&'a str>,
    manual_operation: Option<&'a str>,
) -> DependencySpan<'a> {
    DependencySpan {
        manual_service,
        manual_operation,
        rpc_system: a.text(key!("rpc.system")),
        rpc_service: a.text(key!("rpc.service")),
        rpc_method: a.text(key!("rpc.method")),
        lambda_function: a.text(key!("aws.lambda.function.name")),
        db_system_new: a.text(key!("db.system.name")),
        db_system_old: a.text(key!("db.system")),
        db_operation_new: a.text(key!("db.operation.name")),
        db_operation_old: a.text(key!("db.operation")),
        db_statement_new: a.text(key!("db.query.text")),
        db_statement_old: a.text(key!("db.statement")),
        faas_invoked_name: a.text(key!("faas.invoked_name")),
        faas_trigger: a.text(key!("faas.trigger")),
        messaging_system: a.text(key!("messaging.system")),
        messaging_operation_type: a.text(key!("messaging.operation.type")),
        messaging_operation: a.text(key!("messaging.operation")),
        graphql_operation_type: a.text(key!("graphql.operation.type")),
        peer_service: a.text(key!("peer.service")),
        address: Address {
            server_address: a.text(key!("server.address")),
            server_port: a.int(key!("server.port")),
            net_peer_name: a.text(key!("net.peer.name")),
            net_peer_port: a.int(key!("net.peer.port")),
            network_peer_address: a.text(key!("network.peer.address")),
            network_peer_port: a.int(key!("network.peer.port")),
            net_sock_peer_addr: a.text(key!("net.sock.peer.addr")),
            net_sock_peer_port: a.int(key!("net.sock.peer.port")),
            url_full: a.text(key!("url.full")),
            http_url: a.text(key!("http.url")),
        },
        http: HttpCall {
            url_full: a.text(key!("url.full")),
            http_url: a.text(key!("http.url")),
            method_new: a.text(key!("http.request.method")),
            method_old: a.text(key!("http.method")),
        },
    }
}

/// §7: the remote resource of a dependency span.
pub(crate) fn remote_resource(a: &Attrs<'_>, compat: Compat) -> Option<RemoteResource> {
    if a.get(key!("rpc.system")) == Some("aws-api") {
        return aws_sdk_resource(
            |k| Key::find(k).and_then(|k| a.get(k)),
            a.text(key!("rpc.service")),
            a.text(key!("rpc.method")),
            compat,
        );
    }
    let db = a.text(key!("db.system.name")).or(a.text(key!("db.system")));
    db?;
    let (peer_address, peer_port) = match compat {
        Compat::Java => (a.text(key!("network.peer.address")), a.int(key!("network.peer.port"))),
        Compat::Python | Compat::Js => (a.text(key!("server.socket.address")), a.int(key!("server.socket.port"))),
    };
    let c = DbConnection {
        namespace: a.text(key!("db.namespace")),
        name: a.text(key!("db.name")),
        server_address: a.text(key!("server.address")),
        server_port: a.int(key!("server.port")),
        net_peer_name: a.text(key!("net.peer.name")),
        net_peer_port: a.int(key!("net.peer.port")),
        peer_address,
        peer_port,
        connection_string: a.text(key!("db.connection_string")),
    };
    db_connection(&c, compat)
}

/// §9.1 status code: Java reads the new key first; Python and JS only the old one.
pub(crate) fn status_code(a: &Attrs<'_>, compat: Compat) -> Option<i64> {
    match compat {
        Compat::Java => a.int(key!("http.response.status_code")).or_else(|| a.int(key!("http.status_code"))),
        Compat::Python | Compat::Js => a.int(key!("http.status_code")),
    }
}

pub(crate) fn telemetry_source(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "LOCAL_ROOT" => "LocalRootSpan",
        "SERVER" => "ServerSpan",
        "CLIENT" => "ClientSpan",
        "PRODUCER" => "ProducerSpan",
        "CONSUMER" => "ConsumerSpan",
        _ => return None,
    })
}

/// Rule 0: records of a span exported by ADOT with its metric attributes already set.
pub(crate) fn preannotated<'a>(
    c: &'a Columns,
    i: usize,
    a: &Attrs<'a>,
    span_kind: &str,
    base: &Row<'a>,
    env: impl Fn() -> &'a str,
    kinds: RecordKinds,
) -> Vec<Row<'a>> {
    let kind = c.kind.value(i);
    let env = Cow::Borrowed(a.text(key!("aws.local.environment")).unwrap_or_else(env));
    let service = Row {
        environment: Some(env),
        service: Cow::Borrowed(a.text(key!("aws.local.service")).unwrap_or_default()),
        operation: a.text(key!("aws.local.operation")).map(Cow::Borrowed),
        ..base.clone()
    };
    let mut out = Vec::new();
    if kinds.service && matches!(span_kind, "LOCAL_ROOT" | "SERVER") {
        out.push(Row { source: telemetry_source(span_kind).unwrap_or("ServerSpan"), ..service.clone() });
    }
    let dependency_kind = if span_kind == "LOCAL_ROOT" { kind } else { span_kind };
    let is_dependency = kinds.dependency
        && match dependency_kind {
            "CLIENT" | "PRODUCER" => true,
            "CONSUMER" => span_kind == "CONSUMER" || a.text(key!("aws.remote.service")).is_some(),
            _ => false,
        };
    if is_dependency {
        let resource = a
            .text(key!("aws.remote.resource.type"))
            .zip(a.text(key!("aws.remote.resource.identifier")).or(a.text(key!("aws.remote.target"))));
        out.push(Row {
            dependency: true,
            source: telemetry_source(dependency_kind).unwrap_or("ClientSpan"),
            remote_service: a.text(key!("aws.remote.service")).map(Cow::Borrowed),
            remote_operation: a.text(key!("aws.remote.operation")).map(Cow::Borrowed),
            remote_environment: a.text(key!("aws.remote.environment")).map(Cow::Borrowed),
            remote_resource: resource.map(|(t, id)| (Cow::Borrowed(t), Cow::Borrowed(id))),
            ..service
        });
    }
    out
}

/// Where one span is: batch and row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SpanAt {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) batch: u32,
    pub(crate) row: u32,
}

/// The per-span vectors of one trace's derivation, kept from trace to trace by one task.
#[derive(Default)]
pub(crate) struct TraceScratch<'a> {
    pub(crate) at: Vec<(&'a Columns, usize)>,
    pub(crate) attrs: Vec<Attrs<'a>>,
    pub(crate) resources: Vec<&'a ResourceFacts>,
    pub(crate) service_names: Vec<Option<&'a str>>,
    pub(crate) resource_keys: Vec<(Option<&'a str>, Option<&'a str>)>,
    pub(crate) resource_id: Vec<u64>,
    pub(crate) trace_spans: Vec<TraceSpan<'a>>,
}

/// Derive the records of one trace, whose spans are `rows` of `cols`: append them to `out` and
/// count them in `stats`.
pub(crate) fn derive_trace<'a>(
    cols: &'a [Columns],
    rows: &[SpanAt],
    opts: &SignalOptions,
    scratch: &mut TraceScratch<'a>,
    out: &mut Vec<Row<'a>>,
    stats: &mut SignalStats,
) {
    let (compat, kinds) = (opts.compat, opts.records);
    stats.spans += rows.len() as u64;
    stats.traces += 1;
    let mut preannotated_spans = 0;
    let TraceScratch { at, attrs, resources, service_names, resource_keys, resource_id, trace_spans } = scratch;
    at.clear();
    at.extend(rows.iter().map(|r| (&cols[r.batch as usize], r.row as usize)));
    attrs.clear();
    attrs.extend(at.iter().map(|&(c, i)| c.attributes.row(i)));
    resources.clear();
    resources.extend(at.iter().map(|&(c, i)| c.resource(i)));
    service_names.clear();
    service_names.extend(at.iter().map(|&(c, i)| c.service_name.opt(i)));
    resource_ids(
        service_names.iter().zip(resources.iter()).map(|(name, r)| (*name, r.instance_id.as_deref())),
        resource_keys,
        resource_id,
    );
    trace_spans.clear();
    trace_spans.extend(at.iter().enumerate().map(|(k, &(c, i))| TraceSpan {
        span_id: Columns::id8(&c.span_id, i).unwrap_or_default(),
        parent_span_id: Columns::id8(&c.parent_span_id, i),
        flags: c.flags.value(i),
        kind: c.kind.value(i),
        resource: resource_id[k],
        // §4.2 propagates these to dependency records only.
        remote_service: kinds.dependency.then(|| attrs[k].text(key!("aws.remote.service"))).flatten(),
        remote_operation: kinds.dependency.then(|| attrs[k].text(key!("aws.remote.operation"))).flatten(),
    }));
    let (at, attrs, resources, service_names, trace_spans) =
        (&*at, &*attrs, &*resources, &*service_names, &*trace_spans);
    // Each span's ingress operation (§5.1), computed once: propagation asks for a SERVER span's
    // once per local child, and its Service record needs it again. It is always asked with the
    // span's own local-root flag.
    let ingress_ops: Vec<std::cell::OnceCell<(bool, String)>> = vec![std::cell::OnceCell::new(); at.len()];
    let ingress = |k: usize, local_root: bool| -> String {
        let (flag, op) = ingress_ops[k].get_or_init(|| {
            let (c, i) = at[k];
            (local_root, ingress_operation(&ingress_span(c, i, local_root, resources[k].lambda.as_deref()), compat))
        });
        debug_assert_eq!(*flag, local_root, "the ingress operation of a span depends on its own local-root flag");
        op.clone()
    };
    // Service records alone need only the local roots (§2.1), not the values §4 propagates.
    let propagated = if kinds.dependency { propagate(trace_spans, ingress) } else { local_roots(trace_spans) };

    let mut keep = |row: Row<'a>| {
        if let Some(reason) = drop_reason(&row) {
            *stats.dropped.entry(reason).or_default() += 1;
        } else {
            if row.dependency {
                stats.dependency_records += 1;
            } else {
                stats.service_records += 1;
            }
            stats.adjusted_records += row.adjusted_count as u64;
            out.push(row);
        }
    };
    // Spans by sampling source, added to `stats` at the end (`keep` holds it meanwhile).
    let mut sampled: BTreeMap<&'static str, u64> = BTreeMap::new();
    for (k, &(c, i)) in at.iter().enumerate() {
        let a = &attrs[k];
        let kind = c.kind.value(i);
        let outcome = classify(status_code(a, compat), c.status_code.value(i) == "ERROR");
        let trace_id: [u8; 16] = c.trace_id.value(i).try_into().unwrap_or_default();
        let span_id = trace_spans[k].span_id;
        let base = Row {
            duration_ns: c.duration_ns.value(i),
            error: outcome.error,
            fault: outcome.fault,
            adjusted_count: adjusted_count(c, i, a, resources[k], (&trace_id, &span_id), opts.sampling, &mut sampled),
            end_time: c.end_time.value(i),
            trace_id,
            span_id,
            ..Default::default()
        };
        let env = || resources[k].environment.as_str();
        match (a.text(key!("aws.local.service")), a.text(key!("aws.span.kind"))) {
            (Some(_), Some(span_kind)) => {
                preannotated_spans += 1;
                preannotated(c, i, a, span_kind, &base, env, kinds).into_iter().for_each(&mut keep);
            }
            _ => {
                let p = &propagated[k];
                let messaging_operation = match compat {
                    Compat::Java => a.text(key!("messaging.operation.type")).or(a.text(key!("messaging.operation"))),
                    Compat::Python | Compat::Js => a.text(key!("messaging.operation")),
                };
                let which = records(
                    &RecordSpan {
                        kind,
                        local_root: p.local_root,
                        name: c.name.value(i),
                        scope_name: c.scope_name.opt(i),
                        messaging_operation,
                        parent_is_consumer: p.parent_kind == Some("CONSUMER"),
                    },
                    compat,
                );
                let service = which.service.filter(|_| kinds.service);
                let dependency = which.dependency.filter(|_| kinds.dependency);
                if service.is_none() && dependency.is_none() {
                    continue;
                }
                let local = Row {
                    environment: Some(Cow::Borrowed(env())),
                    service: Cow::Borrowed(local_service(
                        resources[k].aws_local_service.as_deref(),
                        service_names[k],
                        compat,
                    )),
                    ..base
                };
                if let Some(source) = service {
                    keep(Row { source, operation: Some(Cow::Owned(ingress(k, p.local_root))), ..local.clone() });
                }
                if let Some(source) = dependency {
                    let d = dependency_span(a, p.remote_service, p.remote_operation);
                    let remote = remote_service_operation(&d, compat);
                    let resource = remote_resource(a, compat);
                    keep(Row {
                        dependency: true,
                        source,
                        operation: Some(Cow::Owned(p.egress_operation(kind))),
                        remote_service: Some(remote.service),
                        remote_operation: Some(remote.operation),
                        remote_environment: remote_environment(&d, a.get(key!("aws.remote.environment")))
                            .map(Cow::Borrowed),
                        remote_resource: resource.map(|r| (Cow::Borrowed(r.resource_type), Cow::Owned(r.identifier))),
                        ..local
                    });
                }
            }
        }
    }
    stats.preannotated_spans += preannotated_spans;
    for (source, n) in sampled {
        *stats.sampled_spans.entry(source).or_default() += n;
    }
}

/// The requests span `i`'s records stand for ([`Sampling`]), its sampling source counted in
/// `sampled` whether or not it is used.
fn adjusted_count(
    c: &Columns,
    i: usize,
    a: &Attrs<'_>,
    resource: &ResourceFacts,
    (trace_id, span_id): (&[u8; 16], &[u8; 8]),
    sampling: Sampling,
    sampled: &mut BTreeMap<&'static str, u64>,
) -> i64 {
    let found = sampling::adjusted_count(c.trace_state.opt(i), || sample_rate_attribute(a).or(resource.sample_rate));
    let Some((count, source)) = found else { return 1 };
    *sampled.entry(source.name()).or_default() += 1;
    match sampling {
        Sampling::Adjust => sampling::whole_count(count, trace_id, span_id),
        Sampling::Ignore => 1,
    }
}

/// §9.3: why a record is not emitted, if it is not.
pub(crate) fn drop_reason(row: &Row) -> Option<&'static str> {
    if row.dependency && row.remote_service.as_deref().is_some_and(is_imds) {
        return Some("imds_dependency");
    }
    // Telemetry.Source is one of our own constants; the agent checks the others.
    row.dimensions()[1..].iter().flatten().any(|d| !valid_dimension(d)).then_some("invalid_dimension")
}
