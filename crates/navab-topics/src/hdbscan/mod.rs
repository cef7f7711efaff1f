//! HDBSCAN (Campello, Moulavi & Sander 2013; McInnes & Healy 2017) for low-dimensional points
//! such as UMAP output, scaling to millions of points.
//!
//! ```
//! use navab_topics::hdbscan::{hdbscan, HdbscanParams};
//! use ndarray::Array2;
//!
//! // Two tight groups of 10 points and one far-away point.
//! let mut points = Array2::<f32>::zeros((21, 2));
//! for i in 0..10 {
//!     points[[i, 0]] = i as f32 * 0.01;
//!     points[[10 + i, 0]] = 5.0 + i as f32 * 0.01;
//! }
//! points[[20, 1]] = 50.0;
//! let params = HdbscanParams { min_cluster_size: 5, ..HdbscanParams::default() };
//! let clustering = hdbscan(points.view(), &params)?;
//! assert_eq!(clustering.n_clusters, 2);
//! assert_ne!(clustering.labels[0], clustering.labels[10]);
//! assert_eq!(clustering.labels[20], None); // noise
//! # Ok::<(), navab_topics::Error>(())
//! ```
//!
//! # Stages
//! 1. [`KdTree`]: a kd-tree over the points;
//! 2. core distances: the distance from each point to its `min_samples`-th nearest other point,
//!    by kd-tree k-nearest-neighbour queries, in parallel;
//! 3. the minimum spanning tree of the mutual-reachability graph
//!    (`max(core[a], core[b], |a - b|)`) by Borůvka's algorithm: each round every point finds
//!    its nearest point of another component with a kd-tree search pruned by bounding boxes,
//!    core distances and the component's best edge so far; never the n² graph;
//! 4. [`single_linkage`], [`condense_tree`] by `min_cluster_size`, then
//!    [`extract_clusters`]: stability, excess-of-mass or leaf selection,
//!    `cluster_selection_epsilon`, labels, probabilities, GLOSH outlier scores.
//!
//! The result depends on the input and the parameters alone, not on the number of threads or
//! the kd-tree's leaf size: ties between equal distances are broken by input row.
//!
//! # Differences from the Python `hdbscan` package
//! - Core distances count neighbours as `hdbscan` does (the point itself excluded);
//!   scikit-learn's `HDBSCAN` counts the point itself, so its `min_samples = m + 1` matches ours `m`.
//! - The spanning tree is exact (the package's Borůvka default, `approx_min_span_tree=True`,
//!   may return a slightly heavier tree).
//! - A split at distance 0 (exact duplicates) never creates clusters, so identical points always
//!   share a label. With leaf selection and no split at all, the root is the one cluster when
//!   `allow_single_cluster` is set (the package returns all noise).
//! - `cluster_selection_epsilon` keeps only the outermost cluster when the upward search picks
//!   nested ones.
//! - Infinite lambdas (points that leave at distance 0, i.e. exact duplicates) are left out of
//!   the maxima behind probabilities and outlier scores; the package divides by infinity there
//!   and returns probability 0 and NaN outlier scores.

mod kdtree;
mod mst;
mod tree;

pub use kdtree::KdTree;
pub use mst::MstEdge;
pub use tree::{
    condense_tree, extract_clusters, single_linkage, CondensedRow, CondensedTree, LinkageRow,
};

use crate::{Error, Result};
use ndarray::ArrayView2;

/// How flat clusters are chosen from the condensed tree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClusterSelection {
    /// Excess of mass: the clusters of largest total stability with no one inside another
    /// (few large clusters). BERTopic's and the package's default.
    #[default]
    Eom,
    /// The leaves of the condensed tree (many small, homogeneous clusters).
    Leaf,
}

/// The distance between points.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Metric {
    /// Euclidean distance (the NaVAB pipeline's choice on UMAP output).
    #[default]
    Euclidean,
}

/// HDBSCAN's hyperparameters.
///
/// Defaults follow the NaVAB authors' code: `min_cluster_size` 50 (their paper's Table 4 says
/// 200; set it explicitly to reproduce the table), `min_samples` equal to `min_cluster_size`,
/// Euclidean distance, excess-of-mass selection, no single cluster, epsilon 0.
#[derive(Clone, Debug, PartialEq)]
pub struct HdbscanParams {
    /// Smallest group of points that counts as a cluster; at least 2.
    pub min_cluster_size: usize,
    /// Neighbour count for core distances (how conservative the clustering is); `None` means
    /// `min_cluster_size`. Clamped to `n - 1` for small inputs.
    pub min_samples: Option<usize>,
    /// Distance between points.
    pub metric: Metric,
    /// Excess of mass or leaf.
    pub cluster_selection: ClusterSelection,
    /// Let excess of mass return the root, i.e. one cluster holding (almost) everything.
    pub allow_single_cluster: bool,
    /// Clusters born closer than this distance are merged into their ancestor born above it
    /// (finite, non-negative; 0 turns it off).
    pub cluster_selection_epsilon: f64,
    /// Points per kd-tree leaf; at least 1. Affects speed only.
    pub leaf_size: usize,
    /// Worker threads; 0 means every available core. Affects speed only.
    pub threads: usize,
}

impl Default for HdbscanParams {
    fn default() -> Self {
        HdbscanParams {
            min_cluster_size: 50,
            min_samples: None,
            metric: Metric::Euclidean,
            cluster_selection: ClusterSelection::Eom,
            allow_single_cluster: false,
            cluster_selection_epsilon: 0.0,
            leaf_size: 64,
            threads: 0,
        }
    }
}

impl HdbscanParams {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`Error::InvalidParam`] naming the first field out of range.
    pub fn check(&self) -> Result<()> {
        if self.min_cluster_size < 2 {
            return Err(Error::param(
                "min_cluster_size",
                self.min_cluster_size,
                "must be at least 2",
            ));
        }
        if self.min_samples == Some(0) {
            return Err(Error::param(
                "min_samples",
                self.min_samples,
                "must be at least 1 (or None)",
            ));
        }
        let eps = self.cluster_selection_epsilon;
        if !eps.is_finite() || eps < 0.0 {
            return Err(Error::param(
                "cluster_selection_epsilon",
                eps,
                "must be finite and non-negative",
            ));
        }
        if self.leaf_size == 0 {
            return Err(Error::param(
                "leaf_size",
                self.leaf_size,
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// The neighbour count actually used for core distances.
    pub fn effective_min_samples(&self) -> usize {
        self.min_samples.unwrap_or(self.min_cluster_size)
    }
}

/// A flat clustering with its soft information.
#[derive(Clone, Debug, PartialEq)]
pub struct Clustering {
    /// Per input row, its cluster in `0..n_clusters`, or `None` for noise (BERTopic's topic
    /// -1; [`Clustering::labels_i64`] gives that form).
    pub labels: Vec<Option<usize>>,
    /// Number of clusters.
    pub n_clusters: usize,
    /// Per row, the strength of its membership in its cluster, in `[0, 1]`: its lambda over the
    /// cluster's largest lambda; 0 for noise.
    pub probabilities: Vec<f64>,
    /// Per row, the GLOSH outlier score in `[0, 1]`: how far below the densest lambda of its
    /// branch the point left it; higher is more outlying.
    pub outlier_scores: Vec<f64>,
    /// Per cluster, its stability over `size × max lambda` (the package's
    /// `cluster_persistence_`); 1 when the largest lambda is infinite.
    pub persistence: Vec<f64>,
    /// The condensed tree the clusters were selected from.
    pub condensed_tree: CondensedTree,
}

impl Clustering {
    /// Labels with noise as -1, the form of the Python package and BERTopic.
    pub fn labels_i64(&self) -> Vec<i64> {
        self.labels
            .iter()
            .map(|l| l.map_or(-1, |c| c as i64))
            .collect()
    }

    /// Number of rows in each cluster, indexed by label.
    pub fn cluster_sizes(&self) -> Vec<usize> {
        let mut sizes = vec![0; self.n_clusters];
        self.labels.iter().flatten().for_each(|&c| sizes[c] += 1);
        sizes
    }

    /// Fraction of rows labelled noise.
    pub fn noise_fraction(&self) -> f64 {
        if self.labels.is_empty() {
            return 0.0;
        }
        self.labels.iter().filter(|l| l.is_none()).count() as f64 / self.labels.len() as f64
    }
}

/// Core distances of every input row: the distance to its `min_samples`-th nearest other row
/// (`min_samples` clamped to `n - 1`).
///
/// # Complexity
/// O(n (log n + k)) for low-dimensional points, on `threads` threads (0 = all cores).
pub fn core_distances(tree: &KdTree, min_samples: usize, threads: usize) -> Vec<f64> {
    let by_position = mst::core_distances2(tree, min_samples.max(1), mst::resolve_threads(threads));
    let mut by_row = vec![0.0; tree.len()];
    for (position, d2) in by_position.into_iter().enumerate() {
        by_row[tree.row_of(position)] = d2.sqrt();
    }
    by_row
}

/// The minimum spanning tree of the mutual-reachability graph (`n - 1` edges in input-row
/// indices), by kd-tree Borůvka, from the [`core_distances`] of the same tree's points.
///
/// # Errors
/// [`Error::Input`] when `core_distances` does not hold one finite, non-negative value per point.
///
/// # Complexity
/// O(log n) rounds of n pruned nearest-neighbour searches, about O(n log² n) in a few
/// dimensions; parallel over `threads` threads (0 = all cores), same result for any count.
pub fn mutual_reachability_mst(
    tree: &KdTree,
    core_distances: &[f64],
    threads: usize,
) -> Result<Vec<MstEdge>> {
    if core_distances.len() != tree.len() {
        return Err(Error::Input(format!(
            "{} core distances for {} points",
            core_distances.len(),
            tree.len()
        )));
    }
    if let Some(row) = core_distances
        .iter()
        .position(|d| !d.is_finite() || *d < 0.0)
    {
        return Err(Error::Input(format!(
            "core distance of row {row} is {}",
            core_distances[row]
        )));
    }
    let core2: Vec<f64> = (0..tree.len())
        .map(|p| core_distances[tree.row_of(p)].powi(2))
        .collect();
    Ok(mst::boruvka_mst(
        tree,
        &core2,
        mst::resolve_threads(threads),
    ))
}

/// Clusters the rows of `data` (one point per row).
///
/// With fewer rows than `min_cluster_size` no cluster can exist and every row is noise.
///
/// # Errors
/// [`Error::InvalidParam`] from [`HdbscanParams::check`]; [`Error::Input`] for no rows, no
/// columns, or a NaN or infinite value (naming its row and column).
///
/// # Complexity
/// About O(n log² n) time and O(n) memory for points in a few dimensions (see the stages in
/// the [module docs](self)).
pub fn hdbscan(data: ArrayView2<'_, f32>, params: &HdbscanParams) -> Result<Clustering> {
    params.check()?;
    let tree = KdTree::new(data, params.leaf_size)?;
    let n = tree.len();
    let core = core_distances(&tree, params.effective_min_samples(), params.threads);
    let mst = mutual_reachability_mst(&tree, &core, params.threads)?;
    let linkage = single_linkage(n, &mst);
    let condensed = condense_tree(n, &linkage, params.min_cluster_size);
    Ok(extract_clusters(condensed, params))
}

#[cfg(test)]
mod tests;
