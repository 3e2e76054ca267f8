//! Password verifiers and literals never reach a log line or an error
//! message: SQL text (role dumps, statements tokio-postgres logs at debug)
//! passes through [`mask`] on its way out.

use std::borrow::Cow;

const MASK: &str = "***";

/// `text` with every `PASSWORD '...'` literal, SCRAM verifier and md5 hash
/// replaced by `***`.
pub fn mask(text: &str) -> Cow<'_, str> {
    if !may_hold_secret(text) {
        return Cow::Borrowed(text);
    }
    let masked = mask_password_literals(text);
    let masked = mask_tokens(&masked, "SCRAM-SHA-256$", |_| true);
    let masked = mask_tokens(&masked, "md5", |t| {
        t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())
    });
    Cow::Owned(masked)
}

fn may_hold_secret(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("password") || lower.contains("scram-sha-256$") || lower.contains("md5")
}

/// `PASSWORD 'x''y'` (any case, any spacing, E'' strings too) → `PASSWORD '***'`.
fn mask_password_literals(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find("password") {
        let keyword_end = pos + found + "password".len();
        out.push_str(&text[pos..keyword_end]);
        pos = keyword_end;
        let rest = &text[pos..];
        let spaces = rest.len() - rest.trim_start().len();
        let after = &rest[spaces..];
        let prefix = usize::from(after.starts_with(['E', 'e']) && after[1..].starts_with('\''));
        if !after[prefix..].starts_with('\'') {
            continue;
        }
        let body_start = pos + spaces + prefix + 1;
        let end = literal_end(text, body_start);
        out.push_str(&text[pos..body_start]);
        out.push_str(MASK);
        out.push('\'');
        pos = end;
    }
    out.push_str(&text[pos..]);
    out
}

/// Where a quoted literal whose body starts at `start` ends (just past its
/// closing quote; a doubled or backslashed quote does not close it), or the
/// end of the text.
fn literal_end(text: &str, start: usize) -> usize {
    let bytes = text.as_bytes();
    let mut i = start;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'\\' => i += 2,
            b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

/// Replace what follows each `prefix` up to a quote, space or delimiter with
/// `***` when `is_secret` says it is one.
fn mask_tokens(text: &str, prefix: &str, is_secret: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = text[pos..].find(prefix) {
        let body_start = pos + found + prefix.len();
        let body_len = text[body_start..]
            .find(|c: char| c.is_whitespace() || "'\",;)]}".contains(c))
            .unwrap_or(text.len() - body_start);
        let body = &text[body_start..body_start + body_len];
        out.push_str(&text[pos..body_start]);
        if is_secret(body) {
            out.push_str(MASK);
        } else {
            out.push_str(body);
        }
        pos = body_start + body_len;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn verifiers_and_password_literals_are_masked() {
        let scram = "SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy";
        let sql = format!("ALTER ROLE app WITH LOGIN PASSWORD '{scram}';");
        assert_eq!(mask(&sql), "ALTER ROLE app WITH LOGIN PASSWORD '***';");
        assert_eq!(
            mask("create role x password  'it''s'  valid until 'infinity'"),
            "create role x password  '***'  valid until 'infinity'"
        );
        assert_eq!(mask("PASSWORD E'a\\'b' LOGIN"), "PASSWORD E'***' LOGIN");
        assert_eq!(
            mask(&format!("parameters: [\"{scram}\"]")),
            "parameters: [\"SCRAM-SHA-256$***\"]"
        );
        let md5 = "md5".to_string() + &"0123456789abcdef".repeat(2);
        assert_eq!(mask(&format!("PASSWORD {md5}")), "PASSWORD md5***");
        assert_eq!(mask("--no-role-passwords"), "--no-role-passwords");
        assert_eq!(mask("PASSWORD NULL, md5sum"), "PASSWORD NULL, md5sum");
        assert_eq!(mask("PASSWORD 'unterminated"), "PASSWORD '***'");
    }
}
