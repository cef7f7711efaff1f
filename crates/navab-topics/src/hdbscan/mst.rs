//! Core distances and the Borůvka minimum spanning tree of the mutual-reachability graph.

use super::kdtree::KdTree;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One edge of the spanning tree, between two input rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MstEdge {
    /// One end (an input row).
    pub a: usize,
    /// The other end (an input row).
    pub b: usize,
    /// Mutual reachability distance `max(core[a], core[b], |a - b|)`.
    pub distance: f64,
}

/// Maps `f` over `0..n` in blocks on up to `threads` scoped threads and returns the results in
/// index order. Which thread computes a block never changes the result.
pub(crate) fn par_map_blocks<T, F>(n: usize, threads: usize, f: F) -> Vec<T>
where
    T: Send,
    F: Fn(Range<usize>) -> Vec<T> + Sync,
{
    const BLOCK: usize = 2048;
    let threads = threads.max(1).min(n.div_ceil(BLOCK).max(1));
    if threads == 1 {
        return f(0..n);
    }
    let next = AtomicUsize::new(0);
    let mut pieces: Vec<(usize, Vec<T>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let start = next.fetch_add(BLOCK, Ordering::Relaxed);
                        if start >= n {
                            break done;
                        }
                        let end = (start + BLOCK).min(n);
                        done.push((start, f(start..end)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    pieces.sort_by_key(|(start, _)| *start);
    pieces.into_iter().flat_map(|(_, v)| v).collect()
}

/// The number of worker threads `0` stands for: every available core.
pub(crate) fn resolve_threads(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    }
}

/// Squared core distance of every point, in tree order: the squared distance to its
/// `min_samples`-th nearest other point (as the Python `hdbscan` package counts; scikit-learn's
/// `HDBSCAN` counts the point itself). `min_samples` is clamped to `len - 1`; a lone point has
/// core distance 0.
///
/// # Complexity
/// O(n (log n + k)) for well-spread low-dimensional points, spread over `threads` threads.
pub(crate) fn core_distances2(tree: &KdTree, min_samples: usize, threads: usize) -> Vec<f64> {
    let n = tree.len();
    let k = min_samples.min(n - 1);
    if k == 0 {
        return vec![0.0; n];
    }
    par_map_blocks(n, threads, |range| {
        let mut heap = Vec::with_capacity(k);
        range
            .map(|p| tree.kth_neighbour_dist2(p, k, &mut heap))
            .collect()
    })
}

/// Union-find with path halving and union by size.
pub(crate) struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    pub(crate) fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    pub(crate) fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins the sets of `a` and `b`; false when they were already one.
    pub(crate) fn union(&mut self, a: usize, b: usize) -> bool {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        if self.size[ra] < self.size[rb] || (self.size[ra] == self.size[rb] && rb < ra) {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra;
        self.size[ra] += self.size[rb];
        true
    }
}

/// Sentinel for "no component" / "no candidate".
const NONE: usize = usize::MAX;

/// The smallest core distance of a node's points and its component, then the smallest among
/// the points of every other component: so the smallest core distance outside any given
/// component is known exactly. Late Borůvka rounds need it: a few far points of another
/// component scattered in a dense region must not make the whole region look reachable.
#[derive(Clone, Copy, Debug)]
struct TwoLowest([(f64, usize); 2]);

impl TwoLowest {
    const EMPTY: TwoLowest = TwoLowest([(f64::INFINITY, NONE); 2]);

    fn insert(&mut self, value: f64, component: usize) {
        let [first, second] = &mut self.0;
        if component == first.1 {
            first.0 = first.0.min(value);
        } else if component == second.1 {
            second.0 = second.0.min(value);
            if second.0 < first.0 {
                std::mem::swap(first, second);
            }
        } else if value < first.0 {
            *second = *first;
            *first = (value, component);
        } else if value < second.0 {
            *second = (value, component);
        }
    }

    /// The smallest core distance among the points not in `component` (infinite if none).
    fn lowest_outside(&self, component: usize) -> f64 {
        if self.0[0].1 == component {
            self.0[1].0
        } else {
            self.0[0].0
        }
    }
}

/// State shared by the per-point searches of one Borůvka round.
struct Round<'a> {
    tree: &'a KdTree,
    core2: &'a [f64],
    component: &'a [usize],
    /// The largest component, whose points need not search (see [`boruvka_mst`]).
    skipped: usize,
    /// Per node, the two components with the smallest core distances among its points.
    node_cores: &'a [TwoLowest],
    /// Per node, the smallest input row among its points (for index tie-breaks).
    node_min_row: &'a [usize],
    /// Per component (indexed by its root position), the bits of the lightest outgoing edge
    /// weight found so far. Non-negative f64s order like their bit patterns, so `fetch_min` on
    /// the bits is a min on the values.
    bound: &'a [AtomicU64],
}

impl Round<'_> {
    /// The lightest edge from the point at `p` to another component, as (squared weight,
    /// position), ties broken by the smaller input row; `None` when pruning shows that the
    /// component has an edge strictly lighter than any of `p`'s.
    fn nearest_outside(&self, p: usize) -> Option<(f64, usize)> {
        let c = self.component[p];
        if c == self.skipped
            || self.core2[p] > f64::from_bits(self.bound[c].load(Ordering::Relaxed))
        {
            return None;
        }
        let mut best = (f64::INFINITY, NONE, NONE);
        self.visit(0, p, self.tree.point(p), c, &mut best);
        (best.1 != NONE).then_some((best.0, best.2))
    }

    /// `best` is (squared weight, input row, position) of the lightest edge found so far.
    fn visit(
        &self,
        node: usize,
        p: usize,
        point: &[f64],
        c: usize,
        best: &mut (f64, usize, usize),
    ) {
        let other_core = self.node_cores[node].lowest_outside(c);
        if other_core == f64::INFINITY {
            return; // every point of the node is in p's component
        }
        let core_p = self.core2[p];
        let lower = core_p.max(other_core).max(self.tree.box_dist2(point, node));
        if !self.worth_visiting(lower, self.node_min_row[node], c, best) {
            return;
        }
        match self.tree.nodes[node].children {
            None => {
                let range = self.tree.nodes[node].start..self.tree.nodes[node].end;
                for q in range {
                    if self.component[q] == c {
                        continue;
                    }
                    let w = core_p.max(self.core2[q]).max(self.tree.dist2(point, q));
                    let row = self.tree.row_of(q);
                    if w < best.0 || (w == best.0 && row < best.1) {
                        *best = (w, row, q);
                        self.bound[c].fetch_min(w.to_bits(), Ordering::Relaxed);
                    }
                }
            }
            Some((left, right)) => {
                let dl = self.tree.box_dist2(point, left);
                let dr = self.tree.box_dist2(point, right);
                let (first, second) = if dr < dl {
                    (right, left)
                } else {
                    (left, right)
                };
                self.visit(first, p, point, c, best);
                self.visit(second, p, point, c, best);
            }
        }
    }

    /// Whether a node whose edges weigh at least `lower` and whose rows are at least `min_row`
    /// can still hold `p`'s lightest edge. Pruning is strict on the shared component bound,
    /// so the component's lightest edge (with its index tie-break) is never pruned away,
    /// whatever order the threads run in.
    fn worth_visiting(
        &self,
        lower: f64,
        min_row: usize,
        c: usize,
        best: &(f64, usize, usize),
    ) -> bool {
        if lower > f64::from_bits(self.bound[c].load(Ordering::Relaxed)) {
            return false;
        }
        lower < best.0 || (lower == best.0 && min_row < best.1)
    }
}

/// The minimum spanning tree of the mutual-reachability graph by Borůvka's algorithm, with
/// edges in input-row indices. `core2` holds squared core distances in tree order.
///
/// Each round, every point searches the kd-tree for its nearest point of another component,
/// skipping nodes that lie wholly in its own component and nodes whose lower bound
/// `max(core[p], box distance, smallest core distance of the node's points outside p's
/// component)` exceeds the lightest
/// outgoing edge found so far for its component; then every component joins along its lightest
/// edge. Edges are ordered by (weight, smaller end, larger end) in input rows, a strict
/// total order, so the minimum spanning tree is unique, ties never form cycles and the result
/// does not depend on `threads` or on the tree's shape. The largest component does not search: the lightest edges of
/// the others are tree edges all the same (cut property), every other component still merges,
/// and late rounds, where one component holds most points, cost a fraction.
///
/// # Complexity
/// O(log n) rounds of n pruned queries: about O(n log² n) for low-dimensional data.
pub(crate) fn boruvka_mst(tree: &KdTree, core2: &[f64], threads: usize) -> Vec<MstEdge> {
    let n = tree.len();
    let nodes = &tree.nodes;
    let mut uf = UnionFind::new(n);
    let mut edges: Vec<(f64, usize, usize)> = Vec::with_capacity(n.saturating_sub(1));
    let bound: Vec<AtomicU64> = (0..n)
        .map(|_| AtomicU64::new(f64::INFINITY.to_bits()))
        .collect();
    let mut component = vec![0usize; n];
    let mut node_cores = vec![TwoLowest::EMPTY; nodes.len()];
    let mut node_min_row = vec![NONE; nodes.len()];
    for index in (0..nodes.len()).rev() {
        node_min_row[index] = match nodes[index].children {
            None => (nodes[index].start..nodes[index].end)
                .map(|q| tree.row_of(q))
                .min()
                .unwrap_or(NONE),
            Some((l, r)) => node_min_row[l].min(node_min_row[r]),
        };
    }
    while edges.len() + 1 < n {
        for (p, slot) in component.iter_mut().enumerate() {
            *slot = uf.find(p);
        }
        for index in (0..nodes.len()).rev() {
            let node = nodes[index];
            let mut two = TwoLowest::EMPTY;
            match node.children {
                None => (node.start..node.end).for_each(|q| two.insert(core2[q], component[q])),
                Some((l, r)) => {
                    for (value, c) in node_cores[l].0.into_iter().chain(node_cores[r].0) {
                        if c != NONE {
                            two.insert(value, c);
                        }
                    }
                }
            }
            node_cores[index] = two;
        }
        let mut sizes = vec![0usize; n];
        component.iter().for_each(|&c| sizes[c] += 1);
        let skipped = (0..n)
            .max_by(|&a, &b| sizes[a].cmp(&sizes[b]).then(b.cmp(&a)))
            .unwrap_or(NONE);
        for b in &bound {
            b.store(f64::INFINITY.to_bits(), Ordering::Relaxed);
        }
        let round = Round {
            tree,
            core2,
            component: &component,
            skipped,
            node_cores: &node_cores,
            node_min_row: &node_min_row,
            bound: &bound,
        };
        let found = par_map_blocks(n, threads, |range| {
            range.map(|p| round.nearest_outside(p)).collect()
        });
        // The lightest edge per component under the (weight, min row, max row) order, with
        // its ends' positions.
        let mut lightest: Vec<(f64, usize, usize, usize, usize)> =
            vec![(f64::INFINITY, NONE, NONE, NONE, NONE); n];
        for (p, candidate) in found.into_iter().enumerate() {
            if let Some((w, q)) = candidate {
                let (rp, rq) = (tree.row_of(p), tree.row_of(q));
                let key = (w, rp.min(rq), rp.max(rq), p, q);
                let slot = &mut lightest[component[p]];
                if key.0 < slot.0 || (key.0 == slot.0 && (key.1, key.2) < (slot.1, slot.2)) {
                    *slot = key;
                }
            }
        }
        let before = edges.len();
        for &(w, ra, rb, p, q) in lightest.iter().filter(|e| e.1 != NONE) {
            if uf.union(p, q) {
                edges.push((w, ra, rb));
            }
        }
        if edges.len() == before {
            break; // unreachable for a complete graph; guards against an endless loop
        }
    }
    edges
        .into_iter()
        .map(|(w2, a, b)| MstEdge {
            a,
            b,
            distance: w2.sqrt(),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ndarray::{Array2, ArrayView2};
    use proptest::prelude::*;

    /// Prim's algorithm on the dense mutual-reachability matrix: O(n²), the reference.
    pub(crate) fn naive_prim_weight(data: ArrayView2<'_, f32>, min_samples: usize) -> f64 {
        let n = data.nrows();
        let dist = |a: usize, b: usize| -> f64 {
            data.row(a)
                .iter()
                .zip(data.row(b))
                .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
                .sum::<f64>()
        };
        let k = min_samples.min(n - 1);
        let core: Vec<f64> = (0..n)
            .map(|a| {
                let mut d: Vec<f64> = (0..n).filter(|&b| b != a).map(|b| dist(a, b)).collect();
                d.sort_by(f64::total_cmp);
                if k == 0 {
                    0.0
                } else {
                    d[k - 1]
                }
            })
            .collect();
        let mrd = |a: usize, b: usize| core[a].max(core[b]).max(dist(a, b));
        let mut in_tree = vec![false; n];
        let mut best = vec![f64::INFINITY; n];
        best[0] = 0.0;
        let mut total = 0.0;
        for _ in 0..n {
            let u = (0..n)
                .filter(|&v| !in_tree[v])
                .min_by(|&x, &y| best[x].total_cmp(&best[y]))
                .unwrap();
            in_tree[u] = true;
            total += best[u].sqrt();
            for v in 0..n {
                if !in_tree[v] {
                    best[v] = best[v].min(mrd(u, v));
                }
            }
        }
        total
    }

    fn boruvka_weight(
        data: ArrayView2<'_, f32>,
        min_samples: usize,
        leaf: usize,
        threads: usize,
    ) -> (f64, usize) {
        let tree = KdTree::new(data, leaf).unwrap();
        let core2 = core_distances2(&tree, min_samples, threads);
        let mst = boruvka_mst(&tree, &core2, threads);
        let mut uf = UnionFind::new(data.nrows());
        for e in &mst {
            assert!(uf.union(e.a, e.b), "cycle at {e:?}");
        }
        (mst.iter().map(|e| e.distance).sum(), mst.len())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn boruvka_weight_equals_prim(
            n in 1usize..120,
            dim in 1usize..5,
            min_samples in 1usize..8,
            leaf in 1usize..12,
            threads in 1usize..3,
            grid in any::<bool>(),
            seed in any::<u64>(),
        ) {
            use rand::{rngs::StdRng, Rng, SeedableRng};
            let mut rng = StdRng::seed_from_u64(seed);
            // A coarse grid makes many exact ties and duplicates.
            let data = Array2::from_shape_fn((n, dim), |_| {
                if grid { f32::from(rng.random_range(0u8..4)) } else { rng.random_range(-5.0f32..5.0) }
            });
            let (weight, edges) = boruvka_weight(data.view(), min_samples, leaf, threads);
            prop_assert_eq!(edges, n - 1);
            let reference = naive_prim_weight(data.view(), min_samples);
            prop_assert!((weight - reference).abs() <= 1e-9 * reference.max(1.0), "{} vs {}", weight, reference);
        }
    }

    #[test]
    fn mst_does_not_depend_on_threads() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(3);
        let data = Array2::from_shape_fn((5000, 3), |_| rng.random_range(0u8..20) as f32);
        let tree = KdTree::new(data.view(), 16).unwrap();
        let core2 = core_distances2(&tree, 5, 1);
        assert_eq!(core2, core_distances2(&tree, 5, 3));
        assert_eq!(boruvka_mst(&tree, &core2, 1), boruvka_mst(&tree, &core2, 3));
    }
}
