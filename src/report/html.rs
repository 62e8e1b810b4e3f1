//! `report.html`: the report as one self-contained page for people — inline CSS and SVG, no
//! script, no external resource, so it opens from a mail attachment or an S3 bucket alike.
//! Sections: a summary, the SLOs (attainment, error budget bar, status, burn rates), the
//! services (with sparklines of p99 latency and fault rate per bucket), each service's slowest
//! operations, the service map (the trace-stitched service graph by call depth, and where
//! Application Signals' map differs from it), the dependencies (dimension set D10) and the
//! data-quality checks that found something. Everything in it comes from the
//! tables the run writes as Parquet; nothing time- or host-dependent goes in, so the same
//! input gives the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write;

use arrow::array::{Array, AsArray};

use crate::error::Result;
use crate::graph::RECONCILIATION;
use crate::model::table::Columns;
use crate::model::table::Table;
use crate::outcome::SignalsInput;
use crate::report::slo_table::{burn_rates_by_slo, sli_descriptions};
use crate::report::text::{fixed, plain};
use crate::slo::SloReport;
use crate::util::thousands;

/// The file name of the page in an output directory.
pub const FILE: &str = "report.html";

/// Operations listed per service (the slowest by p99).
const OPERATIONS_PER_SERVICE: usize = 5;

/// Sparkline size in CSS pixels.
const SPARK_WIDTH: f64 = 168.0;
const SPARK_HEIGHT: f64 = 28.0;

/// A sparkline's points: (bucket start in ns, value).
type Points = Vec<(i64, f64)>;

/// What the page shows.
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
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1d2430}
h1{font-size:1.6rem;margin:0}h2{font-size:1.2rem;margin:2rem 0 .6rem;border-bottom:1px solid #d9dee7;padding-bottom:.3rem}
.window{color:#5b6578;margin:.2rem 0 1rem}
.cards{display:flex;gap:.8rem;flex-wrap:wrap}.card{border:1px solid #d9dee7;border-radius:6px;padding:.6rem .9rem;min-width:9rem}
.card b{display:block;font-size:1.3rem}.card span{color:#5b6578;font-size:.85rem}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .5rem;border-bottom:1px solid #eceff4;text-align:left;vertical-align:middle}
th{font-weight:600;color:#3b4455;background:#f6f8fb}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600;border-radius:4px;padding:.1rem .4rem;font-size:.8rem}
.OK{background:#dff3e4;color:#17692f}.WARNING{background:#fff1cc;color:#7a5600}.BREACHED{background:#fde0de;color:#9d1c12}
.INSUFFICIENT_DATA{background:#eceff4;color:#3b4455}
.bar{background:#eceff4;border-radius:3px;height:.55rem;width:8rem;display:inline-block;vertical-align:middle;margin-right:.4rem}
.bar i{display:block;height:100%;border-radius:3px}
svg.spark{vertical-align:middle}td.burn{white-space:nowrap}.muted{color:#5b6578}footer{margin-top:2.5rem;color:#5b6578;font-size:.85rem}
";

/// `text` with the five HTML-special characters escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(t: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(t).format("%Y-%m-%d %H:%M").to_string()
}

fn cell(text: &str) -> String {
    format!("<td>{}</td>", escape(text))
}

fn number_cell(text: &str) -> String {
    format!("<td class=\"n\">{}</td>", escape(text))
}

fn header(cells: &[&str], numeric_from: usize) -> String {
    let cells: String = cells
        .iter()
        .enumerate()
        .map(|(i, c)| if i >= numeric_from { format!("<th class=\"n\">{c}</th>") } else { format!("<th>{c}</th>") })
        .collect();
    format!("<thead><tr>{cells}</tr></thead>")
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("–")
}

fn count(v: Option<i64>) -> String {
    v.map_or_else(|| "–".into(), |v| thousands(v.max(0) as u64))
}

/// An inline SVG sparkline of `points` (bucket start, value) over the window: a line, or bars
/// for `bars`; `label` names the series in the tooltip.
fn sparkline(points: &[(i64, f64)], window: (i64, i64), bucket_ns: i64, bars: bool, label: &str) -> String {
    let span = (window.1 - window.0).max(1) as f64;
    let max = points.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    let x = |t: i64| ((t - window.0) as f64 / span * SPARK_WIDTH).clamp(0.0, SPARK_WIDTH);
    let y = |v: f64| if max > 0.0 { SPARK_HEIGHT - 1.0 - v / max * (SPARK_HEIGHT - 2.0) } else { SPARK_HEIGHT - 1.0 };
    let mut body = String::new();
    if bars {
        let width = (bucket_ns as f64 / span * SPARK_WIDTH).max(1.0);
        for &(t, v) in points.iter().filter(|p| p.1 > 0.0) {
            let top = y(v);
            let _ = write!(
                body,
                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"#d2372b\"/>",
                x(t),
                SPARK_HEIGHT - top
            );
        }
    } else if !points.is_empty() {
        let line: Vec<String> = points.iter().map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v))).collect();
        let _ = write!(
            body,
            "<polyline fill=\"none\" stroke=\"#2f6fdb\" stroke-width=\"1.2\" points=\"{}\"/>",
            line.join(" ")
        );
    }
    format!(
        "<svg class=\"spark\" width=\"{SPARK_WIDTH}\" height=\"{SPARK_HEIGHT}\" viewBox=\"0 0 {SPARK_WIDTH} \
         {SPARK_HEIGHT}\" role=\"img\"><title>{} (max {max:.2})</title><rect width=\"{SPARK_WIDTH}\" \
         height=\"{SPARK_HEIGHT}\" fill=\"#f6f8fb\"/>{body}</svg>",
        escape(label)
    )
}

/// An inline SVG strip of a period-based SLO's interval with its bad periods in red.
fn bad_period_strip(bad: &[i64], total: i64) -> String {
    let total = total.max(1) as f64;
    let width = (SPARK_WIDTH / total).max(1.0);
    let mut body = String::new();
    for &i in bad {
        let _ = write!(
            body,
            "<rect x=\"{:.1}\" y=\"0\" width=\"{width:.1}\" height=\"{SPARK_HEIGHT}\" fill=\"#d2372b\"/>",
            i as f64 / total * SPARK_WIDTH
        );
    }
    format!(
        "<svg class=\"spark\" width=\"{SPARK_WIDTH}\" height=\"{SPARK_HEIGHT}\" viewBox=\"0 0 {SPARK_WIDTH} \
         {SPARK_HEIGHT}\" role=\"img\"><title>{} bad periods of {total}</title><rect width=\"{SPARK_WIDTH}\" \
         height=\"{SPARK_HEIGHT}\" fill=\"#dff3e4\"/>{body}</svg>",
        bad.len()
    )
}

fn summary_cards(out: &mut String, page: &Page) -> Result<()> {
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
    out.push_str("<section id=\"summary\" class=\"cards\">");
    for (value, label) in cards {
        let _ = write!(out, "<div class=\"card\"><b>{}</b><span>{}</span></div>", escape(&value), escape(&label));
    }
    out.push_str("</section>");
    Ok(())
}

fn slo_section(out: &mut String, report: &SloReport) -> Result<()> {
    let slos = Columns::of(&report.tables[0])?;
    let mut burns = burn_rates_by_slo(report)?;
    let sli = sli_descriptions(&slos);
    let (name, service, operation) = (slos.text("slo"), slos.text("service"), slos.text("operation"));
    let (remote, remote_op) = (slos.text("remote_service"), slos.text("remote_operation"));
    let (goal, interval, status) = (slos.number("goal"), slos.text("goal_interval"), slos.text("status"));
    let (attainment, left) = (slos.number("attainment"), slos.number("budget_remaining_pct"));
    let periods_total = slos.int("periods_total");
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
    let at = time(report.at);
    let _ = write!(
        out,
        "<section id=\"slos\"><h2>SLOs</h2><p class=\"muted\">Evaluated at {at} UTC. Bad periods: the \
         interval of a period-based SLO, its failed periods in red.</p><table>"
    );
    out.push_str(&header(
        &["SLO", "Target", "SLI", "Goal", "Attainment", "Budget left", "Status", "Bad periods", "Burn rates"],
        4,
    ));
    out.push_str("<tbody>");
    for r in 0..slos.len() {
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
        let state = opt(&status[r]);
        let width = left[r].map_or(0.0, |v| v.clamp(0.0, 100.0));
        let color = match state {
            "BREACHED" => "#d2372b",
            "WARNING" => "#e0a100",
            _ => "#2e9d4f",
        };
        let name_text = opt(&name[r]).to_string();
        let burn: Vec<String> = burns.remove(&name_text).unwrap_or_default().iter().map(|b| escape(b)).collect();
        let strip = match periods_total[r] {
            Some(total) => bad_period_strip(bad.get(&name_text).map_or(&[][..], Vec::as_slice), total),
            None => "–".into(),
        };
        let _ = write!(
            out,
            "<tr>{}{}{}{}{}<td class=\"n\"><span class=\"bar\"><i style=\"width:{width:.1}%;background:{color}\"></i></span>{}</td>\
             <td><span class=\"status {state}\">{state}</span></td><td>{strip}</td>{}</tr>",
            cell(&name_text),
            cell(&target),
            cell(&sli[r]),
            cell(&format!("{} % over {}", plain(goal[r]), opt(&interval[r]))),
            number_cell(&fixed(attainment[r], " %")),
            escape(&fixed(left[r], " %")),
            format_args!("<td class=\"burn\">{}</td>", burn.join("<br>")),
        );
    }
    out.push_str("</tbody></table></section>");
    Ok(())
}

fn services_section(out: &mut String, page: &Page) -> Result<()> {
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
    out.push_str("<section id=\"services\"><h2>Services</h2><table>");
    out.push_str(&header(
        &[
            "Service",
            "Environment",
            "Requests",
            "Availability",
            "Fault %",
            "Error %",
            "p99 ms",
            "p99 latency",
            "Fault rate",
        ],
        2,
    ));
    out.push_str("<tbody>");
    let (name, environment) = (services.text("service"), services.text("environment"));
    let (requests, availability) = (services.int("requests"), services.number("availability"));
    let (faults, errors, p99) =
        (services.number("fault_rate"), services.number("error_rate"), services.number("latency_p99_ms"));
    let per = format!("per {}", bucket_label(page.bucket_ns));
    for r in 0..services.len() {
        let key = (opt(&environment[r]).to_string(), opt(&name[r]).to_string());
        let (latency, fault) = series.remove(&key).unwrap_or_default();
        let _ = write!(
            out,
            "<tr>{}{}{}{}{}{}{}<td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            cell(&key.1),
            cell(&key.0),
            number_cell(&count(requests[r])),
            number_cell(&fixed(availability[r], " %")),
            number_cell(&fixed(faults[r], "")),
            number_cell(&fixed(errors[r], "")),
            number_cell(&fixed(p99[r], "")),
            sparkline(&latency, page.window, page.bucket_ns, false, &format!("p99 latency ms {per}")),
            sparkline(&fault, page.window, page.bucket_ns, true, &format!("fault rate % {per}")),
        );
    }
    if services.is_empty() {
        out.push_str("<tr><td colspan=\"9\" class=\"muted\">No service records in the window.</td></tr>");
    }
    out.push_str("</tbody></table></section>");
    Ok(())
}

fn bucket_label(bucket_ns: i64) -> String {
    let s = bucket_ns / 1_000_000_000;
    match s {
        s if s % 86_400 == 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn operations_section(out: &mut String, page: &Page) -> Result<()> {
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
    let _ = write!(
        out,
        "<section id=\"operations\"><h2>Operations</h2><p class=\"muted\">The {OPERATIONS_PER_SERVICE} slowest \
         operations of each service by p99 latency.</p><table>"
    );
    out.push_str(&header(
        &["Service", "Environment", "Operation", "Requests", "Availability", "Fault %", "Error %", "p50 ms", "p99 ms"],
        3,
    ));
    out.push_str("<tbody>");
    let mut shown: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in rows {
        let n = shown.entry((opt(&svc[r]).to_string(), opt(&env[r]).to_string())).or_default();
        *n += 1;
        if *n > OPERATIONS_PER_SERVICE {
            continue;
        }
        let _ = write!(
            out,
            "<tr>{}{}{}{}{}{}{}{}{}</tr>",
            cell(opt(&svc[r])),
            cell(opt(&env[r])),
            cell(opt(&op[r])),
            number_cell(&count(requests[r])),
            number_cell(&fixed(availability[r], " %")),
            number_cell(&fixed(faults[r], "")),
            number_cell(&fixed(errors[r], "")),
            number_cell(&fixed(p50[r], "")),
            number_cell(&fixed(p99[r], "")),
        );
    }
    out.push_str("</tbody></table></section>");
    Ok(())
}

/// A node of the service map: a service (environment, name), or a dependency target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum MapNode {
    Service(String, String),
    AwsService(String),
    Remote(String),
    /// A virtual node of the stitched graph: `user`, or a callee no server span answered for.
    Virtual(String),
}

impl MapNode {
    fn label(&self) -> &str {
        match self {
            MapNode::Service(_, name) | MapNode::AwsService(name) | MapNode::Remote(name) | MapNode::Virtual(name) => {
                name
            }
        }
    }

    fn class(&self) -> &'static str {
        match self {
            MapNode::Service(..) => "service",
            MapNode::AwsService(_) => "aws",
            MapNode::Remote(_) => "remote",
            MapNode::Virtual(_) => "virtual",
        }
    }
}

/// One call edge of the map: the stitched edges between two nodes, or the D6 rows
/// (Environment, Service, RemoteService) between them.
struct MapEdge {
    from: usize,
    to: usize,
    requests: i64,
    faults: i64,
    /// The largest p99 of the rows merged into the edge.
    p99: Option<f64>,
    /// Not on Application Signals' map: drawn dashed, with why in its title.
    differs: Option<String>,
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

/// The table called `name` among the page's tables, if the run computed it.
fn table<'t>(page: &Page<'t>, name: &str) -> Option<&'t Table> {
    page.tables.iter().find(|t| t.name == name)
}

/// The service map: the trace-stitched service graph when the run computed it (its edges that
/// Application Signals' map lacks drawn dashed, and the edges where the two disagree listed
/// below it), else the Application Map drawn from the dependency records.
fn service_map(out: &mut String, page: &Page) -> Result<()> {
    let (graph, graph_nodes) = (table(page, "service_graph"), table(page, "service_graph_nodes"));
    let reconciliation = table(page, RECONCILIATION);
    let (nodes, edges, caption) = match (graph, graph_nodes) {
        (Some(graph), Some(graph_nodes)) => {
            let (nodes, edges) = stitched_map(graph, graph_nodes, reconciliation)?;
            (nodes, edges, STITCHED_CAPTION)
        }
        _ => {
            let (nodes, edges) = dependency_map(page)?;
            (nodes, edges, DEPENDENCY_CAPTION)
        }
    };
    draw_map(out, &nodes, &edges, caption);
    if let Some(reconciliation) = reconciliation {
        differences_section(out, reconciliation)?;
    }
    out.push_str("</section>");
    Ok(())
}

const STITCHED_CAPTION: &str = "The services as the traces connect them (client spans paired with the server spans \
     they caused), by call depth; grey nodes are virtual: <code>user</code> for callers outside the traces, or a \
     callee that answered with no span (orange when Application Signals names it as an AWS service). Dashed edges are missing from Application Signals' map (which names callees \
     as the client saw them); edges in red have a fault rate of 1 % or more, wider ones carry more calls.";

const DEPENDENCY_CAPTION: &str = "Services (blue), AWS services (orange) and other dependencies (grey), by call \
     depth; edges in red have a fault rate of 1 % or more, wider ones carry more calls.";

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

/// Draw `nodes` and `edges` as an inline SVG laid out left to right by call depth, under
/// `caption`, opening the map's section.
fn draw_map(out: &mut String, nodes: &[MapNode], edges: &[MapEdge], caption: &str) {
    // Depth: the longest call chain from a node nobody calls (cycles stop at the node count).
    let mut depth = vec![0usize; nodes.len()];
    for _ in 0..nodes.len() {
        let mut changed = false;
        for e in edges {
            if e.from != e.to && depth[e.to] < depth[e.from] + 1 && depth[e.from] + 1 < nodes.len() {
                depth[e.to] = depth[e.from] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let columns = depth.iter().max().map_or(0, |d| d + 1);
    let mut rows = vec![0usize; columns];
    let mut order: Vec<usize> = (0..nodes.len()).collect();
    order.sort_by(|&a, &b| (depth[a], &nodes[a]).cmp(&(depth[b], &nodes[b])));
    let mut position = vec![(0.0, 0.0); nodes.len()];
    const NODE_W: f64 = 176.0;
    const NODE_H: f64 = 30.0;
    const COL_W: f64 = 250.0;
    const ROW_H: f64 = 44.0;
    for &n in &order {
        position[n] = (8.0 + depth[n] as f64 * COL_W, 8.0 + rows[depth[n]] as f64 * ROW_H);
        rows[depth[n]] += 1;
    }
    let width = 16.0 + columns.saturating_sub(1) as f64 * COL_W + NODE_W;
    let height = 16.0 + rows.iter().max().copied().unwrap_or(0).saturating_sub(1) as f64 * ROW_H + NODE_H;
    let _ = write!(
        out,
        "<section id=\"map\"><h2>Service map</h2><p class=\"muted\">{caption}</p><svg id=\"service-map\" \
         width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" role=\"img\">"
    );
    for e in edges {
        let (x1, y1) = (position[e.from].0 + NODE_W, position[e.from].1 + NODE_H / 2.0);
        let (x2, y2) = (position[e.to].0, position[e.to].1 + NODE_H / 2.0);
        let bend = ((x2 - x1).abs() / 2.0).max(40.0);
        let fault_rate = (e.requests > 0).then(|| 100.0 * e.faults as f64 / e.requests as f64);
        let faulty = fault_rate.is_some_and(|f| f >= 1.0);
        let stroke = if faulty { "#d2372b" } else { "#8a94a6" };
        let stroke_width = 1.0 + (e.requests.max(1) as f64).log10() / 2.0;
        let (class, dash, differs) = match &e.differs {
            Some(why) => ("edge differs", " stroke-dasharray=\"6 4\"", format!("; {why}")),
            None => ("edge", "", String::new()),
        };
        let _ = write!(
            out,
            "<path class=\"{class}\" d=\"M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}\" fill=\"none\" \
             stroke=\"{stroke}\" stroke-width=\"{stroke_width:.1}\"{dash}><title>{} → {}: {} calls, fault rate {}, p99 \
             {} ms{}</title></path>",
            x1 + bend,
            x2 - bend,
            escape(nodes[e.from].label()),
            escape(nodes[e.to].label()),
            thousands(e.requests.max(0) as u64),
            fixed(fault_rate, " %"),
            fixed(e.p99, ""),
            escape(&differs),
        );
    }
    for (n, node) in nodes.iter().enumerate() {
        let (x, y) = position[n];
        let label = node.label();
        let short: String = if label.chars().count() > 24 {
            label.chars().take(23).chain(['…']).collect()
        } else {
            label.to_string()
        };
        let (fill, border) = match node {
            MapNode::Service(..) => ("#e8f0fd", "#2f6fdb"),
            MapNode::AwsService(_) => ("#fff1e0", "#d9822b"),
            MapNode::Remote(_) | MapNode::Virtual(_) => ("#f1f3f6", "#8a94a6"),
        };
        let title = match node {
            MapNode::Service(env, name) if !env.is_empty() => format!("{name} ({env})"),
            other => other.label().to_string(),
        };
        let _ = write!(
            out,
            "<g class=\"node {}\"><title>{}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{NODE_W}\" \
             height=\"{NODE_H}\" rx=\"5\" fill=\"{fill}\" stroke=\"{border}\"/><text x=\"{:.1}\" y=\"{:.1}\" \
             font-size=\"12\">{}</text></g>",
            node.class(),
            escape(&title),
            x + 8.0,
            y + 19.0,
            escape(&short),
        );
    }
    out.push_str("</svg>");
}

/// The edges where the stitched graph and Application Signals' map disagree or are limited, from
/// `service_graph_reconciliation`: every row but those both views see alike.
fn differences_section(out: &mut String, reconciliation: &Table) -> Result<()> {
    let c = Columns::of(reconciliation)?;
    let (client, server, seen_by) = (c.text("client"), c.text("server"), c.text("seen_by"));
    let (trace, signals, difference) = (c.int("trace_requests"), c.int("signals_requests"), c.int("difference"));
    let (reason, other) = (c.text("reason"), c.text("other_name"));
    let shown: Vec<usize> = (0..c.len())
        .filter(|&r| seen_by[r].as_deref() != Some("both") || difference[r] != Some(0) || reason[r].is_some())
        .collect();
    if shown.is_empty() {
        out.push_str("<p class=\"muted\">The traces and Application Signals' map agree on every edge.</p>");
        return Ok(());
    }
    let _ = write!(
        out,
        "<h3>Where the traces and Application Signals' map differ</h3><p class=\"muted\">Each edge of either view \
         (service_graph_reconciliation): seen in both, only in the traces, or only in the dependency records of the \
         client spans; <i>other name</i> is what the other view calls the same calls.</p><table id=\"map-differences\">\
         {}<tbody>",
        header(
            &[
                "Client",
                "Server",
                "Seen by",
                "Reason",
                "Other name",
                "Trace requests",
                "Signals requests",
                "Difference"
            ],
            5
        )
    );
    for r in shown {
        let _ = write!(
            out,
            "<tr>{}{}{}{}{}{}{}{}</tr>",
            cell(opt(&client[r])),
            cell(opt(&server[r])),
            cell(&opt(&seen_by[r]).replace('_', " ")),
            cell(&reason[r].as_deref().map_or_else(|| "–".into(), |r| r.replace('_', " "))),
            cell(other[r].as_deref().unwrap_or("–")),
            number_cell(&count(trace[r])),
            number_cell(&count(signals[r])),
            number_cell(&difference[r].map_or_else(|| "–".into(), |d| format!("{d:+}"))),
        );
    }
    out.push_str("</tbody></table>");
    Ok(())
}

/// The data-quality checks that found something, with up to three example traces each.
fn quality_section(out: &mut String, quality: &Table) -> Result<()> {
    let batch = arrow::compute::concat_batches(&quality.schema, &quality.batches)?;
    let c = Columns::of(quality)?;
    let (check, detail, unit, found, share) =
        (c.text("check"), c.text("detail"), c.text("unit"), c.int("count"), c.number("share"));
    let examples = batch.column_by_name("example_trace_ids").and_then(|a| a.as_list_opt::<i32>().cloned());
    let rows: Vec<usize> = (0..c.len()).filter(|&r| found[r].unwrap_or(0) > 0).collect();
    out.push_str("<section id=\"data-quality\"><h2>Data quality</h2>");
    if rows.is_empty() {
        out.push_str(
            "<p class=\"muted\">No check found anything: every trace has a root, every span a service \
             name, every client span its server span.</p></section>",
        );
        return Ok(());
    }
    let _ = write!(
        out,
        "<p class=\"muted\">What in the input keeps traces from being stitched or counted right (data_quality); \
         look an example up with <code>spanlens sql</code>.</p><table id=\"quality\">{}<tbody>",
        header(&["Check", "Detail", "Example traces", "Count", "Share"], 3)
    );
    for r in rows {
        let ids: Vec<String> = examples
            .as_ref()
            .filter(|l| l.is_valid(r))
            .map(|l| {
                let values = l.value(r);
                let values = values.as_string::<i32>();
                values.iter().flatten().take(3).map(String::from).collect()
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr>{}{}<td><code>{}</code></td>{}{}</tr>",
            cell(&opt(&check[r]).replace('_', " ")),
            cell(detail[r].as_deref().unwrap_or("–")),
            escape(&ids.join(" ")),
            number_cell(&format!("{} {}", count(found[r]), opt(&unit[r]))),
            number_cell(&fixed(share[r], " %")),
        );
    }
    out.push_str("</tbody></table></section>");
    Ok(())
}

fn dependencies_section(out: &mut String, page: &Page) -> Result<()> {
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
    out.push_str("<section id=\"dependencies\"><h2>Dependencies</h2><table>");
    out.push_str(&header(
        &["Service", "Environment", "Dependency", "Remote operation", "Requests", "Fault %", "Error %", "p99 ms"],
        4,
    ));
    out.push_str("<tbody>");
    for r in rows {
        let _ = write!(
            out,
            "<tr>{}{}{}{}{}{}{}{}</tr>",
            cell(opt(&svc[r])),
            cell(opt(&env[r])),
            cell(opt(&remote[r])),
            cell(opt(&remote_op[r])),
            number_cell(&count(requests[r])),
            number_cell(&fixed(faults[r], "")),
            number_cell(&fixed(errors[r], "")),
            number_cell(&fixed(p99[r], "")),
        );
    }
    out.push_str("</tbody></table></section>");
    Ok(())
}

fn footer(out: &mut String, page: &Page) {
    let source = match (&page.input.signals_file, &page.input.derived) {
        (Some(file), _) => format!("the metric records of {}", page.input.shown(file)),
        (None, Some(d)) => format!(
            "{} spans in {} traces ({} service and {} dependency records)",
            thousands(d.stats.spans),
            thousands(d.stats.traces),
            thousands(d.stats.service_records),
            thousands(d.stats.dependency_records)
        ),
        (None, None) => "no records".into(),
    };
    let _ = write!(
        out,
        "<footer>spanlens {} · from {} · Application Signals semantics: Error = 4xx, Fault = 5xx or status \
         ERROR; exact percentiles.</footer>",
        env!("CARGO_PKG_VERSION"),
        escape(&source)
    );
}

/// The page for `page`.
pub fn render(page: &Page) -> Result<String> {
    let (from, to) = (time(page.window.0), time(page.window.1));
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>spanlens report {from} – {to}</title>\
         <style>{STYLE}</style></head><body><header><h1>spanlens report</h1><p class=\"window\">{from} – {to} UTC \
         ({} buckets)</p></header>",
        bucket_label(page.bucket_ns)
    );
    summary_cards(&mut out, page)?;
    if let Some(slos) = page.slos {
        slo_section(&mut out, slos)?;
    }
    services_section(&mut out, page)?;
    operations_section(&mut out, page)?;
    service_map(&mut out, page)?;
    dependencies_section(&mut out, page)?;
    if let Some(quality) = table(page, "data_quality") {
        quality_section(&mut out, quality)?;
    }
    footer(&mut out, page);
    out.push_str("</body></html>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_sparklines_scale_to_the_window() {
        assert_eq!(
            escape(r#"<a href="x">O'Neil & co</a>"#),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
        let hour = 3_600_000_000_000;
        let svg = sparkline(&[(0, 1.0), (12 * hour, 2.0)], (0, 24 * hour), hour, false, "p99");
        assert!(svg.contains("points=\"0.0,14.0 84.0,1.0\""), "{svg}");
        assert!(svg.contains("<title>p99 (max 2.00)</title>"), "{svg}");
        let bars = sparkline(&[(0, 0.0), (23 * hour, 50.0)], (0, 24 * hour), hour, true, "faults");
        assert_eq!(bars.matches("<rect").count(), 2, "background and one bar: {bars}");
        assert!(bars.contains("x=\"161.0\" y=\"1.0\" width=\"7.0\" height=\"27.0\""), "{bars}");
        assert_eq!(
            (bucket_label(hour), bucket_label(300_000_000_000), bucket_label(86_400_000_000_000)),
            ("1 h".into(), "5 min".into(), "1 d".into())
        );
    }
}
