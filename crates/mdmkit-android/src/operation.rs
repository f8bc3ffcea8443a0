//! Reading the `Operation` that `devices.issueCommand` returns (and that
//! `operations.get` and Pub/Sub COMMAND notifications deliver) into what
//! happened to the command.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Error;
use crate::model::{
    Command, CommandErrorCode, CommandType, Operation, PerAppResultClearingResult,
    StartLostModeStatusStatus, StopLostModeStatusStatus,
};
use crate::names::OperationName;
use crate::remedy::{Remedy, RpcCode};

/// The `@type` Google puts in the metadata of a command operation.
pub const COMMAND_METADATA_TYPE: &str =
    "type.googleapis.com/google.android.devicemanagement.v1.Command";

/// Where a command stands.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CommandState {
    /// Not done yet: the device has not executed it.
    Pending,
    /// Done, and the device reported success.
    Succeeded,
    /// Done, and it did not (fully) take effect.
    Failed(CommandFailure),
}

/// Why a command did not take effect.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandFailure {
    /// The operation's RPC status, when it carried an error.
    pub code: Option<RpcCode>,
    /// Google's message (for logs).
    pub message: String,
    /// The command's own error code, when set.
    pub error_code: Option<CommandErrorCode>,
    /// For CLEAR_APP_DATA, the apps whose data was not cleared.
    pub failed_packages: BTreeMap<String, PerAppResultClearingResult>,
    /// What to do about it.
    pub remedy: Remedy,
}

/// What an `Operation` says about a command.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandOutcome {
    /// The operation's name, when it has a well-formed one.
    pub name: Option<OperationName>,
    /// The command from the metadata, when present.
    pub command: Option<Command>,
    /// Where the command stands.
    pub state: CommandState,
}

impl CommandOutcome {
    /// Reads an operation.
    pub fn from_operation(op: &Operation) -> Result<Self, Error> {
        let name = op
            .name
            .as_deref()
            .and_then(|n| OperationName::parse(n).ok());
        let command = match &op.metadata {
            Some(meta) => Some(command_from_metadata(meta)?),
            None => None,
        };
        let state = if op.done != Some(true) {
            CommandState::Pending
        } else if let Some(status) = &op.error {
            let code = RpcCode::from_i32(status.code.unwrap_or(2));
            let error_code = command.as_ref().and_then(|c| c.error_code.clone());
            CommandState::Failed(CommandFailure {
                code: Some(code),
                message: status.message.clone().unwrap_or_default(),
                remedy: error_code
                    .as_ref()
                    .map_or(code.remedy(), command_error_remedy),
                error_code,
                failed_packages: BTreeMap::new(),
            })
        } else {
            command
                .as_ref()
                .map_or(CommandState::Succeeded, state_of_done_command)
        };
        Ok(Self {
            name,
            command,
            state,
        })
    }

    /// Parses an operation from JSON and reads it.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        Self::from_operation(&crate::parse::operation(bytes)?)
    }

    /// The command's type, when the metadata names it.
    pub fn command_type(&self) -> Option<&CommandType> {
        self.command.as_ref().and_then(|c| c.r#type.as_ref())
    }

    /// Whether the operation is finished (successfully or not).
    pub fn is_done(&self) -> bool {
        !matches!(self.state, CommandState::Pending)
    }
}

/// What to do about a command error code.
pub fn command_error_remedy(code: &CommandErrorCode) -> Remedy {
    match code {
        CommandErrorCode::ApiLevel
        | CommandErrorCode::ManagementMode
        | CommandErrorCode::Unsupported => Remedy::Unsupported,
        CommandErrorCode::InvalidValue => Remedy::FixPolicy,
        _ => Remedy::Retry,
    }
}

fn command_from_metadata(meta: &BTreeMap<String, Value>) -> Result<Command, Error> {
    let mut map = serde_json::Map::new();
    for (k, v) in meta {
        if k != "@type" {
            map.insert(k.clone(), v.clone());
        }
    }
    serde_path_to_error::deserialize(Value::Object(map)).map_err(|e| {
        let path = format!("metadata.{}", e.path());
        let source = e.into_inner();
        Error::Json {
            what: "Operation",
            path,
            line: 0,
            column: 0,
            message: source.to_string(),
            source,
        }
    })
}

fn state_of_done_command(c: &Command) -> CommandState {
    let fail = |message: String, remedy: Remedy| {
        CommandState::Failed(CommandFailure {
            code: None,
            message,
            error_code: c.error_code.clone(),
            failed_packages: BTreeMap::new(),
            remedy,
        })
    };
    if let Some(code) = &c.error_code
        && *code != CommandErrorCode::CommandErrorCodeUnspecified
    {
        return fail(format!("command error {code}"), command_error_remedy(code));
    }
    if let Some(results) = c
        .clear_apps_data_status
        .as_ref()
        .and_then(|s| s.results.as_ref())
    {
        let failed: BTreeMap<String, PerAppResultClearingResult> = results
            .iter()
            .filter_map(|(pkg, r)| {
                let res = r.clearing_result.clone()?;
                (res != PerAppResultClearingResult::Success).then(|| (pkg.clone(), res))
            })
            .collect();
        if !failed.is_empty() {
            let remedy = if failed.values().all(|r| {
                *r == PerAppResultClearingResult::ApiLevel
                    || *r == PerAppResultClearingResult::AppProtected
            }) {
                Remedy::Unsupported
            } else {
                Remedy::FixPolicy
            };
            return CommandState::Failed(CommandFailure {
                code: None,
                message: format!("data of {} app(s) not cleared", failed.len()),
                error_code: None,
                failed_packages: failed,
                remedy,
            });
        }
    }
    if let Some(s) = c
        .start_lost_mode_status
        .as_ref()
        .and_then(|s| s.status.as_ref())
    {
        match s {
            StartLostModeStatusStatus::Success | StartLostModeStatusStatus::StatusUnspecified => {}
            StartLostModeStatusStatus::AlreadyInLostMode => {}
            other => return fail(format!("lost mode not started: {other}"), Remedy::Retry),
        }
    }
    if let Some(s) = c
        .stop_lost_mode_status
        .as_ref()
        .and_then(|s| s.status.as_ref())
        && !matches!(
            s,
            StopLostModeStatusStatus::Success
                | StopLostModeStatusStatus::StatusUnspecified
                | StopLostModeStatusStatus::NotInLostMode
        )
    {
        return fail(format!("lost mode not stopped: {s}"), Remedy::Retry);
    }
    CommandState::Succeeded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_operation_is_pending_with_its_command() {
        let o = CommandOutcome::parse(br#"{"name":"enterprises/e1/devices/d1/operations/17","metadata":{"@type":"type.googleapis.com/google.android.devicemanagement.v1.Command","type":"LOCK","createTime":"2026-11-28T10:00:00Z","duration":"600s"}}"#).unwrap();
        assert_eq!(o.state, CommandState::Pending);
        assert_eq!(o.command_type(), Some(&CommandType::Lock));
        assert_eq!(o.name.unwrap().device().id(), "d1");
    }

    #[test]
    fn a_failed_operation_reports_code_and_remedy() {
        let o = CommandOutcome::parse(br#"{"name":"enterprises/e1/devices/d1/operations/18","done":true,"error":{"code":9,"message":"device refused"},"metadata":{"type":"REBOOT","errorCode":"MANAGEMENT_MODE"}}"#).unwrap();
        let CommandState::Failed(f) = o.state else {
            panic!("not failed")
        };
        assert_eq!(f.code, Some(RpcCode::FailedPrecondition));
        assert_eq!(f.error_code, Some(CommandErrorCode::ManagementMode));
        assert_eq!(f.remedy, Remedy::Unsupported);
    }

    #[test]
    fn clear_app_data_with_a_missing_app_is_a_partial_failure() {
        let o = CommandOutcome::parse(br#"{"done":true,"metadata":{"type":"CLEAR_APP_DATA","clearAppsDataParams":{"packageNames":["a.b","c.d"]},"clearAppsDataStatus":{"results":{"a.b":{"clearingResult":"SUCCESS"},"c.d":{"clearingResult":"APP_NOT_FOUND"}}}}}"#).unwrap();
        let CommandState::Failed(f) = o.state else {
            panic!("not failed")
        };
        assert_eq!(f.failed_packages.len(), 1);
        assert_eq!(
            f.failed_packages["c.d"],
            PerAppResultClearingResult::AppNotFound
        );
    }

    #[test]
    fn a_done_operation_without_error_succeeded() {
        let o = CommandOutcome::parse(br#"{"done":true,"metadata":{"type":"STOP_LOST_MODE","stopLostModeStatus":{"status":"NOT_IN_LOST_MODE"}}}"#).unwrap();
        assert_eq!(o.state, CommandState::Succeeded);
    }

    #[test]
    fn malformed_metadata_is_reported_with_its_path() {
        let e = CommandOutcome::parse(
            br#"{"done":true,"metadata":{"type":"LOCK","duration":"ten minutes"}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("metadata.duration"), "{e}");
    }
}
