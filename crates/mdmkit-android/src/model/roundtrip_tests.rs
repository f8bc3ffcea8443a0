//! Every generated type round-trips: JSON made from the schema table (with
//! values of every field type, enum values known and unknown, and fields
//! the model does not know) parses into the typed model and serialises
//! back to the same JSON.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::{GENERATED_SCHEMAS, round_trip};

const TABLE: &str = include_str!("schema_table.txt");

fn fields_of(schema: &str) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in TABLE.lines() {
        if let Some(name) = line.strip_prefix('=') {
            inside = name == schema;
        } else if inside && let Some((f, code)) = line.split_once('\t') {
            out.push((f, code));
        }
    }
    out
}

/// splitmix64: a tiny deterministic generator driven by proptest's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn text(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "a", "Z", "0", " ", "é", "\"", "\\", "\n", "/", "日本", "😀", "{",
    ];
    (0..rng.below(6))
        .map(|_| PIECES[rng.below(PIECES.len() as u64) as usize])
        .collect()
}

fn free_json(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth > 2 { 4 } else { 6 }) {
        0 => Value::from(text(rng)),
        1 => Value::from(rng.next() as i64),
        2 => Value::Bool(rng.chance(50)),
        3 => Value::from(rng.below(1000) as f64 / 4.0),
        4 => Value::Array(
            (0..rng.below(3))
                .map(|_| free_json(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.below(3))
                .map(|i| (format!("k{i}"), free_json(rng, depth + 1)))
                .collect(),
        ),
    }
}

fn value_of(code: &str, rng: &mut Rng, depth: u32) -> Value {
    match code.as_bytes().first() {
        Some(b'[') => Value::Array(
            (0..rng.below(3))
                .map(|_| value_of(&code[1..], rng, depth + 1))
                .collect(),
        ),
        Some(b'{') => Value::Object(
            (0..rng.below(3))
                .map(|_| (text(rng), value_of(&code[1..], rng, depth + 1)))
                .collect(),
        ),
        Some(b'@') => object(&code[1..], rng, depth + 1),
        Some(b'e') => {
            let values: Vec<&str> = code[2..].split(',').collect();
            if rng.chance(10) {
                Value::from(format!("ADDED_LATER_{}", rng.below(9)))
            } else {
                Value::from(values[rng.below(values.len() as u64) as usize])
            }
        }
        Some(b'b') => Value::Bool(rng.chance(50)),
        Some(b'i') => Value::from(rng.next() as i32),
        Some(b'l') => Value::from((rng.next() as i64).to_string()),
        Some(b'f') => Value::from((rng.below(2000) as f64 - 1000.0) / 2.0),
        Some(b'd') => Value::from(super::format_duration(std::time::Duration::new(
            rng.below(10_000_000),
            if rng.chance(50) {
                0
            } else {
                rng.below(1000) as u32 * 1_000_000
            },
        ))),
        Some(b't') => Value::from(
            super::Timestamp::from_unix(
                rng.below(4_000_000_000) as i64,
                rng.below(1000) as u32 * 1_000_000,
            )
            .unwrap()
            .as_str()
            .to_owned(),
        ),
        Some(b'a') => free_json(rng, depth),
        _ => Value::from(text(rng)),
    }
}

fn object(schema: &str, rng: &mut Rng, depth: u32) -> Value {
    let mut map = Map::new();
    let keep = if depth < 3 {
        60
    } else if depth < 6 {
        15
    } else {
        0
    };
    for (field, code) in fields_of(schema) {
        if rng.chance(keep) {
            map.insert(field.to_owned(), value_of(code, rng, depth));
        }
    }
    if rng.chance(25) {
        map.insert(format!("zzAddedLater{}", rng.below(5)), free_json(rng, 0));
    }
    Value::Object(map)
}

fn assert_round_trips(schema: &str, seed: u64) {
    let value = object(schema, &mut Rng(seed), 0);
    let bytes = serde_json::to_vec(&value).unwrap();
    let out = round_trip(schema, &bytes)
        .unwrap_or_else(|| panic!("{schema} has no Rust type"))
        .unwrap_or_else(|e| panic!("{schema} (seed {seed}): {e}\n{value}"));
    // The schema checker flags exactly what the generator made up.
    for p in crate::schema::check(&value, schema).unwrap() {
        let made_up = match &p.kind {
            crate::schema::ViolationKind::UnknownKey => {
                p.path.ends_with(|c: char| c.is_ascii_digit())
                    && p.path
                        .rsplit('.')
                        .next()
                        .is_some_and(|k| k.starts_with("zzAddedLater"))
            }
            crate::schema::ViolationKind::UnknownEnumValue(v) => v.starts_with("ADDED_LATER_"),
            _ => false,
        };
        assert!(made_up, "{schema} (seed {seed}): {p}");
    }
    let back: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        back, value,
        "{schema} (seed {seed}) changed in a round trip"
    );
}

#[test]
fn every_generated_schema_round_trips_for_fixed_seeds() {
    let policy = object("Policy", &mut Rng(1), 0);
    let keys = policy.as_object().unwrap().len();
    assert!(
        keys > 40,
        "the generator sets most Policy fields, got {keys}"
    );
    for schema in GENERATED_SCHEMAS {
        for seed in 0..8 {
            assert_round_trips(schema, seed);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(mdmkit_core::proptest_cases(256)))]
    #[test]
    fn any_schema_conforming_json_round_trips(index in 0..GENERATED_SCHEMAS.len(), seed in any::<u64>()) {
        assert_round_trips(GENERATED_SCHEMAS[index], seed);
    }
}
