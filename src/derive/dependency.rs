//! §6.1 precedence of remote service and remote operation, §6.3 the operation of a database
//! statement, and §8 the remote environment of a dependency record.

use std::borrow::Cow;
use std::sync::OnceLock;

use super::remote::{
    Address, HttpCall, UNKNOWN_REMOTE_OPERATION, UNKNOWN_REMOTE_SERVICE, aws_sdk_remote_service,
    fallback_remote_operation, fallback_remote_service,
};
use super::{Compat, present, truncate_chars, truncate_cow};

/// Statement keywords that name the operation of a database call (§6.3). The SDKs match a
/// larger dialect list; every statement-leading keyword of ANSI SQL, PostgreSQL, MySQL, SQL
/// Server, Oracle and SQLite is here, and a statement starting with anything else gives
/// `UnknownRemoteOperation`, as an unlisted keyword does in the SDKs.
const SQL_KEYWORDS: &[&str] = &[
    "ABORT",
    "ALTER",
    "ANALYZE",
    "ATTACH",
    "BACKUP",
    "BEGIN",
    "CACHE",
    "CALL",
    "CHECKPOINT",
    "CHECKSUM",
    "CLOSE",
    "CLUSTER",
    "COMMENT",
    "COMMIT",
    "COPY",
    "CREATE",
    "DEALLOCATE",
    "DECLARE",
    "DELETE",
    "DESC",
    "DESCRIBE",
    "DETACH",
    "DISCARD",
    "DO",
    "DROP",
    "END",
    "EXEC",
    "EXECUTE",
    "EXPLAIN",
    "FETCH",
    "FLUSH",
    "GRANT",
    "HANDLER",
    "IMPORT",
    "INSERT",
    "INSTALL",
    "KILL",
    "LISTEN",
    "LOAD",
    "LOCK",
    "MERGE",
    "MOVE",
    "NOTIFY",
    "OPTIMIZE",
    "PRAGMA",
    "PREPARE",
    "PURGE",
    "REFRESH",
    "REINDEX",
    "RELEASE",
    "RENAME",
    "REPAIR",
    "REPLACE",
    "RESET",
    "RESTORE",
    "REVOKE",
    "ROLLBACK",
    "SAVEPOINT",
    "SELECT",
    "SET",
    "SHOW",
    "SHUTDOWN",
    "START",
    "TABLE",
    "TRUNCATE",
    "UNINSTALL",
    "UNLISTEN",
    "UNLOCK",
    "UPDATE",
    "UPSERT",
    "USE",
    "VACUUM",
    "VALUES",
    "WITH",
];

/// The keywords longest first, so that a keyword never shadows a longer one it prefixes
/// (`DESC` / `DESCRIBE`).
fn keywords_longest_first() -> &'static [&'static str] {
    static SORTED: OnceLock<Vec<&'static str>> = OnceLock::new();
    SORTED.get_or_init(|| {
        let mut k = SQL_KEYWORDS.to_vec();
        k.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        k
    })
}

/// §6.3: the leading SQL keyword of a statement: leading whitespace stripped, the first 27
/// characters upper-cased, matched as `^(?:KW…)\b`.
pub fn sql_operation(statement: &str) -> Option<&'static str> {
    let head: String = statement.trim_start().chars().take(27).collect::<String>().to_uppercase();
    keywords_longest_first().iter().copied().find(|kw| {
        head.starts_with(kw) && head[kw.len()..].chars().next().is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

/// What §6.1 reads of a dependency span. `manual_*` are `aws.remote.service` and
/// `aws.remote.operation`, the span's own or inherited from an INTERNAL parent (§4.2).
#[derive(Debug, Clone, Copy, Default)]
pub struct DependencySpan<'a> {
    pub manual_service: Option<&'a str>,
    pub manual_operation: Option<&'a str>,
    pub rpc_system: Option<&'a str>,
    pub rpc_service: Option<&'a str>,
    pub rpc_method: Option<&'a str>,
    /// `aws.lambda.function.name`.
    pub lambda_function: Option<&'a str>,
    /// `db.system.name` / `db.system`, `db.operation.name` / `db.operation`,
    /// `db.query.text` / `db.statement`.
    pub db_system_new: Option<&'a str>,
    pub db_system_old: Option<&'a str>,
    pub db_operation_new: Option<&'a str>,
    pub db_operation_old: Option<&'a str>,
    pub db_statement_new: Option<&'a str>,
    pub db_statement_old: Option<&'a str>,
    pub faas_invoked_name: Option<&'a str>,
    pub faas_trigger: Option<&'a str>,
    pub messaging_system: Option<&'a str>,
    /// `messaging.operation.type` and `messaging.operation`.
    pub messaging_operation_type: Option<&'a str>,
    pub messaging_operation: Option<&'a str>,
    pub graphql_operation_type: Option<&'a str>,
    pub peer_service: Option<&'a str>,
    pub address: Address<'a>,
    pub http: HttpCall<'a>,
}

impl DependencySpan<'_> {
    fn is_aws_sdk(&self) -> bool {
        self.rpc_system == Some("aws-api")
    }

    /// A Lambda `Invoke` call through the AWS SDK (§6.2, §8.1).
    pub fn is_lambda_invoke(&self) -> bool {
        self.is_aws_sdk()
            && matches!(self.rpc_service, Some("Lambda" | "AWSLambda"))
            && self.rpc_method == Some("Invoke")
    }
}

/// The remote service and operation of a dependency record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote<'a> {
    pub service: Cow<'a, str>,
    pub operation: Cow<'a, str>,
}

/// §6.1: remote service and remote operation, first matching branch wins; then the
/// `peer.service` override, the §6.4/§6.5 fallbacks and truncation (255 / 1024 characters).
pub fn remote_service_operation<'a>(s: &DependencySpan<'a>, compat: Compat) -> Remote<'a> {
    let borrowed = |v: Option<&'a str>| v.map(Cow::Borrowed);
    let java = compat == Compat::Java;
    fn pick<'s>(java: bool, new: Option<&'s str>, old: Option<&'s str>) -> Option<&'s str> {
        if java { present(new).or(present(old)) } else { present(old) }
    }
    let db_system = pick(java, s.db_system_new, s.db_system_old);
    let db_operation = pick(java, s.db_operation_new, s.db_operation_old);
    let db_statement = pick(java, s.db_statement_new, s.db_statement_old);
    let messaging_operation = pick(java, s.messaging_operation_type, s.messaging_operation);

    let (service, operation) = if present(s.manual_service).is_some() || present(s.manual_operation).is_some() {
        // 1. Manual.
        (borrowed(present(s.manual_service)), borrowed(present(s.manual_operation)))
    } else if present(s.rpc_service).is_some() || present(s.rpc_method).is_some() {
        // 2. RPC, with the AWS SDK names normalised.
        let service = present(s.rpc_service).map(|svc| {
            if s.is_aws_sdk() {
                aws_sdk_remote_service(svc, s.rpc_method, s.lambda_function)
            } else {
                Cow::Borrowed(svc)
            }
        });
        (service, borrowed(present(s.rpc_method)))
    } else if db_system.is_some() || db_operation.is_some() || db_statement.is_some() {
        // 3. Database: the operation, else the statement's keyword.
        let operation = db_operation.or_else(|| db_statement.and_then(sql_operation));
        (borrowed(db_system), borrowed(operation))
    } else if present(s.faas_invoked_name).is_some() || present(s.faas_trigger).is_some() {
        // 4. FaaS.
        (borrowed(present(s.faas_invoked_name)), borrowed(present(s.faas_trigger)))
    } else if present(s.messaging_system).is_some() || messaging_operation.is_some() {
        // 5. Messaging.
        (borrowed(present(s.messaging_system)), borrowed(messaging_operation))
    } else if present(s.graphql_operation_type).is_some() {
        // 6. GraphQL.
        (Some(Cow::Borrowed("graphql")), borrowed(present(s.graphql_operation_type)))
    } else {
        (None, None)
    };
    // 8. peer.service overrides branches 2–6 (a manual service is never overridden).
    let service = match present(s.peer_service) {
        Some(peer) if present(s.manual_service).is_none() => Some(Cow::Borrowed(peer)),
        _ => service,
    };
    // 9, 10. Fallbacks; an explicit "Unknown…" value counts as unknown.
    let service =
        service.filter(|v| v != UNKNOWN_REMOTE_SERVICE).unwrap_or_else(|| fallback_remote_service(&s.address, compat));
    let operation = operation
        .filter(|v| v != UNKNOWN_REMOTE_OPERATION)
        .unwrap_or_else(|| fallback_remote_operation(&s.http, compat));
    // 11. Truncation.
    Remote { service: truncate_cow(service, 255), operation: truncate_cow(operation, 1024) }
}

/// §8: the remote environment: `lambda:default` for a Lambda `Invoke`, else the span's own
/// `aws.remote.environment`; truncated to 259 characters.
pub fn remote_environment<'a>(s: &DependencySpan<'_>, own: Option<&'a str>) -> Option<&'a str> {
    if s.is_lambda_invoke() {
        return Some("lambda:default");
    }
    present(own).map(|e| truncate_chars(e, 259))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_6_3_sql_keyword() {
        let cases = [
            ("SELECT * FROM owners", Some("SELECT")),
            ("  \n\tselect id from pets", Some("SELECT")),
            ("INSERT INTO visits VALUES (1)", Some("INSERT")),
            ("describe pets", Some("DESCRIBE")),
            ("DESC pets", Some("DESC")),
            ("WITH t AS (SELECT 1) SELECT * FROM t", Some("WITH")),
            ("SELECTED", None),
            ("SELECT_1", None),
            ("SELECT(1)", Some("SELECT")),
            ("FOO BAR", None),
            ("", None),
            ("update", Some("UPDATE")),
            // Only the first 27 characters are looked at.
            (&format!("{}SELECT", " ".repeat(3)), Some("SELECT")),
        ];
        for (statement, want) in cases {
            assert_eq!(sql_operation(statement), want, "{statement:?}");
        }
        let long = format!("/* {} */ SELECT 1", "x".repeat(30));
        assert_eq!(sql_operation(&long), None);
    }

    fn remote(s: DependencySpan<'_>, compat: Compat) -> (String, String) {
        let r = remote_service_operation(&s, compat);
        (r.service.into_owned(), r.operation.into_owned())
    }

    #[test]
    fn rule_6_1_precedence() {
        use Compat::*;
        let http = DependencySpan {
            address: Address { server_address: Some("vets"), server_port: Some(8080), ..Default::default() },
            http: HttpCall { url_full: Some("http://vets:8080/vets/7"), method_new: Some("GET"), ..Default::default() },
            ..Default::default()
        };
        let db = DependencySpan {
            db_system_old: Some("postgresql"),
            db_statement_old: Some("SELECT * FROM owners WHERE id = $1"),
            ..http
        };
        let sdk = DependencySpan {
            rpc_system: Some("aws-api"),
            rpc_service: Some("DynamoDb"),
            rpc_method: Some("PutItem"),
            ..http
        };
        let s = |a: &str, b: &str| (a.to_string(), b.to_string());
        let cases: Vec<(&str, DependencySpan<'_>, Compat, (String, String))> = vec![
            (
                "6.1.1 manual",
                DependencySpan { manual_service: Some("Billing"), ..sdk },
                Java,
                s("Billing", "GET /vets"),
            ),
            (
                "6.1.1 manual op only",
                DependencySpan { manual_operation: Some("Pay"), ..http },
                Java,
                s("vets:8080", "Pay"),
            ),
            ("6.1.2 rpc aws sdk", sdk, Java, s("AWS::DynamoDB", "PutItem")),
            (
                "6.1.2 rpc grpc",
                DependencySpan {
                    rpc_system: Some("grpc"),
                    rpc_service: Some("oteldemo.CartService"),
                    rpc_method: Some("GetCart"),
                    ..Default::default()
                },
                Java,
                s("oteldemo.CartService", "GetCart"),
            ),
            (
                "6.1.2 lambda invoke",
                DependencySpan {
                    rpc_service: Some("Lambda"),
                    rpc_method: Some("Invoke"),
                    lambda_function: Some("checkout"),
                    ..sdk
                },
                Java,
                s("checkout", "Invoke"),
            ),
            ("6.1.3 db statement keyword", db, Java, s("postgresql", "SELECT")),
            (
                "6.1.3 db operation wins",
                DependencySpan { db_operation_old: Some("findOwner"), ..db },
                Java,
                s("postgresql", "findOwner"),
            ),
            (
                "6.1.3 new keys, Java",
                DependencySpan { db_system_new: Some("mysql"), db_operation_new: Some("SELECT pets"), ..db },
                Java,
                s("mysql", "SELECT pets"),
            ),
            (
                "6.1.3 new keys ignored, Python",
                DependencySpan { db_system_new: Some("mysql"), db_operation_new: Some("SELECT pets"), ..db },
                Python,
                s("postgresql", "SELECT"),
            ),
            (
                "6.1.3 db without keyword",
                DependencySpan { db_statement_old: Some("hgetall k"), http: HttpCall::default(), ..db },
                Java,
                s("postgresql", "UnknownRemoteOperation"),
            ),
            (
                "6.1.4 faas",
                DependencySpan { faas_invoked_name: Some("resize"), faas_trigger: Some("http"), ..Default::default() },
                Java,
                s("resize", "http"),
            ),
            (
                "6.1.5 messaging",
                DependencySpan {
                    messaging_system: Some("kafka"),
                    messaging_operation: Some("publish"),
                    ..Default::default()
                },
                Java,
                s("kafka", "publish"),
            ),
            (
                "6.1.5 messaging type first, Java",
                DependencySpan {
                    messaging_system: Some("kafka"),
                    messaging_operation_type: Some("send"),
                    messaging_operation: Some("publish"),
                    ..Default::default()
                },
                Java,
                s("kafka", "send"),
            ),
            (
                "6.1.5 messaging old key, Python",
                DependencySpan {
                    messaging_system: Some("kafka"),
                    messaging_operation_type: Some("send"),
                    messaging_operation: Some("publish"),
                    ..Default::default()
                },
                Python,
                s("kafka", "publish"),
            ),
            (
                "6.1.6 graphql",
                DependencySpan { graphql_operation_type: Some("query"), ..Default::default() },
                Java,
                s("graphql", "query"),
            ),
            (
                "6.1.8 peer.service",
                DependencySpan { peer_service: Some("vet-service"), ..db },
                Java,
                s("vet-service", "SELECT"),
            ),
            (
                "6.1.8 manual beats peer.service",
                DependencySpan { peer_service: Some("p"), manual_service: Some("m"), ..http },
                Java,
                s("m", "GET /vets"),
            ),
            ("6.1.9 address fallback", http, Java, s("vets:8080", "GET /vets")),
            (
                "6.1.10 nothing known",
                DependencySpan::default(),
                Java,
                s(UNKNOWN_REMOTE_SERVICE, UNKNOWN_REMOTE_OPERATION),
            ),
        ];
        for (rule, span, compat, want) in cases {
            assert_eq!(remote(span, compat), want, "{rule}");
        }
    }

    #[test]
    fn rule_6_1_11_truncation() {
        let long = "s".repeat(300);
        let op = "o".repeat(1100);
        let r = remote_service_operation(
            &DependencySpan { manual_service: Some(&long), manual_operation: Some(&op), ..Default::default() },
            Compat::Java,
        );
        assert_eq!((r.service.len(), r.operation.len()), (255, 1024));
        // Values built by the fallbacks are cut the same way, in characters, not bytes.
        let host = "h".repeat(300);
        let url = format!("http://x/{}", "é".repeat(1100));
        let r = remote_service_operation(
            &DependencySpan {
                address: Address { net_peer_name: Some(&host), net_peer_port: Some(80), ..Default::default() },
                http: HttpCall { http_url: Some(&url), method_old: Some("GET"), ..Default::default() },
                ..Default::default()
            },
            Compat::Java,
        );
        assert_eq!(r.service, "h".repeat(255));
        assert_eq!(r.operation.chars().count(), 1024);
        assert!(r.operation.starts_with("GET /é"));
    }

    #[test]
    fn rule_8_remote_environment() {
        let invoke = DependencySpan {
            rpc_system: Some("aws-api"),
            rpc_service: Some("AWSLambda"),
            rpc_method: Some("Invoke"),
            ..Default::default()
        };
        assert_eq!(remote_environment(&invoke, None), Some("lambda:default"));
        assert_eq!(remote_environment(&DependencySpan::default(), Some("eks:c/ns")), Some("eks:c/ns"));
        assert_eq!(remote_environment(&DependencySpan::default(), Some("")), None);
        assert_eq!(remote_environment(&DependencySpan::default(), Some(&"e".repeat(300))).map(|e| e.len()), Some(259));
    }
}
