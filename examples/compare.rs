//! One report for many models: reads the `summary.json` of finished `evaluate` runs and writes
//! a Table-2-shaped table with every model as a row (Markdown and CSV) and a heatmap (SVG and PNG).
//!
//!     cargo run --release --example evaluate -- --data NaVAB/ --model A.gguf --out runs/a
//!     cargo run --release --example evaluate -- --data NaVAB/ --model-url http://127.0.0.1:8000/v1 \
//!         --model-name B --out runs/b
//!     cargo run --release --example compare -- runs/a runs/b --out runs/compare

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

use navab::eval::compare::{read_summary, write_comparison};

/// Combine finished evaluation runs into one table and one heatmap.
#[derive(Debug, Parser)]
struct Args {
    /// Run folders written by `evaluate` (each holds a summary.json), one per model.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The method the heatmap shows (the tables show every method).
    #[arg(long, default_value = "paper")]
    method: String,
    /// Output directory: comparison.md, comparison.csv, heatmap.svg, heatmap.png.
    #[arg(long, default_value = "runs/compare")]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let summaries = args
        .runs
        .iter()
        .map(|dir| read_summary(dir).with_context(|| format!("reading run {}", dir.display())))
        .collect::<Result<Vec<_>>>()?;
    write_comparison(&args.out, &summaries, &args.method)?;
    println!(
        "{}",
        std::fs::read_to_string(args.out.join("comparison.md"))?
    );
    println!(
        "{} models compared; comparison.md, comparison.csv, heatmap.svg and heatmap.png in {}",
        summaries.len(),
        args.out.display()
    );
    Ok(())
}
