//! Compatibility with scripts written for the original pgcopydb: its
//! documented invocations (written anew here) against real servers.

use crate::support;

use std::process::{Command, Stdio};

use crate::support::{pgcopydb, shared_source_and_target, source_and_target, workdir};

const DB: &str = "compat";

const FIXTURE: &str = r#"
CREATE TABLE public.items (id int PRIMARY KEY, name text);
CREATE INDEX items_name_idx ON public.items (name);
CREATE SEQUENCE public.ticket START 7;
INSERT INTO public.items SELECT i, 'item ' || i FROM generate_series(1, 500) i;
"#;

/// Run `cmd` with its stdout a pipe whose reader is gone before the first
/// write (`| head -c0`, the limit of `| head -1`): the command must neither
/// panic nor fail because of it, and ends with the status it would have had.
fn with_reader_gone(mut cmd: Command, what: &str) {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pgcopydb");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait for pgcopydb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{what}: {stderr}"
    );
    assert_eq!(out.status.code(), Some(0), "{what}: {stderr}");
}

fn cmd(args: &[&str]) -> Command {
    let mut c = pgcopydb();
    c.args(args);
    c
}

#[test]
fn every_printing_command_survives_a_reader_that_goes_away() {
    let (src, tgt) = shared_source_and_target(DB);
    src.psql(DB, FIXTURE);
    let dir = workdir();
    let d = dir.path().to_str().expect("utf-8 path");
    let (s, t) = (src.uri(DB), tgt.uri(DB));

    // clone prints its summary on stdout.
    let mut clone = cmd(&["clone", "--source", &s, "--target", &t, "--dir", d]);
    clone.arg("--verify");
    with_reader_gone(clone, "clone");

    with_reader_gone(cmd(&["version"]), "version");
    with_reader_gone(cmd(&["version", "--json"]), "version --json");
    with_reader_gone(cmd(&["ping", "--source", &s, "--target", &t]), "ping");
    for what in [
        "databases",
        "extensions",
        "collations",
        "tables",
        "sequences",
        "indexes",
        "depends",
        "schema",
    ] {
        for json in [false, true] {
            let mut c = cmd(&["list", what, "--source", &s]);
            if json {
                c.arg("--json");
            }
            with_reader_gone(c, &format!("list {what} json={json}"));
        }
    }
    let parts = cmd(&[
        "list",
        "table-parts",
        "--source",
        &s,
        "--split-tables-larger-than",
        "8kB",
    ]);
    with_reader_gone(parts, "list table-parts");
    for extra in [
        &[][..],
        &["--json"],
        &["--summary"],
        &["--summary", "--json"],
    ] {
        let mut c = cmd(&["list", "progress", "--dir", d]);
        c.args(extra);
        with_reader_gone(c, &format!("list progress {extra:?}"));
    }
    for what in ["schema", "data"] {
        for json in [false, true] {
            let mut c = cmd(&["compare", what, "--source", &s, "--target", &t]);
            if json {
                c.arg("--json");
            }
            with_reader_gone(c, &format!("compare {what} json={json}"));
        }
    }

    // The step commands print their summary; parse-list prints the lists.
    let steps = workdir();
    let sd = steps.path().to_str().expect("utf-8 path");
    with_reader_gone(
        cmd(&["dump", "schema", "--source", &s, "--dir", sd]),
        "dump schema",
    );
    with_reader_gone(
        cmd(&[
            "restore",
            "parse-list",
            "--source",
            &s,
            "--target",
            &t,
            "--dir",
            sd,
        ]),
        "restore parse-list",
    );
}

/// Run `args` and fail the test unless it succeeds; its stdout.
fn accepted(args: &[&str]) -> String {
    let out = cmd(args).output().expect("run pgcopydb");
    assert!(
        out.status.success(),
        "{args:?} ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_original_options_and_short_letters_are_accepted() {
    let (src, tgt) = shared_source_and_target(DB);
    src.psql(DB, FIXTURE);
    let (s, t) = (src.uri(DB), tgt.uri(DB));
    let dir = workdir();
    let d = dir.path().to_str().expect("utf-8 path");

    // Short letters of the original, on clone and on the listings.
    accepted(&["clone", "-S", &s, "-T", &t, "-D", d, "-J", "2", "-I", "2"]);
    accepted(&["list", "tables", "-S", &s, "-J", "-D", d]);
    accepted(&["list", "progress", "-D", d, "-J", "-y", "-S", &s]);
    // --dir on the listings of the source; list schema's cache options.
    for what in [
        "databases",
        "extensions",
        "collations",
        "sequences",
        "indexes",
        "depends",
    ] {
        accepted(&["list", what, "--source", &s, "--dir", d]);
    }
    accepted(&[
        "list",
        "schema",
        "--source",
        &s,
        "--force",
        "--not-consistent",
    ]);
    accepted(&[
        "list",
        "schema",
        "--source",
        &s,
        "--split-at",
        "10MB",
        "--json",
    ]);
    // The common options on the one-shot commands.
    let roles = workdir();
    let r = roles.path().to_str().expect("utf-8 path");
    accepted(&[
        "dump",
        "roles",
        "-S",
        &s,
        "-D",
        r,
        "--resume",
        "--not-consistent",
    ]);
    accepted(&["restore", "roles", "-T", &t, "-D", r, "--restore-jobs", "4"]);
    accepted(&[
        "copy",
        "roles",
        "-S",
        &s,
        "-T",
        &t,
        "--restart",
        "--snapshot",
        "x",
    ]);
    accepted(&[
        "copy",
        "extensions",
        "-S",
        &s,
        "-T",
        &t,
        "-D",
        d,
        "--resume",
    ]);
    accepted(&["compare", "schema", "-S", &s, "-T", &t, "--jobs", "2", "-J"]);
    accepted(&["compare", "data", "-S", &s, "-T", &t, "-j", "2"]);
}

/// The original's documented split: `dump schema` knows only the source;
/// `restore pre-data`, `parse-list` and `post-data` know only the target, and
/// one dump restores into several targets, none taken for a resume of another.
#[test]
fn one_schema_dump_restores_into_several_targets_without_the_source() {
    let (src, tgt) = shared_source_and_target(DB);
    src.psql(DB, FIXTURE);
    tgt.create_db("second");
    let dir = workdir();
    let d = dir.path().to_str().expect("utf-8 path");
    accepted(&["dump", "schema", "--source", &src.uri(DB), "--dir", d]);
    for db in [DB, "second"] {
        let t = tgt.uri(db);
        accepted(&["restore", "pre-data", "--target", &t, "--dir", d]);
        let tables = tgt.psql(
            db,
            "SELECT count(*) FROM pg_tables WHERE tablename = 'items'",
        );
        assert_eq!(tables.trim(), "1", "items restored into {db}");
        let lists = accepted(&["restore", "parse-list", "--target", &t, "--dir", d]);
        assert!(lists.contains("items_name_idx"), "{lists}");
        accepted(&["restore", "post-data", "--target", &t, "--dir", d]);
        let indexes = tgt.psql(
            db,
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'items'",
        );
        assert_eq!(indexes.trim(), "2", "items' indexes restored into {db}");
    }
    // Back to the first target: a new restore there, not a resume of it,
    // so its existing tables are refused before anything is written.
    let out = cmd(&["restore", "pre-data", "--target", &tgt.uri(DB), "--dir", d])
        .output()
        .expect("run pgcopydb");
    support::assert_fails(&out, 7, "items");
    // The dump's own database is no target, even with --drop-if-exists.
    let s = src.uri(DB);
    let out = cmd(&["restore", "pre-data", "--target", &s, "--dir", d])
        .arg("--drop-if-exists")
        .output()
        .expect("run pgcopydb");
    support::assert_fails(&out, 7, "dumped from");
    let kept = src.psql(DB, "SELECT count(*) FROM public.items");
    assert_eq!(kept.trim(), "500");
}

/// `list extensions --requirements --json` writes the pins file that
/// `--requirements FILE` of clone and copy extensions reads; a pinned version
/// is the one created on the target.
#[test]
fn extension_requirements_pin_the_version_created_on_the_target() {
    let (src, tgt) = shared_source_and_target(DB);
    src.psql(DB, "CREATE EXTENSION hstore;");
    tgt.create_db("copied");
    let (s, t) = (src.uri(DB), tgt.uri(DB));

    let listed: serde_json::Value = serde_json::from_str(&accepted(&[
        "list",
        "extensions",
        "--requirements",
        "--json",
        "--source",
        &t,
    ]))
    .expect("requirements JSON");
    let hstore = listed
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "hstore"))
        .expect("hstore listed");
    assert!(hstore["version"].is_string(), "{hstore}");

    let dir = workdir();
    let pins = dir.path().join("requirements.json");
    std::fs::write(&pins, r#"[{"name": "hstore", "version": "1.7"}]"#).expect("write pins");
    let p = pins.to_str().expect("utf-8 path");
    let work = dir.path().join("work");
    let w = work.to_str().expect("utf-8 path");
    accepted(&["clone", "-S", &s, "-T", &t, "-D", w, "--requirements", p]);
    let version = tgt.psql(
        DB,
        "SELECT extversion FROM pg_extension WHERE extname = 'hstore'",
    );
    assert_eq!(version.trim(), "1.7");

    accepted(&[
        "copy",
        "extensions",
        "-S",
        &s,
        "-T",
        &tgt.uri("copied"),
        "--requirements",
        p,
    ]);
    let version = tgt.psql(
        "copied",
        "SELECT extversion FROM pg_extension WHERE extname = 'hstore'",
    );
    assert_eq!(version.trim(), "1.7");

    // A pin the target cannot install is refused, naming it.
    tgt.create_db("third");
    std::fs::write(&pins, r#"[{"name": "hstore", "version": "9.9"}]"#).expect("write pins");
    let out = cmd(&[
        "copy",
        "extensions",
        "-S",
        &s,
        "-T",
        &tgt.uri("third"),
        "--requirements",
        p,
    ])
    .output()
    .expect("run pgcopydb");
    support::assert_fails(&out, 7, "9.9");
}

#[test]
fn version_names_the_original_version_it_follows() {
    assert!(accepted(&["version"]).contains("original pgcopydb 0.18"));
    let doc: serde_json::Value =
        serde_json::from_str(&accepted(&["version", "--json"])).expect("version JSON");
    assert!(doc["pgcopydb"].is_string(), "{doc}");
    assert_eq!(doc["compatible_with"], "0.18");
    // The original's keys, for the PostgreSQL client tools found (the tests
    // have 15's).
    assert!(
        doc["pg_major"]
            .as_str()
            .is_some_and(|m| m.parse::<u32>().is_ok_and(|m| m >= 15)),
        "{doc}"
    );
    for key in ["pg_version", "pg_version_str"] {
        assert!(doc[key].is_string(), "{key}: {doc}");
    }
    assert!(doc["pg_version_num"].as_u64() >= Some(150000), "{doc}");
}

/// The original's log variables: JSON lines on stderr, a log file (in JSON
/// or not), a strftime time format.
#[test]
fn the_original_log_variables_shape_the_log() {
    let (src, _tgt) = shared_source_and_target(DB);
    src.psql(DB, FIXTURE);
    let dir = workdir();
    let file = dir.path().join("pgcopydb.log");
    let dump = |work: &str| {
        let mut c = cmd(&["dump", "schema", "--source", &src.uri(DB), "--dir"]);
        c.arg(dir.path().join(work));
        c
    };
    let out = dump("one")
        .env("PGCOPYDB_LOG_JSON", "on")
        .env("PGCOPYDB_LOG_FILENAME", &file)
        .output()
        .expect("run pgcopydb");
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "some log lines expected");
    for line in &lines {
        let doc: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        for key in [
            "timestamp",
            "pid",
            "error_severity",
            "file_name",
            "file_line_num",
            "message",
        ] {
            assert!(doc.get(key).is_some(), "{key} missing in {line}");
        }
    }
    // The file has the same lines, in text (PGCOPYDB_LOG_JSON_FILE unset).
    let logged = std::fs::read_to_string(&file).expect("log file written");
    assert_eq!(logged.lines().count(), lines.len(), "{logged}");
    assert!(!logged.starts_with('{'), "{logged}");
    assert!(!logged.contains(support::Cluster::PASSWORD));

    let out = dump("two")
        .env("PGCOPYDB_LOG_TIME_FORMAT", "at-%Y")
        .env("PGCOPYDB_LOG_FILENAME", &file)
        .env("PGCOPYDB_LOG_JSON_FILE", "yes")
        .output()
        .expect("run pgcopydb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().all(|l| l.starts_with("at-20")), "{stderr}");
    let logged = std::fs::read_to_string(&file).expect("log file written");
    assert!(logged.lines().all(|l| l.starts_with('{')), "{logged}");
}

/// `--schema-name` / `--table-name` point `list table-parts`, `list indexes`
/// and `list depends` at one table.
#[test]
fn schema_and_table_name_select_one_table() {
    let (src, _tgt) = shared_source_and_target(DB);
    src.psql(
        DB,
        "CREATE TABLE public.other (id int PRIMARY KEY, filler text);
         INSERT INTO public.other SELECT i, repeat('x', 200) FROM generate_series(1, 2000) i;",
    );
    src.psql(DB, FIXTURE);
    src.psql(DB, "VACUUM ANALYZE");
    let s = src.uri(DB);
    let names = ["-s", "public", "--table-name", "items"];
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--source", &s, "--json"]);
        all.extend(names);
        serde_json::from_str(&accepted(&all)).expect("listing JSON")
    };
    let indexes = json(&["list", "indexes"]);
    let tables: Vec<&serde_json::Value> = indexes
        .as_array()
        .expect("array")
        .iter()
        .map(|i| &i["table_name"])
        .collect();
    assert!(
        !tables.is_empty() && tables.iter().all(|t| *t == "items"),
        "{indexes}"
    );
    let parts = json(&["list", "table-parts", "--split-at", "8kB"]);
    let parts = parts.as_array().expect("array");
    assert!(
        !parts.is_empty() && parts.iter().all(|p| p["name"] == "items"),
        "{parts:?}"
    );
    let deps = json(&["list", "depends"]);
    let deps = deps.as_array().expect("array");
    assert!(deps.iter().all(|d| d["name"] == "items"), "{deps:?}");
}

/// `compare schema --all-databases` compares every database of the instance.
#[test]
fn compare_schema_of_every_database() {
    // --all-databases: the whole instance, so servers of its own.
    let (src, tgt) = source_and_target(DB);
    src.psql(DB, FIXTURE);
    src.create_db("other");
    src.psql("other", "CREATE TABLE t (id int PRIMARY KEY);");
    let dir = workdir();
    let out = support::clone_all_databases(&src, &tgt, dir.path())
        .output()
        .expect("run pgcopydb");
    support::assert_success(&out, "clone --all-databases");
    let (s, t) = (src.uri("postgres"), tgt.uri("postgres"));
    let doc: serde_json::Value = serde_json::from_str(&accepted(&[
        "compare",
        "schema",
        "--all-databases",
        "-S",
        &s,
        "-T",
        &t,
        "--json",
    ]))
    .expect("comparison JSON");
    let names: Vec<&str> = doc["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .filter_map(|d| d["database"].as_str())
        .collect();
    assert!(names.contains(&DB) && names.contains(&"other"), "{doc}");
    // compare data: the original's one array of tables, each with its database.
    let doc: serde_json::Value = serde_json::from_str(&accepted(&[
        "compare", "data", "-a", "-S", &s, "-T", &t, "--json",
    ]))
    .expect("comparison JSON");
    let tables: Vec<(&str, &str)> = doc
        .as_array()
        .expect("an array")
        .iter()
        .filter(|i| i["kind"] == "table")
        .filter_map(|i| Some((i["database"].as_str()?, i["name"].as_str()?)))
        .collect();
    assert!(
        tables.contains(&(DB, "items")) && tables.contains(&("other", "t")),
        "{doc}"
    );

    tgt.psql("other", "ALTER TABLE t ADD COLUMN extra int;");
    let out = cmd(&["compare", "schema", "-a", "-S", &s, "-T", &t])
        .output()
        .expect("run pgcopydb");
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--list-skipped` on `list sequences`, `indexes` and `depends`: what the
/// filters leave out, and nothing of what they keep.
#[test]
fn list_skipped_shows_what_the_filters_leave_out() {
    let (src, _tgt) = shared_source_and_target(DB);
    src.psql(DB, FIXTURE);
    src.psql(
        DB,
        "CREATE SCHEMA hidden;
         CREATE TABLE hidden.notes (id serial PRIMARY KEY, body text);",
    );
    let dir = workdir();
    let filters = dir.path().join("filters.ini");
    std::fs::write(&filters, "[exclude-schema]\nhidden\n").expect("write filters");
    let f = filters.to_str().expect("utf-8 path");
    let s = src.uri(DB);
    let names = |what: &str, skipped: bool, key: &str| -> Vec<String> {
        let mut args = vec!["list", what, "--source", &s, "--filters", f, "--json"];
        if skipped {
            args.push("--list-skipped");
        }
        let doc: serde_json::Value = serde_json::from_str(&accepted(&args)).expect("listing JSON");
        doc.as_array()
            .expect("array")
            .iter()
            .filter_map(|r| r[key].as_str().map(str::to_string))
            .collect()
    };
    assert_eq!(names("sequences", true, "name"), ["notes_id_seq"]);
    assert_eq!(names("sequences", false, "name"), ["ticket"]);
    assert_eq!(names("indexes", true, "name"), ["notes_pkey"]);
    assert!(!names("indexes", false, "name").contains(&"notes_pkey".to_string()));
    assert_eq!(names("depends", true, "name"), ["notes"]);
    assert_eq!(names("depends", false, "name"), ["items"]);
}

/// Each of `keys` (`a.b` for nesting, `a[].b` for every item of an array,
/// which must not be empty; `[].b` when `doc` is the array) is in `doc`.
fn assert_keys(doc: &serde_json::Value, keys: &[&str], what: &str) {
    fn has(v: &serde_json::Value, path: &[&str]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return true;
        };
        match first.strip_suffix("[]") {
            Some(array) => (if array.is_empty() { v } else { &v[array] })
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(|i| has(i, rest))),
            None => v.get(*first).is_some_and(|i| has(i, rest)),
        }
    }
    for key in keys {
        let path: Vec<&str> = key.split('.').collect();
        assert!(has(doc, &path), "{what}: no {key} in {doc:#}");
    }
}

fn json_of(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&accepted(args)).expect("JSON output")
}

/// The JSON documents scripts written for the original parse carry its keys
/// (ours may add others): the run's summary, progress, and the listings.
#[test]
fn json_outputs_carry_the_original_keys() {
    let (src, tgt) = shared_source_and_target(DB);
    src.psql(DB, FIXTURE);
    src.psql(DB, "CREATE EXTENSION hstore;");
    let (s, t) = (src.uri(DB), tgt.uri(DB));
    let dir = workdir();
    let d = dir.path().to_str().expect("utf-8 path");
    accepted(&["clone", "--source", &s, "--target", &t, "--dir", d]);

    let summary_keys = [
        "setup.table-jobs",
        "setup.index-jobs",
        "steps[].label",
        "steps[].conn",
        "steps[].duration",
        "steps[].duration_pretty",
        "steps[].concurrency",
        "tables[].oid",
        "tables[].schema",
        "tables[].name",
        "tables[].duration",
        "tables[].network.bytes",
        "tables[].network.bytes-pretty",
        "tables[].network.transmit-rate",
        "tables[].index.count",
        "tables[].index.duration",
        "tables[].indexes[].oid",
        "tables[].indexes[].schema",
        "tables[].indexes[].name",
        "tables[].indexes[].sql",
        "tables[].indexes[].ms",
        "tables[].constraints[].oid",
        "tables[].constraints[].schema",
        "tables[].constraints[].name",
        "tables[].constraints[].sql",
        "tables[].constraints[].ms",
    ];
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).expect("summary"))
            .expect("summary.json");
    assert_keys(&saved, &summary_keys, "summary.json");
    let printed = json_of(&["list", "progress", "--summary", "--json", "--dir", d]);
    assert_keys(&printed, &summary_keys, "list progress --summary --json");
    let items = &saved["tables"][0];
    // Sizes read as the server's pg_size_pretty, rates in the original's
    // bits per second.
    let bytes = items["network"]["bytes"].as_i64().expect("network.bytes");
    let server = src.psql(DB, &format!("SELECT pg_size_pretty({bytes}::bigint)"));
    assert_eq!(
        items["network"]["bytes-pretty"],
        server.as_str(),
        "{items:#}"
    );
    let rate = items["network"]["transmit-rate"].as_str().unwrap_or("");
    let bit_rate = |r: &str| {
        r.split_once(' ').is_some_and(|(n, unit)| {
            n.parse::<u64>().is_ok()
                && ["Bit/s", "kBit/s", "MBit/s", "GBit/s", "B/s"].contains(&unit)
        })
    };
    assert!(bit_rate(rate), "transmit-rate {rate:?}");
    let built: Vec<&str> = items["indexes"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(built.len(), 2, "{items:#}");
    assert!(built.contains(&"items_name_idx"), "{items:#}");
    assert_eq!(items["constraints"][0]["name"], "items_pkey", "{items:#}");
    assert!(
        items["constraints"][0]["sql"]
            .as_str()
            .is_some_and(|sql| sql.contains("PRIMARY KEY USING INDEX items_pkey")),
        "{items:#}"
    );

    let progress = json_of(&["list", "progress", "--json", "--dir", d]);
    assert_keys(
        &progress,
        &[
            "table-jobs",
            "index-jobs",
            "tables.total",
            "tables.done",
            "tables.in-progress",
            "indexes.total",
            "indexes.done",
            "indexes.in-progress",
        ],
        "list progress --json",
    );
    assert_eq!(progress["tables"]["total"], 1, "{progress:#}");
    assert_eq!(progress["tables"]["done"], 1, "{progress:#}");
    assert_eq!(progress["indexes"]["total"], 2, "{progress:#}");
    // The original's text: counts per kind first.
    let text = accepted(&["list", "progress", "--dir", d]);
    let counts: Vec<Vec<String>> = text.lines().take(5).map(header).collect();
    assert_eq!(counts[0], ["Total Count", "In Progress", "Done"], "{text}");
    assert_eq!(counts[2], ["Tables", "1", "0", "1"], "{text}");
    assert_eq!(counts[3], ["Indexes", "2", "0", "2"], "{text}");
    assert_eq!(counts[4][0], "Bytes", "{text}");

    let schema = json_of(&["list", "schema", "--source", &s, "--split-at", "8kB"]);
    assert_keys(
        &schema,
        &[
            "setup.snapshot",
            "setup.source_pguri",
            "setup.target_pguri",
            "setup.table-jobs",
            "setup.index-jobs",
            "setup.split-tables-larger-than",
            "tables[].oid",
            "tables[].schema",
            "tables[].name",
            "tables[].qname",
            "tables[].reltuples",
            "tables[].bytes",
            "tables[].bytes-pretty",
            "tables[].exclude-data",
            "tables[].part-key",
            "tables[].restore-list-name",
            "tables[].parts[].number",
            "tables[].parts[].total",
            "tables[].parts[].min",
            "tables[].parts[].max",
            "tables[].parts[].count",
            "indexes[].oid",
            "indexes[].schema",
            "indexes[].name",
            "indexes[].qname",
            "indexes[].isPrimary",
            "indexes[].isUnique",
            "indexes[].columns",
            "indexes[].sql",
            "indexes[].restore-list-name",
            "indexes[].table.oid",
            "indexes[].table.schema",
            "indexes[].table.name",
            "sequences[].oid",
            "sequences[].schema",
            "sequences[].name",
            "sequences[].last-value",
            "sequences[].is-called",
            "sequences[].restore-list-name",
        ],
        "list schema --json",
    );
    let index = |name: &str| {
        schema["indexes"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} listed: {schema:#}"))
    };
    let by_name = index("items_name_idx");
    assert_eq!(by_name["columns"], "name", "{by_name:#}");
    // pg_restore --list names it "schema name owner"; an index behind a
    // constraint has no entry of its own there.
    let restore_name = by_name["restore-list-name"].as_str().unwrap_or_default();
    assert!(
        restore_name.starts_with("public items_name_idx "),
        "{by_name:#}"
    );
    assert_eq!(index("items_pkey")["restore-list-name"], "", "{schema:#}");
    let items = &schema["tables"][0];
    assert_eq!(items["part-key"], "id", "{items:#}");
    let parts = items["parts"].as_array().cloned().unwrap_or_default();
    assert!(parts.len() > 1, "{items:#}");
    assert_eq!(parts[0]["min"], 1, "{items:#}");
    assert_eq!(parts[0]["total"], parts.len(), "{items:#}");
    // Inclusive bounds: count is the span, -1 where the last part is open.
    let first = (&parts[0]["min"], &parts[0]["max"], &parts[0]["count"]);
    let span = first.1.as_i64().unwrap_or_default() - first.0.as_i64().unwrap_or_default() + 1;
    assert_eq!(first.2.as_i64(), Some(span), "{items:#}");
    assert_eq!(parts[parts.len() - 1]["count"], -1, "{items:#}");
    let pkey = schema["indexes"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["name"] == "items_pkey"))
        .expect("items_pkey listed");
    assert_keys(
        pkey,
        &["constraint.oid", "constraint.name", "constraint.sql"],
        "list schema --json, a primary key",
    );
    assert_eq!(pkey["isPrimary"], true);

    let extensions = json_of(&["list", "extensions", "--source", &s, "--json"]);
    assert_keys(
        &extensions,
        &["[].oid", "[].name", "[].schema", "[].config"],
        "list extensions --json",
    );
    let versions = json_of(&["list", "extensions", "-a", "--source", &s, "--json"]);
    assert_keys(
        &versions,
        &["[].name", "[].versions"],
        "--available-versions",
    );

    // The original prints an array of tables; ours adds the sequences and
    // large objects as items of their own kind.
    let compared = json_of(&["compare", "data", "--source", &s, "--target", &t, "--json"]);
    let tables: Vec<serde_json::Value> = compared
        .as_array()
        .map(|a| a.iter().filter(|i| i["kind"] == "table").cloned().collect())
        .unwrap_or_default();
    assert_keys(
        &serde_json::Value::Array(tables),
        &[
            "[].schema",
            "[].name",
            "[].source.rowcount",
            "[].source.checksum",
            "[].target.rowcount",
            "[].target.checksum",
        ],
        &format!("compare data --json: {compared:#}"),
    );
    let sequences = json_of(&["list", "sequences", "--source", &s, "--json"]);
    assert_keys(
        &sequences,
        &["[].oid", "[].ownedby", "[].attrelid", "[].attroid"],
        "list sequences --json",
    );
    let tables = json_of(&["list", "tables", "--source", &s, "--json"]);
    assert_keys(
        &tables,
        &["[].oid", "[].schema", "[].name", "[].bytes"],
        "list tables --json",
    );
}

/// The column names of the first line of a listing's table.
fn header(out: &str) -> Vec<String> {
    let line = out.lines().next().unwrap_or_default();
    line.split('|')
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .collect()
}

/// The text tables of `list` start with the original's columns, in its
/// order (ours follow them), and sizes read as `pg_size_pretty` prints them.
#[test]
fn listings_start_with_the_original_columns() {
    let (src, _tgt) = shared_source_and_target(DB);
    src.psql(DB, FIXTURE);
    src.psql(DB, r#"CREATE TABLE public.labels (label text COLLATE "C")"#);
    src.psql(DB, "VACUUM ANALYZE");
    let s = src.uri(DB);
    for (args, columns) in [
        (
            &["tables"][..],
            &[
                "OID",
                "Schema Name",
                "Table Name",
                "Est. Row Count",
                "On-disk size",
            ][..],
        ),
        (
            &["tables", "--list-skipped"],
            &[
                "OID",
                "Schema Name",
                "Table Name",
                "Est. Row Count",
                "On-disk size",
            ],
        ),
        (
            &["indexes"],
            &[
                "OID",
                "Schema",
                "Index Name",
                "Constraint Name",
                "Constraint",
            ],
        ),
        (
            &["sequences"],
            &[
                "OID",
                "Schema Name",
                "Sequence Name",
                "Owned By",
                "attrelid",
                "attroid",
            ],
        ),
        (
            &["table-parts", "--split-at", "8kB"],
            &["Part", "Min", "Max", "Count"],
        ),
        (&["databases"], &["OID", "Database Name", "On-disk size"]),
        (
            &["extensions"],
            &["OID", "Name", "Schema", "Count", "Config"],
        ),
        (&["collations"], &["OID", "Name", "Object name"]),
    ] {
        let mut all = vec!["list"];
        all.extend(args);
        all.extend(["--source", &s]);
        let out = accepted(&all);
        let got = header(&out);
        assert!(
            got.len() >= columns.len() && got[..columns.len()] == *columns,
            "list {args:?}: {got:?}\n{out}"
        );
        if args == ["tables"] {
            let items = out
                .lines()
                .find(|l| l.contains("items"))
                .expect("items row");
            assert!(
                items.contains(" kB ") || items.contains(" bytes "),
                "{items}"
            );
            assert!(items.contains(" 500 "), "estimated rows: {items}");
        }
        if args == ["collations"] {
            assert!(out.contains(&format!("database {DB}")), "{out}");
            // Each collation with an object that uses it.
            assert!(out.contains("column label of table "), "{out}");
        }
        if args[0] == "table-parts" {
            // Inclusive key bounds and their span, as the original prints them.
            let first = out.lines().map(header).find(|c| c[0].starts_with("1/"));
            let first = first.unwrap_or_else(|| panic!("no first part: {out}"));
            let (min, max) = (first[1].parse::<i64>(), first[2].parse::<i64>());
            let (Ok(min), Ok(max)) = (min, max) else {
                panic!("bounds: {out}");
            };
            assert_eq!(min, 1, "{out}");
            assert_eq!(first[3], (max - min + 1).to_string(), "{out}");
        }
        if args == ["indexes"] {
            assert!(out.contains("PRIMARY KEY (id)"), "{out}");
        }
    }
}

/// Our size formatter against the server's own `pg_size_pretty(bigint)`,
/// across every unit's boundaries (n-1, n, n+1 around each limit and
/// rounding point), negative sizes and the ends of `bigint`.
#[test]
fn sizes_read_as_the_servers_pg_size_pretty() {
    let src = support::Cluster::shared_source();
    let mut sizes: Vec<i64> = vec![0, 1, 8192, 98304, 557_056, i64::MAX, i64::MIN];
    for shift in [0u32, 10, 20, 30, 40, 50] {
        let unit = 1i64 << shift;
        // Limits (10 * unit below kB, 20 * 1024 - 1 halves above) and the
        // half-unit rounding points.
        let bases = [10 * 1024, 20 * 1024 - 1].map(|m: i64| m.checked_mul(unit));
        for base in bases.into_iter().flatten().chain([unit + unit / 2]) {
            for n in [
                base - 1,
                base,
                base + 1,
                base / 2 - 1,
                base / 2,
                base / 2 + 1,
            ] {
                sizes.extend([n, -n]);
            }
        }
    }
    let list = sizes
        .iter()
        .map(|n| format!("('{n}'::bigint)"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = src.query(
        "postgres",
        &format!("SELECT n::text, pg_size_pretty(n) FROM (VALUES {list}) AS v(n)"),
    );
    assert_eq!(rows.len(), sizes.len());
    for row in rows {
        let (n, shown) = (row[0].as_deref(), row[1].as_deref());
        let n: i64 = n.and_then(|n| n.parse().ok()).expect("a bigint");
        assert_eq!(
            Some(pgcopydb::report::size::pg_size_pretty(n).as_str()),
            shown,
            "pg_size_pretty({n})"
        );
    }
}

/// A sequence with two owning dependencies (here an `OWNED BY` column and
/// an identity, the second written into `pg_depend` as a catalog can hold
/// it) is listed once, under its identity column.
#[test]
fn a_sequence_with_two_owners_is_listed_once() {
    let (src, _tgt) = shared_source_and_target(DB);
    src.psql(
        DB,
        "CREATE TABLE public.a (id serial PRIMARY KEY); \
         CREATE TABLE public.b (id int GENERATED ALWAYS AS IDENTITY, n int DEFAULT nextval('a_id_seq')); \
         INSERT INTO pg_depend (classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype) \
         VALUES ('pg_class'::regclass, 'a_id_seq'::regclass, 0, 'pg_class'::regclass, 'b'::regclass, 1, 'i');",
    );
    let s = src.uri(DB);
    let listed = json_of(&["list", "sequences", "--source", &s, "--json"]);
    let named: Vec<&serde_json::Value> = listed
        .as_array()
        .map(|a| a.iter().filter(|q| q["name"] == "a_id_seq").collect())
        .unwrap_or_default();
    assert_eq!(named.len(), 1, "{listed:#}");
    assert_eq!(named[0]["owned_by"], "public.b.id", "{listed:#}");
    let text = accepted(&["list", "sequences", "--source", &s]);
    assert_eq!(text.matches("a_id_seq").count(), 1, "{text}");
}

/// `PGCOPYDB_SKIP_CTID_SPLIT` keeps `list schema --split-at` from planning
/// ranges of pages for a table without an integer key, as it keeps clone
/// and `list table-parts` from copying them; `--split-max-parts` (the
/// original's `list schema --split-tables-larger-than S --split-max-parts N`)
/// caps the parts.
#[test]
fn list_schema_split_at_honours_skip_ctid_split_and_max_parts() {
    let (src, _tgt) = shared_source_and_target(DB);
    src.psql(
        DB,
        "CREATE TABLE public.notes (body text); \
         INSERT INTO public.notes SELECT repeat('x', 200) || i FROM generate_series(1, 3000) i; \
         VACUUM ANALYZE public.notes;",
    );
    let s = src.uri(DB);
    let parts_of_notes = |skip_ctid: bool, extra: &[&str]| {
        let mut c = cmd(&["list", "schema", "--source", &s, "--split-at", "64kB"]);
        c.args(extra);
        if skip_ctid {
            c.env("PGCOPYDB_SKIP_CTID_SPLIT", "true");
        }
        let out = c.output().expect("run pgcopydb");
        assert!(out.status.success(), "{out:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let notes = doc["tables"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "notes").cloned())
            .expect("notes listed");
        notes["parts"].as_array().map_or(0, Vec::len)
    };
    assert!(
        parts_of_notes(false, &[]) > 3,
        "notes is split by ctid by default"
    );
    assert_eq!(
        parts_of_notes(true, &[]),
        0,
        "PGCOPYDB_SKIP_CTID_SPLIT=true"
    );
    assert_eq!(parts_of_notes(false, &["--split-max-parts", "3"]), 3);
}

/// The original's scripts reach a running follow with `--host`/`--port`
/// (its TCP endpoint): accepted, the sentinel is read and written in the
/// work directory as without them, and a warning says so.
#[test]
fn sentinel_commands_accept_the_coordinator_endpoint() {
    let dir = workdir();
    let d = dir.path().to_str().expect("utf-8 path");
    accepted(&["stream", "sentinel", "setup", "0/10", "0/20", "--dir", d]);
    let endpoint = ["--host", "localhost", "--port", "5442", "--dir", d];
    let with = |args: &[&str]| {
        let all: Vec<&str> = args.iter().chain(&endpoint).copied().collect();
        let out = cmd(&all).output().expect("run pgcopydb");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{all:?}: {stderr}");
        assert!(stderr.contains("no TCP endpoint"), "{all:?}: {stderr}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    with(&["stream", "sentinel", "set", "endpos", "0/30"]);
    with(&["stream", "sentinel", "set", "apply"]);
    assert_eq!(with(&["stream", "sentinel", "get", "--endpos"]), "0/30");
    let doc: serde_json::Value = serde_json::from_str(&accepted(&[
        "stream", "sentinel", "get", "--json", "--dir", d,
    ]))
    .expect("JSON");
    assert_eq!(doc["apply"], true, "{doc:#}");
    assert_eq!(doc["endpos"], "0/30", "{doc:#}");
}

/// `--use-copy-binary` copies a table with a tsvector column in text (its
/// binary receive faults on strict-alignment hardware), saying so in the
/// original's words, which its scripts grep.
#[test]
fn tsvector_tables_fall_back_to_text_copy_in_the_originals_words() {
    let (src, tgt) = shared_source_and_target(DB);
    src.psql(
        DB,
        "CREATE TABLE public.tsv (id int PRIMARY KEY, doc tsvector); \
         INSERT INTO public.tsv VALUES (1, 'a:1 b:2'), (2, to_tsvector('simple', 'x y z'));",
    );
    let dir = workdir();
    let d = dir.path().to_str().expect("utf-8 path");
    let (s, t) = (src.uri(DB), tgt.uri(DB));
    let out = cmd(&["clone", "--source", &s, "--target", &t, "--dir", d])
        .arg("--use-copy-binary")
        .output()
        .expect("run pgcopydb");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("not safe for COPY BINARY"), "{stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).expect("summary"))
            .expect("summary.json");
    assert_eq!(summary["tables"][0]["binary"], false, "{summary:#}");
    assert_eq!(
        tgt.psql(
            DB,
            "SELECT string_agg(doc::text, ',' ORDER BY id) FROM public.tsv"
        ),
        "'a':1 'b':2,'x':1 'y':2 'z':3"
    );
}

/// The original's low-level change data capture workflow: `snapshot
/// --follow` holds the snapshot its slot starts at, `stream setup`, a plain
/// `clone` at that snapshot, then `stream prefetch`, `stream sentinel set
/// apply` and `stream catchup` to an endpos. The clone starts its directory over but keeps the stream setup
/// the held snapshot belongs to, so the stream steps find it.
#[test]
fn the_low_level_cdc_workflow_keeps_its_stream_setup_across_a_clone() {
    use crate::support::follow;
    use std::io::BufRead;
    // Private servers: slots and replication origins are server-wide.
    let src = follow::logical_cluster(&support::pgbin());
    let tgt = support::Cluster::start();
    src.create_db(DB);
    tgt.create_db(DB);
    src.psql(
        DB,
        "CREATE TABLE public.t (id int PRIMARY KEY, v text); \
         INSERT INTO public.t SELECT i, 'v' || i FROM generate_series(1, 100) i;",
    );
    let dir = workdir();
    let mut holder = pgcopydb()
        .args(["snapshot", "--follow", "--source", &src.uri(DB), "--dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn snapshot --follow");
    // The snapshot id is the first line the holder prints, once it holds it.
    let mut line = String::new();
    if let Some(stdout) = holder.stdout.as_mut() {
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the snapshot id");
    }
    assert!(!line.trim().is_empty(), "snapshot --follow printed nothing");
    let step = |sub: &[&str]| {
        let out = follow::run(sub, &src, &tgt, DB, dir.path());
        support::assert_success(&out, &format!("{sub:?}"));
    };
    step(&["stream", "setup"]);
    step(&["clone"]);
    unsafe { libc::kill(holder.id() as i32, libc::SIGTERM) };
    assert!(holder.wait().expect("wait for the holder").success());

    src.psql(
        DB,
        "INSERT INTO public.t SELECT i, 'n' || i FROM generate_series(101, 150) i; \
         UPDATE public.t SET v = 'u' WHERE id < 10; DELETE FROM public.t WHERE id = 50;",
    );
    // Past the changes' commit even while it is not yet flushed (the test
    // servers do not wait for WAL flushes).
    let lsn = src.psql(DB, "SELECT pg_current_wal_insert_lsn()");
    step(&["stream", "prefetch", "--resume", "--endpos", &lsn]);
    let out = pgcopydb()
        .args(["stream", "sentinel", "set", "apply", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run sentinel set apply");
    support::assert_success(&out, "stream sentinel set apply");
    step(&["stream", "catchup", "--resume", "--endpos", &lsn]);
    let rows = "SELECT count(*), sum(id), string_agg(v, ',' ORDER BY id) FROM public.t";
    assert_eq!(tgt.psql(DB, rows), src.psql(DB, rows));
    step(&["stream", "cleanup"]);
}
