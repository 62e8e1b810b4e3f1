//! §7: remote resource type and identifier of dependency records (AWS SDK resources and
//! database connections). Both are set together or not at all.

use super::remote::function_name;
use super::{Compat, present};

/// `RemoteResourceType` and `RemoteResourceIdentifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteResource {
    pub resource_type: &'static str,
    pub identifier: String,
}

/// §7: escape the identifier delimiters: `^` → `^^`, then `|` → `^|`.
pub fn escape_delimiters(s: &str) -> String {
    s.replace('^', "^^").replace('|', "^|")
}

/// The resource part of an ARN (`arn:partition:service:region:account:<resource>`).
fn arn_resource(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    (parts.next()? == "arn").then_some(())?;
    parts.nth(4).filter(|r| !r.is_empty())
}

/// The last `:`-separated part of an ARN.
fn arn_last(arn: &str) -> Option<&str> {
    arn.rsplit(':').next().filter(|s| !s.is_empty())
}

/// The queue name of an SQS URL `http(s)://<host>/<12-digit account>/<name>`.
fn sqs_queue_name(url: &str, compat: Compat) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [_host, account, name] = parts.as_slice() else { return None };
    let account_ok = match compat {
        Compat::Java => account.parse::<i64>().is_ok(),
        Compat::Python | Compat::Js => account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 80
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (account_ok && name_ok).then_some(*name)
}

/// Table names from `aws.dynamodb.table_names`: a JSON array (how the span table renders
/// arrays) or a plain string.
fn table_names(value: &str) -> Vec<String> {
    if value.starts_with('[') {
        serde_json::from_str::<Vec<String>>(value).unwrap_or_default()
    } else {
        vec![value.to_string()]
    }
}

/// §7.1: the resource of an AWS SDK span (`rpc.system == "aws-api"`). `attr` looks up a span
/// attribute's text. Every SDK's key spelling is accepted; the row order follows Python, with
/// Java's differences under [`Compat::Java`]. (AgentCore resources, row 13, are not derived.)
pub fn aws_sdk_resource<'a>(
    attr: impl Fn(&str) -> Option<&'a str>,
    rpc_service: Option<&str>,
    rpc_method: Option<&str>,
    compat: Compat,
) -> Option<RemoteResource> {
    let get = |keys: &[&str]| keys.iter().find_map(|k| present(attr(k)));
    let found = |resource_type: &'static str, id: &str| {
        Some(RemoteResource { resource_type, identifier: escape_delimiters(id) })
    };
    type Row<'r> = &'r dyn Fn() -> Option<RemoteResource>;

    let dynamodb_names = || {
        let names = table_names(get(&["aws.dynamodb.table_names"])?);
        let name = match compat {
            Compat::Java => names.first()?,
            Compat::Python | Compat::Js => match names.as_slice() {
                [one] => one,
                _ => return None,
            },
        };
        found("AWS::DynamoDB::Table", name)
    };
    let dynamodb_arn = || {
        let res = arn_resource(get(&["aws.dynamodb.table.arn", "aws.table.arn"])?)?;
        found("AWS::DynamoDB::Table", res.strip_prefix("table/").unwrap_or(res))
    };
    let kinesis_name = || found("AWS::Kinesis::Stream", get(&["aws.kinesis.stream_name"])?);
    let kinesis_arn = || {
        let res = arn_resource(get(&["aws.kinesis.stream.arn", "aws.stream.arn"])?)?;
        found("AWS::Kinesis::Stream", res.strip_prefix("stream/").unwrap_or(res))
    };
    let s3 = || found("AWS::S3::Bucket", get(&["aws.s3.bucket"])?);
    let sqs_name = || found("AWS::SQS::Queue", get(&["aws.sqs.queue.name", "aws.queue.name"])?);
    let sqs_url = || found("AWS::SQS::Queue", sqs_queue_name(get(&["aws.sqs.queue.url", "aws.queue.url"])?, compat)?);
    let agent = || found("AWS::Bedrock::Agent", get(&["aws.bedrock.agent.id"])?);
    let data_source = || found("AWS::Bedrock::DataSource", get(&["aws.bedrock.data_source.id"])?);
    let guardrail = || found("AWS::Bedrock::Guardrail", get(&["aws.bedrock.guardrail.id"])?);
    let knowledge_base = || found("AWS::Bedrock::KnowledgeBase", get(&["aws.bedrock.knowledge_base.id"])?);
    let model = || found("AWS::Bedrock::Model", get(&["gen_ai.request.model"])?);
    let secret = || found("AWS::SecretsManager::Secret", arn_last(get(&["aws.secretsmanager.secret.arn"])?)?);
    let topic = || found("AWS::SNS::Topic", arn_last(get(&["aws.sns.topic.arn"])?)?);
    let state_machine = || {
        let arn = get(&["aws.step_functions.state_machine.arn", "aws.stepfunctions.state_machine.arn"])?;
        found("AWS::StepFunctions::StateMachine", arn_last(arn)?)
    };
    let activity = || {
        let arn = get(&["aws.step_functions.activity.arn", "aws.stepfunctions.activity.arn"])?;
        found("AWS::StepFunctions::Activity", arn_last(arn)?)
    };
    let invoke = matches!(rpc_service, Some("Lambda" | "AWSLambda")) && rpc_method == Some("Invoke");
    let function = || {
        if invoke {
            return None; // An Invoke is a service edge (§6.2), not a resource.
        }
        let name = get(&["aws.lambda.function.name"])?;
        let name = if compat == Compat::Java { function_name(name) } else { name };
        found("AWS::Lambda::Function", name)
    };
    let mapping = || found("AWS::Lambda::EventSourceMapping", get(&["aws.lambda.resource_mapping.id"])?);

    let python_order: [Row<'_>; 18] = [
        &dynamodb_names,
        &dynamodb_arn,
        &kinesis_name,
        &kinesis_arn,
        &s3,
        &sqs_name,
        &sqs_url,
        &agent,
        &data_source,
        &guardrail,
        &knowledge_base,
        &model,
        &secret,
        &topic,
        &state_machine,
        &activity,
        &function,
        &mapping,
    ];
    let java_order: [Row<'_>; 18] = [
        &dynamodb_names,
        &dynamodb_arn,
        &kinesis_name,
        &kinesis_arn,
        &s3,
        &sqs_name,
        &sqs_url,
        &agent,
        &knowledge_base,
        &data_source,
        &guardrail,
        &model,
        &state_machine,
        &activity,
        &topic,
        &secret,
        &function,
        &mapping,
    ];
    let rows = if compat == Compat::Java { java_order } else { python_order };
    rows.iter().find_map(|row| row())
}

/// The connection attributes §7.2 reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct DbConnection<'a> {
    /// `db.namespace` and `db.name`.
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
    pub server_address: Option<&'a str>,
    pub server_port: Option<i64>,
    pub net_peer_name: Option<&'a str>,
    pub net_peer_port: Option<i64>,
    /// Java: `network.peer.address`/`port`; Python: `server.socket.address`/`port`.
    pub peer_address: Option<&'a str>,
    pub peer_port: Option<i64>,
    pub connection_string: Option<&'a str>,
}

/// Host and port of a URL-form connection string (`postgresql://user@db.internal:5432/pets`,
/// `jdbc:mysql://db:3306/x`); other forms give none.
fn connection_host_port(cs: &str) -> Option<(String, Option<i64>)> {
    let rest = &cs[cs.find("://")? + 3..];
    let end = rest.find(['/', '?', ';']).unwrap_or(rest.len());
    let authority = rest[..end].rsplit('@').next().unwrap_or("");
    if authority.is_empty() {
        return None;
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() => {
            Some((host.to_string(), port.parse().ok()))
        }
        _ => Some((authority.to_string(), None)),
    }
}

/// §7.2: the `DB::Connection` resource of a database span that is not an AWS SDK span:
/// `[db|]address[|port]`, escaped. No address, no resource.
pub fn db_connection(c: &DbConnection<'_>, compat: Compat) -> Option<RemoteResource> {
    let owned = |s: Option<&'_ str>| present(s).map(str::to_string);
    let (address, port) = owned(c.server_address)
        .map(|a| (a, c.server_port))
        .or_else(|| owned(c.net_peer_name).map(|a| (a, c.net_peer_port)))
        .or_else(|| owned(c.peer_address).map(|a| (a, c.peer_port)))
        .or_else(|| c.connection_string.and_then(connection_host_port))?;
    let db = match compat {
        Compat::Java => c.namespace.or(c.name),
        Compat::Python | Compat::Js => c.name.or(c.namespace),
    }
    .filter(|d| !d.is_empty());
    let mut identifier = String::new();
    if let Some(db) = db {
        identifier.push_str(&escape_delimiters(db));
        identifier.push('|');
    }
    identifier.push_str(&escape_delimiters(&address));
    if let Some(port) = port {
        identifier.push_str(&format!("|{port}"));
    }
    Some(RemoteResource { resource_type: "DB::Connection", identifier })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |k| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| *v)
    }

    fn resource(pairs: &[(&str, &str)], compat: Compat) -> Option<(String, String)> {
        aws_sdk_resource(lookup(pairs), Some("X"), None, compat).map(|r| (r.resource_type.to_string(), r.identifier))
    }

    #[test]
    fn rule_7_1_aws_sdk_resources() {
        use Compat::*;
        let acct = "123456789012";
        type Case = (&'static str, Vec<(&'static str, String)>, Compat, Option<(&'static str, &'static str)>);
        let cases: Vec<Case> = vec![
            (
                "1 one table",
                vec![("aws.dynamodb.table_names", r#"["Orders"]"#.into())],
                Python,
                Some(("AWS::DynamoDB::Table", "Orders")),
            ),
            ("1 two tables, Python", vec![("aws.dynamodb.table_names", r#"["A","B"]"#.into())], Python, None),
            (
                "1 two tables, Java",
                vec![("aws.dynamodb.table_names", r#"["A","B"]"#.into())],
                Java,
                Some(("AWS::DynamoDB::Table", "A")),
            ),
            (
                "2 table ARN",
                vec![("aws.table.arn", format!("arn:aws:dynamodb:us-east-1:{acct}:table/Pets"))],
                Java,
                Some(("AWS::DynamoDB::Table", "Pets")),
            ),
            (
                "3 stream name",
                vec![("aws.kinesis.stream_name", "clicks".into())],
                Python,
                Some(("AWS::Kinesis::Stream", "clicks")),
            ),
            (
                "4 stream ARN",
                vec![("aws.kinesis.stream.arn", format!("arn:aws:kinesis:us-east-1:{acct}:stream/s1"))],
                Python,
                Some(("AWS::Kinesis::Stream", "s1")),
            ),
            (
                "5 bucket",
                vec![("aws.s3.bucket", "my|bucket^x".into())],
                Python,
                Some(("AWS::S3::Bucket", "my^|bucket^^x")),
            ),
            ("6 queue name", vec![("aws.queue.name", "jobs".into())], Java, Some(("AWS::SQS::Queue", "jobs"))),
            (
                "7 queue URL",
                vec![("aws.sqs.queue.url", format!("https://sqs.us-east-1.amazonaws.com/{acct}/jobs-1"))],
                Python,
                Some(("AWS::SQS::Queue", "jobs-1")),
            ),
            (
                "7 queue URL, bad account",
                vec![("aws.sqs.queue.url", "https://sqs.amazonaws.com/12/jobs".into())],
                Python,
                None,
            ),
            (
                "7 queue URL, Java account is any long",
                vec![("aws.sqs.queue.url", "https://sqs.amazonaws.com/12/jobs".into())],
                Java,
                Some(("AWS::SQS::Queue", "jobs")),
            ),
            (
                "7 queue URL, extra path part",
                vec![("aws.sqs.queue.url", format!("https://h/{acct}/a/b"))],
                Python,
                None,
            ),
            ("8 agent", vec![("aws.bedrock.agent.id", "ag1".into())], Python, Some(("AWS::Bedrock::Agent", "ag1"))),
            (
                "9/11 Python: data source before knowledge base",
                vec![("aws.bedrock.data_source.id", "ds".into()), ("aws.bedrock.knowledge_base.id", "kb".into())],
                Python,
                Some(("AWS::Bedrock::DataSource", "ds")),
            ),
            (
                "9/11 Java: knowledge base before data source",
                vec![("aws.bedrock.data_source.id", "ds".into()), ("aws.bedrock.knowledge_base.id", "kb".into())],
                Java,
                Some(("AWS::Bedrock::KnowledgeBase", "kb")),
            ),
            (
                "10 guardrail",
                vec![("aws.bedrock.guardrail.id", "g".into())],
                Python,
                Some(("AWS::Bedrock::Guardrail", "g")),
            ),
            (
                "12 model",
                vec![("gen_ai.request.model", "anthropic.claude".into())],
                Python,
                Some(("AWS::Bedrock::Model", "anthropic.claude")),
            ),
            (
                "14 secret",
                vec![(
                    "aws.secretsmanager.secret.arn",
                    format!("arn:aws:secretsmanager:us-east-1:{acct}:secret:db-pass"),
                )],
                Python,
                Some(("AWS::SecretsManager::Secret", "db-pass")),
            ),
            (
                "15 topic",
                vec![("aws.sns.topic.arn", format!("arn:aws:sns:us-east-1:{acct}:alerts"))],
                Python,
                Some(("AWS::SNS::Topic", "alerts")),
            ),
            (
                "14-17 Python: secret before topic",
                vec![
                    ("aws.sns.topic.arn", "arn:aws:sns:r:1:t".into()),
                    ("aws.secretsmanager.secret.arn", "arn:aws:secretsmanager:r:1:secret:s".into()),
                ],
                Python,
                Some(("AWS::SecretsManager::Secret", "s")),
            ),
            (
                "14-17 Java: topic before secret",
                vec![
                    ("aws.sns.topic.arn", "arn:aws:sns:r:1:t".into()),
                    ("aws.secretsmanager.secret.arn", "arn:aws:secretsmanager:r:1:secret:s".into()),
                ],
                Java,
                Some(("AWS::SNS::Topic", "t")),
            ),
            (
                "16 state machine",
                vec![("aws.stepfunctions.state_machine.arn", "arn:aws:states:r:1:stateMachine:flow".into())],
                Java,
                Some(("AWS::StepFunctions::StateMachine", "flow")),
            ),
            (
                "17 activity",
                vec![("aws.step_functions.activity.arn", "arn:aws:states:r:1:activity:act".into())],
                Python,
                Some(("AWS::StepFunctions::Activity", "act")),
            ),
            (
                "18 function",
                vec![("aws.lambda.function.name", "fn".into())],
                Python,
                Some(("AWS::Lambda::Function", "fn")),
            ),
            (
                "18 function ARN, Java",
                vec![("aws.lambda.function.name", format!("arn:aws:lambda:us-east-1:{acct}:function:fn"))],
                Java,
                Some(("AWS::Lambda::Function", "fn")),
            ),
            (
                "19 mapping",
                vec![("aws.lambda.resource_mapping.id", "m-1".into())],
                Python,
                Some(("AWS::Lambda::EventSourceMapping", "m-1")),
            ),
            ("none", vec![("http.method", "GET".into())], Python, None),
        ];
        for (rule, attrs, compat, want) in cases {
            let pairs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let want = want.map(|(t, i)| (t.to_string(), i.to_string()));
            assert_eq!(resource(&pairs, compat), want, "row {rule}");
        }
        // 18: a Lambda Invoke names a service, not a resource.
        let pairs = [("aws.lambda.function.name", "fn")];
        assert_eq!(aws_sdk_resource(lookup(&pairs), Some("Lambda"), Some("Invoke"), Python), None);
    }

    #[test]
    fn rule_7_2_db_connection() {
        use Compat::*;
        let base = DbConnection { server_address: Some("db.internal"), server_port: Some(5432), ..Default::default() };
        let cases = [
            (base, Java, Some("db.internal|5432")),
            (DbConnection { name: Some("pets"), ..base }, Java, Some("pets|db.internal|5432")),
            (DbConnection { name: Some("old"), namespace: Some("new"), ..base }, Java, Some("new|db.internal|5432")),
            (DbConnection { name: Some("old"), namespace: Some("new"), ..base }, Python, Some("old|db.internal|5432")),
            (DbConnection { name: Some("a|b"), server_port: None, ..base }, Java, Some("a^|b|db.internal")),
            (
                DbConnection { net_peer_name: Some("legacy"), net_peer_port: Some(3306), ..Default::default() },
                Python,
                Some("legacy|3306"),
            ),
            (DbConnection { peer_address: Some("10.0.0.9"), ..Default::default() }, Java, Some("10.0.0.9")),
            (
                DbConnection { connection_string: Some("postgresql://u@pg.example:6543/pets"), ..Default::default() },
                Java,
                Some("pg.example|6543"),
            ),
            (DbConnection { connection_string: Some("Server=db;Port=1433"), ..Default::default() }, Java, None),
            (DbConnection { name: Some("pets"), ..Default::default() }, Java, None),
        ];
        for (conn, compat, want) in cases {
            let got = db_connection(&conn, compat);
            assert_eq!(got.as_ref().map(|r| r.identifier.as_str()), want, "{conn:?}");
            if let Some(r) = got {
                assert_eq!(r.resource_type, "DB::Connection");
            }
        }
    }

    #[test]
    fn escaping_and_arn_parts() {
        assert_eq!(escape_delimiters("a^b|c"), "a^^b^|c");
        assert_eq!(arn_resource("arn:aws:dynamodb:us-east-1:1:table/T"), Some("table/T"));
        assert_eq!(arn_resource("not-an-arn"), None);
        assert_eq!(arn_last("arn:aws:sns:r:1:topic"), Some("topic"));
    }
}
