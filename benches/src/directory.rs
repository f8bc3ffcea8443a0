//! A region written in the documented tenant directory format (`tree.toml`,
//! `devices.toml`, `policies/`, `secrets/`; see `docs/policy.md` and
//! `examples/region/`), as an operator would keep it: the input of
//! `mdmkit policy check`, `mdmkit reconcile` and `mdmkit status`, and of the
//! `operator` bench (issue 19 must 3).
//!
//! The shape is the in-memory bench region's ([`crate::region`]: 10 groups
//! of towns, 50 towns, 200 schools) with 5 classes per school, 1,000 classes
//! in all, and [`Shape::devices`] spread evenly over them (100 per class at
//! the full size of 100,000). The policies are the example region's, read
//! from `examples/region/policies/` at compile time, assigned so:
//!
//! - the root: `securite-socle`, `applications-academie`,
//!   `reglages-avances` (as in the example);
//! - groups of towns: `wifi-val-de-lys` (even groups) or
//!   `wifi-monts-de-flandre` (odd ones);
//! - towns: `nommage-estaires`, `nommage-merville`, `nommage-bailleul` or
//!   none, in turn;
//! - schools: each its own policy, named as the school and written from
//!   `ecole-jules-ferry.toml` (its own Wi-Fi network, whose key is a file in
//!   `secrets/`); every fourth school is a lycée and also gets
//!   `lycee-sainte-marie` (the policy shared by a quarter of the schools);
//! - classes: the first class of an école gets `tablettes-cp`, the first of
//!   a collège `examens-brevet`, the last of a lycée `kiosque-cdi`;
//! - devices: half iPads, a quarter Windows PCs, a quarter Android tablets
//!   (by device number, so each class of 100 has 50, 25 and 25); the first
//!   Windows PC of each school is the head teacher's and gets
//!   `poste-direction` of its own.
//!
//! ```
//! let dir = tempfile::tempdir().unwrap();
//! let region = mdmkit_benches::directory::write(
//!     &dir.path().join("region"),
//!     &mdmkit_benches::directory::Shape::with_devices(2_000),
//! )
//! .unwrap();
//! let tenant = mdmkit::policy::load_dir(&region.dir).unwrap();
//! assert_eq!(tenant.devices().count(), 2_000);
//! assert!(tenant.check().is_empty());
//! ```

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use mdmkit::Platform;

/// The example region's policies, by file name, as committed in
/// `examples/region/policies/`.
const EXAMPLE_POLICIES: &[(&str, &str)] = &[
    (
        "securite-socle",
        include_str!("../../examples/region/policies/securite-socle.toml"),
    ),
    (
        "applications-academie",
        include_str!("../../examples/region/policies/applications-academie.toml"),
    ),
    (
        "reglages-avances",
        include_str!("../../examples/region/policies/reglages-avances.toml"),
    ),
    (
        "wifi-val-de-lys",
        include_str!("../../examples/region/policies/wifi-val-de-lys.toml"),
    ),
    (
        "wifi-monts-de-flandre",
        include_str!("../../examples/region/policies/wifi-monts-de-flandre.toml"),
    ),
    (
        "nommage-estaires",
        include_str!("../../examples/region/policies/nommage-estaires.toml"),
    ),
    (
        "nommage-merville",
        include_str!("../../examples/region/policies/nommage-merville.toml"),
    ),
    (
        "nommage-bailleul",
        include_str!("../../examples/region/policies/nommage-bailleul.toml"),
    ),
    (
        "lycee-sainte-marie",
        include_str!("../../examples/region/policies/lycee-sainte-marie.toml"),
    ),
    (
        "examens-brevet",
        include_str!("../../examples/region/policies/examens-brevet.toml"),
    ),
    (
        "kiosque-cdi",
        include_str!("../../examples/region/policies/kiosque-cdi.toml"),
    ),
    (
        "tablettes-cp",
        include_str!("../../examples/region/policies/tablettes-cp.toml"),
    ),
    (
        "poste-direction",
        include_str!("../../examples/region/policies/poste-direction.toml"),
    ),
];

/// The example's school policy, the template of each school's own.
const SCHOOL_TEMPLATE: &str = include_str!("../../examples/region/policies/ecole-jules-ferry.toml");

/// The key of the lycées' guest network (`lycee-sainte-marie` refers to it).
const GUEST_KEY: &str = include_str!("../../examples/region/secrets/sainte-marie-invites.key");

/// The tenant id of the generated region (the example's).
pub const TENANT: &str = "academie-hauts-de-lys";

/// The root policy file the root change edits, and the edit (every device).
pub const ROOT_CHANGE: (&str, &str, &str) = (
    "securite-socle",
    "max_failed_attempts = 10",
    "max_failed_attempts = 8",
);

/// The edit of one school's own policy (the school change).
pub const SCHOOL_CHANGE: (&str, &str) = ("auto_lock_minutes = 2", "auto_lock_minutes = 1");

/// The policy shared by a quarter of the schools (the lycées), and its edit.
pub const SHARED_CHANGE: (&str, &str, &str) = (
    "lycee-sainte-marie",
    "max_age_days = 180",
    "max_age_days = 90",
);

/// How large a region to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Groups of towns below the root.
    pub groups: usize,
    /// Towns per group.
    pub towns_per_group: usize,
    /// Schools per town.
    pub schools_per_town: usize,
    /// Classes per school.
    pub classes_per_school: usize,
    /// Devices in all, spread evenly over the classes (the first classes
    /// get one more when they do not divide).
    pub devices: usize,
}

impl Shape {
    /// Issue 19's region: 10 groups, 50 towns, 200 schools, 1,000 classes,
    /// 100,000 devices (100 per class).
    pub const REGION: Shape = Shape {
        groups: crate::region::GROUPS,
        towns_per_group: crate::region::TOWNS,
        schools_per_town: crate::region::SCHOOLS,
        classes_per_school: 5,
        devices: 100_000,
    };

    /// The region's tree with `devices` devices.
    pub fn with_devices(devices: usize) -> Shape {
        Shape {
            devices,
            ..Shape::REGION
        }
    }

    /// Towns in all.
    pub fn towns(&self) -> usize {
        self.groups * self.towns_per_group
    }

    /// Schools in all.
    pub fn schools(&self) -> usize {
        self.towns() * self.schools_per_town
    }

    /// Classes in all.
    pub fn classes(&self) -> usize {
        self.schools() * self.classes_per_school
    }

    /// Nodes in all, the root included.
    pub fn nodes(&self) -> usize {
        1 + self.groups + self.towns() + self.schools() + self.classes()
    }

    /// The number of the school whose own policy the school change edits:
    /// one in the middle of the region, not a lycée.
    pub fn changed_school(&self) -> usize {
        let mut s = self.schools() / 2 + 1;
        if SchoolKind::of(s) == SchoolKind::Lycee {
            s += 1;
        }
        s.min(self.schools().saturating_sub(1))
    }
}

/// What a school is: it decides its extra policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchoolKind {
    /// An école (schools 2 and 3 of every 4).
    Ecole,
    /// A collège (school 1 of every 4).
    College,
    /// A lycée (school 0 of every 4): gets the shared policy.
    Lycee,
}

impl SchoolKind {
    /// The kind of school number `s`.
    pub fn of(s: usize) -> SchoolKind {
        match s % 4 {
            0 => SchoolKind::Lycee,
            1 => SchoolKind::College,
            _ => SchoolKind::Ecole,
        }
    }

    fn slug(self) -> &'static str {
        match self {
            SchoolKind::Ecole => "ecole",
            SchoolKind::College => "college",
            SchoolKind::Lycee => "lycee",
        }
    }

    fn label(self) -> &'static str {
        match self {
            SchoolKind::Ecole => "École élémentaire",
            SchoolKind::College => "Collège",
            SchoolKind::Lycee => "Lycée",
        }
    }
}

/// The node id of school number `s` (`lycee-000`, `college-001`, ...); its
/// own policy has the same id.
pub fn school_id(s: usize) -> String {
    format!("{}-{s:03}", SchoolKind::of(s).slug())
}

/// The node id of class `c` of school number `s`.
pub fn class_id(s: usize, c: usize) -> String {
    format!("{}-c{c}", school_id(s))
}

/// The platform of device number `i`: half Apple, a quarter Windows, a
/// quarter Android.
pub fn platform_of(i: usize) -> Platform {
    match i % 4 {
        0 | 1 => Platform::Apple,
        2 => Platform::Windows,
        _ => Platform::Android,
    }
}

/// SplitMix64: a bijection of `u64`, so distinct device numbers give
/// distinct ids.
fn mix(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The id of device number `i`, in its platform's form: an Apple UDID, a
/// Windows device GUID, an AMAPI device name.
pub fn device_id(i: usize) -> String {
    let m = mix(i);
    match platform_of(i) {
        Platform::Apple => format!("00008101-{m:016X}"),
        Platform::Windows => {
            let n = i as u64;
            format!(
                "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
                m >> 32,
                (m >> 16) & 0xFFFF,
                m & 0xFFFF,
                0x8000 | ((n >> 48) & 0x0FFF),
                n & 0xFFFF_FFFF_FFFF
            )
        }
        _ => format!("enterprises/LC03hdl7/devices/{m:016x}"),
    }
}

/// What [`write()`] wrote.
#[derive(Debug, Clone)]
pub struct Region {
    /// The tenant directory.
    pub dir: PathBuf,
    /// The shape it was written with.
    pub shape: Shape,
    /// Files written (tree, inventory, policies, secrets, README).
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Policy files written.
    pub policies: usize,
    /// The school the school change edits (see [`Region::change_school`]):
    /// `noncompliant --node` is asked about it.
    pub school: String,
    /// A class of that school: `status --node` is asked about it.
    pub class: String,
    /// Devices in [`Region::school`].
    pub school_devices: usize,
    /// Devices in [`Region::class`].
    pub class_devices: usize,
    /// Devices under the policy shared by a quarter of the schools.
    pub shared_devices: usize,
}

impl Region {
    /// The root change: one value of the region's security floor, which
    /// every device gets.
    pub fn change_root(&self) -> io::Result<()> {
        let (policy, from, to) = ROOT_CHANGE;
        edit(&self.policy_path(policy), from, to)
    }

    /// The school change: one value of [`Region::school`]'s own policy.
    pub fn change_school(&self) -> io::Result<()> {
        let (from, to) = SCHOOL_CHANGE;
        edit(&self.policy_path(&self.school), from, to)
    }

    /// The change of the policy shared by a quarter of the schools (the
    /// lycées).
    pub fn change_shared(&self) -> io::Result<()> {
        let (policy, from, to) = SHARED_CHANGE;
        edit(&self.policy_path(policy), from, to)
    }

    /// The file of policy `id`.
    pub fn policy_path(&self, id: &str) -> PathBuf {
        self.dir.join("policies").join(format!("{id}.toml"))
    }
}

/// Replaces the first `from` of the file at `path` with `to`; an error when
/// `from` is not there (the edit would measure nothing).
pub fn edit(path: &Path, from: &str, to: &str) -> io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    if !text.contains(from) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no {from:?} to change", path.display()),
        ));
    }
    std::fs::write(path, text.replacen(from, to, 1))
}

/// Counts the files and bytes written.
struct Out {
    files: usize,
    bytes: u64,
}

impl Out {
    fn write(&mut self, path: &Path, text: &str) -> io::Result<()> {
        std::fs::write(path, text)?;
        self.files += 1;
        self.bytes += text.len() as u64;
        Ok(())
    }
}

/// The format of a generated inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inventory {
    /// `devices.toml`, `[[device]]` entries (the format for hand-written
    /// trees).
    Toml,
    /// `devices.json`, `{"device": [...]}` (the loader's fast path for
    /// large fleets, see `docs/performance.md`).
    Json,
}

impl Inventory {
    /// The inventory's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Inventory::Toml => "devices.toml",
            Inventory::Json => "devices.json",
        }
    }
}

/// Writes the region of `shape` into `dir` (created; it must not exist or
/// be empty) with a TOML inventory. Deterministic: the same shape writes
/// the same bytes.
pub fn write(dir: &Path, shape: &Shape) -> io::Result<Region> {
    write_with(dir, shape, Inventory::Toml)
}

/// [`write()`] with the inventory in `inventory`'s format: the same devices
/// either way.
pub fn write_with(dir: &Path, shape: &Shape, inventory: Inventory) -> io::Result<Region> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not empty", dir.display()),
        ));
    }
    if shape.classes() == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the shape has no class to put devices in",
        ));
    }
    std::fs::create_dir_all(dir.join("policies"))?;
    std::fs::create_dir_all(dir.join("secrets"))?;
    let mut out = Out { files: 0, bytes: 0 };

    out.write(
        &dir.join("README.md"),
        &format!(
            "# A generated region\n\n\
             Written by `mdmkit_benches::directory::write` (`cargo run --release -p \
             mdmkit-benches --example gen-region -- DIR --devices N`): {} groups of towns, \
             {} towns, {} schools, {} classes, {} devices, with the policies of \
             `examples/region/`. See `benches/src/directory.rs` for the assignments; \
             the Wi-Fi keys in `secrets/` protect no real network.\n",
            shape.groups,
            shape.towns(),
            shape.schools(),
            shape.classes(),
            shape.devices
        ),
    )?;

    // Policies: the example's, and one per school from its school policy.
    let mut policies = 0;
    for (id, text) in EXAMPLE_POLICIES {
        out.write(&dir.join("policies").join(format!("{id}.toml")), text)?;
        policies += 1;
    }
    out.write(
        &dir.join("secrets").join("sainte-marie-invites.key"),
        GUEST_KEY,
    )?;
    for s in 0..shape.schools() {
        let id = school_id(s);
        let text = school_policy(s)?;
        out.write(&dir.join("policies").join(format!("{id}.toml")), &text)?;
        out.write(
            &dir.join("secrets").join(format!("{id}.key")),
            &format!("Cartable-{:012x}\n", mix(s) & 0xFFFF_FFFF_FFFF),
        )?;
        policies += 1;
    }

    // The tree.
    let mut tree = String::with_capacity(shape.nodes() * 120);
    tree.push_str(
        "# The scope tree of a generated region (mdmkit_benches::directory).\n\n\
         [tenant]\n",
    );
    let _ = writeln!(tree, "id = \"{TENANT}\"");
    tree.push_str(
        "name = \"Direction académique des Hauts-de-Lys (générée)\"\n\
         policies = [\"securite-socle\", \"applications-academie\", \"reglages-avances\"]\n",
    );
    let node = |tree: &mut String, id: &str, parent: &str, name: &str, kind: &str, p: &[&str]| {
        let _ = write!(
            tree,
            "\n[[node]]\nid = \"{id}\"\nparent = \"{parent}\"\nname = \"{name}\"\nkind = \"{kind}\"\n"
        );
        if !p.is_empty() {
            let list: Vec<String> = p.iter().map(|p| format!("\"{p}\"")).collect();
            let _ = writeln!(tree, "policies = [{}]", list.join(", "));
        }
    };
    let naming = ["nommage-estaires", "nommage-merville", "nommage-bailleul"];
    for g in 0..shape.groups {
        let wifi = if g % 2 == 0 {
            "wifi-val-de-lys"
        } else {
            "wifi-monts-de-flandre"
        };
        node(
            &mut tree,
            &format!("cc-{g:02}"),
            TENANT,
            &format!("Communauté de communes n° {g}"),
            "group",
            &[wifi],
        );
    }
    for t in 0..shape.towns() {
        let p: &[&str] = match naming.get(t % 4) {
            Some(n) => &[n],
            None => &[],
        };
        node(
            &mut tree,
            &format!("ville-{t:02}"),
            &format!("cc-{:02}", t / shape.towns_per_group),
            &format!("Ville n° {t}"),
            "town",
            p,
        );
    }
    for s in 0..shape.schools() {
        let id = school_id(s);
        let kind = SchoolKind::of(s);
        let p: &[&str] = if kind == SchoolKind::Lycee {
            &[&id, SHARED_CHANGE.0]
        } else {
            &[&id]
        };
        node(
            &mut tree,
            &id,
            &format!("ville-{:02}", s / shape.schools_per_town),
            &format!("{} n° {s}", kind.label()),
            "school",
            p,
        );
    }
    let last = shape.classes_per_school.saturating_sub(1);
    for s in 0..shape.schools() {
        let kind = SchoolKind::of(s);
        for c in 0..shape.classes_per_school {
            let p: &[&str] = match (kind, c) {
                (SchoolKind::Ecole, 0) => &["tablettes-cp"],
                (SchoolKind::College, 0) => &["examens-brevet"],
                (SchoolKind::Lycee, c) if c == last => &["kiosque-cdi"],
                _ => &[],
            };
            node(
                &mut tree,
                &class_id(s, c),
                &school_id(s),
                &format!("Classe {c}"),
                "class",
                p,
            );
        }
    }
    out.write(&dir.join("tree.toml"), &tree)?;

    // The inventory, streamed.
    let path = dir.join(inventory.file_name());
    let mut w = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
    let header = match inventory {
        Inventory::Toml => {
            "# Device inventory of a generated region (mdmkit_benches::directory).\n"
        }
        Inventory::Json => "{\"device\": [",
    };
    w.write_all(header.as_bytes())?;
    let mut bytes = header.len() as u64;
    let mut json = String::with_capacity(512);
    let classes = shape.classes();
    let (per, extra) = (shape.devices / classes, shape.devices % classes);
    let changed = shape.changed_school();
    let class_no = shape.classes_per_school.min(3) - 1;
    let mut region = Region {
        dir: dir.to_path_buf(),
        shape: *shape,
        files: 0,
        bytes: 0,
        policies,
        school: school_id(changed),
        class: class_id(changed, class_no),
        school_devices: 0,
        class_devices: 0,
        shared_devices: 0,
    };
    let mut i = 0usize;
    let mut entry = String::with_capacity(512);
    for s in 0..shape.schools() {
        let mut head_teacher = false;
        for c in 0..shape.classes_per_school {
            let k = s * shape.classes_per_school + c;
            let n = per + usize::from(k < extra);
            let class = class_id(s, c);
            if s == changed {
                region.school_devices += n;
                if c == class_no {
                    region.class_devices += n;
                }
            }
            if SchoolKind::of(s) == SchoolKind::Lycee {
                region.shared_devices += n;
            }
            for _ in 0..n {
                entry.clear();
                device_entry(&mut entry, i, &class);
                if !head_teacher && platform_of(i) == Platform::Windows {
                    entry.push_str("policies = [\"poste-direction\"]\n");
                    head_teacher = true;
                }
                let text = match inventory {
                    Inventory::Toml => &entry,
                    Inventory::Json => {
                        json.clear();
                        json.push_str(if i == 0 { "\n" } else { ",\n" });
                        entry_as_json(&entry, &mut json);
                        &json
                    }
                };
                w.write_all(text.as_bytes())?;
                bytes += text.len() as u64;
                i += 1;
            }
        }
    }
    if inventory == Inventory::Json {
        w.write_all(b"\n]}\n")?;
        bytes += 4;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    out.files += 1;
    out.bytes += bytes;
    region.files = out.files;
    region.bytes = out.bytes;
    Ok(region)
}

/// The own policy of school number `s`, from the example's school policy:
/// its network's name and key file, and its name.
fn school_policy(s: usize) -> io::Result<String> {
    let id = school_id(s);
    let mut text = SCHOOL_TEMPLATE.to_owned();
    for (from, to) in [
        ("JULES-FERRY-PEDA", format!("{}-PEDA", id.to_uppercase())),
        ("secrets/jules-ferry-peda.key", format!("secrets/{id}.key")),
        (
            "name = \"École Jules-Ferry\"",
            format!("name = \"{} n° {s}\"", SchoolKind::of(s).label()),
        ),
    ] {
        if !text.contains(from) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("examples/region/policies/ecole-jules-ferry.toml: no {from:?} to adapt"),
            ));
        }
        text = text.replace(from, &to);
    }
    if !text.contains(SCHOOL_CHANGE.0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "examples/region/policies/ecole-jules-ferry.toml: the school change has nothing to edit",
        ));
    }
    Ok(text)
}

/// Appends the `[[device]]` entry of device number `i` in `class`.
/// One `[[device]]` entry of [`device_entry`] as a JSON object. Its
/// values (plain strings, booleans, arrays of plain strings) are written
/// alike in both formats, so each `key = value` line becomes `"key": value`.
fn entry_as_json(entry: &str, out: &mut String) {
    out.push('{');
    let mut first = true;
    for line in entry.lines() {
        let Some((key, value)) = line.split_once(" = ") else {
            continue;
        };
        if !first {
            out.push_str(", ");
        }
        first = false;
        let _ = write!(out, "\"{key}\": {value}");
    }
    out.push('}');
}

fn device_entry(out: &mut String, i: usize, class: &str) {
    let m = mix(i);
    let id = device_id(i);
    match platform_of(i) {
        Platform::Apple => {
            const MODELS: [&str; 3] = [
                "iPad (10th generation)",
                "iPad (9th generation)",
                "iPad Air (5th generation)",
            ];
            const VERSIONS: [&str; 3] = ["18.1", "17.5", "17.4"];
            let _ = write!(
                out,
                "\n[[device]]\nid = \"{id}\"\nnode = \"{class}\"\nplatform = \"apple\"\n\
                 os_version = \"{}\"\nsupervised = {}\nmodel = \"{}\"\nserial = \"DMP{:09X}\"\n",
                VERSIONS[i / 4 % 3],
                !i.is_multiple_of(40),
                MODELS[i / 2 % 3],
                m & 0xF_FFFF_FFFF
            );
        }
        Platform::Windows => {
            const MODELS: [&str; 3] = [
                "Dell Latitude 3140",
                "Lenovo ThinkPad 11e",
                "HP ProBook 450 G10",
            ];
            const VERSIONS: [&str; 2] = ["10.0.22631", "10.0.26100"];
            let _ = write!(
                out,
                "\n[[device]]\nid = \"{id}\"\nnode = \"{class}\"\nplatform = \"windows\"\n\
                 os_version = \"{}\"\nmodel = \"{}\"\nserial = \"{:07X}\"\n",
                VERSIONS[i / 4 % 2],
                MODELS[i / 4 % 3],
                m & 0xFFF_FFFF
            );
        }
        _ => {
            const MODELS: [&str; 2] = ["Samsung Galaxy Tab A9+", "Lenovo Tab M10 (3rd Gen)"];
            const VERSIONS: [&str; 2] = ["14", "13"];
            let _ = write!(
                out,
                "\n[[device]]\nid = \"{id}\"\nnode = \"{class}\"\nplatform = \"android\"\n\
                 os_version = \"{}\"\nmodel = \"{}\"\nserial = \"R94{:09X}\"\n",
                VERSIONS[i / 4 % 2],
                MODELS[i / 4 % 2],
                m & 0xF_FFFF_FFFF
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_ids_are_distinct_and_valid() {
        let ids: std::collections::HashSet<String> = (0..20_000).map(device_id).collect();
        assert_eq!(ids.len(), 20_000);
        for id in ids.iter().take(100) {
            assert!(mdmkit::DeviceId::new(id.clone()).is_ok(), "{id}");
        }
    }

    #[test]
    fn both_inventory_formats_load_the_same_devices() {
        let tmp = tempfile::tempdir().unwrap();
        let shape = Shape::with_devices(2_345);
        let mut loaded = Vec::new();
        for inventory in [Inventory::Toml, Inventory::Json] {
            let dir = tmp.path().join(inventory.file_name());
            let region = write_with(&dir, &shape, inventory).unwrap();
            assert!(dir.join(inventory.file_name()).is_file());
            let tenant = mdmkit::policy::load_dir(&dir).unwrap();
            let devices: Vec<_> = tenant.devices().cloned().collect();
            assert_eq!(devices.len(), 2_345);
            assert!(devices.iter().any(|d| !d.policies.is_empty()));
            loaded.push((devices, region.school_devices, region.bytes > 0));
        }
        assert_eq!(loaded[0], loaded[1]);
    }

    #[test]
    fn the_region_shape() {
        let s = Shape::REGION;
        assert_eq!(
            (s.towns(), s.schools(), s.classes(), s.nodes()),
            (50, 200, 1_000, 1_261)
        );
        assert_eq!(s.changed_school(), 101);
        assert_eq!(school_id(101), "college-101");
    }
}
