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
/// The note on another Django application's django-mode config: it stops
/// with the dist-upgrade (`check` reports it as a WARN).
pub const NOTE_OTHER_DJANGO_APP: &str = "gunicorn-django-mode-app";
/// The settings module `synnefo.webproject.wsgi` falls back to when the
/// environment sets none.
const DEFAULT_SETTINGS: &str = "synnefo.settings";

/// gunicorn's options that take no value (0.14 and 19): a word after one of
/// these is a positional argument. Every other option takes a value, given
/// with `=` or as the next word.
const FLAGS: [&str; 23] = [
    "-D",
    "--daemon",
    "-R",
    "--enable-stdio-inheritance",
    "-v",
    "--version",
    "-h",
    "--help",
    "--preload",
    "--reload",
    "--spew",
    "--debug",
    "--check-config",
    "--print-config",
    "--no-sendfile",
    "--capture-output",
    "--log-syslog",
    "--proxy-protocol",
    "--reuse-port",
    "--suppress-ragged-eofs",
    "--do-handshake-on-connect",
    "--initgroups",
    "--strip-header-spaces",
];

/// Indexes of the positional arguments among gunicorn's argv words.
fn positionals(args: &[&str]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if a == "--" {
            out.extend(i + 1..args.len());
            break;
        }
        let takes_value = if let Some(long) = a.strip_prefix("--") {
            !long.contains('=') && !FLAGS.contains(&a)
        } else if a.starts_with('-') && a.len() > 1 {
            // `-w4` carries its value; `-w` takes the next word.
            a.len() == 2 && !FLAGS.contains(&a)
        } else {
            out.push(i);
            false
        };
        i += if takes_value { 2 } else { 1 };
    }
    out
}

/// The settings module a django-mode positional names: gunicorn_django took
/// a path to settings.py (module `DIR.NAME` from its folder's name and file
/// stem, relative paths from the working folder); a dotted name is a module.
fn named_settings(arg: &str, working_dir: Option<&str>) -> Option<String> {
    let is_ident = |p: &str| {
        p.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
    };
    if !arg.contains('/') && !arg.ends_with(".py") {
        return arg.split('.').all(is_ident).then(|| arg.to_string());
    }
    let path = if arg.starts_with('/') {
        std::path::PathBuf::from(arg)
    } else {
        std::path::Path::new(working_dir?).join(arg)
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(p) => parts.push(p.to_str()?),
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    let file = parts.pop()?;
    let stem = file.strip_suffix(".py").unwrap_or(file);
    let dir = parts.pop()?;
    (is_ident(dir) && is_ident(stem)).then(|| format!("{dir}.{stem}"))
}

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

    let env_node = get("environment");
    let settings_node = env_node
        .filter(|n| n.kind() == "dictionary")
        .and_then(|env| {
            self::pairs(&file, env)
                .into_iter()
                .rev()
                .find(|(k, _)| k == "DJANGO_SETTINGS_MODULE")
                .map(|(_, v)| v)
        });
    let settings_module = env_node
        .and_then(|n| file.eval(n))
        .and_then(|v| v.get("DJANGO_SETTINGS_MODULE").cloned());
    let working_dir = get("working_dir").and_then(|n| file.eval(n));
    let mode = get("mode").map(|n| file.eval(n));
    let django_mode = matches!(&mode, Some(Some(Value::Str(m))) if m == "django");

    // The args as gunicorn's argv, when every item is a literal string.
    let args_node = get("args").filter(|a| matches!(a.kind(), "tuple" | "list"));
    let elems = args_node.map(items).unwrap_or_default();
    let words: Option<Vec<String>> = elems
        .iter()
        .map(|e| match file.eval(*e) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        })
        .collect();
    let positional: Option<Vec<usize>> = words
        .as_ref()
        .map(|w| positionals(&w.iter().map(String::as_str).collect::<Vec<_>>()));

    // In django mode a positional argument named the settings, overriding
    // the environment; it decides whose config this is.
    let wd = working_dir.as_ref().and_then(Value::as_str);
    let positional_settings = match (django_mode, &positional, &words) {
        (true, Some(p), Some(w)) if p.len() == 1 => {
            let arg = &w[p[0]];
            match named_settings(arg, wd) {
                Some(m) => Some((p[0], m)),
                None => {
                    out.note(
                        Some(file.line(elems[p[0]])),
                        RULE,
                        format!("'args' holds {arg:?}, which django mode read as the settings; this tool cannot tell which settings module it names: convert by hand (0.19 reads DJANGO_SETTINGS_MODULE and takes '{WSGI_APP}' as the only positional argument)"),
                    );
                    return Ok(out);
                }
            }
        }
        (true, Some(p), Some(w)) if p.len() > 1 => {
            out.note(
                Some(file.line(elems[p[1]])),
                RULE,
                format!("'args' holds {} positional arguments ({}); gunicorn 19 takes exactly one: convert by hand", p.len(), p.iter().map(|i| format!("{:?}", w[*i])).collect::<Vec<_>>().join(", ")),
            );
            return Ok(out);
        }
        (true, None, _) if !elems.is_empty() => {
            out.note(
                Some(file.line(args_node.expect("elems come from args"))),
                RULE,
                "'args' holds values that are not plain strings; this tool cannot tell whether one is the settings positional argument: convert by hand",
            );
            return Ok(out);
        }
        _ => None,
    };

    // Only Synnefo's configs get Synnefo's WSGI module.
    let is_synnefo = match &positional_settings {
        Some((_, m)) => m.starts_with("synnefo."),
        None => {
            settings_module == Some(Value::Str(DEFAULT_SETTINGS.into()))
                || (settings_module.is_none()
                    && working_dir == Some(Value::Str("/etc/synnefo".into())))
        }
    };
    if !is_synnefo {
        let whose = match (&positional_settings, &settings_module) {
            (Some((_, m)), _) => format!("its settings are {m}"),
            (None, Some(Value::Str(m))) => format!("DJANGO_SETTINGS_MODULE is {m}"),
            _ => "DJANGO_SETTINGS_MODULE is not synnefo.settings".to_string(),
        };
        if django_mode {
            out.note_with_id(
                Some(file.line(config.stmt)),
                RULE,
                NOTE_OTHER_DJANGO_APP,
                format!("not a Synnefo config ({whose}); left alone. It is in django mode, which gunicorn 19 (jessie) no longer has: this application stops too after the dist-upgrade, until its config is moved to wsgi mode (mode 'wsgi' and its WSGI module as the only positional argument)"),
            );
        } else {
            out.note(
                Some(file.line(config.stmt)),
                RULE,
                format!("not a Synnefo config ({whose}); left alone"),
            );
        }
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
    let mut expected_settings = None;
    match get("args") {
        Some(args) if matches!(args.kind(), "tuple" | "list") => {
            let values: Option<Vec<Value>> = elems.iter().map(|e| file.eval(*e)).collect();
            let is_app =
                |e: &Node<'_>| file.eval(*e).as_ref().and_then(Value::as_str) == Some(WSGI_APP);
            let other_app = match (&positional, &words) {
                (Some(p), Some(w)) if !django_mode => {
                    p.iter().map(|i| &w[*i]).find(|a| *a != WSGI_APP)
                }
                _ => None,
            };
            if let Some((idx, module)) = &positional_settings {
                // The settings positional goes; its meaning moves to the
                // environment when it differs from what 0.19 would load.
                let now = settings_module
                    .as_ref()
                    .and_then(Value::as_str)
                    .unwrap_or(DEFAULT_SETTINGS);
                if module != now {
                    let Some(node) =
                        settings_node.filter(|n| string_quote(*n, &file.text).is_some())
                    else {
                        out.note(
                            Some(file.line(elems[*idx])),
                            RULE,
                            format!("'args' names the settings {module}, but 'environment' has no DJANGO_SETTINGS_MODULE string to carry it: set DJANGO_SETTINGS_MODULE to {module} by hand, then run again"),
                        );
                        return Ok(out);
                    };
                    let (prefix, q) = string_quote(node, &file.text).unwrap_or_default();
                    let qc = q.chars().next().unwrap_or('\'');
                    let quoted = quote(module, qc);
                    splices.push(Splice::new(node.byte_range(), format!("{prefix}{quoted}")));
                    changes.push(format!(
                        "DJANGO_SETTINGS_MODULE {now} → {module} (from the settings positional argument)"
                    ));
                    expected_settings = Some(module.to_string());
                }
                let w = words.as_ref().expect("positional_settings needs words");
                splices.extend(replace_positional(&file, args, &elems, *idx));
                changes.push(format!(
                    "settings positional argument {:?} replaced by '{WSGI_APP}'",
                    w[*idx]
                ));
                let mut v: Vec<Value> = w
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i != idx)
                    .map(|(_, a)| Value::Str(a.clone()))
                    .collect();
                v.push(Value::Str(WSGI_APP.into()));
                expected_args = Some(v);
            } else if let Some(app) = other_app {
                out.note(
                    Some(file.line(args)),
                    RULE,
                    format!("'args' already names the WSGI application {app:?}; gunicorn 19 takes exactly one positional argument: convert by hand"),
                );
                return Ok(out);
            } else if elems.last().is_some_and(is_app) {
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
    validate(name, &new, expected_args, expected_settings)?;
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

/// The splices that put the WSGI module in place of the positional argument
/// `idx`: in its place when it is the last item, else it goes (with its comma,
/// or its whole line when it had one to itself) and the module is appended.
fn replace_positional(file: &PyFile, seq: Node<'_>, elems: &[Node<'_>], idx: usize) -> Vec<Splice> {
    let text = &file.text;
    let item = elems[idx];
    let q = string_quote(item, text)
        .and_then(|(_, q)| q.chars().next())
        .filter(|c| *c == '"')
        .unwrap_or('\'');
    if idx + 1 == elems.len() {
        return vec![Splice::new(item.byte_range(), quote(WSGI_APP, q))];
    }
    // The comma after the item, and the blanks after it on the same line.
    let mut end = item.end_byte();
    let rest = &text[end..];
    let comma = rest.find(',').filter(|c| rest[..*c].trim().is_empty());
    if let Some(c) = comma {
        end += c + 1;
    }
    end += text[end..].len() - text[end..].trim_start_matches([' ', '\t']).len();
    let ls = line_start(text, item.start_byte());
    let alone = text[ls..item.start_byte()].trim().is_empty() && text[end..].starts_with('\n');
    let removal = if alone {
        Splice::new(ls..end + 1, "")
    } else {
        Splice::new(item.start_byte()..end, "")
    };
    let mut out = vec![removal];
    out.extend(append_item(file, seq, elems));
    out
}

/// Re-reads the converted text: it must parse, be in wsgi mode and end its
/// args with the WSGI module (and keep every earlier arg), with the settings
/// module expected.
fn validate(
    name: &str,
    new: &str,
    expected_args: Option<Vec<Value>>,
    expected_settings: Option<String>,
) -> Result<(), EditError> {
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
    if let Some(module) = expected_settings {
        let env = get("environment");
        if env.as_ref().and_then(|e| e.get("DJANGO_SETTINGS_MODULE")) != Some(&Value::Str(module)) {
            return Err(bad(
                "DJANGO_SETTINGS_MODULE is not the settings the args named",
            ));
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
    fn other_django_apps_are_told_they_stop() {
        let src = "CONFIG = {'mode': 'django', 'environment': {'DJANGO_SETTINGS_MODULE': 'mysite.settings'}, 'args': ('--bind=127.0.0.1:9000',)}\n";
        let out = convert("g", src).unwrap();
        assert_eq!(out.new, src);
        let (_, _, message, id) = &out.notes[0];
        assert_eq!(*id, Some(NOTE_OTHER_DJANGO_APP));
        assert!(
            message.contains("mysite.settings") && message.contains("stops"),
            "{message}"
        );
        // In wsgi mode it keeps running: a plain note.
        let src = src.replace("'django'", "'wsgi'");
        assert_eq!(convert("g", &src).unwrap().notes[0].3, None);
    }

    #[test]
    fn positionals_follow_gunicorn_options() {
        let p = |a: &[&str]| positionals(a);
        assert_eq!(p(&["--bind=x", "/etc/synnefo/settings.py"]), vec![1]);
        assert_eq!(p(&["--bind", "x", "-w", "4", "-w4", "s.py"]), vec![5]);
        assert_eq!(p(&["--daemon", "s", "--preload", "-D", "t"]), vec![1, 4]);
        assert_eq!(p(&["--", "-x"]), vec![1]);
        assert_eq!(
            named_settings("/usr/lib/python2.7/dist-packages/synnefo/settings.py", None).as_deref(),
            Some("synnefo.settings")
        );
        assert_eq!(
            named_settings("settings.py", Some("/etc/synnefo")).as_deref(),
            Some("synnefo.settings")
        );
        assert_eq!(named_settings("settings.py", None), None);
        assert_eq!(
            named_settings("synnefo.local_settings", None).as_deref(),
            Some("synnefo.local_settings")
        );
    }

    /// gunicorn 19 takes exactly one positional argument in wsgi mode: the
    /// settings positional of django mode is replaced, never followed.
    #[test]
    fn settings_positional_is_replaced() {
        let env = "'environment': {'DJANGO_SETTINGS_MODULE': 'synnefo.settings'}";
        // Last item: replaced in place.
        assert_eq!(
            conv(&format!("CONFIG = {{'mode': 'django', {env}, 'args': ('--bind=127.0.0.1:8080', '/usr/lib/python2.7/dist-packages/synnefo/settings.py')}}\n")),
            format!("CONFIG = {{'mode': 'wsgi', {env}, 'args': ('--bind=127.0.0.1:8080', 'synnefo.webproject.wsgi')}}\n")
        );
        // On its own line, not last: the line goes, the module is appended.
        assert_eq!(
            conv(&format!("CONFIG = {{\n 'mode': 'django',\n {env},\n 'args': (\n   'synnefo.settings',\n   '--workers=4',\n ),\n}}\n")),
            format!("CONFIG = {{\n 'mode': 'wsgi',\n {env},\n 'args': (\n   '--workers=4',\n   'synnefo.webproject.wsgi',\n ),\n}}\n")
        );
        // Another settings module of Synnefo's moves to the environment.
        assert_eq!(
            conv(&format!("CONFIG = {{'mode': 'django', {env}, 'args': ('synnefo.local_settings', '--workers=4')}}\n")),
            "CONFIG = {'mode': 'wsgi', 'environment': {'DJANGO_SETTINGS_MODULE': 'synnefo.local_settings'}, 'args': ('--workers=4', 'synnefo.webproject.wsgi')}\n"
        );
    }

    #[test]
    fn undecidable_positionals_leave_the_file_with_a_note() {
        for src in [
            // A relative path without a working_dir.
            "CONFIG = {'mode': 'django', 'environment': {'DJANGO_SETTINGS_MODULE': 'synnefo.settings'}, 'args': ('settings.py',)}\n",
            // Two positionals.
            "CONFIG = {'mode': 'django', 'working_dir': '/etc/synnefo', 'args': ('a.settings', 'b.settings')}\n",
            // Another module, no environment to carry it.
            "CONFIG = {'mode': 'django', 'working_dir': '/etc/synnefo', 'args': ('synnefo.other',)}\n",
            // Code in args.
            "CONFIG = {'mode': 'django', 'working_dir': '/etc/synnefo', 'args': ('--bind=' + B,)}\n",
            // wsgi mode naming another application already.
            "CONFIG = {'mode': 'wsgi', 'working_dir': '/etc/synnefo', 'args': ('myapp.wsgi',)}\n",
        ] {
            let out = convert("g", src).unwrap();
            assert_eq!(out.new, src);
            assert_eq!(out.notes.len(), 1, "{src}: {:?}", out.notes);
        }
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
