//! Conversion of an Ansible inventory (INI or YAML) into a `site.toml`.
//! Groups become roles through an explicit mapping; connection variables
//! (`ansible_host`, `ansible_port`, `ansible_user`,
//! `ansible_ssh_private_key_file`, a ProxyJump in `ansible_ssh_common_args`)
//! become host fields. Never guesses a role from a group's name.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::{toml_string, Role};

/// Why an Ansible inventory could not be converted.
#[derive(Debug, thiserror::Error)]
pub enum AnsibleError {
    #[error("cannot read Ansible inventory {}: {source}; check the path", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("--map {0}: expected GROUP=ROLE with ROLE one of {known}", known = Role::ALL.map(Role::as_str).join(", "))]
    BadMap(String),
    #[error("--cluster {0}: expected GROUP=CLUSTER_NAME")]
    BadCluster(String),
}

/// Which roles (and Ganeti cluster) each Ansible group stands for.
#[derive(Debug, Clone, Default)]
pub struct RoleMap {
    roles: Vec<(String, Role)>,
    clusters: Vec<(String, String)>,
}

impl RoleMap {
    /// Adds a `GROUP=ROLE` mapping (as given to `--map`).
    pub fn add_role(&mut self, spec: &str) -> Result<(), AnsibleError> {
        let (g, r) = spec
            .split_once('=')
            .ok_or_else(|| AnsibleError::BadMap(spec.to_string()))?;
        let role = Role::parse(r.trim()).ok_or_else(|| AnsibleError::BadMap(spec.to_string()))?;
        self.roles.push((g.trim().to_string(), role));
        Ok(())
    }

    /// Adds a `GROUP=CLUSTER` mapping (as given to `--cluster`).
    pub fn add_cluster(&mut self, spec: &str) -> Result<(), AnsibleError> {
        match spec.split_once('=') {
            Some((g, c)) if !g.trim().is_empty() && !c.trim().is_empty() => {
                self.clusters
                    .push((g.trim().to_string(), c.trim().to_string()));
                Ok(())
            }
            _ => Err(AnsibleError::BadCluster(spec.to_string())),
        }
    }
}

/// The converted inventory, plus what the operator should look at.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub warnings: Vec<String>,
}

/// The most hosts one pattern (the product of its ranges) or one inventory
/// may hold: a typo such as `node[1:9999999]` is refused before anything is
/// expanded.
pub const MAX_HOSTS: u64 = 100_000;

#[derive(Default, Debug)]
struct Group {
    children: Vec<String>,
    vars: BTreeMap<String, String>,
}

#[derive(Default, Debug)]
struct Parsed {
    groups: BTreeMap<String, Group>,
    host_vars: HashMap<String, BTreeMap<String, String>>,
    /// The groups each host is listed in directly, in file order.
    host_groups: HashMap<String, Vec<String>>,
    host_order: Vec<String>,
}

impl Parsed {
    fn group(&mut self, name: &str) -> &mut Group {
        self.groups.entry(name.to_string()).or_default()
    }

    fn add_host(&mut self, group: &str, host: &str, vars: BTreeMap<String, String>) {
        if !self.host_vars.contains_key(host) {
            self.host_order.push(host.to_string());
        }
        self.host_vars
            .entry(host.to_string())
            .or_default()
            .extend(vars);
        self.group(group);
        let groups = self.host_groups.entry(host.to_string()).or_default();
        if !groups.iter().any(|g| g == group) {
            groups.push(group.to_string());
        }
    }

    /// Adds every host `pattern` expands to; the error says why not (the
    /// caller adds file and line).
    fn add_hosts(
        &mut self,
        group: &str,
        pattern: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<(), RangeError> {
        for host in expand_range(pattern)? {
            self.add_host(group, &host, vars.clone());
        }
        if self.host_order.len() as u64 > MAX_HOSTS {
            return Err(RangeError::TooMany(format!(
                "the inventory lists more than {MAX_HOSTS} hosts (at `{pattern}`)"
            )));
        }
        Ok(())
    }
}

/// Converts the Ansible inventory at `path`; YAML if it ends in .yml/.yaml
/// or looks like YAML, INI otherwise.
pub fn import_ansible(path: &Path, map: &RoleMap) -> Result<Imported, AnsibleError> {
    let text = std::fs::read_to_string(path).map_err(|source| AnsibleError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    import_ansible_text(path, &text, map)
}

/// Converts `text` as if read from `path` (whose name decides YAML or INI
/// and names the file in errors).
pub fn import_ansible_text(
    path: &Path,
    text: &str,
    map: &RoleMap,
) -> Result<Imported, AnsibleError> {
    let yaml = matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    ) || text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l.starts_with("---") || (l.ends_with(':') && !l.starts_with('[')));
    let parsed = if yaml {
        parse_yaml(path, text)?
    } else {
        parse_ini(path, text)?
    };
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "site".into());
    Ok(render(&parsed, map, &stem, path))
}

fn parse_ini(path: &Path, text: &str) -> Result<Parsed, AnsibleError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Section {
        Hosts,
        Children,
        Vars,
    }
    let err = |line: usize, message: String| AnsibleError::Syntax {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut p = Parsed::default();
    let mut group = "ungrouped".to_string();
    let mut section = Section::Hosts;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(head) = line.strip_prefix('[') {
            let head = head
                .strip_suffix(']')
                .ok_or_else(|| err(n, format!("unclosed section header `{line}`")))?;
            let (name, kind) = match head.split_once(':') {
                Some((g, "children")) => (g, Section::Children),
                Some((g, "vars")) => (g, Section::Vars),
                Some((_, other)) => {
                    return Err(err(n, format!("unknown section kind `:{other}`")));
                }
                None => (head, Section::Hosts),
            };
            group = name.trim().to_string();
            section = kind;
            p.group(&group);
            continue;
        }
        match section {
            Section::Children => {
                let child = line.to_string();
                p.group(&child);
                p.group(&group).children.push(child);
            }
            Section::Vars => {
                let (k, v) = line
                    .split_once('=')
                    .ok_or_else(|| err(n, format!("expected key=value, got `{line}`")))?;
                p.group(&group)
                    .vars
                    .insert(k.trim().to_string(), unquote(v.trim()));
            }
            Section::Hosts => {
                let words = split_words(line);
                let (pattern, rest) = words.split_first().expect("line is not empty");
                let mut vars = BTreeMap::new();
                for w in rest {
                    let (k, v) = w.split_once('=').ok_or_else(|| {
                        err(n, format!("expected key=value after the host, got `{w}`"))
                    })?;
                    vars.insert(k.to_string(), unquote(v));
                }
                p.add_hosts(&group, pattern, &vars)
                    .map_err(|e| err(n, e.to_string()))?;
            }
        }
    }
    Ok(p)
}

/// Splits on whitespace, keeping quoted parts together.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '#') if cur.is_empty() => break,
            (None, c) if c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                cur.push(c);
            }
            (_, c) => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn unquote(v: &str) -> String {
    let t = v.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return t[1..t.len() - 1].to_string();
        }
    }
    t.to_string()
}

/// Why a host pattern cannot be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum RangeError {
    /// Not a range Ansible understands.
    #[error("{0}")]
    Bad(String),
    /// More hosts than [`MAX_HOSTS`].
    #[error("{0}")]
    TooMany(String),
}

/// One `[a:b]` or `[a:b:step]` of a host pattern.
enum Range {
    Numbers {
        first: u64,
        last: u64,
        step: u64,
        width: usize,
    },
    Letters {
        first: u8,
        last: u8,
        step: u8,
    },
}

impl Range {
    fn parse(spec: &str, pattern: &str) -> Result<Range, RangeError> {
        let bad = || RangeError::Bad(format!("bad range `[{spec}]` in host `{pattern}`"));
        let parts: Vec<&str> = spec.split(':').collect();
        if parts.len() < 2 || parts.len() > 3 {
            return Err(bad());
        }
        let step: u64 = match parts.get(2) {
            Some(s) => s.parse().ok().filter(|s| *s > 0).ok_or_else(bad)?,
            None => 1,
        };
        if let (Ok(first), Ok(last)) = (parts[0].parse::<u64>(), parts[1].parse::<u64>()) {
            let width = if parts[0].starts_with('0') {
                parts[0].len()
            } else {
                0
            };
            Ok(Range::Numbers {
                first,
                last,
                step,
                width,
            })
        } else if let ([first], [last]) = (parts[0].as_bytes(), parts[1].as_bytes()) {
            Ok(Range::Letters {
                first: *first,
                last: *last,
                step: u8::try_from(step).unwrap_or(u8::MAX),
            })
        } else {
            Err(bad())
        }
    }

    /// How many items it yields, computed without yielding them.
    fn len(&self) -> u64 {
        match *self {
            Range::Numbers {
                first, last, step, ..
            } if first <= last => (last - first) / step + 1,
            Range::Letters { first, last, step } if first <= last => {
                u64::from((last - first) / step) + 1
            }
            _ => 0,
        }
    }

    fn items(&self) -> Vec<String> {
        match *self {
            Range::Numbers {
                first,
                last,
                step,
                width,
            } => (first..=last)
                .step_by(usize::try_from(step).unwrap_or(usize::MAX))
                .map(|v| format!("{v:0width$}"))
                .collect(),
            Range::Letters { first, last, step } => (first..=last)
                .step_by(usize::from(step))
                .map(|c| char::from(c).to_string())
                .collect(),
        }
    }
}

/// Expands Ansible host ranges: `web[01:03].x` → web01.x, web02.x, web03.x;
/// `db-[a:c]` → db-a, db-b, db-c; several ranges multiply. A pattern that
/// would expand to more than [`MAX_HOSTS`] is refused before expanding.
fn expand_range(pattern: &str) -> Result<Vec<String>, RangeError> {
    // The text before the first range, then each range with the text after it.
    let mut ranges = Vec::new();
    let (head, mut rest) = match pattern.find('[') {
        Some(open) => (&pattern[..open], &pattern[open..]),
        None => (pattern, ""),
    };
    while let Some(after) = rest.strip_prefix('[') {
        let close = after
            .find(']')
            .ok_or_else(|| RangeError::Bad(format!("unclosed range in host `{pattern}`")))?;
        let tail = &after[close + 1..];
        let next = tail.find('[').unwrap_or(tail.len());
        ranges.push((Range::parse(&after[..close], pattern)?, &tail[..next]));
        rest = &tail[next..];
    }
    let count = ranges
        .iter()
        .try_fold(1u64, |n, (r, _)| n.checked_mul(r.len()))
        .filter(|n| *n <= MAX_HOSTS);
    if count.is_none() {
        return Err(RangeError::TooMany(format!(
            "host range `{pattern}` expands to more than {MAX_HOSTS} hosts; \
             split it or fix the bounds"
        )));
    }
    let mut out = vec![head.to_string()];
    for (range, text) in &ranges {
        let items = range.items();
        out = out
            .iter()
            .flat_map(|prefix| {
                items
                    .iter()
                    .map(move |item| format!("{prefix}{item}{text}"))
            })
            .collect();
    }
    Ok(out)
}

/// Adds the hosts of a pattern to a group, with their vars.
type AddHosts<'a> = dyn FnMut(&mut Parsed, &str, &str, BTreeMap<String, String>) + 'a;

fn parse_yaml(path: &Path, text: &str) -> Result<Parsed, AnsibleError> {
    use serde_yaml_ng::Value;
    // The YAML parser places an error at the end of the input on the line
    // after the last one; name the last line instead (and line 1 when it
    // gives no place at all).
    let last_line = text.split('\n').count();
    let doc: Value = serde_yaml_ng::from_str(text).map_err(|e| AnsibleError::Syntax {
        path: path.to_path_buf(),
        line: e.location().map_or(1, |l| l.line().clamp(1, last_line)),
        message: e.to_string(),
    })?;
    let mut p = Parsed::default();
    let Value::Mapping(top) = doc else {
        return Err(AnsibleError::Syntax {
            path: path.to_path_buf(),
            line: 1,
            message: "expected a mapping of groups at the top".into(),
        });
    };
    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    fn vars(v: Option<&Value>) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if let Some(Value::Mapping(m)) = v {
            for (k, v) in m {
                if let (Some(k), Some(v)) = (scalar(k), scalar(v)) {
                    out.insert(k, v);
                }
            }
        }
        out
    }
    // YAML values carry no position: a refused pattern is located by the
    // first line that names it.
    let line_of = |pattern: &str| {
        text.lines()
            .position(|l| l.contains(pattern))
            .map_or(1, |i| i + 1)
    };
    let mut refused = None;
    let mut hosts_of = |p: &mut Parsed, group: &str, pattern: &str, vars| {
        match p.add_hosts(group, pattern, &vars) {
            Ok(()) => {}
            // A malformed range is kept as written, as Ansible's own
            // parser would fail on it; `inventory check` points at it.
            Err(RangeError::Bad(_)) => p.add_host(group, pattern, vars),
            Err(e @ RangeError::TooMany(_)) => {
                refused.get_or_insert((line_of(pattern), e.to_string()));
            }
        }
    };
    fn group(p: &mut Parsed, name: &str, body: &Value, hosts_of: &mut AddHosts<'_>) {
        p.group(name);
        let Value::Mapping(body) = body else { return };
        if let Some(Value::Mapping(hosts)) = body.get("hosts") {
            for (h, hv) in hosts {
                if let Some(h) = scalar(h) {
                    hosts_of(p, name, &h, vars(Some(hv)));
                }
            }
        }
        let gv = vars(body.get("vars"));
        p.group(name).vars.extend(gv);
        if let Some(Value::Mapping(children)) = body.get("children") {
            for (c, cv) in children {
                if let Some(c) = scalar(c) {
                    if !p.group(name).children.contains(&c) {
                        p.group(name).children.push(c.clone());
                    }
                    group(p, &c, cv, hosts_of);
                }
            }
        }
    }
    for (name, body) in &top {
        if let Some(name) = scalar(name) {
            group(&mut p, &name, body, &mut hosts_of);
        }
    }
    match refused {
        Some((line, message)) => Err(AnsibleError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        }),
        None => Ok(p),
    }
}

/// The group tree (`children`), walked once for all hosts.
struct Hierarchy<'a> {
    parents: HashMap<&'a str, Vec<&'a str>>,
    /// Longest chain of parents above each group.
    depth: HashMap<&'a str, usize>,
}

impl<'a> Hierarchy<'a> {
    fn new(p: &'a Parsed) -> Self {
        let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
        for (g, body) in &p.groups {
            for c in &body.children {
                parents.entry(c.as_str()).or_default().push(g.as_str());
            }
        }
        let mut h = Hierarchy {
            parents,
            depth: HashMap::new(),
        };
        for g in p.groups.keys() {
            h.depth_of(g, &mut Vec::new());
        }
        h
    }

    /// Memoized, so a lattice of groups costs its size, not its paths; a
    /// cycle (Ansible refuses those) counts as no parent.
    fn depth_of(&mut self, g: &'a str, walking: &mut Vec<&'a str>) -> usize {
        if let Some(d) = self.depth.get(g) {
            return *d;
        }
        if walking.contains(&g) {
            return 0;
        }
        walking.push(g);
        let parents = self.parents.get(g).cloned().unwrap_or_default();
        let d = parents
            .into_iter()
            .map(|p| 1 + self.depth_of(p, walking))
            .max()
            .unwrap_or(0);
        walking.pop();
        self.depth.insert(g, d);
        d
    }

    /// The groups a host belongs to, ancestors first (their vars are
    /// overridden by the more specific group's, as in Ansible).
    fn groups_of(&self, p: &Parsed, host: &str) -> Vec<String> {
        let mut found: Vec<&str> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut todo: Vec<&str> = p
            .host_groups
            .get(host)
            .map(|gs| gs.iter().map(String::as_str).collect())
            .unwrap_or_default();
        while let Some(g) = todo.pop() {
            if !seen.insert(g) {
                continue;
            }
            if let Some(ps) = self.parents.get(g) {
                todo.extend(ps.iter().copied());
            }
            found.push(g);
        }
        if !seen.contains("all") {
            found.push("all");
        }
        found.sort_by_key(|g| {
            let depth = match *g {
                "all" => 0,
                g => 1 + self.depth.get(g).copied().unwrap_or(0),
            };
            (depth, *g)
        });
        found.into_iter().map(str::to_string).collect()
    }
}

fn jump_from_args(args: &str) -> Option<String> {
    let words = split_words(args);
    let mut it = words.iter().map(|w| unquote(w));
    while let Some(w) = it.next() {
        if w == "-J" {
            return it.next();
        }
        let opt = if w == "-o" {
            it.next()?
        } else {
            w.strip_prefix("-o").unwrap_or(&w).to_string()
        };
        if let Some((k, v)) = opt.split_once('=') {
            if k.trim().eq_ignore_ascii_case("ProxyJump") {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

fn render(p: &Parsed, map: &RoleMap, stem: &str, source: &Path) -> Imported {
    let mut warnings = Vec::new();
    let mut out = format!(
        "# Imported from {} by `snf-upgrade inventory import-ansible`.\n\
         # Check it with `snf-upgrade inventory check`.\nversion = 1\n\n[site]\nname = {}\n",
        source.display(),
        toml_string(stem)
    );
    let mut clusters: Vec<&str> = map.clusters.iter().map(|(_, c)| c.as_str()).collect();
    clusters.dedup();
    let mut seen = std::collections::HashSet::new();
    for c in clusters.iter().filter(|c| seen.insert(**c)) {
        out.push_str(&format!(
            "\n[[clusters]]\nname = {}\nrapi_url = {}\n\
             rapi_ca = \"rapi-ca.pem\"                      # fill in: the PEM RAPI's certificate is verified against\n\
             rapi_credentials_file = \"rapi.credentials\"   # fill in: one line user:password\n",
            toml_string(c),
            toml_string(&format!("https://{c}:5080")),
        ));
        warnings.push(format!(
            "cluster {c}: fill in rapi_url, rapi_ca and rapi_credentials_file"
        ));
    }
    let mut used = std::collections::HashSet::new();
    let hierarchy = Hierarchy::new(p);
    for host in &p.host_order {
        let groups = hierarchy.groups_of(p, host);
        let mut vars = BTreeMap::new();
        for g in &groups {
            if let Some(body) = p.groups.get(g) {
                vars.extend(body.vars.clone());
            }
        }
        vars.extend(p.host_vars.get(host).cloned().unwrap_or_default());
        let mut roles: Vec<Role> = Vec::new();
        let mut cluster = None;
        for g in &groups {
            for (mg, role) in &map.roles {
                if mg == g {
                    used.insert(mg.clone());
                    if !roles.contains(role) {
                        roles.push(*role);
                    }
                }
            }
            for (cg, c) in &map.clusters {
                if cg == g {
                    used.insert(cg.clone());
                    cluster = Some(c.clone());
                }
            }
        }
        roles.sort();
        let get = |keys: &[&str]| {
            keys.iter()
                .find_map(|k| vars.get(*k))
                .filter(|v| !v.contains("{{"))
                .cloned()
        };
        for (k, v) in &vars {
            if k.starts_with("ansible_") && v.contains("{{") {
                warnings.push(format!("host {host}: {k} is a template (`{v}`); left out"));
            }
        }
        out.push_str(&format!("\n[[hosts]]\nname = {}\n", toml_string(host)));
        if let Some(a) = get(&["ansible_host", "ansible_ssh_host"]) {
            if &a != host {
                out.push_str(&format!("address = {}\n", toml_string(&a)));
            }
        }
        let roles_s: Vec<String> = roles.iter().map(|r| toml_string(r.as_str())).collect();
        out.push_str(&format!("roles = [{}]\n", roles_s.join(", ")));
        if roles.is_empty() {
            warnings.push(format!(
                "host {host}: no role (its groups: {}); add one with --map GROUP=ROLE",
                groups.join(", ")
            ));
        }
        match (&cluster, roles.contains(&Role::GanetiNode)) {
            (Some(c), _) => out.push_str(&format!("cluster = {}\n", toml_string(c))),
            (None, true) => warnings.push(format!(
                "host {host}: ganeti-node without a cluster; add --cluster GROUP=CLUSTER"
            )),
            _ => {}
        }
        if let Some(u) = get(&["ansible_user", "ansible_ssh_user"]) {
            out.push_str(&format!("user = {}\n", toml_string(&u)));
        }
        if let Some(port) = get(&["ansible_port", "ansible_ssh_port"]) {
            match port.parse::<u16>() {
                Ok(n) => out.push_str(&format!("port = {n}\n")),
                Err(_) => warnings.push(format!(
                    "host {host}: port `{port}` is not a number; left out"
                )),
            }
        }
        if let Some(k) = get(&["ansible_ssh_private_key_file", "ansible_private_key_file"]) {
            out.push_str(&format!("identity_file = {}\n", toml_string(&k)));
        }
        let args = [
            get(&["ansible_ssh_common_args"]),
            get(&["ansible_ssh_extra_args"]),
        ];
        if let Some(j) = args.iter().flatten().find_map(|a| jump_from_args(a)) {
            out.push_str(&format!("jump = {}\n", toml_string(&j)));
        }
    }
    let unused: Vec<&str> = map
        .roles
        .iter()
        .map(|(g, _)| g.as_str())
        .chain(map.clusters.iter().map(|(g, _)| g.as_str()))
        .filter(|g| !used.contains(*g))
        .collect();
    for g in unused {
        warnings.push(format!(
            "group {g} (from --map/--cluster) has no hosts in the Ansible inventory"
        ));
    }
    Imported {
        toml: out,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;

    fn map(roles: &[&str], clusters: &[&str]) -> RoleMap {
        let mut m = RoleMap::default();
        for r in roles {
            m.add_role(r).unwrap();
        }
        for c in clusters {
            m.add_cluster(c).unwrap();
        }
        m
    }

    fn import(name: &str, text: &str, m: &RoleMap) -> (Imported, tempfile::TempDir) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        (import_ansible(&p, m).unwrap(), d)
    }

    /// Parses the output as an inventory (with the files it names made up).
    fn check(d: &tempfile::TempDir, toml: &str) -> Inventory {
        use std::os::unix::fs::PermissionsExt;
        for f in ["rapi-ca.pem", "rapi.credentials", "id_rsa"] {
            std::fs::write(d.path().join(f), "").unwrap();
        }
        let creds = d.path().join("rapi.credentials");
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        let toml = toml.replace(
            "/keys/id_rsa",
            &d.path().join("id_rsa").display().to_string(),
        );
        Inventory::parse(&d.path().join("site.toml"), &toml).unwrap()
    }

    const INI: &str = "\
# site
bastion ansible_host=203.0.113.1

[ganeti]
node[01:03].example.org ansible_user=admin

[astakos]
accounts.example.org ansible_host=10.0.0.5 ansible_port=2222 ansible_ssh_private_key_file=/keys/id_rsa

[services:children]
astakos

[services:vars]
ansible_user=deploy
ansible_ssh_common_args='-o ProxyJump=bastion'

[all:vars]
ansible_user=root
";

    #[test]
    fn ini_hosts_groups_children_and_vars() {
        let m = map(
            &["ganeti=ganeti-node", "astakos=astakos", "services=web"],
            &["ganeti=cluster.example.org"],
        );
        let (out, d) = import("hosts", INI, &m);
        let inv = check(&d, &out.toml);
        let names: Vec<_> = inv.hosts.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "bastion",
                "node01.example.org",
                "node02.example.org",
                "node03.example.org",
                "accounts.example.org"
            ]
        );
        let node = inv.host("node02.example.org").unwrap();
        assert_eq!(node.roles, [Role::GanetiNode]);
        assert_eq!(node.cluster.as_deref(), Some("cluster.example.org"));
        assert_eq!(node.ssh.user.as_deref(), Some("admin"));
        let acc = inv.host("accounts.example.org").unwrap();
        assert_eq!(acc.address.as_deref(), Some("10.0.0.5"));
        assert_eq!(acc.ssh.port, Some(2222));
        assert_eq!(
            acc.ssh.user.as_deref(),
            Some("deploy"),
            "group vars beat all:vars"
        );
        assert_eq!(acc.ssh.jump.as_deref(), Some("bastion"));
        assert_eq!(acc.roles, [Role::Astakos, Role::Web]);
        assert!(acc.ssh.identity_file.is_some());
        assert_eq!(
            inv.host("bastion").unwrap().ssh.user.as_deref(),
            Some("root")
        );
        assert!(out
            .warnings
            .iter()
            .any(|w| w.contains("host bastion: no role")));
    }

    const YAML: &str = "\
all:
  vars:
    ansible_user: root
  hosts:
    bastion:
      ansible_host: 203.0.113.1
  children:
    ganeti:
      hosts:
        node1.example.org:
        node2.example.org:
          ansible_port: 2200
        node[3:4].example.org:
    services:
      vars:
        ansible_user: deploy
      children:
        cyclades:
          hosts:
            compute.example.org:
              ansible_host: 10.0.0.6
              ansible_user: admin
";

    #[test]
    fn yaml_hosts_children_and_vars() {
        let m = map(
            &["ganeti=ganeti-node", "cyclades=cyclades", "services=web"],
            &["ganeti=c1"],
        );
        let (out, d) = import("hosts.yml", YAML, &m);
        let inv = check(&d, &out.toml);
        assert_eq!(inv.hosts.len(), 6);
        assert!(inv
            .host("node4.example.org")
            .unwrap()
            .has_role(Role::GanetiNode));
        assert_eq!(inv.host("node2.example.org").unwrap().ssh.port, Some(2200));
        assert_eq!(
            inv.host("node1.example.org").unwrap().ssh.user.as_deref(),
            Some("root")
        );
        let c = inv.host("compute.example.org").unwrap();
        assert_eq!(c.ssh.user.as_deref(), Some("admin"), "host vars win");
        assert_eq!(c.roles, [Role::Cyclades, Role::Web]);
        assert_eq!(inv.clusters[0].name, "c1");
    }

    #[test]
    fn ranges_expand() {
        assert_eq!(expand_range("n[8:10]").unwrap(), ["n8", "n9", "n10"]);
        assert_eq!(
            expand_range("n[08:10].x").unwrap(),
            ["n08.x", "n09.x", "n10.x"]
        );
        assert_eq!(expand_range("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert!(expand_range("n[1-3]").is_err());
        assert_eq!(
            expand_range("r[1:2]n[a:b]").unwrap(),
            ["r1na", "r1nb", "r2na", "r2nb"]
        );
        assert_eq!(expand_range("n[0:10:5]").unwrap(), ["n0", "n5", "n10"]);
        assert_eq!(expand_range("n[1:100000]").unwrap().len(), 100_000);
    }

    #[test]
    fn huge_ranges_are_refused_with_file_line_and_pattern() {
        let d = tempfile::tempdir().unwrap();
        // One range, a product of ranges, and an overflowing product: all
        // refused before expanding (this test would exhaust memory otherwise).
        for pattern in [
            "node[1:100001]",
            "r[1:400]n[1:400]",
            "a[0:4294967295]b[0:4294967295]c[0:4294967295]",
        ] {
            let ini = d.path().join("hosts");
            std::fs::write(&ini, format!("[web]\nok1\n{pattern} ansible_user=x\n")).unwrap();
            let e = import_ansible(&ini, &RoleMap::default())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("{}:3: ", ini.display())), "{e}");
            assert!(e.contains(pattern) && e.contains("100000"), "{e}");
            let yml = d.path().join("hosts.yml");
            std::fs::write(&yml, format!("all:\n  hosts:\n    ok1:\n    {pattern}:\n")).unwrap();
            let e = import_ansible(&yml, &RoleMap::default())
                .unwrap_err()
                .to_string();
            assert!(e.starts_with(&format!("{}:4: ", yml.display())), "{e}");
            assert!(e.contains(pattern), "{e}");
        }
        // Many patterns under the bound each still add up to a bound.
        let ini = d.path().join("many");
        std::fs::write(&ini, "[a]\nx[1:60000]\n[b]\ny[1:60000]\n").unwrap();
        let e = import_ansible(&ini, &RoleMap::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(&format!("{}:4: ", ini.display()))
                && e.contains("more than 100000 hosts"),
            "{e}"
        );
    }

    #[test]
    fn a_yaml_error_at_the_end_names_the_last_line() {
        // Found by fuzz/fuzz_targets/ansible_yaml.rs: the parser says line 6.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hosts.yml");
        std::fs::write(&p, "all:\n  varsall:\n  vars:\n    a:\n    an").unwrap();
        match import_ansible(&p, &RoleMap::default()).unwrap_err() {
            AnsibleError::Syntax { line, .. } => assert_eq!(line, 5),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn bad_input_is_located() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("hosts");
        std::fs::write(&p, "[web\nhost\n").unwrap();
        let e = import_ansible(&p, &RoleMap::default()).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("hosts:1: unclosed section header `[web`"),
            "{e}"
        );
        assert!(RoleMap::default().add_role("web=webserver").is_err());
    }
}
