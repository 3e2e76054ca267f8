//! Values as the target receives them: statement parameters in the format
//! the stream carried (text unless the change says binary), and rows of
//! `COPY ... FROM STDIN` in text format.

use std::error::Error;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_postgres::types::{Format, IsNull, ToSql, Type};

use crate::stream::change::Value;

/// One statement parameter: sent as the bytes the source printed, in the
/// format it printed them, whatever the parameter's type on the target. The
/// server parses it with the column's input function, exactly as COPY does.
#[derive(Debug, Clone)]
pub enum Param {
    Null,
    Text(Bytes),
    Binary(Bytes),
}

impl Param {
    /// The parameter for a value the statement includes (`Unchanged` values
    /// are left out of statements by their shape, never sent).
    pub fn of(value: &Value) -> Param {
        match value {
            Value::Null | Value::Unchanged => Param::Null,
            Value::Text(b) => Param::Text(b.clone()),
            Value::Binary(b) => Param::Binary(b.clone()),
        }
    }

    pub fn text(s: impl Into<String>) -> Param {
        Param::Text(Bytes::from(s.into()))
    }

    /// Bytes this parameter puts on the wire, to bound what is in flight.
    pub fn wire_len(&self) -> usize {
        match self {
            Param::Null => 0,
            Param::Text(b) | Param::Binary(b) => b.len(),
        }
    }
}

impl ToSql for Param {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Param::Null => Ok(IsNull::Yes),
            Param::Text(b) | Param::Binary(b) => {
                out.put_slice(b);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        match self {
            Param::Binary(_) => Format::Binary,
            Param::Null | Param::Text(_) => Format::Text,
        }
    }

    tokio_postgres::types::to_sql_checked!();
}

/// Append one value to a row of `COPY ... FROM STDIN` (text format): `\N`
/// for NULL, and the four bytes COPY gives a meaning to escaped with a
/// backslash. Every other byte, control characters included, is data.
pub fn copy_text_field(out: &mut BytesMut, value: &[u8]) {
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.put_slice(value.get(start..i).unwrap_or_default());
        out.put_slice(escaped);
        start = i + 1;
    }
    out.put_slice(value.get(start..).unwrap_or_default());
}

/// Append a whole row (tab-separated, newline-terminated) of text values;
/// `None` when a value is not text (binary or unchanged), which COPY text
/// cannot carry.
pub fn copy_text_row(out: &mut BytesMut, values: &[&Value]) -> Option<()> {
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            out.put_u8(b'\t');
        }
        match value {
            Value::Null => out.put_slice(b"\\N"),
            Value::Text(b) => copy_text_field(out, b),
            Value::Binary(_) | Value::Unchanged => return None,
        }
    }
    out.put_u8(b'\n');
    Some(())
}

/// A one-dimensional array literal of text elements (`{"a","b\"c"}`), for
/// `= ANY($1)`: every element quoted, `"` and `\` escaped.
pub fn array_literal<'a>(elements: impl Iterator<Item = &'a [u8]>) -> Bytes {
    let mut out = BytesMut::new();
    out.put_u8(b'{');
    for (i, e) in elements.enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_u8(b'"');
        for &b in e {
            if b == b'"' || b == b'\\' {
                out.put_u8(b'\\');
            }
            out.put_u8(b);
        }
        out.put_u8(b'"');
    }
    out.put_u8(b'}');
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        copy_text_field(&mut out, s);
        out.to_vec()
    }

    #[test]
    fn escapes_what_copy_text_gives_a_meaning() {
        assert_eq!(field(b"plain"), b"plain");
        assert_eq!(field(b"a\tb\nc\rd\\e"), b"a\\tb\\nc\\rd\\\\e");
        // A value that reads `\N` is data, not NULL.
        assert_eq!(field(b"\\N"), b"\\\\N");
        assert_eq!(field(b""), b"");
        assert_eq!(field(b"\x01'\""), b"\x01'\"");
    }

    #[test]
    fn rows_mark_null_and_refuse_binary() {
        let mut out = BytesMut::new();
        let a = Value::Text(Bytes::from_static(b"x\ty"));
        copy_text_row(&mut out, &[&a, &Value::Null]).unwrap();
        assert_eq!(&out[..], b"x\\ty\t\\N\n");
        let b = Value::Binary(Bytes::from_static(b"\0"));
        assert!(copy_text_row(&mut BytesMut::new(), &[&b]).is_none());
    }

    #[test]
    fn array_literals_quote_every_element() {
        let lit = array_literal([&b"a"[..], b"b\"c", b"d\\", b"NULL"].into_iter());
        assert_eq!(&lit[..], br#"{"a","b\"c","d\\","NULL"}"#);
    }
}
