//! `report.md`: the report's content ([`super::content`]) as Markdown, for a wiki page, a chat
//! message or an email: the same sections and figures as `report.html`, as GitHub-flavoured
//! Markdown tables, the series as Unicode sparklines, and the service map as a Mermaid
//! flowchart (dashed edges where Application Signals' map lacks them). Deterministic, as the
//! page is.

use std::fmt::Write;
use std::ops::Range;

use crate::report::content::{
    Alert, COMPARISON_SERVICE_COLUMNS, COMPARISON_SLO_COLUMNS, Content, DEPENDENCY_COLUMNS, DIFFERENCE_COLUMNS, Map,
    MapNode, OPERATION_COLUMNS, OPERATIONS_PER_SERVICE, Points, QUALITY_COLUMNS, SERVICE_COLUMNS, SLO_COLUMNS,
    bucket_label,
};
use crate::report::text::fixed;
use crate::util::thousands;

/// The file name of the Markdown report in an output directory.
pub const FILE: &str = "report.md";

/// Characters of a sparkline: a series is drawn in at most this many, each the largest value
/// of the buckets it covers.
const SPARK_CHARS: usize = 28;
/// Alert firings listed per SLO.
const ALERTS_LISTED: usize = 4;
const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `text` fit for a table cell: `|` and `\` escaped, line breaks as spaces.
pub fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A table: the header, its alignment row (the columns in `right` right-aligned), the rows.
fn table<R: AsRef<[String]>>(
    out: &mut String,
    header: &[&str],
    right: Range<usize>,
    rows: impl IntoIterator<Item = R>,
) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let align: Vec<&str> = (0..header.len()).map(|i| if right.contains(&i) { "---:" } else { "---" }).collect();
    let _ = writeln!(out, "| {} |", align.join(" | "));
    for row in rows {
        let cells: Vec<String> = row.as_ref().iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// A Unicode sparkline of `points` over the window: `·` where a stretch has no bucket, else the
/// stretch's largest value scaled to the series' largest (`▁` for zero).
pub fn sparkline(points: &Points, window: (i64, i64), bucket_ns: i64) -> String {
    let buckets = ((window.1 - window.0).max(1) as u64).div_ceil(bucket_ns.max(1) as u64) as usize;
    let slots = buckets.clamp(1, SPARK_CHARS);
    let span = (window.1 - window.0).max(1) as f64;
    let mut top: Vec<Option<f64>> = vec![None; slots];
    for &(t, v) in points {
        let slot = (((t - window.0) as f64 / span * slots as f64) as usize).min(slots - 1);
        top[slot] = Some(top[slot].map_or(v, |m: f64| m.max(v)));
    }
    let max = top.iter().flatten().fold(0.0_f64, |a, &b| a.max(b));
    top.iter()
        .map(|v| match v {
            None => '·',
            Some(_) if max <= 0.0 => LEVELS[0],
            Some(v) => LEVELS[((v / max) * (LEVELS.len() - 1) as f64).round().clamp(0.0, 7.0) as usize],
        })
        .collect()
}

/// A Mermaid label: quotes and the characters Mermaid reads as markup given as entities.
fn mermaid_text(text: &str) -> String {
    text.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;").replace('|', "#124;")
}

/// The map as a Mermaid flowchart, left to right: services as boxes, AWS services and virtual
/// or remote callees as rounded nodes in their own classes; an edge's label holds its calls,
/// fault rate and p99, and an edge missing from Application Signals' map is dashed.
pub fn mermaid(map: &Map) -> String {
    let mut out = String::from("```mermaid\nflowchart LR\n");
    for (i, node) in map.nodes.iter().enumerate() {
        let label = mermaid_text(&node.title());
        let _ = match node {
            MapNode::Service(..) => writeln!(out, "  n{i}[\"{label}\"]:::service"),
            other => writeln!(out, "  n{i}(\"{label}\"):::{}", other.class()),
        };
    }
    for e in &map.edges {
        let label = format!(
            "{} calls, {} faults, p99 {}",
            thousands(e.requests.max(0) as u64),
            fixed(e.fault_rate(), " %"),
            fixed(e.p99, " ms")
        );
        let arrow = if e.differs.is_some() { "-.->" } else { "-->" };
        let _ = writeln!(out, "  n{} {arrow}|\"{}\"| n{}", e.from, mermaid_text(&label), e.to);
    }
    out.push_str(
        "  classDef service fill:#e8f0fd,stroke:#2f6fdb\n  classDef aws fill:#fff1e0,stroke:#d9822b\n  \
         classDef remote fill:#f1f3f6,stroke:#8a94a6\n  classDef virtual fill:#f1f3f6,stroke:#8a94a6\n```\n",
    );
    out
}

/// An SLO's alert firings, at most [`ALERTS_LISTED`] of them: `page 14.4x over 1h and 5m: 11-19
/// 10:02 – 10:35`; `none` when no rule fired.
fn alerts(alerts: &[Alert]) -> String {
    if alerts.is_empty() {
        return "none".into();
    }
    let mut listed: Vec<String> = alerts.iter().take(ALERTS_LISTED).map(Alert::describe).collect();
    if alerts.len() > ALERTS_LISTED {
        listed.push(format!("and {} more", alerts.len() - ALERTS_LISTED));
    }
    listed.join("; ")
}

/// The Markdown report for `content`.
pub fn render(content: &Content) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = writeln!(
        out,
        "# spanlens report\n\n{} – {} UTC ({} buckets)\n",
        content.from,
        content.to,
        bucket_label(content.bucket_ns)
    );
    let labels: Vec<&str> = content.cards.iter().map(|(_, label)| label.as_str()).collect();
    let values: Vec<String> = content.cards.iter().map(|(value, _)| value.clone()).collect();
    table(&mut out, &labels, 0..labels.len(), [values]);

    if let Some(c) = &content.comparison {
        let _ = writeln!(
            out,
            "## Against the window before\n\n{} – {} UTC against this window; changes in percent of the earlier \
             figure, or in percentage points (pp).\n\n### Top regressions\n",
            c.from, c.to
        );
        if c.regressions.is_empty() {
            out.push_str("None: no service's fault rate or p99 latency rose, no SLO's error budget shrank.\n");
        }
        for (i, r) in c.regressions.iter().enumerate() {
            let _ = writeln!(out, "{}. {r}", i + 1);
        }
        out.push('\n');
        table(&mut out, &COMPARISON_SERVICE_COLUMNS, 2..11, &c.services);
        if !c.slos.is_empty() {
            table(&mut out, &COMPARISON_SLO_COLUMNS, 1..7, &c.slos);
        }
    }

    if let Some(slos) = &content.slos {
        let _ = writeln!(
            out,
            "## SLOs\n\nEvaluated at {} UTC. Bad periods: the failed periods of a period-based SLO's interval. \
             Alerts: when the SRE workbook's multiwindow burn-rate alerts would have fired over the interval.\n",
            slos.at
        );
        let rows = slos.rows.iter().map(|slo| {
            [
                slo.name.clone(),
                slo.target.clone(),
                slo.sli.clone(),
                slo.goal.clone(),
                slo.attainment.clone(),
                slo.budget_left_text.clone(),
                slo.status.clone(),
                slo.bad_periods.as_ref().map_or_else(|| "–".into(), |(bad, total)| format!("{} of {total}", bad.len())),
                alerts(&slo.alerts),
                slo.burn_rates.join("; "),
            ]
        });
        table(&mut out, &SLO_COLUMNS, 4..6, rows);
    }

    let per = bucket_label(content.bucket_ns);
    let _ = writeln!(
        out,
        "## Services\n\nSparklines: p99 latency and fault rate over the window, each character the highest of its \
         stretch of {per} buckets (`·`: no requests).\n"
    );
    if content.services.is_empty() {
        out.push_str("No service records in the window.\n\n");
    } else {
        let rows = content.services.iter().map(|s| {
            let mut cells = s.cells.to_vec();
            cells.push(sparkline(&s.p99_series, content.window, content.bucket_ns));
            cells.push(sparkline(&s.fault_series, content.window, content.bucket_ns));
            cells
        });
        table(&mut out, &SERVICE_COLUMNS, 2..7, rows);
    }

    let _ = writeln!(
        out,
        "## Operations\n\nThe {OPERATIONS_PER_SERVICE} slowest operations of each service by p99 latency.\n"
    );
    table(&mut out, &OPERATION_COLUMNS, 3..9, &content.operations);

    let caption = if content.map.stitched {
        "The services as the traces connect them (client spans paired with the server spans they caused). \
         Rounded nodes are virtual (`user` for callers outside the traces, or a callee that answered with no span) \
         or AWS services; dashed edges are missing from Application Signals' map, which names callees as the \
         client saw them."
    } else {
        "Services, AWS services and other dependencies as the dependency records connect them."
    };
    let _ = writeln!(out, "## Service map\n\n{caption}\n\n{}", mermaid(&content.map));
    if let Some(differences) = &content.differences {
        if differences.is_empty() {
            out.push_str("The traces and Application Signals' map agree on every edge.\n\n");
        } else {
            out.push_str(
                "### Where the traces and Application Signals' map differ\n\nEach edge of either view \
                 (service_graph_reconciliation): seen in both, only in the traces, or only in the dependency \
                 records of the client spans; *other name* is what the other view calls the same calls.\n\n",
            );
            table(&mut out, &DIFFERENCE_COLUMNS, 5..8, differences);
        }
    }

    out.push_str("## Dependencies\n\n");
    table(&mut out, &DEPENDENCY_COLUMNS, 4..8, &content.dependencies);

    if let Some(quality) = &content.quality {
        out.push_str("## Data quality\n\n");
        if quality.is_empty() {
            out.push_str(
                "No check found anything: every trace has a root, every span a service name, every client span \
                 its server span.\n\n",
            );
        } else {
            out.push_str(
                "What in the input keeps traces from being stitched or counted right (data_quality); look an \
                 example up with `spanlens sql`.\n\n",
            );
            let rows = quality
                .iter()
                .map(|q| [q.check.clone(), q.detail.clone(), q.examples.join(" "), q.count.clone(), q.share.clone()]);
            table(&mut out, &QUALITY_COLUMNS, 3..5, rows);
        }
    }
    let _ = writeln!(
        out,
        "---\n\nspanlens {} · from {} · Application Signals semantics: Error = 4xx, Fault = 5xx or status ERROR; \
         exact percentiles.",
        env!("CARGO_PKG_VERSION"),
        content.source
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_pipes_and_sparklines_scale_to_the_window() {
        assert_eq!(cell("a|b\\c\nd"), "a\\|b\\\\c d");
        let hour = 3_600_000_000_000;
        // 24 hourly buckets: one character each; the empty ones are dots.
        let line = sparkline(&vec![(0, 0.0), (hour, 7.0), (12 * hour, 3.5), (23 * hour, 14.0)], (0, 24 * hour), hour);
        assert_eq!(line.chars().count(), 24);
        assert_eq!(line.chars().next(), Some('▁'));
        assert_eq!(line.chars().nth(1), Some('▅'));
        assert_eq!(line.chars().nth(2), Some('·'));
        assert_eq!(line.chars().nth(12), Some('▃'));
        assert_eq!(line.chars().last(), Some('█'));
        // A week of hours: 28 characters, each the top of six hours.
        let week: Points = (0..168).map(|h| (h * hour, if h == 100 { 9.0 } else { 1.0 })).collect();
        let line = sparkline(&week, (0, 168 * hour), hour);
        assert_eq!(line.chars().count(), 28);
        assert_eq!(line.chars().filter(|c| *c == '█').count(), 1);
        assert_eq!(line.chars().nth(100 / 6), Some('█'));
        assert_eq!(sparkline(&Vec::new(), (0, 2 * hour), hour), "··");
    }

    #[test]
    fn the_map_is_a_mermaid_flowchart_with_dashed_differences() {
        use crate::report::content::MapEdge;
        let map = Map {
            nodes: vec![
                MapNode::Service("eks:c/ns".into(), "front\"end".into()),
                MapNode::Virtual("user".into()),
                MapNode::AwsService("AWS::DynamoDB".into()),
            ],
            edges: vec![
                MapEdge { from: 1, to: 0, requests: 1200, faults: 12, p99: Some(8.5), differs: Some("why".into()) },
                MapEdge { from: 0, to: 2, requests: 10, faults: 0, p99: None, differs: None },
            ],
            stitched: true,
        };
        let text = mermaid(&map);
        assert!(text.starts_with("```mermaid\nflowchart LR\n") && text.ends_with("```\n"), "{text}");
        assert!(text.contains("  n0[\"front#quot;end (eks:c/ns)\"]:::service\n"), "{text}");
        assert!(text.contains("  n1(\"user\"):::virtual\n") && text.contains("  n2(\"AWS::DynamoDB\"):::aws\n"));
        assert!(text.contains("  n1 -.->|\"1,200 calls, 1.00 % faults, p99 8.50 ms\"| n0\n"), "{text}");
        assert!(text.contains("  n0 -->|\"10 calls, 0.00 % faults, p99 –\"| n2\n"), "{text}");
    }
}
