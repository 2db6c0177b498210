/work/main/bench/hyper-floor/target/release/deps/hyper_floor-e792b57e20f1b3db.d: src/main.rs Cargo.toml

/work/main/bench/hyper-floor/target/release/deps/libhyper_floor-e792b57e20f1b3db.rmeta: src/main.rs Cargo.toml

src/main.rs:
Cargo.toml:

# env-dep:CLIPPY_ARGS=-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__
# env-dep:CLIPPY_CONF_DIR
