//! The slot a run is about to create, written in its work directory before
//! `CREATE_REPLICATION_SLOT` is sent: a run killed between the slot's
//! creation and the moment the state records it would otherwise leave a
//! slot nobody knows to drop (it holds WAL on the source for ever).
//! `stream cleanup` and `--restart` drop the slot (and the publication) an
//! intent names; `follow --resume` adopts it as created by us. pgoutput's
//! publication, made before the slot, is named in the intent before its
//! CREATE too, for the same reason.
//!
//! Only a slot we created: the intent is written after the preflight found
//! no slot of that name, and removed when the server refused the creation
//! (a slot of that name made meanwhile by someone else stays theirs).

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Failure, Kind};
use crate::workdir::contents::SLOT_INTENT_FILE;
use crate::workdir::private::{create_private_dir, write_private_file};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotIntent {
    pub slot_name: String,
    pub plugin: String,
    /// pgoutput's publication, when this run created it (ours to drop).
    pub created_publication: Option<String>,
}

/// Written (durably: a rename after an fsync) before the slot is created.
pub fn record(dir: &Path, intent: &SlotIntent) -> Result<()> {
    create_private_dir(dir)?;
    crate::workdir::contents::refuse_foreign(dir)?;
    write_private_file(&dir.join(SLOT_INTENT_FILE), &serde_json::to_vec(intent)?)
}

pub fn load(dir: &Path) -> Result<Option<SlotIntent>> {
    crate::workdir::private::read_json_record(&dir.join(SLOT_INTENT_FILE))
}

/// Forget it: the state (or `snapshot.slot`) records the slot now, or it
/// was dropped, or never made.
pub fn remove(dir: &Path) -> Result<()> {
    crate::workdir::private::remove_if_present(&dir.join(SLOT_INTENT_FILE))
}

/// Whether a failed creation certainly created nothing: the server
/// answered with a refusal. A link lost while the command ran may have
/// left the slot made; the intent then stays, for cleanup.
pub fn created_nothing(e: &anyhow::Error) -> bool {
    matches!(
        Error::classify(e).kind,
        Kind::CannotConnect
            | Kind::Authentication
            | Kind::PermissionDenied
            | Kind::NoConnectionSlot
            | Kind::Rejected
            | Kind::Conflict
            | Kind::ObjectMissing
            | Kind::Resources
            | Kind::BadArgs
    )
}

/// Create pgoutput's publication with `create`, `intent` (naming it as
/// ours) written first, as for the slot: a run killed right after the
/// CREATE leaves it known to `stream cleanup` and `--restart`. A refused
/// CREATE (one of that name made meanwhile by someone else stays theirs)
/// puts back what the directory said before.
pub async fn create_publication_with_intent(
    dir: &Path,
    intent: &SlotIntent,
    create: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    let before = load(dir)?;
    record_checked(dir, intent)?;
    match create.await {
        Ok(()) => {
            let name = intent.created_publication.as_deref().unwrap_or_default();
            crate::failpoint!("stream-publication-created", name);
            Ok(())
        }
        Err(e) => {
            if created_nothing(&e) {
                match &before {
                    Some(left) => record(dir, left)?,
                    None => remove(dir)?,
                }
            }
            Err(e)
        }
    }
}

/// Create the slot with `create`, `intent` written first; the intent
/// stays until the caller records the slot elsewhere (see [`remove`]).
pub async fn create_with_intent<T>(
    dir: &Path,
    intent: &SlotIntent,
    create: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    record_checked(dir, intent)?;
    match create.await {
        Ok(made) => {
            crate::failpoint!("stream-slot-created", &intent.slot_name);
            Ok(made)
        }
        Err(e) => {
            if created_nothing(&e) {
                remove(dir)?;
            }
            Err(e)
        }
    }
}

/// Write `intent` unless the directory names another slot, which a killed
/// run may have created: replacing it would forget that slot.
fn record_checked(dir: &Path, intent: &SlotIntent) -> Result<()> {
    if let Some(left) = load(dir)?.filter(|left| left.slot_name != intent.slot_name) {
        // Replacing it would forget a slot that may exist.
        return Err(Failure::state(format!(
            "{} names replication slot {:?} that a killed run may have created: run `pgcopydb \
             stream cleanup --dir {}` (or --restart) first",
            dir.display(),
            left.slot_name,
            dir.display()
        ))
        .into());
    }
    record(dir, intent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Side;

    #[test]
    fn written_read_back_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        let intent = SlotIntent {
            slot_name: "pgcopydb".into(),
            plugin: "pgoutput".into(),
            created_publication: Some("pgcopydb".into()),
        };
        record(dir.path(), &intent).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(intent));
        remove(dir.path()).unwrap();
        remove(dir.path()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
    }

    #[test]
    fn an_intent_left_for_another_slot_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let left = SlotIntent {
            slot_name: "killed".into(),
            plugin: "pgoutput".into(),
            created_publication: None,
        };
        record(dir.path(), &left).unwrap();
        let other = SlotIntent {
            slot_name: "other".into(),
            ..left.clone()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let refused = runtime
            .block_on(create_with_intent(dir.path(), &other, async {
                anyhow::Ok(())
            }))
            .unwrap_err();
        assert_eq!(Error::classify(&refused).kind, Kind::BadState);
        assert!(refused.to_string().contains("stream cleanup"), "{refused}");
        assert_eq!(load(dir.path()).unwrap(), Some(left));
    }

    #[test]
    fn only_a_refusal_proves_nothing_was_created() {
        let exists = Error::new(Kind::Rejected, Side::Source, "slot exists");
        let lost = Error::new(Kind::ConnectionLost, Side::Source, "lost");
        let odd = Error::new(Kind::Server, Side::Source, "unexpected reply");
        assert!(created_nothing(&exists.into()));
        assert!(!created_nothing(&lost.into()));
        assert!(!created_nothing(&odd.into()));
    }
}
