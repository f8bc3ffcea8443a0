//! Writes a generated region in the tenant directory format (issue 19's
//! 100,000-device region by default; `mdmkit_benches::directory`):
//!
//! ```sh
//! cargo run --release -p mdmkit-benches --example gen-region -- DIR [--devices N] [--json]
//! target/release/mdmkit policy check DIR
//! ```
//!
//! DIR must not exist or be empty. `--json` writes the inventory as
//! `devices.json` (the loader's fast path for large fleets) instead of
//! `devices.toml`.

use std::path::PathBuf;
use std::process::ExitCode;

use mdmkit_benches::directory::{self, Inventory, Shape};

const USAGE: &str = "usage: gen-region DIR [--devices N] [--json]";

fn main() -> ExitCode {
    let mut dir: Option<PathBuf> = None;
    let mut shape = Shape::REGION;
    let mut inventory = Inventory::Toml;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--devices" => match args.next().map(|n| n.replace(['_', ','], "").parse()) {
                Some(Ok(n)) => shape.devices = n,
                _ => {
                    eprintln!("gen-region: --devices needs a number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "--json" => inventory = Inventory::Json,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if dir.is_none() && !a.starts_with('-') => dir = Some(a.into()),
            _ => {
                eprintln!("gen-region: unexpected argument {a:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let start = std::time::Instant::now();
    match directory::write_with(&dir, &shape, inventory) {
        Ok(r) => {
            println!(
                "{}: {} nodes, {} devices, {} policies; {} files, {} bytes in {:.2?}",
                dir.display(),
                shape.nodes(),
                shape.devices,
                r.policies,
                r.files,
                r.bytes,
                start.elapsed()
            );
            println!(
                "school change: {} ({} devices); status class: {} ({} devices); shared policy: {} ({} devices)",
                r.school,
                r.school_devices,
                r.class,
                r.class_devices,
                directory::SHARED_CHANGE.0,
                r.shared_devices
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-region: {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
