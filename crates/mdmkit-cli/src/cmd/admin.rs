//! `mdmkit admin token create|list|revoke DIR`: the bearer tokens of the
//! admin API, each scoped to a node of the tenant's tree with a role.
//!
//! A token is printed once, when it is created; the store keeps only its
//! SHA-256. These verbs may run while `mdmkit serve` serves the same store.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use mdmkit::access::{self, Role};
use mdmkit::policy::{NodeId, Tenant};
use mdmkit::queue::{Clock as _, SystemClock};
use mdmkit::state::StateStore;

use super::reconcile::{location, open_stores, runtime};
use crate::error::{CliError, Context};

/// `mdmkit admin`.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Admin API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `mdmkit admin token`.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Creates a token for a node and a role; prints it once.
    Create(CreateArgs),
    /// Lists a tenant's tokens (never their secrets).
    List(ListArgs),
    /// Revokes a token by its id.
    Revoke(RevokeArgs),
}

/// Where the tenant and its store are (the first argument and `--store`
/// of every operator verb).
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The tenant directory.
    pub(crate) dir: PathBuf,
    /// `postgres://...` instead of the embedded store.
    #[arg(long, value_name = "URL")]
    pub(crate) store: Option<String>,
}

impl StoreArgs {
    /// The tenant's tree.
    pub(crate) fn tree(&self) -> Result<Tenant, CliError> {
        super::policy::load(&self.dir)
    }

    /// A node of the tenant's tree, named on the command line as `flag`.
    pub(crate) fn node(&self, tree: &Tenant, flag: &str, name: &str) -> Result<NodeId, CliError> {
        let node: NodeId = name
            .parse()
            .map_err(|e| CliError::with_code(2, format!("{flag} {name:?}: {e}")))?;
        if tree.node(&node).is_none() {
            return Err(CliError::new(format!(
                "{flag} {node}: no such node in {}",
                self.dir.display()
            )));
        }
        Ok(node)
    }

    /// Opens the tenant's state store and runs `f` on it.
    pub(crate) fn with_state<T>(
        &self,
        f: impl AsyncFnOnce(&dyn StateStore) -> Result<T, CliError>,
    ) -> Result<T, CliError> {
        let loc = location(&self.dir, self.store.as_ref())?;
        runtime()?.block_on(async {
            let (_, state) = open_stores(&loc).await?;
            f(&*state).await
        })
    }
}

/// `mdmkit admin token create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    at: StoreArgs,
    /// The node the token may see and act on (and everything below it).
    #[arg(long, value_name = "NODE")]
    node: String,
    /// enroll, read, operate or author.
    #[arg(long, value_name = "ROLE")]
    role: String,
    /// A note for whom the token is.
    #[arg(long)]
    label: Option<String>,
    /// Print `{"token": ..., "id": ..., "node": ..., "role": ...}`.
    #[arg(long)]
    json: bool,
}

/// `mdmkit admin token list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    at: StoreArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// `mdmkit admin token revoke`.
#[derive(Debug, Args)]
pub(crate) struct RevokeArgs {
    #[command(flatten)]
    at: StoreArgs,
    /// The token's id (the part after `mdmkit_`, 16 hex characters).
    id: String,
}

pub(crate) fn run(cmd: AdminCommand) -> Result<ExitCode, CliError> {
    match cmd {
        AdminCommand::Token(TokenCommand::Create(a)) => create(a),
        AdminCommand::Token(TokenCommand::List(a)) => list(a),
        AdminCommand::Token(TokenCommand::Revoke(a)) => revoke(a),
    }
}

fn create(a: CreateArgs) -> Result<ExitCode, CliError> {
    let tree = a.at.tree()?;
    let node = a.at.node(&tree, "--node", &a.node)?;
    let role: Role = a
        .role
        .parse()
        .map_err(|e| CliError::with_code(2, format!("--role: {e}")))?;
    let issued = access::issue(tree.id().clone(), node, role, a.label, SystemClock.now());
    a.at.with_state(async |state| {
        state
            .put_token(&issued.token)
            .await
            .context("storing the token")
    })?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "token": issued.bearer,
                "id": issued.token.id,
                "tenant": issued.token.tenant,
                "node": issued.token.node,
                "role": issued.token.role,
            })
        );
    } else {
        println!("{}", issued.bearer);
        eprintln!(
            "mdmkit: token {} for {} at node {} (role {}); it is shown only now",
            issued.token.id,
            issued.token.tenant,
            issued.token.node,
            role.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list(a: ListArgs) -> Result<ExitCode, CliError> {
    let tree = a.at.tree()?;
    let tokens =
        a.at.with_state(async |state| state.tokens(tree.id()).await.context("reading the tokens"))?;
    if a.json {
        let v: Vec<_> = tokens
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id, "node": t.node, "role": t.role, "label": t.label,
                    "created_at": t.created_at.as_millis(), "revoked": t.revoked,
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(v));
    } else {
        for t in &tokens {
            println!(
                "{}\t{}\t{}\t{}{}",
                t.id,
                t.node,
                t.role.as_str(),
                t.label.as_deref().unwrap_or("-"),
                if t.revoked { "\trevoked" } else { "" }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(a: RevokeArgs) -> Result<ExitCode, CliError> {
    let tree = a.at.tree()?;
    a.at.with_state(async |state| {
        let mut t = state
            .token(tree.id(), &a.id)
            .await
            .context("reading the token")?
            .ok_or_else(|| CliError::new(format!("no token {:?}", a.id)))?;
        t.revoked = true;
        state.put_token(&t).await.context("storing the token")
    })?;
    println!("revoked {}", a.id);
    Ok(ExitCode::SUCCESS)
}
