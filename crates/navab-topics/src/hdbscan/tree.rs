//! From the spanning tree to flat clusters: single linkage, the condensed tree, stability,
//! cluster selection, membership probabilities and GLOSH outlier scores.

use super::mst::{MstEdge, UnionFind};
use super::{ClusterSelection, Clustering, HdbscanParams};

/// One merge of the single-linkage tree, in SciPy's linkage layout: merge `i` creates node
/// `n + i`; nodes below `n` are input rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkageRow {
    /// First merged node.
    pub left: usize,
    /// Second merged node.
    pub right: usize,
    /// Mutual reachability distance of the merge.
    pub distance: f64,
    /// Number of points under the new node.
    pub size: usize,
}

/// The single-linkage tree of a spanning tree: merges by increasing distance, ties by the
/// smaller then the larger end's row.
///
/// # Complexity
/// O(n log n) for the sort, then near-linear union-find.
pub fn single_linkage(n_points: usize, mst: &[MstEdge]) -> Vec<LinkageRow> {
    let mut edges = mst.to_vec();
    edges.sort_by(|x, y| {
        x.distance
            .total_cmp(&y.distance)
            .then(x.a.min(x.b).cmp(&y.a.min(y.b)))
            .then(x.a.max(x.b).cmp(&y.a.max(y.b)))
    });
    let mut uf = UnionFind::new(n_points);
    // For each union-find root, the linkage node that currently stands for its set.
    let mut node_of: Vec<usize> = (0..n_points).collect();
    let mut size_of = vec![1usize; n_points];
    let mut rows = Vec::with_capacity(edges.len());
    for (i, e) in edges.iter().enumerate() {
        let (ra, rb) = (uf.find(e.a), uf.find(e.b));
        let size = size_of[ra] + size_of[rb];
        rows.push(LinkageRow {
            left: node_of[ra],
            right: node_of[rb],
            distance: e.distance,
            size,
        });
        uf.union(ra, rb);
        let root = uf.find(ra);
        node_of[root] = n_points + i;
        size_of[root] = size;
    }
    rows
}

/// One row of the condensed tree: `child` (a point below `n_points`, or a cluster at or above
/// it) leaves `parent` (a cluster) at density `lambda = 1 / distance`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CondensedRow {
    /// The cluster left.
    pub parent: usize,
    /// The point or cluster that leaves.
    pub child: usize,
    /// `1 / distance` at which it leaves; infinite for a distance of 0.
    pub lambda: f64,
    /// 1 for a point, the cluster's size for a cluster.
    pub child_size: usize,
}

/// The condensed cluster tree (Campello et al. 2013), laid out as the Python `hdbscan`
/// package's `condensed_tree_`: points are `0..n_points`, the root cluster is `n_points`, and
/// clusters are numbered in breadth-first order, so a child's id exceeds its parent's.
#[derive(Clone, Debug, PartialEq)]
pub struct CondensedTree {
    /// Number of input points.
    pub n_points: usize,
    /// The rows, parents in breadth-first order.
    pub rows: Vec<CondensedRow>,
}

impl CondensedTree {
    /// Number of clusters, the root included.
    pub fn n_clusters(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| r.child >= self.n_points)
            .count()
            + 1
    }
}

/// Condenses a single-linkage tree: walking down from the root, a split where both sides hold
/// at least `min_cluster_size` points makes two new clusters; otherwise the points of the
/// smaller side(s) fall out of the current cluster at that split's lambda. A split at distance
/// 0 (exact duplicates) never makes clusters: all its points fall out at infinite lambda, so
/// identical points are never told apart.
///
/// # Complexity
/// O(n): each linkage node is visited once.
pub fn condense_tree(
    n_points: usize,
    linkage: &[LinkageRow],
    min_cluster_size: usize,
) -> CondensedTree {
    let mut rows = Vec::with_capacity(n_points);
    if n_points == 1 || linkage.is_empty() {
        rows.extend((0..n_points).map(|p| CondensedRow {
            parent: n_points,
            child: p,
            lambda: f64::INFINITY,
            child_size: 1,
        }));
        return CondensedTree { n_points, rows };
    }
    let size = |node: usize| {
        if node < n_points {
            1
        } else {
            linkage[node - n_points].size
        }
    };
    let root = n_points + linkage.len() - 1;
    let mut next_label = n_points + 1;
    let mut queue = std::collections::VecDeque::from([(root, n_points)]);
    let mut stack = Vec::new();
    let mut fall_out = |node: usize, cluster: usize, lambda: f64, rows: &mut Vec<CondensedRow>| {
        stack.push(node);
        while let Some(x) = stack.pop() {
            if x < n_points {
                rows.push(CondensedRow {
                    parent: cluster,
                    child: x,
                    lambda,
                    child_size: 1,
                });
            } else {
                let r = linkage[x - n_points];
                stack.push(r.right);
                stack.push(r.left);
            }
        }
    };
    while let Some((node, cluster)) = queue.pop_front() {
        if node < n_points {
            continue;
        }
        let LinkageRow {
            left,
            right,
            distance,
            ..
        } = linkage[node - n_points];
        let lambda = if distance > 0.0 {
            1.0 / distance
        } else {
            f64::INFINITY
        };
        let (left_size, right_size) = (size(left), size(right));
        let left_big = left_size >= min_cluster_size && lambda.is_finite();
        let right_big = right_size >= min_cluster_size && lambda.is_finite();
        match (left_big, right_big) {
            (true, true) => {
                for (child, child_size) in [(left, left_size), (right, right_size)] {
                    rows.push(CondensedRow {
                        parent: cluster,
                        child: next_label,
                        lambda,
                        child_size,
                    });
                    queue.push_back((child, next_label));
                    next_label += 1;
                }
            }
            (false, false) => {
                fall_out(left, cluster, lambda, &mut rows);
                fall_out(right, cluster, lambda, &mut rows);
            }
            (true, false) => {
                fall_out(right, cluster, lambda, &mut rows);
                queue.push_back((left, cluster));
            }
            (false, true) => {
                fall_out(left, cluster, lambda, &mut rows);
                queue.push_back((right, cluster));
            }
        }
    }
    CondensedTree { n_points, rows }
}

/// Per-cluster facts gathered from the condensed tree, indexed by `cluster - n_points`.
struct Clusters {
    parent: Vec<usize>,
    birth: Vec<f64>,
    children: Vec<Vec<usize>>,
    stability: Vec<f64>,
    /// Largest lambda among the cluster's direct children (points and clusters).
    max_child_lambda: Vec<f64>,
    /// The same among finite lambdas only (0 if none).
    max_finite_child_lambda: Vec<f64>,
}

impl Clusters {
    fn new(tree: &CondensedTree) -> Self {
        let n = tree.n_points;
        let count = tree.n_clusters();
        let mut c = Clusters {
            parent: vec![usize::MAX; count],
            birth: vec![0.0; count],
            children: vec![Vec::new(); count],
            stability: vec![0.0; count],
            max_child_lambda: vec![0.0; count],
            max_finite_child_lambda: vec![0.0; count],
        };
        for r in tree.rows.iter().filter(|r| r.child >= n) {
            c.parent[r.child - n] = r.parent;
            c.birth[r.child - n] = r.lambda;
            c.children[r.parent - n].push(r.child);
        }
        for r in &tree.rows {
            let i = r.parent - n;
            // inf - inf would be NaN: a point leaving at the cluster's own birth adds nothing.
            let excess = if r.lambda == c.birth[i] {
                0.0
            } else {
                r.lambda - c.birth[i]
            };
            c.stability[i] += excess * r.child_size as f64;
            c.max_child_lambda[i] = c.max_child_lambda[i].max(r.lambda);
            if r.lambda.is_finite() {
                c.max_finite_child_lambda[i] = c.max_finite_child_lambda[i].max(r.lambda);
            }
        }
        c
    }
}

/// Selects flat clusters from a condensed tree and computes the labels, membership
/// probabilities, GLOSH outlier scores and cluster persistence, as the Python `hdbscan`
/// package does (see [`HdbscanParams`] for the options).
pub fn extract_clusters(tree: CondensedTree, params: &HdbscanParams) -> Clustering {
    let n = tree.n_points;
    let info = Clusters::new(&tree);
    let count = info.parent.len();
    let mut selected = vec![false; count];
    let has_splits = count > 1;
    let first = if params.allow_single_cluster { 0 } else { 1 };
    match params.cluster_selection {
        ClusterSelection::Eom => {
            let mut stability = info.stability.clone();
            for i in (first..count).rev() {
                let subtree: f64 = info.children[i].iter().map(|&c| stability[c - n]).sum();
                if subtree > stability[i] {
                    stability[i] = subtree;
                } else {
                    selected[i] = true;
                    deselect_descendants(&info, n, i, &mut selected);
                }
            }
        }
        ClusterSelection::Leaf => {
            if has_splits {
                for (slot, children) in selected.iter_mut().zip(&info.children).skip(1) {
                    *slot = children.is_empty();
                }
            } else {
                selected[0] = params.allow_single_cluster;
            }
        }
    }
    if n < params.min_cluster_size {
        // No group of min_cluster_size points exists: everything is noise, whatever the options.
        selected.iter_mut().for_each(|s| *s = false);
    }
    let eps = params.cluster_selection_epsilon;
    let only_root = selected[0] && selected[1..].iter().all(|s| !s);
    let any = selected.iter().any(|&s| s);
    if eps > 0.0 && has_splits && any && !only_root {
        selected = epsilon_search(&info, n, &selected, eps, params.allow_single_cluster);
    }

    // Cluster ids to labels 0.., in id order; each cluster's nearest selected ancestor-or-self.
    let mut label_of = vec![None; count];
    let mut next = 0;
    for (i, &s) in selected.iter().enumerate() {
        if s {
            label_of[i] = Some(next);
            next += 1;
        }
    }
    let n_clusters = next;
    let mut owner: Vec<Option<usize>> = vec![None; count];
    for i in 0..count {
        owner[i] = if selected[i] {
            Some(i)
        } else if i == 0 {
            None
        } else {
            owner[info.parent[i] - n]
        };
    }
    let mut labels = vec![None; n];
    let mut point_lambda = vec![0.0; n];
    let mut point_parent = vec![n; n];
    let root_threshold = if eps > 0.0 {
        1.0 / eps
    } else {
        info.max_child_lambda[0]
    };
    for r in tree.rows.iter().filter(|r| r.child < n) {
        point_lambda[r.child] = r.lambda;
        point_parent[r.child] = r.parent;
        labels[r.child] = match owner[r.parent - n] {
            // The root as the single cluster keeps only the points that stay to its densest end.
            Some(0) if r.lambda < root_threshold => None,
            Some(c) => label_of[c],
            None => None,
        };
    }

    let mut probabilities = vec![0.0; n];
    let mut cluster_sizes = vec![0usize; n_clusters];
    let cluster_of_label: Vec<usize> = (0..count).filter(|&i| selected[i]).collect();
    for p in 0..n {
        if let Some(label) = labels[p] {
            cluster_sizes[label] += 1;
            let max_lambda = info.max_finite_child_lambda[cluster_of_label[label]];
            probabilities[p] = if max_lambda == 0.0 || !point_lambda[p].is_finite() {
                1.0
            } else {
                point_lambda[p].min(max_lambda) / max_lambda
            };
        }
    }

    // GLOSH: the densest lambda reached anywhere below each cluster.
    let mut deepest = info.max_finite_child_lambda.clone();
    for i in (1..count).rev() {
        let parent = info.parent[i] - n;
        deepest[parent] = deepest[parent].max(deepest[i]);
    }
    let outlier_scores = (0..n)
        .map(|p| {
            let top = deepest[point_parent[p] - n];
            if top == 0.0 || !point_lambda[p].is_finite() {
                0.0
            } else {
                (top - point_lambda[p]) / top
            }
        })
        .collect();

    let max_lambda = tree.rows.iter().map(|r| r.lambda).fold(0.0, f64::max);
    let persistence = cluster_of_label
        .iter()
        .zip(&cluster_sizes)
        .map(|(&i, &size)| {
            if !max_lambda.is_finite() || max_lambda == 0.0 || size == 0 {
                1.0
            } else {
                info.stability[i] / (size as f64 * max_lambda)
            }
        })
        .collect();

    Clustering {
        labels,
        n_clusters,
        probabilities,
        outlier_scores,
        persistence,
        condensed_tree: tree,
    }
}

fn deselect_descendants(info: &Clusters, n: usize, cluster: usize, selected: &mut [bool]) {
    let mut stack: Vec<usize> = info.children[cluster].iter().map(|&c| c - n).collect();
    while let Some(i) = stack.pop() {
        selected[i] = false;
        stack.extend(info.children[i].iter().map(|&c| c - n));
    }
}

/// Replaces each selected cluster born below `eps` (in distance, `1 / birth lambda`) by its
/// nearest ancestor born above it (the root only with `allow_single_cluster`), then keeps only
/// the outermost of nested choices.
fn epsilon_search(
    info: &Clusters,
    n: usize,
    selected: &[bool],
    eps: f64,
    allow_single: bool,
) -> Vec<bool> {
    let count = selected.len();
    let mut chosen = vec![false; count];
    for i in (1..count).filter(|&i| selected[i]) {
        let mut c = i;
        if 1.0 / info.birth[c] < eps {
            loop {
                let parent = info.parent[c] - n;
                if parent == 0 {
                    if allow_single {
                        c = 0;
                    }
                    break;
                }
                c = parent;
                if 1.0 / info.birth[c] > eps {
                    break;
                }
            }
        }
        chosen[c] = true;
    }
    // Drop choices that have a chosen ancestor (parents have smaller ids).
    let mut covered = vec![false; count];
    for i in 1..count {
        let parent = info.parent[i] - n;
        covered[i] = covered[parent] || chosen[parent];
        if covered[i] {
            chosen[i] = false;
        }
    }
    chosen
}
