//! Topic selection (the topic screening, then the allow-list) and 7. statement extraction in
//! each document's language.

use navab_llm::stage::run_stage;
use navab_llm::steps::StatementExtraction;
use navab_llm::Step;
use serde::{Deserialize, Serialize};

use super::labels::LabelRecord;
use super::screen::TopicVerdict;
use super::topics::TopicsStage;
use super::{failure_of, Computed, Ctx, Failure};
use crate::corpus::NewsDoc;
use crate::lang::language_name;
use crate::pipeline::Executor;
use crate::Result;

/// A statement and the document it came from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatementRecord {
    pub id: String,
    pub doc: usize,
    pub text: String,
}

/// The file of the extraction and the screening stages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatementsStage {
    pub items: Vec<StatementRecord>,
    pub failures: Vec<Failure>,
}

/// Documents of the topics the screening found value-related and a person kept (all of those
/// when there is no allow-list), at most `max_extraction_docs` of them.
fn selected(
    cx: &Ctx<'_, impl Executor>,
    topics: &TopicsStage,
    labels: &[LabelRecord],
    verdicts: &[TopicVerdict],
) -> Vec<usize> {
    let value_related: Vec<usize> = verdicts
        .iter()
        .filter(|v| v.value_related == Some(true))
        .map(|v| v.topic)
        .collect();
    let kept: Vec<usize> = labels
        .iter()
        .filter(|l| value_related.contains(&l.topic))
        .filter(|l| match &cx.config.allow_topics {
            None => true,
            Some(allow) => allow
                .iter()
                .any(|a| a.eq_ignore_ascii_case(&l.label) || *a == l.topic.to_string()),
        })
        .map(|l| l.topic)
        .collect();
    let mut selected: Vec<usize> = (0..topics.labels.len())
        .filter(|&i| topics.labels[i].is_some_and(|t| kept.contains(&t)))
        .collect();
    if let Some(max) = cx.config.max_extraction_docs {
        selected.truncate(max);
    }
    selected
}

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    docs: &[NewsDoc],
    topics: &TopicsStage,
    labels: &[LabelRecord],
    verdicts: &[TopicVerdict],
) -> Result<StatementsStage> {
    let selected = selected(cx, topics, labels, verdicts);
    let statement_language = cx.config.statement_language.clone();
    let language_of = move |doc: &NewsDoc| match &statement_language {
        Some(language) => language.clone(),
        None => language_name(&doc.language),
    };
    let mut languages: Vec<String> = selected.iter().map(|&i| language_of(&docs[i])).collect();
    languages.sort();
    languages.dedup();
    // One prompt per language: each has its own worked example.
    let prompts: Vec<_> = languages
        .iter()
        .map(|l| StatementExtraction::new("", l.clone()).request())
        .collect();
    let settings = serde_json::json!({
        "allow_topics": cx.config.allow_topics,
        "max_extraction_docs": cx.config.max_extraction_docs,
        "statement_language": cx.config.statement_language,
        "screening": cx.config.screening,
    });
    let inputs = cx.llm_inputs(&prompts, settings);
    cx.stage("extract", "07-statements.json", inputs, |cx| {
        let steps: Vec<StatementExtraction> = selected
            .iter()
            .map(|&i| StatementExtraction::new(docs[i].text.clone(), language_of(&docs[i])))
            .collect();
        let total = steps.len();
        let progress = &mut cx.progress;
        let stage = cx
            .exec
            .block_on(run_stage(&cx.llm, &steps, cx.config.concurrency, |s| {
                progress("extract", s.done, total)
            }));
        let mut out = StatementsStage {
            items: Vec::new(),
            failures: Vec::new(),
        };
        for (&doc, outcome) in selected.iter().zip(stage.outcomes) {
            match failure_of(&docs[doc].id, outcome) {
                Ok(found) => {
                    for (k, text) in found.into_iter().enumerate() {
                        out.items.push(StatementRecord {
                            id: format!("{}#s{k}", docs[doc].id),
                            doc,
                            text,
                        });
                    }
                }
                Err(f) => out.failures.push(f),
            }
        }
        let counts = [
            ("documents", total),
            ("statements", out.items.len()),
            ("failed", out.failures.len()),
        ];
        Ok(Computed::new(out, &counts))
    })
}
