//! Creating and dropping logical replication slots, and holding the
//! snapshot a slot exports.

use super::error::{WalSenderError, WalSenderErrorKind};
use super::{parse_lsn, WalSender};
use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;

/// What `CREATE_REPLICATION_SLOT` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotCreated {
    pub slot_name: String,
    /// Changes committed after this position stream; the exported snapshot
    /// sees everything committed before it.
    pub consistent_point: Lsn,
    /// The exported snapshot (`SET TRANSACTION SNAPSHOT '<name>'`,
    /// `pg_dump --snapshot`), when one was asked for.
    pub snapshot_name: Option<String>,
    pub plugin: Plugin,
}

/// PostgreSQL's rule for slot names (`ReplicationSlotValidateName`), checked
/// here so a bad name is one clear line and never reaches a command text.
pub fn validate_slot_name(name: &str) -> Result<(), WalSenderError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(WalSenderError::protocol(format!(
            "invalid replication slot name {name:?}: use 1 to 63 lower case letters, digits and underscores"
        )))
    }
}

impl WalSender {
    /// `CREATE_REPLICATION_SLOT name LOGICAL plugin`, exporting a snapshot
    /// when `export_snapshot`, in the syntax of the server's version.
    ///
    /// The exported snapshot lives only while this connection stays open
    /// and idle: the next command on it (or closing it) ends the snapshot.
    /// To keep it while a copy runs, use
    /// [`WalSender::create_slot_holding_snapshot`].
    ///
    /// Creating a slot waits for the transactions running on the source to
    /// end (the slot needs a consistent starting point).
    pub async fn create_slot(
        &mut self,
        name: &str,
        plugin: Plugin,
        export_snapshot: bool,
    ) -> Result<SlotCreated, WalSenderError> {
        validate_slot_name(name)?;
        let sql = create_slot_command(self.server_version_num(), name, plugin, export_snapshot)?;
        let result = self.simple_query(&sql).await?;
        const CMD: &str = "CREATE_REPLICATION_SLOT";
        let plugin_name = result.first_required("output_plugin", CMD)?;
        Ok(SlotCreated {
            slot_name: result.first_required("slot_name", CMD)?.to_string(),
            consistent_point: parse_lsn(result.first_required("consistent_point", CMD)?, CMD)?,
            snapshot_name: result.first("snapshot_name", CMD)?.map(str::to_string),
            plugin: Plugin::from_name(plugin_name).ok_or_else(|| {
                WalSenderError::protocol(format!("{CMD} returned plugin {plugin_name:?}"))
            })?,
        })
    }

    /// Creates the slot with an exported snapshot and keeps the connection
    /// idle so that the snapshot stays valid until
    /// [`ExportedSnapshot::release`].
    pub async fn create_slot_holding_snapshot(
        mut self,
        name: &str,
        plugin: Plugin,
    ) -> Result<ExportedSnapshot, WalSenderError> {
        let slot = self.create_slot(name, plugin, true).await?;
        ExportedSnapshot::hold(self, slot)
    }

    /// `DROP_REPLICATION_SLOT name [WAIT]`: with `wait`, waits for a
    /// walsender that uses the slot to end instead of failing with SQLSTATE
    /// 55006 (object in use).
    pub async fn drop_slot(&mut self, name: &str, wait: bool) -> Result<(), WalSenderError> {
        validate_slot_name(name)?;
        let wait = if wait { " WAIT" } else { "" };
        self.simple_query(&format!("DROP_REPLICATION_SLOT {name}{wait}"))
            .await?;
        Ok(())
    }
}

/// The command for `version` (server_version_num): PostgreSQL 15 has the
/// option list; 10 to 14 the keywords (which 15 still accepts, but may not
/// forever).
pub(crate) fn create_slot_command(
    version: u32,
    name: &str,
    plugin: Plugin,
    export_snapshot: bool,
) -> Result<String, WalSenderError> {
    let plugin = plugin.name();
    Ok(match version {
        v if v >= 150000 => {
            let snapshot = if export_snapshot { "export" } else { "nothing" };
            format!("CREATE_REPLICATION_SLOT {name} LOGICAL {plugin} (SNAPSHOT '{snapshot}')")
        }
        v if v >= 100000 => {
            let snapshot = if export_snapshot {
                "EXPORT_SNAPSHOT"
            } else {
                "NOEXPORT_SNAPSHOT"
            };
            format!("CREATE_REPLICATION_SLOT {name} LOGICAL {plugin} {snapshot}")
        }
        v => {
            return Err(WalSenderError::protocol(format!(
                "the source runs PostgreSQL {}: logical replication needs PostgreSQL 10 or later",
                v / 10000
            )))
        }
    })
}

/// A slot's exported snapshot, kept valid by keeping the connection that
/// created it open and idle. No command may run on that connection
/// meanwhile (the type owns it so none can); [`ExportedSnapshot::release`]
/// gives the connection back and the snapshot ends at its next command.
///
/// A copy may read under the snapshot for hours: select on
/// [`ExportedSnapshot::lost`] beside it to learn at once if the server ends
/// the connection (and with it the snapshot).
pub struct ExportedSnapshot {
    sender: WalSender,
    slot: SlotCreated,
    snapshot: String,
}

impl ExportedSnapshot {
    /// Holds the snapshot `slot` exported on `sender`.
    pub fn hold(sender: WalSender, slot: SlotCreated) -> Result<ExportedSnapshot, WalSenderError> {
        let snapshot = slot.snapshot_name.clone().ok_or_else(|| {
            WalSenderError::protocol(format!(
                "replication slot \"{}\" was created without exporting a snapshot",
                slot.slot_name
            ))
        })?;
        Ok(ExportedSnapshot {
            sender,
            slot,
            snapshot,
        })
    }

    /// The name to import: `SET TRANSACTION SNAPSHOT '<name>'` in a
    /// REPEATABLE READ transaction, or `pg_dump --snapshot=<name>`.
    pub fn snapshot_name(&self) -> &str {
        &self.snapshot
    }

    pub fn slot(&self) -> &SlotCreated {
        &self.slot
    }

    /// Resolves only when the connection ends (server shutdown, the backend
    /// terminated, the network gone): the snapshot is then lost. Notices are
    /// skipped. Cancel-safe, so it can sit in a `select!` for hours.
    pub async fn lost(&mut self) -> WalSenderError {
        loop {
            match self.sender.frames.read().await {
                Err(e) => return e,
                Ok(frame) if frame.tag == b'E' => {
                    return match super::backend::ServerMessage::parse(frame.body) {
                        Ok(msg) => msg.into_error(self.sender.server()),
                        Err(e) => e,
                    }
                }
                Ok(frame) => {
                    if let Err(e) = self.sender.other_message(frame.tag, frame.body, "idle") {
                        return WalSenderError::new(WalSenderErrorKind::Protocol, e.message());
                    }
                }
            }
        }
    }

    /// Ends the holding: the connection is returned (to start replication on
    /// it, for instance); its next command ends the snapshot.
    pub fn release(self) -> (WalSender, SlotCreated) {
        (self.sender, self.slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_creation_syntax_follows_the_server_version() {
        assert_eq!(
            create_slot_command(150004, "s", Plugin::Pgoutput, true).unwrap(),
            "CREATE_REPLICATION_SLOT s LOGICAL pgoutput (SNAPSHOT 'export')"
        );
        assert_eq!(
            create_slot_command(160000, "s", Plugin::Wal2json, false).unwrap(),
            "CREATE_REPLICATION_SLOT s LOGICAL wal2json (SNAPSHOT 'nothing')"
        );
        assert_eq!(
            create_slot_command(130012, "s", Plugin::TestDecoding, true).unwrap(),
            "CREATE_REPLICATION_SLOT s LOGICAL test_decoding EXPORT_SNAPSHOT"
        );
        assert_eq!(
            create_slot_command(140000, "s", Plugin::TestDecoding, false).unwrap(),
            "CREATE_REPLICATION_SLOT s LOGICAL test_decoding NOEXPORT_SNAPSHOT"
        );
        assert!(create_slot_command(90603, "s", Plugin::TestDecoding, true).is_err());
    }

    #[test]
    fn slot_names_follow_postgres_rules() {
        for good in ["pgcopydb", "a_1", &"x".repeat(63)] {
            assert!(validate_slot_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Upper",
            "with space",
            "semi;colon",
            "dash-ed",
            &"x".repeat(64),
        ] {
            assert!(validate_slot_name(bad).is_err(), "{bad}");
        }
    }
}
