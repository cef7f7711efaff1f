//! The LLM relation judge for Conflict Reduction (paper Section 3.4, Step II): do two
//! statements agree, conflict, or neither?
//!
//! ```
//! use navab_conflict::{CandidatePair, Relation, RelationJudge, Statement};
//! use navab_llm::testing::ScriptedChatModel;
//! use navab_triples::LlmRelationJudge;
//!
//! let model = ScriptedChatModel::new([
//!     "Both want the voting age lowered. ## agree",
//!     "**Relation:** Conflict: one wants it lowered, the other kept.",
//! ]);
//! let (a, b, c) = (
//!     Statement::new("s1", "The voting age should be lowered to 16."),
//!     Statement::new("s2", "Sixteen-year-olds should be allowed to vote."),
//!     Statement::new("s3", "The voting age must stay at 18."),
//! );
//! let pairs = [
//!     CandidatePair { first: &a, second: &b, similarity: 0.9 },
//!     CandidatePair { first: &a, second: &c, similarity: 0.8 },
//! ];
//! let judge = LlmRelationJudge::new(model);
//! let relations: Vec<Relation> = judge.judge(&pairs).into_iter().map(Result::unwrap).collect();
//! assert_eq!(relations, [Relation::Agree, Relation::Conflict]);
//! ```
//!
//! # Sync over async
//!
//! [`RelationJudge`] is synchronous and [`ChatModel`] asynchronous. [`LlmRelationJudge`] runs
//! each batch's calls concurrently (up to [`RunParams::concurrency`]) inside one future, and
//! drives that future to completion with an executor: by default [`block_on`], a
//! park-the-thread loop that needs no runtime and suits backends whose futures make progress on
//! their own (blocking clients, other threads, test doubles). A backend that needs a runtime's
//! reactor (tokio with hyper or reqwest) must be driven by that runtime: pass
//! `move |f| handle.block_on(f)` to [`LlmRelationJudge::with_executor`], and call the judge from
//! outside the runtime's worker threads (e.g. `spawn_blocking`), as tokio requires.

use std::sync::LazyLock;

use navab_conflict::{CandidatePair, Relation, RelationJudge};
use navab_llm::exec::run_bounded;
use navab_llm::{
    run_step, BoxFuture, ChatMessage, ChatModel, ParseError, Sampling, Step, StepName, StepOutcome,
};

use crate::exec::block_on;
use crate::source::RunParams;

/// The step name this crate's relation step reports.
pub const RELATION_STEP: StepName = StepName::RelationJudgment;

/// Relation judgment: does the second statement agree with the first, conflict with it, or
/// neither? Greedy sampling.
///
/// Reply asked for: one short reason, then `## agree`, `## conflict` or `## unrelated`.
/// Output: [`Relation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationJudgment {
    /// The first statement.
    pub first: String,
    /// The second statement.
    pub second: String,
}

// Our own prompt, in the style of navab-llm's steps: a system prompt that defines the labels,
// worked examples as user/assistant turns, then the question.
const SYSTEM: &str = "You compare the stances of two news statements for a benchmark of \
national values. Agree: both take the same side on the same issue, or one supports what the \
other says. Conflict: they take opposite sides on the same issue, so both cannot be held at \
once. Unrelated: they concern different issues, or one of them takes no side. Judge the \
stance, not the wording; statements may be in different languages. Give one short reason, \
then end with `## agree`, `## conflict` or `## unrelated`.";

fn ask(first: &str, second: &str) -> String {
    format!(
        "Statement 1: {}\nStatement 2: {}\nDo they agree, conflict, or are they unrelated?",
        first.trim(),
        second.trim()
    )
}

const SHOTS: [(&str, &str, &str); 3] = [
    (
        "The new bike lanes make the city centre safer.",
        "Cycling in the centre has become safer since the lanes opened.",
        "Both say the lanes made the centre safer. ## agree",
    ),
    (
        "立法會應該盡快落實普選。",
        "The legislature should not move towards universal suffrage.",
        "One wants universal suffrage soon, the other opposes it. ## conflict",
    ),
    (
        "The minister said the voting age should be lowered to 16.",
        "Public housing prices rose for the third year running.",
        "Voting age and housing prices are different issues. ## unrelated",
    ),
];

impl Step for RelationJudgment {
    type Output = Relation;
    const NAME: StepName = RELATION_STEP;

    fn messages(&self) -> Vec<ChatMessage> {
        let mut messages = vec![ChatMessage::system(SYSTEM)];
        for (first, second, reply) in SHOTS {
            messages.push(ChatMessage::user(ask(first, second)));
            messages.push(ChatMessage::assistant(reply));
        }
        messages.push(ChatMessage::user(ask(&self.first, &self.second)));
        messages
    }

    fn sampling(&self) -> Sampling {
        Sampling::GREEDY
    }

    fn parse(&self, reply: &str) -> Result<Relation, ParseError> {
        parse_relation(reply)
    }

    fn render_reply(output: &Relation) -> String {
        match output {
            Relation::Agree => "## agree",
            Relation::Conflict => "## conflict",
            _ => "## unrelated",
        }
        .to_string()
    }
}

// Label words, longest and negated forms first: "disagree" before "agree", "not related" before
// "related".
static UNRELATED: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    vec![
        "unrelated",
        "not related",
        "no relation",
        "irrelevant",
        "neutral",
        "neither",
        "none",
        "different issues",
        "different topics",
        "無關",
        "无关",
        "不相關",
        "不相关",
        "沒有關係",
        "没有关系",
        "無關係",
        "sans rapport",
        "aucun rapport",
        "sans lien",
        "indépendant",
        "unabhängig",
        "kein zusammenhang",
        "keine beziehung",
        "neutre",
    ]
});

static CONFLICT: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    vec![
        "conflict",
        "contradict",
        "disagree",
        "oppos",
        "opposite",
        "incompatible",
        "inconsistent",
        "衝突",
        "冲突",
        "矛盾",
        "對立",
        "对立",
        "相反",
        "相悖",
        "不一致",
        "conflit",
        "contradiction",
        "contradictoire",
        "désaccord",
        "widerspruch",
        "widersprechen",
        "konflikt",
        "gegensätzlich",
    ]
});

static AGREE: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    vec![
        "agree",
        "agreement",
        "consistent",
        "aligned",
        "align",
        "same stance",
        "same side",
        "一致",
        "同意",
        "相同",
        "認同",
        "认同",
        "d'accord",
        "cohérent",
        "übereinstimm",
        "zustimm",
        "einig",
    ]
});

fn starts_with_any(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| text.starts_with(w))
}

/// The label at the start of `segment` (after markup and an optional `relation:` label).
fn label_at_start(segment: &str) -> Option<Relation> {
    let lower = segment.to_lowercase();
    let mut s = lower.trim_start_matches(|c: char| {
        c.is_whitespace() || "*#\"'“”‘’「『([【<>:：-–—•`_".contains(c)
    });
    for label in [
        "relation",
        "relationship",
        "answer",
        "final answer",
        "verdict",
        "label",
        "judgment",
        "judgement",
        "result",
        "關係",
        "关系",
        "答案",
        "結論",
        "结论",
        "réponse",
        "antwort",
    ] {
        if let Some(rest) = s.strip_prefix(label) {
            let rest = rest.trim_start();
            if let Some(rest) = rest.strip_prefix([':', '：']) {
                s = rest.trim_start_matches(|c: char| {
                    c.is_whitespace() || "*\"'“”‘’「『([【`".contains(c)
                });
            }
            break;
        }
    }
    // Negated and longer forms first.
    if starts_with_any(s, &UNRELATED) {
        Some(Relation::Unrelated)
    } else if starts_with_any(s, &CONFLICT) || s.starts_with("they conflict") {
        Some(Relation::Conflict)
    } else if starts_with_any(s, &AGREE) || s.starts_with("they agree") {
        Some(Relation::Agree)
    } else {
        None
    }
}

/// Which of the three labels a text mentions anywhere, after taking out the negated forms
/// ("do not conflict", "not related", "disagree").
fn labels_mentioned(text: &str) -> Vec<Relation> {
    let mut lower = text.to_lowercase();
    let mut found = Vec::new();
    for u in UNRELATED.iter() {
        if lower.contains(u) {
            found.push(Relation::Unrelated);
            lower = lower.replace(u, " ");
        }
    }
    for negated in [
        "do not conflict",
        "don't conflict",
        "no conflict",
        "not conflict",
        "not contradict",
        "do not agree",
        "don't agree",
        "not agree",
        "not in agreement",
    ] {
        lower = lower.replace(negated, " ");
    }
    if CONFLICT.iter().any(|w| lower.contains(w)) {
        found.push(Relation::Conflict);
        for w in CONFLICT.iter() {
            lower = lower.replace(w, " ");
        }
    }
    if AGREE.iter().any(|w| lower.contains(w)) {
        found.push(Relation::Agree);
    }
    found.dedup();
    found
}

/// Reads a relation judgment: `agree`, `conflict` or `unrelated` (and synonyms: consistent,
/// contradict, opposite, neutral, 一致, 矛盾, 衝突, 無關, d'accord, conflit, Widerspruch,
/// unabhängig, ...) after the last `##`, after a `Relation:`/`Answer:` label, at the start of
/// the reply or of its last line; else the only label mentioned in the last line, then in the
/// whole reply, negated forms ("do not conflict", "not related") set aside. A reply that names
/// none, or several in the end, is an error holding the reply.
pub fn parse_relation(reply: &str) -> Result<Relation, ParseError> {
    let err = |reason: &str| ParseError::new(RELATION_STEP, reason, reply);
    let text = reply.replace("**", "").replace("\r\n", "\n");
    let text = text.trim();
    let last_line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");

    let mut segments: Vec<&str> = Vec::new();
    if let Some(i) = text.rfind("##") {
        segments.push(&text[i + 2..]);
    }
    for line in text.lines().rev() {
        let lower = line.to_lowercase();
        if [
            "relation", "answer", "verdict", "label", "關係", "关系", "答案", "結論", "结论",
        ]
        .iter()
        .any(|l| {
            lower
                .trim_start_matches(['*', '#', ' ', '-'])
                .starts_with(l)
        }) {
            segments.push(line);
        }
    }
    segments.push(text);
    segments.push(last_line);
    if let Some(relation) = segments.iter().find_map(|s| label_at_start(s)) {
        return Ok(relation);
    }
    for scope in [last_line, text] {
        match labels_mentioned(scope).as_slice() {
            [one] => return Ok(*one),
            [] => continue,
            _ if scope == last_line => continue,
            _ => {
                return Err(err(
                    "the reply names more than one of agree, conflict, unrelated",
                ))
            }
        }
    }
    Err(err("no relation (agree, conflict or unrelated) found"))
}

/// The future a judge's executor drives: one batch's step outcomes, in pair order.
pub type JudgeBatch<'a> = BoxFuture<'a, Vec<StepOutcome<Relation>>>;

/// An executor for [`LlmRelationJudge`]: runs one batch's future to completion.
pub type Executor = Box<dyn for<'a> Fn(JudgeBatch<'a>) -> Vec<StepOutcome<Relation>> + Send + Sync>;

/// A [`RelationJudge`] that asks a [`ChatModel`] with the [`RelationJudgment`] step.
///
/// Each pair is one call (statements in corpus order); a batch's calls run concurrently, at
/// most [`RunParams::concurrency`] at a time. A reply that does not parse or a failed call is
/// that pair's `Err` ([`navab_conflict::Error::Judge`] with the reason and the raw reply), which
/// Conflict Reduction records and skips. See the [module docs](self) for the executor.
pub struct LlmRelationJudge<M> {
    model: M,
    params: RunParams,
    executor: Executor,
}

impl<M> std::fmt::Debug for LlmRelationJudge<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmRelationJudge")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl<M: ChatModel> LlmRelationJudge<M> {
    /// A judge over `model` with the default [`RunParams`] and the [`block_on`] executor.
    pub fn new(model: M) -> Self {
        Self {
            model,
            params: RunParams::default(),
            executor: Box::new(|batch| block_on(batch)),
        }
    }

    /// At most `concurrency` calls in flight per batch (0 is taken as 1).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.params.concurrency = concurrency.max(1);
        self
    }

    /// Drives each batch with `executor` instead of [`block_on`], e.g. a tokio runtime handle's
    /// `block_on`.
    pub fn with_executor<E>(mut self, executor: E) -> Self
    where
        E: for<'a> Fn(JudgeBatch<'a>) -> Vec<StepOutcome<Relation>> + Send + Sync + 'static,
    {
        self.executor = Box::new(executor);
        self
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
}

fn preview(raw: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = raw.chars().take(MAX).collect();
    if raw.chars().nth(MAX).is_some() {
        out.push('…');
    }
    format!("{out:?}")
}

impl<M: ChatModel> RelationJudge for LlmRelationJudge<M> {
    fn judge(&self, pairs: &[CandidatePair<'_>]) -> Vec<navab_conflict::Result<Relation>> {
        let steps: Vec<RelationJudgment> = pairs
            .iter()
            .map(|p| RelationJudgment {
                first: p.first.text.clone(),
                second: p.second.text.clone(),
            })
            .collect();
        let futures: Vec<BoxFuture<'_, StepOutcome<Relation>>> = steps
            .iter()
            .map(|step| Box::pin(run_step(&self.model, step)) as BoxFuture<'_, _>)
            .collect();
        let outcomes = (self.executor)(Box::pin(run_bounded(
            futures,
            self.params.concurrency,
            |_, _| {},
        )));
        let mut results: Vec<navab_conflict::Result<Relation>> = outcomes
            .into_iter()
            .map(|outcome| match outcome {
                StepOutcome::Ok { value, .. } => Ok(value),
                StepOutcome::ParseFailed { raw, reason, .. } => {
                    Err(navab_conflict::Error::judge(format!(
                        "relation judgment: reply not understood: {reason}; raw reply: {}",
                        preview(&raw)
                    )))
                }
                StepOutcome::CallFailed { error } => Err(navab_conflict::Error::judge(format!(
                    "relation judgment: model call failed: {error}"
                ))),
                _ => Err(navab_conflict::Error::judge(
                    "relation judgment: unknown outcome",
                )),
            })
            .collect();
        // An executor that returns too few outcomes must not shift the others' pairs.
        results.truncate(pairs.len());
        while results.len() < pairs.len() {
            results.push(Err(navab_conflict::Error::judge(
                "relation judgment: the executor returned no outcome for this pair",
            )));
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messy_replies() {
        use Relation::*;
        for (reply, want) in [
            ("## agree", Agree),
            ("Both favour it. ## Agree.", Agree),
            ("They take opposite sides. ## conflict", Conflict),
            ("## Unrelated", Unrelated),
            ("**Relation:** Conflict", Conflict),
            ("Relation: unrelated — different issues.", Unrelated),
            ("Answer: AGREE", Agree),
            (
                "Conflict. The first supports the bill, the second opposes it.",
                Conflict,
            ),
            ("Agree", Agree),
            ("unrelated", Unrelated),
            ("They disagree: one wants it lowered. ## disagree", Conflict),
            ("The two statements contradict each other.", Conflict),
            (
                "These statements do not conflict; they are consistent.",
                Agree,
            ),
            ("The statements are not related.", Unrelated),
            ("Neither: one is about housing.", Unrelated),
            ("兩者立場相反。 ## 衝突", Conflict),
            ("## 一致", Agree),
            ("結論：無關", Unrelated),
            (
                "Les deux déclarations sont en contradiction. ## conflit",
                Conflict,
            ),
            ("## d'accord", Agree),
            ("Die Aussagen stehen im Widerspruch.", Conflict),
            ("## `conflict`", Conflict),
            ("Reasoning: both discuss tax.\nThey agree.", Agree),
            (
                "They are neutral towards each other.\n\n## neutral",
                Unrelated,
            ),
        ] {
            assert_eq!(parse_relation(reply).ok(), Some(want), "{reply:?}");
        }
    }

    #[test]
    fn unreadable_replies_keep_the_raw_text() {
        for reply in [
            "",
            "I cannot decide.",
            "One could say they agree, or that they conflict, or are unrelated.\nHard to say.",
        ] {
            let e = parse_relation(reply).unwrap_err();
            assert_eq!(e.raw, reply);
        }
    }

    #[test]
    fn rendered_replies_parse_back() {
        for relation in [Relation::Agree, Relation::Conflict, Relation::Unrelated] {
            let reply = RelationJudgment::render_reply(&relation);
            assert_eq!(parse_relation(&reply).unwrap(), relation);
        }
    }

    #[test]
    fn the_prompt_holds_both_statements_and_asks_greedily() {
        let step = RelationJudgment {
            first: " 立法會應該盡快落實普選。 ".into(),
            second: "The voting age must stay at 18.".into(),
        };
        let request = step.request();
        let last = &request.messages.last().unwrap().content;
        assert!(
            last.contains("Statement 1: 立法會應該盡快落實普選。\n"),
            "{last}"
        );
        assert!(
            last.contains("Statement 2: The voting age must stay at 18."),
            "{last}"
        );
        assert_eq!(request.temperature, Some(0.0));
        // Every worked example's reply parses to a label.
        for (_, _, reply) in SHOTS {
            assert!(parse_relation(reply).is_ok(), "{reply}");
        }
    }
}
