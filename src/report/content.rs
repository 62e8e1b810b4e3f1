//! What the report says, apart from how it looks: the sections of the weekly report read out of
//! the tables a run computed, as rows of display text (numbers already formatted) plus the series
//! and the map a page draws. [`super::html`] renders it as `report.html` and [`super::markdown`]
//! as `report.md`, so both say the same.

use std::collections::BTreeMap;
use std::fmt::Write;

use arrow::array::{Array, AsArray};

use crate::error::Result;
use crate::graph::RECONCILIATION;
use crate::model::table::{Columns, Table};
use crate::outcome::{PreviousWindow, SignalsInput};
use crate::report::slo_table::{burn_rates_by_slo, sli_descriptions};
use crate::report::text::{fixed, plain};
use crate::slo::SloReport;
use crate::util::thousands;

/// Operations listed per service (the slowest by p99).
pub const OPERATIONS_PER_SERVICE: usize = 5;

/// A series' points: (bucket start in ns, value).
pub type Points = Vec<(i64, f64)>;

/// The column headers of each section's table, as both renderings show them.
pub const SLO_COLUMNS: [&str; 10] =
    ["SLO", "Target", "SLI", "Goal", "Attainment", "Budget left", "Status", "Bad periods", "Alerts", "Burn rates"];
pub const SERVICE_COLUMNS: [&str; 9] =
    ["Service", "Environment", "Requests", "Availability", "Fault %", "Error %", "p99 ms", "p99 latency", "Fault rate"];
pub const OPERATION_COLUMNS: [&str; 9] =
    ["Service", "Environment", "Operation", "Requests", "Availability", "Fault %", "Error %", "p50 ms", "p99 ms"];
pub const DIFFERENCE_COLUMNS: [&str; 8] =
    ["Client", "Server", "Seen by", "Reason", "Other name", "Trace requests", "Signals requests", "Difference"];
pub const DEPENDENCY_COLUMNS: [&str; 8] =
    ["Service", "Environment", "Dependency", "Remote operation", "Requests", "Fault %", "Error %", "p99 ms"];
pub const QUALITY_COLUMNS: [&str; 5] = ["Check", "Detail", "Example traces", "Count", "Share"];
pub const COMPARISON_SERVICE_COLUMNS: [&str; 11] = [
    "Service",
    "Environment",
    "Requests before",
    "Requests",
    "Change",
    "Fault % before",
    "Fault %",
    "Change (pp)",
    "p99 ms before",
    "p99 ms",
    "Change",
];
pub const COMPARISON_SLO_COLUMNS: [&str; 9] = [
    "SLO",
    "Attainment before",
    "Attainment",
    "Change (pp)",
    "Budget left before",
    "Budget left",
    "Change (pp)",
    "Status before",
    "Status",
];

/// Regressions listed per kind (fault rate, p99 latency, error budget).
pub const REGRESSIONS_PER_KIND: usize = 5;

/// What a report is made from.
pub struct Page<'a> {
    /// The report window `[from, to)`, ns.
    pub window: (i64, i64),
    pub input: &'a SignalsInput,
    /// `service_metrics`, `operation_metrics`, `dependency_metrics`, and the graph tables when
    /// the input had spans.
    pub tables: &'a [Table],
    pub services_page: &'a Table,
    pub slos: Option<&'a SloReport>,
    pub bucket_ns: i64,
    /// With `--compare-previous`: the window before.
    pub previous: Option<&'a PreviousWindow>,
}

/// The report's content, section by section.
pub struct Content {
    pub window: (i64, i64),
    /// `[from, to)` as `YYYY-MM-DD HH:MM` (UTC).
    pub from: String,
    pub to: String,
    pub bucket_ns: i64,
    /// The summary's figures: (value, label).
    pub cards: Vec<(String, String)>,
    pub slos: Option<SloSection>,
    pub services: Vec<ServiceRow>,
    /// The slowest operations of each service.
    pub operations: Vec<[String; 9]>,
    pub map: Map,
    /// Edges where the stitched graph and Application Signals' map differ, when the run stitched
    /// the traces: Client, Server, Seen by, Reason, Other name, Trace requests, Signals
    /// requests, Difference.
    pub differences: Option<Vec<[String; 8]>>,
    /// The D10 rows over the whole window: Service, Environment, Dependency, Remote operation,
    /// Requests, Fault %, Error %, p99 ms.
    pub dependencies: Vec<[String; 8]>,
    pub quality: Option<Vec<QualityRow>>,
    /// Each service's and SLO's figures beside the window before's.
    pub comparison: Option<Comparison>,
    /// What the figures were computed from.
    pub source: String,
}

/// The report's window against the one before.
pub struct Comparison {
    /// The window before, `YYYY-MM-DD HH:MM` (UTC).
    pub from: String,
    pub to: String,
    /// The largest regressions, worst first in each kind: fault rate, p99 latency, error budget.
    pub regressions: Vec<String>,
    /// [`COMPARISON_SERVICE_COLUMNS`] per service of either window.
    pub services: Vec<[String; 11]>,
    /// [`COMPARISON_SLO_COLUMNS`] per SLO.
    pub slos: Vec<[String; 9]>,
}

pub struct SloSection {
    /// The evaluation time (UTC).
    pub at: String,
    pub rows: Vec<SloRow>,
}

pub struct SloRow {
    pub name: String,
    /// Service · operation → dependency remote operation.
    pub target: String,
    pub sli: String,
    /// `99.9 % over 7 days`.
    pub goal: String,
    pub attainment: String,
    pub budget_left: Option<f64>,
    pub budget_left_text: String,
    pub status: String,
    /// A period-based SLO's failed periods (indices into its interval) and the interval's
    /// period count.
    pub bad_periods: Option<(Vec<i64>, i64)>,
    pub burn_rates: Vec<String>,
    /// The SLO's interval up to the evaluation time, ns: what its alerts are drawn against.
    pub span: (i64, i64),
    /// The burn-rate alerts that would have fired in it (`slo_alerts`), in time order.
    pub alerts: Vec<Alert>,
}

/// One firing of a burn-rate alert rule.
pub struct Alert {
    /// `page` or `ticket`.
    pub severity: String,
    /// `14.4x over 1h and 5m`.
    pub rule: String,
    pub fired_at: i64,
    /// `None` while it still fires at the evaluation time.
    pub resolved_at: Option<i64>,
}

impl Alert {
    /// `page 14.4x over 1h and 5m: 11-19 10:02 – 10:35`.
    pub fn describe(&self) -> String {
        let short = |t: i64| chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(t).format("%m-%d %H:%M").to_string();
        let end = self.resolved_at.map_or_else(|| "still firing".to_string(), short);
        format!("{} {}: {} – {end}", self.severity, self.rule, short(self.fired_at))
    }
}

pub struct ServiceRow {
    /// Service, Environment, Requests, Availability, Fault %, Error %, p99 ms.
    pub cells: [String; 7],
    pub p99_series: Points,
    pub fault_series: Points,
}

pub struct QualityRow {
    pub check: String,
    pub detail: String,
    pub examples: Vec<String>,
    /// `12 traces`.
    pub count: String,
    pub share: String,
}

/// A node of the service map: a service (environment, name), or a dependency target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum MapNode {
    Service(String, String),
    AwsService(String),
    Remote(String),
    /// A virtual node of the stitched graph: `user`, or a callee no server span answered for.
    Virtual(String),
}

impl MapNode {
    pub fn label(&self) -> &str {
        match self {
            MapNode::Service(_, name) | MapNode::AwsService(name) | MapNode::Remote(name) | MapNode::Virtual(name) => {
                name
            }
        }
    }

    pub fn class(&self) -> &'static str {
        match self {
            MapNode::Service(..) => "service",
            MapNode::AwsService(_) => "aws",
            MapNode::Remote(_) => "remote",
            MapNode::Virtual(_) => "virtual",
        }
    }

    /// The label, with the environment of a service that has one.
    pub fn title(&self) -> String {
        match self {
            MapNode::Service(env, name) if !env.is_empty() => format!("{name} ({env})"),
            other => other.label().to_string(),
        }
    }
}

/// One call edge of the map: the stitched edges between two nodes, or the D6 rows
/// (Environment, Service, RemoteService) between them.
pub struct MapEdge {
    pub from: usize,
    pub to: usize,
    pub requests: i64,
    pub faults: i64,
    /// The largest p99 of the rows merged into the edge.
    pub p99: Option<f64>,
    /// Not on Application Signals' map: why.
    pub differs: Option<String>,
}

impl MapEdge {
    pub fn fault_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| 100.0 * self.faults as f64 / self.requests as f64)
    }
}

pub struct Map {
    pub nodes: Vec<MapNode>,
    pub edges: Vec<MapEdge>,
    /// Drawn from the trace-stitched graph (else from the dependency records).
    pub stitched: bool,
}

/// `t` (ns) as `YYYY-MM-DD HH:MM`.
pub fn time(t: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(t).format("%Y-%m-%d %H:%M").to_string()
}

/// A bucket width as people say it: `1 h`, `5 min`, `1 d`.
pub fn bucket_label(bucket_ns: i64) -> String {
    let s = bucket_ns / 1_000_000_000;
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("–")
}

fn count(v: Option<i64>) -> String {
    v.map_or_else(|| "–".into(), |v| thousands(v.max(0) as u64))
}

/// The table called `name` among the page's tables, if the run computed it.
fn table<'t>(page: &Page<'t>, name: &str) -> Option<&'t Table> {
    page.tables.iter().find(|t| t.name == name)
}

/// Read the report's content out of the page's tables.
pub fn build(page: &Page) -> Result<Content> {
    let (graph, graph_nodes) = (table(page, "service_graph"), table(page, "service_graph_nodes"));
    let reconciliation = table(page, RECONCILIATION);
    let map = match (graph, graph_nodes) {
        (Some(graph), Some(graph_nodes)) => {
            let (nodes, edges) = stitched_map(graph, graph_nodes, reconciliation)?;
            Map { nodes, edges, stitched: true }
        }
        _ => {
            let (nodes, edges) = dependency_map(page)?;
            Map { nodes, edges, stitched: false }
        }
    };
    Ok(Content {
        window: page.window,
        from: time(page.window.0),
        to: time(page.window.1),
        bucket_ns: page.bucket_ns,
        cards: cards(page)?,
        slos: page.slos.map(slos).transpose()?,
        services: services(page)?,
        operations: operations(page)?,
        map,
        differences: reconciliation.map(differences).transpose()?,
        dependencies: dependencies(page)?,
        quality: table(page, "data_quality").map(quality).transpose()?,
        comparison: page.previous.map(|p| comparison(page, p)).transpose()?,
        source: source(page),
    })
}

fn cards(page: &Page) -> Result<Vec<(String, String)>> {
    let services = Columns::of(page.services_page)?;
    let whole = Columns::of(&page.tables[0])?;
    let bucket = whole.int("bucket_start");
    let (requests, faults) = (whole.int("requests"), whole.int("faults"));
    let rows = (0..whole.len()).filter(|&r| bucket[r].is_none());
    let (total, faulty) =
        rows.fold((0i64, 0i64), |(t, f), r| (t + requests[r].unwrap_or(0), f + faults[r].unwrap_or(0)));
    let availability = (total > 0).then(|| 100.0 - 100.0 * faulty as f64 / total as f64);
    let mut cards = vec![
        (thousands(services.len() as u64), "services".to_string()),
        (thousands(total as u64), "requests".to_string()),
        (fixed(availability, " %"), "availability (all services)".to_string()),
        (thousands(faulty as u64), "faults".to_string()),
    ];
    if let Some(slos) = page.slos {
        for status in ["BREACHED", "WARNING", "OK", "INSUFFICIENT_DATA"] {
            if let Some(n) = slos.statuses.get(status) {
                cards.push((n.to_string(), format!("SLOs {status}")));
            }
        }
    }
    Ok(cards)
}

fn slos(report: &SloReport) -> Result<SloSection> {
    let slos = Columns::of(&report.tables[0])?;
    let mut burns = burn_rates_by_slo(report)?;
    let sli = sli_descriptions(&slos);
    let (name, service, operation) = (slos.text("slo"), slos.text("service"), slos.text("operation"));
    let (remote, remote_op) = (slos.text("remote_service"), slos.text("remote_operation"));
    let (goal, interval, status) = (slos.number("goal"), slos.text("goal_interval"), slos.text("status"));
    let (attainment, left) = (slos.number("attainment"), slos.number("budget_remaining_pct"));
    let periods_total = slos.int("periods_total");
    let (interval_start, evaluated_at) = (slos.int("interval_start"), slos.int("evaluated_at"));
    // Each SLO's alert firings, in time order.
    let mut alerts: BTreeMap<String, Vec<Alert>> = BTreeMap::new();
    if let Some(table) = report.tables.get(4) {
        let a = Columns::of(table)?;
        let (slo, severity, rule) = (a.text("slo"), a.text("severity"), a.text("rule"));
        let (fired, resolved) = (a.int("fired_at"), a.int("resolved_at"));
        for r in 0..a.len() {
            let Some(fired_at) = fired[r] else { continue };
            alerts.entry(opt(&slo[r]).to_string()).or_default().push(Alert {
                severity: opt(&severity[r]).to_string(),
                rule: opt(&rule[r]).to_string(),
                fired_at,
                resolved_at: resolved[r],
            });
        }
    }
    for list in alerts.values_mut() {
        list.sort_by_key(|a| a.fired_at);
    }
    // The failed periods of each period-based SLO's interval.
    let periods = Columns::of(&report.tables[1])?;
    let mut bad: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let (p_slo, p_index, p_good, p_in) =
        (periods.text("slo"), periods.int("period_index"), periods.text("good"), periods.text("in_interval"));
    for r in 0..periods.len() {
        if p_good[r].as_deref() == Some("false") && p_in[r].as_deref() == Some("true") {
            bad.entry(opt(&p_slo[r]).to_string()).or_default().extend(p_index[r]);
        }
    }
    let rows = (0..slos.len())
        .map(|r| {
            let mut target = opt(&service[r]).to_string();
            if let Some(op) = &operation[r] {
                let _ = write!(target, " · {op}");
            }
            if let Some(dep) = &remote[r] {
                let _ = write!(target, " → {dep}");
                if let Some(op) = &remote_op[r] {
                    let _ = write!(target, " {op}");
                }
            }
            let name = opt(&name[r]).to_string();
            SloRow {
                target,
                sli: sli[r].clone(),
                goal: format!("{} % over {}", plain(goal[r]), opt(&interval[r])),
                attainment: fixed(attainment[r], " %"),
                budget_left: left[r],
                budget_left_text: fixed(left[r], " %"),
                status: opt(&status[r]).to_string(),
                bad_periods: periods_total[r].map(|total| (bad.get(&name).cloned().unwrap_or_default(), total)),
                burn_rates: burns.remove(&name).unwrap_or_default(),
                span: (interval_start[r].unwrap_or(report.at), evaluated_at[r].unwrap_or(report.at)),
                alerts: alerts.remove(&name).unwrap_or_default(),
                name,
            }
        })
        .collect();
    Ok(SloSection { at: time(report.at), rows })
}

fn services(page: &Page) -> Result<Vec<ServiceRow>> {
    let services = Columns::of(page.services_page)?;
    let buckets = Columns::of(&page.tables[0])?;
    // Per (environment, service): the p99 and fault-rate points of each bucket.
    let mut series: BTreeMap<(String, String), (Points, Points)> = BTreeMap::new();
    let (env, svc, start) = (buckets.text("environment"), buckets.text("service"), buckets.int("bucket_start"));
    let (p99, fault_rate) = (buckets.number("latency_p99_ms"), buckets.number("fault_rate"));
    for r in 0..buckets.len() {
        let Some(t) = start[r] else { continue };
        let entry = series.entry((opt(&env[r]).to_string(), opt(&svc[r]).to_string())).or_default();
        entry.0.extend(p99[r].map(|v| (t, v)));
        entry.1.extend(fault_rate[r].map(|v| (t, v)));
    }
    let (name, environment) = (services.text("service"), services.text("environment"));
    let (requests, availability) = (services.int("requests"), services.number("availability"));
    let (faults, errors, p99) =
        (services.number("fault_rate"), services.number("error_rate"), services.number("latency_p99_ms"));
    Ok((0..services.len())
        .map(|r| {
            let key = (opt(&environment[r]).to_string(), opt(&name[r]).to_string());
            let (p99_series, fault_series) = series.remove(&key).unwrap_or_default();
            ServiceRow {
                cells: [
                    key.1,
                    key.0,
                    count(requests[r]),
                    fixed(availability[r], " %"),
                    fixed(faults[r], ""),
                    fixed(errors[r], ""),
                    fixed(p99[r], ""),
                ],
                p99_series,
                fault_series,
            }
        })
        .collect())
}

fn operations(page: &Page) -> Result<Vec<[String; 9]>> {
    let ops = Columns::of(&page.tables[1])?;
    let (start, env, svc, op) =
        (ops.int("bucket_start"), ops.text("environment"), ops.text("service"), ops.text("operation"));
    let (requests, availability) = (ops.int("requests"), ops.number("availability"));
    let (faults, errors) = (ops.number("fault_rate"), ops.number("error_rate"));
    let (p50, p99) = (ops.number("latency_p50_ms"), ops.number("latency_p99_ms"));
    let mut rows: Vec<usize> = (0..ops.len()).filter(|&r| start[r].is_none()).collect();
    rows.sort_by(|&a, &b| {
        (opt(&svc[a]), opt(&env[a]))
            .cmp(&(opt(&svc[b]), opt(&env[b])))
            .then(p99[b].unwrap_or(0.0).total_cmp(&p99[a].unwrap_or(0.0)))
            .then(opt(&op[a]).cmp(opt(&op[b])))
    });
    let mut shown: BTreeMap<(String, String), usize> = BTreeMap::new();
    Ok(rows
        .into_iter()
        .filter(|&r| {
            let n = shown.entry((opt(&svc[r]).to_string(), opt(&env[r]).to_string())).or_default();
            *n += 1;
            *n <= OPERATIONS_PER_SERVICE
        })
        .map(|r| {
            [
                opt(&svc[r]).to_string(),
                opt(&env[r]).to_string(),
                opt(&op[r]).to_string(),
                count(requests[r]),
                fixed(availability[r], " %"),
                fixed(faults[r], ""),
                fixed(errors[r], ""),
                fixed(p50[r], ""),
                fixed(p99[r], ""),
            ]
        })
        .collect())
}

/// The service a RemoteService names, if it names one: itself, or the host of `host:port` or
/// the first label of a DNS name (`billing-service:8080`, `billing-service.default.svc`).
fn named_service<'n>(remote: &str, services: impl Iterator<Item = &'n str> + Clone) -> Option<&'n str> {
    let host = match remote.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => remote,
    };
    let first_label = host.split('.').next().unwrap_or(host);
    [remote, host, first_label].into_iter().find_map(|name| services.clone().find(|s| *s == name))
}

/// The stitched graph's nodes and whole-window edges (merged over connection types); an edge
/// the reconciliation saw only in the traces carries why.
fn stitched_map(
    graph: &Table,
    graph_nodes: &Table,
    reconciliation: Option<&Table>,
) -> Result<(Vec<MapNode>, Vec<MapEdge>)> {
    let mut trace_only: BTreeMap<(String, String), String> = BTreeMap::new();
    // Virtual callees Application Signals names as an AWS service (AWS::DynamoDB, ...).
    let mut aws: Vec<String> = Vec::new();
    if let Some(table) = reconciliation {
        let c = Columns::of(table)?;
        let (client, server, seen_by) = (c.text("client"), c.text("server"), c.text("seen_by"));
        let (reason, other) = (c.text("reason"), c.text("other_name"));
        for r in (0..c.len()).filter(|&r| seen_by[r].as_deref() == Some("trace_only")) {
            let mut why = "not on Application Signals' map".to_string();
            if let Some(other) = &other[r] {
                let _ = write!(why, ", which names it {other}");
                if other.starts_with("AWS::") {
                    aws.push(opt(&server[r]).to_string());
                }
            }
            if let Some(reason) = &reason[r] {
                let _ = write!(why, " ({})", reason.replace('_', " "));
            }
            trace_only.insert((opt(&client[r]).to_string(), opt(&server[r]).to_string()), why);
        }
    }
    let mut nodes: Vec<MapNode> = crate::report::graph::nodes(graph_nodes)?
        .into_iter()
        .map(|n| match n.virtual_node {
            false => MapNode::Service(String::new(), n.name),
            true if aws.contains(&n.name) => MapNode::AwsService(n.name),
            true => MapNode::Virtual(n.name),
        })
        .collect();
    let mut index = |name: &str| match nodes.iter().position(|n| n.label() == name) {
        Some(i) => i,
        None => {
            nodes.push(MapNode::Virtual(name.to_string()));
            nodes.len() - 1
        }
    };
    let mut edges: Vec<MapEdge> = Vec::new();
    for e in crate::report::graph::edges(graph)? {
        let (from, to) = (index(&e.client), index(&e.server));
        match edges.iter_mut().find(|x| x.from == from && x.to == to) {
            Some(edge) => {
                edge.requests += e.requests;
                edge.faults += e.faults;
                edge.p99 = edge.p99.into_iter().chain(e.p99_ms).reduce(f64::max);
            }
            None => edges.push(MapEdge {
                from,
                to,
                requests: e.requests,
                faults: e.faults,
                p99: e.p99_ms,
                differs: trace_only.get(&(e.client.clone(), e.server.clone())).cloned(),
            }),
        }
    }
    Ok((nodes, edges))
}

/// The Application Map (spec §13.3) from the dependency records: services and the dependencies
/// they call. A RemoteService that names a discovered service (also
/// as `host:port` or a DNS name whose first label is the service, which the CloudWatch agent
/// resolves on Kubernetes and the offline records cannot) is that service's node, in the caller's
/// environment when the service runs there; `AWS::` names are AWS service nodes; anything else
/// (a database, an external API) is a remote node of its own.
fn dependency_map(page: &Page) -> Result<(Vec<MapNode>, Vec<MapEdge>)> {
    let services = Columns::of(page.services_page)?;
    let (names, envs) = (services.text("service"), services.text("environment"));
    let mut nodes: Vec<MapNode> =
        (0..services.len()).map(|r| MapNode::Service(opt(&envs[r]).to_string(), opt(&names[r]).to_string())).collect();
    let Some(dependencies) = table(page, "dependency_metrics") else { return Ok((nodes, Vec::new())) };
    let deps = Columns::of(dependencies)?;
    let (set, start) = (deps.text("dimension_set"), deps.int("bucket_start"));
    let (env, svc, remote) = (deps.text("environment"), deps.text("service"), deps.text("remote_service"));
    let (requests, faults, p99) = (deps.int("requests"), deps.int("faults"), deps.number("latency_p99_ms"));
    let service_names: Vec<String> = names.iter().map(|n| opt(n).to_string()).collect();
    let index = |node: MapNode, nodes: &mut Vec<MapNode>| match nodes.iter().position(|n| *n == node) {
        Some(i) => i,
        None => {
            nodes.push(node);
            nodes.len() - 1
        }
    };
    let mut edges = Vec::new();
    for r in (0..deps.len()).filter(|&r| start[r].is_none() && set[r].as_deref() == Some("D6")) {
        let (e, caller, target) = (opt(&env[r]), opt(&svc[r]), opt(&remote[r]));
        let from = index(MapNode::Service(e.to_string(), caller.to_string()), &mut nodes);
        let to_node = match named_service(target, service_names.iter().map(String::as_str)) {
            Some(name) => {
                let same_env = MapNode::Service(e.to_string(), name.to_string());
                if nodes.contains(&same_env) {
                    same_env
                } else {
                    let other = nodes.iter().find(|n| matches!(n, MapNode::Service(_, s) if s == name));
                    other.cloned().unwrap_or(same_env)
                }
            }
            None if target.starts_with("AWS::") => MapNode::AwsService(target.to_string()),
            None => MapNode::Remote(target.to_string()),
        };
        let to = index(to_node, &mut nodes);
        let (n, f) = (requests[r].unwrap_or(0), faults[r].unwrap_or(0));
        match edges.iter_mut().find(|x: &&mut MapEdge| x.from == from && x.to == to) {
            Some(edge) => {
                edge.requests += n;
                edge.faults += f;
                edge.p99 = edge.p99.into_iter().chain(p99[r]).reduce(f64::max);
            }
            None => edges.push(MapEdge { from, to, requests: n, faults: f, p99: p99[r], differs: None }),
        }
    }
    Ok((nodes, edges))
}

/// The edges where the stitched graph and Application Signals' map disagree or are limited, from
/// `service_graph_reconciliation`: every row but those both views see alike.
fn differences(reconciliation: &Table) -> Result<Vec<[String; 8]>> {
    let c = Columns::of(reconciliation)?;
    let (client, server, seen_by) = (c.text("client"), c.text("server"), c.text("seen_by"));
    let (trace, signals, difference) = (c.int("trace_requests"), c.int("signals_requests"), c.int("difference"));
    let (reason, other) = (c.text("reason"), c.text("other_name"));
    Ok((0..c.len())
        .filter(|&r| seen_by[r].as_deref() != Some("both") || difference[r] != Some(0) || reason[r].is_some())
        .map(|r| {
            [
                opt(&client[r]).to_string(),
                opt(&server[r]).to_string(),
                opt(&seen_by[r]).replace('_', " "),
                reason[r].as_deref().map_or_else(|| "–".into(), |r| r.replace('_', " ")),
                other[r].as_deref().unwrap_or("–").to_string(),
                count(trace[r]),
                count(signals[r]),
                difference[r].map_or_else(|| "–".into(), |d| format!("{d:+}")),
            ]
        })
        .collect())
}

/// The data-quality checks that found something, with up to three example traces each.
fn quality(quality: &Table) -> Result<Vec<QualityRow>> {
    let batch = arrow::compute::concat_batches(&quality.schema, &quality.batches)?;
    let c = Columns::of(quality)?;
    let (check, detail, unit, found, share) =
        (c.text("check"), c.text("detail"), c.text("unit"), c.int("count"), c.number("share"));
    let examples = batch.column_by_name("example_trace_ids").and_then(|a| a.as_list_opt::<i32>().cloned());
    Ok((0..c.len())
        .filter(|&r| found[r].unwrap_or(0) > 0)
        .map(|r| QualityRow {
            check: opt(&check[r]).replace('_', " "),
            detail: detail[r].as_deref().unwrap_or("–").to_string(),
            examples: examples
                .as_ref()
                .filter(|l| l.is_valid(r))
                .map(|l| {
                    let values = l.value(r);
                    let values = values.as_string::<i32>();
                    values.iter().flatten().take(3).map(String::from).collect()
                })
                .unwrap_or_default(),
            count: format!("{} {}", count(found[r]), opt(&unit[r])),
            share: fixed(share[r], " %"),
        })
        .collect())
}

fn dependencies(page: &Page) -> Result<Vec<[String; 8]>> {
    let deps = Columns::of(&page.tables[2])?;
    let (set, start) = (deps.text("dimension_set"), deps.int("bucket_start"));
    let (env, svc) = (deps.text("environment"), deps.text("service"));
    let (remote, remote_op) = (deps.text("remote_service"), deps.text("remote_operation"));
    let (requests, faults, errors, p99) =
        (deps.int("requests"), deps.number("fault_rate"), deps.number("error_rate"), deps.number("latency_p99_ms"));
    // D10 (Environment, Service, RemoteService, RemoteOperation) over the whole window: one
    // row per call edge, as the console's Dependencies table shows for "All" operations.
    let mut rows: Vec<usize> =
        (0..deps.len()).filter(|&r| start[r].is_none() && set[r].as_deref() == Some("D10")).collect();
    rows.sort_by(|&a, &b| {
        (opt(&svc[a]), opt(&env[a]))
            .cmp(&(opt(&svc[b]), opt(&env[b])))
            .then(requests[b].cmp(&requests[a]))
            .then((opt(&remote[a]), opt(&remote_op[a])).cmp(&(opt(&remote[b]), opt(&remote_op[b]))))
    });
    Ok(rows
        .into_iter()
        .map(|r| {
            [
                opt(&svc[r]).to_string(),
                opt(&env[r]).to_string(),
                opt(&remote[r]).to_string(),
                opt(&remote_op[r]).to_string(),
                count(requests[r]),
                fixed(faults[r], ""),
                fixed(errors[r], ""),
                fixed(p99[r], ""),
            ]
        })
        .collect())
}

fn source(page: &Page) -> String {
    match (&page.input.signals_file, &page.input.derived) {
        (Some(file), _) => format!("the metric records of {}", page.input.shown(file)),
        (None, Some(d)) => {
            let records = format!(
                "{} spans in {} traces ({} service and {} dependency records)",
                thousands(d.stats.spans),
                thousands(d.stats.traces),
                thousands(d.stats.service_records),
                thousands(d.stats.dependency_records)
            );
            match super::summary::sampling_text(&d.stats) {
                Some(sampling) => format!("{records}; {sampling}"),
                None => records,
            }
        }
        (None, None) => match &page.input.store {
            Some(store) => format!("the spans of {} (records derived on the cluster)", page.input.shown(store)),
            None => "no records".into(),
        },
    }
}

/// A service's figures in one window: requests, fault rate (%), p99 (ms).
type ServiceFigures = (Option<i64>, Option<f64>, Option<f64>);

/// Each service's figures of a services page, by (environment, service).
fn service_figures(page: &Table) -> Result<BTreeMap<(String, String), ServiceFigures>> {
    let c = Columns::of(page)?;
    let (name, env) = (c.text("service"), c.text("environment"));
    let (requests, faults, p99) = (c.int("requests"), c.number("fault_rate"), c.number("latency_p99_ms"));
    Ok((0..c.len())
        .map(|r| ((opt(&env[r]).to_string(), opt(&name[r]).to_string()), (requests[r], faults[r], p99[r])))
        .collect())
}

/// An SLO's attainment, budget left (%) and status at the end of one window.
type SloFigures = (Option<f64>, Option<f64>, String);

/// Each SLO's figures at the end of one window, by name.
fn slo_figures(report: Option<&SloReport>) -> Result<BTreeMap<String, SloFigures>> {
    let Some(report) = report else { return Ok(BTreeMap::new()) };
    let c = Columns::of(&report.tables[0])?;
    let (name, attainment, left, status) =
        (c.text("slo"), c.number("attainment"), c.number("budget_remaining_pct"), c.text("status"));
    Ok((0..c.len())
        .map(|r| (opt(&name[r]).to_string(), (attainment[r], left[r], opt(&status[r]).to_string())))
        .collect())
}

/// `+1.23` / `-0.50`: a difference of two figures, "–" unless both are known.
fn delta(before: Option<f64>, now: Option<f64>) -> Option<f64> {
    Some(now? - before?)
}

fn signed(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:+.2}{unit}"))
}

/// `payment-service: fault rate 0.20 % → 0.87 % (+0.67 pp)`.
fn change_text(
    subject: &str,
    what: &str,
    figures: (Option<f64>, Option<f64>),
    unit: &str,
    change: (f64, &str),
) -> String {
    let (before, now) = figures;
    format!("{subject}: {what} {} → {} ({})", fixed(before, unit), fixed(now, unit), signed(Some(change.0), change.1))
}

/// A relative change in percent, "–" when the earlier figure is unknown or zero.
fn relative(before: Option<f64>, now: Option<f64>) -> Option<f64> {
    let (before, now) = (before?, now?);
    (before != 0.0).then(|| 100.0 * (now - before) / before)
}

/// The report's window against the one before: per service and per SLO, and the regressions.
fn comparison(page: &Page, previous: &PreviousWindow) -> Result<Comparison> {
    let now = service_figures(page.services_page)?;
    let before = service_figures(&previous.services_page)?;
    // The current page's order (worst first), then services seen only before.
    let current = Columns::of(page.services_page)?;
    let (name, env) = (current.text("service"), current.text("environment"));
    let mut keys: Vec<(String, String)> =
        (0..current.len()).map(|r| (opt(&env[r]).to_string(), opt(&name[r]).to_string())).collect();
    keys.extend(before.keys().filter(|k| !now.contains_key(*k)).cloned());
    let mut fault_regressions = Vec::new();
    let mut latency_regressions = Vec::new();
    let services = keys
        .iter()
        .map(|key| {
            let (n_req, n_fault, n_p99) = now.get(key).copied().unwrap_or_default();
            let (b_req, b_fault, b_p99) = before.get(key).copied().unwrap_or_default();
            let as_f64 = |v: Option<i64>| v.map(|v| v as f64);
            if let Some(d) = delta(b_fault, n_fault).filter(|d| *d > 0.0) {
                fault_regressions.push((d, change_text(&key.1, "fault rate", (b_fault, n_fault), " %", (d, " pp"))));
            }
            if let Some(r) = relative(b_p99, n_p99).filter(|r| *r > 0.0) {
                latency_regressions.push((r, change_text(&key.1, "p99", (b_p99, n_p99), " ms", (r, " %"))));
            }
            [
                key.1.clone(),
                key.0.clone(),
                count(b_req),
                count(n_req),
                signed(relative(as_f64(b_req), as_f64(n_req)), " %"),
                fixed(b_fault, ""),
                fixed(n_fault, ""),
                signed(delta(b_fault, n_fault), ""),
                fixed(b_p99, ""),
                fixed(n_p99, ""),
                signed(relative(b_p99, n_p99), " %"),
            ]
        })
        .collect();
    let slo_now = slo_figures(page.slos)?;
    let slo_before = slo_figures(previous.slos.as_ref())?;
    let mut budget_regressions = Vec::new();
    let mut slo_names: Vec<&String> = slo_now.keys().collect();
    if let Some(report) = page.slos {
        // The definitions' order.
        let order = Columns::of(&report.tables[0])?.text("slo");
        slo_names.sort_by_key(|n| order.iter().position(|o| o.as_deref() == Some(n.as_str())));
    }
    let slos = slo_names
        .into_iter()
        .map(|name| {
            let (n_att, n_left, n_status) = slo_now.get(name).cloned().unwrap_or_default();
            let (b_att, b_left, b_status) = slo_before.get(name).cloned().unwrap_or_default();
            if let Some(d) = delta(b_left, n_left).filter(|d| *d < 0.0) {
                budget_regressions
                    .push((-d, change_text(name, "error budget left", (b_left, n_left), " %", (d, " pp"))));
            }
            let or_dash = |s: String| if s.is_empty() { "–".to_string() } else { s };
            [
                name.clone(),
                fixed(b_att, " %"),
                fixed(n_att, " %"),
                signed(delta(b_att, n_att), ""),
                fixed(b_left, " %"),
                fixed(n_left, " %"),
                signed(delta(b_left, n_left), ""),
                or_dash(b_status),
                or_dash(n_status),
            ]
        })
        .collect();
    let mut regressions = Vec::new();
    for mut kind in [fault_regressions, latency_regressions, budget_regressions] {
        // Largest first; ties in the text's order, so the list is the same every run.
        kind.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        regressions.extend(kind.into_iter().take(REGRESSIONS_PER_KIND).map(|(_, text)| text));
    }
    Ok(Comparison { from: time(previous.window.0), to: time(previous.window.1), regressions, services, slos })
}
