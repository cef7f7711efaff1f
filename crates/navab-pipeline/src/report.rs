//! The run report: counts per nation (like the paper's Table 1) and the time of each stage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts for one nation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NationCounts {
    /// News documents read.
    pub news: usize,
    /// Topics modeled on its documents (HDBSCAN and InsTag).
    #[serde(default)]
    pub topics: usize,
    /// Topics the topic screening found value-related.
    #[serde(default)]
    pub value_topics: usize,
    /// Statements extracted.
    pub statements: usize,
    /// Statements extracted from documents that InsTag gave a topic (what InsTag adds; the
    /// paper's Appendix D).
    #[serde(default)]
    pub from_instag: usize,
    /// Statements the value screening kept.
    pub screened: usize,
    /// Statements kept by Conflict Reduction.
    pub after_conflict: usize,
    /// Statements Conflict Reduction removed (0 when it is off).
    #[serde(default)]
    pub removed_by_conflict: usize,
    /// Triples in the quoted set.
    pub quoted: usize,
    /// Triples in the official set.
    pub official: usize,
}

/// Time of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageTime {
    /// Stage name.
    pub stage: String,
    /// Seconds it took to compute, in this run or (when resumed) in the run that computed it.
    pub seconds: f64,
    /// Whether it was read from a previous run instead of computed.
    pub resumed: bool,
    /// LLM calls that failed in it; a stage with failed calls is incomplete and a rerun
    /// computes it again.
    #[serde(default)]
    pub failed_calls: usize,
}

impl StageTime {
    pub(crate) fn new(stage: &str, seconds: f64, resumed: bool, failed_calls: usize) -> Self {
        StageTime {
            stage: stage.into(),
            seconds,
            resumed,
            failed_calls,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Documents read.
    pub documents: usize,
    /// Corpus lines skipped (bad JSON, no text, duplicate id).
    pub skipped_lines: usize,
    /// Topics (HDBSCAN and InsTag).
    pub topics: usize,
    /// HDBSCAN's outlier share before InsTag.
    pub noise_fraction: f64,
    /// Outliers InsTag gave a topic.
    pub outliers_placed_by_instag: usize,
    /// Adjusted Rand index of HDBSCAN's topics against the corpus labels, if any.
    pub ari: Option<f64>,
    /// NMI likewise.
    pub nmi: Option<f64>,
    /// Counts per nation.
    pub per_nation: BTreeMap<String, NationCounts>,
    /// Triples written.
    pub triples: usize,
    /// Triples the validation excluded.
    pub excluded_by_validation: usize,
    /// Items recorded as failed (a reply that did not parse, or a failed call), per stage.
    pub failures: BTreeMap<String, usize>,
    /// LLM calls that failed in this run (transport, authentication, server errors after
    /// retries). Non-zero means the run is incomplete: rerun it to retry exactly those calls.
    #[serde(default)]
    pub failed_calls: usize,
    /// Stage times, in order.
    pub stages: Vec<StageTime>,
    /// Topic labels by id.
    pub topic_labels: BTreeMap<usize, String>,
    /// Steps of the paper the run left out (`without InsTag`, `without Conflict Reduction`).
    #[serde(default)]
    pub ablations: Vec<String>,
}

impl RunReport {
    /// A Markdown report: Table-1-style counts, failures and stage times.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "# NaVAB pipeline run\n\n{} documents ({} lines skipped), {} topics, {:.1}% HDBSCAN outliers ({} placed by InsTag)",
            self.documents,
            self.skipped_lines,
            self.topics,
            100.0 * self.noise_fraction,
            self.outliers_placed_by_instag
        );
        if let (Some(ari), Some(nmi)) = (self.ari, self.nmi) {
            out.push_str(&format!(
                "; ARI {ari:.3}, NMI {nmi:.3} against the corpus labels"
            ));
        }
        out.push_str("\n\n| nation | news | topics | value topics | statements | of which via InsTag | screened | removed by CR | after CR | quoted | official |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        for (nation, c) in &self.per_nation {
            out.push_str(&format!(
                "| {nation} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.news,
                c.topics,
                c.value_topics,
                c.statements,
                c.from_instag,
                c.screened,
                c.removed_by_conflict,
                c.after_conflict,
                c.quoted,
                c.official
            ));
        }
        if !self.ablations.is_empty() {
            out.push_str(&format!("\nAblations: {}.\n", self.ablations.join("; ")));
        }
        out.push_str(&format!(
            "\n{} triples written, {} excluded by validation.\n\nFailed items per stage: ",
            self.triples, self.excluded_by_validation
        ));
        let failures: Vec<String> = self
            .failures
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        out.push_str(&failures.join(", "));
        if self.failed_calls > 0 {
            out.push_str(&format!(
                "\n\n**Incomplete: {} LLM calls failed.** Rerun the same command to retry them; \
                 answered calls come from the response cache.",
                self.failed_calls
            ));
        }
        out.push_str("\n\n| stage | seconds | resumed | failed calls |\n|---|---:|---|---:|\n");
        for s in &self.stages {
            out.push_str(&format!(
                "| {} | {:.2} | {} | {} |\n",
                s.stage,
                s.seconds,
                if s.resumed { "yes" } else { "" },
                s.failed_calls
            ));
        }
        out.push_str("\n## Topics\n\n");
        for (id, label) in &self.topic_labels {
            out.push_str(&format!("- {id}: {label}\n"));
        }
        out
    }
}
