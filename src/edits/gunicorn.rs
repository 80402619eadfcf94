//! `/etc/gunicorn.d/*` (Debian's gunicorn `CONFIG` dicts): Synnefo 0.19's
//! gunicorn has no `django` mode, so `'mode': 'django'` becomes `'wsgi'` and
//! `synnefo.webproject.wsgi` is appended as the last `args` item.
//!
//! Edits are splices into the original text: quotes, comments, trailing
//! commas and the indentation of neighbouring items are followed. Files that
//! are not Synnefo's (another Django project's settings module) are left alone
//! with a note.

use tree_sitter::Node;

use super::python::{items, line_end, line_start, quote, string_quote, PyFile, Value};
use super::{apply_splices, EditError, Edited, Splice};

/// The WSGI entry point 0.19 adds.
pub const WSGI_APP: &str = "synnefo.webproject.wsgi";
pub const RULE: &str = "gunicorn-wsgi";

/// Converts one gunicorn config file's text.
pub fn convert(name: &str, text: &str) -> Result<Edited, EditError> {
    let file = PyFile::parse(name, text.to_string())?;
    let mut out = Edited::unchanged(text);
    let Some(config) = file
        .top_assignments()
        .into_iter()
        .rfind(|a| a.name == "CONFIG")
    else {
        out.note(
            None,
            RULE,
            "no top-level CONFIG = {...}; not a gunicorn-debian config, left alone",
        );
        return Ok(out);
    };
    let dict = config.value;
    if dict.kind() != "dictionary" {
        return Err(file.error_at(dict, "CONFIG is not a dict literal; convert it by hand"));
    }
    let pairs = pairs(&file, dict);
    let get = |key: &str| pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v);

    // Only Synnefo's configs get Synnefo's WSGI module.
    let settings_module = get("environment")
        .and_then(|n| file.eval(n))
        .and_then(|v| v.get("DJANGO_SETTINGS_MODULE").cloned());
    let working_dir = get("working_dir").and_then(|n| file.eval(n));
    let is_synnefo = settings_module == Some(Value::Str("synnefo.settings".into()))
        || (settings_module.is_none() && working_dir == Some(Value::Str("/etc/synnefo".into())));
    if !is_synnefo {
        out.note(
            Some(file.line(config.stmt)),
            RULE,
            "not a Synnefo config (DJANGO_SETTINGS_MODULE is not synnefo.settings); left alone",
        );
        return Ok(out);
    }

    let mut splices = Vec::new();
    let mut changes = Vec::new();
    // No 'mode' at all is gunicorn-debian's default, wsgi.
    if let Some(node) = get("mode") {
        match file.eval(node) {
            Some(Value::Str(m)) if m == "django" => {
                let (prefix, q) = string_quote(node, &file.text).unwrap_or_default();
                splices.push(Splice::new(
                    node.byte_range(),
                    format!("{prefix}{q}wsgi{q}"),
                ));
                changes.push("'mode' django → wsgi".to_string());
            }
            Some(Value::Str(m)) if m == "wsgi" => {}
            // An unknown mode: the whole file is the operator's call.
            _ => {
                out.note(
                    Some(file.line(node)),
                    RULE,
                    format!(
                        "'mode' is {}; 0.19 needs 'wsgi': convert by hand",
                        file.src(node)
                    ),
                );
                return Ok(out);
            }
        }
    }

    let mut expected_args = None;
    match get("args") {
        Some(args) if matches!(args.kind(), "tuple" | "list") => {
            let elems = items(args);
            let values: Option<Vec<Value>> = elems.iter().map(|e| file.eval(*e)).collect();
            let is_app =
                |e: &Node<'_>| file.eval(*e).as_ref().and_then(Value::as_str) == Some(WSGI_APP);
            if elems.last().is_some_and(is_app) {
                // already done
            } else if let Some(pos) = elems.iter().position(is_app) {
                out.note(
                    Some(file.line(elems[pos])),
                    RULE,
                    format!("'{WSGI_APP}' is in args but not last; gunicorn takes the last positional argument: move it by hand"),
                );
            } else {
                splices.extend(append_item(&file, args, &elems));
                changes.push(format!("'{WSGI_APP}' appended to 'args'"));
                if let Some(mut v) = values {
                    v.push(Value::Str(WSGI_APP.into()));
                    expected_args = Some(v);
                }
            }
        }
        Some(other) => {
            return Err(file.error_at(other, "'args' is not a tuple or list; convert it by hand"));
        }
        None => out.note(
            Some(file.line(dict)),
            RULE,
            format!("CONFIG has no 'args'; add ('{WSGI_APP}',) by hand"),
        ),
    }

    if splices.is_empty() {
        return Ok(out);
    }
    let new = apply_splices(text, &splices);
    validate(name, &new, expected_args)?;
    out.new = new;
    out.changes = changes.into_iter().map(|c| (RULE, c)).collect();
    Ok(out)
}

/// (key, value node) for every string-keyed pair of a dict node.
fn pairs<'t>(file: &PyFile, dict: Node<'t>) -> Vec<(String, Node<'t>)> {
    items(dict)
        .into_iter()
        .filter(|p| p.kind() == "pair")
        .filter_map(|p| {
            let key = file.eval(p.child_by_field_name("key")?)?;
            Some((key.as_str()?.to_string(), p.child_by_field_name("value")?))
        })
        .collect()
}

/// The splices that append the WSGI module to a tuple or list node.
fn append_item(file: &PyFile, seq: Node<'_>, elems: &[Node<'_>]) -> Vec<Splice> {
    let text = &file.text;
    let Some(last) = elems.last() else {
        // `()` needs a trailing comma to stay a tuple.
        let item = quote(WSGI_APP, '\'');
        let inner = if seq.kind() == "tuple" {
            format!("{item},")
        } else {
            item
        };
        return vec![Splice::insert(seq.start_byte() + 1, inner)];
    };
    let q = string_quote(*last, text)
        .and_then(|(_, q)| q.chars().next())
        .filter(|c| *c == '"')
        .unwrap_or('\'');
    let item = quote(WSGI_APP, q);
    // The comma after the last item, if any (comments are skipped).
    let mut comma = None;
    let mut sibling = last.next_sibling();
    while let Some(s) = sibling {
        match s.kind() {
            "comment" => sibling = s.next_sibling(),
            "," => {
                comma = Some(s);
                break;
            }
            _ => break,
        }
    }
    let close = seq.end_byte().saturating_sub(1);
    let ls = line_start(text, last.start_byte());
    let own_line =
        text[ls..last.start_byte()].trim().is_empty() && line_end(text, last.end_byte()) < close;
    if own_line {
        let indent = &text[ls..last.start_byte()];
        match comma {
            Some(c) => vec![Splice::insert(
                line_end(text, c.end_byte()),
                format!("\n{indent}{item},"),
            )],
            None => vec![
                Splice::insert(last.end_byte(), ","),
                Splice::insert(line_end(text, last.end_byte()), format!("\n{indent}{item}")),
            ],
        }
    } else {
        vec![Splice::insert(last.end_byte(), format!(", {item}"))]
    }
}

/// Re-reads the converted text: it must parse, be in wsgi mode and end its
/// args with the WSGI module (and keep every earlier arg).
fn validate(name: &str, new: &str, expected_args: Option<Vec<Value>>) -> Result<(), EditError> {
    let file = PyFile::parse(name, new.to_string())?;
    let config = file
        .top_assignments()
        .into_iter()
        .rfind(|a| a.name == "CONFIG")
        .ok_or_else(|| EditError::Usage(format!("{name}: CONFIG lost while converting")))?;
    let pairs = pairs(&file, config.value);
    let get = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| file.eval(*v))
    };
    let bad =
        |what: &str| EditError::Usage(format!("{name}: converted text failed validation: {what}"));
    if let Some(mode) = get("mode") {
        if mode != Value::Str("wsgi".into()) {
            return Err(bad("mode is not wsgi"));
        }
    }
    if let Some(expected) = expected_args {
        match get("args") {
            Some(Value::Tuple(v) | Value::List(v)) if v == expected => {}
            _ => return Err(bad("args are not the old args plus the WSGI module")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_0181: &str =
        include_str!("../../tests/data/corpus-0.18.1/snf-webproject/extras/synnefo.example");
    const EXAMPLE_019: &str =
        include_str!("../../tests/data/corpus-0.19/snf-webproject/extras/synnefo.example");

    fn conv(text: &str) -> String {
        let out = convert("g", text).unwrap();
        assert!(out.notes.is_empty(), "{:?}", out.notes);
        // A second run finds nothing.
        let again = convert("g", &out.new).unwrap();
        assert_eq!(again.new, out.new);
        assert!(again.changes.is_empty());
        out.new
    }

    #[test]
    fn package_example_becomes_the_019_example() {
        assert_eq!(conv(EXAMPLE_0181), EXAMPLE_019);
    }

    #[test]
    fn no_trailing_comma_and_odd_closing_indent() {
        let src = "CONFIG = {\n 'mode': 'django',\n 'environment': {'DJANGO_SETTINGS_MODULE': 'synnefo.settings'},\n 'args': (\n   '--bind=127.0.0.1:8080',\n   '--timeout=90'  # keep\n   ),\n}\n";
        let want = "CONFIG = {\n 'mode': 'wsgi',\n 'environment': {'DJANGO_SETTINGS_MODULE': 'synnefo.settings'},\n 'args': (\n   '--bind=127.0.0.1:8080',\n   '--timeout=90',  # keep\n   'synnefo.webproject.wsgi'\n   ),\n}\n";
        assert_eq!(conv(src), want);
    }

    #[test]
    fn comments_after_the_last_item_stay_after_it() {
        let src = "CONFIG = {\n \"mode\": \"django\",\n 'working_dir': '/etc/synnefo',\n 'args': [\n     \"--workers=8\",  # eight\n     # \"--worker-class=sync\",\n ],\n}\n";
        let want = "CONFIG = {\n \"mode\": \"wsgi\",\n 'working_dir': '/etc/synnefo',\n 'args': [\n     \"--workers=8\",  # eight\n     \"synnefo.webproject.wsgi\",\n     # \"--worker-class=sync\",\n ],\n}\n";
        assert_eq!(conv(src), want);
    }

    #[test]
    fn one_line_and_empty_sequences() {
        let env = "'environment': {'DJANGO_SETTINGS_MODULE': 'synnefo.settings'}";
        assert_eq!(
            conv(&format!("CONFIG = {{'mode': 'django', {env}, 'args': ('--a', '--b',)}}\n")),
            format!("CONFIG = {{'mode': 'wsgi', {env}, 'args': ('--a', '--b', 'synnefo.webproject.wsgi',)}}\n")
        );
        assert_eq!(
            conv(&format!("CONFIG = {{{env}, 'args': ()}}\n")),
            format!("CONFIG = {{{env}, 'args': ('synnefo.webproject.wsgi',)}}\n")
        );
        assert_eq!(
            conv(&format!("CONFIG = {{{env}, 'args': []}}\n")),
            format!("CONFIG = {{{env}, 'args': ['synnefo.webproject.wsgi']}}\n")
        );
    }

    #[test]
    fn other_projects_are_left_alone() {
        let src = "CONFIG = {'mode': 'django', 'environment': {'DJANGO_SETTINGS_MODULE': 'mysite.settings'}, 'args': ()}\n";
        let out = convert("g", src).unwrap();
        assert_eq!(out.new, src);
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn unknown_mode_leaves_the_file_alone() {
        // Found by the gunicorn fuzz target.
        let src = "CONFIG = {'mode': 'd:jango', 'working_dir': '/etc/synnefo', 'args': ('--a',)}\n";
        let out = convert("g", src).unwrap();
        assert_eq!(out.new, src);
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn misplaced_module_is_reported_not_moved() {
        let src = "CONFIG = {'working_dir': '/etc/synnefo', 'args': ('synnefo.webproject.wsgi', '--a')}\n";
        let out = convert("g", src).unwrap();
        assert_eq!(out.new, src);
        assert_eq!(out.notes.len(), 1);
    }

    #[test]
    fn malformed_input_is_an_error_with_position() {
        let err = convert("g", "CONFIG = {\n 'mode': 'django'\n 'args': (),\n}\n").unwrap_err();
        assert!(err.to_string().starts_with("g:"), "{err}");
        let err = convert(
            "g",
            "CONFIG = {'working_dir': '/etc/synnefo', 'args': '--a'}\n",
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("g:1:"), "{err}");
    }
}
