// Integration tests, one binary. Modules:
// - target_mode: `armsim run --target` against a separately started `armsim serve`.
mod target_mode;
