//! `report.html`: the report as one self-contained page for people — inline CSS and SVG, no
//! script, no external resource, so it opens from a mail attachment or an S3 bucket alike.
//! Sections: a summary, the SLOs (attainment, error budget bar, status, burn rates), the
//! services (with sparklines of p99 latency and fault rate per bucket), each service's slowest
//! operations, the service map (the trace-stitched service graph by call depth, and where
//! Application Signals' map differs from it), the dependencies (dimension set D10) and the
//! data-quality checks that found something. What it says comes from [`super::content`], as
//! `report.md`'s does; nothing time- or host-dependent goes in, so the same input gives the same
//! bytes.

use std::fmt::Write;

use crate::report::content::{
    Alert, COMPARISON_SERVICE_COLUMNS, COMPARISON_SLO_COLUMNS, Comparison, Content, DEPENDENCY_COLUMNS,
    DIFFERENCE_COLUMNS, MapEdge, MapNode, OPERATION_COLUMNS, OPERATIONS_PER_SERVICE, QUALITY_COLUMNS, QualityRow,
    SERVICE_COLUMNS, SLO_COLUMNS, SloSection, bucket_label,
};
use crate::report::text::fixed;
use crate::util::thousands;

/// The file name of the page in an output directory.
pub const FILE: &str = "report.html";

/// Sparkline size in CSS pixels.
const SPARK_WIDTH: f64 = 168.0;
const SPARK_HEIGHT: f64 = 28.0;

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

/// A row of cells, those from `numeric_from` on right-aligned.
fn row(cells: &[String], numeric_from: usize) -> String {
    let cells: String =
        cells.iter().enumerate().map(|(i, c)| if i >= numeric_from { number_cell(c) } else { cell(c) }).collect();
    format!("<tr>{cells}</tr>")
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

/// An inline SVG strip of an SLO's interval up to the evaluation time with the burn-rate alerts
/// that would have fired on it: pages in red, tickets in amber, each titled with its rule and
/// times; "none" when no rule fired.
fn alert_strip(alerts: &[Alert], span: (i64, i64)) -> String {
    if alerts.is_empty() {
        return "<span class=\"muted\">none</span>".into();
    }
    let length = (span.1 - span.0).max(1) as f64;
    let x = |t: i64| ((t - span.0) as f64 / length * SPARK_WIDTH).clamp(0.0, SPARK_WIDTH);
    let mut body = String::new();
    for alert in alerts {
        let (start, end) = (x(alert.fired_at), x(alert.resolved_at.unwrap_or(span.1)));
        let (top, fill) = if alert.severity == "page" { (0.0, "#d2372b") } else { (SPARK_HEIGHT / 2.0, "#e0a100") };
        let _ = write!(
            body,
            "<rect class=\"alert {}\" x=\"{start:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" \
             fill=\"{fill}\"><title>{}</title></rect>",
            escape(&alert.severity),
            (end - start).max(1.0),
            SPARK_HEIGHT / 2.0,
            escape(&alert.describe()),
        );
    }
    format!(
        "<svg class=\"spark alerts\" width=\"{SPARK_WIDTH}\" height=\"{SPARK_HEIGHT}\" viewBox=\"0 0 {SPARK_WIDTH} \
         {SPARK_HEIGHT}\" role=\"img\"><title>{} alert firings</title><rect width=\"{SPARK_WIDTH}\" \
         height=\"{SPARK_HEIGHT}\" fill=\"#f6f8fb\"/>{body}</svg>",
        alerts.len()
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

fn summary_cards(out: &mut String, content: &Content) {
    out.push_str("<section id=\"summary\" class=\"cards\">");
    for (value, label) in &content.cards {
        let _ = write!(out, "<div class=\"card\"><b>{}</b><span>{}</span></div>", escape(value), escape(label));
    }
    out.push_str("</section>");
}

/// The window against the one before: the top regressions, then every service and SLO.
fn comparison_section(out: &mut String, c: &Comparison) {
    let _ = write!(
        out,
        "<section id=\"compare\"><h2>Against the window before</h2><p class=\"muted\">{} – {} UTC against this \
         window; changes in percent of the earlier figure, or in percentage points (pp).</p><h3>Top regressions</h3>",
        c.from, c.to
    );
    if c.regressions.is_empty() {
        out.push_str(
            "<p class=\"muted\">None: no service's fault rate or p99 latency rose, no SLO's error budget shrank.</p>",
        );
    } else {
        out.push_str("<ol id=\"regressions\">");
        for r in &c.regressions {
            let _ = write!(out, "<li>{}</li>", escape(r));
        }
        out.push_str("</ol>");
    }
    let _ = write!(out, "<table id=\"compare-services\">{}<tbody>", header(&COMPARISON_SERVICE_COLUMNS, 2));
    for row in &c.services {
        out.push_str(&self::row(row, 2));
    }
    out.push_str("</tbody></table>");
    if !c.slos.is_empty() {
        let _ = write!(out, "<table id=\"compare-slos\">{}<tbody>", header(&COMPARISON_SLO_COLUMNS, 1));
        for row in &c.slos {
            out.push_str(&self::row(row, 1));
        }
        out.push_str("</tbody></table>");
    }
    out.push_str("</section>");
}

fn slo_section(out: &mut String, slos: &SloSection) {
    let _ = write!(
        out,
        "<section id=\"slos\"><h2>SLOs</h2><p class=\"muted\">Evaluated at {} UTC. Bad periods: the \
         interval of a period-based SLO, its failed periods in red; below it, or alone, when the SRE workbook's \
         multiwindow burn-rate alerts would have fired over the SLO's interval (pages red, tickets amber).</p><table>",
        slos.at
    );
    // The page draws a period-based SLO's bad periods and every SLO's alerts in one cell, one
    // strip above the other, so that the table fits the page.
    let mut columns = SLO_COLUMNS.to_vec();
    columns[7] = "Bad periods · alerts";
    columns.remove(8);
    out.push_str(&header(&columns, 4));
    out.push_str("<tbody>");
    for slo in &slos.rows {
        let state = slo.status.as_str();
        let width = slo.budget_left.map_or(0.0, |v| v.clamp(0.0, 100.0));
        let color = match state {
            "BREACHED" => "#d2372b",
            "WARNING" => "#e0a100",
            _ => "#2e9d4f",
        };
        let burn: Vec<String> = slo.burn_rates.iter().map(|b| escape(b)).collect();
        let strips = match &slo.bad_periods {
            Some((bad, total)) => {
                format!("{}<br>{}", bad_period_strip(bad, *total), alert_strip(&slo.alerts, slo.span))
            }
            None => alert_strip(&slo.alerts, slo.span),
        };
        let _ = write!(
            out,
            "<tr>{}{}{}{}{}<td class=\"n\"><span class=\"bar\"><i style=\"width:{width:.1}%;background:{color}\"></i></span>{}</td>\
             <td><span class=\"status {state}\">{state}</span></td><td>{strips}</td>{}</tr>",
            cell(&slo.name),
            cell(&slo.target),
            cell(&slo.sli),
            cell(&slo.goal),
            number_cell(&slo.attainment),
            escape(&slo.budget_left_text),
            format_args!("<td class=\"burn\">{}</td>", burn.join("<br>")),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn services_section(out: &mut String, content: &Content) {
    out.push_str("<section id=\"services\"><h2>Services</h2><table>");
    out.push_str(&header(&SERVICE_COLUMNS, 2));
    out.push_str("<tbody>");
    let per = format!("per {}", bucket_label(content.bucket_ns));
    for service in &content.services {
        let cells = row(&service.cells, 2);
        let _ = write!(
            out,
            "{}<td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            cells.strip_suffix("</tr>").unwrap_or(&cells),
            sparkline(&service.p99_series, content.window, content.bucket_ns, false, &format!("p99 latency ms {per}")),
            sparkline(&service.fault_series, content.window, content.bucket_ns, true, &format!("fault rate % {per}")),
        );
    }
    if content.services.is_empty() {
        out.push_str("<tr><td colspan=\"9\" class=\"muted\">No service records in the window.</td></tr>");
    }
    out.push_str("</tbody></table></section>");
}

fn operations_section(out: &mut String, content: &Content) {
    let _ = write!(
        out,
        "<section id=\"operations\"><h2>Operations</h2><p class=\"muted\">The {OPERATIONS_PER_SERVICE} slowest \
         operations of each service by p99 latency.</p><table>"
    );
    out.push_str(&header(&OPERATION_COLUMNS, 3));
    out.push_str("<tbody>");
    for op in &content.operations {
        out.push_str(&row(op, 3));
    }
    out.push_str("</tbody></table></section>");
}

/// The service map (the trace-stitched service graph when the run computed it, its edges that
/// Application Signals' map lacks drawn dashed, else the Application Map drawn from the
/// dependency records), and the edges where the two views differ.
fn service_map(out: &mut String, content: &Content) {
    let caption = if content.map.stitched { STITCHED_CAPTION } else { DEPENDENCY_CAPTION };
    draw_map(out, &content.map.nodes, &content.map.edges, caption);
    if let Some(differences) = &content.differences {
        differences_section(out, differences);
    }
    out.push_str("</section>");
}

const STITCHED_CAPTION: &str = "The services as the traces connect them (client spans paired with the server spans \
     they caused), by call depth; grey nodes are virtual: <code>user</code> for callers outside the traces, or a \
     callee that answered with no span (orange when Application Signals names it as an AWS service). Dashed edges are missing from Application Signals' map (which names callees \
     as the client saw them); edges in red have a fault rate of 1 % or more, wider ones carry more calls.";

const DEPENDENCY_CAPTION: &str = "Services (blue), AWS services (orange) and other dependencies (grey), by call \
     depth; edges in red have a fault rate of 1 % or more, wider ones carry more calls.";

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
        let fault_rate = e.fault_rate();
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
        let title = node.title();
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

fn differences_section(out: &mut String, differences: &[[String; 8]]) {
    if differences.is_empty() {
        out.push_str("<p class=\"muted\">The traces and Application Signals' map agree on every edge.</p>");
        return;
    }
    let _ = write!(
        out,
        "<h3>Where the traces and Application Signals' map differ</h3><p class=\"muted\">Each edge of either view \
         (service_graph_reconciliation): seen in both, only in the traces, or only in the dependency records of the \
         client spans; <i>other name</i> is what the other view calls the same calls.</p><table id=\"map-differences\">\
         {}<tbody>",
        header(&DIFFERENCE_COLUMNS, 5)
    );
    for difference in differences {
        out.push_str(&row(difference, 5));
    }
    out.push_str("</tbody></table>");
}

/// The data-quality checks that found something, with up to three example traces each.
fn quality_section(out: &mut String, rows: &[QualityRow]) {
    out.push_str("<section id=\"data-quality\"><h2>Data quality</h2>");
    if rows.is_empty() {
        out.push_str(
            "<p class=\"muted\">No check found anything: every trace has a root, every span a service \
             name, every client span its server span.</p></section>",
        );
        return;
    }
    let _ = write!(
        out,
        "<p class=\"muted\">What in the input keeps traces from being stitched or counted right (data_quality); \
         look an example up with <code>spanlens sql</code>.</p><table id=\"quality\">{}<tbody>",
        header(&QUALITY_COLUMNS, 3)
    );
    for q in rows {
        let _ = write!(
            out,
            "<tr>{}{}<td><code>{}</code></td>{}{}</tr>",
            cell(&q.check),
            cell(&q.detail),
            escape(&q.examples.join(" ")),
            number_cell(&q.count),
            number_cell(&q.share),
        );
    }
    out.push_str("</tbody></table></section>");
}

fn dependencies_section(out: &mut String, content: &Content) {
    out.push_str("<section id=\"dependencies\"><h2>Dependencies</h2><table>");
    out.push_str(&header(&DEPENDENCY_COLUMNS, 4));
    out.push_str("<tbody>");
    for dependency in &content.dependencies {
        out.push_str(&row(dependency, 4));
    }
    out.push_str("</tbody></table></section>");
}

fn footer(out: &mut String, content: &Content) {
    let _ = write!(
        out,
        "<footer>spanlens {} · from {} · Application Signals semantics: Error = 4xx, Fault = 5xx or status \
         ERROR; exact percentiles.</footer>",
        env!("CARGO_PKG_VERSION"),
        escape(&content.source)
    );
}

/// The page for `content`.
pub fn render(content: &Content) -> String {
    let (from, to) = (&content.from, &content.to);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>spanlens report {from} – {to}</title>\
         <style>{STYLE}</style></head><body><header><h1>spanlens report</h1><p class=\"window\">{from} – {to} UTC \
         ({} buckets)</p></header>",
        bucket_label(content.bucket_ns)
    );
    summary_cards(&mut out, content);
    if let Some(comparison) = &content.comparison {
        comparison_section(&mut out, comparison);
    }
    if let Some(slos) = &content.slos {
        slo_section(&mut out, slos);
    }
    services_section(&mut out, content);
    operations_section(&mut out, content);
    service_map(&mut out, content);
    dependencies_section(&mut out, content);
    if let Some(quality) = &content.quality {
        quality_section(&mut out, quality);
    }
    footer(&mut out, content);
    out.push_str("</body></html>\n");
    out
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
