//! The knowledge graph: articles, statements and typed, weighted links.

use std::collections::BTreeMap;

use petgraph::graph::UnGraph;
use serde::Serialize;

use crate::corpus::name_set;
use crate::judge::{CandidatePair, Relation, RelationJudge};
use crate::{ConflictParams, Corpus, Error, Neighbours, Result};

/// A node of [`KnowledgeGraph::to_petgraph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Node {
    /// Index into [`Corpus::articles`].
    Article(usize),
    /// Index into [`Corpus::statements`].
    Statement(usize),
}

/// What a link stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LinkKind {
    /// Article → a statement extracted from it (weight 1).
    Extracted,
    /// Two statements the judge found to take the same stance (weight: the signed-edge weight).
    SharedValue,
    /// Two statements the judge found to conflict (weight: the signed-edge weight).
    Conflict,
    /// Two statements among each other's k nearest neighbours (weight: cosine similarity).
    Semantic,
    /// Two articles naming a common place (weight: Jaccard overlap of their place sets).
    Geographic,
    /// Two statements with a common speaker (weight: Jaccard overlap of their speaker sets).
    Social,
}

/// A typed, weighted link.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Link {
    /// What it stands for.
    pub kind: LinkKind,
    /// Its strength, > 0.
    pub weight: f32,
}

/// A pair the judge could not decide.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JudgeFailure {
    /// Id of the first statement.
    pub first: String,
    /// Id of the second statement.
    pub second: String,
    /// The judge's error.
    pub reason: String,
}

/// Articles and statements with their semantic, geographic and social links, the candidate
/// pairs for the judge and, once [`judge`](Self::judge) ran, their relations.
///
/// Statement and article indices are those of the [`Corpus`]. All link lists are sorted by
/// endpoint indices, so nothing depends on hash order.
#[derive(Clone, Debug)]
pub struct KnowledgeGraph<'c> {
    pub(crate) corpus: &'c Corpus,
    pub(crate) article_of: Vec<Option<usize>>,
    /// `(a, b, similarity)`, `a < b`: semantic links, which are also the judge's candidates.
    pub(crate) candidates: Vec<(usize, usize, f32)>,
    pub(crate) relations: Vec<Option<Relation>>,
    pub(crate) failures: Vec<JudgeFailure>,
    pub(crate) geographic: Vec<(usize, usize, f32)>,
    pub(crate) social: Vec<(usize, usize, f32)>,
    /// Per article, its informative places as group ids (sorted).
    places: Vec<Vec<u32>>,
    /// Per statement, its informative speakers as group ids (sorted).
    speakers: Vec<Vec<u32>>,
    pub(crate) judged: bool,
}

impl<'c> KnowledgeGraph<'c> {
    /// Validates the corpus and links it: semantic links from `neighbours` at or above
    /// `params.similarity_threshold`, geographic links between articles that name a common
    /// place, social links between statements with a common speaker (places and speakers
    /// named more than `params.max_link_group` times link nothing).
    ///
    /// # Errors
    /// [`Error::InvalidParam`], the corpus errors of [`Corpus::validate`], and
    /// [`Error::Shape`] if `neighbours` has not one list per statement.
    ///
    /// # Complexity
    /// `O(m log m)` for `m = n·k` neighbour entries, plus `O(g log g)` for the
    /// `g <= (mentions) · max_link_group` geographic and social pairs. Never all pairs.
    pub fn build(
        corpus: &'c Corpus,
        neighbours: &Neighbours,
        params: &ConflictParams,
    ) -> Result<Self> {
        params.check_ref()?;
        let article_of = corpus.validate()?;
        if neighbours.len() != corpus.statements.len() {
            return Err(Error::Shape(format!(
                "{} neighbour lists for {} statements",
                neighbours.len(),
                corpus.statements.len()
            )));
        }
        let candidates = neighbours.pairs(params.similarity_threshold);
        let (places, geographic) = overlap_links(
            corpus.articles.iter().map(|a| name_set(&a.places)),
            params.max_link_group,
        );
        let (speakers, social) = overlap_links(
            corpus.statements.iter().map(|s| name_set(&s.speakers)),
            params.max_link_group,
        );
        Ok(Self {
            corpus,
            article_of,
            relations: vec![None; candidates.len()],
            candidates,
            failures: Vec::new(),
            geographic,
            social,
            places,
            speakers,
            judged: false,
        })
    }

    /// The corpus it was built from.
    pub fn corpus(&self) -> &'c Corpus {
        self.corpus
    }

    /// Candidate pairs `(a, b, similarity)`, `a < b`, sorted: the semantic links.
    pub fn candidates(&self) -> &[(usize, usize, f32)] {
        &self.candidates
    }

    /// Geographic links between articles `(a, b, weight)`, `a < b`, sorted.
    pub fn geographic_links(&self) -> &[(usize, usize, f32)] {
        &self.geographic
    }

    /// Social links between statements `(a, b, weight)`, `a < b`, sorted.
    pub fn social_links(&self) -> &[(usize, usize, f32)] {
        &self.social
    }

    /// The judged relation of each candidate (`None`: not judged yet, or the judge failed).
    pub fn relations(&self) -> &[Option<Relation>] {
        &self.relations
    }

    /// Pairs the judge failed on.
    pub fn failures(&self) -> &[JudgeFailure] {
        &self.failures
    }

    /// Asks `judge` about every candidate pair, `batch_size` at a time, in candidate order.
    /// Failures are kept (see [`failures`](Self::failures)); a second call re-judges.
    ///
    /// # Complexity
    /// `ceil(c / batch_size)` judge calls for `c <= n·k` candidates.
    pub fn judge<J: RelationJudge + ?Sized>(&mut self, judge: &J, batch_size: usize) {
        let statements = &self.corpus.statements;
        self.failures.clear();
        let batch_size = batch_size.max(1);
        for (chunk_no, chunk) in self.candidates.chunks(batch_size).enumerate() {
            let pairs: Vec<CandidatePair<'_>> = chunk
                .iter()
                .map(|&(a, b, similarity)| CandidatePair {
                    first: &statements[a],
                    second: &statements[b],
                    similarity,
                })
                .collect();
            let mut results = judge.judge(&pairs);
            if results.len() != pairs.len() {
                let reason = format!(
                    "judge returned {} results for a batch of {} pairs",
                    results.len(),
                    pairs.len()
                );
                results = (0..pairs.len())
                    .map(|_| Err(Error::Judge(reason.clone())))
                    .collect();
            }
            for (offset, (result, &(a, b, _))) in results.into_iter().zip(chunk).enumerate() {
                let slot = &mut self.relations[chunk_no * batch_size + offset];
                match result {
                    Ok(r) => *slot = Some(r),
                    Err(e) => {
                        *slot = None;
                        self.failures.push(JudgeFailure {
                            first: statements[a].id.clone(),
                            second: statements[b].id.clone(),
                            reason: match e {
                                Error::Judge(reason) => reason,
                                other => other.to_string(),
                            },
                        });
                    }
                }
            }
        }
        self.judged = true;
    }

    /// Geographic overlap of the articles of statements `a` and `b`: 1 for the same article,
    /// the Jaccard overlap of their informative places otherwise, 0 without articles.
    pub fn geo_overlap(&self, a: usize, b: usize) -> f32 {
        match (self.article_of[a], self.article_of[b]) {
            (Some(x), Some(y)) if x == y => 1.0,
            (Some(x), Some(y)) => jaccard(&self.places[x], &self.places[y]),
            _ => 0.0,
        }
    }

    /// Jaccard overlap of the informative speakers of statements `a` and `b`.
    pub fn social_overlap(&self, a: usize, b: usize) -> f32 {
        jaccard(&self.speakers[a], &self.speakers[b])
    }

    /// Weight of the signed edge between candidates `a` and `b`: their similarity plus
    /// `geo_weight · geo_overlap + social_weight · social_overlap`. Context raises how much a
    /// judged relation counts when sides are chosen.
    pub fn edge_weight(&self, a: usize, b: usize, similarity: f32, params: &ConflictParams) -> f32 {
        // A threshold below 0 can admit negative similarities; keep weights positive.
        similarity.max(1e-3)
            + params.geo_weight * self.geo_overlap(a, b)
            + params.social_weight * self.social_overlap(a, b)
    }

    /// The whole graph as a petgraph graph: article nodes first, then statement nodes, with
    /// extracted, semantic, geographic, social and (once judged) shared-value and conflict
    /// links, for use with petgraph's algorithms or export.
    ///
    /// # Complexity
    /// `O(articles + statements + links)`.
    pub fn to_petgraph(&self, params: &ConflictParams) -> UnGraph<Node, Link> {
        let na = self.corpus.articles.len();
        let ns = self.corpus.statements.len();
        let mut g = UnGraph::with_capacity(na + ns, ns + 2 * self.candidates.len());
        let articles: Vec<_> = (0..na).map(|i| g.add_node(Node::Article(i))).collect();
        let statements: Vec<_> = (0..ns).map(|i| g.add_node(Node::Statement(i))).collect();
        let link = |kind, weight| Link { kind, weight };
        for (s, a) in self.article_of.iter().enumerate() {
            if let Some(a) = a {
                g.add_edge(articles[*a], statements[s], link(LinkKind::Extracted, 1.0));
            }
        }
        for (&(a, b, sim), rel) in self.candidates.iter().zip(&self.relations) {
            g.add_edge(statements[a], statements[b], link(LinkKind::Semantic, sim));
            let kind = match rel {
                Some(Relation::Agree) => LinkKind::SharedValue,
                Some(Relation::Conflict) => LinkKind::Conflict,
                _ => continue,
            };
            g.add_edge(
                statements[a],
                statements[b],
                link(kind, self.edge_weight(a, b, sim, params)),
            );
        }
        for &(a, b, w) in &self.geographic {
            g.add_edge(articles[a], articles[b], link(LinkKind::Geographic, w));
        }
        for &(a, b, w) in &self.social {
            g.add_edge(statements[a], statements[b], link(LinkKind::Social, w));
        }
        g
    }

    /// Number of links of each kind (extracted, semantic, geographic, social, and judged).
    pub fn link_counts(&self) -> BTreeMap<LinkKind, usize> {
        let mut m = BTreeMap::new();
        m.insert(
            LinkKind::Extracted,
            self.article_of.iter().flatten().count(),
        );
        m.insert(LinkKind::Semantic, self.candidates.len());
        m.insert(LinkKind::Geographic, self.geographic.len());
        m.insert(LinkKind::Social, self.social.len());
        let count = |r| self.relations.iter().filter(|x| **x == Some(r)).count();
        m.insert(LinkKind::SharedValue, count(Relation::Agree));
        m.insert(LinkKind::Conflict, count(Relation::Conflict));
        m
    }
}

/// `(a, b, weight)` with `a < b`.
type WeightedPair = (usize, usize, f32);

fn jaccard(a: &[u32], b: &[u32]) -> f32 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f32 / (a.len() + b.len() - common) as f32
}

/// For items with name sets, returns each item's informative names (as sorted group ids) and the
/// links `(a, b, jaccard)` between items sharing one. A name held by more than `max_group` items
/// is dropped.
fn overlap_links(
    sets: impl Iterator<Item = Vec<String>>,
    max_group: usize,
) -> (Vec<Vec<u32>>, Vec<WeightedPair>) {
    let sets: Vec<Vec<String>> = sets.collect();
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, set) in sets.iter().enumerate() {
        for name in set {
            groups.entry(name.as_str()).or_default().push(i);
        }
    }
    let mut ids: Vec<Vec<u32>> = vec![Vec::new(); sets.len()];
    let mut pairs = Vec::new();
    for (gid, members) in groups.values().enumerate() {
        if members.len() > max_group {
            continue;
        }
        for (x, &a) in members.iter().enumerate() {
            ids[a].push(gid as u32);
            pairs.extend(members[x + 1..].iter().map(|&b| (a, b)));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let links = pairs
        .into_iter()
        .map(|(a, b)| (a, b, jaccard(&ids[a], &ids[b])))
        .collect();
    (ids, links)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Article, Statement};

    #[test]
    fn context_links_skip_common_names_and_weigh_by_overlap() {
        let corpus = Corpus {
            articles: vec![
                Article::new("a0").with_places(["Hong Kong", "Kowloon"]),
                Article::new("a1").with_places(["hong kong ", "Kowloon", "Central"]),
                Article::new("a2").with_places(["Hong Kong"]),
            ],
            statements: vec![
                Statement::new("s0", "x")
                    .with_article("a0")
                    .with_speakers(["LegCo"]),
                Statement::new("s1", "y")
                    .with_article("a1")
                    .with_speakers(["legco", "Mayor"]),
                Statement::new("s2", "z").with_article("a2"),
            ],
        };
        let params = ConflictParams {
            max_link_group: 2,
            ..Default::default()
        };
        let nb = Neighbours::from_lists(3, vec![vec![(1, 0.9)], vec![], vec![(0, 0.1)]]).unwrap();
        let g = KnowledgeGraph::build(&corpus, &nb, &params).unwrap();
        // "hong kong" is named by 3 articles > max_link_group: it links nothing.
        assert_eq!(g.geographic_links(), &[(0, 1, 0.5)]);
        assert_eq!(g.social_links(), &[(0, 1, 0.5)]);
        assert_eq!(g.candidates(), &[(0, 1, 0.9)]);
        assert_eq!(g.geo_overlap(0, 0), 1.0);
        let pg = g.to_petgraph(&params);
        assert_eq!(pg.node_count(), 6);
        assert_eq!(pg.edge_count(), 3 + 1 + 1 + 1);
    }
}
