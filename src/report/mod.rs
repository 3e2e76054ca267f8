//! What the user sees: log lines, the live progress display, the final summary.

pub mod build_timings;
pub mod costs;
pub mod in_flight;
pub mod instance_summary;
pub mod log_format;
pub mod logging;
pub mod markdown;
pub mod metrics;
pub mod progress;
pub mod secrets;
pub mod size;
pub mod stdout;
pub mod summary;
