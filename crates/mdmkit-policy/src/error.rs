//! The crate's error tree and the [`Issue`] list that validation returns.

use std::fmt;
use std::path::PathBuf;

use mdmkit_core::DeviceId;

use crate::ids::{AuthorKeyId, NodeId, PolicyId};
use crate::path::SettingPath;

/// What kind of problem an [`Issue`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum IssueKind {
    /// The text is not valid TOML or JSON.
    Syntax,
    /// A size, depth or count limit was exceeded.
    Limit,
    /// A key is unknown or a value has the wrong type.
    Schema,
    /// A value is out of range or inconsistent with another.
    Invalid,
    /// A reference (policy, node, app, certificate) does not resolve.
    Reference,
    /// Two definitions collide (a duplicate id, a lock relaxed below, two
    /// policies of one node disagreeing).
    Conflict,
}

/// One problem found in a document, a tree or an effective policy: what and
/// where (file, line, setting path), so that all of them can be shown at once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Issue {
    /// The kind of problem.
    pub kind: IssueKind,
    /// The file, when the issue comes from a file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// The 1-based line, when the format gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The key path inside the document (`wifi["ECOLE"].password`,
    /// `node["hazebrouck"].parent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<SettingPath>,
    /// What is wrong, lower-case, no trailing period.
    pub message: String,
}

impl Issue {
    /// An issue at a path.
    pub fn at(kind: IssueKind, path: SettingPath, message: impl Into<String>) -> Self {
        Self {
            kind,
            file: None,
            line: None,
            path: Some(path),
            message: message.into(),
        }
    }

    /// An issue about a whole document.
    pub fn whole(kind: IssueKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            file: None,
            line: None,
            path: None,
            message: message.into(),
        }
    }

    /// The same issue, with a line.
    #[must_use]
    pub fn with_line(mut self, line: Option<usize>) -> Self {
        self.line = line;
        self
    }

    /// The same issue, in a file.
    #[must_use]
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}:", file.display())?;
            if let Some(line) = self.line {
                write!(f, "{line}:")?;
            }
            f.write_str(" ")?;
        } else if let Some(line) = self.line {
            write!(f, "line {line}: ")?;
        }
        if let Some(path) = &self.path
            && !path.is_root()
        {
            write!(f, "{path}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every issue found in one pass; never empty when returned as an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Issues(pub Vec<Issue>);

impl Issues {
    /// The issues.
    pub fn iter(&self) -> std::slice::Iter<'_, Issue> {
        self.0.iter()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets the file of every issue that has none.
    pub fn set_file(&mut self, file: &std::path::Path) {
        for i in &mut self.0 {
            if i.file.is_none() {
                i.file = Some(file.to_path_buf());
            }
        }
    }
}

impl IntoIterator for Issues {
    type Item = Issue;
    type IntoIter = std::vec::IntoIter<Issue>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl fmt::Display for Issues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [] => f.write_str("no issue"),
            [one] => write!(f, "{one}"),
            [first, rest @ ..] => write!(f, "{first} (and {} more)", rest.len()),
        }
    }
}

impl std::error::Error for Issues {}

/// Errors of mdmkit-policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A document, tree or inventory is invalid; every issue is listed.
    #[error("invalid: {0}")]
    Invalid(#[source] Issues),
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than the limit.
    #[error("{} is {size} bytes, larger than the {max}-byte limit", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// No device with this id in the tree.
    #[error("unknown device {0}")]
    UnknownDevice(DeviceId),
    /// No node with this id in the tree.
    #[error("unknown node {0}")]
    UnknownNode(NodeId),
    /// No policy with this id in the tree.
    #[error("unknown policy {0}")]
    UnknownPolicy(PolicyId),
    /// A node id is used twice.
    #[error("node {0} already exists")]
    DuplicateNode(NodeId),
    /// A device id is used twice.
    #[error("device {0} already exists")]
    DuplicateDevice(DeviceId),
    /// An author key id is declared again with another public key.
    #[error("author key {0} is already declared with another public key")]
    ConflictingAuthorKey(AuthorKeyId),
    /// A change set does not apply to the settings it is applied to.
    #[error("change set does not apply: {0}")]
    Apply(#[source] ApplyError),
    /// A policy cannot be written as TOML (TOML has no null).
    #[error("cannot write the policy as toml")]
    ToToml(#[source] toml::ser::Error),
}

/// Why a [`ChangeSet`](crate::ChangeSet) does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The old value in the change set is not the current value.
    #[error("{path}: expected the current value to be {expected}, found {found}")]
    Stale {
        /// Where.
        path: SettingPath,
        /// What the change set expected (JSON, or `unset`).
        expected: String,
        /// What the settings hold (JSON, or `unset`).
        found: String,
    },
    /// The result is not valid settings.
    #[error("{0}")]
    Shape(String),
}
