//! §6: remote service and remote operation of dependency records — the AWS SDK service
//! normalisation (§6.2) and the address/URL fallbacks (§6.4, §6.5) that the §6.1 precedence
//! falls back on.

use std::borrow::Cow;

use super::local::{extract_api_path_value, url_path};
use super::{Compat, present};

pub const UNKNOWN_REMOTE_SERVICE: &str = "UnknownRemoteService";
pub const UNKNOWN_REMOTE_OPERATION: &str = "UnknownRemoteOperation";

/// §6.2: the remote service of an AWS SDK span (`rpc.system == "aws-api"`). A Lambda `Invoke`
/// names the function (Java also accepts an ARN and takes its resource part); other services
/// map through the table, and unknown ones become `AWS::<rpc.service>`.
pub fn aws_sdk_remote_service<'a>(
    rpc_service: &str,
    rpc_method: Option<&str>,
    lambda_function: Option<&'a str>,
) -> Cow<'a, str> {
    if matches!(rpc_service, "Lambda" | "AWSLambda") && rpc_method == Some("Invoke") {
        return Cow::Borrowed(present(lambda_function).map_or(UNKNOWN_REMOTE_SERVICE, function_name));
    }
    let normalized = match rpc_service {
        "AmazonDynamoDBv2" | "DynamoDb" | "DynamoDB" => "AWS::DynamoDB",
        "AmazonKinesis" | "Kinesis" => "AWS::Kinesis",
        "Amazon S3" | "S3" => "AWS::S3",
        "AmazonSQS" | "Sqs" | "SQS" => "AWS::SQS",
        "AmazonBedrock"
        | "Bedrock"
        | "AWSBedrockAgent"
        | "BedrockAgent"
        | "AWSBedrockAgentRuntime"
        | "BedrockAgentRuntime"
        | "Bedrock Agent"
        | "Bedrock Agent Runtime" => "AWS::Bedrock",
        "AmazonBedrockRuntime" | "BedrockRuntime" | "Bedrock Runtime" => "AWS::BedrockRuntime",
        "Bedrock AgentCore" | "Bedrock AgentCore Control" | "BedrockAgentCore" => "AWS::BedrockAgentCore",
        "AWSStepFunctions" | "Sfn" | "SFN" => "AWS::StepFunctions",
        "AmazonSNS" | "Sns" | "SNS" => "AWS::SNS",
        "AWSSecretsManager" | "SecretsManager" | "Secrets Manager" => "AWS::SecretsManager",
        "AWSLambda" | "Lambda" => "AWS::Lambda",
        other => return Cow::Owned(format!("AWS::{other}")),
    };
    Cow::Borrowed(normalized)
}

/// A Lambda function name, or the name in a function ARN
/// (`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`).
pub(crate) fn function_name(value: &str) -> &str {
    if value.starts_with("arn:") {
        let parts: Vec<&str> = value.split(':').collect();
        if parts.len() >= 7 && parts[5] == "function" {
            return parts[6];
        }
    }
    value
}

/// The address attributes §6.4 reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct Address<'a> {
    pub server_address: Option<&'a str>,
    pub server_port: Option<i64>,
    pub net_peer_name: Option<&'a str>,
    pub net_peer_port: Option<i64>,
    pub network_peer_address: Option<&'a str>,
    pub network_peer_port: Option<i64>,
    pub net_sock_peer_addr: Option<&'a str>,
    pub net_sock_peer_port: Option<i64>,
    pub url_full: Option<&'a str>,
    pub http_url: Option<&'a str>,
}

fn with_port(host: &str, port: Option<i64>) -> Cow<'_, str> {
    match port {
        Some(p) => Cow::Owned(format!("{host}:{p}")),
        None => Cow::Borrowed(host),
    }
}

/// `host[:port]` of a URL, the port only when written explicitly.
fn url_host_port(url: &str) -> Option<&str> {
    let after_scheme = &url[url.find("://")? + 3..];
    let end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let authority = &after_scheme[..end];
    // Userinfo is not part of the host.
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    (!host_port.is_empty()).then_some(host_port)
}

/// The network location of a URL as Python's `urlparse(...).netloc` gives it: userinfo and the
/// port exactly as written.
fn url_netloc(url: &str) -> Option<&str> {
    let after_scheme = &url[url.find("://")? + 3..];
    let end = after_scheme.find(['/', '?', '#']).unwrap_or(after_scheme.len());
    let netloc = &after_scheme[..end];
    (!netloc.is_empty()).then_some(netloc)
}

/// §6.4: the remote service when no rule named one, from addresses and URLs.
pub fn fallback_remote_service<'a>(a: &Address<'a>, compat: Compat) -> Cow<'a, str> {
    let found = match compat {
        Compat::Java => present(a.server_address)
            .map(|h| with_port(h, a.server_port))
            .or_else(|| present(a.net_peer_name).map(|h| with_port(h, a.net_peer_port)))
            .or_else(|| present(a.network_peer_address).map(|h| with_port(h, a.network_peer_port)))
            .or_else(|| present(a.net_sock_peer_addr).map(|h| with_port(h, a.net_sock_peer_port)))
            .or_else(|| a.url_full.and_then(url_host_port).map(Cow::Borrowed))
            .or_else(|| a.http_url.and_then(url_host_port).map(Cow::Borrowed)),
        Compat::Python => present(a.net_peer_name)
            .map(|h| with_port(h, a.net_peer_port))
            .or_else(|| present(a.net_sock_peer_addr).map(|h| with_port(h, a.net_sock_peer_port)))
            .or_else(|| a.http_url.and_then(url_netloc).map(Cow::Borrowed)),
        Compat::Js => present(a.net_peer_name)
            .map(|h| with_port(h, a.net_peer_port))
            .or_else(|| present(a.net_sock_peer_addr).map(|h| with_port(h, a.net_sock_peer_port)))
            .or_else(|| a.http_url.and_then(url_host_port).map(Cow::Borrowed))
            .or_else(|| present(a.server_address).map(|h| with_port(h, a.server_port)))
            .or_else(|| a.url_full.and_then(url_host_port).map(Cow::Borrowed)),
    };
    found.unwrap_or(Cow::Borrowed(UNKNOWN_REMOTE_SERVICE))
}

/// What §6.5 reads: URLs and methods, new and old keys.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpCall<'a> {
    pub url_full: Option<&'a str>,
    pub http_url: Option<&'a str>,
    pub method_new: Option<&'a str>,
    pub method_old: Option<&'a str>,
}

/// §6.5: the remote operation when no rule named one: `"<METHOD> /<first path segment>"` of the
/// URL; with a method but no URL, `"<METHOD> UnknownRemoteOperation"`.
pub fn fallback_remote_operation(c: &HttpCall<'_>, compat: Compat) -> Cow<'static, str> {
    let url = match compat {
        Compat::Java => c.url_full.or(c.http_url),
        Compat::Python => c.http_url,
        Compat::Js => c.http_url.or(c.url_full),
    };
    let op = url.map(|u| extract_api_path_value(url_path(u)));
    let method = match compat {
        Compat::Java => c.method_new.or(c.method_old),
        Compat::Python => c.method_old,
        Compat::Js => c.method_old.or(c.method_new),
    };
    match (method, op) {
        (Some(m), op) => Cow::Owned(format!("{m} {}", op.as_deref().unwrap_or(UNKNOWN_REMOTE_OPERATION))),
        (None, Some(op)) => Cow::Owned(op),
        (None, None) => Cow::Borrowed(UNKNOWN_REMOTE_OPERATION),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_6_2_aws_sdk_service_table() {
        let cases = [
            ("AmazonDynamoDBv2", None, None, "AWS::DynamoDB"),
            ("DynamoDB", None, None, "AWS::DynamoDB"),
            ("Kinesis", None, None, "AWS::Kinesis"),
            ("Amazon S3", None, None, "AWS::S3"),
            ("Sqs", None, None, "AWS::SQS"),
            ("Bedrock Agent Runtime", None, None, "AWS::Bedrock"),
            ("BedrockRuntime", None, None, "AWS::BedrockRuntime"),
            ("Bedrock AgentCore Control", None, None, "AWS::BedrockAgentCore"),
            ("SFN", None, None, "AWS::StepFunctions"),
            ("AmazonSNS", None, None, "AWS::SNS"),
            ("Secrets Manager", None, None, "AWS::SecretsManager"),
            ("Lambda", Some("ListFunctions"), None, "AWS::Lambda"),
            ("EC2", None, None, "AWS::EC2"),
            ("Lambda", Some("Invoke"), Some("checkout-fn"), "checkout-fn"),
            ("AWSLambda", Some("Invoke"), Some("arn:aws:lambda:us-east-1:123456789012:function:pay:live"), "pay"),
            ("Lambda", Some("Invoke"), None, UNKNOWN_REMOTE_SERVICE),
        ];
        for (service, method, function, want) in cases {
            assert_eq!(aws_sdk_remote_service(service, method, function), want, "{service} {method:?}");
        }
    }

    #[test]
    fn rule_6_4_remote_service_fallbacks() {
        use Compat::*;
        let all = Address {
            server_address: Some("api.new"),
            server_port: Some(443),
            net_peer_name: Some("api.old"),
            net_peer_port: Some(80),
            url_full: Some("https://full.example:8443/x"),
            http_url: Some("http://user@legacy.example:8080/y"),
            ..Default::default()
        };
        let sock =
            Address { net_sock_peer_addr: Some("10.0.0.7"), net_sock_peer_port: Some(5432), ..Default::default() };
        let urls = Address {
            url_full: Some("https://full.example/x"),
            http_url: Some("http://user@legacy.example:8080/y"),
            ..Default::default()
        };
        let cases = [
            (all, Java, "api.new:443"),
            (all, Python, "api.old:80"),
            (all, Js, "api.old:80"),
            (Address { server_port: None, ..all }, Java, "api.new"),
            (sock, Java, "10.0.0.7:5432"),
            (sock, Python, "10.0.0.7:5432"),
            (Address { network_peer_address: Some("10.1.1.1"), ..Default::default() }, Java, "10.1.1.1"),
            (Address { network_peer_address: Some("10.1.1.1"), ..Default::default() }, Python, UNKNOWN_REMOTE_SERVICE),
            (urls, Java, "full.example"),
            (urls, Python, "user@legacy.example:8080"),
            (urls, Js, "legacy.example:8080"),
            (Address { server_address: Some("s"), server_port: Some(1), ..Default::default() }, Js, "s:1"),
            (Address { server_address: Some("s"), ..Default::default() }, Python, UNKNOWN_REMOTE_SERVICE),
            (Address::default(), Java, UNKNOWN_REMOTE_SERVICE),
        ];
        for (address, compat, want) in cases {
            assert_eq!(fallback_remote_service(&address, compat), want, "{compat:?} {address:?}");
        }
    }

    #[test]
    fn rule_6_5_remote_operation_fallbacks() {
        use Compat::*;
        let both = HttpCall {
            url_full: Some("http://h/v2/pets?x=1"),
            http_url: Some("http://h/v1/items?x=1"),
            method_new: Some("POST"),
            method_old: Some("PUT"),
        };
        let cases = [
            (both, Java, "POST /v2"),
            (both, Python, "PUT /v1"),
            (both, Js, "PUT /v1"),
            (HttpCall { method_old: None, ..both }, Python, "/v1"),
            (HttpCall { url_full: None, http_url: None, ..both }, Java, "POST UnknownRemoteOperation"),
            (HttpCall::default(), Java, UNKNOWN_REMOTE_OPERATION),
            (HttpCall { url_full: Some("http://h"), ..Default::default() }, Java, "/"),
        ];
        for (call, compat, want) in cases {
            assert_eq!(fallback_remote_operation(&call, compat), want, "{compat:?} {call:?}");
        }
    }
}
