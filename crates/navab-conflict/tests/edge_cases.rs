//! Degenerate input, bad input and a failing judge.

use navab_conflict::{
    reduce_conflicts, CandidatePair, ConflictParams, Corpus, Error, Neighbours, OracleJudge,
    Relation, RelationJudge, Statement,
};

fn corpus(n: usize) -> Corpus {
    Corpus {
        articles: Vec::new(),
        statements: (0..n)
            .map(|i| Statement::new(format!("s{i}"), format!("text {i}")))
            .collect(),
    }
}

#[test]
fn empty_input_gives_an_empty_result() {
    let c = corpus(0);
    let e = c.embeddings_from_rows(&[]).unwrap();
    let out =
        reduce_conflicts(&c, &e, &OracleJudge::default(), &ConflictParams::default()).unwrap();
    assert!(out.kept.is_empty());
    assert_eq!(out.report.statements, 0);
    assert!(out.report.removed.is_empty());
}

#[test]
fn one_statement_is_kept() {
    let c = corpus(1);
    let e = c.embeddings_from_flat(&[0.3, 0.4], 2).unwrap();
    let out =
        reduce_conflicts(&c, &e, &OracleJudge::default(), &ConflictParams::default()).unwrap();
    assert_eq!(out.kept, vec![0]);
    assert_eq!(out.report.candidate_pairs, 0);
}

#[test]
fn duplicate_ids_are_an_error() {
    let mut c = corpus(2);
    c.statements[1].id = "s0".into();
    let e = c.embeddings_from_rows(&[vec![1.0], vec![1.0]]).unwrap();
    let err =
        reduce_conflicts(&c, &e, &OracleJudge::default(), &ConflictParams::default()).unwrap_err();
    assert!(
        matches!(err, Error::DuplicateId { kind: "statement", ref id } if id == "s0"),
        "{err}"
    );
}

#[test]
fn bad_embeddings_name_the_statement() {
    let c = corpus(3);
    let err = c
        .embeddings_from_rows(&[vec![1.0, 0.0], vec![0.0, 1.0], vec![f32::INFINITY, 0.0]])
        .unwrap_err();
    assert!(err.to_string().contains("\"s2\""), "{err}");
    let err = c
        .embeddings_from_rows(&[vec![1.0, 0.0], vec![0.0, 1.0, 0.0], vec![1.0, 0.0]])
        .unwrap_err();
    assert!(
        matches!(err, Error::Embedding { index: 1, .. }) && err.to_string().contains("\"s1\""),
        "{err}"
    );
    assert!(matches!(
        c.embeddings_from_rows(&[vec![1.0]]),
        Err(Error::Shape(_))
    ));
    let bad = ConflictParams {
        rounds: 0,
        ..ConflictParams::default()
    };
    let e = c
        .embeddings_from_rows(&[vec![1.0], vec![1.0], vec![1.0]])
        .unwrap();
    assert!(matches!(
        reduce_conflicts(&c, &e, &OracleJudge::default(), &bad),
        Err(Error::InvalidParam { name: "rounds", .. })
    ));
}

/// Fails on every pair that involves `s1`; answers conflict for (s0, s2).
struct Flaky;

impl RelationJudge for Flaky {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<navab_conflict::Result<Relation>> {
        pairs
            .iter()
            .map(|p| match (p.first.id.as_str(), p.second.id.as_str()) {
                ("s1", _) | (_, "s1") => Err(Error::judge("model timed out")),
                _ => Ok(Relation::Conflict),
            })
            .collect()
    }
}

/// Returns one result too few.
struct Short;

impl RelationJudge for Short {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<navab_conflict::Result<Relation>> {
        pairs.iter().skip(1).map(|_| Ok(Relation::Agree)).collect()
    }
}

#[test]
fn judge_failures_are_recorded_and_the_run_goes_on() {
    let c = corpus(3);
    let nb =
        Neighbours::from_lists(3, vec![vec![(1, 0.9), (2, 0.9)], vec![(2, 0.9)], vec![]]).unwrap();
    let params = ConflictParams::default();
    let out = navab_conflict::reduce_conflicts_with_neighbours(&c, &nb, &Flaky, &params).unwrap();
    assert_eq!(out.report.judge_failures.len(), 2);
    assert!(out
        .report
        .judge_failures
        .iter()
        .all(|f| f.reason == "model timed out"));
    assert_eq!(out.report.relations.unjudged, 2);
    assert_eq!(out.report.relations.conflict, 1);
    // s0 and s2 conflict 1:1; the tie goes to the statement listed first.
    assert_eq!(out.kept, vec![0, 1]);

    let out = navab_conflict::reduce_conflicts_with_neighbours(&c, &nb, &Short, &params).unwrap();
    assert_eq!(out.report.judge_failures.len(), 3);
    assert!(out.report.judge_failures[0]
        .reason
        .contains("2 results for a batch of 3"));
    assert_eq!(out.kept, vec![0, 1, 2]);
}
