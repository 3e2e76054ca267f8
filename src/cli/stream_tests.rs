//! Parse-level tests of the change data capture commands and options
//! (`follow`, `clone --follow`, `snapshot --follow`, `stream ...`).

use clap::Parser;

use super::stream::StreamCommand;
use super::stream_sentinel::{SentinelCommand, SentinelSetCommand};
use super::{Cli, Command};
use crate::stream::decode::Plugin;
use crate::stream::lsn::Lsn;

fn parse(args: &[&str]) -> Result<Command, clap::Error> {
    let mut all = vec!["pgcopydb"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).map(|c| c.command)
}

fn ok(args: &[&str]) -> Command {
    parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn follow_takes_every_option_of_the_original() {
    let Command::Follow(a) = ok(&[
        "follow",
        "--source",
        "s",
        "--target",
        "t",
        "--dir",
        "/d",
        "--filters",
        "f.ini",
        "--resume",
        "--not-consistent",
        "--snapshot",
        "00000003-1",
        "--plugin",
        "test_decoding",
        "--wal2json-numeric-as-string",
        "--slot-name",
        "myslot",
        "--create-slot",
        "--origin",
        "myorigin",
        "--endpos",
        "0/16B3748",
        "--publication",
        "mypub",
        "--max-replaydb-size",
        "10MB",
    ]) else {
        panic!("not follow")
    };
    assert!(a.resume && a.not_consistent && a.cdc.create_slot);
    assert_eq!(a.cdc.endpos, Some("0/16B3748".parse().unwrap()));
    assert_eq!(a.cdc.max_replaydb_size, 10 << 20);
    let slot = a.cdc.slot.settings();
    assert_eq!(slot.plugin, Plugin::TestDecoding);
    assert!(slot.wal2json_numeric_as_string);
    assert_eq!(
        (slot.slot_name.as_str(), slot.publication_name()),
        ("myslot", "mypub")
    );
    assert_eq!(a.cdc.origin, "myorigin");
    assert_eq!(a.snapshot.as_deref(), Some("00000003-1"));
}

#[test]
fn defaults_are_the_originals() {
    let Command::Follow(a) = ok(&["follow"]) else {
        panic!("not follow")
    };
    let slot = a.cdc.slot.settings();
    assert_eq!(slot.plugin, Plugin::Pgoutput);
    assert_eq!(slot.slot_name, "pgcopydb");
    assert_eq!(slot.publication_name(), "pgcopydb");
    assert_eq!(a.cdc.origin, "pgcopydb");
    assert_eq!(a.cdc.endpos, None);
    assert_eq!(a.cdc.max_replaydb_size, 1 << 30);
}

#[test]
fn follow_refuses_what_is_not_an_option_value() {
    for bad in [
        &["follow", "--plugin", "decoderbufs"][..],
        &["follow", "--endpos", "16B3748"],
        &["follow", "--restart", "--resume"],
        &["follow", "--max-replaydb-size", "1kB"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn plugin_and_numeric_as_string_have_their_variables() {
    // nextest runs each test in its own process: the variables stay here.
    std::env::set_var("PGCOPYDB_OUTPUT_PLUGIN", "wal2json");
    std::env::set_var("PGCOPYDB_WAL2JSON_NUMERIC_AS_STRING", "on");
    let command = ok(&["follow"]);
    std::env::remove_var("PGCOPYDB_OUTPUT_PLUGIN");
    std::env::remove_var("PGCOPYDB_WAL2JSON_NUMERIC_AS_STRING");
    let Command::Follow(a) = command else {
        panic!("not follow")
    };
    assert_eq!(a.cdc.slot.settings().plugin, Plugin::Wal2json);
    assert!(a.cdc.slot.wal2json_numeric_as_string);
}

#[test]
fn clone_and_snapshot_take_follow() {
    let Command::Clone(a) = ok(&[
        "clone",
        "--follow",
        "--plugin",
        "wal2json",
        "--slot-name",
        "s1",
        "--create-slot",
        "--origin",
        "o1",
        "--endpos",
        "1/0",
        "--publication",
        "p1",
    ]) else {
        panic!("not clone")
    };
    assert!(a.follow && a.cdc.create_slot);
    assert_eq!(a.cdc.endpos, Some(Lsn(1 << 32)));
    assert_eq!(a.cdc.slot.settings().plugin, Plugin::Wal2json);
    let Command::Clone(a) = ok(&["fork"]) else {
        panic!("not clone")
    };
    assert!(!a.follow);
    assert!(parse(&["clone", "--follow", "--all-databases"]).is_err());
    let Command::Snapshot(_) = ok(&[
        "snapshot",
        "--follow",
        "--plugin",
        "test_decoding",
        "--slot-name",
        "s2",
        "--wal2json-numeric-as-string",
    ]) else {
        panic!("not snapshot")
    };
}

#[test]
fn every_stream_command_parses() {
    let common = [
        "--source",
        "s",
        "--target",
        "t",
        "--dir",
        "/d",
        "--slot-name",
        "x",
        "--origin",
        "o",
    ];
    for (name, expect) in [
        ("setup", "Setup"),
        ("cleanup", "Cleanup"),
        ("prefetch", "Prefetch"),
        ("catchup", "Catchup"),
        ("replay", "Replay"),
        ("receive", "Receive"),
        ("apply", "Apply"),
    ] {
        let mut args = vec!["stream", name];
        args.extend_from_slice(&common);
        args.extend_from_slice(&["--endpos", "0/1", "--resume"]);
        let Command::Stream(cmd) = ok(&args) else {
            panic!("not stream")
        };
        assert!(format!("{cmd:?}").starts_with(expect), "{cmd:?}");
    }
    let Command::Stream(StreamCommand::Prune(p)) =
        ok(&["stream", "prune", "--dir", "/d", "--dry-run"])
    else {
        panic!("not prune")
    };
    assert!(p.dry_run);
}

#[test]
fn sentinel_commands_parse_as_the_originals() {
    let sentinel = |args: &[&str]| {
        let mut all = vec!["stream", "sentinel"];
        all.extend_from_slice(args);
        match ok(&all) {
            Command::Stream(StreamCommand::Sentinel(cmd)) => cmd,
            other => panic!("{other:?}"),
        }
    };
    let SentinelCommand::Setup(s) = sentinel(&["setup", "0/10", "0/20"]) else {
        panic!("not setup")
    };
    assert_eq!((s.startpos, s.endpos), (Lsn(0x10), Lsn(0x20)));
    let SentinelCommand::Get(g) = sentinel(&["get", "--json"]) else {
        panic!("not get")
    };
    assert!(g.json);
    let SentinelCommand::Get(g) = sentinel(&["get", "--replay-lsn"]) else {
        panic!("not get")
    };
    assert!(g.replay_lsn);
    assert!(parse(&["stream", "sentinel", "get", "--endpos", "--apply"]).is_err());
    let SentinelCommand::Set(SentinelSetCommand::Endpos(e)) = sentinel(&["set", "endpos", "0/30"])
    else {
        panic!("not set endpos")
    };
    assert_eq!(e.lsn, Some(Lsn(0x30)));
    let SentinelCommand::Set(SentinelSetCommand::Endpos(e)) =
        sentinel(&["set", "endpos", "--current", "--source", "postgres://x"])
    else {
        panic!("not set endpos")
    };
    assert!(e.current && e.lsn.is_none());
    // One of an LSN and --current; --current reads the source.
    assert!(parse(&["stream", "sentinel", "set", "endpos"]).is_err());
    assert!(parse(&[
        "stream",
        "sentinel",
        "set",
        "endpos",
        "0/1",
        "--current",
        "--source",
        "s"
    ])
    .is_err());
    assert!(matches!(
        sentinel(&["set", "startpos", "0/5"]),
        SentinelCommand::Set(SentinelSetCommand::Startpos(_))
    ));
    assert!(matches!(
        sentinel(&["set", "apply"]),
        SentinelCommand::Set(SentinelSetCommand::Apply(_))
    ));
    assert!(matches!(
        sentinel(&["set", "prefetch", "--dir", "/d"]),
        SentinelCommand::Set(SentinelSetCommand::Prefetch(_))
    ));
}

#[test]
fn follow_settings_carry_the_options() {
    let Command::Follow(a) = ok(&[
        "follow",
        "--dir",
        "/w",
        "--slot-name",
        "s",
        "--endpos",
        "0/9",
        "--restart",
        "--max-replaydb-size",
        "1MB",
    ]) else {
        panic!("not follow")
    };
    let s = a.settings().unwrap();
    assert_eq!(s.dir, std::path::PathBuf::from("/w"));
    assert_eq!(s.slot.slot_name, "s");
    assert_eq!(s.endpos, Some(Lsn(9)));
    assert!(s.restart && !s.resume);
    assert_eq!(s.segment_bytes, 1 << 20);
}

/// The original's follow-coordinator endpoint (`--host`/`--port`, on the
/// follow process and on the sentinel and prune commands) and
/// `--replay-no-op-updates` parse: its scripts pass them.
#[test]
fn the_originals_coordinator_and_replay_options_parse() {
    let endpoint = ["--host", "0.0.0.0", "--port", "5442"];
    for command in [
        &["follow", "--replay-no-op-updates"][..],
        &["clone", "--follow", "--plugin", "pgoutput"],
        &["stream", "replay"],
        &[
            "stream",
            "catchup",
            "--resume",
            "--endpos",
            "0/1",
            "--replay-no-op-updates",
        ],
        &["stream", "sentinel", "get", "--endpos"],
        &["stream", "sentinel", "get", "--flush-lsn"],
        &[
            "stream",
            "sentinel",
            "set",
            "endpos",
            "--current",
            "--source",
            "s",
        ],
        &["stream", "sentinel", "set", "endpos", "0/5"],
        &["stream", "sentinel", "set", "apply"],
        &["stream", "sentinel", "set", "prefetch"],
        &["stream", "prune", "--dry-run"],
    ] {
        let args: Vec<&str> = command.iter().chain(&endpoint).copied().collect();
        ok(&args);
    }
}
