//! The CLI's own contract: usage errors are one line with exit code 2,
//! help and version go to stdout with exit code 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn mdmkit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_missing_argument_is_one_line_with_exit_code_2() {
    let out = mdmkit(&["ca", "init", "--out", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("mdmkit: "), "{stderr}");
    assert!(stderr.contains("--tenant"), "{stderr}");
}

#[test]
fn an_unknown_subcommand_is_one_line_with_exit_code_2() {
    let out = mdmkit(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}

#[test]
fn help_and_version_succeed_on_stdout() {
    let help = mdmkit(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8(help.stdout).unwrap().contains("Usage"));
    let version = mdmkit(&["--version"]);
    assert_eq!(version.status.code(), Some(0));
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .starts_with("mdmkit ")
    );
}
