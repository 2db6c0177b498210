/work/main/bench/hyper-floor/target/release/deps/hyper_floor-805171f3057c5669.d: src/main.rs

/work/main/bench/hyper-floor/target/release/deps/hyper_floor-805171f3057c5669: src/main.rs

src/main.rs:
