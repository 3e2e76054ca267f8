//! Memory stays flat whatever the size of one value: a row is forwarded as it
//! arrives, never held whole.

mod support;

use std::os::unix::process::ExitStatusExt;

use support::{pgcopydb, verify, workdir};

/// Runs `cmd` to completion and returns its exit status and the peak
/// resident memory, in kB, of it and of the children it waited for.
fn run_measured(cmd: &mut std::process::Command) -> (std::process::ExitStatus, i64) {
    let child = cmd.spawn().expect("start pgcopydb");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child, not reaped yet; both pointers are valid.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    // The child is reaped: forget it rather than wait for it again.
    std::mem::forget(child);
    (std::process::ExitStatus::from_raw(status), usage.ru_maxrss)
}

#[test]
fn a_300_mb_value_is_copied_in_flat_memory() {
    let (src, tgt) = support::source_and_target("db");
    // Compressible, so the server keeps it small on disk; the COPY still
    // carries all 300 MB.
    src.psql(
        "db",
        "CREATE TABLE blob (id int PRIMARY KEY, b bytea, t text);\
         INSERT INTO blob VALUES \
           (1, convert_to(repeat('x', 300 * 1024 * 1024), 'UTF8'), 'small'),\
           (2, '\\x00', repeat('y', 100 * 1024 * 1024));",
    );
    let dir = workdir();
    for format in ["binary", "text"] {
        let (status, peak_kb) = run_measured(
            pgcopydb()
                .args([
                    "clone",
                    "--source",
                    &src.uri("db"),
                    "--target",
                    &tgt.uri("db"),
                ])
                .args(["--copy-format", format, "--restart", "--drop-if-exists"])
                .arg("--dir")
                .arg(dir.path()),
        );
        assert!(
            status.success(),
            "clone in {format} format failed: {status}"
        );
        eprintln!("{format}: peak RSS {} MB", peak_kb / 1024);
        verify::assert_equal(&src, "db", &tgt, "db");
        assert!(
            peak_kb < 64 * 1024,
            "{format}: peak RSS {} MB for a 300 MB value",
            peak_kb / 1024
        );
    }
}
