use super::*;

/// A message built field by field, as the server writes them.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn tag(tag: u8) -> Msg {
        Msg(vec![tag])
    }
    fn u8(mut self, v: u8) -> Msg {
        self.0.push(v);
        self
    }
    fn i16(mut self, v: i16) -> Msg {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(mut self, v: i32) -> Msg {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Msg {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn s(mut self, v: &str) -> Msg {
        self.0.extend_from_slice(v.as_bytes());
        self.0.push(0);
        self
    }
    fn text(self, v: &str) -> Msg {
        let mut m = self.u8(b't').i32(v.len() as i32);
        m.0.extend_from_slice(v.as_bytes());
        m
    }
}

/// Relation 16384 public."T 1" (id int key, body text), identity default.
fn relation_message() -> Vec<u8> {
    Msg::tag(b'R')
        .i32(16384)
        .s("public")
        .s("T 1")
        .u8(b'd')
        .i16(2)
        .u8(1)
        .s("id")
        .i32(23)
        .i32(-1)
        .u8(0)
        .s("body")
        .i32(25)
        .i32(-1)
        .0
}

fn decoder_with_relation() -> PgoutputDecoder {
    let mut d = PgoutputDecoder::new();
    let mut out = Vec::new();
    d.decode(Lsn(1), &relation_message(), &mut out).unwrap();
    d
}

fn text(v: &str) -> Value {
    Value::Text(Bytes::copy_from_slice(v.as_bytes()))
}

#[test]
fn decodes_a_transaction() {
    let mut d = PgoutputDecoder::new();
    let mut out = Vec::new();
    let begin = Msg::tag(b'B').u64(0x100).u64(42).i32(7).0;
    d.decode(Lsn(1), &begin, &mut out).unwrap();
    d.decode(Lsn(1), &relation_message(), &mut out).unwrap();
    let insert = Msg::tag(b'I')
        .i32(16384)
        .u8(b'N')
        .i16(2)
        .text("1")
        .u8(b'n')
        .0;
    d.decode(Lsn(2), &insert, &mut out).unwrap();
    let update = Msg::tag(b'U')
        .i32(16384)
        .u8(b'K')
        .i16(2)
        .text("1")
        .u8(b'n')
        .u8(b'N')
        .i16(2)
        .text("2")
        .u8(b'u')
        .0;
    d.decode(Lsn(3), &update, &mut out).unwrap();
    let delete = Msg::tag(b'D')
        .i32(16384)
        .u8(b'O')
        .i16(2)
        .text("2")
        .text("x")
        .0;
    d.decode(Lsn(4), &delete, &mut out).unwrap();
    let truncate = Msg::tag(b'T').i32(1).u8(3).i32(16384).0;
    d.decode(Lsn(5), &truncate, &mut out).unwrap();
    let mut message = Msg::tag(b'M').u8(1).u64(5).s("p").i32(2).0;
    message.extend_from_slice(&[0, 0xff]);
    d.decode(Lsn(5), &message, &mut out).unwrap();
    let commit = Msg::tag(b'C').u8(0).u64(0x100).u64(0x130).u64(42).0;
    d.decode(Lsn(0x130), &commit, &mut out).unwrap();

    assert_eq!(
        out[0],
        Change::Begin {
            xid: 7,
            final_lsn: Some(Lsn(0x100)),
            commit_time: Some(42)
        }
    );
    let Change::Relation(rel) = &out[1] else {
        panic!("{:?}", out[1])
    };
    assert_eq!(rel.name, "T 1");
    assert_eq!(rel.replica_identity, ReplicaIdentity::Default);
    assert!(rel.columns[0].is_key && !rel.columns[1].is_key);
    assert_eq!(
        out[2],
        Change::Insert {
            relation: 16384,
            new: vec![text("1"), Value::Null]
        }
    );
    assert_eq!(
        out[3],
        Change::Update {
            relation: 16384,
            old: Some(OldTuple::Key(vec![text("1"), Value::Null])),
            new: vec![text("2"), Value::Unchanged]
        }
    );
    assert_eq!(
        out[4],
        Change::Delete {
            relation: 16384,
            old: OldTuple::Full(vec![text("2"), text("x")])
        }
    );
    assert_eq!(
        out[5],
        Change::Truncate {
            relations: vec![16384],
            cascade: true,
            restart_identity: true
        }
    );
    assert_eq!(
        out[6],
        Change::Message {
            transactional: true,
            prefix: "p".into(),
            content: Bytes::from_static(&[0, 0xff])
        }
    );
    assert_eq!(
        out[7],
        Change::Commit {
            commit_lsn: Some(Lsn(0x100)),
            end_lsn: Lsn(0x130),
            commit_time: Some(42)
        }
    );
}

#[test]
fn every_truncation_of_a_message_is_an_error() {
    let insert = Msg::tag(b'I')
        .i32(16384)
        .u8(b'N')
        .i16(2)
        .text("12")
        .u8(b'n')
        .0;
    let messages = [
        relation_message(),
        insert,
        Msg::tag(b'B').u64(1).u64(2).i32(3).0,
        Msg::tag(b'C').u8(0).u64(1).u64(2).u64(3).0,
        Msg::tag(b'T').i32(1).u8(0).i32(16384).0,
        Msg::tag(b'Y').i32(99).s("s").s("t").0,
    ];
    for message in messages {
        for cut in 0..message.len() {
            let mut d = decoder_with_relation();
            let mut out = Vec::new();
            let err = d
                .decode(Lsn(9), &message[..cut], &mut out)
                .expect_err("a truncated message must be refused");
            assert_eq!(err.plugin, "pgoutput");
            assert!(out.is_empty(), "nothing is emitted from a bad message");
        }
    }
}

#[test]
fn refuses_unknown_and_inconsistent_messages() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![b'S', 0, 0, 0, 1, 0], "unknown message type 'S'"),
        (vec![0x01], "unknown message type byte 0x01"),
        (Msg::tag(b'I').i32(5).u8(b'N').i16(0).0, "relation 5"),
        (
            Msg::tag(b'I').i32(16384).u8(b'N').i16(1).text("1").0,
            "a tuple of 1 values",
        ),
        (
            Msg::tag(b'I')
                .i32(16384)
                .u8(b'N')
                .i16(2)
                .text("1")
                .u8(b'x')
                .0,
            "unknown value kind 'x'",
        ),
        (
            Msg::tag(b'I')
                .i32(16384)
                .u8(b'K')
                .i16(2)
                .text("1")
                .u8(b'n')
                .0,
            "unexpected 'K'",
        ),
        (
            Msg::tag(b'D')
                .i32(16384)
                .u8(b'N')
                .i16(2)
                .text("1")
                .u8(b'n')
                .0,
            "unexpected 'N'",
        ),
        (
            Msg::tag(b'I').i32(16384).u8(b'N').i16(2).u8(b't').i32(-2).0,
            "negative length",
        ),
        (
            Msg::tag(b'T').i32(1_000_000).u8(0).i32(16384).0,
            "1000000 truncated relations",
        ),
        (
            Msg::tag(b'B').u64(1).u64(2).i32(3).u8(0).0,
            "unexpected bytes",
        ),
        (
            Msg::tag(b'R').i32(1).s("s").s("t").u8(b'z').i16(0).0,
            "replica identity 'z'",
        ),
        (Vec::new(), "message type"),
    ];
    for (message, needle) in cases {
        let mut d = decoder_with_relation();
        let err = d
            .decode(Lsn(0x10), &message, &mut Vec::new())
            .expect_err(needle);
        let text = err.to_string();
        assert!(text.contains(needle), "{text} (wanted {needle})");
        assert!(text.contains("pgoutput message at 0/10"), "{text}");
    }
}

#[test]
fn remembers_types() {
    let mut d = PgoutputDecoder::new();
    d.decode(
        Lsn(1),
        &Msg::tag(b'Y').i32(99).s("s").s("mood").0,
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(d.type_name(99).map(|t| t.name.as_str()), Some("mood"));
}

/// From a shared message the values are views of it, not copies, and equal
/// to what `decode` gives.
#[test]
fn values_of_a_shared_message_are_views_of_it() {
    let insert = Bytes::from(
        Msg::tag(b'I')
            .i32(16384)
            .u8(b'N')
            .i16(2)
            .text("1")
            .text("body text")
            .0,
    );
    let (mut copied, mut shared) = (Vec::new(), Vec::new());
    decoder_with_relation()
        .decode(Lsn(2), &insert, &mut copied)
        .unwrap();
    decoder_with_relation()
        .decode_shared(Lsn(2), &insert, &mut shared)
        .unwrap();
    assert_eq!(copied, shared);
    let Some(Change::Insert { new, .. }) = shared.first() else {
        panic!("an insert: {shared:?}");
    };
    let Some(Value::Text(body)) = new.get(1) else {
        panic!("a text value: {new:?}");
    };
    let within = insert.as_ptr_range();
    assert!(within.contains(&body.as_ptr()), "a view of the message");
}
