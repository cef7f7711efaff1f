//! Rounds of Conflict Reduction and their report.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::graph::{JudgeFailure, KnowledgeGraph, LinkKind};
use crate::judge::{Relation, RelationJudge};
use crate::signed::{SignedEdge, SignedGraph};
use crate::{knn_exact, ConflictParams, Corpus, Embeddings, Error, Neighbours, Result};

/// Why a statement was removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RemovalReason {
    /// On the non-dominant side of its region, with a conflict edge to the dominant side.
    ConflictWithDominant,
    /// On the non-dominant side, on an unbalanced cycle of at most `max_cycle_len` edges.
    UnbalancedCycle,
}

/// One removed statement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RemovedStatement {
    /// Its id.
    pub id: String,
    /// Its index in [`Corpus::statements`].
    pub index: usize,
    /// The round (from 1) that removed it.
    pub round: usize,
    /// Why.
    pub reason: RemovalReason,
    /// Ids of the statements it had conflict edges with in that round, sorted.
    pub conflicts_with: Vec<String>,
    /// Total support of its side of its region.
    pub side_support: f64,
    /// Total support of the dominant side of its region.
    pub dominant_support: f64,
}

/// A judged relation dropped because it deviates from the sides of its region (a frustrated
/// edge: an agreement across the sides, or a conflict within one). The paper: "flag and remove
/// edges that deviate significantly from the dominant stance".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DroppedRelation {
    /// Id of the first statement.
    pub first: String,
    /// Id of the second statement.
    pub second: String,
    /// What the judge said.
    pub relation: Relation,
    /// The round (from 1) that dropped it.
    pub round: usize,
}

/// Counts of one round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoundSummary {
    /// From 1.
    pub round: usize,
    /// Statements still kept at the start of the round.
    pub statements: usize,
    /// Connected regions of at least two statements.
    pub regions: usize,
    /// Agreement edges among kept statements.
    pub agree_edges: usize,
    /// Conflict edges among kept statements.
    pub conflict_edges: usize,
    /// Unbalanced cycles of at most `max_cycle_len` edges.
    pub unbalanced_cycles: usize,
    /// Whether the cycle search stopped at `max_cycles`.
    pub cycles_truncated: bool,
    /// Weight of relations the sides leave frustrated.
    pub frustrated_weight: f64,
    /// Statements removed in the round.
    pub removed: usize,
    /// Frustrated relations dropped in the round.
    pub dropped_relations: usize,
}

/// How many pairs the judge decided which way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RelationCounts {
    /// Judged to agree.
    pub agree: usize,
    /// Judged to conflict.
    pub conflict: usize,
    /// Judged unrelated.
    pub unrelated: usize,
    /// Not judged: the judge failed (see `judge_failures`) or never ran.
    pub unjudged: usize,
}

/// Everything Conflict Reduction did. Holds no timings and iterates in fixed orders, so the same
/// input gives the same JSON bytes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConflictReport {
    /// The parameters used.
    pub params: ConflictParams,
    /// Articles in the corpus.
    pub articles: usize,
    /// Statements in the corpus.
    pub statements: usize,
    /// Statements kept.
    pub kept: usize,
    /// Links of each kind in the knowledge graph.
    pub links: BTreeMap<LinkKind, usize>,
    /// Candidate pairs put to the judge.
    pub candidate_pairs: usize,
    /// Their relations.
    pub relations: RelationCounts,
    /// Pairs the judge failed on, in candidate order.
    pub judge_failures: Vec<JudgeFailure>,
    /// One entry per round run.
    pub rounds: Vec<RoundSummary>,
    /// Removed statements, by round then index.
    pub removed: Vec<RemovedStatement>,
    /// Dropped relations, by round then statement indices.
    pub dropped_relations: Vec<DroppedRelation>,
}

impl ConflictReport {
    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }
}

/// Wall-clock time per stage (not part of the report, which must not vary between runs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    /// Exact kNN (zero when neighbours were given).
    pub knn: Duration,
    /// Building the knowledge graph (links, candidates).
    pub graph: Duration,
    /// Judge calls.
    pub judge: Duration,
    /// Unbalanced-cycle search, all rounds.
    pub cycles: Duration,
    /// Colouring, dominant sides and removal, all rounds.
    pub balance: Duration,
    /// Everything.
    pub total: Duration,
}

/// The result of Conflict Reduction.
#[derive(Clone, Debug)]
pub struct ConflictOutcome {
    /// Indices of the kept statements, ascending.
    pub kept: Vec<usize>,
    /// The report.
    pub report: ConflictReport,
    /// Time per stage.
    pub timings: StageTimings,
}

/// Conflict Reduction from embeddings: exact kNN, graph, judge, rounds.
///
/// # Errors
/// As [`reduce_conflicts_with_neighbours`], and [`Error::Shape`] if `embeddings` has not one row
/// per statement. Judge failures are not errors.
///
/// # Complexity
/// `O(n² · dim / 2)` for the exact kNN (see [`knn_exact`]), then as
/// [`reduce_conflicts_with_neighbours`].
pub fn reduce_conflicts<J: RelationJudge + ?Sized>(
    corpus: &Corpus,
    embeddings: &Embeddings,
    judge: &J,
    params: &ConflictParams,
) -> Result<ConflictOutcome> {
    params.check_ref()?;
    if embeddings.len() != corpus.statements.len() {
        return Err(Error::Shape(format!(
            "{} embeddings for {} statements",
            embeddings.len(),
            corpus.statements.len()
        )));
    }
    let start = Instant::now();
    let neighbours = knn_exact(embeddings, params.k, params.similarity_threshold);
    let knn = start.elapsed();
    let mut outcome = reduce_conflicts_with_neighbours(corpus, &neighbours, judge, params)?;
    outcome.timings.knn = knn;
    outcome.timings.total += knn;
    Ok(outcome)
}

/// Conflict Reduction from given neighbour lists (e.g. an approximate index): graph, judge on
/// the candidate pairs, rounds.
///
/// # Errors
/// [`Error::InvalidParam`], the corpus errors of [`Corpus::validate`], [`Error::Shape`] for
/// neighbour lists that do not fit. Judge failures are not errors.
///
/// # Complexity
/// `c <= n·k` candidate pairs, judged in `ceil(c / judge_batch_size)` calls; then per round
/// `O(n + c log c)` for colouring and removal plus the cycle search of
/// [`SignedGraph::unbalanced_cycles`].
pub fn reduce_conflicts_with_neighbours<J: RelationJudge + ?Sized>(
    corpus: &Corpus,
    neighbours: &Neighbours,
    judge: &J,
    params: &ConflictParams,
) -> Result<ConflictOutcome> {
    let start = Instant::now();
    let mut graph = KnowledgeGraph::build(corpus, neighbours, params)?;
    let graph_time = start.elapsed();
    let t = Instant::now();
    graph.judge(judge, params.judge_batch_size);
    let judge_time = t.elapsed();
    let mut outcome = reduce(&graph, params)?;
    outcome.timings.graph = graph_time;
    outcome.timings.judge = judge_time;
    outcome.timings.total = start.elapsed();
    Ok(outcome)
}

/// The rounds of Conflict Reduction on a judged graph (on an unjudged one nothing conflicts and
/// everything is kept).
///
/// Each round, among the statements still kept: build the signed graph (agree +, conflict −,
/// weights from [`KnowledgeGraph::edge_weight`]); find unbalanced cycles of at most
/// `max_cycle_len` edges; split each connected region into two sides with
/// [`SignedGraph::two_colouring`]; call the side with more support (sum of
/// [`Statement::support`](crate::Statement::support); on a tie, the side of the region's first
/// statement) dominant; remove the non-dominant statements that conflict with the dominant
/// side or lie on an unbalanced cycle; drop every other relation the sides frustrate (a
/// conflict within one side, an agreement across them: outvoted by the heavier relations, most
/// likely a judge error). Stop after `rounds` rounds or when a round changes nothing.
///
/// # Errors
/// [`Error::InvalidParam`].
///
/// # Complexity
/// Per round `O(n + m log m)` plus the cycle search, for `m` judged edges.
pub fn reduce(graph: &KnowledgeGraph<'_>, params: &ConflictParams) -> Result<ConflictOutcome> {
    params.check_ref()?;
    let corpus = graph.corpus;
    let n = corpus.statements.len();
    let statements = &corpus.statements;
    let mut edges = Vec::new();
    let mut relations = RelationCounts::default();
    for (&(a, b, sim), rel) in graph.candidates.iter().zip(&graph.relations) {
        let negative = match rel {
            Some(Relation::Agree) => {
                relations.agree += 1;
                false
            }
            Some(Relation::Conflict) => {
                relations.conflict += 1;
                true
            }
            Some(_) => {
                relations.unrelated += 1;
                continue;
            }
            None => {
                relations.unjudged += 1;
                continue;
            }
        };
        let weight = graph.edge_weight(a, b, sim, params);
        edges.push(SignedEdge {
            a,
            b,
            negative,
            weight,
        });
    }

    let mut alive = vec![true; n];
    let mut dropped = vec![false; edges.len()];
    let mut dropped_relations = Vec::new();
    let mut rounds = Vec::new();
    let mut removed = Vec::new();
    let mut timings = StageTimings::default();
    for round in 1..=params.rounds {
        let live_ids: Vec<usize> = (0..edges.len())
            .filter(|&id| !dropped[id] && alive[edges[id].a] && alive[edges[id].b])
            .collect();
        let live: Vec<SignedEdge> = live_ids.iter().map(|&id| edges[id]).collect();
        let g = SignedGraph::new(n, live);

        let t = Instant::now();
        let cycles = g.unbalanced_cycles(params.max_cycle_len, params.max_cycles, |_| {});
        timings.cycles += t.elapsed();

        let t = Instant::now();
        let colouring = g.two_colouring(params.local_search_passes);
        // support[region][side]; the first node of each region fixes the tie-break.
        let mut support = vec![[0.0f64; 2]; colouring.regions];
        let mut first = vec![usize::MAX; colouring.regions];
        let mut size = vec![0usize; colouring.regions];
        for x in (0..n).filter(|&x| alive[x]) {
            let r = colouring.region[x];
            support[r][usize::from(colouring.side[x])] += statements[x].support;
            size[r] += 1;
            if first[r] == usize::MAX {
                first[r] = x;
            }
        }
        let dominant: Vec<bool> = (0..colouring.regions)
            .map(|r| match support[r][1].total_cmp(&support[r][0]) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => first[r] != usize::MAX && colouring.side[first[r]],
            })
            .collect();
        let on_dominant = |x: usize| colouring.side[x] == dominant[colouring.region[x]];

        let mut reason: Vec<Option<RemovalReason>> = vec![None; n];
        for e in g.edges().iter().filter(|e| e.negative) {
            if on_dominant(e.a) != on_dominant(e.b) {
                let loser = if on_dominant(e.a) { e.b } else { e.a };
                reason[loser] = Some(RemovalReason::ConflictWithDominant);
            }
        }
        for x in 0..n {
            if alive[x] && reason[x].is_none() && cycles.on_cycle[x] && !on_dominant(x) {
                reason[x] = Some(RemovalReason::UnbalancedCycle);
            }
        }
        let mut dropped_now = 0;
        for (live_id, e) in g.edges().iter().enumerate() {
            let frustrated = (colouring.side[e.a] != colouring.side[e.b]) ^ e.negative;
            if frustrated && reason[e.a].is_none() && reason[e.b].is_none() {
                dropped[live_ids[live_id]] = true;
                dropped_now += 1;
                dropped_relations.push(DroppedRelation {
                    first: statements[e.a].id.clone(),
                    second: statements[e.b].id.clone(),
                    relation: if e.negative {
                        Relation::Conflict
                    } else {
                        Relation::Agree
                    },
                    round,
                });
            }
        }

        let mut count = 0;
        for x in 0..n {
            let Some(why) = reason[x] else { continue };
            let r = colouring.region[x];
            let mut conflicts_with: Vec<String> = g
                .neighbours(x)
                .iter()
                .filter(|&&(_, id)| g.edges()[id].negative)
                .map(|&(y, _)| statements[y].id.clone())
                .collect();
            conflicts_with.sort();
            removed.push(RemovedStatement {
                id: statements[x].id.clone(),
                index: x,
                round,
                reason: why,
                conflicts_with,
                side_support: support[r][usize::from(colouring.side[x])],
                dominant_support: support[r][usize::from(dominant[r])],
            });
            count += 1;
        }
        let conflict_edges = g.edges().iter().filter(|e| e.negative).count();
        rounds.push(RoundSummary {
            round,
            statements: alive.iter().filter(|&&a| a).count(),
            regions: size.iter().filter(|&&s| s >= 2).count(),
            agree_edges: g.edges().len() - conflict_edges,
            conflict_edges,
            unbalanced_cycles: cycles.count,
            cycles_truncated: cycles.truncated,
            frustrated_weight: colouring.frustrated_weight,
            removed: count,
            dropped_relations: dropped_now,
        });
        for x in 0..n {
            if reason[x].is_some() {
                alive[x] = false;
            }
        }
        timings.balance += t.elapsed();
        if count == 0 && dropped_now == 0 {
            break;
        }
    }

    let kept: Vec<usize> = (0..n).filter(|&x| alive[x]).collect();
    let report = ConflictReport {
        params: params.clone(),
        articles: corpus.articles.len(),
        statements: n,
        kept: kept.len(),
        links: graph.link_counts(),
        candidate_pairs: graph.candidates.len(),
        relations,
        judge_failures: graph.failures.clone(),
        rounds,
        removed,
        dropped_relations,
    };
    Ok(ConflictOutcome {
        kept,
        report,
        timings,
    })
}

impl Corpus {
    /// Embeddings for this corpus's statements, one row each; errors name the statement by id.
    ///
    /// # Errors
    /// [`Error::Shape`] if there is not one row per statement; [`Error::Embedding`] as
    /// [`Embeddings::from_rows`], with the statement's id.
    pub fn embeddings_from_rows(&self, rows: &[Vec<f32>]) -> Result<Embeddings> {
        self.check_rows(rows.len())?;
        Embeddings::from_rows(rows).map_err(|e| e.with_statement_ids(&self.statement_ids()))
    }

    /// As [`embeddings_from_rows`](Self::embeddings_from_rows) for a row-major `n x dim` slice.
    ///
    /// # Errors
    /// As [`embeddings_from_rows`](Self::embeddings_from_rows) and [`Embeddings::from_flat`].
    pub fn embeddings_from_flat(&self, flat: &[f32], dim: usize) -> Result<Embeddings> {
        if let Some(rows) = flat.len().checked_div(dim) {
            self.check_rows(rows)?;
        }
        Embeddings::from_flat(flat, dim).map_err(|e| e.with_statement_ids(&self.statement_ids()))
    }

    fn check_rows(&self, rows: usize) -> Result<()> {
        if rows == self.statements.len() {
            Ok(())
        } else {
            Err(Error::Shape(format!(
                "{rows} embeddings for {} statements",
                self.statements.len()
            )))
        }
    }
}
