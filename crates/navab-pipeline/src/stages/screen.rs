//! Topic screening (stage 6, the paper's: the LLM judges each topic against the value-topic
//! sets) and statement screening (stage 8, optional: the LLM keeps the statements that speak
//! to values).

use navab_llm::stage::run_stage;
use navab_llm::steps::{TopicScreening, ValueScreening};
use navab_llm::Step;
use serde::{Deserialize, Serialize};

use super::extract::StatementsStage;
use super::labels::LabelRecord;
use super::topics::TopicsStage;
use super::{failure_of, Computed, Ctx};
use crate::pipeline::{Executor, Screening};
use crate::Result;

/// The topic screening's verdict on one topic.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TopicVerdict {
    pub topic: usize,
    /// `None` when the call or its reply failed (the topic is then not kept).
    pub value_related: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// Stage 6: each topic, with its label, keywords and representative documents, judged
/// against the value-topic sets. With statement screening only, every topic passes without a
/// call.
pub(crate) fn topics<X: Executor>(
    cx: &mut Ctx<'_, X>,
    topics: &TopicsStage,
    labels: &[LabelRecord],
    texts: &[&str],
) -> Result<Vec<TopicVerdict>> {
    if cx.config.screening == Screening::Statements {
        cx.run.skip("screen-topics")?;
        let all = labels.iter().map(|l| TopicVerdict {
            topic: l.topic,
            value_related: Some(true),
            failure: None,
        });
        return Ok(all.collect());
    }
    let prompt = TopicScreening {
        label: String::new(),
        keywords: Vec::new(),
        documents: Vec::new(),
        value_topics: cx.config.value_topics.clone(),
    }
    .request();
    let inputs = cx.llm_inputs(&[prompt], serde_json::Value::Null);
    cx.stage("screen-topics", "06-topic-screening.json", inputs, |cx| {
        let steps: Vec<TopicScreening> = labels
            .iter()
            .map(|l| {
                let t = &topics.topics[l.topic];
                let mut keywords = t.keywords.clone();
                keywords.extend(t.words.iter().filter(|w| !t.keywords.contains(w)).cloned());
                keywords.truncate(10);
                TopicScreening {
                    label: l.label.clone(),
                    keywords,
                    documents: representative(topics, l.topic, texts),
                    value_topics: cx.config.value_topics.clone(),
                }
            })
            .collect();
        let total = steps.len();
        let progress = &mut cx.progress;
        let stage = cx
            .exec
            .block_on(run_stage(&cx.llm, &steps, cx.config.concurrency, |s| {
                progress("screen-topics", s.done, total)
            }));
        let out: Vec<TopicVerdict> = labels
            .iter()
            .zip(stage.outcomes)
            .map(
                |(l, outcome)| match failure_of(&l.topic.to_string(), outcome) {
                    Ok(v) => TopicVerdict {
                        topic: l.topic,
                        value_related: Some(v),
                        failure: None,
                    },
                    Err(f) => TopicVerdict {
                        topic: l.topic,
                        value_related: None,
                        failure: Some(f.reason),
                    },
                },
            )
            .collect();
        let kept = out.iter().filter(|v| v.value_related == Some(true)).count();
        let failed = out.iter().filter(|v| v.failure.is_some()).count();
        let counts = [("topics", total), ("kept", kept), ("failed", failed)];
        Ok(Computed::new(out, &counts))
    })
}

/// Up to three documents of a topic: its representative ones, else (InsTag topics have none)
/// its first members.
fn representative(topics: &TopicsStage, topic: usize, texts: &[&str]) -> Vec<String> {
    let t = &topics.topics[topic];
    let docs: Vec<usize> = if t.representative_docs.is_empty() {
        (0..topics.labels.len())
            .filter(|&d| topics.labels[d] == Some(topic))
            .take(3)
            .collect()
    } else {
        t.representative_docs.iter().take(3).copied().collect()
    };
    docs.iter().map(|&d| texts[d].to_string()).collect()
}

/// 8. Statement screening, when the run asks for it; else every statement passes.
pub(crate) fn run<X: Executor>(
    cx: &mut Ctx<'_, X>,
    statements: &StatementsStage,
) -> Result<StatementsStage> {
    if cx.config.screening == Screening::Topics {
        cx.run.skip("screen")?;
        return Ok(StatementsStage {
            items: statements.items.clone(),
            failures: Vec::new(),
        });
    }
    let prompt = ValueScreening {
        statement: String::new(),
    }
    .request();
    let inputs = cx.llm_inputs(&[prompt], serde_json::Value::Null);
    cx.stage("screen", "08-screened.json", inputs, |cx| {
        let steps: Vec<ValueScreening> = statements
            .items
            .iter()
            .map(|s| ValueScreening {
                statement: s.text.clone(),
            })
            .collect();
        let total = steps.len();
        let progress = &mut cx.progress;
        let stage = cx
            .exec
            .block_on(run_stage(&cx.llm, &steps, cx.config.concurrency, |s| {
                progress("screen", s.done, total)
            }));
        let mut out = StatementsStage {
            items: Vec::new(),
            failures: Vec::new(),
        };
        for (s, outcome) in statements.items.iter().zip(stage.outcomes) {
            match failure_of(&s.id, outcome) {
                Ok(true) => out.items.push(s.clone()),
                Ok(false) => {}
                Err(f) => out.failures.push(f),
            }
        }
        let counts = [
            ("statements", total),
            ("kept", out.items.len()),
            ("failed", out.failures.len()),
        ];
        Ok(Computed::new(out, &counts))
    })
}
