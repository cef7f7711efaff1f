//! Times kNN + UMAP on synthetic Gaussian blobs or an embeddings file, and prints
//! trustworthiness.
//!
//! ```text
//! cargo run --release -p navab-topics --example umap_bench -- --synthetic 20000 --dim 384
//! cargo run --release -p navab-topics --example umap_bench -- --input /work/bbc-emb/articles
//! ```
//!
//! An embeddings file is `X.f32` (little-endian f32, row-major) with a sidecar `X.json`
//! holding `{"rows": n, "dim": d, ...}`; pass the path without the extension.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use navab_topics::knn::{KnnGraph, KnnMethod, KnnParams, Metric};
use navab_topics::umap::{fit, trustworthiness, Init, UmapParams};
use ndarray::{Array2, Axis};
use rand::{rngs::StdRng, Rng, SeedableRng};

#[derive(Parser, Debug)]
#[command(about = "Time kNN + UMAP (navab-topics) on synthetic blobs or an embeddings file")]
struct Args {
    /// Embeddings file prefix: reads PREFIX.f32 and PREFIX.json.
    #[arg(long, conflicts_with = "synthetic")]
    input: Option<PathBuf>,
    /// Number of synthetic points (Gaussian blobs) instead of a file.
    #[arg(long)]
    synthetic: Option<usize>,
    /// Dimension of the synthetic points.
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Number of synthetic blobs.
    #[arg(long, default_value_t = 20)]
    clusters: usize,
    /// Write the synthetic data as PREFIX.f32 + PREFIX.json (to run the reference on it).
    #[arg(long)]
    save_data: Option<PathBuf>,
    /// Write the embedding as PREFIX.f32 + PREFIX.json.
    #[arg(long)]
    out: Option<PathBuf>,
    /// UMAP n_neighbors (self included).
    #[arg(long, default_value_t = 15)]
    n_neighbors: usize,
    /// UMAP output dimensions.
    #[arg(long, default_value_t = 5)]
    n_components: usize,
    /// Metric: cosine or euclidean.
    #[arg(long, default_value = "cosine")]
    metric: String,
    /// kNN method: auto, exact or nndescent.
    #[arg(long, default_value = "auto")]
    knn: String,
    /// Initialisation: spectral, pca or random.
    #[arg(long, default_value = "spectral")]
    init: String,
    /// Epochs (default: 500 up to 10,000 points, 200 above).
    #[arg(long)]
    epochs: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Neighbours for trustworthiness.
    #[arg(long, default_value_t = 10)]
    trust_k: usize,
    /// Most points used for trustworthiness (a seeded sample above it; 0 = skip).
    #[arg(long, default_value_t = 12000)]
    trust_sample: usize,
    /// Also build the exact kNN graph and report NN-descent's recall against it.
    #[arg(long)]
    recall: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (data, source) = match (&args.input, args.synthetic) {
        (Some(prefix), _) => (read_embeddings(prefix)?, prefix.display().to_string()),
        (None, Some(n)) => (
            blobs(n, args.dim, args.clusters, args.seed),
            format!(
                "synthetic blobs {n} x {} ({} clusters)",
                args.dim, args.clusters
            ),
        ),
        (None, None) => bail!("pass --input PREFIX or --synthetic N"),
    };
    if let Some(prefix) = &args.save_data {
        write_matrix(prefix, &data)?;
    }
    let metric = match args.metric.as_str() {
        "cosine" => Metric::Cosine,
        "euclidean" => Metric::Euclidean,
        m => bail!("unknown metric {m}"),
    };
    let knn_method = match args.knn.as_str() {
        "auto" => KnnMethod::Auto,
        "exact" => KnnMethod::Exact,
        "nndescent" => KnnMethod::NnDescent,
        m => bail!("unknown kNN method {m}"),
    };
    let init = match args.init.as_str() {
        "spectral" => Init::Spectral,
        "pca" => Init::Pca,
        "random" => Init::Random,
        m => bail!("unknown init {m}"),
    };
    let threads = args.threads.unwrap_or_else(rayon_threads);
    println!(
        "data: {source}: {} x {}; threads {threads}",
        data.nrows(),
        data.ncols()
    );
    let params = UmapParams::default()
        .n_neighbors(args.n_neighbors)
        .n_components(args.n_components)
        .metric(metric)
        .knn_method(knn_method)
        .init(init)
        .n_epochs(args.epochs)
        .seed(args.seed)
        .threads(args.threads);
    let t = Instant::now();
    let fit = fit(data.view(), &params)?;
    let total = t.elapsed();
    let tm = fit.timings;
    println!(
        "kNN ({:?}) {:.3} s | graph {:.3} s | init ({:?}) {:.3} s | SGD ({} epochs, {} edges) {:.3} s | total {:.3} s",
        fit.knn_method,
        tm.knn.as_secs_f64(),
        tm.graph.as_secs_f64(),
        fit.init_used,
        tm.init.as_secs_f64(),
        fit.n_epochs,
        fit.n_edges,
        tm.optimize.as_secs_f64(),
        total.as_secs_f64()
    );
    for note in &fit.notes {
        println!("note: {note}");
    }
    if args.recall {
        let base = KnnParams::new(fit.n_neighbors)
            .metric(metric)
            .seed(args.seed)
            .threads(args.threads);
        let t = Instant::now();
        let approx = KnnGraph::build(data.view(), &base.clone().method(KnnMethod::NnDescent))?;
        let t_approx = t.elapsed();
        let t = Instant::now();
        let exact = KnnGraph::build(data.view(), &base.method(KnnMethod::Exact))?;
        let t_exact = t.elapsed();
        println!(
            "kNN exact {:.3} s, NN-descent {:.3} s, recall {:.4}",
            t_exact.as_secs_f64(),
            t_approx.as_secs_f64(),
            approx.recall(&exact)?
        );
    }
    if args.trust_sample > 0 {
        let n = data.nrows();
        let rows: Vec<usize> = if n > args.trust_sample {
            let mut rng = StdRng::seed_from_u64(7);
            let mut all: Vec<usize> = (0..n).collect();
            for i in 0..args.trust_sample {
                let j = rng.random_range(i..n);
                all.swap(i, j);
            }
            let mut s = all[..args.trust_sample].to_vec();
            s.sort_unstable();
            s
        } else {
            (0..n).collect()
        };
        let mut high = data.select(Axis(0), &rows);
        if metric == Metric::Cosine {
            for mut r in high.rows_mut() {
                let norm = r.dot(&r).sqrt();
                r.mapv_inplace(|v| v / norm);
            }
        }
        let low = fit.embedding.select(Axis(0), &rows);
        let t = Instant::now();
        let tw = trustworthiness(high.view(), low.view(), args.trust_k)?;
        println!(
            "trustworthiness@{} on {} points: {tw:.4} ({:.2} s)",
            args.trust_k,
            rows.len(),
            t.elapsed().as_secs_f64()
        );
    }
    if let Some(prefix) = &args.out {
        write_matrix(prefix, &fit.embedding)?;
    }
    Ok(())
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Gaussian blobs: centres N(0, 1) per coordinate, points at the centre plus N(0, 0.3²) noise.
fn blobs(n: usize, dim: usize, clusters: usize, seed: u64) -> Array2<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut normal = move || {
        let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    };
    let centres = Array2::from_shape_fn((clusters.max(1), dim), |_| normal());
    Array2::from_shape_fn((n, dim), |(i, j)| {
        centres[(i % clusters.max(1), j)] + 0.3 * normal()
    })
}

fn read_embeddings(prefix: &std::path::Path) -> anyhow::Result<Array2<f32>> {
    let json_path = prefix.with_extension("json");
    let f32_path = prefix.with_extension("f32");
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&json_path).with_context(|| json_path.display().to_string())?,
    )
    .with_context(|| json_path.display().to_string())?;
    let rows = meta["rows"]
        .as_u64()
        .with_context(|| format!("{}: no \"rows\"", json_path.display()))? as usize;
    let dim = meta["dim"]
        .as_u64()
        .with_context(|| format!("{}: no \"dim\"", json_path.display()))? as usize;
    let bytes = std::fs::read(&f32_path).with_context(|| f32_path.display().to_string())?;
    if bytes.len() != rows * dim * 4 {
        bail!(
            "{}: {} bytes, expected rows {rows} x dim {dim} x 4",
            f32_path.display(),
            bytes.len()
        );
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok(Array2::from_shape_vec((rows, dim), values)?)
}

fn write_matrix(prefix: &std::path::Path, m: &Array2<f32>) -> anyhow::Result<()> {
    let bytes: Vec<u8> = m.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(prefix.with_extension("f32"), bytes)?;
    let meta = serde_json::json!({"rows": m.nrows(), "dim": m.ncols()});
    std::fs::write(prefix.with_extension("json"), serde_json::to_vec(&meta)?)?;
    Ok(())
}
