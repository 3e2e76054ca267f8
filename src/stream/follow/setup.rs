//! Setting up and tearing down what a follow needs: the publication
//! (pgoutput), the slot, the target's origin and the sentinel, recorded in
//! the work directory's state so that `stream cleanup` drops exactly what
//! we created and a later run checks it follows the same slot.

use anyhow::Result;
use tokio_postgres::Client;

use super::settings::FollowSettings;
use super::slot_intent::{self, SlotIntent};
use super::snapshot_slot;
use super::wire::{self, SlotInfo};
use crate::connections::{connect, Endpoints, Side};
use crate::conninfo::ConnInfo;
use crate::error::{Failure, SideContext};
use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;
use crate::stream::publication;
use crate::stream::sentinel;
use crate::stream::store::segments;
use crate::workdir::state::State;
use crate::workdir::{Reuse, WorkDir};

/// What the state records of the set-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub slot_name: String,
    pub plugin: Plugin,
    /// We created the slot (cleanup drops it).
    pub slot_created: bool,
    pub publication: Option<String>,
    pub publication_created: bool,
    pub origin: String,
    /// The slot's consistent point: the first change streamed comes after it.
    pub startpos: Lsn,
}

const KEYS: &[&str] = &[
    "cdc.slot_name",
    "cdc.plugin",
    "cdc.slot_created",
    "cdc.publication",
    "cdc.publication_created",
    "cdc.origin",
    "cdc.startpos",
];

pub fn recorded(state: &State) -> Result<Option<Recorded>> {
    let setup = state.catalog().setup()?;
    let Some(slot_name) = setup.get("cdc.slot_name") else {
        return Ok(None);
    };
    let get = |k: &str| setup.get(k).cloned().unwrap_or_default();
    Ok(Some(Recorded {
        slot_name: slot_name.clone(),
        plugin: Plugin::from_name(&get("cdc.plugin")).unwrap_or_default(),
        slot_created: get("cdc.slot_created") == "yes",
        publication: setup
            .get("cdc.publication")
            .filter(|p| !p.is_empty())
            .cloned(),
        publication_created: get("cdc.publication_created") == "yes",
        origin: get("cdc.origin"),
        startpos: get("cdc.startpos").parse().unwrap_or_default(),
    }))
}

/// The publication this work directory's follow created on the source, if
/// any: `clone --follow` makes it before the snapshot, so pg_dump sees it,
/// and the copy must not restore it on the target (the target is no
/// publisher; a user's cut-over would find a stray object there).
pub fn created_publication(state: &State) -> Result<Option<String>> {
    Ok(recorded(state)?
        .filter(|r| r.publication_created)
        .and_then(|r| r.publication))
}

/// The state's entries for `r`.
pub(crate) fn entries(r: &Recorded) -> Vec<(&'static str, String)> {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    vec![
        ("cdc.slot_name", r.slot_name.clone()),
        ("cdc.plugin", r.plugin.name().to_string()),
        ("cdc.slot_created", yes(r.slot_created)),
        ("cdc.publication", r.publication.clone().unwrap_or_default()),
        ("cdc.publication_created", yes(r.publication_created)),
        ("cdc.origin", r.origin.clone()),
        ("cdc.startpos", r.startpos.to_string()),
    ]
}

fn record(state: &State, r: &Recorded) -> Result<()> {
    state.catalog().put_setup(&entries(r))
}

fn forget(state: &State) -> Result<()> {
    state.with(|c| {
        for k in KEYS {
            c.execute("DELETE FROM setup WHERE key = ?1", [k])?;
        }
        Ok(())
    })
}

/// A run that follows another slot or plugin than the one recorded would
/// mix two streams in one store.
fn check_same_slot(r: &Recorded, settings: &FollowSettings) -> Result<()> {
    if r.slot_name != settings.slot.slot_name || r.plugin != settings.slot.plugin {
        return Err(Failure::state(format!(
            "{} follows slot {:?} with plugin {}: give the same --slot-name and --plugin, \
             or --restart to drop it and start over",
            settings.dir.display(),
            r.slot_name,
            r.plugin.name()
        ))
        .into());
    }
    Ok(())
}

/// What the state records of a slot we created (with its publication).
pub(crate) fn created_slot(
    settings: &FollowSettings,
    slot: &SlotInfo,
    publication: Option<String>,
    publication_created: bool,
) -> Recorded {
    Recorded {
        slot_name: settings.slot.slot_name.clone(),
        plugin: settings.slot.plugin,
        slot_created: true,
        publication,
        publication_created,
        origin: settings.origin.clone(),
        startpos: slot.consistent_point,
    }
}

/// pgoutput's publication, before the slot: changes are decoded against
/// the catalog as of each change, so a publication created after the slot
/// would miss what came between. Ours (to drop at cleanup) when we create
/// it, or when a killed run's intent says it created it; `slot.intent`
/// names it before the CREATE, so that a run killed right after the
/// CREATE leaves it known.
pub(crate) async fn ensure_publication(
    source: &Client,
    settings: &FollowSettings,
) -> Result<(Option<String>, bool)> {
    if settings.slot.plugin != Plugin::Pgoutput {
        return Ok((None, false));
    }
    let name = settings.slot.publication_name().to_string();
    if publication::exists(source, &name).await? {
        let leaked = intent_for_slot(settings)?
            .is_some_and(|i| i.created_publication.as_deref() == Some(name.as_str()));
        return Ok((Some(name), leaked));
    }
    let ours = intent(settings, &Some(name.clone()), true);
    slot_intent::create_publication_with_intent(
        &settings.dir,
        &ours,
        publication::create(source, &name, &settings.filters),
    )
    .await?;
    Ok((Some(name), true))
}

/// Make sure everything a follow needs exists, creating what is missing,
/// and record it. `created` is a slot the caller made (with the snapshot a
/// clone used).
pub(crate) async fn prepare(
    endpoints: &Endpoints,
    settings: &FollowSettings,
    state: &State,
    created: Option<(SlotInfo, Option<String>, bool)>,
) -> Result<Recorded> {
    let before = recorded(state)?;
    if let Some(r) = &before {
        check_same_slot(r, settings)?;
    }
    let target = connect(Side::Target, &endpoints.target);
    let (recorded, fresh, target) = match (before, created) {
        (Some(r), None) => (r, false, target.await?),
        (_, Some((slot, publication, publication_created))) => (
            created_slot(settings, &slot, publication, publication_created),
            true,
            target.await?,
        ),
        (None, None) => {
            // Connected together: start-up waits for one connection, not two.
            let (source, target) =
                tokio::try_join!(connect(Side::Source, &endpoints.source), target)?;
            (
                set_up_slot(&endpoints.source, &source, settings).await?,
                true,
                target,
            )
        }
    };
    if fresh {
        // Recorded first: whatever fails next, cleanup knows what to drop.
        record(state, &recorded)?;
        slot_intent::remove(&settings.dir)?;
        snapshot_slot::remove(&settings.dir)?;
        sentinel::reset(state)?;
        sentinel::put_control(state, Some(recorded.startpos), settings.endpos, None)?;
    }
    // Idempotent: creates the origin when missing, never moves it back.
    wire::setup_origin(&target, &recorded.origin, recorded.startpos).await?;
    if let Some(endpos) = settings.endpos {
        if endpos < recorded.startpos {
            return Err(Failure::args(format!(
                "--endpos {endpos} is behind the slot's start position {}: give a later LSN",
                recorded.startpos
            ))
            .into());
        }
        sentinel::put_control(state, None, Some(endpos), None)?;
    }
    Ok(recorded)
}

/// What `slot.intent` says of the slot about to be created for `settings`.
pub(crate) fn intent(
    settings: &FollowSettings,
    publication: &Option<String>,
    publication_created: bool,
) -> SlotIntent {
    SlotIntent {
        slot_name: settings.slot.slot_name.clone(),
        plugin: settings.slot.plugin.name().to_string(),
        created_publication: publication.clone().filter(|_| publication_created),
    }
}

/// The intent a killed run left for the slot `settings` name, if any.
fn intent_for_slot(settings: &FollowSettings) -> Result<Option<SlotIntent>> {
    Ok(slot_intent::load(&settings.dir)?.filter(|i| i.slot_name == settings.slot.slot_name))
}

/// A fresh follow's slot: the one `snapshot --follow` made, else the one
/// of that name (resumed) or a new one, after the checks and the
/// publication, all on `source`.
async fn set_up_slot(
    source_info: &ConnInfo,
    source: &Client,
    settings: &FollowSettings,
) -> Result<Recorded> {
    if let Some(adopted) = adopt_snapshot_slot(source, settings).await? {
        return Ok(adopted);
    }
    let existing = wire::preflight(
        source,
        &settings.slot,
        settings.resume,
        settings.endpos,
        &settings.filters,
    )
    .await?;
    // A run killed before it recorded its slot left an intent naming it:
    // that slot, and its publication, are ours. Read before the
    // publication's own intent is written.
    let leaked = intent_for_slot(settings)?;
    let (publication, publication_created) = ensure_publication(source, settings).await?;
    let (startpos, slot_created) = match existing {
        Some(confirmed) => (confirmed, leaked.is_some()),
        None => {
            let intent = intent(settings, &publication, publication_created);
            let created = slot_intent::create_with_intent(
                &settings.dir,
                &intent,
                wire::create_slot(source_info, &settings.slot),
            )
            .await;
            let created = match created {
                Ok(created) => created,
                Err(e) => {
                    forget_publication_of_refused_slot(source_info, settings, &intent).await;
                    return Err(e);
                }
            };
            (created.consistent_point, true)
        }
    };
    Ok(Recorded {
        slot_name: settings.slot.slot_name.clone(),
        plugin: settings.slot.plugin,
        slot_created,
        publication,
        publication_created,
        origin: settings.origin.clone(),
        startpos,
    })
}

/// After a failed slot creation: when the server refused it, the intent
/// that named our publication is gone, and nothing else would know to drop
/// the publication: it is dropped now (a failure to is logged, the
/// refusal is what the run reports). When the intent is still there (the
/// slot may exist), `stream cleanup` drops both.
pub(crate) async fn forget_publication_of_refused_slot(
    source: &ConnInfo,
    settings: &FollowSettings,
    intent: &SlotIntent,
) {
    let Some(name) = &intent.created_publication else {
        return;
    };
    if !matches!(slot_intent::load(&settings.dir), Ok(None)) {
        return;
    }
    let dropped = async {
        let client = connect(Side::Source, source).await?;
        publication::drop(&client, name).await
    };
    match dropped.await {
        Ok(()) => tracing::info!("dropped publication {name}: the slot was not created"),
        Err(e) => tracing::warn!(
            "publication {name} was made for a slot the source refused, and could not be \
             dropped: drop it yourself ({e:#})"
        ),
    }
}

/// The slot `snapshot --follow` made for this directory, when it is the
/// one asked for: followed from where the copy's snapshot left it (its
/// confirmed position, which is that snapshot's until something consumes
/// it), and ours to drop at cleanup.
async fn adopt_snapshot_slot(
    source: &Client,
    settings: &FollowSettings,
) -> Result<Option<Recorded>> {
    let Some(made) = snapshot_slot::load(&settings.dir)? else {
        return Ok(None);
    };
    if made.slot_name != settings.slot.slot_name || made.plugin() != Some(settings.slot.plugin) {
        return Ok(None);
    }
    let confirmed = wire::preflight(
        source,
        &settings.slot,
        true,
        settings.endpos,
        &settings.filters,
    )
    .await?;
    let Some(startpos) = confirmed else {
        // Creating another would stream from now on: a gap after the copy.
        return Err(Failure::source(format!(
            "replication slot \"{}\" that `pgcopydb snapshot --follow` created for {} no longer exists on the source: the changes since the copy's snapshot are lost; copy again (clone --follow, or snapshot --follow then clone)",
            made.slot_name,
            settings.dir.display()
        ))
        .into());
    };
    tracing::info!(
        "following slot {} that `snapshot --follow` created at {}",
        made.slot_name,
        made.consistent_point
    );
    let startpos = startpos.max(made.consistent_point()?);
    Ok(Some(Recorded {
        slot_name: made.slot_name,
        plugin: settings.slot.plugin,
        slot_created: true,
        publication: made.publication,
        publication_created: made.publication_created,
        origin: settings.origin.clone(),
        startpos,
    }))
}

/// `stream setup`.
pub async fn setup(endpoints: &Endpoints, settings: &FollowSettings) -> Result<()> {
    let workdir = WorkDir::open(&settings.dir, Reuse::Continue)?;
    if settings.restart {
        teardown(endpoints, &workdir).await?;
    }
    let r = prepare(endpoints, settings, &workdir.state, None).await?;
    crate::report::stdout::println(format!(
        "slot {} ({}) starts at {}; origin {} on the target",
        r.slot_name,
        r.plugin.name(),
        r.startpos,
        r.origin
    ))?;
    Ok(())
}

/// `stream cleanup`.
pub async fn cleanup(endpoints: &Endpoints, settings: &FollowSettings) -> Result<()> {
    let workdir = WorkDir::open(&settings.dir, Reuse::Continue)?;
    teardown(endpoints, &workdir).await
}

/// Drop what we created (slot, publication, origin), the stored changes
/// and the CDC state. A publication the user gave stays.
pub(crate) async fn teardown(endpoints: &Endpoints, workdir: &WorkDir) -> Result<()> {
    if let Some(r) = recorded(&workdir.state)? {
        if r.slot_created {
            wire::drop_slot(&endpoints.source, &r.slot_name).await?;
            tracing::info!("dropped replication slot {}", r.slot_name);
        }
        if let (Some(name), true) = (&r.publication, r.publication_created) {
            let client = connect(Side::Source, &endpoints.source).await?;
            publication::drop(&client, name).await?;
            // A clone of an earlier version restored it on the target too
            // (it is left out of the restore now): it is ours there as well.
            let target = connect(Side::Target, &endpoints.target).await?;
            target
                .batch_execute(&format!(
                    "DROP PUBLICATION IF EXISTS {}",
                    crate::sql::quote_ident(name)
                ))
                .await
                .on(
                    crate::error::Side::Target,
                    format!("dropping publication {name:?} on the target"),
                )?;
            tracing::info!("dropped publication {name}");
        }
        wire::drop_origin(&endpoints.target, &r.origin).await?;
        tracing::info!("dropped replication origin {}", r.origin);
    }
    // Slots made but not (yet) recorded in the state: one a run was killed
    // creating, one `snapshot --follow` made for this directory.
    if let Some(intent) = slot_intent::load(&workdir.root)? {
        drop_unrecorded(
            endpoints,
            &intent.slot_name,
            intent.created_publication.as_deref(),
        )
        .await?;
        slot_intent::remove(&workdir.root)?;
    }
    if let Some(made) = snapshot_slot::load(&workdir.root)? {
        let holder = workdir.root.join(crate::workdir::SNAPSHOT_LOCK);
        if crate::workdir::lock::is_held(&holder) {
            return Err(Failure::state(format!(
                "`pgcopydb snapshot --follow` still holds replication slot \"{}\" for {}: \
                 stop it (Ctrl-C or SIGTERM) first",
                made.slot_name,
                workdir.root.display()
            ))
            .into());
        }
        let publication = made
            .publication
            .as_deref()
            .filter(|_| made.publication_created);
        drop_unrecorded(endpoints, &made.slot_name, publication).await?;
    }
    remove_store(&workdir.root)?;
    snapshot_slot::remove(&workdir.root)?;
    sentinel::reset(&workdir.state)?;
    forget(&workdir.state)
}

/// Drop a slot (and the publication made with it) that the work directory
/// names but its state does not record; already gone is not an error.
async fn drop_unrecorded(
    endpoints: &Endpoints,
    slot_name: &str,
    publication: Option<&str>,
) -> Result<()> {
    wire::drop_slot(&endpoints.source, slot_name).await?;
    tracing::info!("dropped replication slot {slot_name}");
    if let Some(name) = publication {
        let client = connect(Side::Source, &endpoints.source).await?;
        publication::drop(&client, name).await?;
        tracing::info!("dropped publication {name}");
    }
    Ok(())
}

/// Delete every segment of the store (only files of ours).
pub(crate) fn remove_store(root: &std::path::Path) -> Result<()> {
    let dir = segments::cdc_dir(root);
    segments::prune(&dir, Lsn(u64::MAX), false)?;
    if let Some(last) = segments::list(&dir)?.last() {
        std::fs::remove_file(dir.join(segments::file_name(*last)))?;
    }
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}
