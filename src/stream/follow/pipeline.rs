//! The two halves of a follow, run together: the receiver appends what the
//! slot sends to the store (group commit, the slot told "flushed" only for
//! what is fsynced), the applier tails the store, decodes and applies, and
//! stops after the last transaction committed at or before endpos.
//!
//! They talk through watch channels only: the store's written offset (the
//! reader wakes on each write), the position the stream has passed (a
//! keepalive or a commit, for an endpos an idle source never reaches with
//! data), the applier's position (reported to the slot and the sentinel),
//! and a stop signal.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::watch;

use crate::interrupt;
use crate::stream::change::Change;
use crate::stream::decode::{DecodeError, Decoder};
use crate::stream::lsn::Lsn;
use crate::stream::sentinel::{self, FollowStats};
use crate::stream::store::record::Record;
use crate::stream::store::{StoreReader, StoreWriter, SYNC_INTERVAL};
use crate::workdir::state::State;

/// One message of the replication stream.
pub(crate) enum Received {
    Data {
        lsn: Lsn,
        data: Bytes,
    },
    /// The server has sent everything up to `wal_end`.
    Keepalive {
        wal_end: Lsn,
    },
}

/// The replication stream, as the receiver uses it.
pub(crate) trait Receive {
    /// Cancel-safe: dropping the future loses no message.
    fn next(&mut self) -> impl Future<Output = Result<Option<Received>>>;
    /// Record the positions for the next status update.
    fn report(&mut self, written: Lsn, flushed: Lsn, applied: Lsn);
    /// Send a status update with the recorded positions now.
    fn send_status(&mut self) -> impl Future<Output = Result<()>>;
    /// Send the last status update and end the stream.
    fn finish(self) -> impl Future<Output = Result<()>>;
}

/// The target, as the applier uses it.
pub(crate) trait Apply {
    /// The origin's durable position, everything sent so far answered.
    fn progress(&mut self) -> impl Future<Output = Result<Lsn>>;
    fn apply(&mut self, change: Change) -> impl Future<Output = Result<()>>;
    /// Nothing more is stored for now: commit what waits for more (the
    /// applier groups small transactions into one target commit).
    fn idle(&mut self) -> impl Future<Output = Result<()>> {
        std::future::ready(Ok(()))
    }
    /// Between transactions: commit what is grouped and wait for every
    /// answer (never mid-transaction: a COPY waits for the rest of it).
    fn flush(&mut self) -> impl Future<Output = Result<()>> {
        self.idle()
    }
    /// (transactions, rows, skipped) so far.
    fn counts(&self) -> (u64, u64, u64);
    /// Flush, roll back a transaction left open, detach.
    fn close(self) -> impl Future<Output = Result<()>>;
}

/// Messages the receiver appends before letting the applier run.
const YIELD_EVERY: u64 = 64;
/// Messages stored in a row before the receiver looks at its other duties
/// (fsyncs done, the tick, a stop).
const BURST_MESSAGES: usize = 256;

type SyncFuture = Pin<Box<dyn Future<Output = Result<Lsn>> + Send>>;

/// What both halves share.
pub(crate) struct Shared {
    pub state: Arc<State>,
    /// Endpos given on the command line (the sentinel's wins when set).
    pub endpos: Option<Lsn>,
    /// Highest position the stream has passed with nothing left open.
    pub passed: watch::Sender<Lsn>,
    /// The applier's durable position.
    pub applied: watch::Sender<Lsn>,
    /// Set when the follow is to end (endpos applied, or a failure).
    pub stop: watch::Sender<bool>,
    /// The source's current WAL position when last asked (`0/0`: not yet):
    /// what lag is measured from, since the stream only says how far the
    /// walsender has decoded.
    pub source_now: watch::Sender<Lsn>,
    /// Transactions and rows applied by the earlier attempts of this run
    /// (before a reconnect): progress counts the whole run.
    pub applied_before: (u64, u64),
}

impl Shared {
    pub fn new(state: Arc<State>, endpos: Option<Lsn>, start: Lsn) -> Shared {
        Shared {
            state,
            endpos,
            passed: watch::channel(start).0,
            applied: watch::channel(Lsn::INVALID).0,
            stop: watch::channel(false).0,
            source_now: watch::channel(Lsn::INVALID).0,
            applied_before: (0, 0),
        }
    }

    /// The endpos in force: the sentinel's when set, else `--endpos`.
    pub fn endpos(&self) -> Result<Option<Lsn>> {
        let sentinel = sentinel::read(&self.state)?;
        Ok(sentinel.and_then(|s| s.endpos()).or(self.endpos))
    }

    fn apply_enabled(&self) -> Result<bool> {
        Ok(sentinel::read(&self.state)?.is_some_and(|s| s.apply))
    }
}

/// What the receiver ends with.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ReceiveEnd {
    pub written: Lsn,
    pub flushed: Lsn,
    pub syncs: u64,
}

/// Receive until stopped (or, receiving only, until endpos is passed).
pub(crate) async fn receive(
    stream: &mut impl Receive,
    writer: &mut StoreWriter,
    shared: &Shared,
    receive_only: bool,
) -> Result<ReceiveEnd> {
    let mut sync: Option<SyncFuture> = None;
    let mut tick = tokio::time::interval(SYNC_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = shared.stop.subscribe();
    let mut endpos = shared.endpos()?;
    let mut ticks = 0u64;
    let mut received = 0u64;
    // Whoever ends first ends the other.
    let _stop_on_exit = StopOnDrop(&shared.stop);
    let result: Result<()> = async {
        'receiving: loop {
            if *stop.borrow() || interrupt::is_cancelled() {
                break;
            }
            tokio::select! {
                biased;
                _ = stop.changed() => {}
                _ = interrupt::cancelled() => {}
                done = async { match sync.as_mut() { Some(f) => f.await, None => std::future::pending().await } } => {
                    sync = None;
                    let before = writer.durable();
                    writer.synced(done?);
                    crate::failpoint!("stream-stored", &writer.durable().to_string());
                    stream.report(writer.written(), writer.durable(), *shared.applied.borrow());
                    if writer.durable() > before {
                        // Told at once, as pg_recvlogical does after its
                        // fsync: the source need not keep WAL the store has.
                        stream.send_status().await?;
                        crate::failpoint!("stream-flush-reported", &writer.durable().to_string());
                    }
                }
                _ = tick.tick() => {
                    ticks += 1;
                    if !writer.in_transaction() {
                        // Make the stored tail visible to the reader.
                        writer.write_out()?;
                    }
                    if sync.is_none() && writer.sync_due() {
                        sync = Some(Box::pin(writer.start_sync()?));
                    }
                    if ticks % 10 == 0 {
                        endpos = shared.endpos()?;
                        report_positions(shared, writer)?;
                    }
                }
                message = stream.next() => {
                    // The messages the stream already holds are stored in
                    // one go, not one per pass of this select (each pass
                    // registers and drops a waiter on every branch).
                    let mut message = message;
                    let mut burst = 0;
                    loop {
                        match message? {
                            None => {
                                tracing::info!("the source ended the replication stream");
                                break 'receiving;
                            }
                            Some(Received::Data { lsn, data }) => {
                                crate::failpoint!("stream-received", &lsn.to_string());
                                writer.append(lsn, &data)?;
                                if receive_only {
                                    // Nobody reads it live: what counts is to
                                    // stop right after endpos.
                                    writer.publish()?;
                                }
                                if !writer.in_transaction() {
                                    shared.passed.send_if_modified(|p| advance(p, writer.written()));
                                }
                                // The applier runs in the same task (joined):
                                // while the stream has messages buffered this loop
                                // never waits, so it hands over now and then or
                                // the applier would not run until the source idles.
                                received += 1;
                                if received % YIELD_EVERY == 0 {
                                    tokio::task::yield_now().await;
                                }
                            }
                            Some(Received::Keepalive { wal_end }) => {
                                if !writer.in_transaction() {
                                    writer.write_out()?;
                                    shared.passed.send_if_modified(|p| advance(p, wal_end));
                                    if writer.durable() == writer.written() {
                                        // Everything sent before this is stored:
                                        // the WAL up to it holds nothing more for
                                        // us (a transaction still open there
                                        // commits later, and is sent then). A
                                        // source shutting down waits for this.
                                        stream.report(wal_end, wal_end, *shared.applied.borrow());
                                    }
                                }
                            }
                        }
                        if receive_only && endpos.is_some_and(|e| *shared.passed.borrow() >= e) {
                            tracing::info!("received everything up to endpos");
                            break 'receiving;
                        }
                        burst += 1;
                        if burst >= BURST_MESSAGES || *stop.borrow() || interrupt::is_cancelled() {
                            break;
                        }
                        // Cancel-safe (see `Receive::next`): not ready, nothing is lost.
                        match stream.next().now_or_never() {
                            Some(next) => message = next,
                            None => break,
                        }
                    }
                }
                // Last (biased): the stream has nothing ready, so the
                // commits gathered meanwhile go to the reader now, in one
                // write (see `StoreWriter::publish`).
                () = std::future::ready(()), if writer.unpublished() => {
                    writer.publish()?;
                    shared.passed.send_if_modified(|p| advance(p, writer.written()));
                }
            }
        }
        Ok(())
    }
    .await;
    // Whatever happened, what was received is made durable and reported.
    if let Some(f) = sync.take() {
        if let Ok(lsn) = f.await {
            writer.synced(lsn);
        }
    }
    let synced = writer.sync().await;
    stream.report(writer.written(), writer.durable(), *shared.applied.borrow());
    report_positions(shared, writer)?;
    result?;
    synced?;
    Ok(ReceiveEnd {
        written: writer.written(),
        flushed: writer.durable(),
        syncs: writer.syncs(),
    })
}

struct StopOnDrop<'a>(&'a watch::Sender<bool>);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

fn advance(position: &mut Lsn, to: Lsn) -> bool {
    if to > *position {
        *position = to;
        true
    } else {
        false
    }
}

fn report_positions(shared: &Shared, writer: &StoreWriter) -> Result<()> {
    let s = sentinel::read(&shared.state)?.unwrap_or_default();
    let stats = FollowStats {
        source_lsn: *shared.passed.borrow(),
        ..s.stats
    };
    sentinel::report(
        &shared.state,
        writer.written(),
        writer.durable(),
        Lsn::INVALID,
        &stats,
    )
}

/// Why the applier stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ApplyEnd {
    /// The last transaction at or before endpos is applied.
    Endpos,
    /// Everything stored is applied (no writer: catch-up).
    StoreEnd,
    /// Interrupted, or the receiver ended.
    Stopped,
}

/// Apply the store from the target's origin position on, until endpos.
pub(crate) async fn apply(
    sink: &mut impl Apply,
    reader_at: impl FnOnce(Lsn) -> Result<StoreReader>,
    decoder: &mut dyn Decoder,
    shared: &Shared,
    started: f64,
) -> Result<ApplyEnd> {
    let origin = sink.progress().await?;
    shared.applied.send_replace(origin);
    let mut reader = reader_at(origin)?;
    let mut gate = Gate::new(shared.endpos()?);
    // Reads ahead of `reader` to where a transaction held by the gate commits.
    let mut lookahead: Option<StoreReader> = None;
    let mut changes = Vec::new();
    let mut passed = shared.passed.subscribe();
    let mut stop = shared.stop.subscribe();
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut applying = shared.apply_enabled()?;
    if !applying {
        tracing::info!("waiting for `pgcopydb stream sentinel set apply` to apply changes");
    }
    let _stop_on_exit = StopOnDrop(&shared.stop);
    let end = loop {
        // Read, not only awaited: the receiver may have stopped (failed to
        // start its stream) before this subscribed.
        if interrupt::is_cancelled() || *stop.borrow() {
            break ApplyEnd::Stopped;
        }
        let passed_endpos = gate
            .endpos
            .is_some_and(|e| *passed.borrow_and_update() >= e);
        if applying && gate.idle() && passed_endpos && reader.caught_up() {
            // Nothing committed at or before endpos is left to come.
            break ApplyEnd::Endpos;
        }
        let holding = gate.holding();
        tokio::select! {
            biased;
            _ = interrupt::cancelled() => break ApplyEnd::Stopped,
            _ = stop.changed() => break ApplyEnd::Stopped,
            // Before the records: a reader that always has one must not
            // starve the sentinel (endpos, apply) and the progress report.
            _ = tick.tick() => {
                applying = shared.apply_enabled()?;
                gate.endpos = shared.endpos()?;
                // Between transactions only: asking the target mid-way would
                // wait on statements (a COPY) that need the rest of it.
                if gate.idle() {
                    report_apply(shared, sink, started, reader.caught_up(), true).await?;
                }
            }
            // The held transaction's commit, once stored: `reader` waits
            // meanwhile, so nothing of it is read into memory.
            commit = next_commit(lookahead.as_mut()), if applying && holding => {
                let Some(end_lsn) = commit? else {
                    // The store ends inside the transaction (no writer):
                    // it is not all here, nothing of it is applied.
                    break ApplyEnd::StoreEnd;
                };
                match gate.commits_at(end_lsn) {
                    Admit::Apply(batch) => send(sink, batch, end_lsn).await?,
                    Admit::Pass(change) => send_one(sink, change, end_lsn).await?,
                    Admit::Stop => break ApplyEnd::Endpos,
                    Admit::Hold => {}
                }
            }
            record = reader.next(), if applying && !holding => {
                let Some(mut record) = record? else {
                    break ApplyEnd::StoreEnd;
                };
                // The records already stored are applied in one go, not one
                // per pass of this select: each pass registers (and drops) a
                // waiter on every branch's channel, about a tenth of the
                // follower's perf samples when it was per record of a backlog.
                let mut burst = 0;
                let done = loop {
                    if apply_record(record, decoder, &mut changes, &mut gate, sink).await? {
                        break true;
                    }
                    burst += 1;
                    if burst >= BURST_RECORDS
                        || gate.holding()
                        || interrupt::is_cancelled()
                        || *stop.borrow()
                    {
                        break false;
                    }
                    match reader.try_next()? {
                        Some(next) => record = next,
                        None => break false,
                    }
                };
                if done {
                    break ApplyEnd::Endpos;
                }
                if gate.holding() {
                    // Look from here for its commit.
                    match lookahead.as_mut() {
                        Some(ahead) => ahead.move_to(&reader)?,
                        None => lookahead = Some(reader.fork()?),
                    }
                }
                if reader.caught_up() {
                    // The receiver runs in this task: let it store what the
                    // stream already holds before calling the stream idle. In
                    // a backlog the store is then rarely read to its end, so
                    // commit groups fill up instead of closing every few
                    // transactions (each YIELD_EVERY messages).
                    tokio::task::yield_now().await;
                    if reader.caught_up() && gate.idle() {
                        // Nothing else to do: the commit's answer is read
                        // now, so a link lost while idle cannot take the
                        // count of what the target committed with it.
                        sink.flush().await?;
                    } else if reader.caught_up() {
                        sink.idle().await?;
                    }
                }
            }
            _ = passed.changed() => {}
        }
    };
    // The last report always carries the final counts (`list progress`
    // reads them); mid-transaction (a commit straddling endpos was begun) the
    // target is not asked, and the position last read stands.
    let ask_target = gate.idle();
    report_apply(
        shared,
        sink,
        started,
        reader.caught_up() && ask_target,
        ask_target,
    )
    .await?;
    Ok(end)
}

/// Records applied in a row before the applier looks at its other duties
/// (the sentinel, progress, a stop).
const BURST_RECORDS: usize = 512;

/// Decode one stored record and hand what the gate lets through to the
/// target; true when endpos is reached.
async fn apply_record(
    record: Record,
    decoder: &mut dyn Decoder,
    changes: &mut Vec<Change>,
    gate: &mut Gate,
    sink: &mut impl Apply,
) -> Result<bool> {
    changes.clear();
    let lsn = record.lsn;
    // The values are views of the record's bytes (no copy, no allocation
    // each), which live as long as the last of them: a large value is
    // held once, never twice.
    decoder
        .decode_shared(lsn, &record.data, changes)
        .map_err(|e: DecodeError| anyhow::Error::new(e))?;
    drop(record);
    for change in changes.drain(..) {
        match gate.admit(change) {
            Admit::Apply(batch) => send(sink, batch, lsn).await?,
            Admit::Pass(change) => send_one(sink, change, lsn).await?,
            Admit::Hold => {}
            Admit::Stop => return Ok(true),
        }
        if gate.reached {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Hand changes decoded from the record at `lsn` to the target.
async fn send(sink: &mut impl Apply, batch: Vec<Change>, lsn: Lsn) -> Result<()> {
    for change in batch {
        send_one(sink, change, lsn).await?;
    }
    Ok(())
}

#[cfg_attr(not(feature = "failpoints"), allow(unused_variables))]
async fn send_one(sink: &mut impl Apply, change: Change, lsn: Lsn) -> Result<()> {
    #[cfg(feature = "failpoints")]
    let row = matches!(
        change,
        Change::Insert { .. }
            | Change::Update { .. }
            | Change::Delete { .. }
            | Change::Truncate { .. }
    );
    sink.apply(change).await?;
    #[cfg(feature = "failpoints")]
    if row {
        crate::failpoint!("stream-change-sent", &lsn.to_string());
    }
    Ok(())
}

/// The next commit `lookahead` finds (cancel-safe, as the reader is).
async fn next_commit(lookahead: Option<&mut StoreReader>) -> Result<Option<Lsn>> {
    match lookahead {
        Some(ahead) => ahead.next_commit().await,
        None => Ok(None),
    }
}

/// `drained`: the applier is between transactions with nothing stored left
/// to read, so everything the stream has passed is applied (or was nothing
/// to apply), not only up to the origin's position. Without `ask_target`
/// the position last read is reported (the target may be mid-transaction).
async fn report_apply(
    shared: &Shared,
    sink: &mut impl Apply,
    started: f64,
    drained: bool,
    ask_target: bool,
) -> Result<()> {
    // Read with `drained`, before the await lets the receiver move it.
    let passed = *shared.passed.borrow();
    let applied = if ask_target {
        let applied = sink
            .progress()
            .await
            .context("reading the target's origin position")?;
        shared.applied.send_replace(applied);
        applied
    } else {
        *shared.applied.borrow()
    };
    let (transactions, rows, _) = sink.counts();
    let source_now = *shared.source_now.borrow();
    let through = if drained {
        applied.max(passed)
    } else {
        applied
    };
    let stats = FollowStats {
        source_lsn: source_now.max(passed),
        transactions: transactions + shared.applied_before.0,
        rows: rows + shared.applied_before.1,
        started: Some(started),
        updated: None,
        caught_up: caught_up(through, source_now),
        last_caught_up: None,
    };
    sentinel::report(&shared.state, Lsn::INVALID, Lsn::INVALID, applied, &stats)
}

/// Caught up: what is applied reaches the source's current position as
/// last asked — never before the source was asked at all (the stream alone
/// cannot say how far behind the source it is).
fn caught_up(applied_through: Lsn, source_now: Lsn) -> bool {
    source_now != Lsn::INVALID && applied_through >= source_now
}

enum Admit {
    /// The held transaction's start, let through.
    Apply(Vec<Change>),
    /// One change, let through (no allocation per change).
    Pass(Change),
    /// Held until the store says where its transaction commits
    /// ([`Gate::commits_at`]).
    Hold,
    /// This transaction commits after endpos: stop before it.
    Stop,
}

/// Lets through the transactions that commit at or before endpos: those
/// whose commit record ends at or before it (the position every plugin
/// streams the commit at, the one pg_recvlogical's endpos compares with), so
/// a transaction straddling endpos — its commit record included — is left
/// for a later run, whatever the plugin. pgoutput's begin gives the commit
/// record's start, enough to stop early when that is already past endpos;
/// a begin that does not say where it commits (test_decoding's) is held
/// while an endpos is set, with nothing read after it, until the store
/// says where its commit ends ([`StoreReader::next_commit`]): deciding
/// costs no memory, whatever the size of the transaction.
struct Gate {
    endpos: Option<Lsn>,
    /// A begin (and what its record decoded to after it) waiting for
    /// [`Gate::commits_at`].
    held: Option<Vec<Change>>,
    /// Between transactions.
    at_boundary: bool,
    /// The last transaction applied commits at or after endpos.
    reached: bool,
}

impl Gate {
    fn new(endpos: Option<Lsn>) -> Gate {
        Gate {
            endpos,
            held: None,
            at_boundary: true,
            reached: false,
        }
    }

    fn idle(&self) -> bool {
        self.held.is_none() && self.at_boundary
    }

    /// Waiting to be told where the held transaction commits.
    fn holding(&self) -> bool {
        self.held.is_some()
    }

    fn admit(&mut self, change: Change) -> Admit {
        match &change {
            Change::Begin { final_lsn, .. } => {
                match (self.endpos, final_lsn) {
                    // Nothing of it is sent: still between transactions, so
                    // the follow's last progress report is still made.
                    (Some(e), Some(f)) if *f > e => return Admit::Stop,
                    (Some(_), None) => {
                        self.at_boundary = false;
                        self.held = Some(vec![change]);
                        return Admit::Hold;
                    }
                    _ => self.at_boundary = false,
                }
            }
            Change::Commit { end_lsn, .. } => {
                self.at_boundary = true;
                // The end of the commit record, not its start: test_decoding
                // never says where its commit record starts, and one rule
                // for every plugin is the point (see `Gate`).
                if let Some(e) = self.endpos {
                    if *end_lsn > e {
                        self.held = None;
                        return Admit::Stop;
                    }
                    if *end_lsn >= e {
                        self.reached = true;
                    }
                }
                if let Some(mut held) = self.held.take() {
                    held.push(change);
                    return Admit::Apply(held);
                }
            }
            _ => {
                if let Some(held) = self.held.as_mut() {
                    held.push(change);
                    return Admit::Hold;
                }
            }
        }
        Admit::Pass(change)
    }

    /// The held transaction's commit record ends at `end_lsn`: let it
    /// through (its commit is checked again as it comes) or stop before it.
    fn commits_at(&mut self, end_lsn: Lsn) -> Admit {
        let Some(held) = self.held.take() else {
            return Admit::Hold;
        };
        if self.endpos.is_some_and(|e| end_lsn > e) {
            // Nothing of it was sent: the target is between transactions.
            self.at_boundary = true;
            return Admit::Stop;
        }
        Admit::Apply(held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn begin(final_lsn: Option<u64>) -> Change {
        Change::Begin {
            xid: 1,
            final_lsn: final_lsn.map(Lsn),
            commit_time: None,
        }
    }
    fn commit(lsn: u64) -> Change {
        Change::Commit {
            commit_lsn: Some(Lsn(lsn)),
            end_lsn: Lsn(lsn + 8),
            commit_time: None,
        }
    }
    fn message() -> Change {
        Change::Message {
            transactional: true,
            prefix: "p".into(),
            content: Bytes::new(),
        }
    }

    #[test]
    fn transactions_after_endpos_are_not_applied() {
        let mut gate = Gate::new(Some(Lsn(100)));
        assert!(matches!(gate.admit(begin(Some(50))), Admit::Pass(_)));
        assert!(matches!(gate.admit(commit(50)), Admit::Pass(_)));
        assert!(!gate.reached);
        assert!(matches!(gate.admit(begin(Some(150))), Admit::Stop));
        // Nothing of it was sent: the follow's last report is still made.
        assert!(gate.idle());
    }

    #[test]
    fn a_begin_without_its_commit_position_is_held_until_the_store_says_where_it_commits() {
        let mut gate = Gate::new(Some(Lsn(100)));
        assert!(matches!(gate.admit(begin(None)), Admit::Hold));
        assert!(gate.holding() && !gate.idle());
        match gate.commits_at(Lsn(100)) {
            Admit::Apply(batch) => assert_eq!(batch.len(), 1),
            _ => panic!("the transaction commits at endpos"),
        }
        // Its changes then go through one by one, none held.
        assert!(!gate.holding());
        assert!(matches!(gate.admit(message()), Admit::Pass(_)));
        assert!(matches!(gate.admit(commit(92)), Admit::Pass(_)));
        // Its end is at endpos: nothing later can commit before it.
        assert!(gate.reached && gate.idle());
        let mut gate = Gate::new(Some(Lsn(100)));
        gate.admit(begin(None));
        assert!(matches!(gate.commits_at(Lsn(128)), Admit::Stop));
    }

    /// A commit record that starts before endpos and ends after it: the
    /// transaction is not applied, whether its begin said where it commits
    /// (pgoutput) or not (the text plugins).
    #[test]
    fn a_commit_record_straddling_endpos_is_not_applied_by_any_plugin() {
        let mut gate = Gate::new(Some(Lsn(100)));
        gate.admit(begin(Some(96)));
        gate.admit(message());
        assert!(matches!(gate.admit(commit(96)), Admit::Stop));
        assert!(!gate.reached);
        let mut gate = Gate::new(Some(Lsn(100)));
        gate.admit(begin(None));
        assert!(matches!(gate.commits_at(Lsn(104)), Admit::Stop));
        assert!(!gate.reached);
        // Ending exactly at endpos: applied, and nothing later can be.
        let mut gate = Gate::new(Some(Lsn(100)));
        gate.admit(begin(Some(92)));
        assert!(matches!(gate.admit(commit(92)), Admit::Pass(_)));
        assert!(gate.reached);
    }

    #[test]
    fn caught_up_only_at_the_source_position_once_known() {
        assert!(!caught_up(Lsn(100), Lsn::INVALID));
        assert!(!caught_up(Lsn(100), Lsn(101)));
        assert!(caught_up(Lsn(101), Lsn(101)));
    }

    #[test]
    fn without_endpos_everything_goes_through() {
        let mut gate = Gate::new(None);
        for c in [begin(None), message(), commit(10_000)] {
            assert!(matches!(gate.admit(c), Admit::Pass(_)));
        }
        assert!(!gate.reached && gate.idle());
    }
}
