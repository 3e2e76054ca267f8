fn main() {
    std::process::exit(pgcopydb::cli::run());
}
