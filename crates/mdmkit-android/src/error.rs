//! The error tree of mdmkit-android.

/// Everything that can go wrong building or reading AMAPI bodies.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input is larger than the configured limit.
    #[error("input is {len} bytes, larger than the {max}-byte limit")]
    TooLarge {
        /// Its size in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The JSON nests arrays and objects deeper than the configured limit.
    #[error("JSON nests deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Byte offset of the bracket that went over it.
        offset: usize,
    },
    /// The bytes are not JSON of the expected shape.
    #[error("invalid {what} at {path} (line {line}, column {column}): {message}")]
    Json {
        /// What was being read (`Device`, `Operation`, ...).
        what: &'static str,
        /// JSON path of the offending value (`nonComplianceDetails[2].nonComplianceReason`, `.` for the root).
        path: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What serde_json said, without its position.
        message: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Encoding a body as JSON failed (only possible for non-string map keys
    /// in free-form values, which the typed model never produces).
    #[error("cannot encode {what} as JSON")]
    Encode {
        /// What was being written.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// A resource name does not have the shape its kind requires.
    #[error("{kind} name {name:?} is invalid: expected {expected}")]
    InvalidName {
        /// Which kind of name (`device`, `policy`, ...).
        kind: &'static str,
        /// The name given.
        name: String,
        /// The expected shape.
        expected: &'static str,
    },
    /// A command or request body was built with values AMAPI rejects.
    #[error("invalid {what}: {why}")]
    InvalidRequest {
        /// The body being built (`CLEAR_APP_DATA command`, ...).
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A body that should be a JSON object of one kind is of another.
    #[error("{what}: {why}")]
    Unexpected {
        /// What was being read.
        what: &'static str,
        /// What was found instead.
        why: String,
    },
}
