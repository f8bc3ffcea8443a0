//! The fuzz law on stable: arbitrary mutations of realistic bodies never
//! panic a parser, and whatever parses re-encodes to JSON that parses to the
//! same value.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mdmkit_android::model::{Device, EnrollmentToken, Operation, Policy};
use mdmkit_android::operation::CommandOutcome;
use mdmkit_android::parse;
use mdmkit_android::state::{DesiredPolicy, verify};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn stable<T>(bytes: &[u8]) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let value: T = parse::from_slice(bytes).ok()?;
    let again: T = parse::from_slice(&parse::to_vec(&value).unwrap()).unwrap();
    assert_eq!(again, value);
    Some(value)
}

/// Applies `edits` (position, byte, kind) to `base`.
fn mutate(mut base: Vec<u8>, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"\"\\{}[],:0-9.eE tfn\x00\xff";
    for &(pos, byte, kind) in edits {
        if base.is_empty() {
            break;
        }
        let at = pos % base.len();
        let b = if byte % 2 == 0 {
            INTERESTING[usize::from(byte / 2) % INTERESTING.len()]
        } else {
            byte
        };
        match kind % 3 {
            0 => base[at] = b,
            1 => base.insert(at, b),
            _ => {
                base.remove(at);
            }
        }
    }
    base
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, u8)>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(512)))]

    #[test]
    fn mutated_devices_never_panic_and_re_encode_stably(e in edits()) {
        let bytes = mutate(fixture("device-noncompliant.json"), &e);
        if let Some(d) = stable::<Device>(&bytes) {
            let _ = verify(&d, &DesiredPolicy::new(d.policy_name.clone(), Some(12)));
        }
    }

    #[test]
    fn mutated_operations_never_panic_and_re_encode_stably(e in edits(), which in 0usize..3) {
        let name = ["operation-pending.json", "operation-failed.json", "operation-clear-app-data.json"][which];
        let bytes = mutate(fixture(name), &e);
        if let Some(o) = stable::<Operation>(&bytes) {
            let _ = CommandOutcome::from_operation(&o);
        }
    }

    #[test]
    fn mutated_policies_and_tokens_never_panic_and_re_encode_stably(e in edits()) {
        if let Some(p) = stable::<Policy>(&mutate(fixture("policy-school.json"), &e)) {
            let _ = DesiredPolicy::from_policy(&p);
        }
        let _ = stable::<EnrollmentToken>(&mutate(fixture("enrollment-token.json"), &e));
        let _ = mdmkit_android::inspect::inspect(&mutate(fixture("device-behind.json"), &e));
    }
}
