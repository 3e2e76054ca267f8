//! `clone --follow` and `snapshot --follow`: the slot is created on a
//! replication connection exporting its snapshot, and that snapshot — not
//! one of `pg_export_snapshot()` — is the one every COPY and pg_dump reads,
//! so that what the copy sees and what the slot streams meet exactly: no
//! change lost between them, none applied twice.

use anyhow::Result;

use super::settings::FollowSettings;
use super::summary::FollowSummary;
use super::wire::{self, HeldSnapshot};
use super::{run_in, Mode};
use crate::connections::Endpoints;
use crate::conninfo::ConnInfo;
use crate::workdir::{Reuse, WorkDir};

/// The slot made for a copy, holding its snapshot until released.
pub struct SlotForCopy {
    held: HeldSnapshot,
    publication: Option<String>,
    publication_created: bool,
}

impl SlotForCopy {
    /// The snapshot to give the copy (`--snapshot`).
    pub fn snapshot(&self) -> &str {
        &self.held.snapshot
    }
    pub fn consistent_point(&self) -> crate::stream::lsn::Lsn {
        self.held.slot.consistent_point
    }
    /// pgoutput's publication, and whether it was created with the slot.
    pub fn publication(&self) -> (Option<&str>, bool) {
        (self.publication.as_deref(), self.publication_created)
    }
}

/// Before the copy: checks, the publication (pgoutput), then the slot with
/// its exported snapshot, held.
pub async fn create_slot_for_copy(
    source: &ConnInfo,
    settings: &FollowSettings,
) -> Result<SlotForCopy> {
    wire::preflight(
        source,
        &settings.slot,
        false,
        settings.endpos,
        &settings.filters,
    )
    .await?;
    let (publication, publication_created) =
        super::setup::ensure_publication(source, settings).await?;
    let held = wire::create_slot_holding_snapshot(source, &settings.slot).await?;
    tracing::info!(
        "created replication slot {} at {}, exporting snapshot {}",
        settings.slot.slot_name,
        held.slot.consistent_point,
        held.snapshot
    );
    Ok(SlotForCopy {
        held,
        publication,
        publication_created,
    })
}

/// After the copy: release the snapshot, record the slot, and follow.
pub async fn follow_after_copy(
    endpoints: &Endpoints,
    settings: &FollowSettings,
    slot: Option<SlotForCopy>,
) -> Result<FollowSummary> {
    let created = slot.map(|s| {
        let info = s.held.slot.clone();
        drop(s.held);
        (info, s.publication, s.publication_created)
    });
    let workdir = WorkDir::open(&settings.dir, Reuse::Continue)?;
    let settings = FollowSettings {
        restart: false,
        ..settings.clone()
    };
    run_in(endpoints, &settings, Mode::Follow, &workdir, created).await
}
