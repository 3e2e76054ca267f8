//! The follow's connections to its siblings' work: the walsender
//! (`stream::walsender`), the decoders and the applier (`stream::apply`).
//! The applier's entry points say so until its branch lands on main.

use std::sync::Arc;

use anyhow::Result;
use tokio_postgres::Client;

use super::pipeline::{Apply, Receive, Received};
use super::settings::SlotSettings;
use crate::connections::{connect, Side};
use crate::conninfo::ConnInfo;
use crate::filters::Filters;
use crate::stream::apply::{origin, Applier};
use crate::stream::change::Change;
use crate::stream::decode::options::{self, plugin_options_for, StreamSettings};
use crate::stream::decode::tables::SourceTables;
use crate::stream::decode::{Decoder, Plugin};
use crate::stream::lsn::Lsn;
use crate::stream::preflight::{self, Request};
use crate::stream::walsender::{
    ExportedSnapshot, ReplicationMessage, ReplicationStream, WalSender, WalSenderError,
};

/// A slot just created.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    pub consistent_point: Lsn,
}

/// A slot created with its snapshot exported and held (until dropped).
pub struct HeldSnapshot {
    pub slot: SlotInfo,
    pub snapshot: String,
    _holder: ExportedSnapshot,
}

fn source_failure(e: WalSenderError) -> anyhow::Error {
    e.into_failure().into()
}

impl Receive for ReplicationStream {
    async fn next(&mut self) -> Result<Option<Received>> {
        Ok(
            match ReplicationStream::next(self)
                .await
                .map_err(source_failure)?
            {
                None => None,
                Some(ReplicationMessage::XLogData(x)) => Some(Received::Data {
                    lsn: x.wal_start,
                    data: x.data,
                }),
                Some(ReplicationMessage::Keepalive { wal_end, .. }) => {
                    Some(Received::Keepalive { wal_end })
                }
            },
        )
    }
    fn report(&mut self, written: Lsn, flushed: Lsn, applied: Lsn) {
        ReplicationStream::report(self, written, flushed, applied)
    }
    async fn send_status(&mut self) -> Result<()> {
        self.flush_status().await.map_err(source_failure)
    }
    async fn finish(mut self) -> Result<()> {
        self.flush_status().await.map_err(source_failure)?;
        let sender = ReplicationStream::finish(self)
            .await
            .map_err(source_failure)?;
        sender.close().await.map_err(source_failure)
    }
}

/// Checks before anything is written, on `source` (one connection for all
/// of them); the confirmed position of the slot when one of that name
/// exists (and may be resumed).
pub(crate) async fn preflight(
    source: &Client,
    slot: &SlotSettings,
    resuming: bool,
    endpos: Option<Lsn>,
    filters: &Filters,
) -> Result<Option<Lsn>> {
    let request = Request {
        slot_name: &slot.slot_name,
        plugin: slot.plugin,
        resuming,
        startpos: None,
        endpos,
    };
    let found = preflight::preflight_on(source, &request).await?;
    let publication = (slot.plugin == Plugin::Pgoutput).then(|| slot.publication_name());
    preflight::check_replica_identities(source, filters, publication).await?;
    Ok(found
        .existing_slot
        .map(|s| s.confirmed_flush.unwrap_or(found.start)))
}

pub(crate) async fn create_slot(source: &ConnInfo, slot: &SlotSettings) -> Result<SlotInfo> {
    let mut sender = WalSender::connect(source).await.map_err(source_failure)?;
    let created = sender
        .create_slot(&slot.slot_name, slot.plugin, false)
        .await
        .map_err(source_failure)?;
    let _ = sender.close().await;
    Ok(SlotInfo {
        consistent_point: created.consistent_point,
    })
}

pub(crate) async fn create_slot_holding_snapshot(
    source: &ConnInfo,
    slot: &SlotSettings,
) -> Result<HeldSnapshot> {
    let sender = WalSender::connect(source).await.map_err(source_failure)?;
    let held = sender
        .create_slot_holding_snapshot(&slot.slot_name, slot.plugin)
        .await
        .map_err(source_failure)?;
    Ok(HeldSnapshot {
        slot: SlotInfo {
            consistent_point: held.slot().consistent_point,
        },
        snapshot: held.snapshot_name().to_string(),
        _holder: held,
    })
}

/// Drop slot `name`; one already gone is not an error. One in use is
/// waited for (bounded): a cleanup right after a crash finds the slot
/// still held by the dead run's walsender.
pub(crate) async fn drop_slot(source: &ConnInfo, name: &str) -> Result<()> {
    let mut sender = WalSender::connect(source).await.map_err(source_failure)?;
    let started = std::time::Instant::now();
    loop {
        match sender.drop_slot(name, false).await {
            Err(e) if e.sqlstate() == Some("42704") => break,
            Err(e) if e.sqlstate() == Some("55006") => {
                tracing::debug!("{}; waiting for its release", e.message());
                if crate::retry::released_soon(started).await {
                    continue;
                }
                let message = format!(
                    "{}: stop what uses replication slot \"{name}\" (a `pgcopydb snapshot --follow` \
                     holding it, another follow), then run this again",
                    e.message()
                );
                return Err(crate::error::Error::new(
                    crate::error::Kind::Conflict,
                    crate::error::Side::Source,
                    message,
                )
                .into());
            }
            other => {
                other.map_err(source_failure)?;
                break;
            }
        }
    }
    let _ = sender.close().await;
    Ok(())
}

/// `START_REPLICATION` from `from` (the server starts at the slot's
/// confirmed position when that is later) with the options the decoder of
/// the slot's plugin needs.
pub(crate) async fn start_stream(
    source: &ConnInfo,
    slot: &SlotSettings,
    from: Lsn,
) -> Result<ReplicationStream> {
    let sender = WalSender::connect(source).await.map_err(source_failure)?;
    let version = sender.server_version_num();
    let options: Vec<(String, String)> =
        plugin_options_for(slot.plugin, &stream_settings(slot), version)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
    sender
        .start_replication(&slot.slot_name, from, &options)
        .await
        .map_err(|e| {
            if e.sqlstate() == Some("55006") {
                // The slot is still held by the walsender of our previous
                // connection, which has not noticed it is gone yet.
                let message = e.message().to_string();
                crate::error::Error::new(
                    crate::error::Kind::Conflict,
                    crate::error::Side::Source,
                    message,
                )
                .into()
            } else {
                source_failure(e)
            }
        })
}

fn stream_settings(slot: &SlotSettings) -> StreamSettings {
    StreamSettings {
        publication: slot.publication_name().to_string(),
        wal2json_numeric_as_string: slot.wal2json_numeric_as_string,
    }
}

/// The decoder of the slot's plugin; the text plugins read the source's
/// tables (keys, identity, types) first.
pub(crate) async fn decoder(source: &ConnInfo, slot: &SlotSettings) -> Result<Box<dyn Decoder>> {
    let tables = match slot.plugin {
        Plugin::Pgoutput => SourceTables::default(),
        Plugin::TestDecoding | Plugin::Wal2json => {
            let client = connect(Side::Source, source).await?;
            SourceTables::load(&client).await?
        }
    };
    Ok(options::decoder(
        slot.plugin,
        Arc::new(tables),
        &stream_settings(slot),
    ))
}

/// Failures of the applier happen on the target (its exit code, 7), unless
/// they say otherwise.
fn on_target<T>(result: Result<T>) -> Result<T> {
    use crate::error::SideContext;
    result.on(crate::error::Side::Target, "applying changes on the target")
}

impl Apply for Applier {
    async fn progress(&mut self) -> Result<Lsn> {
        on_target(Applier::progress(self).await)
    }
    async fn apply(&mut self, change: Change) -> Result<()> {
        on_target(Applier::apply(self, change).await)
    }
    async fn idle(&mut self) -> Result<()> {
        Applier::idle(self).await
    }
    async fn flush(&mut self) -> Result<()> {
        on_target(Applier::flush(self).await)
    }
    fn counts(&self) -> (u64, u64, u64) {
        let s = self.stats();
        (s.transactions, s.rows, s.skipped)
    }
    async fn close(self) -> Result<()> {
        on_target(Applier::close(self).await.map(|_| ()))
    }
}

/// The applier on the target, attached to `origin` (created when missing).
pub(crate) async fn connect_applier(target: &ConnInfo, origin_name: &str) -> Result<Applier> {
    Applier::connect(target, origin_name).await
}

pub(crate) async fn setup_origin(target: &Client, name: &str, start: Lsn) -> Result<()> {
    origin::setup_on(target, name, start).await.map(|_| ())
}

pub(crate) async fn drop_origin(target: &ConnInfo, name: &str) -> Result<()> {
    origin::drop(target, name).await
}
