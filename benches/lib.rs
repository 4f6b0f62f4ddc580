//! Benchmarks live in `benches/`; see `README.md` beside this file.
