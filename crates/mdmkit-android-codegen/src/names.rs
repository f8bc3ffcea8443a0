//! Turning JSON names into Rust names, and checking that serde turns them back.

/// Words Rust reserves; fields named so become raw identifiers.
const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "static",
    "struct", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized",
    "virtual", "yield", "try", "gen",
];

/// Identifiers that cannot be raw.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate"];

/// `cellularTwoGState` -> `cellular_two_g_state`; a run of capitals is one word.
pub(crate) fn snake_from_camel(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// What serde's `rename_all = "camelCase"` makes of a snake-case field name.
pub(crate) fn serde_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The Rust field identifier for a JSON name, and whether serde needs an
/// explicit `rename` to find the JSON name again.
pub(crate) fn field_ident(json: &str) -> (String, bool) {
    let snake = snake_from_camel(json);
    if NOT_RAW.contains(&snake.as_str()) {
        return (format!("{snake}_"), true);
    }
    let needs_rename = serde_camel(&snake) != json;
    if KEYWORDS.contains(&snake.as_str()) {
        (format!("r#{snake}"), needs_rename)
    } else {
        (snake, needs_rename)
    }
}

/// `installType` -> `InstallType`.
pub(crate) fn pascal_from_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    if let Some(first) = chars.next() {
        out.push(first.to_ascii_uppercase());
    }
    out.extend(chars);
    out
}

/// `FORCE_INSTALLED` -> `ForceInstalled`; a leading digit gets a `V`.
pub(crate) fn variant_from_wire(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars.map(|c| c.to_ascii_lowercase()));
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    if out == "Self" || out == "Unrecognized" {
        out.push_str("Value");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_names_become_snake_names_that_serde_maps_back() {
        for json in [
            "cellularTwoGState",
            "installType",
            "x509Cert",
            "apn",
            "type",
        ] {
            let (ident, rename) = field_ident(json);
            assert!(!rename, "{json} -> {ident}");
        }
        assert_eq!(field_ident("cellularTwoGState").0, "cellular_two_g_state");
        assert_eq!(field_ident("type").0, "r#type");
        assert_eq!(field_ident("wifiSSIDs"), ("wifi_ssi_ds".to_owned(), true));
    }

    #[test]
    fn wire_values_become_pascal_variants() {
        assert_eq!(variant_from_wire("FORCE_INSTALLED"), "ForceInstalled");
        assert_eq!(variant_from_wire("5G"), "V5g");
        assert_eq!(variant_from_wire("UNRECOGNIZED"), "UnrecognizedValue");
    }
}
