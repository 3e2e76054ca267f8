//! The one mapping of SQLSTATEs and I/O errors, and what each kind and side
//! makes of a retry and an exit code.

use super::*;

#[test]
fn sqlstates_map_by_class_and_by_code() {
    let cases = [
        // Connection class, and the server going away or starting up.
        ("08006", Kind::ConnectionLost),
        ("08P01", Kind::ConnectionLost),
        ("57P01", Kind::ConnectionLost),
        ("57P02", Kind::ConnectionLost),
        ("57P03", Kind::ConnectionLost),
        ("57014", Kind::Interrupted),
        ("28P01", Kind::Authentication),
        ("28000", Kind::Authentication),
        ("40001", Kind::Conflict),
        ("40P01", Kind::Conflict),
        ("55P03", Kind::Conflict),
        // A deferred constraint failing at commit is about the data.
        ("40002", Kind::Rejected),
        ("42P01", Kind::ObjectMissing),
        ("42704", Kind::ObjectMissing),
        ("42703", Kind::ObjectMissing),
        ("3D000", Kind::ObjectMissing),
        ("42501", Kind::PermissionDenied),
        ("53300", Kind::NoConnectionSlot),
        ("53100", Kind::Resources),
        ("54000", Kind::Resources),
        ("22P02", Kind::Rejected),
        ("23505", Kind::Rejected),
        ("23514", Kind::Rejected),
        ("42804", Kind::Rejected),
        ("P0001", Kind::Raised),
        ("XX000", Kind::Server),
        ("58030", Kind::Server),
        ("", Kind::Server),
    ];
    for (code, kind) in cases {
        assert_eq!(Kind::of_sqlstate(code), kind, "{code}");
    }
}

#[test]
fn io_errors_are_socket_or_local() {
    use std::io::ErrorKind as K;
    let of = |k: K| Kind::of_io(&io::Error::from(k));
    assert_eq!(of(K::ConnectionReset), Kind::ConnectionLost);
    assert_eq!(of(K::BrokenPipe), Kind::ConnectionLost);
    assert_eq!(of(K::UnexpectedEof), Kind::ConnectionLost);
    assert_eq!(of(K::ConnectionRefused), Kind::CannotConnect);
    assert_eq!(of(K::PermissionDenied), Kind::Internal);
    assert_eq!(of(K::NotFound), Kind::Internal);
}

#[test]
fn only_what_may_pass_is_retried() {
    for kind in Kind::ALL {
        let expected = matches!(
            kind,
            Kind::ConnectionLost | Kind::NoConnectionSlot | Kind::Conflict
        );
        assert_eq!(
            Error::new(kind, Side::Target, "x").is_retryable(),
            expected,
            "{kind}"
        );
    }
    // A first connection that finds no server is a wrong address, not a
    // broken link: retried only once the server had answered.
    assert!(!Kind::CannotConnect.is_retryable());
    let lost = reached_before(Error::new(Kind::CannotConnect, Side::Source, "x").into());
    assert!(Error::classify(&lost).is_retryable());
}

#[test]
fn exit_codes_follow_kind_and_side() {
    let code = |kind, side| Error::new(kind, side, "x").exit_code() as i32;
    assert_eq!(code(Kind::BadArgs, Side::Local), 1);
    assert_eq!(code(Kind::BadConfig, Side::Local), 2);
    assert_eq!(code(Kind::BadState, Side::Local), 3);
    assert_eq!(code(Kind::Interrupted, Side::Local), 3);
    assert_eq!(code(Kind::Rejected, Side::Target), 7);
    assert_eq!(code(Kind::ConnectionLost, Side::Source), 6);
    assert_eq!(code(Kind::PermissionDenied, Side::Source), 6);
    assert_eq!(code(Kind::Server, Side::Target), 7);
    // A server error nothing attributed to a side: the original's "pgsql".
    assert_eq!(code(Kind::ObjectMissing, Side::Local), 4);
    assert_eq!(code(Kind::Raised, Side::Target), 12);
    assert_eq!(code(Kind::Differs, Side::Local), 12);
    assert_eq!(code(Kind::Internal, Side::Local), 12);
    // The constructors keep the codes the code base always had.
    assert_eq!(Failure::args("x").exit_code(), ExitCode::BadArgs);
    assert_eq!(Failure::config("x").exit_code(), ExitCode::BadConfig);
    assert_eq!(Failure::state("x").exit_code(), ExitCode::BadState);
    assert_eq!(Failure::source("x").exit_code(), ExitCode::Source);
    assert_eq!(Failure::target("x").exit_code(), ExitCode::Target);
    for code in [
        ExitCode::BadArgs,
        ExitCode::BadConfig,
        ExitCode::BadState,
        ExitCode::Pgsql,
        ExitCode::Source,
        ExitCode::Target,
        ExitCode::Internal,
    ] {
        assert_eq!(Error::exiting(code, "x").exit_code(), code);
    }
}

#[test]
fn the_kind_survives_context_chains() {
    use anyhow::Context as _;
    // A crate error under contexts decides.
    let e = anyhow::Error::from(Failure::target("pg_restore failed"))
        .context("restoring post-data")
        .context("clone");
    let c = Error::classify(&e);
    assert_eq!((c.kind, c.side), (Kind::Server, Side::Target));
    assert_eq!(c.message, "clone: restoring post-data: pg_restore failed");
    assert_eq!(exit_code_of(&e), ExitCode::Target);
    // A socket error under the innermost side note: a lost source link.
    let io: Result<(), io::Error> = Err(io::Error::from(io::ErrorKind::ConnectionReset));
    let e = io
        .on(Side::Source, "reading from the source")
        .context("copying public.t")
        .on(Side::Target, "outer note")
        .unwrap_err();
    let c = Error::classify(&e);
    assert_eq!((c.kind, c.side), (Kind::ConnectionLost, Side::Source));
    assert!(c.is_retryable());
    assert_eq!(
        c.message,
        "outer note: copying public.t: reading from the source: connection reset"
    );
    // Nothing known: internal, on no side.
    let c = Error::classify(&anyhow::anyhow!("bug"));
    assert_eq!(
        (c.kind, c.side, c.exit_code()),
        (Kind::Internal, Side::Local, ExitCode::Internal)
    );
    // `or_on` names the side of a server error that had none, only.
    let c = Error::new(Kind::Rejected, Side::Local, "x").or_on(Side::Target);
    assert_eq!(c.side, Side::Target);
    let c = Error::internal("x").or_on(Side::Target);
    assert_eq!(c.side, Side::Local);
}

#[test]
fn a_runs_failures_make_one_exit_code() {
    let on = |kind, side| Error::new(kind, side, "x");
    assert_eq!(exit_code_of_failures(&[]), ExitCode::Ok);
    let target = [
        on(Kind::Rejected, Side::Target),
        on(Kind::ObjectMissing, Side::Target),
    ];
    assert_eq!(exit_code_of_failures(&target), ExitCode::Target);
    assert_eq!(
        units_failed(&target, "2 failed").exit_code(),
        ExitCode::Target
    );
    let source = [on(Kind::PermissionDenied, Side::Source)];
    assert_eq!(exit_code_of_failures(&source), ExitCode::Source);
    // Mixed sides, or a failure that is no side's: 12.
    let mixed = [
        on(Kind::Rejected, Side::Target),
        on(Kind::PermissionDenied, Side::Source),
    ];
    assert_eq!(exit_code_of_failures(&mixed), ExitCode::Internal);
    assert_eq!(
        units_failed(&mixed, "2 failed").exit_code(),
        ExitCode::Internal
    );
    let raised = [
        on(Kind::Raised, Side::Target),
        on(Kind::Server, Side::Target),
    ];
    assert_eq!(exit_code_of_failures(&raised), ExitCode::Internal);
    // Units cancelled by --fail-fast's stop follow the failure that caused it.
    let stopped = [
        on(Kind::Rejected, Side::Target),
        on(Kind::Interrupted, Side::Source),
    ];
    assert_eq!(exit_code_of_failures(&stopped), ExitCode::Target);
    let only = [on(Kind::Interrupted, Side::Local)];
    assert_eq!(exit_code_of_failures(&only), ExitCode::BadState);
}

#[test]
fn kinds_are_saved_by_name_and_read_back() {
    for kind in Kind::ALL {
        let e = Error::new(kind, Side::Source, "m");
        let json = serde_json::to_string(&e).unwrap();
        assert!(
            json.contains(&format!("\"kind\":\"{}\"", kind.name())),
            "{json}"
        );
        let back: Error = serde_json::from_str(&json).unwrap();
        assert_eq!(
            (back.kind, back.side, back.message),
            (kind, Side::Source, "m".into())
        );
    }
    // A summary saved before kinds: its messages are read back.
    let old: Error = serde_json::from_str("\"copying public.t: boom\"").unwrap();
    assert_eq!(
        (old.kind, old.message.as_str()),
        (Kind::Internal, "copying public.t: boom")
    );
}

/// A statement whose link broke, told in our words, is still a lost link:
/// the follower reconnects instead of ending (a target restart once ended a
/// follow when it hit the origin read).
#[tokio::test]
async fn a_failure_told_in_our_words_keeps_the_kind_of_a_lost_link() {
    let (ours, server_side) = tokio::io::duplex(64);
    drop(server_side);
    let Err(e) = tokio_postgres::Config::new()
        .user("nobody")
        .connect_raw(ours, tokio_postgres::NoTls)
        .await
    else {
        panic!("a connection to nobody succeeded");
    };
    let failure = Error::of_postgres(Side::Target, &e, "cannot read the origin");
    assert_eq!(failure.kind, Kind::ConnectionLost, "{e:?}");
    assert!(failure.is_retryable());
    assert_eq!(failure.side, Side::Target);
    let told = crate::connections::Side::Source.failure_of(&e, "cannot look up");
    assert_eq!((told.kind, told.side), (Kind::ConnectionLost, Side::Source));
}
