//! Writes the generated files; see the library docs.

use std::process::ExitCode;

fn main() -> ExitCode {
    let schema = mdmkit_apple_codegen::default_schema_dir();
    let out = mdmkit_apple_codegen::default_output_dir();
    let inputs = match mdmkit_apple_codegen::read_schema(&schema) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("mdmkit-apple-codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let files = match mdmkit_apple_codegen::generate_from_texts(&inputs) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("mdmkit-apple-codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("mdmkit-apple-codegen: {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in &files {
        let path = out.join(name);
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("mdmkit-apple-codegen: {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let manifest = match mdmkit_apple_codegen::build_manifest(&inputs, &files) {
        Ok(m) => m.to_text("cargo run -p mdmkit-apple-codegen"),
        Err(e) => {
            eprintln!("mdmkit-apple-codegen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let path = mdmkit_apple_codegen::manifest_path();
    if let Err(e) = std::fs::write(&path, manifest) {
        eprintln!("mdmkit-apple-codegen: {}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} files to {} and {}",
        files.len(),
        out.display(),
        path.display()
    );
    ExitCode::SUCCESS
}
