//! InsTag tagging of HDBSCAN's outliers (NaVAB, Section 3.2, Step IV), feature `instag`.
//!
//! Each outlier document is tagged by an LLM (the InsTag step of `navab-llm`); the tags are
//! normalised and **consolidated** (tags whose embeddings are at least
//! [`InsTagParams::similarity`] apart merge into the more frequent one); consolidated tags
//! carried by enough documents become topics; each document joins the most frequent topic among
//! its tags. Rounds repeat with a lower frequency bar, and with another try for documents whose
//! tagging failed, until every document has a topic or [`InsTagParams::max_rounds`] is reached.
//!
//! ```
//! use navab_llm::testing::{block_on, ScriptedChatModel};
//! use navab_topics::instag::{tag_outliers, InsTagParams};
//! use ndarray::Array2;
//!
//! let docs = ["Tax cut passed", "Parliament debates tax", "Striker scores twice"];
//! let model = ScriptedChatModel::new([
//!     r#"[{"tag": "Taxation", "explanation": ""}]"#,
//!     r#"[{"tag": "taxation", "explanation": ""}, {"tag": "Parliament", "explanation": ""}]"#,
//!     r#"[{"tag": "Football", "explanation": ""}]"#,
//! ]);
//! // Any sentence embedder; here one-hot vectors per distinct tag.
//! let embed = |tags: &[&str]| -> Result<Array2<f32>, String> {
//!     Ok(Array2::from_shape_fn((tags.len(), tags.len()), |(i, j)| (i == j) as u8 as f32))
//! };
//! let params = InsTagParams { min_frequency: 2, ..InsTagParams::default() };
//! let result = block_on(tag_outliers(&model, &docs, &embed, &params, &mut |_| {})).unwrap();
//! assert_eq!(result.topics[0].label, "taxation");
//! assert_eq!(result.assignments[..2], [Some(0), Some(0)]);
//! assert_eq!(result.rounds[0].placed, 2); // round 2 places the football story on its own
//! ```
//!
//! Available with the crate feature `instag`.

use std::collections::{BTreeMap, HashMap};

use navab_llm::exec::run_bounded;
use navab_llm::steps::{Tag, Tagging};
use navab_llm::{run_step, ChatModel, StepOutcome};
use ndarray::Array2;
use serde::Serialize;

use crate::{Error, Result};

/// Parameters of [`tag_outliers`].
#[derive(Debug, Clone, PartialEq)]
pub struct InsTagParams {
    /// Cosine similarity at or above which two tags are one (consolidation).
    pub similarity: f32,
    /// Documents a consolidated tag needs in round 1 to become a topic; each later round
    /// lowers it by one, down to 1.
    pub min_frequency: usize,
    /// Rounds at most: the cap. Rounds go on while outliers are left and the last round
    /// placed one, retried a failed call or can still lower its frequency bar; 10 is more than
    /// the default bar (5) needs to reach 1 and leaves rounds for retries.
    pub max_rounds: usize,
    /// Tagging calls in flight at once (like every other LLM step). Default 4.
    pub concurrency: usize,
}

impl Default for InsTagParams {
    fn default() -> Self {
        InsTagParams {
            similarity: 0.85,
            min_frequency: 5,
            max_rounds: 10,
            concurrency: 4,
        }
    }
}

impl InsTagParams {
    /// Checks the ranges.
    pub fn check(&self) -> Result<()> {
        if !(self.similarity > 0.0 && self.similarity <= 1.0) {
            return Err(Error::param(
                "similarity",
                self.similarity,
                "must be in (0, 1]",
            ));
        }
        if self.min_frequency == 0 {
            return Err(Error::param("min_frequency", 0, "must be at least 1"));
        }
        if self.max_rounds == 0 {
            return Err(Error::param("max_rounds", 0, "must be at least 1"));
        }
        if self.concurrency == 0 {
            return Err(Error::param("concurrency", 0, "must be at least 1"));
        }
        Ok(())
    }
}

/// A topic made from a consolidated tag.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct TagTopic {
    /// The consolidated tag (the most frequent spelling of its group).
    pub label: String,
    /// The tags merged into it, most frequent first.
    pub merged: Vec<String>,
    /// Documents assigned to it.
    pub size: usize,
    /// Round that created it.
    pub round: usize,
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InsTagRound {
    /// 1-based.
    pub round: usize,
    /// Documents without a topic at the start of the round.
    pub unplaced_before: usize,
    /// Tagging calls made this round (first tries and retries).
    pub tagged: usize,
    /// Tagging calls that failed this round.
    pub failed: usize,
    /// Frequency bar of the round.
    pub min_frequency: usize,
    /// Topics created this round.
    pub new_topics: usize,
    /// Documents given a topic this round.
    pub placed: usize,
}

/// A document whose tagging failed (its last failure).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct TagFailure {
    /// Index of the document.
    pub document: usize,
    /// Why.
    pub reason: String,
    /// The reply that did not parse, if any.
    pub raw: Option<String>,
}

/// The outcome of [`tag_outliers`].
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct InsTagResult {
    /// Per document: its topic (index into `topics`), or `None` if still unplaced.
    pub assignments: Vec<Option<usize>>,
    /// Topics in creation order.
    pub topics: Vec<TagTopic>,
    /// Per document: its tags after normalisation (empty if tagging failed).
    pub tags: Vec<Vec<String>>,
    /// One entry per round run.
    pub rounds: Vec<InsTagRound>,
    /// Documents whose tagging never succeeded.
    pub failures: Vec<TagFailure>,
    /// Set when the embedder failed: consolidation then merges identical tags only.
    pub embed_error: Option<String>,
}

/// Lower-case, trimmed, inner whitespace squashed, outer punctuation removed.
fn normalise(tag: &Tag) -> String {
    let t: String = tag.tag.split_whitespace().collect::<Vec<_>>().join(" ");
    t.trim_matches(|c: char| c.is_ascii_punctuation() || c == '#')
        .to_lowercase()
}

/// Tags `documents` (the outliers) and assigns them to tag topics. `embed` turns tags into
/// vectors (one row each; any sentence embedder). `progress(done)` follows each tagging call.
///
/// Fails only on invalid parameters: a tagging failure is kept in [`InsTagResult::failures`] and retried
/// next round; an embedder failure falls back to exact-match consolidation and is reported.
pub async fn tag_outliers<M, E>(
    model: &M,
    documents: &[&str],
    embed: &E,
    params: &InsTagParams,
    progress: &mut dyn FnMut(usize),
) -> Result<InsTagResult>
where
    M: ChatModel + ?Sized,
    E: Fn(&[&str]) -> std::result::Result<Array2<f32>, String> + ?Sized,
{
    let n = documents.len();
    let mut result = InsTagResult {
        assignments: vec![None; n],
        topics: Vec::new(),
        tags: vec![Vec::new(); n],
        rounds: Vec::new(),
        failures: Vec::new(),
        embed_error: None,
    };
    params.check()?;
    let mut tagged_ok = vec![false; n];
    let mut last_failure: HashMap<usize, TagFailure> = HashMap::new();
    let mut calls = 0;
    for round in 1..=params.max_rounds {
        let unplaced: Vec<usize> = (0..n)
            .filter(|&i| result.assignments[i].is_none())
            .collect();
        if unplaced.is_empty() {
            break;
        }
        let (mut tagged, mut failed) = (0, 0);
        let to_tag: Vec<usize> = unplaced
            .iter()
            .copied()
            .filter(|&i| !tagged_ok[i])
            .collect();
        let steps: Vec<Tagging> = to_tag
            .iter()
            .map(|&i| Tagging {
                document: documents[i].to_string(),
            })
            .collect();
        let outcomes = run_bounded(
            steps.iter().map(|step| run_step(model, step)),
            params.concurrency,
            |_, _| {
                calls += 1;
                progress(calls);
            },
        )
        .await;
        for (&i, outcome) in to_tag.iter().zip(outcomes) {
            tagged += 1;
            let failure = |reason: String, raw: Option<String>| TagFailure {
                document: i,
                reason,
                raw,
            };
            match outcome {
                StepOutcome::Ok { value, .. } => {
                    let mut tags: Vec<String> = value
                        .iter()
                        .map(normalise)
                        .filter(|t| !t.is_empty())
                        .collect();
                    tags.sort();
                    tags.dedup();
                    result.tags[i] = tags;
                    tagged_ok[i] = true;
                    last_failure.remove(&i);
                }
                StepOutcome::ParseFailed { raw, reason, .. } => {
                    failed += 1;
                    last_failure.insert(i, failure(reason, Some(raw)));
                }
                StepOutcome::CallFailed { error } => {
                    failed += 1;
                    last_failure.insert(i, failure(error.to_string(), None));
                }
                _ => failed += 1,
            }
        }
        // Consolidate every tag seen so far (cheap next to the LLM calls, and keeps topics
        // stable: a canonical tag never changes once chosen, as frequencies only grow).
        let canonical = consolidate(
            &result.tags,
            embed,
            params.similarity,
            &mut result.embed_error,
        );
        let min_frequency = params.min_frequency.saturating_sub(round - 1).max(1);
        let mut frequency: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in &unplaced {
            let mut own: Vec<&str> = result.tags[i]
                .iter()
                .map(|t| canonical[t].as_str())
                .collect();
            own.sort();
            own.dedup();
            for t in own {
                *frequency.entry(t).or_default() += 1;
            }
        }
        let mut candidates: Vec<(&str, usize)> = frequency
            .iter()
            .filter(|(_, &f)| f >= min_frequency)
            .map(|(t, &f)| (*t, f))
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut topic_of: HashMap<String, usize> = result
            .topics
            .iter()
            .enumerate()
            .map(|(k, t)| (t.label.clone(), k))
            .collect();
        let before = result.topics.len();
        for (label, _) in &candidates {
            if !topic_of.contains_key(*label) {
                let mut merged: Vec<String> = canonical
                    .iter()
                    .filter(|(_, c)| c.as_str() == *label)
                    .map(|(t, _)| t.clone())
                    .collect();
                merged.sort();
                topic_of.insert(label.to_string(), result.topics.len());
                result.topics.push(TagTopic {
                    label: label.to_string(),
                    merged,
                    size: 0,
                    round,
                });
            }
        }
        // Each document joins its most frequent topic (ties: the earlier topic).
        let mut placed = 0;
        for &i in &unplaced {
            let best = result.tags[i]
                .iter()
                .filter_map(|t| topic_of.get(canonical[t].as_str()).copied())
                .max_by(|&a, &b| {
                    let fa = frequency
                        .get(result.topics[a].label.as_str())
                        .copied()
                        .unwrap_or(0);
                    let fb = frequency
                        .get(result.topics[b].label.as_str())
                        .copied()
                        .unwrap_or(0);
                    fa.cmp(&fb).then(b.cmp(&a))
                });
            if let Some(k) = best {
                result.assignments[i] = Some(k);
                result.topics[k].size += 1;
                placed += 1;
            }
        }
        result.rounds.push(InsTagRound {
            round,
            unplaced_before: unplaced.len(),
            tagged,
            failed,
            min_frequency,
            new_topics: result.topics.len() - before,
            placed,
        });
        // Nothing more can change: no call to retry, the bar at its lowest, none placed.
        if placed == 0 && failed == 0 && min_frequency == 1 {
            break;
        }
    }
    let mut failures: Vec<TagFailure> = last_failure.into_values().collect();
    failures.sort_by_key(|f| f.document);
    result.failures = failures;
    Ok(result)
}

/// Maps every tag to its canonical tag: tags in order of frequency (ties by name) join the
/// first earlier canonical tag with cosine >= `similarity`, else become canonical.
fn consolidate<E>(
    tags: &[Vec<String>],
    embed: &E,
    similarity: f32,
    embed_error: &mut Option<String>,
) -> HashMap<String, String>
where
    E: Fn(&[&str]) -> std::result::Result<Array2<f32>, String> + ?Sized,
{
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in tags.iter().flatten() {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let mut unique: Vec<(&str, usize)> = counts.into_iter().collect();
    unique.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let names: Vec<&str> = unique.iter().map(|u| u.0).collect();
    let vectors = if names.is_empty() {
        None
    } else {
        match embed(&names) {
            Ok(v) if v.nrows() == names.len() => Some(normalise_rows(v)),
            Ok(v) => {
                *embed_error = Some(format!(
                    "embedder gave {} rows for {} tags",
                    v.nrows(),
                    names.len()
                ));
                None
            }
            Err(e) => {
                *embed_error = Some(e);
                None
            }
        }
    };
    let mut canonical_rows: Vec<usize> = Vec::new();
    let mut map = HashMap::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let joined = vectors.as_ref().and_then(|v| {
            canonical_rows
                .iter()
                .copied()
                .find(|&c| v.row(i).dot(&v.row(c)) >= similarity)
        });
        match joined {
            Some(c) => {
                map.insert(name.to_string(), names[c].to_string());
            }
            None => {
                canonical_rows.push(i);
                map.insert(name.to_string(), name.to_string());
            }
        }
    }
    map
}

fn normalise_rows(mut v: Array2<f32>) -> Array2<f32> {
    for mut row in v.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 && norm.is_finite() {
            row /= norm;
        } else {
            row.fill(0.0);
        }
    }
    v
}
