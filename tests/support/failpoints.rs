//! Failpoints (`src/failpoint.rs`) from the tests' side: arm points on a
//! pgcopydb command, wait for the marker a point writes when it is reached
//! (a state, not a moment on the clock), release a pause.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A marker directory for one run's failpoints.
pub struct Failpoints {
    dir: tempfile::TempDir,
}

/// Fail the test at once, saying why, when the binary under test was built
/// without the `failpoints` feature: a crash test that cannot crash the run
/// where it wants must not pass.
pub fn assert_compiled() {
    let out = super::pgcopydb()
        .args(["version", "--json"])
        .output()
        .expect("run pgcopydb version");
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("pgcopydb version --json");
    assert_eq!(
        doc["failpoints"], true,
        "this test needs failpoints: build the tests with `--features failpoints` \
         (cargo nextest run --features failpoints)"
    );
}

impl Failpoints {
    pub fn new() -> Failpoints {
        assert_compiled();
        Failpoints {
            dir: tempfile::Builder::new()
                .prefix("pgcopydb-test-failpoints-")
                .tempdir()
                .expect("create the failpoint marker dir"),
        }
    }

    /// Arm `spec` (`point=action[@N];...`) on `cmd`.
    pub fn arm<'c>(&self, cmd: &'c mut Command, spec: &str) -> &'c mut Command {
        cmd.env("PGCOPYDB_FAILPOINTS", spec)
            .env("PGCOPYDB_FAILPOINTS_DIR", self.dir.path())
    }

    fn marker(&self, point: &str, suffix: &str) -> PathBuf {
        self.dir.path().join(format!("{point}.{suffix}"))
    }

    /// What `point` reported when it acted (the label of its unit), or None
    /// when it was never reached.
    pub fn reached(&self, point: &str) -> Option<String> {
        std::fs::read_to_string(self.marker(point, "reached")).ok()
    }

    /// The label `point` reported; fails the test when it was not reached.
    pub fn expect_reached(&self, point: &str, output: &std::process::Output) -> String {
        self.reached(point).unwrap_or_else(|| {
            panic!(
                "failpoint {point} was never reached ({}):\n{}",
                output.status,
                super::output_text(output)
            )
        })
    }

    /// Wait until `point` is reached by `child` (paused there, or dying of a
    /// crash); returns its label. Fails the test if the child ends first.
    pub fn wait_reached(&self, point: &str, child: &mut Child) -> String {
        let started = Instant::now();
        loop {
            if let Some(label) = self.reached(point) {
                return label;
            }
            if let Some(status) = child.try_wait().expect("poll pgcopydb") {
                // The marker is written before the point acts.
                if let Some(label) = self.reached(point) {
                    return label;
                }
                panic!("pgcopydb ended ({status}) without reaching failpoint {point}");
            }
            assert!(
                started.elapsed() < super::follow::HANG_GUARD,
                "failpoint {point} never reached"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Let a run paused at `point` go on.
    pub fn release(&self, point: &str) {
        std::fs::write(self.marker(point, "continue"), b"").expect("write the release marker");
    }
}
