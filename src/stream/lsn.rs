//! WAL positions: a 64-bit byte offset, written `XXXXXXXX/XXXXXXXX` in hex
//! the way PostgreSQL prints `pg_lsn`.

use std::fmt;
use std::str::FromStr;

/// A position in the source's WAL. `Lsn(0)` is PostgreSQL's invalid LSN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    pub const INVALID: Lsn = Lsn(0);

    pub fn is_valid(self) -> bool {
        self.0 != 0
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid LSN {0:?}: expected two hexadecimal numbers separated by '/', as in 0/16B3748")]
pub struct ParseLsnError(String);

impl FromStr for Lsn {
    type Err = ParseLsnError;

    fn from_str(s: &str) -> Result<Lsn, ParseLsnError> {
        let bad = || ParseLsnError(s.to_string());
        let (hi, lo) = s.trim().split_once('/').ok_or_else(bad)?;
        let hex = |part: &str| {
            if part.is_empty() || part.len() > 8 {
                return Err(bad());
            }
            u32::from_str_radix(part, 16).map_err(|_| bad())
        };
        Ok(Lsn((u64::from(hex(hi)?) << 32) | u64::from(hex(lo)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_postgres_prints_it() {
        for text in ["0/0", "0/16B3748", "16/B374D848", "FFFFFFFF/FFFFFFFF"] {
            let lsn: Lsn = text.parse().unwrap();
            assert_eq!(lsn.to_string(), text);
        }
        assert_eq!("1/0".parse::<Lsn>().unwrap(), Lsn(1 << 32));
    }

    #[test]
    fn rejects_what_is_not_an_lsn() {
        for text in ["", "0", "/1", "1/", "g/1", "1/2/3", "100000000/0", "-1/0"] {
            assert!(text.parse::<Lsn>().is_err(), "{text}");
        }
    }
}
