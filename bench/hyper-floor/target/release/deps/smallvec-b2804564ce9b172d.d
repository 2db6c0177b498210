/work/main/bench/hyper-floor/target/release/deps/smallvec-b2804564ce9b172d.d: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/smallvec-1.16.5/src/lib.rs

/work/main/bench/hyper-floor/target/release/deps/libsmallvec-b2804564ce9b172d.rlib: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/smallvec-1.16.5/src/lib.rs

/work/main/bench/hyper-floor/target/release/deps/libsmallvec-b2804564ce9b172d.rmeta: /root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/smallvec-1.16.5/src/lib.rs

/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/smallvec-1.16.5/src/lib.rs:
