//! Parsing the backend messages the replication connection meets. Small
//! and explicit: postgres-protocol's parser knows no CopyBothResponse and
//! its iterators need one more crate; these are a few lines each.

use bytes::{Buf, Bytes};

use super::error::WalSenderError;

/// Reads the fields of one message body, failing cleanly on a short one.
pub(crate) struct Reader {
    body: Bytes,
    what: &'static str,
}

impl Reader {
    pub fn new(body: Bytes, what: &'static str) -> Reader {
        Reader { body, what }
    }

    fn short(&self) -> WalSenderError {
        WalSenderError::protocol(format!("truncated {} message from the server", self.what))
    }

    pub fn u8(&mut self) -> Result<u8, WalSenderError> {
        if self.body.remaining() < 1 {
            return Err(self.short());
        }
        Ok(self.body.get_u8())
    }

    pub fn i16(&mut self) -> Result<i16, WalSenderError> {
        if self.body.remaining() < 2 {
            return Err(self.short());
        }
        Ok(self.body.get_i16())
    }

    pub fn i32(&mut self) -> Result<i32, WalSenderError> {
        if self.body.remaining() < 4 {
            return Err(self.short());
        }
        Ok(self.body.get_i32())
    }

    pub fn u64(&mut self) -> Result<u64, WalSenderError> {
        if self.body.remaining() < 8 {
            return Err(self.short());
        }
        Ok(self.body.get_u64())
    }

    pub fn i64(&mut self) -> Result<i64, WalSenderError> {
        if self.body.remaining() < 8 {
            return Err(self.short());
        }
        Ok(self.body.get_i64())
    }

    /// A NUL-terminated string (lossy: server text is for humans here).
    pub fn cstr(&mut self) -> Result<String, WalSenderError> {
        let end = self
            .body
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| self.short())?;
        let raw = self.body.split_to(end);
        self.body.advance(1);
        let text = String::from_utf8_lossy(&raw).into_owned();
        Ok(text)
    }

    /// `n` bytes, shared with the message buffer (no copy).
    pub fn bytes(&mut self, n: usize) -> Result<Bytes, WalSenderError> {
        if self.body.remaining() < n {
            return Err(self.short());
        }
        Ok(self.body.split_to(n))
    }

    /// Everything left, shared with the message buffer (no copy).
    pub fn rest(self) -> Bytes {
        self.body
    }

    pub fn is_empty(&self) -> bool {
        self.body.is_empty()
    }
}

/// The fields of an ErrorResponse or NoticeResponse that we report.
pub(crate) struct ServerMessage {
    pub severity: String,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl ServerMessage {
    pub fn parse(body: Bytes) -> Result<ServerMessage, WalSenderError> {
        let mut r = Reader::new(body, "ErrorResponse");
        let mut msg = ServerMessage {
            severity: String::from("ERROR"),
            code: String::from("XX000"),
            message: String::new(),
            detail: None,
            hint: None,
        };
        loop {
            let field = r.u8()?;
            if field == 0 {
                break;
            }
            let value = r.cstr()?;
            match field {
                b'V' => msg.severity = value,
                b'C' => msg.code = value,
                b'M' => msg.message = value,
                b'D' => msg.detail = Some(value),
                b'H' => msg.hint = Some(value),
                _ => {}
            }
        }
        Ok(msg)
    }

    /// "message: detail (hint: ...)" on one line.
    pub fn text(&self) -> String {
        let mut text = self.message.clone();
        if let Some(detail) = &self.detail {
            text.push_str(": ");
            text.push_str(detail);
        }
        if let Some(hint) = &self.hint {
            text.push_str(&format!(" (hint: {hint})"));
        }
        text
    }

    pub fn into_error(self, server: &str) -> WalSenderError {
        WalSenderError::server(&self.code, &self.text(), server)
    }
}

/// A RowDescription's column names.
pub(crate) fn column_names(body: Bytes) -> Result<Vec<String>, WalSenderError> {
    let mut r = Reader::new(body, "RowDescription");
    let n = r.i16()?;
    let mut names = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        names.push(r.cstr()?);
        // table oid, column number, type oid, type size, type modifier, format
        r.bytes(4 + 2 + 4 + 2 + 4 + 2)?;
    }
    Ok(names)
}

/// A DataRow's values, as text (simple queries return text).
pub(crate) fn data_row(body: Bytes) -> Result<Vec<Option<String>>, WalSenderError> {
    let mut r = Reader::new(body, "DataRow");
    let n = r.i16()?;
    let mut values = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        let len = r.i32()?;
        if len < 0 {
            values.push(None);
            continue;
        }
        let raw = r.bytes(len as usize)?;
        let text = String::from_utf8(raw.to_vec()).map_err(|_| {
            WalSenderError::protocol("the server sent a value that is not UTF-8 text")
        })?;
        values.push(Some(text));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_become_one_line_with_their_sqlstate() {
        let mut body = Vec::new();
        for (field, value) in [
            (b'S', "ERROR"),
            (b'C', "42710"),
            (b'M', "replication slot \"s\" already exists"),
            (b'H', "Drop it\nfirst."),
        ] {
            body.push(field);
            body.extend_from_slice(value.as_bytes());
            body.push(0);
        }
        body.push(0);
        let e = ServerMessage::parse(Bytes::from(body))
            .unwrap()
            .into_error("127.0.0.1:5432");
        assert_eq!(e.sqlstate(), Some("42710"));
        assert_eq!(
            e.to_string(),
            "replication slot \"s\" already exists (hint: Drop it first.) (SQLSTATE 42710) on 127.0.0.1:5432"
        );
    }

    #[test]
    fn data_rows_keep_nulls() {
        let mut body = 2i16.to_be_bytes().to_vec();
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(b"ok");
        assert_eq!(
            data_row(Bytes::from(body)).unwrap(),
            [None, Some("ok".to_string())]
        );
    }

    #[test]
    fn truncated_messages_are_errors_not_panics() {
        let mut body = 1i16.to_be_bytes().to_vec();
        body.extend_from_slice(&10i32.to_be_bytes());
        body.extend_from_slice(b"short");
        assert!(data_row(Bytes::from(body)).is_err());
        assert!(ServerMessage::parse(Bytes::from_static(b"Cno-terminator")).is_err());
        assert!(column_names(Bytes::from_static(&[0, 1, b'a', 0, 1])).is_err());
    }
}
