//! Benches only: see `benches/` (`cargo bench -p laptime-bench`).
