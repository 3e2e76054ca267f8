//! One table's COPY held on the target while the rest of the run goes on, so
//! that a test acts at a state it controls rather than at a moment it
//! guesses: a row trigger, added by an event trigger when the restore creates
//! the table, waits before each row for an advisory lock the test holds.
//! (A failpoint pause would stop the whole run, not one COPY.)

use std::io::Write;
use std::process::{Child, Stdio};

use super::cluster::Cluster;
use super::runner::wait_until;

/// The advisory lock the held COPY waits for (and whatever else a test makes wait on it).
pub const LOCK: i64 = 4242;

/// In `db` of `tgt` (created beforehand: the restore must run in it), make
/// the COPY into `public.<table>` wait for the test's lock before each row.
pub fn install(tgt: &Cluster, db: &str, table: &str) {
    tgt.psql(
        db,
        &format!(
            "CREATE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               PERFORM pg_advisory_lock_shared({LOCK});
               PERFORM pg_advisory_unlock_shared({LOCK});
               RETURN NEW;
             END $$;
             CREATE FUNCTION hold_table() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN
               IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands()
                           WHERE object_identity = 'public.{table}'
                             AND command_tag = 'CREATE TABLE') THEN
                 CREATE TRIGGER wait_for_test BEFORE INSERT ON public.{table}
                   FOR EACH ROW EXECUTE FUNCTION public.wait_for_test();
               END IF;
             END $$;
             CREATE EVENT TRIGGER hold_table ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
               EXECUTE FUNCTION hold_table();"
        ),
    );
}

/// Remove what [`install`] added (once the run is over), so that the target
/// compares equal to the source.
pub fn uninstall(tgt: &Cluster, db: &str, table: &str) {
    tgt.psql(
        db,
        &format!(
            "DROP EVENT TRIGGER hold_table;
             DROP TRIGGER wait_for_test ON public.{table};
             DROP FUNCTION hold_table(), wait_for_test();"
        ),
    );
}

/// Whether the COPY into `public.<table>` in `db` waits for the test's lock.
pub fn copy_waiting(tgt: &Cluster, db: &str, table: &str) -> bool {
    tgt.psql(
        db,
        &format!(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() \
               AND query LIKE 'COPY public.{table} %FROM STDIN%' AND wait_event = 'advisory'"
        ),
    ) == "1"
}

/// A psql session on `tgt` holding the lock until it is dropped.
pub struct HeldLock(Child);

impl HeldLock {
    pub fn take(tgt: &Cluster, db: &str) -> HeldLock {
        let mut psql = tgt
            .client("psql")
            .args(["-X", "-q", "-d", &tgt.db_name(db)])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start psql");
        let stdin = psql.stdin.as_mut().expect("psql stdin");
        writeln!(stdin, "SELECT pg_advisory_lock({LOCK});").expect("write to psql");
        stdin.flush().expect("flush psql");
        wait_until(
            &format!("the test's advisory lock (port {})", tgt.port),
            || {
                tgt.psql(
                    db,
                    &format!(
                        "SELECT count(*) FROM pg_locks \
                     WHERE locktype = 'advisory' AND objid = {LOCK} AND granted \
                       AND database = (SELECT oid FROM pg_database \
                                        WHERE datname = current_database())"
                    ),
                ) == "1"
            },
        );
        HeldLock(psql)
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        // psql ends with its stdin, and its session with the lock.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}
