//! armsim-simulator: a mock Azure Resource Manager for API Management backup and restore, on a virtual
//! clock.
//!
//! The principal types: [`Simulator`] answers one [`HttpRequest`] at a time (synchronously, in-process or
//! behind [`server::run`]); its [`engine::Engine`] holds the [`World`] and applies the service's rules at
//! the [`clock::Clock`]'s `now`; every exchange lands in the [`journal::Journal`]; every rejection is an
//! [`ArmError`] rendered as ARM's CloudError.
//!
//! ```no_run
//! # async fn demo() -> Result<(), String> {
//! use armsim_simulator::{server::RunningServer, SimConfig, VDuration};
//! let server = RunningServer::start(SimConfig::default()).await?;
//! // ... point a client at server.endpoint ...
//! server.sim.advance(VDuration::from_days(31));
//! let journal = server.sim.journal();
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`clock`]: `Timestamp`, `VDuration`, manual and scaled clocks.
//! - [`http`]: plain request/response types; [`http::route`] parses every path once.
//! - [`arm`]: ARM vocabulary: errors, api-versions, regions, wire shapes.
//! - [`engine`]: the world and its rules; synchronous, no I/O, nothing sleeps.
//! - [`sim`]: the `Simulator`: auth, api-version, dispatch, ARM headers, admin API, journal.
//! - [`server`]: hyper accept loop and an in-process `RunningServer`.
//! - [`fault`]: seeded fault plans (errors, throttling, latency, broken bodies and headers).
//! - [`journal`]: every exchange, secrets redacted.
//! - [`persist`]: the world on disk for `--data-dir` (atomic replace of one JSON file).
//! - `prefetch`: asking the processor early for what the next request lets go of.

pub mod arm;
pub mod clock;
pub mod engine;
pub mod fault;
pub mod http;
pub mod identity;
pub mod journal;
pub mod persist;
mod prefetch;
pub mod server;
pub mod sim;
pub mod tls;

pub use arm::error::ArmError;
pub use clock::{ClockMode, Timestamp, VDuration};
pub use engine::model::World;
pub use http::{HttpRequest, HttpResponse};
pub use sim::{SimConfig, Simulator};
