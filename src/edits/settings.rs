//! `/etc/synnefo/*.conf`: the Synnefo settings 0.19 changes. Synnefo
//! executes every `*.conf` there in sorted file-name order, so a setting may
//! sit in any file and the last assignment wins; this editor reads them the
//! same way.
//!
//! Rules (each one only where needed, so a second run finds nothing):
//! - `cyclades-caches`: `VMAPI_CACHE`, `VM_PASSWORD_CACHE` and
//!   `PUBLIC_STATS_CACHE` dicts derived from the 0.18.1 `CACHE_BACKEND`,
//!   `VMAPI_CACHE_BACKEND`, `VMAPI_CACHE_KEY_PREFIX` and
//!   `PUBLIC_STATS_CACHE_POPULATE_INTERVAL`, as 0.18.1 used them (memcached
//!   locations and timeouts carried over); the obsolete settings commented
//!   out with a note, never deleted.
//! - `allowed-hosts`: `ALLOWED_HOSTS` set explicitly (default `['*']`).
//! - `backend-allocator`: an explicit `DefaultAllocator` → `FilterAllocator`.
//! - `logging-setup`: a customised `LOGGING_SETUP` is reported, never edited.
//!
//! Values that are code rather than literals, and settings bound inside a
//! block, are reported and their rule skipped: nothing is guessed.

use std::ops::Range;

use super::python::{items, line_end, line_start, quote, string_quote, PyFile, Value};
use super::{apply_splices, EditError, Edited, Splice};

pub const RULE_CACHES: &str = "cyclades-caches";
pub const RULE_ALLOWED_HOSTS: &str = "allowed-hosts";
pub const RULE_ALLOCATOR: &str = "backend-allocator";
pub const RULE_LOGGING: &str = "logging-setup";

pub const DEFAULT_ALLOCATOR: &str = "synnefo.logic.allocators.default_allocator.DefaultAllocator";
pub const FILTER_ALLOCATOR: &str = "synnefo.logic.allocators.filter_allocator.FilterAllocator";

/// The settings 0.19 no longer reads.
pub const OBSOLETE: [&str; 4] = [
    "CACHE_BACKEND",
    "VMAPI_CACHE_BACKEND",
    "VMAPI_CACHE_KEY_PREFIX",
    "PUBLIC_STATS_CACHE_POPULATE_INTERVAL",
];
/// The 0.19 cache settings, in the order they are written.
pub const NEW_CACHES: [&str; 3] = ["VMAPI_CACHE", "VM_PASSWORD_CACHE", "PUBLIC_STATS_CACHE"];

/// Options a site gives the settings editor.
#[derive(Debug, Clone, Default)]
pub struct SettingsOptions {
    /// `ALLOWED_HOSTS`; `None` means 0.19's default `['*']`, written only
    /// where the setting is missing.
    pub allowed_hosts: Option<Vec<String>>,
}

/// One top-level assignment, with owned ranges.
#[derive(Debug, Clone)]
struct Def {
    file: usize,
    line: usize,
    stmt: Range<usize>,
    value: Range<usize>,
    val: Option<Value>,
    quote: Option<(String, String)>,
}

/// Converts the settings files (name, text), given in the order Synnefo
/// reads them. Returns one result per file, in the same order.
pub fn convert(
    files: &[(String, String)],
    opts: &SettingsOptions,
) -> Result<Vec<Edited>, EditError> {
    let parsed = files
        .iter()
        .map(|(name, text)| PyFile::parse(name, text.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (splices, mut results) = plan(&parsed, opts)?;
    let mut new_files = Vec::new();
    for ((i, (name, text)), splices) in files.iter().enumerate().zip(splices) {
        let new = apply_splices(text, &splices);
        results[i].new = new.clone();
        new_files.push((name.clone(), new));
    }
    validate(files, &new_files, opts)?;
    Ok(results)
}

/// Re-reads the converted files: they must parse, and running every rule on
/// them again must change nothing.
fn validate(
    old: &[(String, String)],
    new: &[(String, String)],
    opts: &SettingsOptions,
) -> Result<(), EditError> {
    if old == new {
        return Ok(());
    }
    let parsed = new
        .iter()
        .map(|(name, text)| PyFile::parse(name, text.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let (splices, _) = plan(&parsed, opts)?;
    if let Some((i, _)) = splices.iter().enumerate().find(|(_, s)| !s.is_empty()) {
        return Err(EditError::Usage(format!(
            "{}: converted settings failed validation (a second pass still changes them)",
            new[i].0
        )));
    }
    Ok(())
}

type Plan = (Vec<Vec<Splice>>, Vec<Edited>);

fn plan(files: &[PyFile], opts: &SettingsOptions) -> Result<Plan, EditError> {
    let mut splices: Vec<Vec<Splice>> = vec![Vec::new(); files.len()];
    let mut results: Vec<Edited> = files.iter().map(|f| Edited::unchanged(&f.text)).collect();
    if files.is_empty() {
        return Ok((splices, results));
    }
    caches(files, &mut splices, &mut results)?;
    allowed_hosts(files, opts, &mut splices, &mut results);
    allocator(files, &mut splices, &mut results);
    logging(files, &mut results);
    Ok((splices, results))
}

/// Every top-level definition of `name`, in execution order.
fn defs(files: &[PyFile], name: &str) -> Vec<Def> {
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        for a in f.top_assignments() {
            if a.name == name {
                out.push(Def {
                    file: i,
                    line: f.line(a.stmt),
                    stmt: a.stmt.byte_range(),
                    value: a.value.byte_range(),
                    val: f.eval(a.value),
                    quote: string_quote(a.value, &f.text),
                });
            }
        }
    }
    out
}

/// Bindings of `name` this editor cannot follow (inside blocks, `+=`, ...),
/// as notes; true when there are any.
fn unfollowable(files: &[PyFile], name: &str, rule: &'static str, results: &mut [Edited]) -> bool {
    let mut any = false;
    for (i, f) in files.iter().enumerate() {
        for node in f.other_bindings(name) {
            results[i].note(
                Some(f.line(node)),
                rule,
                format!("{name} is set in a way this tool cannot follow (inside a block, augmented or unpacked); convert it by hand"),
            );
            any = true;
        }
    }
    any
}

/// A 0.18.1 (Django 1.4) cache URI, as `parse_backend_uri` read it.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyCache {
    pub backend: &'static str,
    pub location: String,
    /// The URI's `timeout` as Django 1.4 read it (a non-integer became its
    /// default, 300: `BaseCache.__init__`).
    pub timeout: Option<i64>,
    /// Set when `timeout` was not an integer: what the operator should know.
    pub timeout_note: Option<String>,
    pub max_entries: Option<i64>,
    pub cull_frequency: Option<i64>,
}

/// Django's default cache timeout, in 1.4 and 1.7 alike.
pub const DJANGO_DEFAULT_TIMEOUT: i64 = 300;
const MEMCACHED: &str = "django.core.cache.backends.memcached.MemcachedCache";

/// Parses `scheme://location[/][?timeout=N&max_entries=N&cull_frequency=N]`.
/// Errors are messages; the caller places them.
pub fn parse_legacy_uri(uri: &str) -> Result<LegacyCache, String> {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err(format!("cache URI {uri:?} must start with scheme://"));
    };
    let Some(rest) = rest.strip_prefix("//") else {
        return Err(format!("cache URI {uri:?} must start with scheme://"));
    };
    let backend = match scheme {
        "memcached" => MEMCACHED,
        "locmem" => "django.core.cache.backends.locmem.LocMemCache",
        "file" => "django.core.cache.backends.filebased.FileBasedCache",
        "db" => "django.core.cache.backends.db.DatabaseCache",
        "dummy" => "django.core.cache.backends.dummy.DummyCache",
        other => {
            return Err(format!(
                "cache URI scheme {other:?} is a custom backend module; convert it by hand"
            ))
        }
    };
    let (host, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let location = host.strip_suffix('/').unwrap_or(host).to_string();
    let mut cache = LegacyCache {
        backend,
        location,
        timeout: None,
        timeout_note: None,
        max_entries: None,
        cull_frequency: None,
    };
    for pair in query
        .unwrap_or("")
        .split(['&', ';'])
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n = || {
            v.trim()
                .parse::<i64>()
                .map_err(|_| format!("cache URI parameter {k}={v:?} is not an integer"))
        };
        match k {
            // Django 1.4 (`BaseCache.__init__`) fell back to 300 s for a
            // timeout int() could not read: so does the conversion, saying so.
            "timeout" => match n() {
                Ok(t) => cache.timeout = Some(t),
                Err(_) if !v.trim().is_empty() && !is_digits(v.trim()) => {
                    cache.timeout = Some(DJANGO_DEFAULT_TIMEOUT);
                    cache.timeout_note = Some(format!(
                        "the cache URI's timeout={v:?} is not an integer: Django 1.4 used its default, {DJANGO_DEFAULT_TIMEOUT} s, and so does the converted cache; check it is what the site wants"
                    ));
                }
                Err(e) => return Err(e),
            },
            "max_entries" => cache.max_entries = Some(n()?),
            "cull_frequency" => cache.cull_frequency = Some(n()?),
            other => {
                return Err(format!(
                    "cache URI parameter {other:?} is unknown; convert it by hand"
                ))
            }
        }
    }
    Ok(cache)
}

/// An integer too large for i64 is an error, not Django's fallback.
fn is_digits(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl LegacyCache {
    /// The 0.19 (Django 1.7) `TIMEOUT` that behaves as this URI's timeout did
    /// in 0.18.1 (Django 1.4); `None` when the URI had none (300 s in both).
    /// Only memcached read a 0 differently: Django 1.4 passed it on to
    /// memcached, which keeps such entries forever (1.7 spells that `None`);
    /// Django 1.7 reads 0 as "expire at once", as 1.4's other backends did.
    /// Negative values expire at once in both. See docs/edits.md.
    pub fn timeout_019(&self) -> Option<Value> {
        match self.timeout {
            None => None,
            Some(0) if self.backend == MEMCACHED => Some(Value::None),
            Some(n) => Some(Value::Int(n)),
        }
    }

    /// The 0.19 dict: BACKEND, LOCATION, KEY_PREFIX, then TIMEOUT and OPTIONS
    /// where given.
    fn dict(&self, key_prefix: &str, timeout: Option<Value>) -> Value {
        let s = |v: &str| Value::Str(v.to_string());
        let mut items = vec![
            (s("BACKEND"), s(self.backend)),
            (s("LOCATION"), s(&self.location)),
            (s("KEY_PREFIX"), s(key_prefix)),
        ];
        if let Some(t) = timeout {
            items.push((s("TIMEOUT"), t));
        }
        let mut options = Vec::new();
        if let Some(n) = self.max_entries {
            options.push((s("MAX_ENTRIES"), Value::Int(n)));
        }
        if let Some(n) = self.cull_frequency {
            options.push((s("CULL_FREQUENCY"), Value::Int(n)));
        }
        if !options.is_empty() {
            items.push((s("OPTIONS"), Value::Dict(options)));
        }
        Value::Dict(items)
    }
}

/// 0.19's defaults for the three caches (`synnefo/app_settings/default`).
pub fn default_cache(name: &str) -> Value {
    let locmem = LegacyCache {
        backend: "django.core.cache.backends.locmem.LocMemCache",
        location: String::new(),
        timeout: None,
        timeout_note: None,
        max_entries: None,
        cull_frequency: None,
    };
    match name {
        "VMAPI_CACHE" => locmem.dict("vmapi", None),
        "VM_PASSWORD_CACHE" => locmem.dict("vmpassword", Some(Value::None)),
        _ => locmem.dict("publicstats", Some(Value::Int(300))),
    }
}

/// The derivation of the new caches from the legacy settings' effective
/// values (None = not set). Errors are (setting, message).
pub fn derive_caches(
    cache_backend: Option<&str>,
    vmapi_backend: Option<&str>,
    vmapi_prefix: Option<&str>,
    populate_interval: Option<i64>,
) -> Result<Vec<(&'static str, Value)>, (&'static str, String)> {
    let mut out = Vec::new();
    let parse = |name: &'static str, uri: &str| parse_legacy_uri(uri).map_err(|m| (name, m));
    // VMAPI: its own URI, falling back to the default cache's; 0.18.1 gave it
    // the URI's timeout (Django's 300 s when there is none, as in 0.19).
    if vmapi_backend.is_some() || cache_backend.is_some() || vmapi_prefix.is_some() {
        let (name, uri) = match (vmapi_backend, cache_backend) {
            (Some(v), _) => ("VMAPI_CACHE_BACKEND", v),
            (None, Some(c)) => ("CACHE_BACKEND", c),
            (None, None) => ("VMAPI_CACHE_BACKEND", "locmem://"),
        };
        let c = parse(name, uri)?;
        out.push((
            "VMAPI_CACHE",
            c.dict(vmapi_prefix.unwrap_or("vmapi"), c.timeout_019()),
        ));
    }
    // VM passwords and public stats lived in Django's default cache.
    if let Some(uri) = cache_backend {
        let c = parse("CACHE_BACKEND", uri)?;
        // VMPasswordCache set entries with timeout None, which Django 1.4
        // read as the cache's default: the URI's timeout where given.
        let t = c.timeout_019().unwrap_or(Value::None);
        out.push(("VM_PASSWORD_CACHE", c.dict("vmpassword", Some(t))));
    }
    if cache_backend.is_some() || populate_interval.is_some() {
        let c = parse("CACHE_BACKEND", cache_backend.unwrap_or("locmem://"))?;
        // 0.19 computes the stats on a miss: TIMEOUT is the old interval.
        let t = populate_interval.unwrap_or(300);
        out.push((
            "PUBLIC_STATS_CACHE",
            c.dict("publicstats", Some(Value::Int(t))),
        ));
    }
    Ok(out)
}

fn caches(
    files: &[PyFile],
    splices: &mut [Vec<Splice>],
    results: &mut [Edited],
) -> Result<(), EditError> {
    let mut blocked = false;
    for name in OBSOLETE.iter().chain(NEW_CACHES.iter()) {
        blocked |= unfollowable(files, name, RULE_CACHES, results);
    }
    if blocked {
        return Ok(());
    }
    let legacy: Vec<(&str, Vec<Def>)> = OBSOLETE.iter().map(|n| (*n, defs(files, n))).collect();
    let all_legacy: Vec<&Def> = {
        let mut v: Vec<&Def> = legacy.iter().flat_map(|(_, d)| d.iter()).collect();
        v.sort_by_key(|d| (d.file, d.stmt.start));
        v
    };
    if all_legacy.is_empty() {
        return Ok(());
    }
    // Effective values: the last definition wins; code is not guessed at.
    let mut eff: Vec<Option<Value>> = Vec::new();
    for (name, ds) in &legacy {
        match ds.last() {
            None => eff.push(None),
            Some(d) => match &d.val {
                Some(v) => eff.push(Some(v.clone())),
                None => {
                    results[d.file].note(
                        Some(d.line),
                        RULE_CACHES,
                        format!("{name} is not a literal; convert the caches by hand"),
                    );
                    return Ok(());
                }
            },
        }
    }
    let last_of = |i: usize| {
        legacy[i]
            .1
            .last()
            .expect("effective value has a definition")
    };
    let string = |i: usize| -> Result<Option<&str>, EditError> {
        match &eff[i] {
            None => Ok(None),
            Some(Value::Str(s)) => Ok(Some(s.as_str())),
            Some(_) => {
                let d = last_of(i);
                let f = &files[d.file];
                Err(EditError::at(
                    &f.name,
                    &f.text,
                    d.value.start,
                    format!("{} must be a string", OBSOLETE[i]),
                ))
            }
        }
    };
    let cache_backend = string(0)?;
    let vmapi_backend = string(1)?;
    let vmapi_prefix = string(2)?;
    let interval = match &eff[3] {
        None => None,
        Some(Value::Int(n)) => Some(*n),
        Some(_) => {
            let d = last_of(3);
            let f = &files[d.file];
            return Err(EditError::at(
                &f.name,
                &f.text,
                d.value.start,
                "PUBLIC_STATS_CACHE_POPULATE_INTERVAL must be an integer",
            ));
        }
    };
    let derived = match derive_caches(cache_backend, vmapi_backend, vmapi_prefix, interval) {
        Ok(d) => d,
        Err((name, message)) => {
            let idx = OBSOLETE.iter().position(|n| *n == name).unwrap_or(0);
            let d = last_of(idx);
            let f = &files[d.file];
            return Err(EditError::at(&f.name, &f.text, d.value.start, message));
        }
    };
    // Timeouts Django 1.4 read as its default: carried over, and said.
    for (i, uri) in [(0, cache_backend), (1, vmapi_backend)] {
        if let Some(note) = uri.and_then(|u| parse_legacy_uri(u).ok()?.timeout_note) {
            let d = last_of(i);
            results[d.file].note(Some(d.line), RULE_CACHES, note);
        }
    }
    // Only what is neither set already nor 0.19's default anyway.
    let mut to_write = Vec::new();
    for (name, value) in derived {
        let set = !defs(files, name).is_empty();
        if !set && value != default_cache(name) {
            to_write.push((name, value));
        }
    }
    // Every legacy statement gets commented out with a note; the new dicts
    // go after the last one Synnefo executes, so they take effect in its place.
    let last = *all_legacy.last().expect("not empty");
    let mut written = Vec::new();
    for d in &all_legacy {
        let f = &files[d.file];
        let (ls, le) = (
            line_start(&f.text, d.stmt.start),
            line_end(&f.text, d.stmt.end),
        );
        let after = f.text[d.stmt.end..le].trim_start();
        if !f.text[ls..d.stmt.start].trim().is_empty()
            || !(after.is_empty() || after.starts_with('#'))
        {
            results[d.file].note(
                Some(d.line),
                RULE_CACHES,
                "this statement shares its line with another one; split it, then run again",
            );
            return Ok(());
        }
        let commented: String = f.text[ls..le]
            .split('\n')
            .map(|l| format!("#{l}"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut block = format!(
            "# Obsolete since Synnefo 0.19 (snf-upgrade convert): replaced by {}.\n{commented}",
            NEW_CACHES.join(", ")
        );
        if std::ptr::eq(*d, last) {
            for (name, value) in &to_write {
                block.push_str(&format!("\n{name} = {}", render(value, 0)));
                written.push(*name);
            }
        }
        splices[d.file].push(Splice::new(ls..le, block));
    }
    let names: Vec<&str> = {
        let mut v: Vec<&str> = all_legacy.iter().map(|d| name_of(&legacy, d)).collect();
        v.dedup();
        v
    };
    for d in &all_legacy {
        results[d.file].changes.push((
            RULE_CACHES,
            format!(
                "line {}: obsolete {} commented out",
                d.line,
                name_of(&legacy, d)
            ),
        ));
    }
    if !written.is_empty() {
        results[last.file].changes.push((
            RULE_CACHES,
            format!("{} set from {}", written.join(", "), names.join(", ")),
        ));
    }
    if let Some(uri) = cache_backend {
        if !uri.starts_with("locmem:") && !uri.starts_with("dummy:") {
            let d = last_of(0);
            results[d.file].note(
                Some(d.line),
                RULE_CACHES,
                "CACHE_BACKEND was also Django's default cache (sessions through cached_db); 0.19 ignores it, so that cache becomes per-process locmem: set CACHES['default'] by hand if sessions should stay in it",
            );
        }
    }
    Ok(())
}

fn name_of<'a>(legacy: &'a [(&'a str, Vec<Def>)], d: &Def) -> &'a str {
    legacy
        .iter()
        .find(|(_, ds)| ds.iter().any(|x| x.file == d.file && x.stmt == d.stmt))
        .map_or("?", |(n, _)| n)
}

/// Renders a value as Python source in the style of Synnefo's conf files
/// (4-space indents, double quotes, trailing commas in dicts).
pub fn render(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent + 4);
    match value {
        Value::Str(s) => quote(s, '"'),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::None => "None".to_string(),
        Value::List(v) => format!(
            "[{}]",
            v.iter()
                .map(|x| render(x, indent))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Tuple(v) if v.len() == 1 => format!("({},)", render(&v[0], indent)),
        Value::Tuple(v) => format!(
            "({})",
            v.iter()
                .map(|x| render(x, indent))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Dict(items) => {
            let mut out = String::from("{\n");
            for (k, v) in items {
                out.push_str(&format!(
                    "{pad}{}: {},\n",
                    render(k, indent + 4),
                    render(v, indent + 4)
                ));
            }
            out.push_str(&" ".repeat(indent));
            out.push('}');
            out
        }
    }
}

fn allowed_hosts(
    files: &[PyFile],
    opts: &SettingsOptions,
    splices: &mut [Vec<Splice>],
    results: &mut [Edited],
) {
    if unfollowable(files, "ALLOWED_HOSTS", RULE_ALLOWED_HOSTS, results) {
        return;
    }
    let desired = opts
        .allowed_hosts
        .clone()
        .unwrap_or_else(|| vec!["*".to_string()]);
    let rendered = format!(
        "[{}]",
        desired
            .iter()
            .map(|h| quote(h, '\''))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let want = Value::List(desired.iter().map(|h| Value::Str(h.clone())).collect());
    let ds = defs(files, "ALLOWED_HOSTS");
    if let Some(d) = ds.last() {
        // Set already: changed only when the site asked for another value.
        if opts.allowed_hosts.is_none() {
            return;
        }
        match &d.val {
            Some(Value::List(v) | Value::Tuple(v)) if *v == as_items(&want) => {}
            Some(_) | None => {
                splices[d.file].push(Splice::new(d.value.clone(), rendered.clone()));
                results[d.file].changes.push((
                    RULE_ALLOWED_HOSTS,
                    format!("line {}: ALLOWED_HOSTS = {rendered}", d.line),
                ));
            }
        }
        return;
    }
    // Missing: written where Synnefo keeps its deploy settings; hosts with no
    // webproject settings (Ganeti nodes) serve no Django and get none.
    let target = files
        .iter()
        .position(|f| base(&f.name) == "10-snf-webproject-deploy.conf")
        .or_else(|| {
            files
                .iter()
                .rposition(|f| base(&f.name).contains("webproject"))
        });
    let Some(i) = target else { return };
    let text = &files[i].text;
    let sep = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    splices[i].push(Splice::insert(
        text.len(),
        format!("{sep}\n# Hosts Django may serve; required since Synnefo 0.19 (snf-upgrade convert).\nALLOWED_HOSTS = {rendered}\n"),
    ));
    results[i].changes.push((
        RULE_ALLOWED_HOSTS,
        format!("ALLOWED_HOSTS = {rendered} added"),
    ));
}

fn as_items(v: &Value) -> Vec<Value> {
    match v {
        Value::List(v) | Value::Tuple(v) => v.clone(),
        _ => Vec::new(),
    }
}

fn base(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn allocator(files: &[PyFile], splices: &mut [Vec<Splice>], results: &mut [Edited]) {
    unfollowable(files, "BACKEND_ALLOCATOR_MODULE", RULE_ALLOCATOR, results);
    for d in defs(files, "BACKEND_ALLOCATOR_MODULE") {
        match d.val.as_ref().and_then(Value::as_str) {
            Some(DEFAULT_ALLOCATOR) => {
                let (prefix, q) = d.quote.clone().unwrap_or_else(|| (String::new(), "'".into()));
                splices[d.file].push(Splice::new(d.value.clone(), format!("{prefix}{q}{FILTER_ALLOCATOR}{q}")));
                results[d.file].changes.push((
                    RULE_ALLOCATOR,
                    format!("line {}: BACKEND_ALLOCATOR_MODULE DefaultAllocator → FilterAllocator", d.line),
                ));
            }
            Some(FILTER_ALLOCATOR) => {}
            _ => results[d.file].note(
                Some(d.line),
                RULE_ALLOCATOR,
                format!("BACKEND_ALLOCATOR_MODULE is a custom allocator; 0.19's default is {FILTER_ALLOCATOR}: check it by hand"),
            ),
        }
    }
}

fn logging(files: &[PyFile], results: &mut [Edited]) {
    for (i, f) in files.iter().enumerate() {
        let mut stack = vec![f.tree.root_node()];
        let mut lines = Vec::new();
        while let Some(n) = stack.pop() {
            if n.kind() == "identifier" && f.src(n) == "LOGGING_SETUP" {
                lines.push(f.line(n));
            }
            stack.extend(items(n));
        }
        lines.sort();
        if let Some(line) = lines.first() {
            results[i].note(
                Some(*line),
                RULE_LOGGING,
                "LOGGING_SETUP is customised here; 0.19's default logs to /var/log/synnefo/synnefo.log through a 'file' handler: merge by hand",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(files: &[(&str, &str)]) -> Vec<Edited> {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        convert(&files, &SettingsOptions::default()).unwrap()
    }

    #[test]
    fn legacy_uris() {
        let c = parse_legacy_uri("memcached://h1:11211;h2:11211/?timeout=3600").unwrap();
        assert_eq!(
            c.backend,
            "django.core.cache.backends.memcached.MemcachedCache"
        );
        assert_eq!(c.location, "h1:11211;h2:11211");
        assert_eq!(c.timeout, Some(3600));
        assert_eq!(parse_legacy_uri("locmem://").unwrap().location, "");
        assert_eq!(
            parse_legacy_uri("file:///var/tmp/cache").unwrap().location,
            "/var/tmp/cache"
        );
        let db = parse_legacy_uri("db://table?max_entries=10&cull_frequency=2").unwrap();
        assert_eq!(
            (db.location.as_str(), db.max_entries, db.cull_frequency),
            ("table", Some(10), Some(2))
        );
        assert!(parse_legacy_uri("dummy://").is_ok());
        assert!(parse_legacy_uri("memcached:/x").is_err());
        assert!(parse_legacy_uri("mycache://x").is_err());
        assert!(parse_legacy_uri("locmem://?timeout=99999999999999999999").is_err());
    }

    /// The 0.19 TIMEOUT for a URI timeout, per backend (docs/edits.md has
    /// the Django 1.4 and 1.7 lines each row is based on).
    #[test]
    fn timeouts_keep_their_meaning_per_backend() {
        let t = |uri: &str| parse_legacy_uri(uri).unwrap().timeout_019();
        for scheme in [
            "memcached://h:11211",
            "locmem://",
            "file:///c",
            "db://t",
            "dummy://",
        ] {
            // Absent: Django's 300 s in both versions, so nothing is written.
            assert_eq!(t(&format!("{scheme}/")), None, "{scheme}");
            assert_eq!(t(&format!("{scheme}/?timeout=60")), Some(Value::Int(60)));
            // Negative: expired at once in both.
            assert_eq!(t(&format!("{scheme}/?timeout=-1")), Some(Value::Int(-1)));
            // Not an integer: 1.4 used 300; written so, with a note.
            let c = parse_legacy_uri(&format!("{scheme}/?timeout=soon")).unwrap();
            assert_eq!(c.timeout_019(), Some(Value::Int(300)), "{scheme}");
            assert!(c.timeout_note.unwrap().contains("300"));
        }
        // 0: memcached kept entries forever (1.4 handed the 0 to memcached),
        // which 1.7 spells None; the other backends expired them at once, as
        // 1.7's 0 does.
        assert_eq!(t("memcached://h:11211/?timeout=0"), Some(Value::None));
        for scheme in ["locmem://", "file:///c", "db://t", "dummy://"] {
            assert_eq!(t(&format!("{scheme}/?timeout=0")), Some(Value::Int(0)));
        }
    }

    #[test]
    fn memcached_zero_timeout_becomes_never() {
        let out = conv(&[(
            "cyclades.conf",
            "CACHE_BACKEND = 'memcached://127.0.0.1:11211/?timeout=0'\n",
        )]);
        let new = &out[0].new;
        assert!(
            new.contains("\"KEY_PREFIX\": \"vmpassword\",\n    \"TIMEOUT\": None,"),
            "{new}"
        );
        assert!(
            new.contains("\"KEY_PREFIX\": \"vmapi\",\n    \"TIMEOUT\": None,"),
            "{new}"
        );
        assert!(!new.contains("\"TIMEOUT\": 0"), "{new}");
        let out = conv(&[(
            "cyclades.conf",
            "CACHE_BACKEND = 'locmem://?timeout=later'\n",
        )]);
        assert!(
            out[0].notes.iter().any(|n| n.2.contains("not an integer")),
            "{:?}",
            out[0].notes
        );
    }

    #[test]
    fn memcached_reaches_all_three_caches() {
        let out = conv(&[(
            "cyclades.conf",
            "A = 1\nCACHE_BACKEND = 'memcached://127.0.0.1:11211/?timeout=3600'  # shared\nB = 2\n",
        )]);
        let want = r#"A = 1
# Obsolete since Synnefo 0.19 (snf-upgrade convert): replaced by VMAPI_CACHE, VM_PASSWORD_CACHE, PUBLIC_STATS_CACHE.
#CACHE_BACKEND = 'memcached://127.0.0.1:11211/?timeout=3600'  # shared
VMAPI_CACHE = {
    "BACKEND": "django.core.cache.backends.memcached.MemcachedCache",
    "LOCATION": "127.0.0.1:11211",
    "KEY_PREFIX": "vmapi",
    "TIMEOUT": 3600,
}
VM_PASSWORD_CACHE = {
    "BACKEND": "django.core.cache.backends.memcached.MemcachedCache",
    "LOCATION": "127.0.0.1:11211",
    "KEY_PREFIX": "vmpassword",
    "TIMEOUT": 3600,
}
PUBLIC_STATS_CACHE = {
    "BACKEND": "django.core.cache.backends.memcached.MemcachedCache",
    "LOCATION": "127.0.0.1:11211",
    "KEY_PREFIX": "publicstats",
    "TIMEOUT": 300,
}
B = 2
"#;
        assert_eq!(out[0].new, want);
        assert_eq!(out[0].notes.len(), 1, "the session note");
    }

    #[test]
    fn later_files_win_and_vmapi_keeps_its_own_uri() {
        let out = conv(&[
            ("20-snf-cyclades-app-api.conf", "CACHE_BACKEND = 'locmem://'\nPUBLIC_STATS_CACHE_POPULATE_INTERVAL = 60\n"),
            ("20-snf-cyclades-app-vmapi.conf", "VMAPI_CACHE_BACKEND = \"memcached://h1:11211;h2:11211/?timeout=3600\"\nVMAPI_CACHE_KEY_PREFIX = 'vm'\n"),
            ("99-local.conf", "CACHE_BACKEND = 'file:///var/tmp/cache'\n"),
        ]);
        assert!(out[0].new.starts_with("# Obsolete"));
        assert!(out[1].new.contains("#VMAPI_CACHE_KEY_PREFIX = 'vm'"));
        let last = &out[2].new;
        assert!(last.contains("\"LOCATION\": \"h1:11211;h2:11211\",\n    \"KEY_PREFIX\": \"vm\",\n    \"TIMEOUT\": 3600,"), "{last}");
        assert!(last.contains("\"BACKEND\": \"django.core.cache.backends.filebased.FileBasedCache\",\n    \"LOCATION\": \"/var/tmp/cache\",\n    \"KEY_PREFIX\": \"vmpassword\",\n    \"TIMEOUT\": None,"), "{last}");
        assert!(
            last.contains("\"KEY_PREFIX\": \"publicstats\",\n    \"TIMEOUT\": 60,"),
            "{last}"
        );
    }

    #[test]
    fn defaults_are_not_written() {
        let out = conv(&[("a.conf", "CACHE_BACKEND = 'locmem://'\n")]);
        assert!(!out[0].new.contains("_CACHE = {"), "{}", out[0].new);
        assert!(out[0].new.contains("#CACHE_BACKEND"));
    }

    #[test]
    fn existing_new_settings_are_kept() {
        let src = "VMAPI_CACHE = {'BACKEND': 'x'}\nVMAPI_CACHE_BACKEND = 'dummy://'\n";
        let out = conv(&[("a.conf", src)]);
        assert!(!out[0].new.contains("VMAPI_CACHE = {\n"));
        assert!(out[0].new.contains("#VMAPI_CACHE_BACKEND"));
    }

    #[test]
    fn code_and_blocks_are_reported_not_guessed() {
        for src in [
            "import os\nCACHE_BACKEND = os.environ['C']\n",
            "if True:\n    CACHE_BACKEND = 'dummy://'\n",
            "CACHE_BACKEND = 'dummy://'; X = 1\n",
        ] {
            let out = conv(&[("a.conf", src)]);
            assert_eq!(out[0].new, src);
            assert_eq!(out[0].notes.len(), 1, "{src}: {:?}", out[0].notes);
        }
    }

    #[test]
    fn bad_uri_is_an_error_at_its_value() {
        let files = vec![(
            "a.conf".to_string(),
            "X = 1\nCACHE_BACKEND = 'memcached:/x'\n".to_string(),
        )];
        let err = convert(&files, &SettingsOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("a.conf:2:17:"), "{err}");
    }

    #[test]
    fn allowed_hosts_allocator_and_logging() {
        let out = conv(&[
            ("10-snf-webproject-deploy.conf", "#ALLOWED_HOSTS = ['*']\n"),
            ("20-snf-cyclades-app-backend.conf", "BACKEND_ALLOCATOR_MODULE = u\"synnefo.logic.allocators.default_allocator.DefaultAllocator\"\n"),
            ("30-logging.conf", "LOGGING_SETUP = {}\nLOGGING_SETUP['x'] = 1\n"),
        ]);
        assert!(out[0].new.ends_with("\nALLOWED_HOSTS = ['*']\n"));
        assert_eq!(
            out[1].new,
            "BACKEND_ALLOCATOR_MODULE = u\"synnefo.logic.allocators.filter_allocator.FilterAllocator\"\n"
        );
        assert_eq!(out[2].notes.len(), 1);
        assert_eq!(out[2].new, "LOGGING_SETUP = {}\nLOGGING_SETUP['x'] = 1\n");
        let files = vec![(
            "10-snf-webproject-deploy.conf".to_string(),
            "ALLOWED_HOSTS = ['*']\n".to_string(),
        )];
        let opts = SettingsOptions {
            allowed_hosts: Some(vec!["a.example.org".into(), "b".into()]),
        };
        let out = convert(&files, &opts).unwrap();
        assert_eq!(out[0].new, "ALLOWED_HOSTS = ['a.example.org', 'b']\n");
    }

    #[test]
    fn nothing_to_do_on_019_files() {
        let out = conv(&[(
            "20-snf-cyclades-app-api.conf",
            include_str!(
                "../../tests/data/corpus-0.19/snf-cyclades-app/conf/20-snf-cyclades-app-api.conf"
            ),
        )]);
        assert!(out[0].changes.is_empty());
    }
}
