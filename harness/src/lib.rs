//! armsim-harness: replays scenario files against clients or endpoints and judges what they did.
//!
//! The principal types: a [`scenario::Scenario`] (one YAML file) is run by [`run::run_all`] against an
//! in-process simulator or an endpoint; a client's journal goes through the [`oracle`] whose rules yield
//! [`oracle::Finding`]s; [`report`] renders results for people, JUnit and JSON.
//!
//! # Layout
//! - [`scenario`]: the file format, its JSON Schema, loading with `file:line:col` errors.
//! - [`oracle`]: the LRO rules, each with a stable id and severity, over `Vec<JournalEntry>`.
//! - [`http`]: the harness's own small HTTP client.
//! - [`steps`]: harness-driven steps and the reference poller.
//! - [`run`]: per-scenario simulators, client processes, parallelism.
//! - [`report`]: human report, coverage, JUnit XML, JSON.
//! - [`fuzz`]: generated server behaviours for property-based testing of pollers, and their shrinking.
//! - [`scratch`]: files written to the temporary folder for other processes, removed when done.

pub mod fuzz;
pub mod http;
pub mod oracle;
pub mod report;
pub mod run;
pub mod scenario;
pub mod scratch;
pub mod steps;
