#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

fn main() {
    std::process::exit(pgcopydb::cli::run());
}
