//! Evaluation: query sets ([`input`]), metrics ([`metrics`]) and the runner that scores an
//! index against them.
//!
//! Metric definitions follow BEIR/pytrec_eval so figures compare with published tables.

pub mod input;
pub mod metrics;
pub mod run;
