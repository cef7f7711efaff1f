//! Conflict Reduction on a synthetic corpus: time per stage and recall/precision of removing
//! planted contradictions.
//!
//! ```text
//! cargo run --release -p navab-conflict --example conflict_bench -- --help
//! ```
//!
//! Statements come in clusters (one issue each): a random unit centre plus Gaussian noise, so
//! members of a cluster have cosine ~0.8 and clusters are near-orthogonal. In each cluster a
//! seeded fraction holds the reverse stance (the planted contradictions). The judge knows the
//! truth (same cluster: agree if same stance, conflict otherwise; other clusters: unrelated)
//! and flips a seeded fraction of its agreements into conflicts, which makes unbalanced cycles.

use std::time::Instant;

use clap::Parser;
use navab_conflict::{
    reduce_conflicts, CandidatePair, ConflictParams, Corpus, Relation, RelationJudge, Statement,
};
use rand::{Rng, SeedableRng};

#[derive(Parser)]
#[command(about = "Benchmark Conflict Reduction on a seeded synthetic corpus")]
struct Args {
    /// Statements.
    #[arg(long, default_value_t = 26_000)]
    n: usize,
    /// Embedding dimension (384: bge-small, the paper's English/Chinese embedders).
    #[arg(long, default_value_t = 384)]
    dim: usize,
    /// Statements per cluster (issue).
    #[arg(long, default_value_t = 50)]
    cluster_size: usize,
    /// Fraction of each cluster holding the reverse stance.
    #[arg(long, default_value_t = 0.1)]
    planted: f64,
    /// Fraction of agreements the judge wrongly calls conflicts.
    #[arg(long, default_value_t = 0.01)]
    noise: f64,
    /// Neighbours per statement.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Judges by the planted truth, with seeded noise keyed by the pair (not by call order).
struct TruthJudge {
    cluster: Vec<usize>,
    reverse: Vec<bool>,
    noise: f64,
    seed: u64,
}

fn index(s: &Statement) -> usize {
    s.id[1..].parse().expect("ids are s<index>")
}

impl RelationJudge for TruthJudge {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<navab_conflict::Result<Relation>> {
        pairs
            .iter()
            .map(|p| {
                let (a, b) = (index(p.first), index(p.second));
                Ok(if self.cluster[a] != self.cluster[b] {
                    Relation::Unrelated
                } else if self.reverse[a] != self.reverse[b] {
                    Relation::Conflict
                } else {
                    let h = splitmix(self.seed ^ ((a as u64) << 32 | b as u64));
                    if (h >> 11) as f64 / (1u64 << 53) as f64 <= self.noise {
                        Relation::Conflict
                    } else {
                        Relation::Agree
                    }
                })
            })
            .collect()
    }
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

fn gaussian(rng: &mut impl Rng) -> f32 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let clusters = args.n.div_ceil(args.cluster_size);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..args.dim).map(|_| gaussian(&mut rng)).collect())
        .collect();
    let mut flat = Vec::with_capacity(args.n * args.dim);
    let (mut cluster, mut reverse) = (Vec::new(), Vec::new());
    let mut corpus = Corpus::default();
    for i in 0..args.n {
        let c = i % clusters;
        let centre = &centres[c];
        let norm = centre.iter().map(|x| x * x).sum::<f32>().sqrt();
        // Noise of norm ~0.5 around a unit centre: cosine ~0.8 within a cluster.
        let scale = 0.5 / (args.dim as f32).sqrt();
        flat.extend(centre.iter().map(|x| x / norm + scale * gaussian(&mut rng)));
        cluster.push(c);
        reverse.push(rng.random_bool(args.planted));
        corpus
            .statements
            .push(Statement::new(format!("s{i}"), format!("statement {i}")));
    }
    let embeddings = corpus.embeddings_from_flat(&flat, args.dim)?;
    let judge = TruthJudge {
        cluster,
        reverse,
        noise: args.noise,
        seed: args.seed,
    };
    let params = ConflictParams {
        k: args.k,
        ..ConflictParams::default()
    }
    .check()?;

    let start = Instant::now();
    let out = reduce_conflicts(&corpus, &embeddings, &judge, &params)?;
    let wall = start.elapsed();

    let planted: usize = judge.reverse.iter().filter(|&&r| r).count();
    let removed = &out.report.removed;
    let hits = removed.iter().filter(|r| judge.reverse[r.index]).count();
    let t = out.timings;
    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        "statements {} (dim {}, {} clusters, {planted} planted), k {}, threshold {}",
        args.n, args.dim, clusters, params.k, params.similarity_threshold
    );
    println!(
        "candidate pairs {}  relations {:?}",
        out.report.candidate_pairs, out.report.relations
    );
    for r in &out.report.rounds {
        println!(
            "round {}: statements {} regions {} agree {} conflict {} unbalanced cycles {}{} frustrated {:.2} removed {}",
            r.round, r.statements, r.regions, r.agree_edges, r.conflict_edges, r.unbalanced_cycles,
            if r.cycles_truncated { " (truncated)" } else { "" }, r.frustrated_weight, r.removed
        );
    }
    println!(
        "time: knn {:.3}s  graph {:.3}s  judge {:.3}s  cycles {:.3}s  balance {:.3}s  total {:.3}s  total without judge {:.3}s  (wall {:.3}s)",
        secs(t.knn), secs(t.graph), secs(t.judge), secs(t.cycles), secs(t.balance), secs(t.total),
        secs(t.total) - secs(t.judge), secs(wall)
    );
    println!(
        "removed {}: recall {:.4} ({hits}/{planted}), precision {:.4}",
        removed.len(),
        hits as f64 / planted.max(1) as f64,
        if removed.is_empty() {
            1.0
        } else {
            hits as f64 / removed.len() as f64
        }
    );
    Ok(())
}
