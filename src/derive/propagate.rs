//! §2.1 and §4 within one trace: resolve each span's local parent, decide local roots, and
//! propagate `aws.local.operation` down the local chain to CLIENT/PRODUCER/CONSUMER spans, as
//! the SDK's attribute-propagating span processor does at span start. Pure: the caller groups
//! spans by trace and supplies each span's ingress operation (§5.1).

use std::collections::HashMap;

use super::local::{INTERNAL_OPERATION, UNKNOWN_OPERATION};
use super::records::is_local_root;

/// What propagation reads of a span.
#[derive(Debug, Clone, Default)]
pub struct TraceSpan<'a> {
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub flags: u32,
    /// The span table's kind name.
    pub kind: &'a str,
    /// Identity of the span's resource (service name and instance): spans of the same resource
    /// are local to each other.
    pub resource: u64,
    /// `aws.remote.service` / `aws.remote.operation` set on the span itself.
    pub remote_service: Option<&'a str>,
    pub remote_operation: Option<&'a str>,
}

/// What propagation derives for a span.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Propagated<'a> {
    pub local_root: bool,
    /// Kind of the local parent, when there is one.
    pub parent_kind: Option<&'a str>,
    /// §4.3: the inherited `aws.local.operation` (none for SERVER local roots).
    pub local_operation: Option<String>,
    /// §4.2: `aws.remote.service` / `aws.remote.operation`, copied from an INTERNAL local parent
    /// when the span has none of its own.
    pub remote_service: Option<&'a str>,
    pub remote_operation: Option<&'a str>,
}

impl Propagated<'_> {
    /// §4: the operation of the span's dependency record: `InternalOperation` for a local root
    /// that is not SERVER, else the propagated local operation, else `UnknownOperation`.
    pub fn egress_operation(&self, kind: &str) -> String {
        if self.local_root && kind != "SERVER" {
            return INTERNAL_OPERATION.to_string();
        }
        self.local_operation.clone().unwrap_or_else(|| UNKNOWN_OPERATION.to_string())
    }
}

/// Each span's local parent: the span with its parent span id in the same resource (the last
/// one when an id repeats). Traces are mostly small, and a linear search beats building a hash
/// map for them; `hashed` builds the map.
fn local_parents(spans: &[TraceSpan<'_>], hashed: bool) -> Vec<Option<usize>> {
    if !hashed {
        return spans
            .iter()
            .map(|s| {
                let p = s.parent_span_id?;
                spans.iter().rposition(|c| c.span_id == p && c.resource == s.resource)
            })
            .collect();
    }
    let mut index: HashMap<([u8; 8], u64), usize> = HashMap::with_capacity(spans.len());
    for (i, s) in spans.iter().enumerate() {
        index.insert((s.span_id, s.resource), i);
    }
    spans.iter().map(|s| s.parent_span_id.and_then(|p| index.get(&(p, s.resource)).copied())).collect()
}

/// §2.1 alone over the spans of one trace: each span's local-root flag and the kind of its
/// local parent, all that Service records need; the §4 values are left empty. The same flags and
/// kinds as [`propagate`] gives.
pub fn local_roots<'a>(spans: &[TraceSpan<'a>]) -> Vec<Propagated<'a>> {
    let (parent, local_root) = parents_and_roots(spans);
    (0..spans.len())
        .map(|i| Propagated {
            local_root: local_root[i],
            parent_kind: parent[i].filter(|_| !local_root[i]).map(|p| spans[p].kind),
            ..Propagated::default()
        })
        .collect()
}

/// Each span's local parent ([`local_parents`]) and whether it is a local root (§2.1).
fn parents_and_roots(spans: &[TraceSpan<'_>]) -> (Vec<Option<usize>>, Vec<bool>) {
    let parent = local_parents(spans, spans.len() > 32);
    let local_root = spans
        .iter()
        .zip(&parent)
        .map(|(s, p)| is_local_root(s.parent_span_id.is_some(), s.flags, p.is_some()))
        .collect();
    (parent, local_root)
}

/// Propagate over the spans of one trace. `ingress(i, local_root)` is the §5.1 ingress operation
/// of span `i`. Parents missing from the trace, or in another resource, are remote (§2.1).
pub fn propagate<'a>(spans: &[TraceSpan<'a>], ingress: impl Fn(usize, bool) -> String) -> Vec<Propagated<'a>> {
    let (parent, local_root) = parents_and_roots(spans);

    let mut out: Vec<Option<Propagated<'a>>> = vec![None; spans.len()];
    let mut chain = Vec::new();
    // `walk[i] == start + 1`: span i is on the chain walked from `start`.
    let mut walk = vec![0usize; spans.len()];
    for start in 0..spans.len() {
        // Walk up to the nearest ancestor already done (or a local root), then fill downwards.
        // A cycle in malformed input is cut where it closes.
        chain.clear();
        chain.push(start);
        walk[start] = start + 1;
        while let Some(&i) = chain.last() {
            if out[i].is_some() || local_root[i] {
                break;
            }
            match parent[i] {
                Some(p) if walk[p] != start + 1 => {
                    walk[p] = start + 1;
                    chain.push(p);
                }
                _ => break,
            }
        }
        for &i in chain.iter().rev() {
            if out[i].is_some() {
                continue;
            }
            let s = &spans[i];
            let p = parent[i].filter(|_| !local_root[i]);
            let parent_done = p.and_then(|p| out[p].as_ref());
            let local_operation = if local_root[i] {
                (s.kind != "SERVER").then(|| ingress(i, true))
            } else {
                match (p, parent_done) {
                    (Some(p), _) if spans[p].kind == "SERVER" => Some(ingress(p, local_root[p])),
                    (_, Some(done)) => done.local_operation.clone(),
                    _ => None,
                }
            };
            let from_internal = p.filter(|p| spans[*p].kind == "INTERNAL");
            let inherit = |own: Option<&'a str>, parent_value: &dyn Fn(usize) -> Option<&'a str>| {
                own.or_else(|| from_internal.and_then(parent_value))
            };
            let remote_service =
                inherit(s.remote_service, &|p| spans[p].remote_service.or_else(|| out[p].as_ref()?.remote_service));
            let remote_operation = inherit(s.remote_operation, &|p| {
                spans[p].remote_operation.or_else(|| out[p].as_ref()?.remote_operation)
            });
            out[i] = Some(Propagated {
                local_root: local_root[i],
                parent_kind: p.map(|p| spans[p].kind),
                local_operation,
                remote_service,
                remote_operation,
            });
        }
    }
    out.into_iter().map(Option::unwrap_or_default).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span<'a>(id: u8, parent: Option<u8>, kind: &'a str, resource: u64) -> TraceSpan<'a> {
        TraceSpan { span_id: [id; 8], parent_span_id: parent.map(|p| [p; 8]), kind, resource, ..Default::default() }
    }

    /// Ingress operation of span i: its name in these tests is `op<i>`.
    fn ingress(i: usize, local_root: bool) -> String {
        if local_root { format!("root-op{i}") } else { format!("op{i}") }
    }

    #[test]
    fn rule_4_local_operation_follows_the_local_chain() {
        // frontend SERVER(1) -> INTERNAL(2) -> CLIENT(3) ; CLIENT(3) -> backend SERVER(4) -> CLIENT(5)
        let spans = vec![
            span(1, None, "SERVER", 1),
            span(2, Some(1), "INTERNAL", 1),
            span(3, Some(2), "CLIENT", 1),
            span(4, Some(3), "SERVER", 2),
            span(5, Some(4), "CLIENT", 2),
        ];
        let got = propagate(&spans, ingress);
        // 2.1: the root and the span whose parent is in another resource are local roots.
        assert_eq!(got.iter().map(|p| p.local_root).collect::<Vec<_>>(), [true, false, false, true, false]);
        // 4.3: a SERVER local root gets no local operation; children of SERVER get its ingress op;
        // deeper spans inherit it.
        assert_eq!(got[0].local_operation, None);
        assert_eq!(got[1].local_operation.as_deref(), Some("root-op0"));
        assert_eq!(got[2].local_operation.as_deref(), Some("root-op0"));
        assert_eq!(got[4].local_operation.as_deref(), Some("root-op3"));
        assert_eq!(got[2].egress_operation("CLIENT"), "root-op0");
        assert_eq!(got[2].parent_kind, Some("INTERNAL"));
        assert_eq!(got[3].parent_kind, None, "the remote parent is not a local parent");
    }

    #[test]
    fn rule_4_local_roots_that_are_not_server() {
        // A scheduled job: INTERNAL root -> CLIENT; and a CLIENT local root.
        let spans = vec![span(1, None, "INTERNAL", 1), span(2, Some(1), "CLIENT", 1), span(3, None, "CLIENT", 1)];
        let got = propagate(&spans, ingress);
        assert_eq!(got[0].local_operation.as_deref(), Some("root-op0"));
        assert_eq!(got[1].local_operation.as_deref(), Some("root-op0"));
        assert_eq!(got[2].egress_operation("CLIENT"), INTERNAL_OPERATION);
        let orphan = propagate(&[span(9, Some(8), "CLIENT", 1)], ingress);
        assert!(orphan[0].local_root, "a parent missing from the trace is remote");
    }

    #[test]
    fn rule_2_1_flags_override_the_resource_fallback() {
        // The parent is in the same resource but the flags say it is remote.
        let spans = vec![span(1, None, "SERVER", 1), TraceSpan { flags: 0x300, ..span(2, Some(1), "CLIENT", 1) }];
        let got = propagate(&spans, ingress);
        assert!(got[1].local_root);
        assert_eq!(got[1].egress_operation("CLIENT"), INTERNAL_OPERATION);
        assert_eq!(got[1].parent_kind, None);
    }

    #[test]
    fn rule_4_2_manual_remote_attributes_flow_from_internal_parents() {
        let spans = vec![
            span(1, None, "SERVER", 1),
            TraceSpan {
                remote_service: Some("Payments"),
                remote_operation: Some("Charge"),
                ..span(2, Some(1), "INTERNAL", 1)
            },
            span(3, Some(2), "CLIENT", 1),
            TraceSpan { remote_service: Some("Own"), ..span(4, Some(2), "CLIENT", 1) },
            span(5, Some(1), "CLIENT", 1),
        ];
        let got = propagate(&spans, ingress);
        assert_eq!(got[2].remote_service, Some("Payments"));
        assert_eq!(got[2].remote_operation, Some("Charge"));
        assert_eq!(got[3].remote_service, Some("Own"), "the span's own value wins");
        assert_eq!(got[3].remote_operation, Some("Charge"));
        assert_eq!(got[4].remote_service, None, "only INTERNAL parents pass them on");
    }

    /// `local_roots` gives `propagate`'s local-root flags and parent kinds: on every trace of
    /// these tests, and on traces with repeated ids, missing parents, two resources, remote
    /// flags and cycles.
    #[test]
    fn local_roots_alone_agree_with_propagation() {
        let kinds = ["SERVER", "INTERNAL", "CLIENT", "CONSUMER", "PRODUCER"];
        let mut traces: Vec<Vec<TraceSpan<'_>>> = vec![
            vec![span(1, Some(2), "INTERNAL", 1), span(2, Some(1), "CLIENT", 1)],
            vec![span(1, None, "SERVER", 1), TraceSpan { flags: 0x300, ..span(2, Some(1), "CLIENT", 1) }],
            vec![span(9, Some(8), "CLIENT", 1)],
        ];
        for n in [5u32, 40, 60] {
            traces.push(
                (0..n)
                    .map(|i| TraceSpan {
                        flags: if i % 7 == 3 {
                            0x300
                        } else if i % 11 == 4 {
                            0x100
                        } else {
                            0
                        },
                        ..span(
                            (i % 23) as u8,
                            (i % 5 != 0).then_some(((i * 7) % 29) as u8),
                            kinds[(i % 5) as usize],
                            u64::from(i % 2),
                        )
                    })
                    .collect(),
            );
        }
        let mut roots = 0;
        for spans in &traces {
            let full = propagate(spans, ingress);
            let alone = local_roots(spans);
            let flags = |p: &[Propagated<'_>]| -> Vec<(bool, Option<String>)> {
                p.iter().map(|p| (p.local_root, p.parent_kind.map(str::to_string))).collect()
            };
            assert_eq!(flags(&alone), flags(&full));
            assert!(alone.iter().all(|p| p.local_operation.is_none() && p.remote_service.is_none()));
            roots += alone.iter().filter(|p| p.local_root).count();
        }
        assert!(roots > 10 && roots < traces.iter().map(Vec::len).sum::<usize>(), "{roots} local roots");
    }

    #[test]
    fn linear_and_hashed_parent_lookup_agree() {
        // Repeated span ids, two resources, missing parents.
        let spans: Vec<TraceSpan<'_>> = (0..60u8)
            .map(|i| {
                span(i % 23, (i % 5 != 0).then_some(((u32::from(i) * 7) % 29) as u8), "INTERNAL", u64::from(i % 2))
            })
            .collect();
        let linear = local_parents(&spans, false);
        assert_eq!(linear, local_parents(&spans, true));
        assert!(linear.iter().filter(|p| p.is_some()).count() > 10);
        assert!(linear.iter().any(|p| p.is_some_and(|p| p >= 23)), "a repeated id resolves to its last span");
    }

    #[test]
    fn cycles_and_long_chains_terminate() {
        let cyclic = vec![span(1, Some(2), "INTERNAL", 1), span(2, Some(1), "CLIENT", 1)];
        let got = propagate(&cyclic, ingress);
        assert_eq!(got.len(), 2);
        let long: Vec<TraceSpan<'_>> = (0..5000u32)
            .map(|i| TraceSpan {
                span_id: u64::from(i + 1).to_be_bytes(),
                parent_span_id: (i > 0).then(|| u64::from(i).to_be_bytes()),
                kind: if i == 0 { "SERVER" } else { "INTERNAL" },
                resource: 1,
                ..Default::default()
            })
            .collect();
        let got = propagate(&long, ingress);
        assert_eq!(got[4999].local_operation.as_deref(), Some("root-op0"));
    }
}
