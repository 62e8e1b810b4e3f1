//! spanlens: offline OpenTelemetry trace analytics.
//!
//! Stages and module map (dependencies point down this list only):
//! * [`cli`] / [`config`]: command-line syntax and the validated run plan;
//! * [`app`]: runs a command, the only module that knows the stage order;
//! * [`ingest`]: inputs → decoded span batches (OTLP/JSON, OTLP/protobuf, gzip, zstd);
//! * [`model`]: the span table schema and the builder that fills it;
//! * [`derive`]: Application Signals rules (records, local service, ingress operation, remote names
//!   and resources, error/fault, environment), pure;
//! * [`s3`]: `s3://` locations and the S3 client (standard AWS configuration);
//! * [`store`]: the Hive-partitioned Parquet span store;
//! * [`spill`]: span columns held for the derivation, spilled to disk by trace id beyond a budget;
//! * [`signals`]: spans → the `signals` table of Application Signals metric records;
//! * [`queries`]: the embedded SQL of `queries/` and the functions it calls;
//! * [`metrics`]: signals → service, operation and dependency RED metric tables;
//! * [`slo`]: SLO definitions (the Application Signals API's JSON) and their evaluation over signals;
//! * [`report`]: Parquet writing, `run_info`, the stderr summary, text tables, `report.html`;
//! * [`workload`]: the deterministic pet-clinic workload generator (`spanlens gen`);
//! * [`error`], [`util`]: the error type and exit codes, small shared helpers.

pub mod app;
pub mod cli;
pub mod config;
pub mod derive;
pub mod error;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod queries;
pub mod report;
pub mod s3;
pub mod signals;
pub mod slo;
pub mod spill;
pub mod store;
pub mod testing;
pub mod util;
pub mod workload;
