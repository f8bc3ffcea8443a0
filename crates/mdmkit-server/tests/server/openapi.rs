//! `docs/admin-api.yaml` stays true to the router: every route registered
//! in `src/admin/mod.rs` (and the routes `src/lib.rs` registers itself,
//! `/healthz`) is a path of the document with exactly the HTTP methods the
//! router gives it, and the document has no other path.
//!
//! Both files are scanned as text: the workspace has no YAML parser, and
//! the router's source is the list of routes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The method routers of `axum::routing`, as the source spells them.
const METHODS: [&str; 8] = [
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// Paths (OpenAPI syntax) and their methods (upper case).
type Routes = BTreeMap<String, BTreeSet<String>>;

fn read(rel: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// An axum path in OpenAPI's syntax: `{param}` stays, `{*rest}` becomes
/// `{rest}`, and the older `:param` becomes `{param}`.
fn openapi_path(axum: &str) -> String {
    axum.split('/')
        .map(|seg| {
            if let Some(name) = seg.strip_prefix(':') {
                format!("{{{name}}}")
            } else if let Some(name) = seg.strip_prefix("{*").and_then(|s| s.strip_suffix('}')) {
                format!("{{{name}}}")
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The source without line comments (doc tables mention routes too) and
/// without its `#[cfg(test)]` module.
fn code_of(source: &str) -> String {
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The `.route("...", ...)` calls of a source file: each path with the
/// method routers (`get(...)`, `.post(...)`) of its second argument.
fn router_routes(file: &str, source: &str) -> Routes {
    let code = code_of(source);
    let mut routes = Routes::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find(".route(") {
        let call = &rest[at + ".route(".len()..];
        // The call's arguments: up to the parenthesis closing `.route(`.
        let mut depth = 1;
        let mut in_str = false;
        let mut end = None;
        let mut prev = ' ';
        for (i, c) in call.char_indices() {
            match c {
                '"' if prev != '\\' => in_str = !in_str,
                '(' if !in_str => depth += 1,
                ')' if !in_str => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
            prev = c;
        }
        let args = &call[..end.unwrap_or_else(|| panic!("{file}: unclosed .route( call"))];
        let path = args
            .trim_start()
            .strip_prefix('"')
            .and_then(|s| s.split_once('"'))
            .map(|(p, _)| p)
            .unwrap_or_else(|| {
                panic!(
                    "{file}: a .route( call whose path is not a string literal: {}",
                    args.trim()
                )
            });
        let handlers = &args[args.find(path).unwrap_or(0) + path.len() + 1..];
        let mut methods = BTreeSet::new();
        for m in METHODS {
            let mut from = 0;
            while let Some(i) = handlers[from..].find(m).map(|i| i + from) {
                let before = handlers[..i].chars().next_back().unwrap_or(' ');
                let after = &handlers[i + m.len()..];
                if !is_ident(before) && before != ':' && after.starts_with('(') {
                    methods.insert(m.to_ascii_uppercase());
                }
                from = i + m.len();
            }
        }
        assert!(
            !methods.is_empty(),
            "{file}: cannot tell the methods of route {path:?} (expected get(..), post(..), ...)"
        );
        let previous = routes.insert(openapi_path(path), methods);
        assert!(
            previous.is_none(),
            "{file}: route {path:?} registered twice"
        );
        rest = &call[end.unwrap_or(0)..];
    }
    routes
}

/// The key of a YAML mapping line (`  "/a/{b}":` or `    get:`), unquoted.
fn yaml_key(line: &str) -> Option<&str> {
    let t = line.trim();
    for q in ['"', '\''] {
        if let Some(s) = t.strip_prefix(q) {
            let (key, tail) = s.split_once(q)?;
            return tail.trim_start().starts_with(':').then_some(key);
        }
    }
    t.split_once(':').map(|(k, _)| k.trim_end())
}

/// The `paths` of an OpenAPI document in block style, each with its
/// operations (the keys of a path item that are HTTP methods).
fn yaml_paths(yaml: &str) -> Routes {
    let mut paths = Routes::new();
    let mut inside = false;
    let mut path_indent = None;
    let mut op_indent = None;
    let mut current: Option<String> = None;
    for (n, line) in yaml.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        if indent == 0 {
            if inside {
                break;
            }
            inside = t == "paths:";
            continue;
        }
        if !inside {
            continue;
        }
        let pi = *path_indent.get_or_insert(indent);
        if indent < pi {
            panic!("admin-api.yaml line {}: odd indentation under paths", n + 1);
        }
        if indent == pi {
            let key = yaml_key(line).unwrap_or_default();
            assert!(
                key.starts_with('/'),
                "admin-api.yaml line {}: {t:?} under paths is not a path",
                n + 1
            );
            assert!(
                paths.insert(key.to_owned(), BTreeSet::new()).is_none(),
                "admin-api.yaml line {}: path {key} listed twice",
                n + 1
            );
            current = Some(key.to_owned());
            op_indent = None;
            continue;
        }
        let oi = *op_indent.get_or_insert(indent);
        if indent == oi
            && let (Some(path), Some(key)) = (&current, yaml_key(line))
            && METHODS.contains(&key)
        {
            let fresh = paths
                .entry(path.clone())
                .or_default()
                .insert(key.to_ascii_uppercase());
            assert!(fresh, "admin-api.yaml: {key} listed twice under {path}");
        }
    }
    assert!(inside, "admin-api.yaml has no top-level `paths:`");
    paths
}

/// What the document gets wrong about the router, one line each.
fn mismatches(router: &Routes, doc: &Routes) -> Vec<String> {
    let mut out = Vec::new();
    for (path, methods) in router {
        let Some(documented) = doc.get(path) else {
            let m: Vec<&str> = methods.iter().map(String::as_str).collect();
            out.push(format!(
                "missing path {path} ({}): the router has it, docs/admin-api.yaml does not",
                m.join(", ")
            ));
            continue;
        };
        for m in methods.difference(documented) {
            out.push(format!(
                "missing operation {m} {path}: the router has it, docs/admin-api.yaml does not"
            ));
        }
        for m in documented.difference(methods) {
            out.push(format!(
                "extra operation {m} {path}: docs/admin-api.yaml has it, the router does not"
            ));
        }
    }
    for path in doc.keys().filter(|p| !router.contains_key(*p)) {
        out.push(format!(
            "extra path {path}: docs/admin-api.yaml has it, the router does not"
        ));
    }
    out
}

#[test]
fn openapi_document_lists_exactly_the_routes_of_the_router() {
    let admin_src = read("src/admin/mod.rs");
    for unsupported in [".nest(", ".route_service(", ".merge(", ".fallback("] {
        assert!(
            !code_of(&admin_src).contains(unsupported),
            "src/admin/mod.rs uses {unsupported}..); teach tests/server/openapi.rs to read it"
        );
    }
    let admin = router_routes("src/admin/mod.rs", &admin_src);
    assert!(
        admin.len() >= 7 && admin.keys().all(|p| p.starts_with("/{tenant}/admin/v1/")),
        "the scan of src/admin/mod.rs looks wrong: {admin:?}"
    );
    let mut router = router_routes("src/lib.rs", &read("src/lib.rs"));
    assert!(
        router.contains_key("/healthz"),
        "the scan of src/lib.rs found no /healthz: {router:?}"
    );
    for (path, methods) in admin {
        assert!(
            router.insert(path.clone(), methods).is_none(),
            "{path} is registered both in src/lib.rs and src/admin/mod.rs"
        );
    }
    let doc = yaml_paths(&read("../../docs/admin-api.yaml"));
    let problems = mismatches(&router, &doc);
    assert!(
        problems.is_empty(),
        "docs/admin-api.yaml is out of date with the router:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn openapi_check_names_what_is_missing_or_extra() {
    let router = router_routes(
        "test",
        r#"
        //! | `GET /commented/out` | a doc table, not a route |
        Router::new()
            .route("/{tenant}/a", get(h::a))
            .route(
                "/{tenant}/b/{*rest}",
                get(h::b).post(h::c),
            )
            .route("/:tenant/c", delete(h::get_it))
        "#,
    );
    let expected: Routes = [
        ("/{tenant}/a", &["GET"][..]),
        ("/{tenant}/b/{rest}", &["GET", "POST"][..]),
        ("/{tenant}/c", &["DELETE"][..]),
    ]
    .into_iter()
    .map(|(p, m)| (p.to_owned(), m.iter().map(|s| (*s).to_owned()).collect()))
    .collect();
    assert_eq!(router, expected);

    let doc = yaml_paths(
        "openapi: 3.1.0\n\
         paths:\n\
         \x20 \"/{tenant}/a\":\n\
         \x20   parameters: []\n\
         \x20   get:\n\
         \x20     description: |\n\
         \x20       post: not an operation\n\
         \x20 '/{tenant}/b/{rest}':\n\
         \x20   get: {}\n\
         \x20 /{tenant}/extra:\n\
         \x20   put: {}\n\
         components: {}\n",
    );
    let problems = mismatches(&router, &doc);
    assert_eq!(
        problems,
        [
            "missing operation POST /{tenant}/b/{rest}: the router has it, docs/admin-api.yaml does not",
            "missing path /{tenant}/c (DELETE): the router has it, docs/admin-api.yaml does not",
            "extra path /{tenant}/extra: docs/admin-api.yaml has it, the router does not",
        ],
        "{problems:#?}"
    );
}
