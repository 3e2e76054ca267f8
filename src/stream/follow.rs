//! `follow`, `clone --follow` and the `stream` commands: receive from the
//! slot, store durably, decode and apply, concurrently, until endpos.

pub mod clone_follow;
mod pipeline;
pub mod settings;
pub mod setup;
pub mod snapshot_slot;
mod source_position;
mod summary;
pub mod wire;

use std::path::Path;
use std::time::Instant;

use anyhow::Result;

use self::pipeline::{Apply, ApplyEnd, Receive, Shared};
use crate::connections::Endpoints;
use crate::error::Failure;
use crate::stream::sentinel;
use crate::stream::store::{segments, StoreReader, StoreWriter};
use crate::workdir::{Reuse, WorkDir};
pub use settings::{FollowSettings, SlotSettings};
pub use summary::FollowSummary;

/// Which part of the pipeline a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Set up what is missing, then receive and apply until endpos.
    Follow,
    /// Receive and apply (set up beforehand).
    Replay,
    /// Receive into the store only.
    Receive,
    /// Apply what is stored, then stop.
    Catchup,
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Run `mode` on the work directory of `settings`.
pub async fn run(
    endpoints: &Endpoints,
    settings: &FollowSettings,
    mode: Mode,
) -> Result<FollowSummary> {
    let workdir = WorkDir::open(&settings.dir, Reuse::Continue)?;
    run_in(endpoints, settings, mode, &workdir, None).await
}

/// Run `mode` in an open work directory; `created` is the slot `clone
/// --follow` made for its snapshot.
pub async fn run_in(
    endpoints: &Endpoints,
    settings: &FollowSettings,
    mode: Mode,
    workdir: &WorkDir,
    created: Option<(wire::SlotInfo, Option<String>, bool)>,
) -> Result<FollowSummary> {
    let started = Instant::now();
    let state = workdir.state.clone();
    if settings.restart && created.is_none() {
        setup::teardown(endpoints, workdir).await?;
    }
    let stored = !segments::list(&segments::cdc_dir(&workdir.root))?.is_empty();
    if stored && !settings.resume && created.is_none() && mode == Mode::Follow {
        return Err(Failure::state(format!(
            "{} holds the changes of an earlier follow: use --resume to continue it, or \
             --restart to drop them (and the slot) and start over",
            settings.dir.display()
        ))
        .into());
    }
    let recorded = match mode {
        Mode::Follow => setup::prepare(endpoints, settings, &state, created).await?,
        _ => setup::recorded(&state)?.ok_or_else(|| {
            Failure::state(format!(
                "nothing is set up in {}: run `pgcopydb stream setup` first",
                settings.dir.display()
            ))
        })?,
    };
    let receiving = mode != Mode::Catchup;
    let applying = mode != Mode::Receive;
    if applying {
        // Asked to apply: `stream sentinel set prefetch` pauses it later.
        sentinel::put_control(&state, None, None, Some(true))?;
    }
    let shared = Shared::new(state.clone(), settings.endpos, recorded.startpos);
    let mut writer = if receiving {
        Some(StoreWriter::open(
            &workdir.root,
            settings.slot.plugin,
            settings.segment_bytes,
            recorded.startpos,
        )?)
    } else {
        None
    };
    let live = writer.as_ref().map(StoreWriter::subscribe);
    let t0 = now();
    let receive = async {
        let Some(writer) = writer.as_mut() else {
            return Ok(pipeline::ReceiveEnd::default());
        };
        let from = writer.resume_position();
        let mut stream = match wire::start_stream(&endpoints.source, &settings.slot, from).await {
            Ok(s) => s,
            Err(e) => {
                shared.stop.send_replace(true);
                return Err(e);
            }
        };
        let end = pipeline::receive(&mut stream, writer, &shared, !applying).await;
        if let Err(e) = Receive::finish(stream).await {
            tracing::debug!("ending the replication stream: {e:#}");
        }
        end
    };
    let apply = async {
        if !applying {
            return Ok(None);
        }
        let root = workdir.root.clone();
        let mut sink = match wire::connect_applier(&endpoints.target, &recorded.origin).await {
            Ok(s) => s,
            Err(e) => {
                shared.stop.send_replace(true);
                return Err(e);
            }
        };
        // Without a consistent copy an UPDATE or DELETE may find no row.
        sink.tolerate_missing_rows(settings.not_consistent);
        let mut decoder = wire::decoder(&endpoints.source, &settings.slot).await?;
        let end = pipeline::apply(
            &mut sink,
            |from| StoreReader::open(&root, from, live),
            decoder.as_mut(),
            &shared,
            t0,
        )
        .await;
        let counts = sink.counts();
        let missing_rows = sink.stats().missing_rows;
        let closed = Apply::close(sink).await;
        let end = end?;
        closed?;
        Ok(Some((end, counts, missing_rows)))
    };
    let sample = source_position::follow(&endpoints.source, &shared);
    let (received, applied, ()) = tokio::join!(receive, apply, sample);
    let received = received?;
    let applied = applied?;
    let sentinel = sentinel::read(&state)?.unwrap_or_default();
    let mut summary = FollowSummary {
        slot_name: recorded.slot_name.clone(),
        origin: recorded.origin.clone(),
        startpos: recorded.startpos,
        endpos: sentinel.endpos().or(settings.endpos),
        written: received.written.max(sentinel.write_lsn),
        flushed: received.flushed.max(sentinel.flush_lsn),
        applied: sentinel.replay_lsn,
        syncs: received.syncs,
        source_lsn: source_position::now(&endpoints.source).await,
        seconds: started.elapsed().as_secs_f64(),
        ..FollowSummary::default()
    };
    if let Some(source) = summary.source_lsn {
        sentinel::report_source_at_end(&state, source)?;
    }
    if let Some((end, (transactions, rows, skipped), missing_rows)) = applied {
        summary.missing_rows = missing_rows;
        summary.transactions = transactions;
        summary.rows = rows;
        summary.skipped = skipped;
        summary.reached_endpos = end == ApplyEnd::Endpos;
        if end == ApplyEnd::Stopped && !crate::interrupt::is_cancelled() {
            return Err(Failure::source(
                "the replication stream ended before endpos: run again with --resume",
            )
            .into());
        }
    }
    if summary.reached_endpos {
        summary.sequences = Some(sequences::copy(endpoints, &settings.filters).await?);
    }
    Ok(summary)
}

mod sequences;

/// `stream prune`: delete the segments whose every transaction the target
/// has (the sentinel's replay position); the names of those deleted.
pub fn prune(dir: &Path, dry_run: bool) -> Result<Vec<String>> {
    let replayed = sentinel::get(dir)?.replay_lsn;
    let removed = segments::prune(&segments::cdc_dir(dir), replayed, dry_run)?;
    Ok(removed.iter().map(|p| p.display().to_string()).collect())
}
