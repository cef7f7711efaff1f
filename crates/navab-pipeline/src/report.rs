//! The run report: counts per nation (like the paper's Table 1) and the time of each stage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counts for one nation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NationCounts {
    /// News documents read.
    pub news: usize,
    /// Statements extracted.
    pub statements: usize,
    /// Statements the value screening kept.
    pub screened: usize,
    /// Statements kept by Conflict Reduction.
    pub after_conflict: usize,
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
    /// Seconds in this run (a resumed stage only reads its file).
    pub seconds: f64,
    /// Whether it was read from a previous run instead of computed.
    pub resumed: bool,
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
    /// Items recorded as failed, per stage.
    pub failures: BTreeMap<String, usize>,
    /// Stage times, in order.
    pub stages: Vec<StageTime>,
    /// Topic labels by id.
    pub topic_labels: BTreeMap<usize, String>,
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
        out.push_str("\n\n| nation | news | statements | screened | after conflict | quoted | official |\n|---|---:|---:|---:|---:|---:|---:|\n");
        for (nation, c) in &self.per_nation {
            out.push_str(&format!(
                "| {nation} | {} | {} | {} | {} | {} | {} |\n",
                c.news, c.statements, c.screened, c.after_conflict, c.quoted, c.official
            ));
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
        out.push_str("\n\n| stage | seconds | resumed |\n|---|---:|---|\n");
        for s in &self.stages {
            out.push_str(&format!(
                "| {} | {:.2} | {} |\n",
                s.stage,
                s.seconds,
                if s.resumed { "yes" } else { "" }
            ));
        }
        out.push_str("\n## Topics\n\n");
        for (id, label) in &self.topic_labels {
            out.push_str(&format!("- {id}: {label}\n"));
        }
        out
    }
}
