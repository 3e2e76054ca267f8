//! One entry of a filters file: a name of one or two parts, each an exact
//! identifier (PostgreSQL quoting rules) or a `~/regex/`.

use regex::Regex;

/// One part of a name.
#[derive(Debug, Clone)]
pub enum Part {
    /// The identifier as PostgreSQL would store it: unquoted text folded to
    /// lower case, quoted text kept as written.
    Exact(String),
    /// Matched anywhere in the name (an unanchored search, as the original's
    /// POSIX `regexec`): write `^...$` to match a whole name.
    Regex(Regex),
}

impl Part {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Part::Exact(s) => s == name,
            Part::Regex(r) => r.is_match(name),
        }
    }
}

/// A filter entry: `schema` alone (schema and extension sections) or
/// `schema.name` (table and index sections).
#[derive(Debug, Clone)]
pub struct Pattern {
    /// The entry as written in the file, for messages and the run's setup.
    pub text: String,
    pub parts: Vec<Part>,
}

impl Pattern {
    /// For one-part entries.
    pub fn matches_one(&self, name: &str) -> bool {
        matches!(self.parts.as_slice(), [one] if one.matches(name))
    }

    /// For two-part entries.
    pub fn matches_two(&self, schema: &str, name: &str) -> bool {
        matches!(self.parts.as_slice(), [s, n] if s.matches(schema) && n.matches(name))
    }
}

/// Reads a name at the start of `line`; returns its parts and what follows.
pub fn parse_name(line: &str) -> Result<(Vec<Part>, &str), String> {
    let mut parts = Vec::new();
    let mut rest = line.trim_start();
    loop {
        let (part, after) = parse_part(rest)?;
        parts.push(part);
        rest = after;
        match rest.strip_prefix('.') {
            Some(after) => rest = after,
            None => return Ok((parts, rest)),
        }
    }
}

fn parse_part(s: &str) -> Result<(Part, &str), String> {
    if let Some(body) = s.strip_prefix('"') {
        return parse_quoted(body);
    }
    if let Some(body) = s.strip_prefix("~/") {
        return parse_regex(body);
    }
    // An unquoted identifier ends where quoting would be needed to go on.
    let end = s
        .find(|c: char| c == '.' || c == '"' || c.is_whitespace() || "=:;#".contains(c))
        .unwrap_or(s.len());
    if end == 0 {
        return Err(match s.chars().next() {
            None => "a name part is missing".to_string(),
            Some(c) => format!("a name part is missing before {c:?}"),
        });
    }
    // PostgreSQL folds unquoted identifiers to lower case (ASCII only, in UTF-8).
    Ok((Part::Exact(s[..end].to_ascii_lowercase()), &s[end..]))
}

/// `"..."` with `""` standing for one double quote.
fn parse_quoted(body: &str) -> Result<(Part, &str), String> {
    let mut name = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            name.push(c);
        } else if chars.peek().map(|&(_, c)| c) == Some('"') {
            name.push('"');
            chars.next();
        } else {
            if name.is_empty() {
                return Err("a quoted name is empty".into());
            }
            return Ok((Part::Exact(name), &body[i + 1..]));
        }
    }
    Err("a quoted name has no closing double quote".into())
}

/// `~/regex/`: the regex ends at the first `/` not escaped as `\/`.
fn parse_regex(body: &str) -> Result<(Part, &str), String> {
    let mut source = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if chars.peek().map(|&(_, c)| c) == Some('/') => {
                source.push('/');
                chars.next();
            }
            '\\' => {
                // Keep other escapes for the regex itself (`\.`, `\d`...).
                source.push('\\');
                if let Some((_, next)) = chars.next() {
                    source.push(next);
                }
            }
            '/' => {
                if source.is_empty() {
                    return Err("a regular expression ~// is empty".into());
                }
                let regex = Regex::new(&source).map_err(|e| {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or("").trim().to_string();
                    format!("invalid regular expression /{source}/: {last}")
                })?;
                return Ok((Part::Regex(regex), &body[i + 1..]));
            }
            _ => source.push(c),
        }
    }
    Err("a regular expression ~/.../ has no closing /".into())
}
