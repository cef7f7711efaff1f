//! Conflict Reduction on small hand-built signed graphs, through the whole pipeline: the
//! neighbour lists hold exactly the judged pairs, and an oracle judge gives their signs.

use navab_conflict::{
    reduce_conflicts_with_neighbours, ConflictOutcome, ConflictParams, Corpus, Neighbours,
    OracleJudge, RemovalReason, SignedEdge, SignedGraph, Statement,
};

const A: bool = false; // agree
const C: bool = true; // conflict

fn id(i: usize) -> String {
    format!("s{i}")
}

fn run(
    n: usize,
    edges: &[(usize, usize, bool)],
    support: &[f64],
    params: &ConflictParams,
) -> ConflictOutcome {
    let corpus = Corpus {
        articles: Vec::new(),
        statements: (0..n)
            .map(|i| {
                Statement::new(id(i), format!("statement {i}"))
                    .with_support(support.get(i).copied().unwrap_or(1.0))
            })
            .collect(),
    };
    let mut lists = vec![Vec::new(); n];
    for &(a, b, _) in edges {
        lists[a].push((b, 0.9));
    }
    let neighbours = Neighbours::from_lists(n, lists).unwrap();
    let judge = OracleJudge::new(edges.iter().filter(|e| e.2).map(|e| (id(e.0), id(e.1))))
        .with_agreements(edges.iter().filter(|e| !e.2).map(|e| (id(e.0), id(e.1))));
    reduce_conflicts_with_neighbours(&corpus, &neighbours, &judge, params).unwrap()
}

#[test]
fn balanced_triangle_keeps_all() {
    let out = run(
        3,
        &[(0, 1, A), (1, 2, A), (0, 2, A)],
        &[],
        &ConflictParams::default(),
    );
    assert_eq!(out.kept, vec![0, 1, 2]);
    assert!(out.report.removed.is_empty());
    let round = &out.report.rounds[0];
    assert_eq!((round.unbalanced_cycles, round.frustrated_weight), (0, 0.0));
    assert_eq!(
        out.report.rounds.len(),
        1,
        "a round that removes nothing ends the loop"
    );
}

#[test]
fn triangle_with_one_conflict_has_exactly_one_unbalanced_cycle() {
    let out = run(
        3,
        &[(0, 1, A), (1, 2, A), (0, 2, C)],
        &[],
        &ConflictParams::default(),
    );
    let round = &out.report.rounds[0];
    assert_eq!(round.unbalanced_cycles, 1);
    assert_eq!(round.conflict_edges, 1);
    assert!(round.frustrated_weight > 0.0);
    // One end of the conflict goes; the graph left is balanced and a second round confirms it.
    assert_eq!(out.report.removed.len(), 1);
    let removed = &out.report.removed[0];
    assert!(removed.id == "s0" || removed.id == "s2");
    assert_eq!(out.kept.len(), 2);
    assert_eq!(out.report.rounds[1].unbalanced_cycles, 0);
    assert_eq!(out.report.rounds[1].removed, 0);
}

#[test]
fn balanced_triangle_with_two_conflicts_removes_the_lone_dissenter() {
    // {0, 1} agree and both conflict with 2: balanced, but 2 is the minority stance.
    let out = run(
        3,
        &[(0, 1, A), (1, 2, C), (0, 2, C)],
        &[],
        &ConflictParams::default(),
    );
    assert_eq!(out.report.rounds[0].unbalanced_cycles, 0);
    assert_eq!(out.kept, vec![0, 1]);
    let removed = &out.report.removed[0];
    assert_eq!(removed.reason, RemovalReason::ConflictWithDominant);
    assert_eq!(removed.conflicts_with, vec!["s0", "s1"]);
    assert_eq!((removed.side_support, removed.dominant_support), (1.0, 2.0));
}

#[test]
fn cycles_longer_than_max_are_not_reported() {
    for len in 3..=8usize {
        // A ring of `len` agreements but one conflict: one unbalanced cycle of `len` edges.
        let mut edges: Vec<_> = (0..len - 1).map(|i| (i, i + 1, A)).collect();
        edges.push((0, len - 1, C));
        let out = run(len, &edges, &[], &ConflictParams::default());
        let expected = usize::from(len <= 5);
        assert_eq!(
            out.report.rounds[0].unbalanced_cycles, expected,
            "ring of {len}"
        );

        let g = SignedGraph::new(
            len,
            edges
                .iter()
                .map(|&(a, b, negative)| SignedEdge {
                    a,
                    b,
                    negative,
                    weight: 1.0,
                })
                .collect(),
        );
        assert_eq!(g.unbalanced_cycles(5, usize::MAX, |_| {}).count, expected);
        assert_eq!(g.unbalanced_cycles(8, usize::MAX, |_| {}).count, 1);
    }
}

#[test]
fn minority_side_is_removed() {
    // Camp {0, 1, 2} agrees; camp {3, 4} agrees; the camps conflict.
    let edges = [
        (0, 1, A),
        (1, 2, A),
        (0, 2, A),
        (3, 4, A),
        (0, 3, C),
        (2, 4, C),
    ];
    let out = run(5, &edges, &[], &ConflictParams::default());
    assert_eq!(out.kept, vec![0, 1, 2]);
    let ids: Vec<&str> = out.report.removed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["s3", "s4"]);
    assert!(out
        .report
        .removed
        .iter()
        .all(|r| r.round == 1 && r.reason == RemovalReason::ConflictWithDominant));

    // Support decides, not head count: the two statements of camp {3, 4} repeated by 5 articles
    // each outweigh three single ones. Statement 1 conflicts with nobody and sits on no
    // unbalanced cycle, so it stays although its camp lost.
    let out = run(
        5,
        &edges,
        &[1.0, 1.0, 1.0, 5.0, 5.0],
        &ConflictParams::default(),
    );
    assert_eq!(out.kept, vec![1, 3, 4]);
}

#[test]
fn minority_on_an_unbalanced_cycle_is_removed_without_a_direct_conflict() {
    // Core {0, 1, 2} (0 repeated twice) against camp {3, 4, 5}; only 3 conflicts with the core
    // directly. 4 also agrees with 2, which closes the unbalanced cycles 0-3-4-2 (4 edges),
    // 0-3-5-4-2 and 0-3-4-2-1 (5 edges), each with the one conflict 0-3.
    let edges = [
        (0, 1, A),
        (0, 2, A),
        (1, 2, A),
        (0, 3, C),
        (3, 4, A),
        (3, 5, A),
        (4, 5, A),
        (2, 4, A),
    ];
    let out = run(
        6,
        &edges,
        &[2.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        &ConflictParams::default(),
    );
    assert_eq!(out.report.rounds[0].unbalanced_cycles, 3);
    assert_eq!(out.kept, vec![0, 1, 2]);
    let reasons: Vec<(&str, RemovalReason)> = out
        .report
        .removed
        .iter()
        .map(|r| (r.id.as_str(), r.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("s3", RemovalReason::ConflictWithDominant),
            ("s4", RemovalReason::UnbalancedCycle),
            ("s5", RemovalReason::UnbalancedCycle),
        ]
    );
    let last = out.report.rounds.last().unwrap();
    assert_eq!(
        (last.unbalanced_cycles, last.conflict_edges, last.removed),
        (0, 0, 0)
    );
}

#[test]
fn a_conflict_outvoted_by_agreements_is_dropped_as_an_edge() {
    // 3 and 4 each agree with the core and with each other's neighbours; their conflict is the
    // one relation the sides cannot satisfy: the edge goes, both statements stay.
    let edges = [
        (0, 1, A),
        (1, 2, A),
        (0, 2, A),
        (0, 3, A),
        (3, 4, C),
        (1, 4, A),
    ];
    let out = run(5, &edges, &[], &ConflictParams::default());
    assert!(out.report.rounds[0].unbalanced_cycles >= 1);
    assert_eq!(out.kept, vec![0, 1, 2, 3, 4]);
    let dropped = &out.report.dropped_relations;
    assert_eq!(dropped.len(), 1);
    assert_eq!(
        (dropped[0].first.as_str(), dropped[0].second.as_str()),
        ("s3", "s4")
    );
    let last = out.report.rounds.last().unwrap();
    assert_eq!((last.unbalanced_cycles, last.conflict_edges), (0, 0));
}

#[test]
fn rounds_are_capped() {
    let edges = [(0, 1, A), (1, 2, A), (0, 2, C)];
    let params = ConflictParams {
        rounds: 1,
        ..ConflictParams::default()
    };
    let out = run(3, &edges, &[], &params);
    assert_eq!(out.report.rounds.len(), 1);
}
