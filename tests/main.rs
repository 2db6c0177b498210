//! armsim's integration tests: one binary, one module per area.

mod common;
// The simulator, driven in-process through `Simulator::handle` (the same call the server makes).
mod sim {
    mod admin; // /_armsim: health, clock, journal, state, reset, blobs
    mod api_versions; // accepted versions, body rules per family, version errors
    mod arm; // ARM-wide behaviour: auth, 404s, malformed input, headers, case
    mod model; // a model-based test: random commands against the engine and a reference model
    mod recordings; // replays of real recorded traffic and the REST spec examples
    mod rules; // the service's backup/restore rules
    mod snapshots; // insta snapshots of real-shaped answers
}
mod clients; // the official Python and JS SDKs and the Azure CLI, unmodified, against armsim
mod docs; // the documentation's examples run as written
mod fuzz; // `armsim fuzz`: the zoo found and shrunk, the replay fails alike, the reference passes
mod hardening; // limits, the property test over raw requests, secrets never leak
mod identity; // serve's defaults: HTTPS, the fake Azure AD, strict tokens, roles
mod persistence; // --data-dir: restart, and kill -9 at random moments
mod secrets; // keys and tokens never reach logs, the journal, dumps or errors
mod serve; // the `armsim serve` binary over real HTTP
mod target_mode; // `armsim run --target` against a separately started `armsim serve`
