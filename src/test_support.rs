//! Helpers shared by the library's unit tests.

/// How many cases each parser property test runs: `SOURCIER_FUZZ_CASES` when set, else the
/// test's own short default. These property tests are the fuzzing pass (a coverage-guided
/// fuzzer needs a nightly toolchain): CI runs the short default with the other tests, and a
/// developer runs a long pass over them all with, for example,
/// `SOURCIER_FUZZ_CASES=100000 cargo test --release --lib`.
pub(crate) fn fuzz_cases(default: u32) -> u32 {
    std::env::var("SOURCIER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}
