//! `follow`, `clone --follow` and the `stream` commands: receive from the
//! slot, store durably, decode and apply, concurrently, until endpos.

pub mod clone_follow;
mod pipeline;
pub mod reconnect;
pub mod settings;
pub mod setup;
pub mod slot_intent;
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
    if mode != Mode::Receive {
        // Asked to apply: `stream sentinel set prefetch` pauses it later.
        sentinel::put_control(&state, None, None, Some(true))?;
    }
    let t0 = now();
    let mut failed_in_a_row = 0;
    let mut counts = (0, 0, 0, 0);
    let (received, applied) = loop {
        let (result, attempt_counts) = attempt(
            endpoints,
            settings,
            workdir,
            &recorded,
            mode,
            t0,
            (counts.0, counts.1),
        )
        .await;
        counts.0 += attempt_counts.0;
        counts.1 += attempt_counts.1;
        counts.2 += attempt_counts.2;
        counts.3 += attempt_counts.3;
        let result = result.and_then(|(received, applied)| {
            if applied == Some(ApplyEnd::Stopped) && !crate::interrupt::is_cancelled() {
                // A source shutting down ends the stream: a lost link.
                return Err(stream_ended());
            }
            Ok((received, applied))
        });
        match result {
            Ok(done) => break done,
            Err(e) if !crate::interrupt::is_cancelled() && reconnect::worth_reconnecting(&e) => {
                // An attempt that applied something made progress: the
                // server came back once, it may again.
                failed_in_a_row = if attempt_counts.0 > 0 {
                    1
                } else {
                    failed_in_a_row + 1
                };
                if failed_in_a_row > reconnect::MAX_ATTEMPTS {
                    return Err(e.context(format!(
                        "gave up after {} attempts to reconnect: run again with --resume",
                        reconnect::MAX_ATTEMPTS
                    )));
                }
                let wait = reconnect::delay(crate::retry::base_delay(), failed_in_a_row);
                tracing::warn!(
                    "{}; reconnecting in {wait:?} (attempt {failed_in_a_row} of {}), from what \
                     is stored and applied",
                    crate::error::Error::classify(&e).message,
                    reconnect::MAX_ATTEMPTS
                );
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = crate::interrupt::cancelled() => return Err(e),
                }
            }
            Err(e) => return Err(e),
        }
    };
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
    if let Some(end) = applied {
        (
            summary.transactions,
            summary.rows,
            summary.skipped,
            summary.missing_rows,
        ) = counts;
        summary.reached_endpos = end == ApplyEnd::Endpos;
    }
    if summary.reached_endpos {
        summary.sequences = Some(sequences::copy(endpoints, &settings.filters).await?);
    }
    Ok(summary)
}

mod sequences;

/// One run of the pipeline, from what is durable: the store reopened (its
/// unfinished tail cut off), the stream started after its last commit, the
/// applier from the target origin's position. The applier's counts come
/// back whatever the outcome.
async fn attempt(
    endpoints: &Endpoints,
    settings: &FollowSettings,
    workdir: &WorkDir,
    recorded: &setup::Recorded,
    mode: Mode,
    t0: f64,
    applied_before: (u64, u64),
) -> (
    Result<(pipeline::ReceiveEnd, Option<ApplyEnd>)>,
    (u64, u64, u64, u64),
) {
    let receiving = mode != Mode::Catchup;
    let applying = mode != Mode::Receive;
    let mut shared = Shared::new(workdir.state.clone(), settings.endpos, recorded.startpos);
    shared.applied_before = applied_before;
    let mut writer = if receiving {
        match StoreWriter::open(
            &workdir.root,
            settings.slot.plugin,
            settings.segment_bytes,
            recorded.startpos,
        ) {
            Ok(w) => Some(w),
            Err(e) => return (Err(e), (0, 0, 0, 0)),
        }
    } else {
        None
    };
    let live = writer.as_ref().map(StoreWriter::subscribe);
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
            return (Ok(None), (0, 0, 0, 0));
        }
        let root = workdir.root.clone();
        let connected = async {
            let sink = wire::connect_applier(&endpoints.target, &recorded.origin).await?;
            let decoder = wire::decoder(&endpoints.source, &settings.slot).await?;
            anyhow::Ok((sink, decoder))
        };
        let (mut sink, mut decoder) = match connected.await {
            Ok(c) => c,
            Err(e) => {
                // The receiver ends too: the attempt is over.
                shared.stop.send_replace(true);
                return (Err(e), (0, 0, 0, 0));
            }
        };
        // Without a consistent copy an UPDATE or DELETE may find no row.
        sink.tolerate_missing_rows(settings.not_consistent);
        let end = pipeline::apply(
            &mut sink,
            |from| StoreReader::open(&root, from, live),
            decoder.as_mut(),
            &shared,
            t0,
        )
        .await;
        let (transactions, rows, skipped) = sink.counts();
        let counts = (transactions, rows, skipped, sink.stats().missing_rows);
        let closed = Apply::close(sink).await;
        let end = end.and_then(|end| closed.map(|()| Some(end)));
        (end, counts)
    };
    let sample = source_position::follow(&endpoints.source, &shared);
    let (received, (applied, counts), ()) = tokio::join!(receive, apply, sample);
    // The applier's failure first: the receiver only stopped because of it.
    let result = applied.and_then(|applied| Ok((received?, applied)));
    let result = result.and_then(|(received, applied)| {
        // Receiving only, the stream may only end at endpos: before it, the
        // source ended it (shutting down), a lost link.
        let short = !applying
            && !crate::interrupt::is_cancelled()
            && shared.endpos()?.is_none_or(|e| *shared.passed.borrow() < e);
        if short {
            return Err(stream_ended());
        }
        Ok((received, applied))
    });
    (result, counts)
}

fn stream_ended() -> anyhow::Error {
    crate::error::Error::new(
        crate::error::Kind::ConnectionLost,
        crate::error::Side::Source,
        "the replication stream ended before endpos",
    )
    .into()
}

/// `stream prune`: delete the segments whose every transaction the target
/// has (the sentinel's replay position); the names of those deleted.
pub fn prune(dir: &Path, dry_run: bool) -> Result<Vec<String>> {
    let replayed = sentinel::get(dir)?.replay_lsn;
    let removed = segments::prune(&segments::cdc_dir(dir), replayed, dry_run)?;
    Ok(removed.iter().map(|p| p.display().to_string()).collect())
}
