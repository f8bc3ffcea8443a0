//! `mdmkit policy ...`: check policy documents and tenant directories, print
//! a device's effective policy, diff two policies, and sign policy layers
//! (keygen, sign, verify).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use mdmkit::DeviceId;
use mdmkit::identity::{EnvelopeSigner, KeyId};
use mdmkit::policy::{
    self, EffectiveCache, Error as PolicyError, FileKind, Issues, Policy, SettingPath, Tenant,
};
use mdmkit::signing::{self, LayerReport, LayerStatus, SigningError};
use serde_json::{Map, Value, json};

use crate::error::{CliError, Context};

/// The `policy` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate policy files, tree or inventory files, or tenant directories
    /// (tree.toml, devices.toml, policies/); print every error with its
    /// file, line and setting path. Exit 1 on any error.
    Check {
        /// Files (.toml, .json) or tenant directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Print a device's effective policy as JSON.
    Effective {
        /// A tenant directory (tree.toml, devices.toml, policies/).
        tree_dir: PathBuf,
        /// The device id.
        #[arg(long)]
        device: String,
        /// Include provenance (who set each value, what was overridden
        /// and why) and conflicts.
        #[arg(long)]
        explain: bool,
        /// With --explain: only explain this setting path
        /// (`restrictions.camera`, `wifi["ECOLE"]`).
        #[arg(long, requires = "explain")]
        path: Option<String>,
        /// Print secret values (Wi-Fi keys) in clear, secret references
        /// resolved; by default values written in clear print as "***"
        /// and references as they are.
        #[arg(long)]
        show_secrets: bool,
    },
    /// Print the change set from OLD to NEW as JSON: two policy files, or two
    /// tenant directories (then one change set per changed device).
    Diff {
        /// The old policy file or tenant directory.
        old: PathBuf,
        /// The new policy file or tenant directory.
        new: PathBuf,
        /// Print secret values in clear, references resolved (default:
        /// "***" for values written in clear, references as they are).
        #[arg(long)]
        show_secrets: bool,
    },
    /// Create an Ed25519 key to sign policies: writes its 32-byte seed as
    /// hex to a new file readable by its owner only, prints the key id and
    /// the public key to declare in tree.toml (`[[author]]`).
    Keygen {
        /// The key file to create (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a policy file: writes POLICY_FILE.sig, binding the tenant, the
    /// policy id and the file's exact bytes.
    Sign {
        /// The key file (from `mdmkit policy keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The key id, as declared in tree.toml (default: the id derived
        /// from the public key, as `keygen` prints it).
        #[arg(long)]
        key_id: Option<String>,
        /// The tenant directory the policy belongs to.
        #[arg(long)]
        tenant: PathBuf,
        /// The policy file to sign.
        policy_file: PathBuf,
    },
    /// Check every policy layer's signature against the authors and grants
    /// of tree.toml and print who signed what. Exit 1 when the tree
    /// requires signatures and a layer fails, or when any signature present
    /// does not hold.
    Verify {
        /// A tenant directory.
        dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: PolicyCommand) -> Result<ExitCode, CliError> {
    match cmd {
        PolicyCommand::Check { paths } => check(&paths),
        PolicyCommand::Effective {
            tree_dir,
            device,
            explain,
            path,
            show_secrets,
        } => effective(&tree_dir, &device, explain, path.as_deref(), show_secrets),
        PolicyCommand::Diff {
            old,
            new,
            show_secrets,
        } => diff(&old, &new, show_secrets),
        PolicyCommand::Keygen { out } => keygen(&out),
        PolicyCommand::Sign {
            key,
            key_id,
            tenant,
            policy_file,
        } => sign(&key, key_id.as_deref(), &tenant, &policy_file),
        PolicyCommand::Verify { dir, json } => verify(&dir, json),
    }
}

/// The secrets written in clear in `policies`, longest first (so that a
/// secret containing another is replaced whole).
fn literal_secrets<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Vec<String> {
    let mut out: Vec<String> = policies
        .into_iter()
        .flat_map(|p| p.settings.secrets())
        .filter_map(|(_, s)| {
            s.is_literal()
                .then(|| s.expose().map(str::to_owned))
                .flatten()
        })
        .filter(|v| !v.is_empty())
        .collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out.dedup();
    out
}

/// Replaces every occurrence of a secret in the strings of `v` with
/// `***`: whatever the shape of the output (settings, provenance,
/// conflicts, change sets), no secret written in clear is printed.
fn redact(v: &mut Value, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    match v {
        Value::String(s) if secrets.iter().any(|x| s.contains(x.as_str())) => {
            let mut t = s.clone();
            for x in secrets {
                t = t.replace(x.as_str(), policy::secret::REDACTED);
            }
            *s = t;
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact(i, secrets)),
        Value::Object(map) => map.values_mut().for_each(|i| redact(i, secrets)),
        _ => {}
    }
}

/// [`redact`] on JSON text: each secret as JSON escapes it inside a
/// string (for outputs whose field order matters).
fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for x in secrets {
        let quoted = serde_json::to_string(x).unwrap_or_default();
        let escaped = quoted
            .strip_prefix('"')
            .and_then(|q| q.strip_suffix('"'))
            .unwrap_or(x);
        out = out.replace(escaped, policy::secret::REDACTED);
    }
    out
}

/// Replaces every secret reference of `policy` with its value, for
/// `--show-secrets`.
fn reveal(policy: &mut Policy, dir: &Path) -> Result<(), CliError> {
    policy
        .settings
        .reveal_secrets(&policy::EnvFileResolver::new(dir))
        .map_err(|e| CliError::new(format!("policy {}: {}", policy.id, crate::error::chain(&e))))
}

/// [`reveal`] for every policy of a tenant.
fn reveal_tenant(tenant: &mut Tenant, dir: &Path) -> Result<(), CliError> {
    let policies: Vec<Policy> = tenant.policies().cloned().collect();
    for mut p in policies {
        reveal(&mut p, dir)?;
        tenant.set_policy(p);
    }
    Ok(())
}

fn print_json(v: &Value) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(v).context("cannot render JSON")?;
    println!("{text}");
    Ok(())
}

/// Loads a tenant directory; an invalid one prints its issues and fails.
pub(crate) fn load(dir: &Path) -> Result<Tenant, CliError> {
    match policy::load_dir(dir) {
        Ok(t) => Ok(t),
        Err(PolicyError::Invalid(issues)) => Err(report(&issues, dir)),
        Err(e) => Err(CliError::new(format!(
            "{}: {}",
            dir.display(),
            crate::error::chain(&e)
        ))),
    }
}

fn report(issues: &Issues, what: &Path) -> CliError {
    for i in issues.iter() {
        println!("{i}");
    }
    CliError::new(format!(
        "{}: {} error{}",
        what.display(),
        issues.len(),
        if issues.len() == 1 { "" } else { "s" }
    ))
}

fn check(paths: &[PathBuf]) -> Result<ExitCode, CliError> {
    let mut errors = 0usize;
    let mut summaries = Vec::new();
    for path in paths {
        if path.is_dir() {
            let tenant = match policy::load_dir(path) {
                Ok(t) => t,
                Err(PolicyError::Invalid(issues)) => {
                    for i in issues.iter() {
                        println!("{i}");
                    }
                    errors += issues.len();
                    continue;
                }
                Err(e) => {
                    println!("{}: {}", path.display(), crate::error::chain(&e));
                    errors += 1;
                    continue;
                }
            };
            let issues = tenant.check();
            for i in issues.iter() {
                println!("{}: {i}", path.display());
            }
            errors += issues.len();
            if tenant.requires_signatures() {
                match signing::verify_layers(path, &tenant) {
                    Ok(_) => {}
                    Err(SigningError::Rejected { failures }) => {
                        for f in &failures {
                            println!("{f}");
                        }
                        errors += failures.len();
                        continue;
                    }
                    Err(e) => {
                        println!("{}: {}", path.display(), crate::error::chain(&e));
                        errors += 1;
                        continue;
                    }
                }
            }
            for p in tenant.policies() {
                let file = tenant
                    .policy_file(&p.id)
                    .map_or_else(|| path.display().to_string(), |f| f.display().to_string());
                warn_clear_secrets(&file, p);
            }
            if issues.is_empty() {
                summaries.push(format!(
                    "{}: tenant {}, {} nodes, {} devices, {} policies",
                    path.display(),
                    tenant.id(),
                    tenant.nodes().len(),
                    tenant.devices().count(),
                    tenant.policies().count()
                ));
            }
        } else if path.is_file() {
            let (kind, issues) = policy::check_file(path);
            for i in issues.iter() {
                println!("{i}");
            }
            errors += issues.len();
            if issues.is_empty()
                && matches!(kind, FileKind::Policy)
                && let Ok(p) = Policy::from_path(path)
            {
                warn_clear_secrets(&path.display().to_string(), &p);
            }
            if issues.is_empty() {
                let what = match kind {
                    FileKind::Tree => "tree",
                    FileKind::Devices => "device inventory",
                    _ => "policy",
                };
                summaries.push(format!("{}: {what}", path.display()));
            }
        } else {
            println!("{}: no such file or directory", path.display());
            errors += 1;
        }
    }
    if errors > 0 {
        return Err(CliError::new(format!(
            "{errors} error{} found",
            if errors == 1 { "" } else { "s" }
        )));
    }
    for s in &summaries {
        println!("ok: {s}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Warns (on stderr; not an error) about each secret written in clear.
fn warn_clear_secrets(file: &str, policy: &Policy) {
    for (path, secret) in policy.settings.secrets() {
        if secret.is_literal() {
            eprintln!(
                "warning: {file}: {path}: a secret in clear; prefer a reference, {{ env = \"MDMKIT_SECRET_...\" }} or {{ file = \"PATH\" }} (docs/policy.md, Secrets)"
            );
        }
    }
}

fn effective(
    dir: &Path,
    device: &str,
    explain: bool,
    path: Option<&str>,
    show_secrets: bool,
) -> Result<ExitCode, CliError> {
    let mut tenant = load(dir)?;
    let secrets = if show_secrets {
        reveal_tenant(&mut tenant, dir)?;
        Vec::new()
    } else {
        literal_secrets(tenant.policies())
    };
    let id = DeviceId::new(device).context("invalid --device")?;
    let eff = tenant
        .effective(&id)
        .context(format!("{}", dir.display()))?;
    let out = match (explain, path) {
        (false, _) => eff.to_json(),
        (true, None) => {
            let mut v = eff.to_json_explained();
            if let Value::Object(map) = &mut v {
                let mut head = Map::new();
                head.insert("device".into(), json!(id.as_str()));
                if let Some(d) = tenant.device(&id) {
                    head.insert("node".into(), json!(d.node.as_str()));
                    head.insert("platform".into(), json!(d.platform.as_str()));
                }
                head.extend(std::mem::take(map));
                if let Some(d) = tenant.device(&id) {
                    let report = policy::unsupported(&eff.flatten(), d);
                    head.insert(
                        "unsupported".into(),
                        serde_json::to_value(report).context("cannot render the report")?,
                    );
                }
                *map = head;
            }
            v
        }
        (true, Some(p)) => {
            let p: SettingPath = p.parse().context("invalid --path")?;
            serde_json::to_value(eff.explain(&p)).context("cannot render the explanation")?
        }
    };
    let mut out = out;
    redact(&mut out, &secrets);
    print_json(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn load_policy(path: &Path) -> Result<Policy, CliError> {
    match Policy::from_path(path) {
        Ok(p) => Ok(p),
        Err(PolicyError::Invalid(issues)) => Err(report(&issues, path)),
        Err(e) => Err(CliError::new(crate::error::chain(&e))),
    }
}

fn diff(old: &Path, new: &Path, show_secrets: bool) -> Result<ExitCode, CliError> {
    match (old.is_dir(), new.is_dir()) {
        (false, false) => {
            let mut a = load_policy(old)?;
            let mut b = load_policy(new)?;
            let secrets = if show_secrets {
                reveal(&mut a, &super::secrets_dir(old))?;
                reveal(&mut b, &super::secrets_dir(new))?;
                Vec::new()
            } else {
                literal_secrets([&a, &b])
            };
            let changes = policy::diff(&a.settings, &b.settings);
            // Serialised directly, so each change reads op, path, old, new.
            let text = serde_json::to_string_pretty(&changes).context("cannot render JSON")?;
            println!("{}", redact_text(&text, &secrets));
            Ok(ExitCode::SUCCESS)
        }
        (true, true) => {
            let mut a = load(old)?;
            let mut b = load(new)?;
            let secrets = if show_secrets {
                reveal_tenant(&mut a, old)?;
                reveal_tenant(&mut b, new)?;
                Vec::new()
            } else {
                literal_secrets(a.policies().chain(b.policies()))
            };
            let ca = EffectiveCache::build(&a).context(format!("{}", old.display()))?;
            let cb = EffectiveCache::build(&b).context(format!("{}", new.display()))?;
            let mut ids: Vec<&DeviceId> = a
                .devices()
                .map(|d| &d.id)
                .chain(b.devices().map(|d| &d.id))
                .collect();
            ids.sort();
            ids.dedup();
            let empty = policy::flat::FlatSettings::new();
            let mut out = std::collections::BTreeMap::new();
            for id in ids {
                let fa = ca
                    .get(id)
                    .map(|e| e.flatten())
                    .unwrap_or_else(|| empty.clone());
                let fb = cb
                    .get(id)
                    .map(|e| e.flatten())
                    .unwrap_or_else(|| empty.clone());
                let changes = policy::diff::diff_flat(&fa, &fb);
                if !changes.is_empty() {
                    out.insert(id.to_string(), changes);
                }
            }
            let text = serde_json::to_string_pretty(&out).context("cannot render JSON")?;
            println!("{}", redact_text(&text, &secrets));
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(CliError::new(
            "diff compares two policy files or two tenant directories, not one of each",
        )),
    }
}

fn keygen(out: &Path) -> Result<ExitCode, CliError> {
    let signer = EnvelopeSigner::generate().context("cannot generate a key")?;
    signing::write_key_file(out, &signer).context(format!("{}", out.display()))?;
    println!("key_id = \"{}\"", signer.id());
    println!("public_key = \"{}\"", signer.public_key().to_hex());
    Ok(ExitCode::SUCCESS)
}

fn sign(
    key: &Path,
    key_id: Option<&str>,
    tenant_dir: &Path,
    policy_file: &Path,
) -> Result<ExitCode, CliError> {
    let key_id = key_id
        .map(KeyId::new)
        .transpose()
        .context("invalid --key-id")?;
    let signer = signing::read_key_file(key, key_id).context(format!("{}", key.display()))?;
    let tenant = load(tenant_dir)?;
    // Refuse a key the tree does not declare: its signature would never
    // verify, better to say so now.
    let declared: Vec<_> = tenant
        .authors()
        .iter()
        .filter(|a| a.key.as_str() == signer.id().as_str())
        .collect();
    if declared.is_empty() {
        return Err(CliError::new(format!(
            "{}: key {} is not declared in the tree ([[author]] key = \"{}\"); pass --key-id if it is declared under another id",
            tenant_dir.display(),
            signer.id(),
            signer.id()
        )));
    }
    if declared
        .iter()
        .any(|a| a.public_key != signer.public_key().0)
    {
        return Err(CliError::new(format!(
            "{}: key {} is declared with another public key than {}",
            tenant_dir.display(),
            signer.id(),
            key.display()
        )));
    }
    let signed = signing::sign_policy_file(policy_file, tenant.id(), &signer)
        .context(format!("{}", policy_file.display()))?;
    let written = signing::write_signature(policy_file, &signed)
        .context(format!("{}", policy_file.display()))?;
    println!("{}", written.display());
    Ok(ExitCode::SUCCESS)
}

fn verify(dir: &Path, json: bool) -> Result<ExitCode, CliError> {
    let tenant = load(dir)?;
    let report = match signing::verify_layers(dir, &tenant) {
        Ok(r) => r,
        Err(SigningError::Rejected { failures }) => {
            if json {
                let v = json!({"ok": false, "tenant": tenant.id(), "requires_signatures": true, "problems": failures});
                print_json(&v)?;
            } else {
                for f in &failures {
                    println!("{f}");
                }
            }
            return Err(CliError::new(format!(
                "{}: {} signature failure{}",
                dir.display(),
                failures.len(),
                if failures.len() == 1 { "" } else { "s" }
            )));
        }
        Err(e) => {
            return Err(CliError::new(format!(
                "{}: {}",
                dir.display(),
                crate::error::chain(&e)
            )));
        }
    };
    if json {
        let mut v = serde_json::to_value(&report).context("cannot render JSON")?;
        if let Value::Object(m) = &mut v {
            m.insert("ok".into(), json!(report.problems.is_empty()));
        }
        print_json(&v)?;
    } else {
        print_layers(&report);
    }
    if report.problems.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError::new(format!(
            "{}: {} signature{} present but not valid",
            dir.display(),
            report.problems.len(),
            if report.problems.len() == 1 { "" } else { "s" }
        )))
    }
}

fn print_layers(report: &LayerReport) {
    for layer in &report.layers {
        let at: Vec<String> = layer.scopes.iter().map(ToString::to_string).collect();
        let at = if at.is_empty() {
            "not assigned".to_owned()
        } else {
            at.join(", ")
        };
        let status = match &layer.status {
            LayerStatus::Signed { key, author, .. } => match author {
                Some(name) => format!("signed by {key} ({name})"),
                None => format!("signed by {key}"),
            },
            LayerStatus::Unsigned => "unsigned".to_owned(),
            _ => "INVALID signature".to_owned(),
        };
        println!("{}: {status} [{at}]", layer.policy);
    }
    for p in &report.problems {
        println!("{p}");
    }
    println!(
        "{}: tenant {}: {} of {} layers signed{}",
        if report.problems.is_empty() {
            "ok"
        } else {
            "failed"
        },
        report.tenant,
        report.signed_count(),
        report.layers.len(),
        if report.requires_signatures {
            ", signatures required"
        } else {
            ""
        }
    );
}
