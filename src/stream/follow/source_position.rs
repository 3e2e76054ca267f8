//! The source's current WAL position, asked now and then on an ordinary
//! connection while a follow runs: lag and "caught up" are measured from
//! it. The replication stream cannot say it: a walsender's keepalive and
//! data carry how far it has decoded, which falls behind the source exactly
//! when the follower does (a long transaction being decoded, a slow
//! network), hiding the lag it should show.

use std::time::Duration;

use tokio_postgres::Client;

use super::pipeline::Shared;
use crate::conninfo::ConnInfo;
use crate::stream::lsn::Lsn;

/// How often the source is asked (the applier reports every 500 ms).
const EVERY: Duration = Duration::from_secs(1);

/// Where the source's WAL ends: the insert position, past every commit
/// made so far even under `synchronous_commit = off` (the write position
/// can be short of the last ones); the replayed one on a standby.
async fn current_position(client: &Client) -> Result<Lsn, String> {
    let row = client
        .query_one(
            "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() \
                          ELSE pg_current_wal_insert_lsn() END)::text",
            &[],
        )
        .await
        .map_err(|e| crate::connections::db_error_message(&e))?;
    let text: Option<String> = row.try_get(0).map_err(|e| e.to_string())?;
    text.unwrap_or_else(|| "0/0".to_string())
        .parse()
        .map_err(|e| format!("the source's WAL position: {e}"))
}

/// The source's current WAL position, once.
pub(crate) async fn now(source: &ConnInfo) -> Option<Lsn> {
    let asked = async {
        let client = source
            .connect()
            .await
            .map_err(|e| e.message().to_string())?;
        current_position(&client).await
    };
    match asked.await {
        Ok(lsn) => Some(lsn),
        Err(e) => {
            tracing::warn!("cannot read the source's WAL position, lag is not known: {e}");
            None
        }
    }
}

/// Publish the source's position in `shared.source_now` until the follow
/// stops. On an error it stops asking (and the follow never claims to be
/// caught up): the receiver reports a lost source itself.
pub(crate) async fn follow(source: &ConnInfo, shared: &Shared) {
    let mut stop = shared.stop.subscribe();
    let client = tokio::select! {
        _ = stop.wait_for(|s| *s) => return,
        c = source.connect() => match c {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read the source's WAL position, lag is not known: {}", e.message());
                return;
            }
        },
    };
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tick.tick() => match current_position(&client).await {
                Ok(lsn) => {
                    shared.source_now.send_if_modified(|p| {
                        let moved = lsn > *p;
                        *p = (*p).max(lsn);
                        moved
                    });
                }
                Err(e) => {
                    tracing::warn!("cannot read the source's WAL position, lag is not known: {e}");
                    return;
                }
            },
        }
    }
}
