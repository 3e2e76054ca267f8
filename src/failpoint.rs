//! Named failpoints: places at the boundaries of units of work where a test
//! can make the run crash, fail or pause, so that crash and resume tests pick
//! their moment by what the run is doing rather than by the clock.
//!
//! Compiled in only with the cargo feature `failpoints` (the tests are built
//! with it: `cargo nextest run --features failpoints`); without it
//! [`failpoint!`](crate::failpoint!) expands to nothing, so the points cost
//! a release build nothing (it only refuses `PGCOPYDB_FAILPOINTS`, once, at
//! start: see [`check_env`]).
//!
//! Which points act, and how, comes from the environment:
//!
//! ```text
//! PGCOPYDB_FAILPOINTS="table-copied=crash;index-built=pause;large-object-copied=error@3"
//! PGCOPYDB_FAILPOINTS_DIR=/tmp/markers     # where reached points are reported
//! ```
//!
//! - `crash`: the process kills itself with SIGKILL at once (no destructor,
//!   no flush, no rollback message to the servers): what a power cut or the
//!   OOM killer does.
//! - `error`: the point returns an internal error, taking the path a failed
//!   state write at that spot would take (most points sit just before the
//!   state records their unit).
//! - `pause`: the process blocks there (the whole run: it has one thread)
//!   until the file `<dir>/<point>.continue` exists; the test acts meanwhile
//!   (reads the state, sends SIGKILL...).
//! - `@N`: act on the N-th time the point is reached (default the first);
//!   the other times pass through.
//!
//! When a point acts it first writes `<dir>/<point>.reached`, holding what it
//! was about (a table's or an index's label), so that a test waits for a
//! file instead of sleeping.
//!
//! The points (see [`POINTS`]); each name says what has just happened:
//! - `schema-dumped`: the catalog is read and the schema dumped under the
//!   snapshot, the target not written yet (a test changes the source there,
//!   after the snapshot, before anything else reads it).
//! - `pre-data-restored`: pg_restore of pre-data is done, not recorded yet.
//! - `pre-data-stage-restored`: a stage of a parallel pre-data restore is
//!   committed (all its batches), the next not started.
//! - `copy-sent`: a `COPY ... TO STDOUT` is sent to the source, none of
//!   its rows read yet (the source backend is busy sending them): a pause
//!   there lets a test break the source connection mid-COPY. Reached on
//!   the relayed path only (a connection that `connect_tapped` can open).
//! - `table-copied`: a whole table's COPY is committed, not recorded yet
//!   (for a group of small tables, reached for each once the group's
//!   transaction is committed).
//! - `group-table-copied`: a table of a group of small tables is copied,
//!   the group's transaction not committed yet.
//! - `part-copied`: a part of a split table is committed, not recorded yet.
//! - `between-parts`: a part is recorded; other parts of its table are not.
//! - `index-built`: an index is built, not recorded yet.
//! - `constraints-attached`: a table's constraints are attached, not recorded.
//! - `foreign-key-added`: a foreign key is added, not recorded yet.
//! - `sequences-set`: every sequence value is set (sequences are not units:
//!   a resume sets them all again).
//! - `large-object-copied`: a large object is copied, not recorded yet.
//! - `post-data-restored`: pg_restore of post-data is done, not recorded yet.
//! - `stream-received`, `stream-stored`, `stream-applied`: for the change
//!   data capture engine (`src/stream/`): a message received from the slot
//!   and not stored yet; stored (fsynced) and not applied yet; a
//!   transaction's commit, with its origin position, answered by the target
//!   (the applier pipelines: later transactions may be in flight, none of
//!   them answered). Each is labelled
//!   with its LSN (the message's, the durable end, the commit's end).
//! - `stream-flush-reported`: the slot was sent a status update saying the
//!   store holds everything up to the label's LSN (the source may now
//!   recycle that WAL: the store is the only copy left).
//! - `stream-slot-created`: a replication slot is created on the source
//!   (labelled with its name), the state or `snapshot.slot` not recording it
//!   yet (only the work directory's `slot.intent`).
//! - `stream-publication-created`: pgoutput's publication is created on the
//!   source (labelled with its name), no slot made yet; only the work
//!   directory's `slot.intent` names it.
//! - `stream-change-sent`: a row change (or TRUNCATE) of an open
//!   transaction handed to the target, its commit not yet sent: a crash
//!   there is one in the middle of a multi-statement transaction.
//!
//! A new point is one line: `crate::failpoint!("name");` (or with a label:
//! `crate::failpoint!("name", &label);`) in a function returning
//! `anyhow::Result`, plus its entry in [`POINTS`] and in the list above.

/// Every failpoint and what has just happened when it is reached. An armed
/// name not in this list is refused, so a misspelt test fails at once.
pub const POINTS: &[(&str, &str)] = &[
    (
        "schema-dumped",
        "catalog read and schema dumped, target not written",
    ),
    ("pre-data-restored", "pre-data restored, not recorded"),
    (
        "pre-data-stage-restored",
        "a stage of a parallel pre-data restore committed",
    ),
    ("copy-sent", "a COPY TO sent to the source, no row read yet"),
    ("table-copied", "a table's COPY committed, not recorded"),
    (
        "group-table-copied",
        "a table of a group copied, the group not committed",
    ),
    ("part-copied", "a part's COPY committed, not recorded"),
    (
        "between-parts",
        "a part recorded, other parts of its table not",
    ),
    ("index-built", "an index built, not recorded"),
    (
        "constraints-attached",
        "a table's constraints attached, not recorded",
    ),
    ("foreign-key-added", "a foreign key added, not recorded"),
    ("sequences-set", "sequence values set"),
    ("large-object-copied", "a large object copied, not recorded"),
    ("post-data-restored", "post-data restored, not recorded"),
    ("stream-received", "CDC: a message received, not stored"),
    ("stream-stored", "CDC: messages stored, not applied"),
    (
        "stream-slot-created",
        "a replication slot created, not recorded yet",
    ),
    (
        "stream-publication-created",
        "a publication created, no slot made yet",
    ),
    (
        "stream-flush-reported",
        "CDC: the slot told what is stored, not applied",
    ),
    (
        "stream-change-sent",
        "CDC: a change of an open transaction sent to the target",
    ),
    (
        "stream-applied",
        "CDC: a transaction applied, the next not started",
    ),
];

/// The environment variable naming the armed points.
pub const ENV: &str = "PGCOPYDB_FAILPOINTS";
/// The directory where reached points are reported, and pauses released.
pub const DIR_ENV: &str = "PGCOPYDB_FAILPOINTS_DIR";

/// Whether this build has failpoints (`pgcopydb version --json` says it, so
/// that a test needing them fails clearly against a build without).
pub const COMPILED: bool = cfg!(feature = "failpoints");

/// Reach a failpoint: nothing unless the build has the `failpoints` feature
/// and the point is armed in `PGCOPYDB_FAILPOINTS`; then crash, return an
/// error from the enclosing function (`?`), or pause. See the module
/// documentation.
#[cfg(feature = "failpoints")]
#[macro_export]
macro_rules! failpoint {
    ($name:expr) => {
        $crate::failpoint::hit($name, "")?
    };
    ($name:expr, $about:expr) => {
        $crate::failpoint::hit($name, $about)?
    };
}

/// Reach a failpoint: compiled out (the build has no `failpoints` feature).
#[cfg(not(feature = "failpoints"))]
#[macro_export]
macro_rules! failpoint {
    ($name:expr) => {};
    ($name:expr, $about:expr) => {};
}

/// What an armed point does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Crash,
    Error,
    Pause,
}

/// One armed point: its action and on which hit (1-based) it acts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Armed {
    pub name: String,
    pub action: Action,
    pub at_hit: u32,
}

/// Parse `name=action[@N];...`; an unknown name, action or count is an
/// error naming it.
pub fn parse(spec: &str) -> Result<Vec<Armed>, String> {
    spec.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, rest) = item
                .split_once('=')
                .ok_or_else(|| format!("{item:?}: expected name=action"))?;
            let name = name.trim();
            if !POINTS.iter().any(|(known, _)| *known == name) {
                let known: Vec<&str> = POINTS.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown failpoint {name:?} (known: {})",
                    known.join(", ")
                ));
            }
            let (action, count) = match rest.trim().split_once('@') {
                Some((a, n)) => (a, Some(n)),
                None => (rest.trim(), None),
            };
            let action = match action {
                "crash" => Action::Crash,
                "error" => Action::Error,
                "pause" => Action::Pause,
                other => {
                    return Err(format!(
                        "{name}: unknown action {other:?} (crash, error or pause)"
                    ))
                }
            };
            let at_hit = match count {
                None => 1,
                Some(n) => n
                    .parse::<u32>()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("{name}: @{n} is not a count from 1"))?,
            };
            Ok(Armed {
                name: name.to_string(),
                action,
                at_hit,
            })
        })
        .collect()
}

/// Check `PGCOPYDB_FAILPOINTS` before the run starts: a bad spec, or one
/// given to a build without failpoints, is a usage error rather than a run
/// that silently ignores it.
pub fn check_env() -> Result<(), String> {
    let Some(spec) = std::env::var_os(ENV) else {
        return Ok(());
    };
    let spec = spec.to_string_lossy();
    if spec.trim().is_empty() {
        return Ok(());
    }
    if !COMPILED {
        return Err(format!(
            "{ENV} is set but this pgcopydb is built without failpoints \
             (build it with `--features failpoints`, or unset {ENV})"
        ));
    }
    let armed = parse(&spec).map_err(|e| format!("{ENV}: {e}"))?;
    if armed.iter().any(|a| a.action == Action::Pause) && std::env::var_os(DIR_ENV).is_none() {
        return Err(format!(
            "{ENV}: pause needs {DIR_ENV}, where <point>.continue releases it"
        ));
    }
    Ok(())
}

#[cfg(feature = "failpoints")]
mod armed {
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::sync::{Mutex, OnceLock};

    use super::{parse, Action, Armed, DIR_ENV, ENV};

    struct Registry {
        armed: Vec<Armed>,
        hits: Mutex<HashMap<String, u32>>,
        dir: Option<PathBuf>,
    }

    fn registry() -> &'static Registry {
        static REGISTRY: OnceLock<Registry> = OnceLock::new();
        REGISTRY.get_or_init(|| Registry {
            // check_env refused a bad spec before the run started.
            armed: std::env::var(ENV)
                .ok()
                .and_then(|s| parse(&s).ok())
                .unwrap_or_default(),
            hits: Mutex::new(HashMap::new()),
            dir: std::env::var_os(DIR_ENV).map(PathBuf::from),
        })
    }

    pub fn hit(name: &str, about: &str) -> anyhow::Result<()> {
        let reg = registry();
        let Some(armed) = reg.armed.iter().find(|a| a.name == name) else {
            return Ok(());
        };
        let n = {
            let mut hits = crate::sync::lock(&reg.hits);
            let n = hits.entry(name.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        if n != armed.at_hit {
            return Ok(());
        }
        crate::report::stdout::eprintln(format!("failpoint {name} ({about}): {:?}", armed.action));
        if let Some(dir) = &reg.dir {
            // Written whole before the test can see it: a rename is atomic.
            let tmp = dir.join(format!("{name}.reached.tmp"));
            let reached = dir.join(format!("{name}.reached"));
            std::fs::write(&tmp, about)
                .and_then(|()| std::fs::rename(&tmp, &reached))
                .map_err(|e| anyhow::anyhow!("failpoint {name}: writing {reached:?}: {e}"))?;
        }
        match armed.action {
            Action::Crash => {
                // SAFETY: kill(2) on our own pid; nothing runs after it.
                unsafe {
                    libc::kill(libc::getpid(), libc::SIGKILL);
                }
                // SIGKILL cannot be caught; should it be delayed, do not go on.
                std::process::abort()
            }
            Action::Error => Err(anyhow::anyhow!(
                "failpoint {name}: injected error ({about})"
            )),
            Action::Pause => {
                let Some(release) = reg.dir.as_ref().map(|d| d.join(format!("{name}.continue")))
                else {
                    return Ok(());
                };
                // The product waits here on purpose, the whole run with it
                // (one thread): the test decides when, or whether, it goes on.
                while !release.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Ok(())
            }
        }
    }
}

#[cfg(feature = "failpoints")]
pub use armed::hit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_parses_into_points_actions_and_counts() {
        let armed =
            parse(" table-copied=crash; index-built=pause@3;;sequences-set=error ").unwrap();
        assert_eq!(
            armed,
            vec![
                Armed {
                    name: "table-copied".into(),
                    action: Action::Crash,
                    at_hit: 1
                },
                Armed {
                    name: "index-built".into(),
                    action: Action::Pause,
                    at_hit: 3
                },
                Armed {
                    name: "sequences-set".into(),
                    action: Action::Error,
                    at_hit: 1
                },
            ]
        );
    }

    #[test]
    fn a_bad_spec_names_what_is_wrong() {
        let unknown = parse("table-copyed=crash").unwrap_err();
        assert!(unknown.contains("table-copyed") && unknown.contains("table-copied"));
        assert!(parse("table-copied").unwrap_err().contains("name=action"));
        assert!(parse("table-copied=explode")
            .unwrap_err()
            .contains("explode"));
        assert!(parse("table-copied=crash@0").unwrap_err().contains("@0"));
        assert!(parse("table-copied=crash@x").unwrap_err().contains("@x"));
    }

    #[test]
    fn every_point_is_documented_once() {
        let doc: String = include_str!("failpoint.rs")
            .lines()
            .filter(|l| l.starts_with("//!"))
            .collect();
        let readme = include_str!("../README.md");
        for (name, _) in POINTS {
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} is not in the README"
            );
            assert!(
                doc.contains(&format!("`{name}`")),
                "{name} is not in the module's list"
            );
        }
        let mut names: Vec<&str> = POINTS.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), POINTS.len());
    }
}
