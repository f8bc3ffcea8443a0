//! Helpers shared by the command-line tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `mdmkit` binary built for these tests.
pub(crate) fn mdmkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mdmkit"))
        .args(args)
        .output()
        .unwrap()
}

/// The committed example region.
pub(crate) fn region() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/region")
}

/// A command's standard output, as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's standard error, as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Copies a directory tree (to edit a copy of the example region).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}
