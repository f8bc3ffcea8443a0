#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `[[author]]` entries and `require_signatures`: validated facts about who
//! may sign policy layers where, with every problem reported with its line.

use std::fs;
use std::path::Path;

use mdmkit_policy::{Error, Grant, NodeId, load_dir};

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

fn key(b: u8) -> String {
    format!("{b:02x}").repeat(32)
}

#[test]
fn authors_and_the_signature_switch_are_read_from_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tree.toml",
        &format!(
            "[tenant]\nid = \"t\"\nrequire_signatures = true\npolicies = [\"p\"]\n\n[[node]]\nid = \"school\"\n\n[[node]]\nid = \"class\"\nparent = \"school\"\n\n[[author]]\nkey = \"rectorat\"\nname = \"Rectorat\"\npublic_key = \"{}\"\nnode = \"t\"\nmay = [\"author\", \"lock\"]\n\n[[author]]\nkey = \"ecole\"\npublic_key = \"{}\"\nnode = \"school\"\n",
            key(1),
            key(2)
        ),
    );
    write(d, "policies/p.toml", "[restrictions]\ncamera = \"deny\"\n");
    // A signature sidecar is not a policy file: the loader skips it.
    write(d, "policies/p.toml.sig", "{\"not\": \"a policy\"}");
    let t = load_dir(d).unwrap();
    assert!(t.requires_signatures());
    assert_eq!(t.authors().len(), 2);
    let rectorat = &t.authors()[0];
    assert_eq!(rectorat.key.as_str(), "rectorat");
    assert_eq!(rectorat.public_key, [1; 32]);
    assert_eq!(rectorat.name.as_deref(), Some("Rectorat"));
    assert!(rectorat.may(Grant::Lock) && rectorat.may(Grant::Author));
    // `may` defaults to authoring only.
    assert!(!t.authors()[1].may(Grant::Lock));
    assert_eq!(
        t.policy_file(&"p".parse().unwrap()),
        Some(d.join("policies/p.toml").as_path())
    );

    let class: NodeId = "class".parse().unwrap();
    let ecole = "ecole".parse().unwrap();
    // A grant covers its node and every node below it, not above.
    assert!(t.author_grant(&ecole, &class, Grant::Author).is_some());
    assert!(
        t.author_grant(&ecole, &"t".parse().unwrap(), Grant::Author)
            .is_none()
    );
    assert!(t.author_grant(&ecole, &class, Grant::Lock).is_none());
    let r = t
        .author_grant(&"rectorat".parse().unwrap(), &class, Grant::Lock)
        .unwrap();
    assert_eq!(r.node.as_str(), "t");
}

#[test]
fn bad_author_entries_are_reported_with_line_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "tree.toml",
        &format!(
            "[tenant]\nid = \"t\"\n\n[[author]]\nkey = \"short\"\npublic_key = \"abcd\"\nnode = \"t\"\n\n[[author]]\nkey = \"lost\"\npublic_key = \"{k}\"\nnode = \"nowhere\"\n\n[[author]]\nkey = \"locker\"\npublic_key = \"{k}\"\nnode = \"t\"\nmay = [\"lock\"]\n\n[[author]]\nkey = \"twice\"\npublic_key = \"{k}\"\nnode = \"t\"\n\n[[author]]\nkey = \"twice\"\npublic_key = \"{k2}\"\nnode = \"t\"\n\n[[author]]\nkey = \"odd\"\npublic_key = \"{k}\"\nnode = \"t\"\nmay = [\"rule\"]\n",
            k = key(3),
            k2 = key(4)
        ),
    );
    let Err(Error::Invalid(issues)) = load_dir(d) else {
        panic!("expected issues")
    };
    let text = issues
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    let has = |s: &str| assert!(text.contains(s), "missing {s:?} in:\n{text}");
    has(
        "tree.toml:6: author[\"short\"].public_key: public key has 4 hex digits, expected 64 (32 bytes)",
    );
    has("tree.toml:12: author[\"lost\"].node: unknown node nowhere");
    has("tree.toml:18: author[\"locker\"].may: `lock` needs `author` as well");
    has(
        "tree.toml:27: author[\"twice\"].public_key: key twice is already declared with another public key",
    );
    has("author[\"odd\"].may");
    assert_eq!(issues.len(), 5, "{text}");
}

#[test]
fn a_tree_without_authors_requires_no_signatures() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tree.toml", "[tenant]\nid = \"t\"\n");
    let t = load_dir(dir.path()).unwrap();
    assert!(!t.requires_signatures());
    assert!(t.authors().is_empty());
}

#[test]
fn a_json_tree_declares_authors_like_toml() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "tree.json",
        &format!(
            r#"{{"tenant": {{"id": "t", "require_signatures": true}}, "author": [{{"key": "k", "public_key": "{}", "node": "t", "may": ["author", "lock"]}}]}}"#,
            key(7)
        ),
    );
    let t = load_dir(dir.path()).unwrap();
    assert!(t.requires_signatures());
    assert!(t.authors()[0].may(Grant::Lock));
}

#[test]
fn adding_an_author_in_code_checks_the_node_and_the_key() {
    use mdmkit_policy::{Author, Tenant};
    let mut t = Tenant::new("t".parse().unwrap());
    let root: NodeId = "t".parse().unwrap();
    let k = "k".parse().unwrap();
    t.add_author(Author::new(k, [1; 32], root.clone())).unwrap();
    assert!(matches!(
        t.add_author(Author::new("k".parse().unwrap(), [2; 32], root.clone())),
        Err(Error::ConflictingAuthorKey(_))
    ));
    assert!(matches!(
        t.add_author(Author::new(
            "k".parse().unwrap(),
            [1; 32],
            "nowhere".parse().unwrap()
        )),
        Err(Error::UnknownNode(_))
    ));
    // The same key granted again elsewhere (here with lock) is fine.
    t.add_author(Author::new("k".parse().unwrap(), [1; 32], root).with_grant(Grant::Lock))
        .unwrap();
    assert_eq!(t.authors().len(), 2);
}
