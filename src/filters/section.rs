//! The entries of one section of a filters file, kept so that a file of
//! millions of names is read and matched in linear time: exact names in an
//! ordered set (one lookup per object, not one comparison per entry), the
//! few regex entries in a list.

use std::collections::BTreeSet;

use super::pattern::{Part, Pattern};
use crate::sql::quote_ident;

/// Joins the parts of a name into one key: no identifier holds a NUL.
const SEP: char = '\0';

#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Names without a regex part, as stored by PostgreSQL, parts joined by NUL.
    exact: BTreeSet<Box<str>>,
    regex: Vec<Pattern>,
}

impl Section {
    pub fn push(&mut self, p: Pattern) {
        let exact: Option<Vec<&str>> = p
            .parts
            .iter()
            .map(|part| match part {
                Part::Exact(s) => Some(s.as_str()),
                Part::Regex(_) => None,
            })
            .collect();
        match exact {
            Some(parts) => {
                self.exact.insert(key(&parts).into());
            }
            None => self.regex.push(p),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.regex.is_empty()
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.regex.len()
    }

    /// Whether an entry matches the name of `parts.len()` parts.
    pub fn matches(&self, parts: &[&str]) -> bool {
        (!self.exact.is_empty() && self.exact.contains(key(parts).as_str()))
            || self.regex.iter().any(|p| p.matches(parts))
    }

    /// The entries, exact names quoted as SQL would (sorted), then the
    /// regex entries as written.
    pub fn texts(&self) -> impl Iterator<Item = String> + '_ {
        self.exact
            .iter()
            .map(|k| show(k))
            .chain(self.regex.iter().map(|p| p.text.clone()))
    }

    /// Entries that match none of `names` (each the parts of one name),
    /// as [`Section::texts`] shows them.
    pub fn unmatched<'a>(&'a self, names: &'a [Vec<&'a str>]) -> impl Iterator<Item = String> + 'a {
        let present: std::collections::HashSet<String> = if self.exact.is_empty() {
            Default::default()
        } else {
            names.iter().map(|n| key(n)).collect()
        };
        let exact = self
            .exact
            .iter()
            .filter(move |k| !present.contains(&***k))
            .map(|k| show(k));
        let regex = self
            .regex
            .iter()
            .filter(move |p| !names.iter().any(|n| p.matches(n)))
            .map(|p| p.text.clone());
        exact.chain(regex)
    }
}

/// A key as SQL names it: `schema.name`, each part quoted when needed.
fn show(key: &str) -> String {
    key.split(SEP)
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

fn key(parts: &[&str]) -> String {
    let mut k = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.push_str(p);
    }
    k
}
