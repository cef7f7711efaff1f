//! Stage 5, topic labels: the LLM names each HDBSCAN topic from its c-TF-IDF words, its
//! MMR keywords and representative documents; InsTag topics keep their tag.

use navab_llm::stage::run_stage;
use navab_llm::steps::TopicLabel;
use navab_llm::Step;
use serde::{Deserialize, Serialize};

use super::topics::{TopicInfo, TopicsStage};
use super::{failure_of, Computed, Ctx};
use crate::pipeline::Executor;
use crate::Result;

/// One topic's label, as the labels stage's file keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LabelRecord {
    pub topic: usize,
    pub label: String,
    /// `llm`, `instag` (the tag itself) or `words` (the LLM failed; its top words).
    pub origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    topics: &TopicsStage,
    texts: &[&str],
) -> Result<Vec<LabelRecord>> {
    let prompt = TopicLabel {
        documents: Vec::new(),
        keywords: Vec::new(),
    }
    .request();
    // InsTag's topics are among those labelled: turning it off changes this stage's input.
    let settings = serde_json::json!({ "instag": cx.config.run_instag });
    let inputs = cx.llm_inputs(&[prompt], settings);
    cx.stage("labels", "05-labels.json", inputs, |cx| {
        let hdbscan: Vec<&TopicInfo> = topics
            .topics
            .iter()
            .filter(|t| t.origin == "hdbscan")
            .collect();
        let steps: Vec<TopicLabel> = hdbscan
            .iter()
            .map(|t| TopicLabel {
                documents: t
                    .representative_docs
                    .iter()
                    .take(3)
                    .map(|&d| texts[d].chars().take(400).collect())
                    .collect(),
                keywords: label_words(t),
            })
            .collect();
        let total = steps.len();
        let progress = &mut cx.progress;
        let stage = cx
            .exec
            .block_on(run_stage(&cx.llm, &steps, cx.config.concurrency, |s| {
                progress("labels", s.done, total)
            }));
        let mut out: Vec<LabelRecord> = Vec::new();
        for (t, outcome) in hdbscan.iter().zip(stage.outcomes) {
            out.push(match failure_of(&t.id.to_string(), outcome) {
                Ok(label) => LabelRecord {
                    topic: t.id,
                    label,
                    origin: "llm".into(),
                    failure: None,
                },
                Err(f) => LabelRecord {
                    topic: t.id,
                    label: t
                        .words
                        .iter()
                        .take(3)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                    origin: "words".into(),
                    failure: Some(f.reason),
                },
            });
        }
        for t in topics.topics.iter().filter(|t| t.origin == "instag") {
            out.push(LabelRecord {
                topic: t.id,
                label: t.words[0].clone(),
                origin: "instag".into(),
                failure: None,
            });
        }
        let failed = out.iter().filter(|l| l.failure.is_some()).count();
        let counts = [("topics", out.len()), ("failed", failed)];
        Ok(Computed::new(out, &counts))
    })
}

/// The words the label prompt shows: the best c-TF-IDF words, then the MMR keywords (close to
/// the topic and unlike each other), without repeats.
fn label_words(t: &TopicInfo) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for w in t.words.iter().take(5).chain(&t.mmr_keywords) {
        if !words.contains(w) {
            words.push(w.clone());
        }
    }
    words
}
