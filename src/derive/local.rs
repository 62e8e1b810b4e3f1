//! §3 local service and §5 local (ingress) operation of a span.

use super::{Compat, present, truncate_chars};

pub const UNKNOWN_SERVICE: &str = "UnknownService";
pub const UNKNOWN_OPERATION: &str = "UnknownOperation";
pub const INTERNAL_OPERATION: &str = "InternalOperation";

/// §3: the local service from the resource. `aws_local_service` is the resource attribute of
/// that name, which wins for every SDK because the agent overwrites with it (§3.4); then
/// `service.name`, unless it is missing or the SDK default `unknown_service…` (Java: exactly
/// `unknown_service:java`; Python and JS: any value starting with `unknown_service`).
/// Truncated to 255 characters (§3.5).
pub fn local_service<'a>(aws_local_service: Option<&'a str>, service_name: Option<&'a str>, compat: Compat) -> &'a str {
    let value = present(aws_local_service).or_else(|| {
        service_name.filter(|s| {
            let sdk_default = match compat {
                Compat::Java => *s == "unknown_service:java",
                Compat::Python | Compat::Js => s.starts_with("unknown_service"),
            };
            !s.is_empty() && !sdk_default
        })
    });
    truncate_chars(value.unwrap_or(UNKNOWN_SERVICE), 255)
}

/// What §5.1 reads of a span.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngressSpan<'a> {
    pub name: &'a str,
    pub is_server: bool,
    pub local_root: bool,
    /// `http.request.method` and `http.method`.
    pub method_new: Option<&'a str>,
    pub method_old: Option<&'a str>,
    /// `url.path`, `http.target`, `url.full`, `http.url`.
    pub url_path: Option<&'a str>,
    pub http_target: Option<&'a str>,
    pub url_full: Option<&'a str>,
    pub http_url: Option<&'a str>,
    /// The Lambda function name (`faas.name` of a resource on `aws_lambda`), if any.
    pub lambda_function: Option<&'a str>,
    /// `aws.lambda.local.operation.override` (Java only).
    pub lambda_override: Option<&'a str>,
    pub scope_name: Option<&'a str>,
}

/// §5.1: the ingress operation of a span (its `Operation` in Service records).
pub fn ingress_operation(s: &IngressSpan<'_>, compat: Compat) -> String {
    let op = ingress_operation_untruncated(s, compat);
    truncate_chars(&op, 1024).to_string() // §5.1.5
}

fn ingress_operation_untruncated(s: &IngressSpan<'_>, compat: Compat) -> String {
    // §5.1.1 Lambda.
    if let Some(function) = s.lambda_function {
        let handler = format!("{function}/FunctionHandler");
        match compat {
            Compat::Java => {
                if let Some(op) = s.lambda_override {
                    return op.to_string();
                }
                let generated = generated_http_operation(s, compat);
                return if generated == UNKNOWN_OPERATION { handler } else { generated };
            }
            Compat::Python if s.scope_name != Some("opentelemetry.instrumentation.flask") => return handler,
            Compat::Python => {}
            Compat::Js => return handler,
        }
    }
    // §5.1.2 local roots that are not SERVER spans.
    if s.local_root && !s.is_server {
        return INTERNAL_OPERATION.to_string();
    }
    // §5.1.3 the span name, unless invalid.
    let method = s.method_new.or(s.method_old);
    let invalid = s.name.is_empty() || s.name == UNKNOWN_OPERATION || Some(s.name) == method;
    if !invalid {
        return s.name.to_string();
    }
    // §5.1.4 generated from method and path.
    generated_http_operation(s, compat)
}

/// §5.1.4: `"<METHOD> /<first path segment>"`, or `UnknownOperation` with no path.
fn generated_http_operation(s: &IngressSpan<'_>, compat: Compat) -> String {
    let path = match compat {
        Compat::Java => s.url_path.or(s.http_target),
        Compat::Python | Compat::Js => {
            s.http_target.or_else(|| s.http_url.map(url_path)).or(s.url_path).or_else(|| s.url_full.map(url_path))
        }
    };
    let Some(path) = path else { return UNKNOWN_OPERATION.to_string() };
    let op = extract_api_path_value(path);
    let method = match compat {
        Compat::Java => s.method_new.or(s.method_old),
        Compat::Python | Compat::Js => s.method_old.or(s.method_new),
    };
    match method {
        Some(m) => format!("{m} {op}"),
        None => op,
    }
}

/// `"/" + path.split("/")[1]`; an empty path, or one without `/`, gives `"/"`. A query string
/// left in `http.target` stays (`/a?x=1` → `/a?x=1`), as in the SDKs.
pub fn extract_api_path_value(path: &str) -> String {
    match path.split('/').nth(1) {
        Some(segment) if !path.is_empty() => format!("/{segment}"),
        _ => "/".to_string(),
    }
}

/// The path component of a URL: after `scheme://host[:port]`, up to `?` or `#`.
pub fn url_path(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    let Some(start) = after_scheme.find('/') else { return "" };
    let path = &after_scheme[start..];
    let end = path.find(['?', '#']).unwrap_or(path.len());
    &path[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_3_local_service() {
        use Compat::*;
        let long = "s".repeat(300);
        // (aws.local.service, service.name, compat, expected)
        let cases: Vec<(Option<&str>, Option<&str>, Compat, &str)> = vec![
            (None, Some("pet-clinic"), Java, "pet-clinic"),                 // 3.2
            (Some("from-agent"), Some("pet-clinic"), Java, "from-agent"),   // 3.1 / 3.4
            (Some("from-agent"), Some("pet-clinic"), Python, "from-agent"), // 3.4 agent overwrite
            (None, None, Java, UNKNOWN_SERVICE),                            // 3.3 missing
            (None, Some("unknown_service:java"), Java, UNKNOWN_SERVICE),    // 3.3 Java default
            (None, Some("unknown_service:python3"), Java, "unknown_service:python3"), // 3.3 Java: exact only
            (None, Some("unknown_service:python3"), Python, UNKNOWN_SERVICE), // 3.3 Python: prefix
            (None, Some("unknown_service"), Js, UNKNOWN_SERVICE),           // 3.3 JS default
            (None, Some(""), Java, UNKNOWN_SERVICE),                        // 3.3 blank
        ];
        for (aws, name, compat, want) in cases {
            assert_eq!(local_service(aws, name, compat), want, "{aws:?} {name:?} {compat:?}");
        }
        assert_eq!(local_service(None, Some(&long), Java).len(), 255); // 3.5
    }

    fn server<'a>(name: &'a str) -> IngressSpan<'a> {
        IngressSpan { name, is_server: true, ..Default::default() }
    }

    #[test]
    fn rule_5_1_ingress_operation() {
        use Compat::*;
        let cases: Vec<(&str, IngressSpan<'_>, Compat, &str)> = vec![
            ("5.1.3 templated name", server("GET /owners/{id}"), Java, "GET /owners/{id}"),
            (
                "5.1.4 name equal to the method, url.path",
                IngressSpan { method_new: Some("GET"), url_path: Some("/owners/7"), ..server("GET") },
                Java,
                "GET /owners",
            ),
            (
                "5.1.4 old keys, http.target with query kept",
                IngressSpan { method_old: Some("POST"), http_target: Some("/a?x=1"), ..server("POST") },
                Java,
                "POST /a?x=1",
            ),
            (
                "5.1.3 UnknownOperation name is invalid, no path",
                IngressSpan { method_new: Some("GET"), ..server(UNKNOWN_OPERATION) },
                Java,
                UNKNOWN_OPERATION,
            ),
            ("5.1.4 empty name, path without method", IngressSpan { url_path: Some("/"), ..server("") }, Java, "/"),
            (
                "5.1.4 Java prefers url.path and http.request.method",
                IngressSpan {
                    method_new: Some("GET"),
                    method_old: Some("PUT"),
                    url_path: Some("/new/1"),
                    http_target: Some("/old/1"),
                    ..server("")
                },
                Java,
                "GET /new",
            ),
            (
                "5.1.4 Python prefers http.target and http.method",
                IngressSpan {
                    method_new: Some("GET"),
                    method_old: Some("PUT"),
                    url_path: Some("/new/1"),
                    http_target: Some("/old/1"),
                    ..server("")
                },
                Python,
                "PUT /old",
            ),
            (
                "5.1.4 Python falls back to the path of http.url",
                IngressSpan { method_old: Some("GET"), http_url: Some("http://h:8080/v1/items?x=1"), ..server("") },
                Python,
                "GET /v1",
            ),
            (
                "5.1.2 local root that is not SERVER",
                IngressSpan { name: "job", is_server: false, local_root: true, ..Default::default() },
                Java,
                INTERNAL_OPERATION,
            ),
            (
                "5.1.3 SERVER local root keeps its name",
                IngressSpan { local_root: true, ..server("GET /x") },
                Java,
                "GET /x",
            ),
            (
                "5.1.1 Lambda, Java: generated HTTP operation",
                IngressSpan {
                    lambda_function: Some("fn"),
                    method_new: Some("GET"),
                    url_path: Some("/p/1"),
                    ..server("GET")
                },
                Java,
                "GET /p",
            ),
            (
                "5.1.1 Lambda, Java: handler when nothing to generate",
                IngressSpan { lambda_function: Some("fn"), ..server("x") },
                Java,
                "fn/FunctionHandler",
            ),
            (
                "5.1.1 Lambda, Java: override attribute",
                IngressSpan { lambda_function: Some("fn"), lambda_override: Some("Custom"), ..server("x") },
                Java,
                "Custom",
            ),
            (
                "5.1.1 Lambda, JS",
                IngressSpan { lambda_function: Some("fn"), ..server("GET /a") },
                Js,
                "fn/FunctionHandler",
            ),
            (
                "5.1.1 Lambda, Python with Flask uses the normal rules",
                IngressSpan {
                    lambda_function: Some("fn"),
                    scope_name: Some("opentelemetry.instrumentation.flask"),
                    ..server("GET /a")
                },
                Python,
                "GET /a",
            ),
        ];
        for (rule, span, compat, want) in cases {
            assert_eq!(ingress_operation(&span, compat), want, "{rule}");
        }
        let long = "o".repeat(2000);
        assert_eq!(ingress_operation(&server(&long), Java).chars().count(), 1024, "5.1.5");
    }

    #[test]
    fn api_path_values_and_url_paths() {
        let cases = [("/owners/7", "/owners"), ("", "/"), ("owners", "/"), ("/", "/"), ("owners/7", "/7")];
        for (path, want) in cases {
            assert_eq!(extract_api_path_value(path), want, "{path:?}");
        }
        let urls = [
            ("http://h/v1/items?x=1", "/v1/items"),
            ("https://h:443", ""),
            ("http://h/a#f", "/a"),
            ("/rel/p", "/rel/p"),
        ];
        for (url, want) in urls {
            assert_eq!(url_path(url), want, "{url}");
        }
    }
}
