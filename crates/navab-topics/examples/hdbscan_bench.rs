//! Times HDBSCAN stage by stage on synthetic Gaussian blobs or on a points file.
//!
//! ```text
//! cargo run --release -p navab-topics --example hdbscan_bench -- --n 100000
//! cargo run --release -p navab-topics --example hdbscan_bench -- --input /work/bbc-emb/umap5.f32 --write-labels ours.txt
//! ```
//!
//! A points file is raw little-endian f32, row-major, with a sidecar `.json` of the same stem:
//! `{"rows": n, "dim": d, "ids": [...], "labels": [...]}` (`ids` and `labels` optional). When
//! labels are present (in the file or from the synthetic generator) the ARI and NMI of the
//! clustering against them are printed. `--write-labels` writes one label per line, -1 for
//! noise, for `scripts/reference/hdbscan_ref.py`.

use anyhow::{bail, Context, Result};
use clap::Parser;
use navab_topics::hdbscan::{
    condense_tree, core_distances, extract_clusters, mutual_reachability_mst, single_linkage,
    ClusterSelection, HdbscanParams, KdTree,
};
use navab_topics::metrics::{adjusted_rand_index, normalized_mutual_info};
use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(
    about = "Time HDBSCAN (kd-tree Borůvka) stage by stage on synthetic blobs or a points file"
)]
struct Args {
    /// Number of synthetic points (ignored with --input).
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Dimension of the synthetic points.
    #[arg(long, default_value_t = 5)]
    dim: usize,
    /// Number of synthetic blobs.
    #[arg(long, default_value_t = 20)]
    blobs: usize,
    /// Fraction of synthetic points drawn uniformly (planted noise).
    #[arg(long, default_value_t = 0.05)]
    noise: f64,
    /// Seed of the synthetic data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A points file (raw little-endian f32, row-major) with a sidecar .json; replaces the
    /// synthetic data.
    #[arg(long)]
    input: Option<PathBuf>,
    /// min_cluster_size (the NaVAB authors' code: 50; their paper's Table 4: 200).
    #[arg(long, default_value_t = 50)]
    min_cluster_size: usize,
    /// min_samples (default: min_cluster_size).
    #[arg(long)]
    min_samples: Option<usize>,
    /// Cluster selection: eom or leaf.
    #[arg(long, default_value = "eom")]
    selection: String,
    /// Points per kd-tree leaf.
    #[arg(long, default_value_t = 64)]
    leaf_size: usize,
    /// Worker threads (0 = every core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Write the (synthetic) points here in the input format (raw f32 + sidecar .json with the
    /// generator's labels), so another implementation can cluster the same points.
    #[arg(long)]
    write_points: Option<PathBuf>,
    /// Write the labels here, one per line, -1 for noise.
    #[arg(long)]
    write_labels: Option<PathBuf>,
}

/// Points plus optional reference labels (as strings, so any label type compares).
fn read_points(path: &PathBuf) -> Result<(Array2<f32>, Option<Vec<String>>)> {
    let sidecar = path.with_extension("json");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&sidecar)
            .with_context(|| format!("reading {}", sidecar.display()))?,
    )
    .with_context(|| format!("parsing {}", sidecar.display()))?;
    let rows = meta["rows"]
        .as_u64()
        .with_context(|| format!("{}: no integer \"rows\"", sidecar.display()))?
        as usize;
    let dim = meta["dim"]
        .as_u64()
        .with_context(|| format!("{}: no integer \"dim\"", sidecar.display()))?
        as usize;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() != rows * dim * 4 {
        bail!(
            "{}: {} bytes, expected rows {rows} x dim {dim} x 4",
            path.display(),
            bytes.len()
        );
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let labels = match meta.get("labels").and_then(|l| l.as_array()) {
        Some(list) if list.len() == rows => Some(
            list.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>(),
        ),
        Some(list) if !list.is_empty() => bail!(
            "{}: {} labels for {rows} rows",
            sidecar.display(),
            list.len()
        ),
        _ => None,
    };
    Ok((Array2::from_shape_vec((rows, dim), values)?, labels))
}

/// Writes points as raw little-endian f32 plus the sidecar `.json`.
fn write_points(path: &PathBuf, data: &Array2<f32>, labels: Option<&[String]>) -> Result<()> {
    let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    let ids: Vec<String> = (0..data.nrows()).map(|i| i.to_string()).collect();
    let meta = serde_json::json!({"rows": data.nrows(), "dim": data.ncols(), "ids": ids, "labels": labels.unwrap_or(&[])});
    let sidecar = path.with_extension("json");
    std::fs::write(&sidecar, meta.to_string())
        .with_context(|| format!("writing {}", sidecar.display()))?;
    Ok(())
}

/// `blobs` Gaussian blobs of random sizes and spreads in a box, plus uniform noise.
fn synthetic(args: &Args) -> (Array2<f32>, Vec<String>) {
    let mut rng = StdRng::seed_from_u64(args.seed);
    let side = 10.0 * (args.blobs as f64).powf(1.0 / args.dim as f64);
    let centres: Vec<Vec<f64>> = (0..args.blobs)
        .map(|_| (0..args.dim).map(|_| rng.random_range(0.0..side)).collect())
        .collect();
    let spreads: Vec<f64> = (0..args.blobs)
        .map(|_| rng.random_range(0.3..1.0))
        .collect();
    let weights: Vec<f64> = (0..args.blobs)
        .map(|_| rng.random_range(0.5..2.0))
        .collect();
    let total: f64 = weights.iter().sum();
    let mut data = Array2::zeros((args.n, args.dim));
    let mut labels = Vec::with_capacity(args.n);
    for (row, mut point) in data.outer_iter_mut().enumerate() {
        if (row as f64) < args.noise * args.n as f64 {
            point
                .iter_mut()
                .for_each(|v| *v = rng.random_range(-5.0..side + 5.0) as f32);
            labels.push("noise".to_string());
            continue;
        }
        let mut pick = rng.random_range(0.0..total);
        let blob = weights.iter().position(|&w| {
            pick -= w;
            pick < 0.0
        });
        let blob = blob.unwrap_or(args.blobs - 1);
        for (v, c) in point.iter_mut().zip(&centres[blob]) {
            let u1: f64 = rng.random_range(f64::EPSILON..1.0);
            let u2: f64 = rng.random();
            let g = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            *v = (c + spreads[blob] * g) as f32;
        }
        labels.push(blob.to_string());
    }
    (data, labels)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let (data, truth) = match &args.input {
        Some(path) => read_points(path)?,
        None => {
            let (d, l) = synthetic(&args);
            (d, Some(l))
        }
    };
    if let Some(path) = &args.write_points {
        write_points(path, &data, truth.as_deref())?;
        println!("points written to {} (+ .json)", path.display());
    }
    let cluster_selection = match args.selection.as_str() {
        "eom" => ClusterSelection::Eom,
        "leaf" => ClusterSelection::Leaf,
        other => bail!("--selection {other}: expected eom or leaf"),
    };
    let params = HdbscanParams {
        min_cluster_size: args.min_cluster_size,
        min_samples: args.min_samples,
        cluster_selection,
        threads: args.threads,
        leaf_size: args.leaf_size,
        ..HdbscanParams::default()
    };
    params.check()?;
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        args.threads
    };
    println!(
        "{} points x {} dims, min_cluster_size {}, min_samples {}, {:?}, {threads} threads",
        data.nrows(),
        data.ncols(),
        params.min_cluster_size,
        params.effective_min_samples(),
        params.cluster_selection
    );
    let start = Instant::now();
    let mut last = Instant::now();
    let mut lap = |stage: &str| {
        println!("  {stage:<16} {:>8.3} s", last.elapsed().as_secs_f64());
        last = Instant::now();
    };
    let tree = KdTree::new(data.view(), params.leaf_size)?;
    lap("kd-tree");
    let core = core_distances(&tree, params.effective_min_samples(), params.threads);
    lap("core distances");
    let mst = mutual_reachability_mst(&tree, &core, params.threads)?;
    lap("Borůvka MST");
    let linkage = single_linkage(data.nrows(), &mst);
    lap("single linkage");
    let condensed = condense_tree(data.nrows(), &linkage, params.min_cluster_size);
    lap("condensed tree");
    let clustering = extract_clusters(condensed, &params);
    lap("selection");
    println!("  {:<16} {:>8.3} s", "total", start.elapsed().as_secs_f64());
    println!(
        "clusters: {}, noise fraction: {:.4}",
        clustering.n_clusters,
        clustering.noise_fraction()
    );
    if let Some(truth) = &truth {
        let labels = clustering.labels_i64();
        println!(
            "against the reference labels: ARI {:.4}, NMI {:.4}",
            adjusted_rand_index(truth, &labels)?,
            normalized_mutual_info(truth, &labels)?
        );
    }
    if let Some(path) = &args.write_labels {
        let text: String = clustering
            .labels_i64()
            .iter()
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("labels written to {}", path.display());
    }
    Ok(())
}
