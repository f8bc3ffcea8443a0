#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The audit journal: a closed journal verifies; any altered, deleted,
//! reordered or inserted line is found with its line number; a crash-torn
//! tail is reported and recovered, never silently dropped.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use mdmkit::Platform;
use mdmkit::audit::{
    Anchor, AuditError, Corruption, Entry, Event, Journal, JournalOptions, VerifyOptions,
    keyring_from_hex, load_or_create_key, read_public_keys, verify, verify_bytes, verify_with,
};
use mdmkit::identity::{EnvelopeSigner, KeyId, Keyring};
use mdmkit::queue::CommandId;
use proptest::prelude::*;

fn signer() -> EnvelopeSigner {
    let probe = EnvelopeSigner::from_seed(KeyId::new("x").unwrap(), [5; 32]);
    EnvelopeSigner::from_seed(KeyId::of(&probe.public_key()), [5; 32])
}

fn keyring() -> Keyring {
    keyring_from_hex(&[signer().public_key().to_hex()]).unwrap()
}

fn event(i: u64) -> Event {
    match i % 4 {
        0 => Event::PolicyChanged {
            tenant: "region".parse().unwrap(),
            policy: "floor".parse().unwrap(),
            nodes: vec!["region".parse().unwrap()],
            sha256: Some("ab".repeat(32)),
        },
        1 => Event::CommandEnqueued {
            tenant: "region".parse().unwrap(),
            command: CommandId::new(),
            kind: "InstallProfile".into(),
            platform: Platform::Apple,
            devices: i,
            targets_sha256: "cd".repeat(32),
            payload_sha256: "ef".repeat(32),
        },
        2 => Event::CommandAnswered {
            tenant: "region".parse().unwrap(),
            device: "ipad-1".parse().unwrap(),
            command: CommandId::new(),
            status: "error".into(),
            error: Some(format!("device said no #{i}")),
        },
        _ => Event::Reconciled {
            tenant: "region".parse().unwrap(),
            devices: i,
            commands: 2 * i,
            unsupported: 0,
            conflicts: 1,
        },
    }
}

fn options(every: u64) -> JournalOptions {
    JournalOptions::default()
        .with_checkpoint_every(every)
        .with_sync(false)
}

/// Writes `n` events, batched by 3, checkpointing every `every`; closes.
fn write_journal(path: &Path, n: u64, every: u64) {
    let mut j = Journal::open(path, signer(), options(every)).unwrap();
    let mut i = 0;
    while i < n {
        let batch: Vec<Event> = (i..n.min(i + 3)).map(event).collect();
        i += batch.len() as u64;
        j.append_all(batch).unwrap();
    }
    j.close().unwrap();
}

#[test]
fn a_closed_journal_verifies_and_counts_its_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_journal(&path, 10, 4);
    let report = verify(&path, &keyring()).unwrap();
    // 10 events, checkpoints after events 4 and 8, and one on close.
    assert_eq!(report.entries, 13);
    assert_eq!(report.checkpoints, 3);
    assert_eq!(report.last_signed_seq, Some(12));
    assert_eq!(report.unsigned_tail, 0);
    assert_eq!(report.keys, vec![signer().id().to_string()]);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 13);
    assert!(text.lines().all(|l| l.starts_with("{\"event\":{")));
}

/// An event told apart by `n` (its `devices` count).
fn numbered(n: u64) -> Event {
    Event::Reconciled {
        tenant: "region".parse().unwrap(),
        devices: n,
        commands: 0,
        unsupported: 0,
        conflicts: 0,
    }
}

/// The `n` of every numbered event of the journal, in file order.
fn numbers(path: &Path) -> Vec<u64> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| match serde_json::from_str::<Entry>(l).unwrap().event {
            Event::Reconciled { devices, .. } => Some(devices),
            _ => None,
        })
        .collect()
}

#[test]
fn two_journals_on_one_file_appending_alternately_form_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut a = Journal::open(&path, signer(), options(5)).unwrap();
    let mut b = Journal::open(&path, signer(), options(5)).unwrap();
    let mut seqs = Vec::new();
    for i in 0..20 {
        seqs.push(a.append(numbered(i)).unwrap());
        seqs.push(b.append(numbered(1000 + i)).unwrap());
    }
    // A batch stays contiguous and continues after the other writer.
    let last = a
        .append_all([numbered(100), numbered(101), numbered(102)])
        .unwrap()
        .unwrap();
    assert!(last > *seqs.iter().max().unwrap());
    assert_eq!(b.append(numbered(2000)).unwrap(), last + 1);
    // Each writer's own sequence numbers only grow.
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    a.close().unwrap();
    b.close().unwrap();

    let report = verify(&path, &keyring()).unwrap();
    assert_eq!(report.unsigned_tail, 0);
    let mut expected: Vec<u64> = (0..20).flat_map(|i| [i, 1000 + i]).collect();
    expected.extend([100, 101, 102, 2000]);
    assert_eq!(numbers(&path), expected);
    assert_eq!(report.entries, expected.len() as u64 + report.checkpoints);
    // About one checkpoint per five entries, not one per append.
    assert!(
        report.checkpoints <= 2 * expected.len() as u64 / 5 + 2,
        "{report:?}"
    );
}

#[test]
fn two_threads_appending_concurrently_leave_one_verified_chain_with_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let start = std::sync::Arc::new(std::sync::Barrier::new(2));
    let writers: Vec<_> = [0u64, 10_000]
        .into_iter()
        .map(|base| {
            let path = path.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                let mut j = Journal::open(&path, signer(), options(7)).unwrap();
                start.wait();
                for i in 0..200 {
                    if i % 50 == 49 {
                        j.append_all([numbered(base + i)]).unwrap();
                    } else {
                        j.append(numbered(base + i)).unwrap();
                    }
                    // Out of the lock a moment: the other writer gets turns.
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                j.close().unwrap();
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let report = verify(&path, &keyring()).unwrap();
    assert_eq!(report.unsigned_tail, 0);
    let mut got = numbers(&path);
    assert_eq!(report.entries, got.len() as u64 + report.checkpoints);
    // Each thread's events in its own order, all of them, none twice.
    for base in [0, 10_000] {
        let mine: Vec<u64> = got
            .iter()
            .copied()
            .filter(|n| (base..base + 200).contains(n))
            .collect();
        assert_eq!(mine, (base..base + 200).collect::<Vec<_>>());
    }
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len(), 400);
}

#[test]
fn a_torn_line_left_by_a_crashed_writer_is_recovered_by_the_next_append_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut a = Journal::open(&path, signer(), options(0)).unwrap();
    a.append(numbered(1)).unwrap();
    // Another writer died in the middle of its write.
    let before = fs::metadata(&path).unwrap().len();
    let torn = b"{\"event\":{\"type\":\"rec";
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(torn)
        .unwrap();
    assert_eq!(a.append(numbered(2)).unwrap(), 3);
    let r = a.recovered().unwrap();
    assert_eq!(
        (r.offset, r.dropped_bytes, r.seq),
        (before, torn.len() as u64, 2)
    );
    a.close().unwrap();
    let report = verify(&path, &keyring()).unwrap();
    assert_eq!((report.entries, report.torn_tail_bytes), (4, 0));
    assert_eq!(numbers(&path), [1, 2]);
}

#[test]
fn reopening_continues_the_chain_and_an_unclosed_tail_is_unsigned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_journal(&path, 2, 0);
    let mut j = Journal::open(&path, signer(), options(0)).unwrap();
    assert_eq!(j.head().unwrap().0, 3);
    assert_eq!(j.append(event(7)).unwrap(), 4);
    assert_eq!(j.append(event(8)).unwrap(), 5);
    drop(j);
    let report = verify(&path, &keyring()).unwrap();
    assert_eq!(
        (report.entries, report.last_signed_seq, report.unsigned_tail),
        (5, Some(2), 2)
    );
    // Reopened again and closed: the tail left by the first session is
    // signed.
    Journal::open(&path, signer(), options(0))
        .unwrap()
        .close()
        .unwrap();
    let report = verify(&path, &keyring()).unwrap();
    assert_eq!(
        (report.entries, report.last_signed_seq, report.unsigned_tail),
        (6, Some(5), 0)
    );
}

#[test]
fn a_crash_torn_tail_is_reported_then_cut_off_and_recorded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_journal(&path, 3, 0);
    let mut bytes = fs::read(&path).unwrap();
    let valid_len = bytes.len() as u64;
    bytes.extend_from_slice(b"{\"event\":{\"type\":\"comm");
    fs::write(&path, &bytes).unwrap();

    // verify reports the torn bytes without failing.
    let report = verify(&path, &keyring()).unwrap();
    assert_eq!((report.entries, report.torn_tail_bytes), (4, 22));

    // open cuts them off and says so in the journal.
    let j = Journal::open(&path, signer(), options(0)).unwrap();
    let rec = j.recovered().unwrap().clone();
    assert_eq!((rec.offset, rec.dropped_bytes, rec.seq), (valid_len, 22, 5));
    j.close().unwrap();
    let report = verify(&path, &keyring()).unwrap();
    assert_eq!(
        (report.entries, report.recoveries, report.torn_tail_bytes),
        (6, 1, 0)
    );
    let text = fs::read_to_string(&path).unwrap();
    let recovered = text.lines().nth(4).unwrap();
    assert!(recovered.contains("\"type\":\"recovered\""), "{recovered}");
}

#[test]
fn a_journal_that_is_only_a_torn_line_recovers_to_a_fresh_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    fs::write(&path, b"{\"ev").unwrap();
    let j = Journal::open(&path, signer(), options(0)).unwrap();
    assert_eq!(j.recovered().unwrap().seq, 1);
    j.close().unwrap();
    assert_eq!(verify(&path, &keyring()).unwrap().entries, 2);
}

#[test]
fn a_damaged_last_line_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_journal(&path, 2, 0);
    let text = fs::read_to_string(&path).unwrap();
    let at = text.rfind("\"time\":\"2").unwrap() + 8;
    let text = format!("{}3{}", &text[..at], &text[at + 1..]);
    fs::write(&path, text).unwrap();
    let e = Journal::open(&path, signer(), options(0)).unwrap_err();
    assert!(matches!(e, AuditError::DamagedTail { .. }), "{e}");
}

#[test]
fn checkpoints_by_an_unknown_or_forged_key_are_rejected_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_journal(&path, 2, 0);
    let other = keyring_from_hex(&["11".repeat(32)]).unwrap();
    let e = verify(&path, &other).unwrap_err();
    assert_eq!(e.line(), Some(3));
    assert!(
        matches!(e.corruption(), Some(Corruption::UnknownKey { .. })),
        "{e}"
    );

    // A writer that claims the real key's id with another secret.
    let forged = EnvelopeSigner::from_seed(signer().id().clone(), [6; 32]);
    let path2 = dir.path().join("forged.jsonl");
    let mut j = Journal::open(&path2, forged, options(0)).unwrap();
    j.append(event(1)).unwrap();
    j.close().unwrap();
    let e = verify(&path2, &keyring()).unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert!(
        matches!(e.corruption(), Some(Corruption::BadSignature { .. })),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("forged.jsonl: line 2: bad checkpoint signature"),
        "{e}"
    );
}

#[test]
fn an_anchor_catches_a_journal_cut_after_its_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_journal(&path, 5, 0);
    let report = verify(&path, &keyring()).unwrap();
    let head = report.head.clone().unwrap();
    let anchor = Anchor::new(head.seq, head.hash);
    let opts = VerifyOptions::default().with_anchor(anchor.clone());
    assert!(verify_with(&path, &keyring(), &opts).is_ok());
    // Cut the last checkpoint: still a valid chain, but not the anchored one.
    let text = fs::read_to_string(&path).unwrap();
    let cut: String = text.lines().take(5).map(|l| format!("{l}\n")).collect();
    fs::write(&path, cut).unwrap();
    assert_eq!(verify(&path, &keyring()).unwrap().entries, 5);
    let e = verify_with(&path, &keyring(), &opts).unwrap_err();
    assert!(
        matches!(
            e.corruption(),
            Some(Corruption::Truncated {
                anchor_seq: 6,
                last_seq: 5
            })
        ),
        "{e}"
    );
}

#[test]
fn lines_longer_than_the_limit_are_refused_when_read_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    write_journal(&path, 3, 0);
    let mut opts = VerifyOptions::default();
    opts.max_line_bytes = 100;
    let e = verify_with(&path, &keyring(), &opts).unwrap_err();
    assert!(
        matches!(e.corruption(), Some(Corruption::LineTooLong { max: 100 })),
        "{e}"
    );
    assert_eq!(e.line(), Some(1));

    let mut j = Journal::open(&path, signer(), options(0)).unwrap();
    let huge = Event::CommandAnswered {
        tenant: "region".parse().unwrap(),
        device: "ipad-1".parse().unwrap(),
        command: CommandId::new(),
        status: "error".into(),
        error: Some("x".repeat(100_000)),
    };
    assert!(matches!(
        j.append(huge),
        Err(AuditError::EntryTooLarge { .. })
    ));
    // Nothing was written: the journal still verifies and continues.
    j.append(event(3)).unwrap();
    assert_eq!(verify(&path, &keyring()).unwrap().entries, 5);
}

#[test]
fn the_tenant_key_is_created_once_private_and_listed_in_the_public_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = load_or_create_key(dir.path()).unwrap();
    let b = load_or_create_key(dir.path()).unwrap();
    assert_eq!(a.public_key(), b.public_key());
    assert_eq!(a.id(), b.id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(dir.path().join(".mdmkit/audit.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let pubs = fs::read_to_string(dir.path().join(".mdmkit/audit.pub")).unwrap();
    assert_eq!(pubs.lines().count(), 1);
    let ring = read_public_keys(&dir.path().join(".mdmkit/audit.pub")).unwrap();
    assert!(ring.contains(a.id()));
}

/// One tampering of a journal's lines.
#[derive(Debug, Clone)]
enum Tamper {
    /// Change one byte (never a newline, never into one) of line `line`.
    Alter {
        line: prop::sample::Index,
        at: prop::sample::Index,
        delta: u8,
    },
    /// Remove a line that is not the last.
    Delete { line: prop::sample::Index },
    /// Swap two different lines.
    Swap {
        a: prop::sample::Index,
        b: prop::sample::Index,
    },
    /// Insert a copy of a line (or a line of another journal) before line `at`.
    Insert {
        from: prop::sample::Index,
        at: prop::sample::Index,
        foreign: bool,
    },
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            1u8..=255
        )
            .prop_map(|(line, at, delta)| Tamper::Alter { line, at, delta }),
        any::<prop::sample::Index>().prop_map(|line| Tamper::Delete { line }),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(a, b)| Tamper::Swap { a, b }),
        (
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            any::<bool>()
        )
            .prop_map(|(from, at, foreign)| Tamper::Insert { from, at, foreign }),
    ]
}

fn lines_of(path: &Path) -> Vec<Vec<u8>> {
    fs::read(path)
        .unwrap()
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit::core::proptest_cases(128)))]

    #[test]
    fn altering_deleting_reordering_or_inserting_any_line_is_detected(
        n in 2u64..12,
        every in 0u64..4,
        t in tamper(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_journal(&path, n, every);
        let mut lines = lines_of(&path);
        let len = lines.len();
        match &t {
            Tamper::Alter { line, at, delta } => {
                let l = &mut lines[line.index(len)];
                let i = at.index(l.len());
                let b = l[i].wrapping_add(*delta);
                // A newline would only split the line; that is covered by
                // the parser, keep the mutation inside the line.
                l[i] = if b == b'\n' { b'\n'.wrapping_add(1) } else { b };
            }
            Tamper::Delete { line } => {
                lines.remove(line.index(len - 1));
            }
            Tamper::Swap { a, b } => {
                let (a, b) = (a.index(len), b.index(len));
                prop_assume!(a != b && lines[a] != lines[b]);
                lines.swap(a, b);
            }
            Tamper::Insert { from, at, foreign } => {
                let line = if *foreign {
                    let other = dir.path().join("other.jsonl");
                    write_journal(&other, n, every);
                    let o = lines_of(&other);
                    o[from.index(o.len())].clone()
                } else {
                    lines[from.index(len)].clone()
                };
                lines.insert(at.index(len + 1), line);
            }
        }
        let bytes = join(&lines);
        let result = verify_bytes(&bytes, &keyring(), &VerifyOptions::default());
        prop_assert!(result.is_err(), "{t:?} went unnoticed: {result:?}");
        let e = result.unwrap_err();
        prop_assert!(e.line().is_some_and(|l| l >= 1 && l <= lines.len() as u64), "{e}");
    }

    #[test]
    fn a_journal_cut_at_any_line_fails_against_the_anchor_of_its_head(
        n in 1u64..10,
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        write_journal(&path, n, 2);
        let full = verify(&path, &keyring()).unwrap();
        let head = full.head.unwrap();
        let mut lines = lines_of(&path);
        lines.truncate(cut.index(lines.len()));
        let opts = VerifyOptions::default().with_anchor(Anchor::new(head.seq, head.hash));
        let e = verify_bytes(&join(&lines), &keyring(), &opts).unwrap_err();
        let truncated = matches!(e.corruption(), Some(Corruption::Truncated { .. }));
        prop_assert!(truncated, "{}", e);
    }
}

#[test]
fn the_committed_fuzz_seeds_are_one_valid_journal_and_its_tamperings() {
    let corpus =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/facade_audit_verify");
    let fuzz = EnvelopeSigner::from_seed(KeyId::new("fuzz").unwrap(), [5; 32]);
    let mut ring = Keyring::new();
    ring.insert(fuzz.id().clone(), fuzz.public_key()).unwrap();
    let report = verify(&corpus.join("valid.jsonl"), &ring).unwrap();
    assert_eq!((report.entries, report.checkpoints), (6, 2));
    assert_eq!(
        verify(&corpus.join("torn-tail.jsonl"), &ring)
            .unwrap()
            .torn_tail_bytes,
        21
    );
    for bad in ["altered", "reordered", "not-canonical", "garbage"] {
        assert!(
            verify(&corpus.join(format!("{bad}.jsonl")), &ring).is_err(),
            "{bad}"
        );
    }
}
