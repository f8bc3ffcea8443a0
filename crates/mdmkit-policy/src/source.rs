//! Turning TOML or JSON text into one JSON value, with limits and a line
//! locator, so both formats go through the same typed deserialisation and
//! validation and stay equivalent.

use std::collections::HashMap;

use serde_json::{Map, Value};
use toml::de::{DeTable, DeValue};

use crate::error::{Issue, IssueKind};
use crate::path::{Segment, SettingPath};

/// The largest document accepted, in bytes (1 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// The deepest nesting of tables and arrays accepted.
pub const MAX_DEPTH: usize = 32;

/// A document format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// TOML, written by hand.
    Toml,
    /// JSON, from APIs.
    Json,
}

impl Format {
    /// The format of a file by its extension (`.toml` or `.json`).
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// Maps key paths of a parsed document to 1-based lines.
///
/// The map is built on the first question, from the document's text kept
/// for it: a document without issues (the common case: a directory of
/// 100,000 devices) never pays for a map entry per key.
#[derive(Debug, Default, Clone)]
pub(crate) struct Locator {
    /// The TOML text to locate keys in (`None`: nothing to locate, as for
    /// JSON).
    text: Option<std::sync::Arc<str>>,
    lines: std::cell::OnceCell<HashMap<Vec<String>, usize>>,
}

impl Locator {
    /// A locator of the keys of a TOML text that parses.
    fn of_toml(text: &str) -> Self {
        Self {
            text: Some(text.into()),
            lines: std::cell::OnceCell::new(),
        }
    }

    fn lines(&self) -> &HashMap<Vec<String>, usize> {
        self.lines.get_or_init(|| {
            let mut out = HashMap::new();
            if let Some(text) = &self.text
                && let Ok(table) = DeTable::parse(text)
            {
                let lines = Lines::new(text);
                record_table(table.get_ref(), &mut Vec::new(), &lines, &mut out);
            }
            out
        })
    }

    /// The line of `keys`, or of its nearest ancestor that has one.
    pub(crate) fn line_of(&self, keys: &[&str]) -> Option<usize> {
        let lines = self.lines();
        let mut owned: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
        loop {
            if let Some(l) = lines.get(&owned) {
                return Some(*l);
            }
            owned.pop()?;
        }
    }

    /// The line of a path, or of its nearest located ancestor.
    pub(crate) fn line_of_path(&self, path: &SettingPath) -> Option<usize> {
        if self.text.is_none() || self.lines().is_empty() {
            return None;
        }
        self.line_of(&path.document_keys())
    }
}

/// Records the line of every key and array item of a table (the first
/// place a key appears, as the map had when it was built while converting).
fn record_table(
    t: &DeTable<'_>,
    keys: &mut Vec<String>,
    lines: &Lines,
    out: &mut HashMap<Vec<String>, usize>,
) {
    for (k, v) in t.iter() {
        keys.push(k.get_ref().to_string());
        out.entry(keys.clone())
            .or_insert_with(|| lines.line(k.span().start));
        record_value(v.get_ref(), keys, lines, out);
        keys.pop();
    }
}

fn record_value(
    v: &DeValue<'_>,
    keys: &mut Vec<String>,
    lines: &Lines,
    out: &mut HashMap<Vec<String>, usize>,
) {
    if keys.len() > MAX_DEPTH {
        return;
    }
    match v {
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                keys.push(i.to_string());
                out.entry(keys.clone())
                    .or_insert_with(|| lines.line(item.span().start));
                record_value(item.get_ref(), keys, lines, out);
                keys.pop();
            }
        }
        DeValue::Table(t) => record_table(t, keys, lines, out),
        _ => {}
    }
}

/// A parsed document: its JSON value and where its keys are.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) value: Value,
    pub(crate) locator: Locator,
}

struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

/// Rejects TOML nested deeper than [`MAX_DEPTH`] (brackets, braces or
/// dotted keys) before the parser sees it, so no recursion downstream can
/// exhaust the stack.
fn toml_depth_ok(text: &str) -> Result<(), (usize, &'static str)> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut dots = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'\n' => dots = 0,
            b'"' | b'\'' => {
                let q = b[i];
                let triple = b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q);
                i += if triple { 3 } else { 1 };
                while i < b.len() {
                    if q == b'"' && b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        if !triple {
                            break;
                        }
                        if b.get(i + 1) == Some(&q) && b.get(i + 2) == Some(&q) {
                            i += 2;
                            break;
                        }
                    }
                    if !triple && b[i] == b'\n' {
                        break;
                    }
                    i += 1;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err((i, "nesting is deeper than the limit"));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'.' => {
                dots += 1;
                if dots > MAX_DEPTH {
                    return Err((i, "a line has more dotted keys than the depth limit"));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn convert(
    v: &DeValue<'_>,
    keys: &mut Vec<String>,
    loc: &Locator,
    issues: &mut Vec<Issue>,
) -> Value {
    if keys.len() > MAX_DEPTH {
        issues.push(Issue::whole(
            IssueKind::Limit,
            "nesting is deeper than the limit",
        ));
        return Value::Null;
    }
    match v {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(n) => match i64::from_str_radix(n.as_str(), n.radix()) {
            Ok(n) => Value::from(n),
            Err(_) => {
                issues.push(
                    Issue::at(
                        IssueKind::Schema,
                        keys_path(keys),
                        "integer does not fit in 64 bits",
                    )
                    .with_line(loc.line_of(&keys.iter().map(String::as_str).collect::<Vec<_>>())),
                );
                Value::Null
            }
        },
        DeValue::Float(f) => {
            let parsed = match f.as_str() {
                "inf" | "+inf" | "-inf" | "nan" | "+nan" | "-nan" => None,
                s => s.replace('_', "").parse::<f64>().ok(),
            };
            match parsed.and_then(serde_json::Number::from_f64) {
                Some(n) => Value::Number(n),
                None => {
                    issues.push(
                        Issue::at(IssueKind::Schema, keys_path(keys), "not a finite number")
                            .with_line(
                                loc.line_of(&keys.iter().map(String::as_str).collect::<Vec<_>>()),
                            ),
                    );
                    Value::Null
                }
            }
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                keys.push(i.to_string());
                out.push(convert(item.get_ref(), keys, loc, issues));
                keys.pop();
            }
            Value::Array(out)
        }
        DeValue::Table(t) => Value::Object(convert_table(t, keys, loc, issues)),
    }
}

fn convert_table(
    t: &DeTable<'_>,
    keys: &mut Vec<String>,
    loc: &Locator,
    issues: &mut Vec<Issue>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in t.iter() {
        keys.push(k.get_ref().to_string());
        let value = convert(v.get_ref(), keys, loc, issues);
        out.insert(k.get_ref().to_string(), value);
        keys.pop();
    }
    out
}

fn keys_path(keys: &[String]) -> SettingPath {
    SettingPath::from(
        keys.iter()
            .map(|k| Segment::Field(k.clone()))
            .collect::<Vec<_>>(),
    )
}

fn depth_of(v: &Value) -> usize {
    // Iterative, so a hostile document cannot exhaust the stack here.
    let mut max = 0;
    let mut stack = vec![(v, 1usize)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Array(a) => stack.extend(a.iter().map(|x| (x, d + 1))),
            Value::Object(o) => stack.extend(o.values().map(|x| (x, d + 1))),
            _ => {}
        }
    }
    max
}

/// Parses a policy document into a JSON value. On failure, every issue found.
pub(crate) fn parse(text: &str, format: Format) -> Result<Parsed, Vec<Issue>> {
    parse_limited(text, format, MAX_DOCUMENT_BYTES)
}

/// [`parse`] with another size limit (tree and inventory files).
pub(crate) fn parse_limited(text: &str, format: Format, max: usize) -> Result<Parsed, Vec<Issue>> {
    if text.len() > max {
        return Err(vec![Issue::whole(
            IssueKind::Limit,
            format!(
                "document is {} bytes, larger than the {max}-byte limit",
                text.len()
            ),
        )]);
    }
    match format {
        Format::Toml => {
            let lines = Lines::new(text);
            if let Err((offset, msg)) = toml_depth_ok(text) {
                return Err(vec![
                    Issue::whole(IssueKind::Limit, msg).with_line(Some(lines.line(offset))),
                ]);
            }
            let table = DeTable::parse(text).map_err(|e| {
                let line = e.span().map(|s| lines.line(s.start));
                let msg = e.message().trim().to_owned();
                vec![Issue::whole(IssueKind::Syntax, lower_first(&msg)).with_line(line)]
            })?;
            let loc = Locator::of_toml(text);
            let mut issues = Vec::new();
            let mut keys = Vec::new();
            let value = Value::Object(convert_table(table.get_ref(), &mut keys, &loc, &mut issues));
            if issues.is_empty() {
                Ok(Parsed {
                    value,
                    locator: loc,
                })
            } else {
                Err(issues)
            }
        }
        Format::Json => {
            let value: Value = serde_json::from_str(text).map_err(|e| {
                vec![
                    Issue::whole(IssueKind::Syntax, lower_first(&e.to_string()))
                        .with_line(Some(e.line()).filter(|l| *l > 0)),
                ]
            })?;
            if depth_of(&value) > MAX_DEPTH {
                return Err(vec![Issue::whole(
                    IssueKind::Limit,
                    "nesting is deeper than the limit",
                )]);
            }
            Ok(Parsed {
                value,
                locator: Locator::default(),
            })
        }
    }
}

fn lower_first(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_get_their_lines() {
        let p = parse(
            "[passcode]\nmin_length = 6\n\n[wifi.\"ECOLE\"]\nsecurity = \"open\"\n",
            Format::Toml,
        )
        .unwrap();
        assert_eq!(p.locator.line_of(&["passcode", "min_length"]), Some(2));
        assert_eq!(p.locator.line_of(&["wifi", "ECOLE", "security"]), Some(5));
        assert_eq!(p.locator.line_of(&["wifi", "ECOLE", "password"]), Some(4));
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let e = parse("a = 1\nb = = 2\n", Format::Toml).unwrap_err();
        assert_eq!(e[0].kind, IssueKind::Syntax);
        assert_eq!(e[0].line, Some(2));
        let e = parse("{\n\"a\": 1,\n}", Format::Json).unwrap_err();
        assert_eq!(e[0].line, Some(3));
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("a = {}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(
            parse(&deep, Format::Toml).unwrap_err()[0].kind,
            IssueKind::Limit
        );
        let dotted = format!("{}a = 1", "a.".repeat(100_000));
        assert_eq!(
            parse(&dotted, Format::Toml).unwrap_err()[0].kind,
            IssueKind::Limit
        );
        let json = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&json, Format::Json).is_err());
        let big = "#".repeat(MAX_DOCUMENT_BYTES + 1);
        assert_eq!(
            parse(&big, Format::Toml).unwrap_err()[0].kind,
            IssueKind::Limit
        );
    }

    #[test]
    fn strings_with_brackets_do_not_count_as_nesting() {
        let text = format!(
            "a = \"{}\"\nb = '''{}'''\n",
            "[".repeat(100),
            "{".repeat(100)
        );
        assert!(parse(&text, Format::Toml).is_ok());
    }
}
