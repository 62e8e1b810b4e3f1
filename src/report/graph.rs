//! The service graph as text: a table of edges for a terminal, DOT for Graphviz, Mermaid for
//! Markdown, and JSON nodes and edges for other tools. Every form draws the whole-window rows
//! of `service_graph` and the nodes of `service_graph_nodes`: a node is labelled with its
//! service name, an edge with its requests, fault rate and p99 latency, as its client saw them
//! (its server, when the client is the virtual `user` node). And the data-quality findings as
//! a few lines for stderr.

use serde_json::json;

use crate::error::Result;
use crate::model::table::{Columns, Table};
use crate::report::text::{fixed, table};

/// One edge of the whole window, as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub client: String,
    pub server: String,
    pub connection_type: String,
    /// `client`, `server` or none: which side is a virtual node.
    pub virtual_side: Option<String>,
    pub requests: i64,
    /// Faults as the edge's client saw them (its server's, for a `user` edge).
    pub faults: i64,
    /// p99 latency in ms, on the same side.
    pub p99_ms: Option<f64>,
}

impl Edge {
    /// Faults in percent of requests.
    pub fn fault_rate(&self) -> f64 {
        if self.requests == 0 { 0.0 } else { 100.0 * self.faults as f64 / self.requests as f64 }
    }

    /// `36 req · 2.78% faults · p99 12.30 ms`.
    pub fn label(&self, separator: &str) -> String {
        format!(
            "{} req{separator}{:.2}% faults{separator}p99 {}",
            self.requests,
            self.fault_rate(),
            fixed(self.p99_ms, " ms")
        )
    }
}

/// One node, as drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub virtual_node: bool,
    pub requests_received: i64,
    pub requests_sent: i64,
}

/// The whole-window edges of a `service_graph` table, in its order.
pub fn edges(graph: &Table) -> Result<Vec<Edge>> {
    let c = Columns::of(graph)?;
    let (bucket, client, server, kind, side) =
        (c.text("bucket_start"), c.text("client"), c.text("server"), c.text("connection_type"), c.text("virtual"));
    let (requests, client_faults, server_faults) = (c.int("requests"), c.int("client_faults"), c.int("server_faults"));
    let (client_p99, server_p99) = (c.number("client_latency_p99_ms"), c.number("server_latency_p99_ms"));
    let mut out = Vec::new();
    for r in 0..c.len() {
        if bucket[r].is_some() {
            continue;
        }
        let from_user = side[r].as_deref() == Some("client");
        out.push(Edge {
            client: client[r].clone().unwrap_or_default(),
            server: server[r].clone().unwrap_or_default(),
            connection_type: kind[r].clone().unwrap_or_default(),
            virtual_side: side[r].clone(),
            requests: requests[r].unwrap_or(0),
            faults: if from_user { server_faults[r] } else { client_faults[r] }.unwrap_or(0),
            p99_ms: if from_user { server_p99[r] } else { client_p99[r] },
        });
    }
    Ok(out)
}

/// The nodes of a `service_graph_nodes` table, in its order.
pub fn nodes(table: &Table) -> Result<Vec<Node>> {
    let c = Columns::of(table)?;
    let (name, received, sent) = (c.text("node"), c.int("requests_received"), c.int("requests_sent"));
    let virtual_node = c.text("virtual");
    Ok((0..c.len())
        .map(|r| Node {
            name: name[r].clone().unwrap_or_default(),
            virtual_node: virtual_node[r].as_deref() == Some("true"),
            requests_received: received[r].unwrap_or(0),
            requests_sent: sent[r].unwrap_or(0),
        })
        .collect())
}

/// The edges as a table for a terminal.
pub fn render_table(edges: &[Edge]) -> String {
    let header = ["Client", "Server", "Type", "Virtual", "Requests", "Fault %", "p99 ms"];
    let rows: Vec<Vec<String>> = edges
        .iter()
        .map(|e| {
            vec![
                e.client.clone(),
                e.server.clone(),
                e.connection_type.clone(),
                e.virtual_side.clone().unwrap_or_else(|| "–".into()),
                e.requests.to_string(),
                format!("{:.2}", e.fault_rate()),
                fixed(e.p99_ms, ""),
            ]
        })
        .collect();
    let mut out = table(&header, &rows, &[0, 1, 2, 3]);
    if rows.is_empty() {
        out.push_str("(no edges in the window)\n");
    }
    out
}

/// `data quality: orphan_spans 12 (2.19% of spans), ...`: the checks of a `data_quality`
/// table that found something, with the first example trace of each; `None` when none did.
pub fn quality_summary(quality: &Table) -> Result<Option<String>> {
    let c = Columns::of(quality)?;
    let (check, detail, unit, count, share) =
        (c.text("check"), c.text("detail"), c.text("unit"), c.int("count"), c.number("share"));
    let mut lines = Vec::new();
    for r in (0..c.len()).filter(|&r| count[r].unwrap_or(0) > 0) {
        let what = match &detail[r] {
            Some(d) => format!("{} {d}", check[r].as_deref().unwrap_or("")),
            None => check[r].clone().unwrap_or_default(),
        };
        lines.push(format!(
            "  {what}: {} ({} of {})\n",
            count[r].unwrap_or(0),
            fixed(share[r], "%"),
            unit[r].as_deref().unwrap_or("spans")
        ));
    }
    if lines.is_empty() {
        return Ok(None);
    }
    Ok(Some(format!("data quality (see data_quality for example traces):\n{}", lines.concat())))
}

/// A DOT string literal: quotes and backslashes escaped, line breaks as `\n`.
fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The graph in Graphviz's DOT language: services as boxes, virtual nodes as dashed ellipses.
pub fn render_dot(nodes: &[Node], edges: &[Edge]) -> String {
    let mut out = String::from(
        "digraph service_graph {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for n in nodes {
        let style = if n.virtual_node { ", shape=ellipse, style=dashed" } else { "" };
        out.push_str(&format!("  {} [label={}{style}];\n", dot_quote(&n.name), dot_quote(&n.name)));
    }
    for e in edges {
        let style = if e.virtual_side.is_some() { ", style=dashed" } else { "" };
        out.push_str(&format!(
            "  {} -> {} [label={}{style}];\n",
            dot_quote(&e.client),
            dot_quote(&e.server),
            dot_quote(&format!("{}\n{}", e.connection_type, e.label("\n")))
        ));
    }
    out.push_str("}\n");
    out
}

/// Text inside a Mermaid label: quotes and the characters Mermaid reads as markup as entities.
fn mermaid_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => "#quot;".to_string(),
            '#' => "#35;".to_string(),
            '<' => "#lt;".to_string(),
            '>' => "#gt;".to_string(),
            '|' => "#124;".to_string(),
            '\n' | '\r' => " ".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// The graph as a Mermaid flowchart: node ids `n0`, `n1`, ... in node order, labelled with the
/// names; virtual nodes rounded, edges to or from them dotted.
pub fn render_mermaid(nodes: &[Node], edges: &[Edge]) -> String {
    let mut out = String::from("flowchart LR\n");
    let id = |name: &str| nodes.iter().position(|n| n.name == name).map(|i| format!("n{i}"));
    for (i, n) in nodes.iter().enumerate() {
        let (open, close) = if n.virtual_node { ("([", "])") } else { ("[", "]") };
        out.push_str(&format!("  n{i}{open}\"{}\"{close}\n", mermaid_text(&n.name)));
    }
    for e in edges {
        let (Some(a), Some(b)) = (id(&e.client), id(&e.server)) else { continue };
        let arrow = if e.virtual_side.is_some() { "-.->" } else { "-->" };
        out.push_str(&format!("  {a} {arrow}|\"{}\"| {b}\n", mermaid_text(&e.label(", "))));
    }
    out
}

/// The graph as JSON: `{"nodes": [...], "edges": [...]}`, pretty-printed.
pub fn render_json(nodes: &[Node], edges: &[Edge]) -> Result<String> {
    let nodes: Vec<_> = nodes
        .iter()
        .map(|n| {
            json!({"id": n.name, "virtual": n.virtual_node, "requests_received": n.requests_received,
                   "requests_sent": n.requests_sent})
        })
        .collect();
    let edges: Vec<_> = edges
        .iter()
        .map(|e| {
            json!({"source": e.client, "target": e.server, "connection_type": e.connection_type,
                   "virtual": e.virtual_side, "requests": e.requests, "faults": e.faults,
                   "fault_rate": e.fault_rate(), "p99_ms": e.p99_ms})
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&json!({"nodes": nodes, "edges": edges}))
        .map_err(|e| crate::error::Error::Config(format!("cannot write the graph as JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(client: &str, server: &str, side: Option<&str>) -> Edge {
        Edge {
            client: client.into(),
            server: server.into(),
            connection_type: "http".into(),
            virtual_side: side.map(Into::into),
            requests: 8,
            faults: 2,
            p99_ms: Some(12.5),
        }
    }

    #[test]
    fn names_are_escaped_in_every_form() {
        let nodes = vec![
            Node { name: "a\"b\\c".into(), virtual_node: false, requests_received: 0, requests_sent: 8 },
            Node { name: "x|y#<z>".into(), virtual_node: true, requests_received: 8, requests_sent: 0 },
        ];
        let edges = vec![edge("a\"b\\c", "x|y#<z>", Some("server"))];
        let dot = render_dot(&nodes, &edges);
        assert!(
            dot.contains(r#""a\"b\\c" -> "x|y#<z>" [label="http\n8 req\n25.00% faults\np99 12.50 ms", style=dashed];"#)
        );
        let mermaid = render_mermaid(&nodes, &edges);
        assert!(mermaid.contains("n0[\"a#quot;b\\c\"]"), "{mermaid}");
        assert!(mermaid.contains("n1([\"x#124;y#35;#lt;z#gt;\"])"), "{mermaid}");
        assert!(mermaid.contains("n0 -.->|\"8 req, 25.00% faults, p99 12.50 ms\"| n1"), "{mermaid}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&nodes, &edges).unwrap()).unwrap();
        assert_eq!(json["edges"][0]["source"], "a\"b\\c");
        assert_eq!(json["edges"][0]["fault_rate"], 25.0);
        assert_eq!(json["nodes"][1]["virtual"], true);
    }
}
