//! 12. Dataset (NaVAB layout, DPO files, verification sheet) and the run report.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use navab_triples::{write_dpo_dataset, write_navab, SplitParams};

use super::conflict::ConflictStage;
use super::corpus::CorpusStage;
use super::extract::StatementsStage;
use super::labels::LabelRecord;
use super::screen::TopicVerdict;
use super::sources::SourcesStage;
use super::topics::{GroupInsTag, TopicsStage};
use super::triples::TriplesStage;
use crate::report::{NationCounts, RunReport, StageTime};
use crate::store::write_bytes;
use crate::{Error, Result};

/// What an empty dataset folder says instead of triples.
pub(crate) const EMPTY_NOTE: &str = "This run produced no triples, so this folder holds no \
<Nation>/{human,official}_statement_result.json files. report.md in the run folder says where \
the items went (failed calls, parse failures, statements the screening or Conflict Reduction \
removed); a run with failed calls completes them when rerun.\n";

/// Rewrites `out/dataset`, `out/dpo` and `out/verification.csv` from the triples: always (cheap,
/// and the files must match the stage files), and never leaving files of an earlier run.
pub(crate) fn write(out: &Path, triples: &TriplesStage, split: &SplitParams) -> Result<()> {
    let dataset = out.join("dataset");
    for old in [dataset.clone(), out.join("dpo")] {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(Error::io(&old))?;
        }
    }
    let sheet = out.join("verification.csv");
    if sheet.exists() {
        std::fs::remove_file(&sheet).map_err(Error::io(&sheet))?;
    }
    if triples.triples.is_empty() {
        std::fs::create_dir_all(&dataset).map_err(Error::io(&dataset))?;
        return write_bytes(&dataset.join("EMPTY.md"), EMPTY_NOTE.as_bytes());
    }
    write_navab(&dataset, &triples.triples)?;
    write_dpo_dataset(out.join("dpo"), &triples.triples, split)?;
    let rows = navab_triples::sample_for_verification(
        &triples.triples,
        &navab_triples::VerificationParams::default(),
    )?;
    navab_triples::write_sheet_csv(sheet, &rows)?;
    Ok(())
}

/// Everything the stages produced, for the report.
pub(crate) struct Outputs<'a> {
    pub corpus: &'a CorpusStage,
    pub topics: &'a TopicsStage,
    pub instag: &'a [GroupInsTag],
    pub labels: &'a [LabelRecord],
    pub verdicts: &'a [TopicVerdict],
    pub statements: &'a StatementsStage,
    pub screened: &'a StatementsStage,
    pub sources: &'a SourcesStage,
    pub conflict: &'a ConflictStage,
    pub triples: &'a TriplesStage,
}

pub(crate) fn report(o: &Outputs<'_>, stages: Vec<StageTime>) -> RunReport {
    let docs = &o.corpus.docs;
    let mut per_nation: BTreeMap<String, NationCounts> = BTreeMap::new();
    for d in docs {
        per_nation.entry(d.nation.clone()).or_default().news += 1;
    }
    for t in &o.topics.topics {
        let counts = per_nation.entry(t.nation.clone()).or_default();
        counts.topics += 1;
        let related = o
            .verdicts
            .iter()
            .any(|v| v.topic == t.id && v.value_related == Some(true));
        counts.value_topics += usize::from(related);
    }
    for s in &o.statements.items {
        let counts = per_nation.entry(docs[s.doc].nation.clone()).or_default();
        counts.statements += 1;
        let origin = o.topics.labels[s.doc].map(|t| o.topics.topics[t].origin.as_str());
        counts.from_instag += usize::from(origin == Some("instag"));
    }
    for s in &o.screened.items {
        per_nation
            .entry(docs[s.doc].nation.clone())
            .or_default()
            .screened += 1;
    }
    let kept: HashSet<&str> = o.conflict.kept.iter().map(String::as_str).collect();
    for j in &o.sources.items {
        let counts = per_nation
            .entry(j.statement.nation.to_string())
            .or_default();
        if kept.contains(j.statement.id.as_str()) {
            counts.after_conflict += 1;
        } else {
            counts.removed_by_conflict += 1;
        }
    }
    for t in &o.triples.triples {
        let counts = per_nation.entry(t.nation.to_string()).or_default();
        match t.set {
            navab_core::StatementSet::Quoted => counts.quoted += 1,
            _ => counts.official += 1,
        }
    }
    let failures: BTreeMap<String, usize> = [
        (
            "labels",
            o.labels.iter().filter(|l| l.failure.is_some()).count(),
        ),
        (
            "instag",
            o.instag.iter().map(|g| g.result.failures.len()).sum(),
        ),
        (
            "screen-topics",
            o.verdicts.iter().filter(|v| v.failure.is_some()).count(),
        ),
        ("extract", o.statements.failures.len()),
        ("screen", o.screened.failures.len()),
        ("sources", o.sources.failures.len()),
        ("triples", o.triples.failures.len()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    RunReport {
        documents: docs.len(),
        skipped_lines: o.corpus.skipped.len(),
        topics: o.topics.topics.len(),
        noise_fraction: o.topics.noise_fraction,
        outliers_placed_by_instag: o.instag.iter().map(GroupInsTag::placed).sum(),
        ari: o.topics.ari,
        nmi: o.topics.nmi,
        per_nation,
        triples: o.triples.triples.len(),
        excluded_by_validation: o.triples.excluded,
        failures,
        failed_calls: stages.iter().map(|s| s.failed_calls).sum(),
        stages,
        topic_labels: o
            .labels
            .iter()
            .map(|l| (l.topic, l.label.clone()))
            .collect(),
        ablations: Vec::new(),
    }
}
