//! The plugin options a stream must be read with for its decoder to be
//! right, and the decoder of each plugin: the follower passes the same
//! pairs to `START_REPLICATION ... LOGICAL <lsn> (name 'value', ...)` and the
//! tests to `pg_logical_slot_peek_binary_changes(slot, NULL, NULL, name,
//! value, ...)`. Why each option is there is said in the plugin's module.

use std::sync::Arc;

use super::pgoutput::PgoutputDecoder;
use super::tables::SourceTables;
use super::test_decoding::TestDecodingDecoder;
use super::wal2json::Wal2jsonDecoder;
use super::{Decoder, Plugin};

/// What the options depend on.
#[derive(Debug, Clone, Default)]
pub struct StreamSettings {
    /// pgoutput's publication.
    pub publication: String,
    /// `--wal2json-numeric-as-string`: needs wal2json 2.6 or later.
    pub wal2json_numeric_as_string: bool,
}

/// pgoutput's `messages` option (logical decoding messages in the stream)
/// exists from PostgreSQL 14 on; an older server refuses to start a stream
/// that asks for it.
const PGOUTPUT_MESSAGES_SINCE: u32 = 140_000;

/// The options for a server of the newest versions, in the order they are
/// sent; values unquoted.
pub fn plugin_options(plugin: Plugin, settings: &StreamSettings) -> Vec<(&'static str, String)> {
    plugin_options_for(plugin, settings, u32::MAX)
}

/// The options a server of `server_version_num` accepts.
pub fn plugin_options_for(
    plugin: Plugin,
    settings: &StreamSettings,
    server_version_num: u32,
) -> Vec<(&'static str, String)> {
    let mut pairs: Vec<(&'static str, String)> = match plugin {
        Plugin::Pgoutput => vec![
            ("proto_version", "1".into()),
            // An identifier list, split on commas: a name that needs it is quoted.
            (
                "publication_names",
                crate::sql::quote_ident(&settings.publication),
            ),
            ("messages", "true".into()),
        ],
        Plugin::TestDecoding => vec![
            ("include-xids", "1".into()),
            ("include-timestamp", "1".into()),
            ("skip-empty-xacts", "1".into()),
        ],
        Plugin::Wal2json => {
            let mut pairs = vec![
                ("format-version", "2".into()),
                ("include-xids", "1".into()),
                ("include-timestamp", "1".into()),
                ("include-lsn", "1".into()),
                ("include-pk", "1".into()),
                ("include-type-oids", "1".into()),
            ];
            if settings.wal2json_numeric_as_string {
                pairs.push(("numeric-data-types-as-string", "1".into()));
            }
            pairs
        }
    };
    if server_version_num < PGOUTPUT_MESSAGES_SINCE {
        pairs.retain(|(k, _)| !(plugin == Plugin::Pgoutput && *k == "messages"));
    }
    pairs
}

/// The decoder of `plugin`'s stream. The text plugins read keys and
/// relation ids from `tables`, loaded with [`SourceTables::load`] before
/// the stream starts.
pub fn decoder(
    plugin: Plugin,
    tables: Arc<SourceTables>,
    settings: &StreamSettings,
) -> Box<dyn Decoder> {
    match plugin {
        Plugin::Pgoutput => Box::new(PgoutputDecoder::new()),
        Plugin::TestDecoding => Box::new(TestDecodingDecoder::new(tables)),
        Plugin::Wal2json => Box::new(Wal2jsonDecoder::new(
            tables,
            settings.wal2json_numeric_as_string,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publication_names_are_quoted_when_needed() {
        assert_eq!(crate::sql::quote_ident("pgcopydb"), "pgcopydb");
        assert_eq!(crate::sql::quote_ident("My Pub"), "\"My Pub\"");
        assert_eq!(crate::sql::quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(crate::sql::quote_ident("1x"), "\"1x\"");
    }

    #[test]
    fn pgoutput_asks_for_messages_only_of_servers_that_have_them() {
        let settings = StreamSettings::default();
        let asks = |version| {
            plugin_options_for(Plugin::Pgoutput, &settings, version)
                .iter()
                .any(|(k, _)| *k == "messages")
        };
        assert!(!asks(130_023));
        assert!(asks(140_000));
        assert!(asks(180_001));
    }

    #[test]
    fn wal2json_numeric_as_string_is_sent_only_when_asked() {
        let mut settings = StreamSettings::default();
        let has = |s: &StreamSettings| {
            plugin_options(Plugin::Wal2json, s)
                .iter()
                .any(|(k, _)| *k == "numeric-data-types-as-string")
        };
        assert!(!has(&settings));
        settings.wal2json_numeric_as_string = true;
        assert!(has(&settings));
    }
}
