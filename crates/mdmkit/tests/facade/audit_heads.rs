#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The journal for servers: the group-commit writer keeps one chain under
//! concurrent appends, and the heads the reconciler records in its state
//! store (and the signed heads exported) make a journal cut short evident,
//! on memory, SQLite and PostgreSQL.

use std::path::Path;
use std::sync::Arc;

use mdmkit::audit::{
    AuditError, Corruption, Event, Journal, JournalOptions, JournalWriter, SignedHead,
    VerifyOptions, keyring_from_hex, verify_with,
};
use mdmkit::identity::{EnvelopeSigner, KeyId, Keyring};
use mdmkit::policy::{Device, Policy, Tenant};
use mdmkit::queue::{CommandId, MemoryStore};
use mdmkit::state::{MemoryState, SqliteState, StateStore};
use mdmkit::{DeviceId, Platform, Reconciler, Scope, TenantId};

fn signer() -> EnvelopeSigner {
    let probe = EnvelopeSigner::from_seed(KeyId::new("x").unwrap(), [9; 32]);
    EnvelopeSigner::from_seed(KeyId::of(&probe.public_key()), [9; 32])
}

fn keyring() -> Keyring {
    keyring_from_hex(&[signer().public_key().to_hex()]).unwrap()
}

fn answered(i: usize) -> Event {
    Event::CommandAnswered {
        tenant: "region".parse().unwrap(),
        device: format!("ipad-{i}").parse().unwrap(),
        command: CommandId::new(),
        status: "acknowledged".into(),
        error: None,
    }
}

fn writer(path: &Path, every: u64) -> JournalWriter {
    let j = Journal::open(
        path,
        signer(),
        JournalOptions::default().with_checkpoint_every(every),
    )
    .unwrap();
    JournalWriter::spawn(j).unwrap()
}

/// Keeps the first `keep` lines of a journal: a journal cut short.
fn cut(path: &Path, keep: usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > keep, "{} lines", lines.len());
    let mut out = lines[..keep].join("\n");
    out.push('\n');
    std::fs::write(path, out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_form_one_chain_with_fewer_writes_than_appends() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let w = writer(&path, 50);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            // Two events per append, contiguous in the file.
            w.append_all(vec![answered(i), answered(i)]).await.unwrap()
        }));
    }
    let mut seqs = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        seqs.push(a.last_seq.unwrap());
    }
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 200, "every append has its own last entry");
    let stats = w.stats();
    assert_eq!(stats.appends, 200);
    assert!(
        stats.writes >= 1 && stats.writes <= stats.appends,
        "{stats:?}"
    );
    let closed = w.close().await.unwrap();
    let report = verify_with(&path, &keyring(), &VerifyOptions::default()).unwrap();
    // 400 events, a checkpoint after each 50, and the closing one.
    assert_eq!(report.entries, 400 + 8);
    assert_eq!(report.unsigned_tail, 0);
    assert_eq!(closed.head.unwrap().seq, report.entries);
    assert_eq!(closed.signed.unwrap().seq, report.entries - 1);
}

#[test]
fn a_group_that_cannot_be_written_fails_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let mut j = Journal::open(&path, signer(), JournalOptions::default()).unwrap();
    let huge = Event::CommandAnswered {
        tenant: "region".parse().unwrap(),
        device: "ipad-1".parse().unwrap(),
        command: CommandId::new(),
        status: "error".into(),
        error: Some("x".repeat(mdmkit::audit::MAX_LINE_BYTES)),
    };
    let results = j
        .append_groups(vec![
            vec![answered(1)],
            vec![answered(2), huge],
            vec![answered(3)],
        ])
        .unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &Some(1));
    assert!(matches!(results[1], Err(AuditError::EntryTooLarge { .. })));
    // The failed group took no sequence number, not even for its first
    // event.
    assert_eq!(results[2].as_ref().unwrap(), &Some(2));
    j.close().unwrap();
    let report = verify_with(&path, &keyring(), &VerifyOptions::default()).unwrap();
    assert_eq!(report.entries, 3);
}

#[test]
fn a_signed_head_verifies_only_as_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let w = writer(&path, 0);
    w.append_all_blocking(vec![answered(1), answered(2)])
        .unwrap();
    let closed = w.close_blocking().unwrap();
    let head = closed.signed.unwrap();
    assert_eq!(head.seq, 2);
    let text = head.to_json().unwrap();
    let back = SignedHead::from_json(text.as_bytes()).unwrap();
    assert_eq!(back, head);
    assert_eq!(back.verify(&keyring()).unwrap().seq, 2);

    // Another entry claimed under the same signature is refused.
    let mut forged: serde_json::Value = serde_json::from_str(&text).unwrap();
    forged["seq"] = serde_json::json!(3);
    let forged = SignedHead::from_json(forged.to_string().as_bytes()).unwrap();
    assert!(matches!(
        forged.verify(&keyring()),
        Err(Corruption::BadCheckpoint { .. })
    ));
    let e = verify_with(
        &path,
        &keyring(),
        &VerifyOptions::default().with_signed_head(forged),
    )
    .unwrap_err();
    assert!(matches!(e, AuditError::BadHead { .. }), "{e}");
    // An unknown key's head is refused too.
    let other =
        keyring_from_hex(&[EnvelopeSigner::generate().unwrap().public_key().to_hex()]).unwrap();
    assert!(matches!(
        back.verify(&other),
        Err(Corruption::UnknownKey { .. })
    ));
    // Junk is a typed error, never a panic.
    assert!(SignedHead::from_json(b"{\"seq\":1}").is_err());
    assert!(SignedHead::from_json(&vec![b' '; 20_000]).is_err());
}

fn tenant(id: &str) -> Tenant {
    let mut t = Tenant::new(TenantId::new(id).unwrap());
    t.set_policy(
        Policy::from_toml("[policy]\nid = \"floor\"\n[passcode]\nmin_length = 6\n").unwrap(),
    );
    t.assign(&id.parse().unwrap(), "floor".parse().unwrap())
        .unwrap();
    for (device, platform) in [("ipad-1", Platform::Apple), ("pc-1", Platform::Windows)] {
        t.add_device(Device::new(
            DeviceId::new(device).unwrap(),
            id.parse().unwrap(),
            platform,
        ))
        .unwrap();
    }
    t
}

/// Reconciles, answers, records an administrator's event and signs the
/// head through `state`; then checks that the store's heads are the
/// journal's, and that cutting the journal short is caught by them.
async fn heads_catch_a_cut_journal(state: Arc<dyn StateStore>, tenant_id: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("audit.jsonl");
    let w = writer(&path, 0);
    let t = tenant(tenant_id);
    let r = Reconciler::new(
        Arc::new(MemoryStore::new()) as Arc<dyn mdmkit::queue::QueueStore>,
        state.clone(),
    )
    .with_journal(w.clone());
    let plan = r.reconcile(&t, &Scope::All).await.unwrap();
    assert!(plan.queued > 0, "{plan:?}");
    let after_reconcile = state.audit_heads(t.id()).await.unwrap().unwrap();
    let ipad = DeviceId::new("ipad-1").unwrap();
    let d = r.next(t.id(), &ipad).await.unwrap().unwrap();
    r.record_answer(t.id(), &ipad, d.id, &mdmkit::Answer::Acknowledged, None)
        .await
        .unwrap();
    let after_answer = state.audit_heads(t.id()).await.unwrap().unwrap();
    assert!(after_answer.head.seq > after_reconcile.head.seq);
    r.journal_events(t.id(), vec![answered(9)]).await.unwrap();
    let signed = r.checkpoint_journal(t.id()).await.unwrap().unwrap();
    w.close().await.unwrap();

    let heads = state.audit_heads(t.id()).await.unwrap().unwrap();
    let report = verify_with(&path, &keyring(), &VerifyOptions::default()).unwrap();
    let last = report.head.clone().unwrap();
    assert_eq!(
        (heads.head.seq, heads.head.hash.as_str()),
        (last.seq, last.hash.as_str())
    );
    assert_eq!(heads.signed.as_ref(), Some(&signed));
    assert_eq!(
        signed.seq,
        last.seq - 1,
        "the checkpoint signs the entry before it"
    );

    let with_store = VerifyOptions::default()
        .with_anchor(heads.head.anchor())
        .with_signed_head(heads.signed.clone().unwrap());
    verify_with(&path, &keyring(), &with_store).unwrap();

    // A writer that drops the last three entries (its checkpoint among
    // them) leaves a chain that verifies alone...
    cut(&path, usize::try_from(last.seq).unwrap() - 3);
    verify_with(&path, &keyring(), &VerifyOptions::default()).unwrap();
    // ...but not against the store's heads.
    let e = verify_with(&path, &keyring(), &with_store).unwrap_err();
    assert!(
        matches!(e.corruption(), Some(Corruption::Truncated { anchor_seq, .. }) if *anchor_seq == last.seq),
        "{e}"
    );
    // Nor against the signed head alone (exported before the cut).
    let e = verify_with(
        &path,
        &keyring(),
        &VerifyOptions::default().with_signed_head(signed),
    )
    .unwrap_err();
    assert!(
        matches!(e.corruption(), Some(Corruption::Truncated { .. })),
        "{e}"
    );

    // An older head committed late never moves the store's back.
    let mut batch = mdmkit::state::StateBatch::default();
    batch.audit = Some(after_reconcile.clone());
    state.commit(t.id(), &batch).await.unwrap();
    assert_eq!(state.audit_heads(t.id()).await.unwrap().unwrap(), heads);
}

#[tokio::test]
async fn memory_store_heads_catch_a_cut_journal() {
    heads_catch_a_cut_journal(Arc::new(MemoryState::new()), "region").await;
}

#[tokio::test]
async fn sqlite_store_heads_catch_a_cut_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let state = SqliteState::open(tmp.path().join("s.db")).await.unwrap();
    heads_catch_a_cut_journal(Arc::new(state), "region").await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_store_heads_catch_a_cut_journal() {
    let url = match std::env::var("MDMKIT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "MDMKIT_TEST_POSTGRES_URL is unset: run `bash -c '. scripts/lib.sh; \
             start_throwaway_postgres; cargo test -p mdmkit --all-features'`"
        ),
    };
    let state = mdmkit::state::PostgresState::open(&url).await.unwrap();
    let tag = format!(
        "heads-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    heads_catch_a_cut_journal(Arc::new(state), &tag).await;
}

/// Two writers (two processes' worth: each its own pool and thread) append
/// to one tenant's journal in PostgreSQL at once: one chain, every event,
/// verified by the same checker as files; another tenant's rows are not
/// its business.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_share_one_postgres_journal() {
    use mdmkit::audit::verify_postgres;
    let url = std::env::var("MDMKIT_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("MDMKIT_TEST_POSTGRES_URL is unset: run the tests through scripts/test");
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let tenant = TenantId::new(format!("pgj-{}-{tag}", std::process::id())).unwrap();
    let other = TenantId::new(format!("pgj-other-{}-{tag}", std::process::id())).unwrap();
    let options = || JournalOptions::default().with_checkpoint_every(25);
    let a = JournalWriter::spawn_postgres(&url, tenant.clone(), signer(), options())
        .await
        .unwrap();
    let b = JournalWriter::spawn_postgres(&url, tenant.clone(), signer(), options())
        .await
        .unwrap();
    let c = JournalWriter::spawn_postgres(&url, other.clone(), signer(), options())
        .await
        .unwrap();
    assert!(a.path().is_none(), "no file");
    let mut tasks = Vec::new();
    for i in 0..60 {
        let w = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            w.append_all(vec![answered(i), answered(i)]).await.unwrap()
        }));
    }
    c.append_all(vec![answered(0)]).await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    a.close().await.unwrap();
    b.close().await.unwrap();
    c.close().await.unwrap();
    let report = verify_postgres(&url, &tenant, &keyring(), &VerifyOptions::default())
        .await
        .unwrap();
    let events = report.entries - report.checkpoints;
    assert_eq!(events, 120, "{report:?}");
    assert!(report.checkpoints >= 4, "{report:?}");
    assert_eq!(report.unsigned_tail, 0);
    let other_report = verify_postgres(&url, &other, &keyring(), &VerifyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        other_report.entries, 2,
        "one event and its closing checkpoint"
    );

    // A reopened writer continues the chain.
    let again = JournalWriter::spawn_postgres(&url, tenant.clone(), signer(), options())
        .await
        .unwrap();
    let appended = again.append_all(vec![answered(99)]).await.unwrap();
    assert_eq!(appended.last_seq, Some(report.entries + 1));
    again.close().await.unwrap();
    let head = verify_postgres(&url, &tenant, &keyring(), &VerifyOptions::default())
        .await
        .unwrap()
        .head
        .unwrap();

    // Rows deleted off the end: caught by the last head, not by the chain.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("DELETE FROM mdmkit_audit_journal WHERE tenant = $1 AND seq > $2")
        .bind(tenant.as_str())
        .bind(i64::try_from(head.seq).unwrap() - 2)
        .execute(&pool)
        .await
        .unwrap();
    verify_postgres(&url, &tenant, &keyring(), &VerifyOptions::default())
        .await
        .unwrap();
    let e = verify_postgres(
        &url,
        &tenant,
        &keyring(),
        &VerifyOptions::default().with_anchor(mdmkit::audit::Anchor::new(head.seq, head.hash)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(e.corruption(), Some(Corruption::Truncated { .. })),
        "{e}"
    );
    // An unreachable database is a typed error, not a hang or a panic.
    let e = JournalWriter::spawn_postgres(
        "postgres://nobody@127.0.0.1:1/none",
        tenant.clone(),
        signer(),
        options(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, AuditError::Database { .. }), "{e}");
}
