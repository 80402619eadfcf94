//! Secrets kept out of what `convert` shows: the values of secret settings
//! (`*_TOKEN`, `*SECRET*`, `*PASSWORD*`/`*PASSWD*`, DATABASES' `PASSWORD`,
//! `SECRET_KEY`) and the credentials of URIs (`scheme://user:pass@host`)
//! become `<redacted>` in diffs, so a diff in a terminal, a log or a ticket
//! never carries them. Line structure is kept, so hunks stay where they were.

use tree_sitter::Node;

use super::apply_splices;
use super::python::{items, PyFile};
use super::Splice;

pub const REDACTED: &str = "<redacted>";

/// Whether a setting or dict key names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n == "TOKEN"
        || n.ends_with("_TOKEN")
        || n.contains("SECRET")
        || n.contains("PASSWORD")
        || n.contains("PASSWD")
}

/// `text` with secret values replaced; `python` says whether it is a Python
/// settings file (gunicorn.d, /etc/synnefo).
pub fn redact(text: &str, python: bool) -> String {
    let text = if python {
        redact_python(text)
    } else {
        text.to_string()
    };
    redact_uri_credentials(&text)
}

/// Every literal bound to a secret name (assignment, dict key, keyword).
fn redact_python(text: &str) -> String {
    let Ok(file) = PyFile::parse("redact", text.to_string()) else {
        return redact_lines(text);
    };
    let mut splices = Vec::new();
    let mut stack = vec![file.tree.root_node()];
    while let Some(node) = stack.pop() {
        let secret_value = match node.kind() {
            "assignment" => node
                .child_by_field_name("left")
                .filter(|l| secret_target(&file, *l))
                .and_then(|_| node.child_by_field_name("right")),
            "pair" => node
                .child_by_field_name("key")
                .filter(|k| {
                    file.eval(*k)
                        .as_ref()
                        .and_then(|v| v.as_str())
                        .is_some_and(is_secret_name)
                })
                .and_then(|_| node.child_by_field_name("value")),
            "keyword_argument" => node
                .child_by_field_name("name")
                .filter(|n| is_secret_name(file.src(*n)))
                .and_then(|_| node.child_by_field_name("value")),
            _ => None,
        };
        match secret_value {
            Some(value) => literals(value, text, &mut splices),
            None => stack.extend(items(node)),
        }
    }
    apply_splices(text, &splices)
}

/// `NAME`, `X['NAME']` or `X.NAME` naming a secret.
fn secret_target(file: &PyFile, left: Node<'_>) -> bool {
    match left.kind() {
        "identifier" => is_secret_name(file.src(left)),
        "attribute" => left
            .child_by_field_name("attribute")
            .is_some_and(|a| is_secret_name(file.src(a))),
        "subscript" => left
            .child_by_field_name("subscript")
            .and_then(|s| file.eval(s))
            .as_ref()
            .and_then(|v| v.as_str())
            .is_some_and(is_secret_name),
        _ => false,
    }
}

/// Splices replacing every string and number literal under `node`, keeping
/// its line breaks.
fn literals(node: Node<'_>, text: &str, out: &mut Vec<Splice>) {
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        match n.kind() {
            "string" | "concatenated_string" | "integer" | "float" => {
                let newlines = text[n.byte_range()].matches('\n').count();
                out.push(Splice::new(
                    n.byte_range(),
                    format!("'{REDACTED}'{}", "\\\n".repeat(newlines)),
                ));
            }
            _ => stack.extend(items(n)),
        }
    }
}

/// For text that does not parse: the rest of any line that assigns a secret
/// name (`NAME = ...`, `'NAME': ...`).
fn redact_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let Some(sep) = line.find(['=', ':']) else {
                return line.to_string();
            };
            let name = line[..sep].trim().trim_matches(['\'', '"']);
            if !name.is_empty()
                && name.chars().all(|c| c.is_alphanumeric() || c == '_')
                && is_secret_name(name)
            {
                let end = if line.ends_with('\n') { "\n" } else { "" };
                format!("{}{} {REDACTED}{end}", &line[..sep], &line[sep..=sep])
            } else {
                line.to_string()
            }
        })
        .collect()
}

/// `scheme://user:pass@host` → `scheme://<redacted>@host`, anywhere.
pub fn redact_uri_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || matches!(c, '"' | '\'' | ']' | ','))
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str(REDACTED);
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_settings_are_redacted_and_lines_kept() {
        let src = "SECRET_KEY = 'abc'\nDATABASES = {\n  'default': {'NAME': 'snf', 'PASSWORD': 'pw1',\n  },\n}\nCYCLADES_SERVICE_TOKEN = (\"t1\"\n  \"t2\")\nDATABASES['default']['PASSWORD'] = 'pw2'\nEMAIL = dict(host='h', password='pw3')\nOTHER = 'kept'\n";
        let out = redact(src, true);
        for secret in ["abc", "pw1", "t1", "t2", "pw2", "pw3"] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(out.contains("'NAME': 'snf'") && out.contains("OTHER = 'kept'"));
        assert_eq!(out.lines().count(), src.lines().count());
    }

    #[test]
    fn uri_credentials_are_redacted() {
        assert_eq!(
            redact(
                "AMQP_HOSTS = [\"amqp://synnefo:pw@mq:5672\"]\nX = 'http://h/a@b'\n",
                true
            ),
            "AMQP_HOSTS = [\"amqp://<redacted>@mq:5672\"]\nX = 'http://h/a@b'\n"
        );
        assert_eq!(
            redact(
                "deb https://u:p@apt.example.org/debian wheezy main\n",
                false
            ),
            "deb https://<redacted>@apt.example.org/debian wheezy main\n"
        );
    }

    #[test]
    fn unparsable_text_is_redacted_by_line() {
        assert_eq!(
            redact("SECRET_KEY = 'x' +\n'PASSWORD': 'y',\nA = (\n", true),
            "SECRET_KEY = <redacted>\n'PASSWORD': <redacted>\nA = (\n"
        );
    }
}
