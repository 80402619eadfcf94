//! Python settings files as an exact syntax tree (tree-sitter-python): byte
//! ranges of every statement and literal, a small evaluator for literals, and
//! the first syntax error as file, line and column.
//!
//! It evaluates literals only (strings, numbers, booleans, None, lists,
//! tuples, dicts); anything else is "not a literal" and the caller must not
//! guess its value.

use tree_sitter::{Node, Parser, Tree};

use super::EditError;

/// A parsed Python file: the text and its tree.
pub struct PyFile {
    pub name: String,
    pub text: String,
    pub tree: Tree,
}

/// A Python literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    None,
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a string key up in a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(items) => items
                .iter()
                .rev()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// A top-level `NAME = value` statement.
#[derive(Debug, Clone)]
pub struct Assign<'t> {
    pub name: String,
    /// The whole statement (the `expression_statement` node).
    pub stmt: Node<'t>,
    /// The right-hand side.
    pub value: Node<'t>,
}

impl PyFile {
    /// Parses `text`; a syntax error is an error at its line and column.
    pub fn parse(name: &str, text: String) -> Result<PyFile, EditError> {
        let mut parser = Parser::new();
        parser
            .set_language(&tree_sitter_python::LANGUAGE.into())
            .map_err(|e| EditError::Usage(format!("tree-sitter-python: {e}")))?;
        let tree = parser
            .parse(&text, None)
            .ok_or_else(|| EditError::Usage(format!("{name}: the parser gave up")))?;
        if tree.root_node().has_error() {
            let (offset, what) = first_error(tree.root_node(), &text);
            return Err(EditError::at(name, &text, offset, what));
        }
        if let Some(offset) = too_deep(tree.root_node()) {
            return Err(EditError::at(
                name,
                &text,
                offset,
                format!(
                    "nested more than {MAX_DEPTH} levels deep; settings are never nested so deeply"
                ),
            ));
        }
        Ok(PyFile {
            name: name.to_string(),
            text,
            tree,
        })
    }

    /// The source text of a node.
    pub fn src(&self, node: Node<'_>) -> &str {
        &self.text[node.byte_range()]
    }

    /// 1-based line of a node.
    pub fn line(&self, node: Node<'_>) -> usize {
        node.start_position().row + 1
    }

    /// An error located at a node.
    pub fn error_at(&self, node: Node<'_>, message: impl Into<String>) -> EditError {
        EditError::at(&self.name, &self.text, node.start_byte(), message)
    }

    /// Every top-level simple assignment `NAME = value`, in order.
    pub fn top_assignments(&self) -> Vec<Assign<'_>> {
        let root = self.tree.root_node();
        let mut out = Vec::new();
        let mut cursor = root.walk();
        for stmt in root.named_children(&mut cursor) {
            if let Some((name, value)) = simple_assignment(stmt, &self.text) {
                out.push(Assign { name, stmt, value });
            }
        }
        out
    }

    /// Every place a name is bound other than a top-level `NAME = value`:
    /// nested in a block, augmented (`+=`), chained or unpacked. Returns the
    /// node of the binding. A caller that tracks the name must not guess.
    pub fn other_bindings(&self, name: &str) -> Vec<Node<'_>> {
        let root = self.tree.root_node();
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            let mut cursor = node.walk();
            for child in node.named_children(&mut cursor) {
                stack.push(child);
            }
            let kind = node.kind();
            if kind != "assignment" && kind != "augmented_assignment" {
                continue;
            }
            let Some(left) = node.child_by_field_name("left") else {
                continue;
            };
            if !binds(left, name, &self.text) {
                continue;
            }
            let is_plain_top = kind == "assignment"
                && left.kind() == "identifier"
                && node.parent().is_some_and(|p| {
                    p.kind() == "expression_statement" && p.parent() == Some(root)
                })
                && node
                    .child_by_field_name("right")
                    .is_some_and(|r| r.kind() != "assignment");
            if !is_plain_top {
                out.push(node);
            }
        }
        out.sort_by_key(|n| n.start_byte());
        out
    }

    /// Evaluates a literal node; `None` when it is not a literal.
    pub fn eval(&self, node: Node<'_>) -> Option<Value> {
        eval(node, &self.text)
    }
}

fn binds(left: Node<'_>, name: &str, text: &str) -> bool {
    match left.kind() {
        "identifier" => &text[left.byte_range()] == name,
        "pattern_list" | "tuple_pattern" | "list_pattern" | "tuple" | "list" => {
            let mut cursor = left.walk();
            let found = left
                .named_children(&mut cursor)
                .any(|c| binds(c, name, text));
            found
        }
        _ => false,
    }
}

fn simple_assignment<'t>(stmt: Node<'t>, text: &str) -> Option<(String, Node<'t>)> {
    if stmt.kind() != "expression_statement" || stmt.named_child_count() != 1 {
        return None;
    }
    let assign = stmt.named_child(0)?;
    if assign.kind() != "assignment" {
        return None;
    }
    let left = assign.child_by_field_name("left")?;
    let right = assign.child_by_field_name("right")?;
    if left.kind() != "identifier" || right.kind() == "assignment" {
        return None;
    }
    Some((text[left.byte_range()].to_string(), right))
}

/// The deepest syntax tree a file may have. The evaluator and the editors
/// recurse over literals; this bound keeps them far from the stack's end
/// whatever the input (Python itself refuses ~200 nested brackets).
pub const MAX_DEPTH: usize = 200;

/// The offset of the first node deeper than `MAX_DEPTH`, if any (walked
/// without recursion).
fn too_deep(root: Node<'_>) -> Option<usize> {
    let mut cursor = root.walk();
    let mut depth = 0;
    loop {
        if depth > MAX_DEPTH {
            return Some(cursor.node().start_byte());
        }
        if cursor.goto_first_child() {
            depth += 1;
            continue;
        }
        while !cursor.goto_next_sibling() {
            if !cursor.goto_parent() {
                return None;
            }
            depth -= 1;
        }
    }
}

/// The first ERROR or MISSING node, as a byte offset and a message.
fn first_error(root: Node<'_>, text: &str) -> (usize, String) {
    let mut stack = vec![root];
    let mut best: Option<(usize, String)> = None;
    while let Some(node) = stack.pop() {
        if node.is_missing() {
            let msg = format!("syntax error: missing {}", node.kind());
            if best.as_ref().is_none_or(|(o, _)| node.start_byte() < *o) {
                best = Some((node.start_byte(), msg));
            }
            continue;
        }
        if node.is_error() {
            let (at, msg) = match unclosed_bracket(&text[node.byte_range()]) {
                Some((i, c)) => (
                    node.start_byte() + i,
                    format!("syntax error: '{c}' is never closed"),
                ),
                None => {
                    let snippet: String = text[node.byte_range()].chars().take(20).collect();
                    let near = snippet.lines().next().unwrap_or("").to_string();
                    (node.start_byte(), format!("syntax error near {near:?}"))
                }
            };
            if best.as_ref().is_none_or(|(o, _)| at < *o) {
                best = Some((at, msg));
            }
            continue;
        }
        if node.has_error() {
            let mut cursor = node.walk();
            for child in node.children(&mut cursor) {
                stack.push(child);
            }
        }
    }
    best.unwrap_or((0, "syntax error".to_string()))
}

/// The innermost bracket in `src` that is never closed (strings and comments
/// skipped), as its offset and character: where Python would point.
fn unclosed_bracket(src: &str) -> Option<(usize, char)> {
    let mut stack: Vec<(usize, char)> = Vec::new();
    let mut chars = src.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '\'' | '"' => {
                while let Some((_, d)) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c || d == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => stack.push((i, c)),
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
    }
    stack.pop()
}

/// Named children that are not comments.
pub fn items<'t>(node: Node<'t>) -> Vec<Node<'t>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor)
        .filter(|c| c.kind() != "comment")
        .collect()
}

fn eval(node: Node<'_>, text: &str) -> Option<Value> {
    match node.kind() {
        "string" => eval_string(node, text).map(Value::Str),
        "concatenated_string" => {
            let mut s = String::new();
            for part in items(node) {
                s.push_str(&eval_string(part, text)?);
            }
            Some(Value::Str(s))
        }
        "integer" => parse_int(&text[node.byte_range()]).map(Value::Int),
        "float" => text[node.byte_range()]
            .replace('_', "")
            .parse()
            .ok()
            .map(Value::Float),
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "none" => Some(Value::None),
        "unary_operator" => {
            let op = node.child_by_field_name("operator")?;
            let arg = eval(node.child_by_field_name("argument")?, text)?;
            match (&text[op.byte_range()], arg) {
                ("-", Value::Int(i)) => i.checked_neg().map(Value::Int),
                ("-", Value::Float(f)) => Some(Value::Float(-f)),
                ("+", v @ (Value::Int(_) | Value::Float(_))) => Some(v),
                _ => None,
            }
        }
        "parenthesized_expression" => {
            let inner = items(node);
            if inner.len() == 1 {
                eval(inner[0], text)
            } else {
                None
            }
        }
        "list" => items(node)
            .into_iter()
            .map(|c| eval(c, text))
            .collect::<Option<Vec<_>>>()
            .map(Value::List),
        "tuple" => items(node)
            .into_iter()
            .map(|c| eval(c, text))
            .collect::<Option<Vec<_>>>()
            .map(Value::Tuple),
        "dictionary" => {
            let mut out = Vec::new();
            for pair in items(node) {
                if pair.kind() != "pair" {
                    return None;
                }
                let k = eval(pair.child_by_field_name("key")?, text)?;
                let v = eval(pair.child_by_field_name("value")?, text)?;
                out.push((k, v));
            }
            Some(Value::Dict(out))
        }
        _ => None,
    }
}

fn parse_int(raw: &str) -> Option<i64> {
    let s = raw.replace('_', "");
    let s = s.trim_end_matches(['l', 'L']); // Python 2 longs
    let lower = s.to_ascii_lowercase();
    if let Some(hex) = lower.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = lower.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else if let Some(bin) = lower.strip_prefix("0b") {
        i64::from_str_radix(bin, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok() // Python 2 octal
    } else {
        lower.parse().ok()
    }
}

/// The prefix (`r`, `u`, `b`, ...) and quote of a string node.
pub fn string_quote(node: Node<'_>, text: &str) -> Option<(String, String)> {
    let start = node.child(0)?;
    if start.kind() != "string_start" {
        return None;
    }
    let raw = &text[start.byte_range()];
    let q = raw.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    Some((
        raw[..raw.len() - q.len()].to_ascii_lowercase(),
        q.to_string(),
    ))
}

fn eval_string(node: Node<'_>, text: &str) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let (prefix, _) = string_quote(node, text)?;
    if prefix.contains('f') || prefix.contains('b') {
        return None; // f-strings are code; bytes are not settings strings
    }
    let raw_mode = prefix.contains('r');
    let mut out = String::new();
    let mut cursor = node.walk();
    for child in node.children(&mut cursor) {
        match child.kind() {
            "string_start" | "string_end" => {}
            "string_content" => {
                let body = &text[child.byte_range()];
                if raw_mode {
                    out.push_str(body);
                } else {
                    out.push_str(&unescape(body)?);
                }
            }
            _ => return None, // interpolation
        }
    }
    Some(out)
}

fn unescape(body: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => out.push('\\'),
            Some('\n') => {}
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            // \x, \u, \N and octal escapes: rare in settings; refuse to guess.
            Some('x' | 'u' | 'U' | 'N' | '1'..='7') => return None,
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// A Python string literal for `s` in the given quote (`'` or `"`).
pub fn quote(s: &str, q: char) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(q);
    out
}

/// The start of the line holding `offset`.
pub fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// The end of the line holding `offset` (the offset of its `\n`, or EOF).
pub fn line_end(text: &str, offset: usize) -> usize {
    text[offset..].find('\n').map_or(text.len(), |i| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> PyFile {
        PyFile::parse("t.conf", src.to_string()).unwrap()
    }

    #[test]
    fn evaluates_literals() {
        let f = parse("A = {'a': [1, -2, (3,)], \"b\": None, 'c': 'x' \"y\", 'd': r'\\d'}\n");
        let a = f.top_assignments();
        assert_eq!(a.len(), 1);
        let v = f.eval(a[0].value).unwrap();
        assert_eq!(
            v.get("a"),
            Some(&Value::List(vec![
                Value::Int(1),
                Value::Int(-2),
                Value::Tuple(vec![Value::Int(3)])
            ]))
        );
        assert_eq!(v.get("b"), Some(&Value::None));
        assert_eq!(v.get("c"), Some(&Value::Str("xy".into())));
        assert_eq!(v.get("d"), Some(&Value::Str("\\d".into())));
    }

    #[test]
    fn code_is_not_a_literal() {
        let f = parse("import os\nA = os.environ.get('X', 'y')\nB = 'a' + 'b'\n");
        let a = f.top_assignments();
        assert_eq!(a.len(), 2);
        assert_eq!(f.eval(a[0].value), None);
        assert_eq!(f.eval(a[1].value), None);
    }

    #[test]
    fn finds_other_bindings() {
        let f = parse("A = 1\nif x:\n    A = 2\nA += 3\nB = A = 4\n(A, C) = 1, 2\n");
        let lines: Vec<usize> = f.other_bindings("A").iter().map(|n| f.line(*n)).collect();
        assert_eq!(lines, vec![3, 4, 5, 6]);
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let err = PyFile::parse("x.conf", "A = 1\nB = {'a': 1,\n".into())
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("x.conf:2:"), "{err}");
        let err = PyFile::parse("x.conf", "A = 1\nB = = 2\n".into())
            .err()
            .unwrap()
            .to_string();
        assert!(err.starts_with("x.conf:2:"), "{err}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        for n in [300, 100_000] {
            for src in [
                format!("A = 1\nB = {}{}\n", "[".repeat(n), "]".repeat(n)),
                format!("A = 1\nB = {}1\n", "-".repeat(n)),
                format!("A = 1\nB = {}1{}\n", "{'k': ".repeat(n), "}".repeat(n)),
            ] {
                let err = PyFile::parse("x.conf", src).err().unwrap().to_string();
                assert!(err.starts_with("x.conf:2:"), "{err}");
                // (tree-sitter itself gives up on some huge nestings.)
                assert!(
                    err.contains("nested more than 200 levels") || n > 300,
                    "{err}"
                );
            }
        }
        // Settings as deep as real ones are fine.
        parse(&format!("A = {}{}\n", "[".repeat(50), "]".repeat(50)));
    }

    #[test]
    fn python2_files_parse() {
        parse("# -*- coding: utf-8 -*-\nprint 'x'\nA = 10L\n");
    }

    #[test]
    fn quoting_round_trips() {
        let src = format!("A = {}\n", quote("a'b\"c\\d", '\''));
        let f = parse(&src);
        let a = f.top_assignments();
        assert_eq!(f.eval(a[0].value), Some(Value::Str("a'b\"c\\d".into())));
    }
}
