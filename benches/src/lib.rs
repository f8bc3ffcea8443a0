//! Shared fixtures for mdmkit's criterion benchmarks (see `docs/performance.md`).
//!
//! The benchmarks themselves are the `[[bench]]` targets of this crate; the
//! fixtures here are shared by several of them so that every bench measures
//! the same tenant. [`region`] builds the bench region in memory;
//! [`directory`] writes a region of the same shape in the tenant directory
//! format, for the benches of the `mdmkit` command (`operator`).
//!
//! ```
//! let t = mdmkit_benches::region::tenant_with(1);
//! assert_eq!(t.policies().count(), 20);
//! ```
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // fixtures: a panic is a broken bench

pub mod directory;

/// Criterion's positional filter, if any (skipping its options' values):
/// what a bench that prints figures of its own outside criterion (the
/// paired ratios) checks before running them.
pub fn criterion_filter() -> Option<String> {
    const TAKES_VALUE: &[&str] = &[
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--profile-time",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--sampling-mode",
        "--format",
    ];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if TAKES_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// A 5-level tenant: region > 10 groups > 50 towns > 200 schools > 2,000
/// classes > devices (50 per class, 100,000 in all, a third of each
/// platform), with 20 policies.
pub mod region {
    use mdmkit::policy::{NodeId, Policy, PolicyId, Tenant};
    use mdmkit::{DeviceId, Platform, TenantId};

    /// Groups of towns.
    pub const GROUPS: usize = 10;
    /// Towns per group.
    pub const TOWNS: usize = 5; // per group
    /// Schools per town.
    pub const SCHOOLS: usize = 4; // per town
    /// Classes per school.
    pub const CLASSES: usize = 10; // per school
    /// Devices per class.
    pub const DEVICES: usize = 50; // per class: 10 * 5 * 4 * 10 * 50 = 100,000

    /// A policy from a TOML body (without its `[policy]` header).
    pub fn policy(id: &str, body: &str) -> Policy {
        Policy::from_toml(&format!("[policy]\nid = \"{id}\"\n{body}")).unwrap()
    }

    /// A policy id.
    pub fn pid(s: &str) -> PolicyId {
        s.parse().unwrap()
    }

    /// The region's security floor, with a variable auto-lock.
    pub fn floor(auto_lock: u32) -> Policy {
        policy(
            "floor",
            &format!(
                "[passcode]\nrequired = true\nmin_length = 6\nauto_lock_minutes = {auto_lock}\n\
             [restrictions]\nexplicit_content = \"deny\"\ndeveloper_mode = \"deny\"\nfactory_reset = \"deny\"\n\
             [web_filter]\nmode = \"automatic\"\ndenied_urls = [\"https://a.example\", \"https://b.example\"]\n\
             [certificates.roots.racine]\nsha256 = \"{}\"",
                "ab".repeat(32)
            ),
        )
    }

    /// The policy of school variant `variant`.
    pub fn school_policy(variant: usize, message: &str) -> Policy {
        policy(
            &format!("school-{variant}"),
            &format!(
                "[device]\nlock_screen_message = \"{message}\"\n\
             [wifi.\"SCHOOL-{variant}\"]\nsecurity = \"wpa2-personal\"\npassword = \"school-password-{variant}\"\n\
             [apps.app{variant}]\ninstall = \"required\"\nandroid = {{ package = \"org.school.app{variant}\" }}\n\
             [restrictions]\ncamera = \"{}\"",
                if variant.is_multiple_of(2) {
                    "deny"
                } else {
                    "allow"
                }
            ),
        )
    }

    /// The whole tenant with 100,000 devices.
    pub fn tenant() -> Tenant {
        tenant_with(DEVICES)
    }

    /// The tree and policies with `per_class` devices in each of the 2,000
    /// classes.
    pub fn tenant_with(per_class: usize) -> Tenant {
        let mut t = Tenant::new(TenantId::new("region").unwrap());
        let root: NodeId = "region".parse().unwrap();
        t.set_policy(floor(5));
        t.set_policy(policy(
        "apps",
        "[apps.ent]\ninstall = \"required\"\nandroid = { package = \"org.ent.app\" }\napple = { bundle_id = \"org.ent.app\" }\n\
         [os_updates]\ndeferral_days = 7\nmaintenance_window = { start = \"22:00\", end = \"05:00\" }\n\
         [device]\ntime_zone = \"Europe/Paris\"",
    ));
        t.set_policy(policy(
            "vendor",
            "[vendor.android]\nkioskCustomization = { statusBar = \"SYSTEM_INFO_ONLY\" }",
        ));
        t.assign(&root, pid("floor")).unwrap();
        t.assign(&root, pid("apps")).unwrap();
        t.assign(&root, pid("vendor")).unwrap();
        for w in 0..2 {
            t.set_policy(policy(
            &format!("wifi-{w}"),
            &format!(
                "[wifi.\"NET-{w}\"]\nsecurity = \"wpa2-enterprise\"\neap = \"tls\"\nidentity_certificate = \"dev\"\n\
                 trusted_server_certificates = [\"racine\"]\n[certificates.identities.dev]\nsource = \"tenant-ca\""
            ),
        ));
        }
        for n in 0..3 {
            t.set_policy(policy(
                &format!("naming-{n}"),
                &format!("[device]\nname_template = \"T{n}-{{serial}}\""),
            ));
        }
        for s in 0..8 {
            t.set_policy(school_policy(s, "v1"));
        }
        t.set_policy(policy("exam", "[web_filter]\nmode = \"allowlist\"\nallowed_urls = [\"https://exam.example\"]\n[restrictions]\nscreen_capture = \"deny\"\nnearby_sharing = \"deny\""));
        t.set_policy(policy("kiosk", "[apps.kiosk-app]\ninstall = \"required\"\nandroid = { package = \"org.kiosk.app\" }\n[kiosk]\nmode = \"single-app\"\napp = \"kiosk-app\""));
        t.set_policy(policy("young", "[restrictions]\napp_store = \"deny\"\nin_app_purchases = \"deny\"\n[passcode]\nmin_length = 4"));
        t.set_policy(policy(
            "teachers",
            "[passcode]\nmin_length = 8\ncomplexity = \"alphanumeric\"",
        ));
        let mut dev = 0usize;
        for g in 0..GROUPS {
            let group: NodeId = format!("g{g}").parse().unwrap();
            t.add_node(group.clone(), &root, None, Some("group".into()))
                .unwrap();
            t.assign(&group, pid(&format!("wifi-{}", g % 2))).unwrap();
            for w in 0..TOWNS {
                let town: NodeId = format!("g{g}-t{w}").parse().unwrap();
                t.add_node(town.clone(), &group, None, Some("town".into()))
                    .unwrap();
                t.assign(&town, pid(&format!("naming-{}", w % 3))).unwrap();
                for s in 0..SCHOOLS {
                    let school: NodeId = format!("g{g}-t{w}-s{s}").parse().unwrap();
                    t.add_node(school.clone(), &town, None, Some("school".into()))
                        .unwrap();
                    t.assign(&school, pid(&format!("school-{}", (g + w + s) % 8)))
                        .unwrap();
                    for c in 0..CLASSES {
                        let class: NodeId = format!("g{g}-t{w}-s{s}-c{c}").parse().unwrap();
                        t.add_node(class.clone(), &school, None, Some("class".into()))
                            .unwrap();
                        match c {
                            0 => t.assign(&class, pid("exam")).unwrap(),
                            1 => t.assign(&class, pid("kiosk")).unwrap(),
                            2 | 3 => t.assign(&class, pid("young")).unwrap(),
                            9 => t.assign(&class, pid("teachers")).unwrap(),
                            _ => {}
                        }
                        for _ in 0..per_class {
                            let platform = Platform::ALL[dev % 3];
                            let id = DeviceId::new(format!("dev-{dev:06}")).unwrap();
                            t.add_device(mdmkit::policy::Device::new(id, class.clone(), platform))
                                .unwrap();
                            dev += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(t.devices().count(), 2_000 * per_class);
        assert_eq!(t.policies().count(), 20);
        t
    }
}
