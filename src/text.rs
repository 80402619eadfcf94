//! Text helpers: positions for error messages that name a file, line and
//! column; bounded tails and secret scrubbing for output that is kept.

/// 1-based line and column (in characters) of byte `offset` in `text`. An
/// offset past the end or inside a character counts from the character it
/// falls in, so a parser's span never panics here.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// Bytes of output kept as evidence or in the journal: the last ones, where
/// errors are.
pub const OUTPUT_LIMIT: usize = 64 * 1024;

/// The last `limit` bytes of `s`, cut at a character boundary.
pub fn tail(s: &str, limit: usize) -> &str {
    if s.len() <= limit {
        return s;
    }
    let mut start = s.len() - limit;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Words that make a `name=value` or `name: value` a secret.
const SECRET_WORDS: &[&str] = &["password", "passwd", "secret", "token", "credential"];

/// Replaces the value of every `name=value` / `name: value` / `name value`
/// pair whose name holds a secret word, and the password of URLs with
/// credentials (`scheme://user:password@host`), by `<redacted>`.
pub fn scrub(text: &str) -> String {
    text.lines().map(scrub_line).collect::<Vec<_>>().join("\n")
        + if text.ends_with('\n') { "\n" } else { "" }
}

fn scrub_line(line: &str) -> String {
    let mut line = scrub_urls(line);
    let lower = line.to_ascii_lowercase();
    for word in SECRET_WORDS {
        let mut from = 0;
        while let Some(i) = lower[from..].find(word).map(|i| i + from) {
            // The rest of the name, then the separator, then the value.
            let after_name = i + lower[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(lower.len() - i);
            let rest = &line[after_name..];
            let sep = rest
                .find(|c: char| !(c == ' ' || c == '=' || c == ':' || c == '"' || c == '\''))
                .unwrap_or(rest.len());
            let has_sep = rest[..sep].contains(['=', ':']);
            if has_sep && sep < rest.len() {
                let value_start = after_name + sep;
                let value_end = value_start
                    + line[value_start..]
                        .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',')
                        .unwrap_or(line.len() - value_start);
                if &line[value_start..value_end] != "<redacted>" {
                    line.replace_range(value_start..value_end, "<redacted>");
                    return scrub_line(&line);
                }
            }
            from = after_name.max(i + 1);
        }
    }
    line
}

fn scrub_urls(line: &str) -> String {
    let mut out = line.to_string();
    let mut from = 0;
    while let Some(i) = out[from..].find("://").map(|i| i + from) {
        let start = i + 3;
        let end = out[start..]
            .find(|c: char| c.is_whitespace() || c == '/' || c == '"' || c == '\'')
            .map_or(out.len(), |e| start + e);
        if let Some(at) = out[start..end].rfind('@') {
            if let Some(colon) = out[start..start + at].find(':') {
                out.replace_range(start + colon + 1..start + at, "<redacted>");
            }
        }
        from = start;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{line_col, scrub};

    #[test]
    fn counts_characters_not_bytes() {
        assert_eq!(line_col("ab\ncé d", 7), (2, 4));
        assert_eq!(line_col("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_col("x", 0), (1, 1));
    }

    #[test]
    fn offsets_inside_a_character_or_past_the_end_are_clamped() {
        // "é" is two bytes: offset 4 falls inside it.
        assert_eq!(line_col("ab\né", 4), (2, 1));
        assert_eq!(line_col("ab\n", 99), (2, 1));
    }

    #[test]
    fn secrets_are_scrubbed_from_output() {
        let text = "db_password=hunter2 ok\nSECRET_KEY: 'abc123'\n\
                    fetching https://lab:s3cret@apt.example.org/debian\n\
                    token = xyz, next\nnothing here\n";
        let s = scrub(text);
        for secret in ["hunter2", "abc123", "s3cret", "xyz"] {
            assert!(!s.contains(secret), "{secret} left in {s}");
        }
        assert!(
            s.contains("https://lab:<redacted>@apt.example.org/debian"),
            "{s}"
        );
        assert!(s.contains("nothing here\n"));
        assert!(s.contains("ok\n") && s.contains(", next"), "{s}");
    }
}
