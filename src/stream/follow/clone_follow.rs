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
use crate::connections::{connect, Endpoints, Side};
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

    /// What the work directory records of the slot (and its publication),
    /// from the moment the copy starts: `stream cleanup` and `--restart`
    /// drop them even when the run is killed during the copy.
    pub fn state_entries(&self, settings: &FollowSettings) -> Vec<(&'static str, String)> {
        super::setup::entries(&super::setup::created_slot(
            settings,
            &self.held.slot,
            self.publication.clone(),
            self.publication_created,
        ))
    }
}

/// Before the copy: checks, the publication (pgoutput), then the slot with
/// its exported snapshot, held.
pub async fn create_slot_for_copy(
    source: &ConnInfo,
    settings: &FollowSettings,
) -> Result<SlotForCopy> {
    let client = connect(Side::Source, source).await?;
    wire::preflight(
        &client,
        &settings.slot,
        false,
        settings.endpos,
        &settings.filters,
    )
    .await?;
    let (publication, publication_created) =
        super::setup::ensure_publication(&client, settings).await?;
    drop(client);
    let intent = super::setup::intent(settings, &publication, publication_created);
    let held = super::slot_intent::create_with_intent(
        &settings.dir,
        &intent,
        wire::create_slot_holding_snapshot(source, &settings.slot),
    )
    .await;
    let held = match held {
        Ok(held) => held,
        Err(e) => {
            super::setup::forget_publication_of_refused_slot(source, settings, &intent).await;
            return Err(e);
        }
    };
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

/// After a copy that failed: drop the slot (and the publication made with
/// it) unless the work directory records them, which it does from the
/// moment the copy opened it; before that (a refused directory, a server
/// that cannot be read) nothing else would know to drop them.
pub async fn drop_unless_recorded(
    endpoints: &Endpoints,
    settings: &FollowSettings,
    slot: SlotForCopy,
) -> Result<()> {
    let state_file = settings.dir.join(crate::workdir::contents::STATE_FILE);
    let recorded = crate::workdir::state::State::open_readonly(&state_file)
        .and_then(|state| super::setup::recorded(&state))
        .ok()
        .flatten()
        .is_some_and(|r| r.slot_name == settings.slot.slot_name && r.slot_created);
    if recorded {
        return Ok(());
    }
    // The slot is in use while its snapshot is held.
    drop(slot.held);
    wire::drop_slot(&endpoints.source, &settings.slot.slot_name).await?;
    if let (Some(name), true) = (&slot.publication, slot.publication_created) {
        let client =
            crate::connections::connect(crate::connections::Side::Source, &endpoints.source)
                .await?;
        crate::stream::publication::drop(&client, name).await?;
    }
    super::slot_intent::remove(&settings.dir)?;
    tracing::info!(
        "dropped replication slot {} made for a copy that failed before recording it",
        settings.slot.slot_name
    );
    Ok(())
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
