//! The follow's connections to its siblings' work: the walsender
//! (`stream::walsender`), the decoders and the applier (`stream::apply`).
//! Until those land on main, every entry point says so.

use anyhow::{anyhow, Result};

use super::pipeline::{Apply, Receive, Received};
use super::settings::SlotSettings;
use crate::conninfo::ConnInfo;
use crate::stream::change::Change;
use crate::stream::decode::Decoder;
use crate::stream::lsn::Lsn;

fn missing(what: &str) -> anyhow::Error {
    anyhow!("{what} is not available in this build yet")
}

/// A slot just created.
#[derive(Debug, Clone)]
pub struct SlotInfo {
    pub consistent_point: Lsn,
}

/// A slot created with its snapshot exported and held.
pub struct HeldSnapshot {
    pub slot: SlotInfo,
    pub snapshot: String,
}

pub(crate) enum Never {}

impl Receive for Never {
    async fn next(&mut self) -> Result<Option<Received>> {
        match *self {}
    }
    fn report(&mut self, _: Lsn, _: Lsn, _: Lsn) {
        match *self {}
    }
    async fn finish(self) -> Result<()> {
        match self {}
    }
}

impl Apply for Never {
    async fn progress(&mut self) -> Result<Lsn> {
        match *self {}
    }
    async fn apply(&mut self, _: Change) -> Result<()> {
        match *self {}
    }
    fn counts(&self) -> (u64, u64, u64) {
        match *self {}
    }
    async fn close(self) -> Result<()> {
        match self {}
    }
}

/// Checks before anything is written; the position streaming starts from.
pub(crate) async fn preflight(
    _source: &ConnInfo,
    _slot: &SlotSettings,
    _resuming: bool,
    _endpos: Option<Lsn>,
) -> Result<Option<Lsn>> {
    Err(missing("the replication preflight"))
}

pub(crate) async fn create_slot(_source: &ConnInfo, _slot: &SlotSettings) -> Result<SlotInfo> {
    Err(missing("creating a replication slot"))
}

pub(crate) async fn create_slot_holding_snapshot(
    _source: &ConnInfo,
    _slot: &SlotSettings,
) -> Result<HeldSnapshot> {
    Err(missing("creating a replication slot"))
}

pub(crate) async fn drop_slot(_source: &ConnInfo, _name: &str) -> Result<()> {
    Err(missing("dropping a replication slot"))
}

pub(crate) async fn start_stream(
    _source: &ConnInfo,
    _slot: &SlotSettings,
    _from: Lsn,
) -> Result<Never> {
    Err(missing("the replication stream"))
}

pub(crate) async fn connect_applier(_target: &ConnInfo, _origin: &str) -> Result<Never> {
    Err(missing("the applier"))
}

pub(crate) fn decoder(_slot: &SlotSettings) -> Result<Box<dyn Decoder>> {
    Err(missing("the decoder"))
}

pub(crate) async fn setup_origin(_target: &ConnInfo, _name: &str, _start: Lsn) -> Result<()> {
    Err(missing("the replication origin"))
}

pub(crate) async fn drop_origin(_target: &ConnInfo, _name: &str) -> Result<()> {
    Err(missing("the replication origin"))
}
