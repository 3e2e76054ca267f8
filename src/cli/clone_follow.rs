//! `pgcopydb clone --follow`: the slot first (its exported snapshot is the
//! one the copy reads), then the clone, then the follow until endpos.

use anyhow::Result;

use super::CloneArgs;
use crate::clone::CloneOptions;
use crate::connections::Endpoints;

use crate::interrupt;
use crate::stream::follow::clone_follow::{
    create_slot_for_copy, drop_unless_recorded, follow_after_copy,
};

pub async fn run(args: CloneArgs) -> Result<()> {
    crate::report::logging::init(args.log.level());
    let endpoints = Endpoints::from_args(&args.conn)?;
    let mut options = CloneOptions::from_args(&args)?;
    let mut settings = super::follow::settings(
        args.dir.as_ref(),
        args.filters.as_ref(),
        &args.cdc,
        (args.restart, args.resume, args.not_consistent),
        args.snapshot.as_ref(),
    )?;
    interrupt::install_handlers();
    let dir = settings.dir.display().to_string();
    if args.restart {
        // The clone empties the directory: drop the slot it records first.
        crate::stream::follow::setup::cleanup(&endpoints, &settings).await?;
    }
    // A resumed clone, or one reading the snapshot of `snapshot --follow`,
    // follows the slot that already exists.
    let slot = if args.resume || args.snapshot.is_some() {
        settings.resume = true;
        None
    } else {
        Some(create_slot_for_copy(&endpoints.source, &settings).await?)
    };
    if let Some(slot) = &slot {
        options.snapshot = Some(slot.snapshot().to_string());
        options.record_at_start = slot.state_entries(&settings);
    }
    let copied = interrupt::unless_interrupted(
        crate::clone::run(&endpoints, &options),
        format!(
            "the slot keeps the changes; continue with `pgcopydb clone --follow --resume \
             --not-consistent --dir {dir}`"
        ),
    )
    .await;
    let (summary, slot) = match (copied, slot) {
        (Ok(summary), slot) => (summary, slot),
        (Err(e), Some(slot)) => {
            if let Err(dropping) = drop_unless_recorded(&endpoints, &settings, slot).await {
                tracing::warn!("{dropping:#}");
            }
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    crate::report::stdout::print(summary.render())?;
    if !summary.failures.is_empty() {
        return Err(crate::error::units_failed(
            &summary.failures,
            format!(
                "{} unit(s) failed, see above; fix the cause and run again with --resume \
                 --not-consistent (changes stay in the slot)",
                summary.failures.len()
            ),
        )
        .into());
    }
    let followed = interrupt::unless_interrupted(
        follow_after_copy(&endpoints, &settings, slot),
        format!(
            "what was received is stored; continue with `pgcopydb follow --resume --dir {dir}`"
        ),
    )
    .await?;
    crate::report::stdout::print(followed.render())?;
    Ok(())
}
