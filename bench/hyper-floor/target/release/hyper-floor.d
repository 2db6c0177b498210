/work/main/bench/hyper-floor/target/release/hyper-floor: /work/main/bench/hyper-floor/src/main.rs
