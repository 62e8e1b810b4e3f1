//! The pet-clinic workload: the services, calls, latencies and failure mixes of the Application
//! Signals pet-clinic demo, built into OTLP traces deterministically from a seed.
//!
//! * `frontend-api` (Java, new HTTP conventions) fronts everything and invokes the
//!   `pet-clinic-audit` Lambda function;
//! * `customers-service`, `vets-service`, `visits-service` (Java) with MySQL (new DB
//!   conventions); `customers-service` sends to SQS and `visits-service` consumes from it;
//! * `insurance-service` and `billing-service` (Python Django, old conventions) with psycopg2
//!   PostgreSQL, boto3 DynamoDB `PutItem`/`GetItem` and `requests` to an external API;
//! * `nutrition-service` (Node.js) with MongoDB, `payment-service` (.NET) with DynamoDB;
//! * all on EKS (cluster `pet-clinic`, namespace `pet-clinic`), the Lambda on `aws_lambda`.
//!
//! Latencies are log-normal with long tails; 4xx and 5xx mixes and ERROR statuses without an
//! HTTP code come from per-call rates; two scripted incidents make SLOs breach (see
//! [`Incidents`]).

use std::borrow::Cow;

use crate::model::otlp::{AnyValue, KeyValue, Resource, ResourceSpans, Scope, ScopeSpans, Span, Status, TracesData};
use crate::util::SplitMix;

/// Span kinds (OTLP enum values).
const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;

const MS: f64 = 1_000_000.0;

/// A service of the demo: its resource and instrumentation scope.
struct Service {
    name: &'static str,
    language: &'static str,
    scope: &'static str,
    lambda: bool,
}

const SERVICES: [Service; 9] = [
    Service { name: "frontend-api", language: "java", scope: "io.opentelemetry.spring-webmvc-6.0", lambda: false },
    Service { name: "customers-service", language: "java", scope: "io.opentelemetry.spring-webmvc-6.0", lambda: false },
    Service { name: "vets-service", language: "java", scope: "io.opentelemetry.spring-webmvc-6.0", lambda: false },
    Service { name: "visits-service", language: "java", scope: "io.opentelemetry.spring-webmvc-6.0", lambda: false },
    Service {
        name: "insurance-service",
        language: "python",
        scope: "opentelemetry.instrumentation.django",
        lambda: false,
    },
    Service {
        name: "billing-service",
        language: "python",
        scope: "opentelemetry.instrumentation.django",
        lambda: false,
    },
    Service {
        name: "nutrition-service",
        language: "nodejs",
        scope: "@opentelemetry/instrumentation-http",
        lambda: false,
    },
    Service {
        name: "payment-service",
        language: "dotnet",
        scope: "OpenTelemetry.Instrumentation.AspNetCore",
        lambda: false,
    },
    Service {
        name: "pet-clinic-audit",
        language: "python",
        scope: "opentelemetry.instrumentation.aws_lambda",
        lambda: true,
    },
];

const FRONTEND: usize = 0;
const CUSTOMERS: usize = 1;
const VETS: usize = 2;
const VISITS: usize = 3;
const INSURANCE: usize = 4;
const BILLING: usize = 5;
const NUTRITION: usize = 6;
const PAYMENT: usize = 7;
const AUDIT: usize = 8;

/// Scripted incidents, as fractions of the generated time range.
#[derive(Debug, Clone, Copy)]
pub struct Incidents {
    /// `billing-service`'s PostgreSQL calls are 8× slower in this range (a latency regression).
    pub latency_regression: (f64, f64),
    /// `payment-service` answers 503 to 40% of requests in this range (a fault burst).
    pub fault_burst: (f64, f64),
}

impl Default for Incidents {
    fn default() -> Self {
        Incidents { latency_regression: (0.40, 0.45), fault_burst: (0.70, 0.72) }
    }
}

/// Where in the generated range a trace starts, for the incidents.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    pub start_ns: u64,
    /// Position in the whole range, 0..1.
    pub phase: f64,
}

fn kv(key: &'static str, value: AnyValue<'static>) -> KeyValue<'static> {
    KeyValue { key: Cow::Borrowed(key), value }
}

fn text(v: impl Into<Cow<'static, str>>) -> AnyValue<'static> {
    AnyValue::String(v.into())
}

/// The resource attributes of service `i`, instance `pod`.
fn resource(i: usize, pod: u64) -> Resource<'static> {
    let s = &SERVICES[i];
    let mut attributes = vec![
        kv("service.name", text(s.name)),
        kv("telemetry.sdk.language", text(s.language)),
        kv("telemetry.sdk.name", text("opentelemetry")),
        kv("cloud.provider", text("aws")),
        kv("cloud.region", text("us-east-1")),
        kv("cloud.account.id", text("123456789012")),
    ];
    if s.lambda {
        attributes.extend([
            kv("cloud.platform", text("aws_lambda")),
            kv("faas.name", text(s.name)),
            kv("faas.version", text("$LATEST")),
        ]);
    } else {
        let pod_name = format!("{}-7d9f8b{pod:x}", s.name);
        attributes.extend([
            kv("cloud.platform", text("aws_eks")),
            kv("k8s.cluster.name", text("pet-clinic")),
            kv("k8s.namespace.name", text("pet-clinic")),
            kv("k8s.deployment.name", text(s.name)),
            kv("k8s.pod.name", text(pod_name.clone())),
            kv("service.instance.id", text(pod_name)),
            kv("host.id", text(format!("i-0{:015x}", pod * 7919 + i as u64))),
        ]);
    }
    Resource { attributes, dropped_attributes_count: 0 }
}

/// A log-normal duration in ns with the given median (ms) and shape.
fn lognormal(rng: &mut SplitMix, median_ms: f64, sigma: f64) -> u64 {
    // Box–Muller from two uniforms in (0, 1].
    let u1 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    ((median_ms * (sigma * z).exp()) * MS).max(1000.0) as u64
}

fn chance(rng: &mut SplitMix, p: f64) -> bool {
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
}

/// Builds one trace: spans per service, with ids and times.
struct TraceBuilder<'r> {
    rng: &'r mut SplitMix,
    trace_id: [u8; 16],
    spans: Vec<(usize, Span<'static>)>,
    moment: Moment,
    incidents: Incidents,
}

/// The outcome of a server call, passed up to the caller.
#[derive(Clone, Copy)]
struct Reply {
    status: i64,
    end: u64,
}

impl TraceBuilder<'_> {
    fn id(&mut self) -> [u8; 8] {
        (self.rng.next_u64() | 1).to_be_bytes()
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        service: usize,
        id: [u8; 8],
        parent: Option<[u8; 8]>,
        kind: i32,
        name: impl Into<Cow<'static, str>>,
        start: u64,
        end: u64,
        attributes: Vec<KeyValue<'static>>,
        error: bool,
    ) {
        // 0x100: the producer says whether the parent is remote; 0x200: it is.
        let remote_parent = parent.is_some() && matches!(kind, SERVER | CONSUMER);
        let flags = 0x101 | if remote_parent { 0x200 } else { 0 };
        let span = Span {
            trace_id: Some(self.trace_id),
            span_id: Some(id),
            parent_span_id: parent,
            flags,
            name: name.into(),
            kind,
            start_time_unix_nano: start,
            end_time_unix_nano: end.max(start),
            attributes,
            status: Status { message: Cow::Borrowed(""), code: if error { 2 } else { 0 } },
            ..Default::default()
        };
        self.spans.push((service, span));
    }

    fn in_incident(&self, range: (f64, f64)) -> bool {
        self.moment.phase >= range.0 && self.moment.phase < range.1
    }

    /// An HTTP status for a server: mostly 200, some 4xx, few 5xx.
    fn http_status(&mut self, p4xx: f64, p5xx: f64) -> i64 {
        if chance(self.rng, p5xx) {
            if chance(self.rng, 0.5) { 500 } else { 503 }
        } else if chance(self.rng, p4xx) {
            if chance(self.rng, 0.7) { 404 } else { 400 }
        } else {
            200
        }
    }

    /// A Java SERVER span (new HTTP conventions) whose body is `body`; returns its reply.
    #[allow(clippy::too_many_arguments)]
    fn java_server(
        &mut self,
        service: usize,
        parent: Option<[u8; 8]>,
        method: &'static str,
        route: &'static str,
        path: String,
        start: u64,
        body: impl FnOnce(&mut Self, [u8; 8], u64) -> (u64, bool),
    ) -> Reply {
        let id = self.id();
        let (body_end, failed) = body(self, id, start + 200_000);
        let mut status = self.http_status(0.02, 0.002);
        if failed {
            status = 500;
        }
        let end = body_end + lognormal(self.rng, 0.4, 0.5);
        let attributes = vec![
            kv("http.request.method", text(method)),
            kv("http.route", text(route)),
            kv("url.path", text(path)),
            kv("url.scheme", text("http")),
            kv("http.response.status_code", AnyValue::Int(status)),
            kv("server.address", text(SERVICES[service].name)),
            kv("server.port", AnyValue::Int(8080)),
            kv("user_agent.original", text("Apache-HttpClient/5.2")),
        ];
        self.push(service, id, parent, SERVER, format!("{method} {route}"), start, end, attributes, status >= 500);
        Reply { status, end }
    }

    /// A Java HTTP CLIENT span to `target` (new conventions); the callee is `call`.
    #[allow(clippy::too_many_arguments)]
    fn java_client(
        &mut self,
        service: usize,
        parent: [u8; 8],
        method: &'static str,
        target: usize,
        path: String,
        start: u64,
        call: impl FnOnce(&mut Self, [u8; 8], u64) -> Reply,
    ) -> Reply {
        let id = self.id();
        let reply = call(self, id, start + 300_000);
        let end = reply.end + 300_000;
        let host = SERVICES[target].name;
        let attributes = vec![
            kv("http.request.method", text(method)),
            kv("url.full", text(format!("http://{host}:8080{path}"))),
            kv("server.address", text(host)),
            kv("server.port", AnyValue::Int(8080)),
            kv("http.response.status_code", AnyValue::Int(reply.status)),
            kv("network.protocol.version", text("1.1")),
        ];
        self.push(service, id, Some(parent), CLIENT, method, start, end, attributes, reply.status >= 500);
        Reply { status: reply.status, end }
    }

    /// A Python Django SERVER span (old HTTP conventions).
    #[allow(clippy::too_many_arguments)]
    fn django_server(
        &mut self,
        service: usize,
        parent: [u8; 8],
        method: &'static str,
        route: &'static str,
        target: String,
        start: u64,
        body: impl FnOnce(&mut Self, [u8; 8], u64) -> (u64, bool),
    ) -> Reply {
        let id = self.id();
        let (body_end, failed) = body(self, id, start + 400_000);
        let mut status = self.http_status(0.03, 0.003);
        if failed {
            status = 500;
        }
        let end = body_end + lognormal(self.rng, 1.5, 0.6);
        let host = SERVICES[service].name;
        let attributes = vec![
            kv("http.method", text(method)),
            kv("http.route", text(route)),
            kv("http.target", text(target.clone())),
            kv("http.url", text(format!("http://{host}:8000{target}"))),
            kv("http.scheme", text("http")),
            kv("http.status_code", AnyValue::Int(status)),
            kv("net.host.name", text(host)),
            kv("net.host.port", AnyValue::Int(8000)),
        ];
        self.push(
            service,
            id,
            Some(parent),
            SERVER,
            format!("{method} {route}"),
            start,
            end,
            attributes,
            status >= 500,
        );
        Reply { status, end }
    }

    /// A JDBC MySQL call (new DB conventions).
    fn mysql(
        &mut self,
        service: usize,
        parent: [u8; 8],
        start: u64,
        operation: &'static str,
        table: &'static str,
    ) -> u64 {
        let id = self.id();
        let end = start + lognormal(self.rng, 1.2, 0.7);
        let statement = match operation {
            "SELECT" => format!("SELECT * FROM {table} WHERE id = ?"),
            "INSERT" => format!("INSERT INTO {table} (owner_id, pet_id, visit_date) VALUES (?, ?, ?)"),
            _ => format!("UPDATE {table} SET updated = ? WHERE id = ?"),
        };
        let failed = chance(self.rng, 0.001);
        let attributes = vec![
            kv("db.system.name", text("mysql")),
            kv("db.namespace", text("petclinic")),
            kv("db.operation.name", text(operation)),
            kv("db.collection.name", text(table)),
            kv("db.query.text", text(statement)),
            kv("server.address", text("petclinic-db.cluster-abc.us-east-1.rds.amazonaws.com")),
            kv("server.port", AnyValue::Int(3306)),
        ];
        self.push(
            service,
            id,
            Some(parent),
            CLIENT,
            format!("{operation} petclinic.{table}"),
            start,
            end,
            attributes,
            failed,
        );
        end
    }

    /// A psycopg2 PostgreSQL call (old DB conventions, no operation attribute: the statement's
    /// keyword names it).
    fn postgres(&mut self, service: usize, parent: [u8; 8], start: u64, statement: &'static str) -> (u64, bool) {
        let id = self.id();
        let slow = if service == BILLING && self.in_incident(self.incidents.latency_regression) { 8.0 } else { 1.0 };
        let end = start + (lognormal(self.rng, 2.0, 0.8) as f64 * slow) as u64;
        // A connection timeout: ERROR status without any HTTP code.
        let failed = chance(self.rng, 0.002);
        let attributes = vec![
            kv("db.system", text("postgresql")),
            kv("db.name", text("petclinic")),
            kv("db.user", text("django")),
            kv("db.statement", text(statement)),
            kv("net.peer.name", text("petclinic-pg.cluster-abc.us-east-1.rds.amazonaws.com")),
            kv("net.peer.port", AnyValue::Int(5432)),
        ];
        self.push(service, id, Some(parent), CLIENT, "SELECT", start, end, attributes, failed);
        (end, failed)
    }

    /// An AWS SDK DynamoDB call (`boto3` spelling for Python, SDK v3 for .NET).
    fn dynamodb(
        &mut self,
        service: usize,
        parent: [u8; 8],
        start: u64,
        method: &'static str,
        table: &'static str,
    ) -> u64 {
        let id = self.id();
        let end = start + lognormal(self.rng, 6.0, 0.5);
        let throttled = chance(self.rng, 0.003);
        let status = if throttled { 400 } else { 200 };
        let attributes = vec![
            kv("rpc.system", text("aws-api")),
            kv("rpc.service", text("DynamoDB")),
            kv("rpc.method", text(method)),
            kv("aws.region", text("us-east-1")),
            kv("aws.dynamodb.table_names", AnyValue::Array(vec![text(table)])),
            kv("http.status_code", AnyValue::Int(status)),
            kv("server.address", text("dynamodb.us-east-1.amazonaws.com")),
        ];
        self.push(service, id, Some(parent), CLIENT, format!("DynamoDB.{method}"), start, end, attributes, throttled);
        end
    }

    /// A `requests` call to the external exchange-rate API (old HTTP conventions).
    fn external_api(&mut self, service: usize, parent: [u8; 8], start: u64) -> u64 {
        let id = self.id();
        let end = start + lognormal(self.rng, 45.0, 0.9);
        let status = if chance(self.rng, 0.01) { 502 } else { 200 };
        let attributes = vec![
            kv("http.method", text("GET")),
            kv("http.url", text("https://api.exchangerate.example.com/v1/latest?base=USD")),
            kv("http.status_code", AnyValue::Int(status)),
            kv("net.peer.name", text("api.exchangerate.example.com")),
            kv("net.peer.port", AnyValue::Int(443)),
        ];
        self.push(service, id, Some(parent), CLIENT, "GET", start, end, attributes, status >= 500);
        end
    }

    /// SQS `SendMessage` from customers-service, and the visits-service consumer that
    /// processes it (same trace, remote parent).
    fn sqs(&mut self, parent: [u8; 8], start: u64) -> u64 {
        let queue = "https://sqs.us-east-1.amazonaws.com/123456789012/petclinic-visits";
        let id = self.id();
        let end = start + lognormal(self.rng, 8.0, 0.4);
        let attributes = vec![
            kv("rpc.system", text("aws-api")),
            kv("rpc.service", text("Sqs")),
            kv("rpc.method", text("SendMessage")),
            kv("aws.queue.url", text(queue)),
            kv("messaging.system", text("AmazonSQS")),
            kv("messaging.destination.name", text("petclinic-visits")),
            kv("http.response.status_code", AnyValue::Int(200)),
        ];
        self.push(CUSTOMERS, id, Some(parent), PRODUCER, "Sqs.SendMessage", start, end, attributes, false);
        let consume_start = end + lognormal(self.rng, 20.0, 0.8);
        let consumer = self.id();
        let db_end = self.mysql(VISITS, consumer, consume_start + 100_000, "INSERT", "visits");
        let failed = chance(self.rng, 0.002);
        let attributes = vec![
            kv("messaging.system", text("AmazonSQS")),
            kv("messaging.operation", text("process")),
            kv("messaging.destination.name", text("petclinic-visits")),
        ];
        let consume_end = db_end + 200_000;
        self.push(
            VISITS,
            consumer,
            Some(id),
            CONSUMER,
            "petclinic-visits process",
            consume_start,
            consume_end,
            attributes,
            failed,
        );
        end
    }

    /// The frontend invokes the audit Lambda function (AWS SDK `Invoke`).
    fn lambda(&mut self, parent: [u8; 8], start: u64) -> u64 {
        let id = self.id();
        let fn_id = self.id();
        let fn_start = start + lognormal(self.rng, 3.0, 0.5);
        let fn_end = fn_start + lognormal(self.rng, 25.0, 0.7);
        let end = fn_end + 500_000;
        let attributes = vec![
            kv("rpc.system", text("aws-api")),
            kv("rpc.service", text("Lambda")),
            kv("rpc.method", text("Invoke")),
            kv("aws.lambda.function.name", text("pet-clinic-audit")),
            kv("http.response.status_code", AnyValue::Int(200)),
        ];
        self.push(FRONTEND, id, Some(parent), CLIENT, "Lambda.Invoke", start, end, attributes, false);
        let fn_attrs = vec![
            kv("faas.trigger", text("other")),
            kv("faas.invocation_id", text(format!("{:016x}", self.rng.next_u64()))),
        ];
        self.push(AUDIT, fn_id, Some(id), SERVER, "pet-clinic-audit", fn_start, fn_end, fn_attrs, false);
        end
    }
}

/// The frontend's routes: weight, and what each does downstream.
const ROUTES: [(u64, &str); 8] = [
    (30, "GET /api/customer/owners"),
    (20, "GET /api/vet/vets"),
    (12, "GET /api/customer/owners/{ownerId}"),
    (10, "POST /api/visit/owners/{ownerId}/pets/{petId}/visits"),
    (10, "GET /api/insurance/insurances"),
    (8, "POST /api/billing/billings"),
    (6, "GET /api/nutrition/facts/{petType}"),
    (4, "POST /api/payments/owners/{ownerId}/pets/{petId}"),
];

/// Build one trace starting at `moment`.
fn trace(rng: &mut SplitMix, moment: Moment, incidents: Incidents) -> Vec<(usize, Span<'static>)> {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
    trace_id[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    let total: u64 = ROUTES.iter().map(|r| r.0).sum();
    let mut pick = rng.below(total);
    let route = ROUTES.iter().position(|r| {
        let hit = pick < r.0;
        pick = pick.saturating_sub(r.0);
        hit
    });
    let route = route.unwrap_or(0);
    let owner = rng.below(500) + 1;
    let pet = rng.below(3) + 1;
    let mut t = TraceBuilder { rng, trace_id, spans: Vec::new(), moment, incidents };
    let start = moment.start_ns;
    let (method, template) = ROUTES[route].1.split_once(' ').unwrap_or(("GET", "/"));
    let path = template
        .replace("{ownerId}", &owner.to_string())
        .replace("{petId}", &pet.to_string())
        .replace("{petType}", "cat");
    t.java_server(FRONTEND, None, method, template, path, start, |t, root, at| {
        let reply = match route {
            0 | 2 => {
                t.java_client(FRONTEND, root, "GET", CUSTOMERS, format!("/owners/{owner}"), at, |t, parent, at| {
                    t.java_server(
                        CUSTOMERS,
                        Some(parent),
                        "GET",
                        "/owners/{ownerId}",
                        format!("/owners/{owner}"),
                        at,
                        |t, id, at| {
                            let end = t.mysql(CUSTOMERS, id, at, "SELECT", "owners");
                            (t.mysql(CUSTOMERS, id, end, "SELECT", "pets"), false)
                        },
                    )
                })
            }
            1 => t.java_client(FRONTEND, root, "GET", VETS, "/vets".into(), at, |t, parent, at| {
                t.java_server(VETS, Some(parent), "GET", "/vets", "/vets".into(), at, |t, id, at| {
                    (t.mysql(VETS, id, at, "SELECT", "vets"), false)
                })
            }),
            3 => {
                let path = format!("/owners/{owner}/pets/{pet}/visits");
                t.java_client(FRONTEND, root, "POST", CUSTOMERS, path.clone(), at, |t, parent, at| {
                    t.java_server(
                        CUSTOMERS,
                        Some(parent),
                        "POST",
                        "/owners/{ownerId}/pets/{petId}/visits",
                        path,
                        at,
                        |t, id, at| {
                            let end = t.mysql(CUSTOMERS, id, at, "SELECT", "pets");
                            (t.sqs(id, end), false)
                        },
                    )
                })
            }
            4 => t.java_client(FRONTEND, root, "GET", INSURANCE, "/insurances/".into(), at, |t, parent, at| {
                t.django_server(INSURANCE, parent, "GET", "insurances/", "/insurances/".into(), at, |t, id, at| {
                    t.postgres(INSURANCE, id, at, "SELECT id, name, price FROM insurance_insurance")
                })
            }),
            5 => t.java_client(FRONTEND, root, "POST", BILLING, "/billings/".into(), at, |t, parent, at| {
                t.django_server(BILLING, parent, "POST", "billings/", "/billings/".into(), at, |t, id, at| {
                    let (end, failed) = t.postgres(
                        BILLING,
                        id,
                        at,
                        "SELECT id, owner_id, amount FROM billing_billing WHERE owner_id = %s",
                    );
                    let end = t.external_api(BILLING, id, end);
                    let end = t.dynamodb(BILLING, id, end, "GetItem", "BillingInfo");
                    (t.dynamodb(BILLING, id, end, "PutItem", "BillingInfo"), failed)
                })
            }),
            6 => t.java_client(FRONTEND, root, "GET", NUTRITION, "/nutrition/cat".into(), at, |t, parent, at| {
                node_server(t, parent, at)
            }),
            _ => t.java_client(
                FRONTEND,
                root,
                "POST",
                PAYMENT,
                format!("/api/payments/{owner}/{pet}"),
                at,
                |t, parent, at| dotnet_server(t, parent, at, owner, pet),
            ),
        };
        let mut end = reply.end;
        if route == 3 {
            end = t.lambda(root, end);
        }
        (end, reply.status >= 500)
    });
    t.spans
}

/// The Node.js nutrition service: old HTTP conventions, MongoDB.
fn node_server(t: &mut TraceBuilder<'_>, parent: [u8; 8], start: u64) -> Reply {
    let id = t.id();
    let db = t.id();
    let db_start = start + 200_000;
    let db_end = db_start + lognormal(t.rng, 3.0, 0.6);
    let db_attrs = vec![
        kv("db.system", text("mongodb")),
        kv("db.name", text("nutrition")),
        kv("db.operation", text("find")),
        kv("db.mongodb.collection", text("facts")),
        kv("net.peer.name", text("nutrition-db")),
        kv("net.peer.port", AnyValue::Int(27017)),
    ];
    t.push(NUTRITION, db, Some(id), CLIENT, "mongodb.find", db_start, db_end, db_attrs, false);
    let status = t.http_status(0.05, 0.002);
    let end = db_end + lognormal(t.rng, 0.8, 0.5);
    let attrs = vec![
        kv("http.method", text("GET")),
        kv("http.target", text("/nutrition/cat")),
        kv("http.route", text("/nutrition/:pet_type")),
        kv("http.status_code", AnyValue::Int(status)),
        kv("net.host.name", text("nutrition-service")),
    ];
    t.push(NUTRITION, id, Some(parent), SERVER, "GET /nutrition/:pet_type", start, end, attrs, status >= 500);
    Reply { status, end }
}

/// The .NET payment service: new HTTP conventions, DynamoDB; the scripted fault burst.
fn dotnet_server(t: &mut TraceBuilder<'_>, parent: [u8; 8], start: u64, owner: u64, pet: u64) -> Reply {
    let id = t.id();
    let end = t.dynamodb(PAYMENT, id, start + 300_000, "PutItem", "PetClinicPayment");
    let burst = t.in_incident(t.incidents.fault_burst) && chance(t.rng, 0.4);
    let status = if burst { 503 } else { t.http_status(0.02, 0.002) };
    let end = end + lognormal(t.rng, 1.0, 0.5);
    let attrs = vec![
        kv("http.request.method", text("POST")),
        kv("http.route", text("api/payments/{ownerId}/{petId}")),
        kv("url.path", text(format!("/api/payments/{owner}/{pet}"))),
        kv("http.response.status_code", AnyValue::Int(status)),
        kv("server.address", text("payment-service")),
    ];
    t.push(PAYMENT, id, Some(parent), SERVER, "POST api/payments/{ownerId}/{petId}", start, end, attrs, status >= 500);
    Reply { status, end }
}

/// Build one OTLP document from traces starting at `moments`, grouped by service resource (one
/// pod per service per document, chosen from three).
pub fn document(seed: u64, moments: &[Moment], incidents: Incidents) -> TracesData<'static> {
    let mut rng = SplitMix::new(seed);
    let mut per_service: Vec<Vec<Span<'static>>> = vec![Vec::new(); SERVICES.len()];
    for &m in moments {
        for (service, span) in trace(&mut rng, m, incidents) {
            per_service[service].push(span);
        }
    }
    let resource_spans = per_service
        .into_iter()
        .enumerate()
        .filter(|(_, spans)| !spans.is_empty())
        .map(|(i, spans)| ResourceSpans {
            resource: resource(i, (seed + i as u64) % 3),
            scope_spans: vec![ScopeSpans {
                scope: Scope {
                    name: Cow::Borrowed(SERVICES[i].scope),
                    version: Cow::Borrowed("2.10.0"),
                    attributes: vec![],
                },
                spans,
            }],
            resource_text: None,
        })
        .collect();
    TracesData { resource_spans }
}

/// Keep the traces of `doc` that `sampling` keeps, writing its threshold on their spans'
/// tracestate; returns how many traces were left out.
pub fn sample(doc: &mut TracesData<'static>, sampling: &super::Sampling) -> u64 {
    let state: Cow<'static, str> = Cow::Owned(format!("ot=th:{}", sampling.th()));
    let mut dropped = std::collections::BTreeSet::new();
    for scope in doc.resource_spans.iter_mut().flat_map(|r| r.scope_spans.iter_mut()) {
        scope.spans.retain_mut(|span| {
            let Some(id) = span.trace_id else { return true };
            if !sampling.keeps(&id) {
                dropped.insert(id);
                return false;
            }
            span.trace_state = state.clone();
            true
        });
    }
    doc.resource_spans.retain(|r| r.scope_spans.iter().any(|s| !s.spans.is_empty()));
    dropped.len() as u64
}

/// Spans in a document.
pub fn spans_in(doc: &TracesData<'_>) -> u64 {
    doc.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len() as u64).sum()
}

/// Diurnal traffic shape: relative request rate at a UTC time (peak mid-afternoon, trough at
/// night), between 0.25 and 1.
pub fn diurnal(ns: u64) -> f64 {
    let hour = (ns / 1_000_000_000 % 86_400) as f64 / 3600.0;
    0.625 + 0.375 * ((hour - 9.0) / 24.0 * 2.0 * std::f64::consts::PI).sin()
}

/// `n` trace start times in `[from, to)`, sorted, drawn with the diurnal density.
pub fn start_times(seed: u64, n: u64, from: u64, to: u64) -> Vec<u64> {
    let mut rng = SplitMix::new(seed ^ 0x5eed_0f71_e5e5);
    let span = to.saturating_sub(from).max(1);
    let mut out = Vec::with_capacity(n as usize);
    while (out.len() as u64) < n {
        let t = from + rng.below(span);
        if chance(&mut rng, diurnal(t)) {
            out.push(t);
        }
    }
    out.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(n: u64) -> Vec<Moment> {
        (0..n).map(|i| Moment { start_ns: 1_793_527_200_000_000_000 + i * 1_000_000, phase: 0.1 }).collect()
    }

    #[test]
    fn documents_are_deterministic_and_cover_every_service() {
        let a = document(7, &moments(400), Incidents::default());
        let b = document(7, &moments(400), Incidents::default());
        assert_eq!(crate::model::encode::encode_json(&a), crate::model::encode::encode_json(&b));
        assert_eq!(a.resource_spans.len(), SERVICES.len(), "400 traces reach every service");
        let kinds: std::collections::BTreeSet<i32> =
            a.resource_spans.iter().flat_map(|r| &r.scope_spans[0].spans).map(|s| s.kind).collect();
        assert_eq!(kinds.into_iter().collect::<Vec<_>>(), [SERVER, CLIENT, PRODUCER, CONSUMER]);
        for span in a.resource_spans.iter().flat_map(|r| &r.scope_spans[0].spans) {
            assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
        }
    }

    #[test]
    fn incidents_change_latency_and_faults() {
        let quiet = Incidents { latency_regression: (2.0, 2.0), fault_burst: (2.0, 2.0) };
        let on = Incidents { latency_regression: (0.0, 1.0), fault_burst: (0.0, 1.0) };
        let faults = |doc: &TracesData<'_>| {
            doc.resource_spans
                .iter()
                .filter(|r| matches!(&r.resource.attributes[0].value, AnyValue::String(s) if s == "payment-service"))
                .flat_map(|r| &r.scope_spans[0].spans)
                .filter(|s| s.kind == SERVER && s.status.code == 2)
                .count()
        };
        let a = document(3, &moments(2000), quiet);
        let b = document(3, &moments(2000), on);
        assert!(faults(&b) > 5 * faults(&a).max(1), "{} vs {}", faults(&b), faults(&a));
    }

    #[test]
    fn start_times_follow_the_day() {
        let day = 86_400_000_000_000u64;
        let times = start_times(1, 20_000, 0, day);
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let hour = |h: u64| times.iter().filter(|t| **t / 3_600_000_000_000 == h).count();
        assert!(hour(15) > 2 * hour(3), "afternoon {} vs night {}", hour(15), hour(3));
    }
}
