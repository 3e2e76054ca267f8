//! Memory stays flat whatever the size of one value: a row is forwarded as it
//! arrives, never held whole.

use crate::support;

use crate::support::measure::run_measured;
use crate::support::{pgcopydb, verify, workdir};

/// A 300 MB value (and a 100 MB one) in `src`'s database "db".
fn load_large_values(src: &support::Cluster) {
    // Compressible, so the server keeps it small on disk; the COPY still
    // carries all 300 MB.
    src.psql(
        "db",
        "CREATE TABLE blob (id int PRIMARY KEY, b bytea, t text);\
         INSERT INTO blob VALUES \
           (1, convert_to(repeat('x', 300 * 1024 * 1024), 'UTF8'), 'small'),\
           (2, '\\x00', repeat('y', 100 * 1024 * 1024));",
    );
}

/// Clones from `source` to `target` in `format`, checks the copy and that
/// the tool's peak RSS stayed under 64 MB.
fn assert_cloned_in_flat_memory(
    (src, source): (&support::Cluster, &str),
    (tgt, target): (&support::Cluster, &str),
    format: &str,
    dir: &std::path::Path,
) {
    let (out, peak_kb) = run_measured(
        pgcopydb()
            .args(["clone", "--source", source, "--target", target])
            .args(["--copy-format", format, "--restart", "--drop-if-exists"])
            .arg("--dir")
            .arg(dir),
    );
    crate::support::assert_success(&out, &format!("clone in {format} format"));
    eprintln!("{format}: peak RSS {} MB", peak_kb / 1024);
    verify::assert_equal(src, "db", tgt, "db");
    assert!(
        peak_kb < 64 * 1024,
        "{format}: peak RSS {} MB for a 300 MB value",
        peak_kb / 1024
    );
}

#[test]
fn a_300_mb_value_is_copied_in_flat_memory() {
    let (src, tgt) = support::source_and_target("db");
    load_large_values(&src);
    let dir = workdir();
    for format in ["binary", "text"] {
        assert_cloned_in_flat_memory(
            (&src, &src.uri("db")),
            (&tgt, &tgt.uri("db")),
            format,
            dir.path(),
        );
    }
}

/// Under TLS the relay reads above the encryption: memory stays as flat.
#[test]
fn a_300_mb_value_is_copied_in_flat_memory_over_tls() {
    let certs = support::ssl::self_signed_cert();
    let src = support::ssl::start_ssl(certs.path());
    let tgt = support::ssl::start_ssl(certs.path());
    src.create_db("db");
    tgt.create_db("db");
    load_large_values(&src);
    let dir = workdir();
    assert_cloned_in_flat_memory(
        (&src, &format!("{}?sslmode=require", src.uri("db"))),
        (&tgt, &format!("{}?sslmode=require", tgt.uri("db"))),
        "binary",
        dir.path(),
    );
}

/// With a list of hosts the relay's readers take the first that answers, as
/// every other connection does; memory stays as flat.
#[test]
fn a_300_mb_value_is_copied_in_flat_memory_from_a_host_list() {
    let (src, tgt) = support::source_and_target("db");
    load_large_values(&src);
    let dir = workdir();
    // A socket directory that does not exist, then the server.
    let source = format!(
        "host=/nonexistent-pgcopydb-host,127.0.0.1 port={} user=postgres password={} dbname=db",
        src.port,
        support::Cluster::PASSWORD
    );
    assert_cloned_in_flat_memory(
        (&src, &source),
        (&tgt, &tgt.uri("db")),
        "binary",
        dir.path(),
    );
}
