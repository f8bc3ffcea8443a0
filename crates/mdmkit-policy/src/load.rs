//! The directory format of a tenant, and single-file checks.
//!
//! ```text
//! region/
//!   tree.toml        [tenant] and [[node]] entries (or tree.json)
//!   devices.toml     [[device]] entries (or devices.json; optional)
//!   policies/*.toml  one policy per file (or *.json)
//! ```
//!
//! The loader reads everything and reports every issue at once, each with
//! its file, line (TOML) and key path.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use mdmkit_core::{DeviceId, Platform, TenantId};

use serde::Deserialize;
use serde_json::Value;

use crate::authors::{Author, Grant, parse_public_key_hex};
use crate::document::{self, Policy, Reader, kind_of};
use crate::error::{Error, Issue, IssueKind, Issues};
use crate::ids::{AuthorKeyId, NodeId, PolicyId};
use crate::path::{Segment, SettingPath};
use crate::source::{self, Format};
use crate::tree::{Device, Tenant};

/// The largest tree or inventory file accepted, in bytes (64 MiB).
pub const MAX_TREE_BYTES: usize = 64 << 20;

/// The most policy files in a `policies/` directory.
pub const MAX_POLICY_FILES: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantEntry {
    id: TenantId,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    policies: Vec<PolicyId>,
    #[serde(default)]
    require_signatures: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorEntry {
    key: AuthorKeyId,
    public_key: String,
    node: NodeId,
    #[serde(default = "default_grants")]
    may: Vec<Grant>,
    #[serde(default)]
    name: Option<String>,
}

fn default_grants() -> Vec<Grant> {
    vec![Grant::Author]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeEntry {
    id: NodeId,
    #[serde(default)]
    parent: Option<NodeId>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    policies: Vec<PolicyId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceEntry {
    id: DeviceId,
    node: NodeId,
    platform: String,
    #[serde(default)]
    os_version: Option<String>,
    #[serde(default)]
    supervised: Option<bool>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    policies: Vec<PolicyId>,
}

/// Reads the entries of a top-level array (`[[node]]`), each deserialised
/// on its own; issues inside entry `i` are shown at `key["<id>"]`, where
/// the id is the entry's `id_field`.
fn read_entries<T: serde::de::DeserializeOwned>(
    r: &mut Reader<'_>,
    key: &str,
    id_field: &str,
    value: Option<Value>,
) -> Vec<(usize, Option<String>, T)> {
    let mut out = Vec::new();
    let Some(value) = value else { return out };
    let Value::Array(items) = value else {
        r.issue(
            IssueKind::Schema,
            SettingPath::field(key),
            format!(
                "expected an array of tables ([[{key}]]), found {}",
                kind_of(&value)
            ),
        );
        return out;
    };
    for (i, item) in items.into_iter().enumerate() {
        let id = item
            .get(id_field)
            .and_then(Value::as_str)
            .map(str::to_owned);
        let index_path = SettingPath::field(key).join_field(i.to_string());
        let before = r.issues.len();
        let parsed = r.read_struct::<T>(&index_path, item);
        let shown = entry_path(key, i, id.as_deref());
        for issue in &mut r.issues[before..] {
            if let Some(p) = &issue.path {
                issue.path = Some(rebase(p, &index_path, &shown));
            }
        }
        if let Some(t) = parsed {
            out.push((i, id, t));
        }
    }
    out
}

fn entry_path(key: &str, index: usize, id: Option<&str>) -> SettingPath {
    match id {
        Some(id) => SettingPath::field(key).join_key(id),
        None => SettingPath::field(key).join_key(format!("#{index}")),
    }
}

fn rebase(p: &SettingPath, from: &SettingPath, to: &SettingPath) -> SettingPath {
    match p.strip_prefix(from) {
        Some(rest) => {
            let mut segs: Vec<Segment> = to.segments().to_vec();
            segs.extend(rest.iter().cloned());
            SettingPath::from(segs)
        }
        None => p.clone(),
    }
}

fn located(
    r: &mut Reader<'_>,
    kind: IssueKind,
    key: &str,
    index: usize,
    id: Option<&str>,
    field: Option<&str>,
    message: String,
) {
    let mut locate = SettingPath::field(key).join_field(index.to_string());
    let mut shown = entry_path(key, index, id);
    if let Some(f) = field {
        locate.push_field(f);
        shown.push_field(f);
    }
    let line = r.locator.line_of_path(&locate);
    r.issues
        .push(Issue::at(kind, shown, message).with_line(line));
}

fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    ["toml", "json"]
        .iter()
        .map(|ext| dir.join(format!("{stem}.{ext}")))
        .find(|p| p.is_file())
}

fn parse_file(path: &Path, max: usize) -> Result<source::Parsed, Issues> {
    let text = document::read_at_most(path, max).map_err(|e| {
        Issues(vec![
            Issue::whole(IssueKind::Syntax, crate::error_chain(&e)).in_file(path),
        ])
    })?;
    let format = Format::from_path(path).unwrap_or(Format::Toml);
    source::parse_limited(&text, format, max).map_err(|issues| {
        let mut issues = Issues(issues);
        issues.set_file(path);
        issues
    })
}

/// Reads a tree file into a tenant without policies or devices; issues
/// are pushed to `all`, with the file set.
/// A policy assignment read from the tree file: the node, the policy and
/// the index of the `[[node]]` entry (`None` for `[tenant]`).
type Assignment = (NodeId, PolicyId, Option<usize>);

fn load_tree(path: &Path, all: &mut Vec<Issue>) -> Option<(Tenant, Vec<Assignment>)> {
    let parsed = match parse_file(path, MAX_TREE_BYTES) {
        Ok(p) => p,
        Err(issues) => {
            all.extend(issues);
            return None;
        }
    };
    let mut r = Reader {
        locator: &parsed.locator,
        issues: Vec::new(),
    };
    let Value::Object(mut map) = parsed.value else {
        all.push(Issue::whole(IssueKind::Schema, "expected a table at the top").in_file(path));
        return None;
    };
    let tenant_entry = match map.remove("tenant") {
        Some(v) => r.read_struct::<TenantEntry>(&SettingPath::field("tenant"), v),
        None => {
            r.issue(
                IssueKind::Schema,
                SettingPath::field("tenant"),
                "required: a [tenant] table with an id",
            );
            None
        }
    };
    let nodes = read_entries::<NodeEntry>(&mut r, "node", "id", map.remove("node"));
    let authors = read_entries::<AuthorEntry>(&mut r, "author", "key", map.remove("author"));
    for key in map.keys() {
        r.issue(
            IssueKind::Schema,
            SettingPath::field(key.clone()),
            "unknown key, expected `tenant`, `node` or `author`",
        );
    }
    let mut assignments = Vec::new();
    let tenant = tenant_entry.map(|t| {
        let mut tenant = Tenant::new(t.id);
        tenant.set_name(t.name);
        tenant.set_requires_signatures(t.require_signatures);
        let root = tenant.root().id().clone();
        for p in t.policies {
            assignments.push((root.clone(), p, None));
        }
        // Insert nodes whose parent exists, until no progress.
        let mut pending: Vec<(usize, NodeEntry)> = Vec::new();
        let mut seen = HashSet::new();
        seen.insert(root.clone());
        for (i, _, n) in nodes {
            if !seen.insert(n.id.clone()) {
                let msg = format!("node {} is defined twice (or is the tenant id)", n.id);
                located(
                    &mut r,
                    IssueKind::Conflict,
                    "node",
                    i,
                    Some(n.id.as_str()),
                    Some("id"),
                    msg,
                );
                continue;
            }
            pending.push((i, n));
        }
        loop {
            let before = pending.len();
            pending.retain(|(i, n)| {
                let parent = n.parent.clone().unwrap_or_else(|| root.clone());
                if tenant.node(&parent).is_none() {
                    return true;
                }
                let _ = tenant.add_node(n.id.clone(), &parent, n.name.clone(), n.kind.clone());
                for p in &n.policies {
                    assignments.push((n.id.clone(), p.clone(), Some(*i)));
                }
                false
            });
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for (i, n) in pending {
            let parent = n.parent.as_ref().map(NodeId::to_string).unwrap_or_default();
            let msg = if n.parent.as_ref().is_some_and(|p| seen.contains(p)) {
                format!("parent {parent} is part of a cycle")
            } else {
                format!("unknown parent node {parent}")
            };
            located(
                &mut r,
                IssueKind::Reference,
                "node",
                i,
                Some(n.id.as_str()),
                Some("parent"),
                msg,
            );
        }
        add_authors(&mut r, &mut tenant, authors);
        tenant
    });
    all.extend(r.issues.into_iter().map(|i| i.in_file(path)));
    // Even a tree with issues is returned, so that the devices and the
    // assignments can be checked against the nodes that are valid.
    tenant.map(|t| (t, assignments))
}

/// Validates the `[[author]]` entries and declares them on the tenant
/// (after the nodes, which they name).
fn add_authors(
    r: &mut Reader<'_>,
    tenant: &mut Tenant,
    authors: Vec<(usize, Option<String>, AuthorEntry)>,
) {
    for (i, _, a) in authors {
        let id = Some(a.key.as_str().to_owned());
        let id = id.as_deref();
        let public_key = match parse_public_key_hex(&a.public_key) {
            Ok(k) => k,
            Err(e) => {
                located(
                    r,
                    IssueKind::Invalid,
                    "author",
                    i,
                    id,
                    Some("public_key"),
                    e.to_string(),
                );
                continue;
            }
        };
        if tenant.node(&a.node).is_none() {
            let msg = format!("unknown node {}", a.node);
            located(r, IssueKind::Reference, "author", i, id, Some("node"), msg);
            continue;
        }
        if a.may.is_empty() {
            located(
                r,
                IssueKind::Invalid,
                "author",
                i,
                id,
                Some("may"),
                "grants nothing: list `author`, and `lock` to sign policies with locks".into(),
            );
            continue;
        }
        if a.may.contains(&Grant::Lock) && !a.may.contains(&Grant::Author) {
            located(
                r,
                IssueKind::Invalid,
                "author",
                i,
                id,
                Some("may"),
                "`lock` needs `author` as well: a key that may not sign a policy cannot sign its locks".into(),
            );
            continue;
        }
        let mut author = Author::new(a.key, public_key, a.node);
        author.grants = a.may.into_iter().collect();
        author.name = a.name;
        if tenant.add_author(author).is_err() {
            let msg = format!(
                "key {} is already declared with another public key",
                id.unwrap_or_default()
            );
            located(
                r,
                IssueKind::Conflict,
                "author",
                i,
                id,
                Some("public_key"),
                msg,
            );
        }
    }
}

/// One issue of a device entry found by [`check_device`]: its kind, the
/// entry's field (`None`: the entry itself) and the message.
type EntryIssue = (IssueKind, Option<&'static str>, String);

/// Checks one inventory entry against the tree, the policies and the
/// entries before it (`seen`), shared by both inventory paths. An entry
/// with a duplicate id, an unknown platform or an unknown node yields no
/// device; a bad version or an unknown policy is an issue beside the
/// device.
fn check_device(
    e: DeviceEntry,
    seen: &mut HashSet<DeviceId>,
    node_exists: &dyn Fn(&NodeId) -> bool,
    policy_exists: &dyn Fn(&PolicyId) -> bool,
    issues: &mut Vec<EntryIssue>,
) -> Option<Device> {
    if !seen.insert(e.id.clone()) {
        let msg = format!("device {} is listed twice", e.id);
        issues.push((IssueKind::Conflict, Some("id"), msg));
        return None;
    }
    let platform = match e.platform.parse::<Platform>() {
        Ok(p) => p,
        Err(err) => {
            issues.push((IssueKind::Schema, Some("platform"), err.to_string()));
            return None;
        }
    };
    if !node_exists(&e.node) {
        let msg = format!("unknown node {}", e.node);
        issues.push((IssueKind::Reference, Some("node"), msg));
        return None;
    }
    if let Some(v) = &e.os_version
        && crate::validate::parse_version(v).is_none()
    {
        let msg = format!("{v:?} is not a dotted numeric version");
        issues.push((IssueKind::Invalid, Some("os_version"), msg));
    }
    for p in &e.policies {
        if !policy_exists(p) {
            let msg = format!("policy {p} is not defined in policies/");
            issues.push((IssueKind::Reference, Some("policies"), msg));
        }
    }
    let mut d = Device::new(e.id, e.node, platform);
    d.os_version = e.os_version;
    d.supervised = e.supervised;
    d.model = e.model;
    d.serial = e.serial;
    d.policies = e.policies;
    Some(d)
}

/// A JSON inventory read straight into its entries (`devices.json`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonInventory {
    #[serde(default)]
    device: Vec<DeviceEntry>,
}

/// The fast path of a JSON inventory: the text deserialised straight into
/// typed entries, with no document tree and no line index (at 100,000
/// devices about a tenth of the memory of the located path, see
/// `docs/performance.md`). `None` when anything is wrong, in which case the
/// located path reads the file again and reports every issue with its
/// line; a valid inventory gives the same devices either way.
fn fast_json_devices(
    text: &str,
    node_exists: &dyn Fn(&NodeId) -> bool,
    policy_exists: &dyn Fn(&PolicyId) -> bool,
) -> Option<Vec<Device>> {
    let inventory: JsonInventory = serde_json::from_str(text).ok()?;
    let mut seen = HashSet::with_capacity(inventory.device.len());
    let mut issues = Vec::new();
    let mut out = Vec::with_capacity(inventory.device.len());
    for e in inventory.device {
        let d = check_device(e, &mut seen, node_exists, policy_exists, &mut issues);
        if !issues.is_empty() {
            return None;
        }
        out.extend(d);
    }
    Some(out)
}

fn load_devices(
    path: &Path,
    node_exists: &dyn Fn(&NodeId) -> bool,
    policy_exists: &dyn Fn(&PolicyId) -> bool,
    all: &mut Vec<Issue>,
) -> Vec<Device> {
    let text = match document::read_at_most(path, MAX_TREE_BYTES) {
        Ok(t) => t,
        Err(e) => {
            all.push(Issue::whole(IssueKind::Syntax, crate::error_chain(&e)).in_file(path));
            return Vec::new();
        }
    };
    let format = Format::from_path(path).unwrap_or(Format::Toml);
    if format == Format::Json
        && let Some(devices) = fast_json_devices(&text, node_exists, policy_exists)
    {
        return devices;
    }
    let (devices, issues) = located_devices(text, format, node_exists, policy_exists);
    let mut issues = Issues(issues);
    issues.set_file(path);
    all.extend(issues.0);
    devices
}

/// The located path of an inventory: the document with its line index,
/// every issue at its entry, field and line (the file is set by the
/// caller).
fn located_devices(
    text: String,
    format: Format,
    node_exists: &dyn Fn(&NodeId) -> bool,
    policy_exists: &dyn Fn(&PolicyId) -> bool,
) -> (Vec<Device>, Vec<Issue>) {
    let mut out = Vec::new();
    let parsed = match source::parse_limited(&text, format, MAX_TREE_BYTES) {
        Ok(p) => p,
        Err(issues) => return (out, issues),
    };
    drop(text);
    let mut r = Reader {
        locator: &parsed.locator,
        issues: Vec::new(),
    };
    let Value::Object(mut map) = parsed.value else {
        let issue = Issue::whole(IssueKind::Schema, "expected a table at the top");
        return (out, vec![issue]);
    };
    let entries = read_entries::<DeviceEntry>(&mut r, "device", "id", map.remove("device"));
    for key in map.keys() {
        r.issue(
            IssueKind::Schema,
            SettingPath::field(key.clone()),
            "unknown key, expected `device`",
        );
    }
    let mut seen = HashSet::new();
    let mut issues = Vec::new();
    for (i, _, e) in entries {
        let id = e.id.as_str().to_owned();
        let d = check_device(e, &mut seen, node_exists, policy_exists, &mut issues);
        for (kind, field, msg) in issues.drain(..) {
            located(&mut r, kind, "device", i, Some(&id), field, msg);
        }
        out.extend(d);
    }
    (out, r.issues)
}

fn load_policies(dir: &Path, all: &mut Vec<Issue>) -> BTreeMap<PolicyId, (Policy, PathBuf)> {
    let mut out: BTreeMap<PolicyId, (Policy, PathBuf)> = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            all.push(
                Issue::whole(IssueKind::Syntax, format!("cannot read the directory: {e}"))
                    .in_file(dir),
            );
            return out;
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && Format::from_path(p).is_some())
        .collect();
    files.sort();
    if files.len() > MAX_POLICY_FILES {
        all.push(
            Issue::whole(
                IssueKind::Limit,
                format!(
                    "{} policy files, at most {MAX_POLICY_FILES} are read",
                    files.len()
                ),
            )
            .in_file(dir),
        );
        files.truncate(MAX_POLICY_FILES);
    }
    for file in files {
        match Policy::from_path(&file) {
            Ok(p) => {
                if let Some((_, other)) = out.get(&p.id) {
                    all.push(
                        Issue::whole(
                            IssueKind::Conflict,
                            format!("policy id {} is also used by {}", p.id, other.display()),
                        )
                        .in_file(&file),
                    );
                } else {
                    out.insert(p.id.clone(), (p, file));
                }
            }
            Err(Error::Invalid(issues)) => all.extend(issues),
            Err(e) => {
                all.push(Issue::whole(IssueKind::Syntax, crate::error_chain(&e)).in_file(&file))
            }
        }
    }
    out
}

/// Loads a tenant directory (`tree.toml`, `devices.toml`, `policies/`).
/// Every issue of every file is reported at once, in
/// [`Error::Invalid`]. Conflicts and dangling references between policies
/// are not load errors: see [`Tenant::check`].
pub fn load_dir(dir: &Path) -> Result<Tenant, Error> {
    let mut issues = Vec::new();
    let Some(tree_path) = find_file(dir, "tree") else {
        return Err(Error::Invalid(Issues(vec![
            Issue::whole(
                IssueKind::Reference,
                "no tree.toml or tree.json in this directory",
            )
            .in_file(dir),
        ])));
    };
    let tree = load_tree(&tree_path, &mut issues);
    let policies_dir = dir.join("policies");
    let policies = if policies_dir.is_dir() {
        load_policies(&policies_dir, &mut issues)
    } else {
        BTreeMap::new()
    };
    let Some((mut tenant, assignments)) = tree else {
        return Err(Error::Invalid(Issues(issues)));
    };
    let known: HashSet<PolicyId> = policies.keys().cloned().collect();
    // Assignments in the tree must name a policy file.
    let located_tree = parse_file(&tree_path, MAX_TREE_BYTES).ok();
    for (node, policy, index) in &assignments {
        if !known.contains(policy) {
            let (locate, shown) = match index {
                None => (
                    SettingPath::field("tenant").join_field("policies"),
                    SettingPath::field("tenant").join_field("policies"),
                ),
                Some(i) => (
                    SettingPath::field("node")
                        .join_field(i.to_string())
                        .join_field("policies"),
                    SettingPath::field("node")
                        .join_key(node.as_str())
                        .join_field("policies"),
                ),
            };
            let line = located_tree
                .as_ref()
                .and_then(|p| p.locator.line_of_path(&locate));
            issues.push(
                Issue::at(
                    IssueKind::Reference,
                    shown,
                    format!("policy {policy} is not defined in policies/"),
                )
                .with_line(line)
                .in_file(&tree_path),
            );
        }
        let _ = tenant.assign(node, policy.clone());
    }
    tenant.set_dir(dir);
    for (policy, file) in policies.into_values() {
        tenant.set_policy_file(policy.id.clone(), file);
        tenant.set_policy(policy);
    }
    if let Some(devices_path) = find_file(dir, "devices") {
        let devices = load_devices(
            &devices_path,
            &|n| tenant.node(n).is_some(),
            &|p| known.contains(p),
            &mut issues,
        );
        for d in devices {
            // Duplicates and unknown nodes were reported by load_devices.
            let _ = tenant.add_device(d);
        }
    }
    if issues.is_empty() {
        Ok(tenant)
    } else {
        document::sort_issues(&mut issues);
        Err(Error::Invalid(Issues(issues)))
    }
}

/// What a single file turned out to be, for [`check_file`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A policy document.
    Policy,
    /// A tree file (it has a `[tenant]` table).
    Tree,
    /// A device inventory (it has `[[device]]` entries).
    Devices,
}

/// Checks one file on its own: a policy document, a tree file or a device
/// inventory (recognised by their top-level keys). References to other
/// files are not checked; load the directory for that.
pub fn check_file(path: &Path) -> (FileKind, Issues) {
    let parsed = match parse_file(path, MAX_TREE_BYTES) {
        Ok(p) => p,
        Err(issues) => return (FileKind::Policy, issues),
    };
    let has = |k: &str| parsed.value.get(k).is_some();
    if has("tenant") {
        let mut issues = Vec::new();
        let _ = load_tree(path, &mut issues);
        // Policies are not known here: only structure is checked.
        return (FileKind::Tree, Issues(issues));
    }
    // `[[device]]` is an array; a policy's `[device]` category is a table.
    if parsed.value.get("device").is_some_and(Value::is_array) {
        let mut issues = Vec::new();
        // Without the tree and the policies, only the entries themselves
        // are checked.
        let _ = load_devices(path, &|_| true, &|_| true, &mut issues);
        return (FileKind::Devices, Issues(issues));
    }
    match Policy::from_path(path) {
        Ok(_) => (FileKind::Policy, Issues::default()),
        Err(Error::Invalid(issues)) => (FileKind::Policy, issues),
        Err(e) => (
            FileKind::Policy,
            Issues(vec![
                Issue::whole(IssueKind::Syntax, crate::error_chain(&e)).in_file(path),
            ]),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One generated entry: its id (small, so ids repeat), its node (one
    /// of them unknown), its platform (one of them unknown), its version
    /// and its policies (one of them unknown), or a field no entry has.
    fn entry() -> impl Strategy<Value = serde_json::Value> {
        (
            0u8..12,
            prop_oneof![Just("school"), Just("class"), Just("nowhere")],
            prop_oneof![
                Just("apple"),
                Just("windows"),
                Just("android"),
                Just("palm")
            ],
            proptest::option::of(prop_oneof![Just("17.5"), Just("10.0.22631"), Just("x.1")]),
            proptest::option::of(any::<bool>()),
            proptest::collection::vec(prop_oneof![Just("p"), Just("missing")], 0..2),
            prop_oneof![8 => Just(false), 1 => Just(true)],
        )
            .prop_map(|(id, node, platform, os, supervised, policies, extra)| {
                let mut e = serde_json::json!({
                    "id": format!("dev-{id}"),
                    "node": node,
                    "platform": platform,
                    "policies": policies,
                });
                if let Some(v) = os {
                    e["os_version"] = v.into();
                }
                if let Some(s) = supervised {
                    e["supervised"] = s.into();
                }
                if extra {
                    e["colour"] = "blue".into();
                }
                e
            })
    }

    proptest! {
        /// The fast path of a JSON inventory gives the devices of the
        /// located path when the inventory is valid, and gives way to it
        /// (so that every issue is reported with its line) when it is not.
        #[test]
        fn the_fast_json_path_agrees_with_the_located_path(
            entries in proptest::collection::vec(entry(), 0..8),
        ) {
            let text = serde_json::to_string_pretty(&serde_json::json!({ "device": entries }))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let node = |n: &NodeId| n.as_str() != "nowhere";
            let policy = |p: &PolicyId| p.as_str() == "p";
            let (located, issues) = located_devices(text.clone(), Format::Json, &node, &policy);
            match fast_json_devices(&text, &node, &policy) {
                Some(fast) => {
                    prop_assert!(issues.is_empty(), "fast path accepted {issues:?}");
                    prop_assert_eq!(fast, located);
                }
                None => prop_assert!(!issues.is_empty(), "fast path refused a valid inventory"),
            }
        }
    }
}
