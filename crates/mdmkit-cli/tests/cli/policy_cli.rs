#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `mdmkit policy check | effective | diff`, run as a user runs them, on the
//! committed example tenant and on broken copies of it.

use std::fs;
use std::process::Command;

use super::support::{copy_dir, mdmkit, region, stderr, stdout};
use serde_json::Value;

/// The id of the first device of `platform` at `node` in the example.
fn device_at(node: &str, platform: &str) -> String {
    let text = fs::read_to_string(region().join("devices.toml")).unwrap();
    let mut id = None;
    for block in text.split("[[device]]") {
        let get = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k} = \"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        if get("node").as_deref() == Some(node) && get("platform").as_deref() == Some(platform) {
            id = get("id");
            break;
        }
    }
    id.unwrap()
}

#[test]
fn check_accepts_the_example_directory_and_its_files() {
    let o = mdmkit(&["policy", "check", region().to_str().unwrap()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).starts_with("ok: "), "{}", stdout(&o));
    assert!(stdout(&o).contains("30 devices"));

    let mut args = vec!["policy".to_owned(), "check".to_owned()];
    for e in fs::read_dir(region().join("policies")).unwrap() {
        args.push(e.unwrap().path().to_string_lossy().into_owned());
    }
    args.push(region().join("tree.toml").to_string_lossy().into_owned());
    args.push(region().join("devices.toml").to_string_lossy().into_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = mdmkit(&args);
    assert!(o.status.success(), "{}", stdout(&o));
    assert_eq!(
        stdout(&o).lines().filter(|l| l.starts_with("ok: ")).count(),
        args.len() - 2
    );
}

#[test]
fn check_prints_every_error_of_a_file_with_its_line_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    fs::write(
        &bad,
        "[passcode]\nmin_length = 0\n\n[wifi.\"ECOLE\"]\nsecurity = \"wpa2-personal\"\n\n[restrictions]\ncamera = \"maybe\"\n",
    )
    .unwrap();
    let json = dir.path().join("bad.json");
    fs::write(&json, r#"{"passcode": {"history": -1}, "colours": {}}"#).unwrap();
    let o = mdmkit(&[
        "policy",
        "check",
        bad.to_str().unwrap(),
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let shown = bad.display().to_string();
    assert!(
        out.contains(&format!(
            "{shown}:2: passcode.min_length: 0 is out of range"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{shown}:4: wifi[\"ECOLE\"].password: required when security = wpa2-personal"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{shown}:8: restrictions.camera:")),
        "{out}"
    );
    assert!(out.contains("passcode.history"), "{out}");
    assert!(out.contains("colours: unknown category"), "{out}");
    assert!(stderr(&o).contains("5 errors"), "{}", stderr(&o));
}

#[test]
fn check_reports_broken_trees_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("region");
    copy_dir(&region(), &copy);
    let tree = fs::read_to_string(copy.join("tree.toml")).unwrap();
    fs::write(
        copy.join("tree.toml"),
        tree.replace(
            "parent = \"cc-val-de-lys\"\nname = \"Merville\"",
            "parent = \"nowhere\"\nname = \"Merville\"",
        ),
    )
    .unwrap();
    fs::write(
        copy.join("policies/broken.toml"),
        "[kiosk]\nmode = \"sometimes\"\n",
    )
    .unwrap();
    let o = mdmkit(&["policy", "check", copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("tree.toml:")
            && out.contains("node[\"merville\"].parent: unknown parent node nowhere"),
        "{out}"
    );
    assert!(
        out.contains("broken.toml:2: kiosk.mode: unknown variant `sometimes`"),
        "{out}"
    );
}

#[test]
fn check_reports_an_attempt_to_relax_a_lock() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("region");
    copy_dir(&region(), &copy);
    // The CDI class redefines the guest network the lycée locked.
    let mut kiosk = fs::read_to_string(copy.join("policies/kiosque-cdi.toml")).unwrap();
    kiosk.push_str("\n[wifi.\"SAINTE-MARIE-INVITES\"]\nsecurity = \"open\"\n");
    fs::write(copy.join("policies/kiosque-cdi.toml"), kiosk).unwrap();
    let o = mdmkit(&["policy", "check", copy.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("wifi[\"SAINTE-MARIE-INVITES\"]"), "{out}");
    assert!(out.contains("locked by policy lycee-sainte-marie"), "{out}");
}

#[test]
fn effective_prints_the_merged_policy_as_json() {
    let device = device_at("sainte-marie-cdi", "android");
    let o = mdmkit(&[
        "policy",
        "effective",
        region().to_str().unwrap(),
        "--device",
        &device,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Read back by an independent JSON parser.
    let py = Command::new("python3")
        .args(["-c", "import json,sys; d=json.load(sys.stdin); print(d['kiosk']['mode'], d['passcode']['min_length'], d['restrictions']['camera'])"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let mut child = py.expect("python3 is needed (scripts/test installs it)");
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&o.stdout).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 could not read the JSON");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "single-app 8 deny"
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["apps"]["esidoc"]["install"], "required");
    assert!(v.get("provenance").is_none());
}

#[test]
fn effective_explain_shows_who_set_each_value_and_what_was_overridden() {
    let device = device_at("sainte-marie-seconde-2", "windows");
    let o = mdmkit(&[
        "policy",
        "effective",
        region().to_str().unwrap(),
        "--device",
        &device,
        "--explain",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["device"], device.as_str());
    let p = &v["provenance"]["passcode.min_length"];
    assert_eq!(p["value"], 8);
    assert_eq!(p["provenance"]["source"]["policy"], "lycee-sainte-marie");
    assert_eq!(p["provenance"]["overridden"][0]["policy"], Value::Null);
    assert_eq!(
        p["provenance"]["overridden"][0]["source"]["policy"],
        "securite-socle"
    );
    assert_eq!(
        p["provenance"]["overridden"][0]["reason"],
        "less-restrictive"
    );
    assert_eq!(v["conflicts"], Value::Array(vec![]));

    let o = mdmkit(&[
        "policy",
        "effective",
        region().to_str().unwrap(),
        "--device",
        &device,
        "--explain",
        "--path",
        "wifi",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let paths: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "wifi[\"EDU-MONTS-FLANDRE\"]",
            "wifi[\"SAINTE-MARIE-INVITES\"]"
        ]
    );
}

#[test]
fn effective_refuses_an_unknown_device() {
    let o = mdmkit(&[
        "policy",
        "effective",
        region().to_str().unwrap(),
        "--device",
        "no-such-device",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown device no-such-device"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn diff_prints_the_ordered_change_set_of_two_policy_files() {
    let dir = tempfile::tempdir().unwrap();
    let old = region().join("policies/lycee-sainte-marie.toml");
    let text = fs::read_to_string(&old).unwrap();
    // The new version comes as JSON, as from an API, converted by Python.
    let new = dir.path().join("lycee-sainte-marie.json");
    let new_doc = text
        .replace("min_length = 8", "min_length = 10")
        .replace("multiplayer_gaming = \"deny\"\n", "");
    fs::write(&new, toml_like::Doc(new_doc).to_json()).unwrap();
    let o = mdmkit(&[
        "policy",
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let changes: Value = serde_json::from_slice(&o.stdout).unwrap();
    let changes = changes.as_array().unwrap();
    assert_eq!(changes.len(), 2, "{changes:?}");
    assert_eq!(changes[0]["op"], "change");
    assert_eq!(changes[0]["path"], "passcode.min_length");
    assert_eq!(
        (changes[0]["old"].clone(), changes[0]["new"].clone()),
        (Value::from(8), Value::from(10))
    );
    assert_eq!(changes[1]["op"], "remove");
    assert_eq!(changes[1]["path"], "restrictions.multiplayer_gaming");

    let same = mdmkit(&[
        "policy",
        "diff",
        old.to_str().unwrap(),
        old.to_str().unwrap(),
    ]);
    assert_eq!(
        serde_json::from_slice::<Value>(&same.stdout).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn diff_of_two_tenant_directories_lists_the_devices_that_change() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("region");
    copy_dir(&region(), &copy);
    let p = copy.join("policies/nommage-merville.toml");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, text.replace("MRV-{serial}", "MERVILLE-{serial}")).unwrap();
    let o = mdmkit(&[
        "policy",
        "diff",
        region().to_str().unwrap(),
        copy.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let map = v.as_object().unwrap();
    // Merville has one school with one class of three Android tablets.
    assert_eq!(map.len(), 3);
    for changes in map.values() {
        assert_eq!(changes[0]["path"], "device.name_template");
        assert_eq!(changes[0]["new"], "MERVILLE-{serial}");
    }
}

/// Converts a TOML policy to JSON with Python's `tomllib`, an independent
/// reader (Python is required: scripts/test installs it).
mod toml_like {
    pub(crate) struct Doc(pub(crate) String);

    impl Doc {
        pub(crate) fn to_json(&self) -> String {
            use std::io::Write;
            let child = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import json,sys,tomllib; print(json.dumps(tomllib.loads(sys.stdin.read())))",
                ])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn();
            let mut child = child.expect("python3 is needed (scripts/test installs it)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(self.0.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "tomllib could not read the policy");
            String::from_utf8(out.stdout).unwrap()
        }
    }
}
