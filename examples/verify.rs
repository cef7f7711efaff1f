//! Verification rates from a filled human-verification sheet (the NaVAB paper, Appendix B):
//! the Align, Conflict and Unrelated rates per nation × statement set, per nation and overall,
//! each with its 95% Wilson interval.
//!
//!     # the pipeline writes OUT/verification.csv; people put an x in one of align, conflict,
//!     # unrelated on each row, then:
//!     cargo run --release --example verify -- --sheet OUT/verification.csv --json OUT/rates.json

use std::path::PathBuf;

use anyhow::{ensure, Context, Result};
use clap::Parser;

use navab::triples::{read_sheet, verification_rates};

/// Align / Conflict / Unrelated rates of a filled verification sheet.
#[derive(Debug, Parser)]
struct Args {
    /// The filled sheet: CSV as the pipeline writes it (`verification.csv`), or JSONL (a name
    /// ending in .jsonl or .json). Columns id, nation, align, conflict, unrelated; set optional.
    #[arg(long)]
    sheet: PathBuf,
    /// Also write the rates as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    // The sheet's errors name the file, the row and its id.
    let sheet = read_sheet(&args.sheet)?;
    ensure!(
        !sheet.rows.is_empty(),
        "{}: no rows under the header",
        args.sheet.display()
    );
    let report = verification_rates(&sheet)?;
    println!("{}", report.to_markdown());
    println!(
        "{} rows from {}; rates with 95% Wilson intervals",
        sheet.rows.len(),
        args.sheet.display()
    );
    if let Some(path) = &args.json {
        let mut text = serde_json::to_string_pretty(&report)?;
        text.push('\n');
        navab::core::replace_file(path, text.as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        println!("JSON in {}", path.display());
    }
    Ok(())
}
