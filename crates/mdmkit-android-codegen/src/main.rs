//! Regenerates `crates/mdmkit-android/src/model/gen_*` from
//! `../shared/android-management/androidmanagement.v1.json` (relative to the
//! workspace root), or from the discovery document given as the first
//! argument.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let discovery = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            here.join("../../../shared/android-management/androidmanagement.v1.json")
        });
    let crate_dir = here.join("../mdmkit-android");
    let text = match std::fs::read_to_string(&discovery) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("mdmkit-android-codegen: {}: {e}", discovery.display());
            return ExitCode::FAILURE;
        }
    };
    let files = match mdmkit_android_codegen::generate(&text) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mdmkit-android-codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    for file in &files {
        let path = crate_dir.join(file.path);
        if let Err(e) = std::fs::write(&path, &file.contents) {
            eprintln!("mdmkit-android-codegen: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("wrote {} ({} bytes)", path.display(), file.contents.len());
    }
    let manifest = match mdmkit_android_codegen::build_manifest(&text, &files) {
        Ok(m) => m.to_text("cargo run -p mdmkit-android-codegen"),
        Err(e) => {
            eprintln!("mdmkit-android-codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = mdmkit_android_codegen::manifest_path();
    if let Err(e) = std::fs::write(&path, manifest) {
        eprintln!("mdmkit-android-codegen: {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}
