//! spanlens: offline OpenTelemetry trace analytics.
//!
//! Stages and module map, from the top down (a module uses only those below it):
//! * [`cli`]: command-line syntax; [`commands`]: one file per command holding its whole flow,
//!   and the dispatcher; [`config`]: the validated plan of each command;
//! * [`report`]: what a run did as people and tools see it: `run_info`, the stderr summary,
//!   text tables, `report.html`; [`outcome`]: what each command did, as `report` renders it;
//! * [`sql`]: the session of `spanlens sql`: tables by input kind, on-demand views, the functions
//!   span SQL needs, output formats, the interactive shell; [`cluster`]: the roles of a Ballista
//!   cluster and the client session of `--scheduler`;
//! * [`metrics`]: signals → service, operation and dependency RED metric tables; [`slo`]: SLO
//!   definitions (the Application Signals API's JSON) and their evaluation over signals;
//! * [`signals`]: spans → the `signals` table of Application Signals metric records;
//!   [`spill`]: span columns held for the derivation, spilled to disk by trace id beyond a budget;
//! * [`ingest`]: inputs → decoded span batches (OTLP/JSON, OTLP/protobuf, gzip, zstd);
//!   [`derive`]: the Application Signals rules, pure; [`queries`]: the embedded SQL of
//!   `queries/` and the functions it calls; [`store`]: the Hive-partitioned Parquet span store;
//!   [`workload`]: the deterministic pet-clinic workload generator; [`s3`]: `s3://` locations
//!   and the S3 client;
//! * [`output`]: Parquet writing, atomic files and output directories;
//! * [`model`]: the span table schema, the builder that fills it, computed tables;
//!   [`error`], [`util`]: the error type and exit codes, small shared helpers;
//!   [`testing`]: encoders and synthetic traces for tests and benches.

pub mod cli;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod derive;
pub mod error;
pub mod graph;
pub mod ingest;
pub mod metrics;
pub mod model;
pub mod outcome;
pub mod output;
pub mod queries;
pub mod report;
pub mod s3;
pub mod signals;
pub mod slo;
pub mod spill;
pub mod sql;
pub mod store;
pub mod testing;
pub mod util;
pub mod workload;
