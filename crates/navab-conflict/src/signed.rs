//! Signed graphs: unbalanced short cycles and structural balance.

use petgraph::unionfind::UnionFind;

/// An undirected edge of a [`SignedGraph`]: agree (positive) or conflict (negative).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SignedEdge {
    /// One endpoint.
    pub a: usize,
    /// The other endpoint, `!= a`.
    pub b: usize,
    /// A conflict (`true`) or an agreement (`false`).
    pub negative: bool,
    /// How much the relation counts, > 0.
    pub weight: f32,
}

/// A signed graph in compressed adjacency form. Node indices are `0..n`; edge ids are
/// positions in the edge list given to [`SignedGraph::new`].
#[derive(Clone, Debug)]
pub struct SignedGraph {
    n: usize,
    edges: Vec<SignedEdge>,
    offsets: Vec<usize>,
    /// `(neighbour, edge id)`, each node's slice sorted by neighbour then edge id.
    adj: Vec<(usize, usize)>,
}

/// What [`SignedGraph::unbalanced_cycles`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CycleStats {
    /// Unbalanced cycles found (each once).
    pub count: usize,
    /// Whether the search stopped at its cap.
    pub truncated: bool,
    /// Per node, whether it lies on a found cycle.
    pub on_cycle: Vec<bool>,
}

/// A 2-colouring from [`SignedGraph::two_colouring`].
#[derive(Clone, Debug, PartialEq)]
pub struct Colouring {
    /// Per node, its side.
    pub side: Vec<bool>,
    /// Per node, its connected region, numbered in order of each region's smallest node.
    pub region: Vec<usize>,
    /// Number of regions (isolated nodes count as regions of their own).
    pub regions: usize,
    /// Total weight of frustrated edges: agreements across sides, conflicts within one.
    pub frustrated_weight: f64,
}

impl SignedGraph {
    /// Builds the graph.
    ///
    /// # Panics
    /// If an endpoint is `>= n` or an edge is a loop.
    ///
    /// # Complexity
    /// `O(n + m log Δ)` for `m` edges and largest degree `Δ`.
    pub fn new(n: usize, edges: Vec<SignedEdge>) -> Self {
        let mut degree = vec![0usize; n + 1];
        for e in &edges {
            assert!(
                e.a < n && e.b < n && e.a != e.b,
                "bad edge {e:?} for {n} nodes"
            );
            degree[e.a] += 1;
            degree[e.b] += 1;
        }
        let mut offsets = vec![0usize; n + 1];
        for i in 0..n {
            offsets[i + 1] = offsets[i] + degree[i];
        }
        let mut fill = offsets.clone();
        let mut adj = vec![(0usize, 0usize); offsets[n]];
        for (id, e) in edges.iter().enumerate() {
            adj[fill[e.a]] = (e.b, id);
            fill[e.a] += 1;
            adj[fill[e.b]] = (e.a, id);
            fill[e.b] += 1;
        }
        for i in 0..n {
            adj[offsets[i]..offsets[i + 1]].sort_unstable();
        }
        Self {
            n,
            edges,
            offsets,
            adj,
        }
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.n
    }

    /// The edges, by id.
    pub fn edges(&self) -> &[SignedEdge] {
        &self.edges
    }

    /// `(neighbour, edge id)` of node `x`.
    pub fn neighbours(&self, x: usize) -> &[(usize, usize)] {
        &self.adj[self.offsets[x]..self.offsets[x + 1]]
    }

    /// Finds every simple cycle of at most `max_len` edges with an odd number of negative edges
    /// (an unbalanced cycle: its stances cannot all be consistent), calling `visit` with each
    /// cycle's nodes, and stops after `max_cycles`.
    ///
    /// Every unbalanced cycle holds a conflict edge, so the search starts only from conflict
    /// edges: for each negative edge `(u, v)` in id order, a depth-first search for paths
    /// `v → u` of at most `max_len - 1` edges with an even number of negative edges, using no
    /// negative edge of smaller id. A cycle is thus found exactly once, from its
    /// smallest-id negative edge, in one direction. Nodes within 2 hops of `u` are marked first,
    /// so the last two steps only follow nodes that can still close the cycle.
    ///
    /// # Returns
    /// The count, whether it was truncated, and which nodes lie on a found cycle.
    ///
    /// # Complexity
    /// `O(c · d^(max_len - 3) · d)` time for `c` conflict edges and typical degree `d` (the
    /// last two levels pruned to nodes near `u`), `O(n)` memory. Agreement-only regions cost
    /// nothing.
    ///
    /// # Example
    /// ```
    /// use navab_conflict::{SignedEdge, SignedGraph};
    /// let e = |a, b, negative| SignedEdge { a, b, negative, weight: 1.0 };
    /// // 0 and 1 agree, 1 and 2 agree, 0 and 2 conflict: one unbalanced triangle.
    /// let g = SignedGraph::new(3, vec![e(0, 1, false), e(1, 2, false), e(0, 2, true)]);
    /// let mut cycles = Vec::new();
    /// let stats = g.unbalanced_cycles(5, usize::MAX, |c| cycles.push(c.to_vec()));
    /// assert_eq!(stats.count, 1);
    /// assert_eq!(cycles, vec![vec![0, 2, 1]]);
    /// ```
    pub fn unbalanced_cycles<F: FnMut(&[usize])>(
        &self,
        max_len: usize,
        max_cycles: usize,
        mut visit: F,
    ) -> CycleStats {
        let mut stats = CycleStats {
            on_cycle: vec![false; self.n],
            ..CycleStats::default()
        };
        let mut search = Search {
            g: self,
            max_len,
            max_cycles,
            near1: vec![0; self.n],
            near2: vec![0; self.n],
            on_path: vec![false; self.n],
            path: Vec::with_capacity(max_len + 1),
            epoch: 0,
            start_edge: 0,
            target: 0,
        };
        for (id, e) in self.edges.iter().enumerate() {
            if !e.negative {
                continue;
            }
            let (u, v) = (e.a.min(e.b), e.a.max(e.b));
            search.epoch += 1;
            let epoch = search.epoch;
            for &(w, _) in self.neighbours(u) {
                search.near1[w] = epoch;
                search.near2[w] = epoch;
            }
            for &(w, _) in self.neighbours(u) {
                for &(z, _) in self.neighbours(w) {
                    search.near2[z] = epoch;
                }
            }
            search.start_edge = id;
            search.target = u;
            search.path.clear();
            search.path.extend([u, v]);
            search.on_path[u] = true;
            search.on_path[v] = true;
            let stop = search.dfs(v, 1, 1, &mut stats, &mut visit);
            search.on_path[u] = false;
            search.on_path[v] = false;
            if stop {
                stats.truncated = true;
                break;
            }
        }
        stats
    }

    /// A 2-colouring into sides that makes the weight of frustrated edges small: exact (zero)
    /// on every balanced region, a local optimum elsewhere.
    ///
    /// A maximum-weight spanning forest (Kruskal with petgraph's union-find, ties by edge id)
    /// fixes the sides along its edges from each region's smallest node, which satisfies the
    /// heaviest relations first and every relation of a balanced region. Then up to `passes`
    /// sweeps in node order flip any node whose flip lowers the frustrated weight. No
    /// randomness: the same graph gives the same sides.
    ///
    /// # Complexity
    /// `O(m log m + passes · (n + m))` time, `O(n + m)` memory.
    ///
    /// # Example
    /// ```
    /// use navab_conflict::{SignedEdge, SignedGraph};
    /// let e = |a, b, negative| SignedEdge { a, b, negative, weight: 1.0 };
    /// // Two camps, {0, 1} and {2}: balanced, nothing frustrated.
    /// let g = SignedGraph::new(3, vec![e(0, 1, false), e(1, 2, true), e(0, 2, true)]);
    /// let c = g.two_colouring(10);
    /// assert_eq!(c.frustrated_weight, 0.0);
    /// assert!(c.side[0] == c.side[1] && c.side[1] != c.side[2]);
    /// ```
    pub fn two_colouring(&self, passes: usize) -> Colouring {
        let n = self.n;
        let mut order: Vec<usize> = (0..self.edges.len()).collect();
        order.sort_by(|&x, &y| {
            self.edges[y]
                .weight
                .total_cmp(&self.edges[x].weight)
                .then(x.cmp(&y))
        });
        let mut uf = UnionFind::<usize>::new(n);
        let mut tree: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n];
        for id in order {
            let e = self.edges[id];
            if uf.union(e.a, e.b) {
                tree[e.a].push((e.b, e.negative));
                tree[e.b].push((e.a, e.negative));
            }
        }
        let mut side = vec![false; n];
        let mut region = vec![usize::MAX; n];
        let mut regions = 0;
        let mut queue = std::collections::VecDeque::new();
        for root in 0..n {
            if region[root] != usize::MAX {
                continue;
            }
            region[root] = regions;
            queue.push_back(root);
            while let Some(x) = queue.pop_front() {
                for &(y, negative) in &tree[x] {
                    if region[y] == usize::MAX {
                        region[y] = regions;
                        side[y] = side[x] ^ negative;
                        queue.push_back(y);
                    }
                }
            }
            regions += 1;
        }
        for _ in 0..passes {
            let mut changed = false;
            for x in 0..n {
                let mut gain = 0.0f64;
                for &(y, id) in self.neighbours(x) {
                    let e = &self.edges[id];
                    let w = f64::from(e.weight);
                    gain += if (side[x] != side[y]) ^ e.negative {
                        w
                    } else {
                        -w
                    };
                }
                // Strictly better only, with slack for rounding, so sweeps terminate.
                if gain > 1e-9 {
                    side[x] = !side[x];
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let frustrated_weight = self
            .edges
            .iter()
            .filter(|e| (side[e.a] != side[e.b]) ^ e.negative)
            .map(|e| f64::from(e.weight))
            .sum();
        Colouring {
            side,
            region,
            regions,
            frustrated_weight,
        }
    }
}

struct Search<'g> {
    g: &'g SignedGraph,
    max_len: usize,
    max_cycles: usize,
    /// `near1[x] == epoch`: `x` is adjacent to the target; `near2`: within 2 hops.
    near1: Vec<u64>,
    near2: Vec<u64>,
    on_path: Vec<bool>,
    path: Vec<usize>,
    epoch: u64,
    start_edge: usize,
    target: usize,
}

impl Search<'_> {
    /// Extends the path at `x` (`len` edges so far, `negs` of them negative). Returns true to
    /// stop everything (cap reached).
    fn dfs<F: FnMut(&[usize])>(
        &mut self,
        x: usize,
        len: usize,
        negs: usize,
        stats: &mut CycleStats,
        visit: &mut F,
    ) -> bool {
        let g = self.g;
        for &(y, id) in g.neighbours(x) {
            if id == self.start_edge {
                continue;
            }
            let e = &g.edges[id];
            // A cycle belongs to its smallest-id conflict edge.
            if e.negative && id < self.start_edge {
                continue;
            }
            let t = len + 1;
            let negs = negs + usize::from(e.negative);
            if y == self.target {
                if t >= 3 && negs % 2 == 1 {
                    stats.count += 1;
                    for &p in &self.path {
                        stats.on_cycle[p] = true;
                    }
                    visit(&self.path);
                    if stats.count >= self.max_cycles {
                        return true;
                    }
                }
                continue;
            }
            if self.on_path[y] || t >= self.max_len {
                continue;
            }
            let near = match self.max_len - t {
                1 => self.near1[y] == self.epoch,
                2 => self.near2[y] == self.epoch,
                _ => true,
            };
            if !near {
                continue;
            }
            self.on_path[y] = true;
            self.path.push(y);
            let stop = self.dfs(y, t, negs, stats, visit);
            self.path.pop();
            self.on_path[y] = false;
            if stop {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(a: usize, b: usize, negative: bool) -> SignedEdge {
        SignedEdge {
            a,
            b,
            negative,
            weight: 1.0,
        }
    }

    /// All simple cycles up to `max_len` with odd negatives, by brute force over node sequences.
    fn brute_force(g: &SignedGraph, max_len: usize) -> usize {
        fn rec(
            g: &SignedGraph,
            path: &mut Vec<usize>,
            negs: usize,
            max_len: usize,
            count: &mut usize,
        ) {
            let x = *path.last().unwrap();
            for &(y, id) in g.neighbours(x) {
                let negs = negs + usize::from(g.edges()[id].negative);
                if y == path[0] && path.len() >= 3 && negs % 2 == 1 {
                    *count += 1;
                } else if y > path[0] && !path.contains(&y) && path.len() < max_len {
                    path.push(y);
                    rec(g, path, negs, max_len, count);
                    path.pop();
                }
            }
        }
        let mut count = 0;
        for s in 0..g.node_count() {
            rec(g, &mut vec![s], 0, max_len, &mut count);
        }
        count / 2 // each cycle is walked in both directions
    }

    #[test]
    fn cycle_search_matches_brute_force_on_pseudo_random_graphs() {
        let mut x = 7u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        for n in [6usize, 9, 12] {
            for _ in 0..5 {
                let mut edges = Vec::new();
                for a in 0..n {
                    for b in a + 1..n {
                        if next() % 3 == 0 {
                            edges.push(e(a, b, next() % 3 == 0));
                        }
                    }
                }
                let g = SignedGraph::new(n, edges);
                for max_len in 3..=6 {
                    let mut seen = std::collections::BTreeSet::new();
                    let stats = g.unbalanced_cycles(max_len, usize::MAX, |c| {
                        let mut k = c.to_vec();
                        k.sort_unstable();
                        assert!(c.len() <= max_len);
                        seen.insert((k, c.len()));
                    });
                    assert_eq!(stats.count, brute_force(&g, max_len), "n {n} len {max_len}");
                    assert!(!stats.truncated);
                }
            }
        }
    }

    #[test]
    fn cap_truncates() {
        let g = SignedGraph::new(
            4,
            vec![
                e(0, 1, true),
                e(1, 2, false),
                e(0, 2, false),
                e(2, 3, false),
                e(1, 3, false),
            ],
        );
        let stats = g.unbalanced_cycles(5, 1, |_| {});
        assert_eq!((stats.count, stats.truncated), (1, true));
    }

    #[test]
    fn colouring_minimises_frustration_on_unbalanced_triangle() {
        let mut edges = vec![e(0, 1, false), e(1, 2, false), e(0, 2, true)];
        edges[2].weight = 0.5; // the light conflict should be the frustrated one
        let c = SignedGraph::new(3, edges).two_colouring(10);
        assert_eq!(c.frustrated_weight, 0.5);
        assert_eq!(c.regions, 1);
    }
}
