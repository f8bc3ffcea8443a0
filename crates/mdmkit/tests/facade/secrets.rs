#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Secret references through a reconcile: the queued payload holds the
//! resolved value, while the stored state and the audit journal hold the
//! reference; a secret rotated behind the same reference reaches devices
//! again; a missing one fails the run naming the setting, queuing nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mdmkit::audit::{Journal, JournalOptions, JournalWriter};
use mdmkit::identity::{EnvelopeSigner, KeyId};
use mdmkit::policy::{
    Device, Policy, SecretError, SecretResolver, SecretSource, SecretValue, SettingPath, Tenant,
};
use mdmkit::queue::MemoryStore;
use mdmkit::state::{MemoryState, StateStore};
use mdmkit::{DeviceId, Error, Platform, Reconciler, Scope, TenantId};

/// An integrator's resolver: a vault whose values a test can rotate.
#[derive(Default)]
struct Vault(Mutex<BTreeMap<String, String>>);

impl Vault {
    fn set(&self, name: &str, value: &str) {
        self.0.lock().unwrap().insert(name.into(), value.into());
    }
}

impl SecretResolver for Vault {
    fn resolve(
        &self,
        setting: &SettingPath,
        reference: &SecretSource,
    ) -> Result<SecretValue, SecretError> {
        let SecretSource::Env(name) = reference else {
            panic!("only env references here");
        };
        match self.0.lock().unwrap().get(name) {
            Some(v) => Ok(SecretValue::new(v.clone())),
            None => Err(SecretError::MissingEnv {
                setting: setting.clone(),
                reference: reference.clone(),
            }),
        }
    }
}

fn tenant() -> Tenant {
    let mut t = Tenant::new(TenantId::new("region").unwrap());
    t.set_policy(
        Policy::from_toml(
            "[policy]\nid = \"wifi\"\n[wifi.ECOLE]\nsecurity = \"wpa2-personal\"\n\
             password = { env = \"MDMKIT_SECRET_ECOLE\" }\n[wifi.INVITES]\n\
             security = \"wpa2-personal\"\npassword = { env = \"MDMKIT_SECRET_INVITES\" }\n",
        )
        .unwrap(),
    );
    t.assign(&"region".parse().unwrap(), "wifi".parse().unwrap())
        .unwrap();
    for (id, platform) in [("tab-1", Platform::Android), ("pc-1", Platform::Windows)] {
        t.add_device(Device::new(
            DeviceId::new(id).unwrap(),
            "region".parse().unwrap(),
            platform,
        ))
        .unwrap();
    }
    t
}

fn signer() -> EnvelopeSigner {
    let probe = EnvelopeSigner::from_seed(KeyId::new("x").unwrap(), [7; 32]);
    EnvelopeSigner::from_seed(KeyId::of(&probe.public_key()), [7; 32])
}

/// The payloads queued for a device, as text.
async fn drain(r: &Reconciler<MemoryStore, MemoryState>, t: &Tenant, id: &str) -> Vec<String> {
    let id = DeviceId::new(id).unwrap();
    let mut out = Vec::new();
    while let Some(d) = r.next(t.id(), &id).await.unwrap() {
        r.record_answer(t.id(), &id, d.id, &mdmkit::Answer::Acknowledged, None)
            .await
            .unwrap();
        out.push(String::from_utf8_lossy(&d.payload).into_owned());
    }
    out
}

#[tokio::test]
async fn payloads_hold_the_secret_while_state_and_journal_hold_the_reference() {
    let tmp = tempfile::tempdir().unwrap();
    let journal_path = tmp.path().join("audit.jsonl");
    let journal = Journal::open(&journal_path, signer(), JournalOptions::default()).unwrap();
    let vault = Arc::new(Vault::default());
    vault.set("MDMKIT_SECRET_ECOLE", "first-ecole-key");
    vault.set("MDMKIT_SECRET_INVITES", "the-guest-key");
    let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()))
        .with_journal(JournalWriter::spawn(journal).unwrap())
        .with_secrets(vault.clone());
    let t = tenant();

    let plan = r.reconcile(&t, &Scope::All).await.unwrap();
    assert!(plan.queued >= 2, "{plan:?}");
    let android = drain(&r, &t, "tab-1").await.join("\n");
    assert!(android.contains("first-ecole-key"), "{android}");
    let windows = drain(&r, &t, "pc-1").await.join("\n");
    assert!(windows.contains("first-ecole-key"), "{windows}");

    // The state keeps what was planned: the reference and a digest.
    let records = r.state().device_records(t.id()).await.unwrap();
    let record = &records[&DeviceId::new("tab-1").unwrap()];
    let stored = r
        .state()
        .content(t.id(), &record.content)
        .await
        .unwrap()
        .unwrap();
    let stored = serde_json::to_string(&stored).unwrap();
    assert!(
        stored.contains(r#""env":"MDMKIT_SECRET_ECOLE""#),
        "{stored}"
    );
    assert!(stored.contains(r#""sha256""#), "{stored}");
    assert!(!stored.contains("first-ecole-key"), "{stored}");

    // Nothing changed: nothing queued.
    let again = r.reconcile(&t, &Scope::All).await.unwrap();
    assert_eq!(again.queued, 0, "{again:?}");

    // Rotated behind the same reference: sent again, with the new key;
    // Windows replaces the profile it has (an Add would be refused).
    vault.set("MDMKIT_SECRET_ECOLE", "second-ecole-key");
    let rotated = r.reconcile(&t, &Scope::All).await.unwrap();
    assert!(rotated.queued >= 2, "{rotated:?}");
    let android = drain(&r, &t, "tab-1").await.join("\n");
    assert!(android.contains("second-ecole-key"), "{android}");
    let windows = drain(&r, &t, "pc-1").await;
    assert_eq!(windows.len(), 1, "only the rotated network: {windows:?}");
    assert!(
        windows[0].contains("<Replace>") && windows[0].contains("second-ecole-key"),
        "{windows:?}"
    );

    drop(r);
    let journal = std::fs::read_to_string(&journal_path).unwrap();
    assert!(journal.contains("CommandEnqueued") || journal.contains("command_enqueued"));
    for secret in ["first-ecole-key", "second-ecole-key", "the-guest-key"] {
        assert!(!journal.contains(secret), "{secret} in the journal");
    }
}

#[tokio::test]
async fn a_missing_secret_fails_the_run_naming_the_setting_and_queues_nothing() {
    let vault = Arc::new(Vault::default());
    vault.set("MDMKIT_SECRET_ECOLE", "first-ecole-key");
    let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()))
        .with_secrets(vault);
    let t = tenant();
    let err = r.reconcile(&t, &Scope::All).await.unwrap_err();
    assert!(matches!(err, Error::Secret(_)), "{err:?}");
    assert_eq!(err.kind(), mdmkit::ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "wifi[\"INVITES\"].password: secret { env = \"MDMKIT_SECRET_INVITES\" }: the environment variable is not set"
    );
    assert!(drain(&r, &t, "tab-1").await.is_empty());
    assert!(r.state().device_records(t.id()).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_default_resolver_reads_files_of_the_tenant_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("secrets")).unwrap();
    std::fs::write(tmp.path().join("secrets/ecole.key"), "file-ecole-key\n").unwrap();
    let mut t = Tenant::new(TenantId::new("region").unwrap());
    t.set_dir(tmp.path());
    t.set_policy(
        Policy::from_toml(
            "[policy]\nid = \"wifi\"\n[wifi.ECOLE]\nsecurity = \"wpa2-personal\"\n\
             password = { file = \"secrets/ecole.key\" }\n",
        )
        .unwrap(),
    );
    t.assign(&"region".parse().unwrap(), "wifi".parse().unwrap())
        .unwrap();
    t.add_device(Device::new(
        DeviceId::new("tab-1").unwrap(),
        "region".parse().unwrap(),
        Platform::Android,
    ))
    .unwrap();
    let r = Reconciler::new(Arc::new(MemoryStore::new()), Arc::new(MemoryState::new()));
    r.reconcile(&t, &Scope::All).await.unwrap();
    let payloads = drain(&r, &t, "tab-1").await.join("\n");
    assert!(payloads.contains("\"file-ecole-key\""), "{payloads}");
}
