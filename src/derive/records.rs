//! §2: which metric records a span yields (0, 1 or 2) and their `Telemetry.Source`.

use super::Compat;
use crate::model::otlp::{FLAG_HAS_IS_REMOTE, FLAG_IS_REMOTE};

/// §2.1: is the span a local root? No parent means yes. Otherwise the OTLP flags decide when
/// they say whether the parent is remote; if they do not, the parent counts as remote unless it
/// was found in the same resource (same service and instance) — the spec's inferred fallback.
pub fn is_local_root(has_parent: bool, flags: u32, parent_in_same_resource: bool) -> bool {
    if !has_parent {
        return true;
    }
    if flags & FLAG_HAS_IS_REMOTE != 0 {
        return flags & FLAG_IS_REMOTE != 0;
    }
    !parent_in_same_resource
}

/// What §2 reads of a span. `kind` is the span table's kind name (`SERVER`, `CLIENT`, ...).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordSpan<'a> {
    pub kind: &'a str,
    pub local_root: bool,
    pub name: &'a str,
    pub scope_name: Option<&'a str>,
    /// `messaging.operation.type`, else `messaging.operation` (Java reads the new key first).
    pub messaging_operation: Option<&'a str>,
    /// The local parent is a CONSUMER span (`aws.consumer.parent.span.kind=CONSUMER`).
    pub parent_is_consumer: bool,
}

/// The records of a span, each as its `Telemetry.Source` (§2.4), or `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Records {
    /// `LocalRootSpan` or `ServerSpan`.
    pub service: Option<&'static str>,
    /// `ClientSpan`, `ProducerSpan` or `ConsumerSpan`.
    pub dependency: Option<&'static str>,
}

/// §2.2 (Java/JS): an SQS receive span of the AWS SDK instrumentation is suppressed.
fn suppressed(s: &RecordSpan<'_>, compat: Compat) -> bool {
    match compat {
        Compat::Python => s.scope_name == Some("opentelemetry.instrumentation.boto3sqs"),
        Compat::Java | Compat::Js => {
            s.kind == "CONSUMER"
                && s.name.eq_ignore_ascii_case("Sqs.ReceiveMessage")
                && s.scope_name.is_some_and(|n| n.starts_with("io.opentelemetry.aws-sdk-"))
                && s.messaging_operation.is_none_or(|op| op == "process")
        }
    }
}

/// §2.2–§2.4: the records a span yields.
pub fn records(s: &RecordSpan<'_>, compat: Compat) -> Records {
    let suppressed = suppressed(s, compat);
    let service = if s.local_root && !suppressed {
        Some("LocalRootSpan")
    } else if s.kind == "SERVER" {
        Some("ServerSpan")
    } else {
        None
    };
    let dependency = match s.kind {
        "CLIENT" => Some("ClientSpan"),
        "PRODUCER" if !suppressed => Some("ProducerSpan"),
        "CONSUMER" if !suppressed => {
            // §2.3.3: a `process` span counts only as a local root or below a non-consumer.
            let process = s.messaging_operation == Some("process");
            (!process || s.local_root || !s.parent_is_consumer).then_some("ConsumerSpan")
        }
        _ => None,
    };
    Records { service, dependency }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_2_1_local_root() {
        // (has parent, flags, parent in same resource, local root)
        let cases = [
            (false, 0, false, true),     // no parent
            (true, 0x100, false, false), // flags: parent known to be local
            (true, 0x300, true, true),   // flags: parent remote, whatever was found
            (true, 0x301, false, true),  // trace flags bits do not matter
            (true, 0x001, true, false),  // no flags info: parent found in the same resource
            (true, 0x000, false, true),  // no flags info: parent elsewhere or missing
            (true, 0x200, true, false),  // is-remote without has-is-remote means nothing
        ];
        for (has_parent, flags, same, want) in cases {
            assert_eq!(is_local_root(has_parent, flags, same), want, "{has_parent} {flags:#x} {same}");
        }
    }

    fn span<'a>(kind: &'a str, local_root: bool) -> RecordSpan<'a> {
        RecordSpan { kind, local_root, name: "op", ..Default::default() }
    }

    #[test]
    fn rule_2_5_summary_table() {
        use Compat::Java;
        let r = |service, dependency| Records { service, dependency };
        let cases = [
            (span("SERVER", true), r(Some("LocalRootSpan"), None)),
            (span("SERVER", false), r(Some("ServerSpan"), None)),
            (span("CLIENT", false), r(None, Some("ClientSpan"))),
            (span("PRODUCER", false), r(None, Some("ProducerSpan"))),
            (span("CLIENT", true), r(Some("LocalRootSpan"), Some("ClientSpan"))),
            (span("PRODUCER", true), r(Some("LocalRootSpan"), Some("ProducerSpan"))),
            (span("CONSUMER", false), r(None, Some("ConsumerSpan"))),
            (span("CONSUMER", true), r(Some("LocalRootSpan"), Some("ConsumerSpan"))),
            (span("INTERNAL", true), r(Some("LocalRootSpan"), None)),
            (span("INTERNAL", false), r(None, None)),
            (span("UNSPECIFIED", true), r(Some("LocalRootSpan"), None)),
            (span("UNSPECIFIED", false), r(None, None)),
        ];
        for (s, want) in cases {
            assert_eq!(records(&s, Java), want, "{} local_root={}", s.kind, s.local_root);
        }
    }

    #[test]
    fn rule_2_3_consumer_process_spans() {
        let process = |local_root, parent_is_consumer| RecordSpan {
            messaging_operation: Some("process"),
            parent_is_consumer,
            ..span("CONSUMER", local_root)
        };
        assert_eq!(records(&process(false, false), Compat::Java).dependency, Some("ConsumerSpan"));
        assert_eq!(records(&process(false, true), Compat::Java).dependency, None);
        assert_eq!(records(&process(true, true), Compat::Java).dependency, Some("ConsumerSpan"));
        let receive =
            RecordSpan { messaging_operation: Some("receive"), parent_is_consumer: true, ..span("CONSUMER", false) };
        assert_eq!(records(&receive, Compat::Java).dependency, Some("ConsumerSpan"));
    }

    #[test]
    fn rule_2_2_sqs_receive_suppression() {
        let sqs = RecordSpan {
            name: "SQS.ReceiveMessage",
            scope_name: Some("io.opentelemetry.aws-sdk-2.2"),
            ..span("CONSUMER", true)
        };
        assert_eq!(records(&sqs, Compat::Java), Records { service: None, dependency: None });
        assert_eq!(records(&sqs, Compat::Js), Records { service: None, dependency: None });
        let with_op = RecordSpan { messaging_operation: Some("receive"), ..sqs };
        assert_eq!(records(&with_op, Compat::Java).service, Some("LocalRootSpan"), "only absent or process");
        // Python suppresses by scope only, for every kind.
        let boto = RecordSpan { scope_name: Some("opentelemetry.instrumentation.boto3sqs"), ..span("PRODUCER", true) };
        assert_eq!(records(&boto, Compat::Python), Records { service: None, dependency: None });
        assert_eq!(
            records(&boto, Compat::Java),
            Records { service: Some("LocalRootSpan"), dependency: Some("ProducerSpan") }
        );
    }
}
