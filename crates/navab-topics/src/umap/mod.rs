//! UMAP (McInnes, Healy and Melville 2018), seeded and bit-reproducible while using every core.
//!
//! ```
//! use navab_topics::umap::{fit_transform, UmapParams};
//! use ndarray::Array2;
//!
//! // Two tight groups of 30 points in 20 dimensions.
//! let data = Array2::from_shape_fn((60, 20), |(i, j)| {
//!     let centre = if i < 30 { (j == 0) as u8 } else { (j == 1) as u8 } as f32;
//!     centre + 0.01 * ((i * 7 + j * 3) % 11) as f32
//! });
//! let params = UmapParams::default().n_components(2).n_epochs(Some(50));
//! let embedding = fit_transform(data.view(), &params)?;
//! assert_eq!(embedding.dim(), (60, 2));
//! # Ok::<(), navab_topics::Error>(())
//! ```
//!
//! The stages follow the paper and umap-learn:
//! 1. the kNN graph ([`crate::knn`]), `n_neighbors` counting the point itself;
//! 2. smooth kNN distances (`rho` = distance to the nearest other point, `sigma` by binary
//!    search so that the memberships sum to `log2(n_neighbors)`), memberships
//!    `exp(-(d - rho) / sigma)`, fuzzy union `W + Wᵀ - W∘Wᵀ`, and pruning of weights below
//!    `max / n_epochs`;
//! 3. initial layout: spectral (eigenvectors of the normalised adjacency, by Chebyshev-filtered
//!    subspace iteration; PCA when it does not converge, recorded in [`UmapFit::notes`]), PCA,
//!    or uniform random; scaled so that the largest coordinate is 10, a little noise added,
//!    then each column mapped to `[0, 10]`;
//! 4. `a`, `b` fitted to `min_dist` and `spread` by least squares ([`find_ab_params`]);
//! 5. SGD over edges scheduled by epochs-per-sample, each sample moving both ends by opposite
//!    steps, negative sampling, gradients clipped to ±4, learning rate decaying linearly.
//!
//! # Determinism
//! Same input, parameters and seed give the same bytes whatever the number of threads.
//! umap-learn's SGD is Hogwild (threads race on shared positions; seeded, it runs on one
//! thread); here each epoch runs in a fixed number of rounds, each reading the positions at
//! its start and writing a new buffer, each point's new position computed by one task from its
//! own updates in a fixed order. A sample of edge `(i, j)` moves `i` and `j` by exactly
//! opposite steps in one round, as umap-learn's `move_other` does, and its reverse `(j, i)`
//! in another round. Negative samples for edge `e` in epoch `t` come from a generator keyed by
//! `(seed, t, e)`. Every reduction elsewhere (spectral and PCA initialisation) sums fixed-size
//! chunks in a fixed order.

mod curve;
mod graph;
mod init;
mod layout;
mod trust;

use std::time::{Duration, Instant};

use ndarray::{Array2, ArrayView2};

use crate::knn::{in_pool, validate_points, KnnGraph, KnnMethod, KnnParams, Metric};
use crate::{Error, Result};

pub use curve::find_ab_params;
pub use trust::trustworthiness;

/// How the layout starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Init {
    /// Leading eigenvectors of the fuzzy graph's normalised adjacency (umap-learn's default).
    #[default]
    Spectral,
    /// Leading principal components of the data.
    Pca,
    /// Uniform in `[-10, 10]`.
    Random,
}

/// UMAP hyperparameters; [`Default`] gives the paper's settings as used by NaVAB.
#[derive(Debug, Clone, PartialEq)]
pub struct UmapParams {
    /// Neighbours per point, the point itself included (umap-learn's `n_neighbors`); 15.
    /// Clamped to `n - 1` (at least 2) when the data has fewer points, with a note.
    pub n_neighbors: usize,
    /// Output dimensions; 5.
    pub n_components: usize,
    /// Smallest distance between embedded points; 0.0.
    pub min_dist: f32,
    /// Scale of embedded distances; 1.0.
    pub spread: f32,
    /// Input dissimilarity; cosine.
    pub metric: Metric,
    /// Seed of every random choice; 42.
    pub seed: u64,
    /// SGD epochs; `None` is umap-learn's choice: 500 up to 10,000 points, 200 above.
    pub n_epochs: Option<usize>,
    /// Initial SGD step; 1.0.
    pub learning_rate: f32,
    /// Negative samples per positive sample; 5.
    pub negative_sample_rate: usize,
    /// Weight of the repulsive term (umap-learn's `repulsion_strength`, `gamma`); 1.0.
    pub repulsion_strength: f32,
    /// Neighbours assumed connected (umap-learn's `local_connectivity`); 1.0.
    pub local_connectivity: f32,
    /// 1.0 for the fuzzy union, 0.0 for the fuzzy intersection, between for a mix; 1.0.
    pub set_op_mix_ratio: f32,
    /// Initial layout; spectral.
    pub init: Init,
    /// How the kNN graph is built; chosen by size.
    pub knn_method: KnnMethod,
    /// Worker threads; `None` uses rayon's global pool (all cores). The output does not
    /// depend on it.
    pub threads: Option<usize>,
    /// The curve's `a` and `b`; `None` fits them to `min_dist` and `spread`.
    pub a_b: Option<(f32, f32)>,
}

impl Default for UmapParams {
    fn default() -> Self {
        Self {
            n_neighbors: 15,
            n_components: 5,
            min_dist: 0.0,
            spread: 1.0,
            metric: Metric::Cosine,
            seed: 42,
            n_epochs: None,
            learning_rate: 1.0,
            negative_sample_rate: 5,
            repulsion_strength: 1.0,
            local_connectivity: 1.0,
            set_op_mix_ratio: 1.0,
            init: Init::Spectral,
            knn_method: KnnMethod::Auto,
            threads: None,
            a_b: None,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(mut self, value: $ty) -> Self {
                self.$name = value;
                self
            }
        )*
    };
}

impl UmapParams {
    setters! {
        /// Sets [`UmapParams::n_neighbors`].
        n_neighbors: usize;
        /// Sets [`UmapParams::n_components`].
        n_components: usize;
        /// Sets [`UmapParams::min_dist`].
        min_dist: f32;
        /// Sets [`UmapParams::spread`].
        spread: f32;
        /// Sets [`UmapParams::metric`].
        metric: Metric;
        /// Sets [`UmapParams::seed`].
        seed: u64;
        /// Sets [`UmapParams::n_epochs`].
        n_epochs: Option<usize>;
        /// Sets [`UmapParams::learning_rate`].
        learning_rate: f32;
        /// Sets [`UmapParams::negative_sample_rate`].
        negative_sample_rate: usize;
        /// Sets [`UmapParams::repulsion_strength`].
        repulsion_strength: f32;
        /// Sets [`UmapParams::local_connectivity`].
        local_connectivity: f32;
        /// Sets [`UmapParams::set_op_mix_ratio`].
        set_op_mix_ratio: f32;
        /// Sets [`UmapParams::init`].
        init: Init;
        /// Sets [`UmapParams::knn_method`].
        knn_method: KnnMethod;
        /// Sets [`UmapParams::threads`].
        threads: Option<usize>;
        /// Sets [`UmapParams::a_b`].
        a_b: Option<(f32, f32)>;
    }

    /// Checks every field's range; the error names the field.
    pub fn check(&self) -> Result<()> {
        if self.n_neighbors < 2 {
            return Err(Error::param(
                "n_neighbors",
                self.n_neighbors,
                "must be at least 2 (the point itself and one neighbour)",
            ));
        }
        if self.n_components < 1 {
            return Err(Error::param(
                "n_components",
                self.n_components,
                "must be at least 1",
            ));
        }
        if !(self.spread.is_finite() && self.spread > 0.0) {
            return Err(Error::param(
                "spread",
                self.spread,
                "must be finite and > 0",
            ));
        }
        if !(self.min_dist.is_finite() && self.min_dist >= 0.0 && self.min_dist <= self.spread) {
            return Err(Error::param(
                "min_dist",
                self.min_dist,
                "must be in [0, spread]",
            ));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(Error::param(
                "learning_rate",
                self.learning_rate,
                "must be finite and > 0",
            ));
        }
        if !(self.repulsion_strength.is_finite() && self.repulsion_strength >= 0.0) {
            return Err(Error::param(
                "repulsion_strength",
                self.repulsion_strength,
                "must be finite and >= 0",
            ));
        }
        if !(self.local_connectivity.is_finite() && self.local_connectivity >= 0.0) {
            return Err(Error::param(
                "local_connectivity",
                self.local_connectivity,
                "must be finite and >= 0",
            ));
        }
        if !(0.0..=1.0).contains(&self.set_op_mix_ratio) {
            return Err(Error::param(
                "set_op_mix_ratio",
                self.set_op_mix_ratio,
                "must be in [0, 1]",
            ));
        }
        if let Some((a, b)) = self.a_b {
            if !(a.is_finite() && a > 0.0 && b.is_finite() && b > 0.0) {
                return Err(Error::param(
                    "a_b",
                    self.a_b,
                    "a and b must be finite and > 0",
                ));
            }
        }
        crate::knn::check_threads(self.threads)
    }
}

/// Wall-clock time of each stage of a fit.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UmapTimings {
    /// kNN graph (zero when a graph was given).
    pub knn: Duration,
    /// Smooth distances, fuzzy union, pruning.
    pub graph: Duration,
    /// Initial layout.
    pub init: Duration,
    /// SGD epochs.
    pub optimize: Duration,
}

/// The result of [`fit`]: the embedding and what was decided on the way.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UmapFit {
    /// `n × n_components` coordinates.
    pub embedding: Array2<f32>,
    /// The initialisation actually used (spectral may fall back to PCA, tiny data to random).
    pub init_used: Init,
    /// `n_neighbors` after clamping to the data size.
    pub n_neighbors: usize,
    /// Epochs run.
    pub n_epochs: usize,
    /// The curve's `a`.
    pub a: f32,
    /// The curve's `b`.
    pub b: f32,
    /// How the kNN graph was built.
    pub knn_method: KnnMethod,
    /// Edges of the symmetric fuzzy graph kept after pruning (each direction counted).
    pub n_edges: usize,
    /// Fallbacks and clamps, in words (empty when everything went as asked).
    pub notes: Vec<String>,
    /// Time per stage.
    pub timings: UmapTimings,
}

/// Embeds the rows of `data` (points × features).
///
/// # Returns
/// [`Error::Input`] for empty data, a single point, NaN or infinite values (naming the row),
/// or a zero row under cosine; [`Error::InvalidParam`] for bad parameters.
///
/// # Complexity
/// kNN as in [`crate::knn`]; then `O(n · k)` for the graph, `O(iterations · nnz · c)` for the
/// spectral layout, and `O(n_epochs · nnz · (1 + negative_sample_rate) · n_components)` for SGD,
/// each parallel over points.
pub fn fit(data: ArrayView2<f32>, params: &UmapParams) -> Result<UmapFit> {
    params.check()?;
    validate_points(data, params.metric)?;
    let n = data.nrows();
    if n < 2 {
        return Err(Error::Input(format!(
            "UMAP needs at least 2 points, got {n}"
        )));
    }
    let mut notes = Vec::new();
    let k = clamp_neighbors(params.n_neighbors, n, &mut notes);
    in_pool(params.threads, || {
        let start = Instant::now();
        let knn_params = KnnParams::new(k)
            .metric(params.metric)
            .method(params.knn_method)
            .seed(params.seed);
        let knn = KnnGraph::build(data, &knn_params)?;
        let knn_time = start.elapsed();
        let mut fit = fit_inner(data, &knn, params, notes)?;
        fit.timings.knn = knn_time;
        Ok(fit)
    })?
}

/// [`fit`]'s embedding alone.
pub fn fit_transform(data: ArrayView2<f32>, params: &UmapParams) -> Result<Array2<f32>> {
    fit(data, params).map(|f| f.embedding)
}

/// [`fit`] on a kNN graph built beforehand (its `k` replaces `n_neighbors`); `data` is still
/// needed for the PCA initialisation and must have the graph's number of rows.
pub fn fit_with_knn(data: ArrayView2<f32>, knn: &KnnGraph, params: &UmapParams) -> Result<UmapFit> {
    params.check()?;
    validate_points(data, params.metric)?;
    if data.nrows() != knn.n_points() {
        return Err(Error::Input(format!(
            "data has {} rows but the kNN graph has {} points",
            data.nrows(),
            knn.n_points()
        )));
    }
    in_pool(params.threads, || fit_inner(data, knn, params, Vec::new()))?
}

/// `n_neighbors` clamped to `n - 1` (at least 2), as umap-learn does, with a note.
fn clamp_neighbors(asked: usize, n: usize, notes: &mut Vec<String>) -> usize {
    let k = asked.min(n.saturating_sub(1)).max(2).min(n);
    if k != asked {
        notes.push(format!("n_neighbors {asked} clamped to {k} for {n} points"));
    }
    k
}

fn fit_inner(
    data: ArrayView2<f32>,
    knn: &KnnGraph,
    params: &UmapParams,
    mut notes: Vec<String>,
) -> Result<UmapFit> {
    let n = data.nrows();
    let t0 = Instant::now();
    let n_epochs = params
        .n_epochs
        .unwrap_or(if n <= 10_000 { 500 } else { 200 });
    let fuzzy =
        graph::fuzzy_simplicial_set(knn, params.local_connectivity, params.set_op_mix_ratio);
    // umap-learn prunes against the default epoch count when asked for very few epochs.
    let prune_epochs = if n_epochs > 10 {
        n_epochs
    } else if n <= 10_000 {
        500
    } else {
        200
    };
    let fuzzy = fuzzy.pruned(prune_epochs);
    let graph_time = t0.elapsed();

    let t1 = Instant::now();
    let (embedding, init_used) = init::initial_layout(data, &fuzzy, params, &mut notes);
    let init_time = t1.elapsed();

    let (a, b) = params
        .a_b
        .unwrap_or_else(|| find_ab_params(params.spread, params.min_dist));
    let t2 = Instant::now();
    let embedding = layout::optimize(
        &fuzzy,
        embedding,
        params.n_components,
        a,
        b,
        params,
        n_epochs,
    );
    let optimize_time = t2.elapsed();
    Ok(UmapFit {
        embedding: Array2::from_shape_vec((n, params.n_components), embedding)
            .map_err(|e| Error::Input(e.to_string()))?,
        init_used,
        n_neighbors: knn.k(),
        n_epochs,
        a,
        b,
        knn_method: knn.method(),
        n_edges: fuzzy.n_edges(),
        notes,
        timings: UmapTimings {
            knn: Duration::ZERO,
            graph: graph_time,
            init: init_time,
            optimize: optimize_time,
        },
    })
}
