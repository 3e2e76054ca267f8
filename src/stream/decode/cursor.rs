//! A bounds-checked reader over one binary message: every read either
//! returns the value or says what was missing, so a truncated or corrupt
//! message becomes a [`DecodeError`](super::DecodeError), never a panic.

/// Reads big-endian integers, NUL-terminated strings and sized byte runs
/// from the front of a message.
pub struct Cursor<'a> {
    rest: &'a [u8],
    /// Bytes already read: where in the message a failure happened.
    pub offset: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor {
            rest: data,
            offset: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes; `what` names the field for the error.
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.rest.len() {
            return Err(format!(
                "the message ends at byte {} inside {what} ({n} bytes expected, {} left)",
                self.offset,
                self.rest.len()
            ));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        self.offset += n;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(u8::from_be_bytes(self.array(what)?))
    }

    pub fn i16(&mut self, what: &str) -> Result<i16, String> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    pub fn i32(&mut self, what: &str) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    pub fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &str) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// A length-prefixed (int32) byte run; a negative length is refused.
    pub fn sized(&mut self, what: &str) -> Result<&'a [u8], String> {
        let len = self.i32(what)?;
        let len = usize::try_from(len)
            .map_err(|_| format!("negative length {len} for {what} at byte {}", self.offset))?;
        self.bytes(len, what)
    }

    /// A NUL-terminated string, which must be UTF-8 (the stream is in the
    /// database's encoding, which the follower requires to be UTF8 or ASCII).
    pub fn cstr(&mut self, what: &str) -> Result<String, String> {
        let Some(end) = self.rest.iter().position(|&b| b == 0) else {
            return Err(format!(
                "the message ends at byte {} inside {what} (no terminating NUL)",
                self.offset
            ));
        };
        let raw = self.bytes(end + 1, what)?;
        let text = raw.get(..end).unwrap_or_default();
        String::from_utf8(text.to_vec())
            .map_err(|_| format!("{what} at byte {} is not valid UTF-8", self.offset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_refuses_past_the_end() {
        let data = [0, 1, 0, 0, 0, 2, b'a', b'b', 0, 9];
        let mut c = Cursor::new(&data);
        assert_eq!(c.i16("x").unwrap(), 1);
        assert_eq!(c.i32("y").unwrap(), 2);
        assert_eq!(c.cstr("name").unwrap(), "ab");
        assert_eq!(c.u8("z").unwrap(), 9);
        assert!(c.is_empty());
        let err = c.i32("relation id").unwrap_err();
        assert!(err.contains("relation id"), "{err}");
    }

    #[test]
    fn refuses_unterminated_strings_and_bad_lengths() {
        assert!(Cursor::new(b"abc").cstr("prefix").is_err());
        assert!(Cursor::new(&[0xff, 0xff, 0xff, 0xff])
            .sized("value")
            .is_err());
        assert!(Cursor::new(&[0, 0, 0, 5, 1]).sized("value").is_err());
    }
}
