//! Application Signals derivation rules (`application-signals.md`), as pure functions with no
//! I/O and no Arrow: which operation, service, error and fault a span record gets. The span
//! table's columns feed them; the `signals` table is built from their results.
//!
//! Rule numbers in comments and tests refer to the spec's sections. Where the ADOT SDKs differ,
//! [`Compat`] selects the behaviour (Java by default, as the spec recommends).

use std::borrow::Cow;

pub mod classify;
pub mod dependency;
pub mod environment;
pub mod local;
pub mod propagate;
pub mod records;
pub mod remote;
pub mod resource;
pub mod sampling;

/// Which SDK's behaviour to reproduce where the SDKs differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compat {
    #[default]
    Java,
    Python,
    Js,
}

/// An attribute value that is present and not empty: the SDKs treat `""` as absent.
pub fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}

/// Truncate to at most `max` characters (the agent's limits count characters).
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// [`truncate_chars`] of a value that may be owned, without copying it.
pub fn truncate_cow(s: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(truncate_chars(b, max)),
        Cow::Owned(mut o) => {
            let keep = truncate_chars(&o, max).len();
            o.truncate(keep);
            Cow::Owned(o)
        }
    }
}

/// Every span and resource attribute key the rules read. Spans decoded only for the derivation
/// keep just these in their attribute maps (less to build, hold, spill and scan); a test checks
/// that every key-like literal of the rules is listed. The first [`SERVICE_KEYS`] are all that
/// Service records read, with the local roots they depend on: a derivation of Service records
/// alone keeps only those (and, in debug builds, asserts that it reads no other).
pub const ATTRIBUTE_KEYS: &[&str] = &[
    // Rule 0: ADOT annotations of the local side.
    "aws.local.service",
    "aws.local.operation",
    "aws.local.environment",
    "aws.span.kind",
    // §5.1 ingress operation, §9 error and fault, §2 which records a span gives.
    "aws.lambda.local.operation.override",
    "http.request.method",
    "http.method",
    "url.path",
    "http.target",
    "url.full",
    "http.url",
    "http.response.status_code",
    "http.status_code",
    "messaging.operation.type",
    "messaging.operation",
    // Resource: §2.1 identity, §5.1.1 Lambda, §11 environment.
    "service.instance.id",
    "faas.name",
    "cloud.platform",
    "cloud.provider",
    "deployment.environment.name",
    "deployment.environment",
    "aws.hostedin.environment",
    "ec2.tag.aws:autoscaling:groupName",
    "aws.ecs.cluster.arn",
    "aws.ecs.cluster.name",
    "k8s.cluster.name",
    "k8s.namespace.name",
    // Sampling-aware counts (span, then resource).
    "SampleRate",
    "sampleRate",
    // Dependency records only from here on. Rule 0: ADOT annotations of the remote side.
    "aws.remote.service",
    "aws.remote.operation",
    "aws.remote.environment",
    "aws.remote.target",
    "aws.remote.resource.type",
    "aws.remote.resource.identifier",
    // §6 remote service and operation.
    "peer.service",
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "db.system.name",
    "db.system",
    "db.operation.name",
    "db.operation",
    "db.query.text",
    "db.statement",
    "db.namespace",
    "db.name",
    "db.connection_string",
    "faas.invoked_name",
    "faas.trigger",
    "messaging.system",
    "graphql.operation.type",
    "server.address",
    "server.port",
    "server.socket.address",
    "server.socket.port",
    "network.peer.address",
    "network.peer.port",
    "net.peer.name",
    "net.peer.port",
    "net.sock.peer.addr",
    "net.sock.peer.port",
    // §7 AWS resources.
    "aws.lambda.function.name",
    "aws.lambda.resource_mapping.id",
    "aws.dynamodb.table_names",
    "aws.dynamodb.table.arn",
    "aws.table.arn",
    "aws.kinesis.stream_name",
    "aws.kinesis.stream.arn",
    "aws.stream.arn",
    "aws.s3.bucket",
    "aws.sqs.queue.name",
    "aws.queue.name",
    "aws.sqs.queue.url",
    "aws.queue.url",
    "aws.bedrock.agent.id",
    "aws.bedrock.data_source.id",
    "aws.bedrock.guardrail.id",
    "aws.bedrock.knowledge_base.id",
    "gen_ai.request.model",
    "aws.secretsmanager.secret.arn",
    "aws.sns.topic.arn",
    "aws.step_functions.state_machine.arn",
    "aws.stepfunctions.state_machine.arn",
    "aws.step_functions.activity.arn",
    "aws.stepfunctions.activity.arn",
];

/// How many of the first [`ATTRIBUTE_KEYS`] Service records read.
pub const SERVICE_KEYS: usize = 29;

/// A rule key as its index in [`ATTRIBUTE_KEYS`], so that looking an attribute up compares a
/// byte instead of a string. Written [`key!`]`("http.method")`, it is resolved at compile time,
/// and a key missing from the list does not compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key(pub u8);

const _: () = assert!(ATTRIBUTE_KEYS.len() < u8::MAX as usize, "rule keys must fit a u8 with one value spare");

impl Key {
    /// The key `name` (a compile-time error in const context when it is not a rule key).
    pub const fn of(name: &str) -> Key {
        let mut i = 0;
        while i < ATTRIBUTE_KEYS.len() {
            if const_eq(ATTRIBUTE_KEYS[i].as_bytes(), name.as_bytes()) {
                return Key(i as u8);
            }
            i += 1;
        }
        panic!("not in derive::ATTRIBUTE_KEYS");
    }

    /// The key `name` at run time; `None` for a key the rules do not read.
    pub fn find(name: &str) -> Option<Key> {
        static IDS: std::sync::LazyLock<std::collections::HashMap<&str, u8, foldhash::fast::RandomState>> =
            std::sync::LazyLock::new(|| ATTRIBUTE_KEYS.iter().enumerate().map(|(i, k)| (*k, i as u8)).collect());
        IDS.get(name).map(|i| Key(*i))
    }
}

const fn const_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `key!("http.method")`: the [`Key`] of a rule key, resolved at compile time.
macro_rules! key {
    ($name:literal) => {{
        const KEY: $crate::derive::Key = $crate::derive::Key::of($name);
        KEY
    }};
}
pub(crate) use key;

#[cfg(test)]
mod tests {
    use super::ATTRIBUTE_KEYS;

    /// Dotted literals of the rules that are not attribute keys (the last names a Parquet
    /// footer entry of the signals file).
    const NOT_KEYS: &[&str] = &[
        "169.254.169.254",
        "opentelemetry.instrumentation.boto3sqs",
        "opentelemetry.instrumentation.flask",
        "spanlens.signals.records",
    ];

    /// `word.word...`: lowercase first segment, dots, no spaces (attribute keys look like this).
    fn key_like(s: &str) -> bool {
        let mut parts = s.split('.');
        let first = parts.next().unwrap_or("");
        let segment = |p: &str, lower: bool| {
            !p.is_empty()
                && p.chars().all(|c| {
                    c.is_ascii_digit()
                        || c == '_'
                        || c == ':'
                        || c.is_ascii_lowercase()
                        || !lower && c.is_ascii_alphabetic()
                })
        };
        segment(first, true) && s.contains('.') && parts.all(|p| segment(p, false))
    }

    /// The string literals of Rust code, outside comments (no raw strings: the scanned code
    /// has none).
    fn string_literals(code: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = code.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '/' if chars.peek() == Some(&'/') => {
                    chars.by_ref().find(|&c| c == '\n');
                }
                // A char literal ('"', '\'') or a lifetime ('a).
                '\'' => {
                    let mut ahead = chars.clone();
                    match (ahead.next(), ahead.next()) {
                        (Some('\\'), _) => {
                            chars.by_ref().take(2).for_each(drop);
                            chars.by_ref().find(|&c| c == '\'');
                        }
                        (Some(_), Some('\'')) => chars.by_ref().take(2).for_each(drop),
                        _ => {}
                    }
                }
                '"' => {
                    let mut literal = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => literal.extend(chars.next()),
                            '"' => break,
                            c => literal.push(c),
                        }
                    }
                    out.push(literal);
                }
                _ => {}
            }
        }
        out
    }

    #[test]
    fn keys_resolve_to_their_index_at_compile_time_and_run_time() {
        use super::Key;
        for (i, name) in ATTRIBUTE_KEYS.iter().enumerate() {
            assert_eq!(Key::of(name), Key(i as u8));
            assert_eq!(Key::find(name), Some(Key(i as u8)));
        }
        assert_eq!(key!("http.method"), Key::of("http.method"));
        assert_eq!(Key::find("http.route"), None);
        assert!(std::panic::catch_unwind(|| Key::of("http.route")).is_err());
    }

    /// Every key-like string literal in the code (not the tests) of `signals/` and the rule
    /// modules is a key the derivation keeps, so filtering the maps cannot hide one from a rule.
    #[test]
    fn every_attribute_key_the_rules_read_is_kept() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for dir in ["signals", "derive"] {
            for entry in std::fs::read_dir(src.join(dir)).unwrap() {
                files.push(entry.unwrap().path());
            }
        }
        let mut seen = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // The code before the tests, and before this list in mod.rs.
            let code = text.split("#[cfg(test)]").next().unwrap().split("pub const ATTRIBUTE_KEYS").next().unwrap();
            for literal in string_literals(code).iter().filter(|s| key_like(s)) {
                seen += 1;
                assert!(
                    ATTRIBUTE_KEYS.contains(&literal.as_str()) || NOT_KEYS.contains(&literal.as_str()),
                    "{}: {literal:?} looks like an attribute key the rules read; add it to ATTRIBUTE_KEYS",
                    file.display()
                );
            }
        }
        // Most keys are read in more than one place (the lists above are not scanned).
        assert!(seen > ATTRIBUTE_KEYS.len(), "the scan found the rules' keys ({seen} literals)");
        assert!(key_like("ec2.tag.aws:autoscaling:groupName") && !key_like("AWS::S3::Bucket") && !key_like("GET /"));
        let code = "let c = '\"'; // \"not.a.key\"\nf::<'a>(\"a.b\", '\\'', \"c.\\\"d\");";
        assert_eq!(string_literals(code), ["a.b", "c.\"d"]);
    }
}
