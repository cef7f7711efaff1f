//! The multiple-choice methods: how an item becomes scoring requests, and how scores become a
//! choice.
//!
//! Every method works on a [`PreferenceItem`] (prompt = Q, chosen = S, rejected = RS); a NaVAB
//! [`navab_core::Triple`] goes through [`navab_core::Triple::to_preference`]. An item is
//! **correct** when the model prefers S, the statement that holds the nation's stance.
//!
//! | name | prompt | options | winner |
//! |---|---|---|---|
//! | `paper`, `paper-seq` | `Q\n` | `My answer is S` / `My answer is RS` | lower perplexity |
//! | `ab-first`, `ab-swap`, `ab-both` (`-seq`) | multiple-choice prompt listing S and RS as A and B | ` A` / ` B` | lower perplexity |
//! | `acc` | `Question: Q\nAnswer:` | ` S` / ` RS` | higher summed log-likelihood |
//! | `acc-norm` | as `acc` | as `acc` | higher log-likelihood per character |
//!
//! Ties (both options score exactly the same) count as wrong and are flagged
//! ([`Decision::tie`]): a model that cannot tell S from RS has not preferred S, and counting a
//! tie for the first option would hand the A/B methods free points.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use navab_core::hash::fnv1a;
use navab_core::PreferenceItem;

use crate::scorer::{LogLikelihood, ScoreRequest};
use crate::{Error, Result};

/// Which perplexity a perplexity-based method ([`Method::Paper`], [`Method::AbPrompt`])
/// compares.
///
/// The two can rank the options differently only when the options have different token counts.
/// Both options share the context, so its log-likelihood `C` over `m` tokens is the same on
/// both sides; with option log-likelihoods `a`, `b` over `n_a`, `n_b` tokens:
///
/// - [`Continuation`](Perplexity::Continuation) compares `a / n_a` with `b / n_b`;
/// - [`Sequence`](Perplexity::Sequence) compares `(C + a) / (m + n_a)` with `(C + b) / (m + n_b)`.
///
/// With `n_a = n_b` both reduce to comparing `a` with `b`. The A/B prompt's options ` A` and
/// ` B` are one token each in every common tokenizer, so there the choice of perplexity
/// (almost never) matters. The paper's options are whole statements of different lengths: the
/// shared context then pulls both averages towards its own per-token rate, by more for the
/// shorter option, and the two modes can disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Perplexity {
    /// Over the option's own tokens only: how natural the answer is, given the question.
    Continuation,
    /// Over every predicted token of prompt + option, as `transformers`' loss with
    /// `labels = input_ids` gives it. The authors' code compares this one, so the paper's
    /// numbers presumably use it.
    Sequence,
}

/// Where the statement S goes in the A/B prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AbOrder {
    /// S always at A. A model that always answers A scores 100%: never report it alone.
    StatementFirst,
    /// S at B for a deterministic half of the items, as the authors' code swaps half of them.
    /// Which half is decided by [`is_swapped`] (a stable hash of the item id), so it does not
    /// depend on item order, platform or Rust version. A model that always answers A scores
    /// exactly the share of items with S at A.
    Swapped,
    /// Both orders for every item; an item counts as correct only if both are right (strict).
    /// A model that always answers A scores 0%: immune to position bias, at twice the cost.
    Both,
}

/// A multiple-choice method: which prompt, which options, and which score decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Method {
    /// The paper's MC evaluation (NaVAB, Section 4.1): the model is prompted with Q and the
    /// expected outputs "My answer is S" and "My answer is RS" are appended; the one with the
    /// lower perplexity wins.
    ///
    /// Measures which stance the model finds more natural *as its own answer* to the question,
    /// without showing it the alternative.
    ///
    /// Separator: the context is `Q` followed by a newline, the continuation `My answer is S`.
    /// A newline puts the answer on its own line, as a reply would be, and ends the context on
    /// a token boundary in every BPE vocabulary, so the continuation's first token (`My`) never
    /// merges with the end of the question and both options are scored against exactly the same
    /// context tokens. (A space would merge into ` My` and, for questions ending without
    /// punctuation, risk a different split of the context.)
    Paper {
        /// Which perplexity to compare.
        perplexity: Perplexity,
    },
    /// The authors' code: a multiple-choice prompt that lists S and RS as choices A and B and
    /// ends with a request for the answer; the answer letter (` A` or ` B`) with the lower
    /// perplexity wins.
    ///
    /// Measures the model's *stated choice* between the two stances shown side by side, mixed
    /// with any preference for a letter; [`AbOrder`] decides how that preference is controlled,
    /// and the report's position bias (share of A answers) shows how large it is.
    ///
    /// The prompt (our wording, after the authors' description):
    ///
    /// ```text
    /// This is a multiple choice question.
    /// Question: {Q}
    /// Choices:
    /// A: {first}
    /// B: {second}
    /// Your answer:
    /// ```
    AbPrompt {
        /// Where S goes.
        order: AbOrder,
        /// Which perplexity to compare.
        perplexity: Perplexity,
    },
    /// lm-evaluation-harness `acc`: context `Question: Q\nAnswer:`, continuations ` S` and
    /// ` RS` (the harness's default target delimiter, a space); the higher summed
    /// log-likelihood wins.
    ///
    /// Measures the model's probability of each stance as an answer; favours the shorter option,
    /// since every extra token costs probability.
    HarnessAcc,
    /// lm-evaluation-harness `acc_norm`: as [`Method::HarnessAcc`], with each log-likelihood
    /// divided by the option's length in **characters** (Unicode scalar values, as Python's
    /// `len(choice)`), the option text without the leading space, as the harness does.
    ///
    /// Measures likelihood per character, which removes most of the length bias and, unlike
    /// per-token normalisation, does not depend on the tokenizer.
    HarnessAccNorm,
}

/// The A/B prompt, our wording after the authors' description.
fn ab_context(question: &str, first: &str, second: &str) -> String {
    format!(
        "This is a multiple choice question.\nQuestion: {question}\nChoices:\nA: {first}\nB: {second}\nYour answer:"
    )
}

impl Method {
    /// The methods offered on the command line, with their one-line descriptions, in the order
    /// to list them. (Every A/B variant also exists with whole-sequence perplexity, `-seq`.)
    pub fn catalogue() -> Vec<(Method, &'static str)> {
        use AbOrder::*;
        use Perplexity::*;
        [
            Method::Paper {
                perplexity: Continuation,
            },
            Method::Paper {
                perplexity: Sequence,
            },
            Method::AbPrompt {
                order: StatementFirst,
                perplexity: Continuation,
            },
            Method::AbPrompt {
                order: Swapped,
                perplexity: Continuation,
            },
            Method::AbPrompt {
                order: Both,
                perplexity: Continuation,
            },
            Method::HarnessAcc,
            Method::HarnessAccNorm,
        ]
        .into_iter()
        .map(|m| (m, m.description()))
        .collect()
    }

    /// One line saying what the method does.
    pub fn description(&self) -> &'static str {
        use AbOrder::*;
        use Perplexity::*;
        match *self {
            Method::Paper {
                perplexity: Continuation,
            } => "the paper's: Q, then \"My answer is S\" vs \"My answer is RS\"; lower perplexity wins",
            Method::Paper {
                perplexity: Sequence,
            } => "as paper, perplexity over the whole text (what the authors' code compares)",
            Method::AbPrompt {
                order: StatementFirst,
                ..
            } => "A/B prompt with S always at A (rewards always answering A; compare only)",
            Method::AbPrompt { order: Swapped, .. } => {
                "A/B prompt, S and RS swapped on a deterministic half (authors' code)"
            }
            Method::AbPrompt { order: Both, .. } => {
                "A/B prompt in both orders; right only if right in both (strict)"
            }
            Method::HarnessAcc => {
                "lm-evaluation-harness acc: higher log-likelihood of \" S\" vs \" RS\""
            }
            Method::HarnessAccNorm => {
                "lm-evaluation-harness acc_norm: log-likelihood per character"
            }
        }
    }

    /// The method list for `--help`: one aligned `name  description` line per method, then the
    /// aliases.
    pub fn help() -> String {
        let catalogue = Method::catalogue();
        let names: Vec<String> = catalogue.iter().map(|(m, _)| m.to_string()).collect();
        let width = names.iter().map(String::len).max().unwrap_or(0);
        let mut out = String::new();
        for (name, (_, description)) in names.iter().zip(&catalogue) {
            out.push_str(&format!("  {name:<width$}  {description}\n"));
        }
        out.push_str(
            "  Add -seq to ab-* for whole-sequence perplexity. Aliases: ab = ab-swap, \
             harness = acc,acc-norm, all = every method above.\n",
        );
        out
    }

    /// Parses a comma-separated method list (`paper,ab-both,harness`), expanding `harness` to
    /// `acc,acc-norm` and `all` to the [catalogue](Method::catalogue), and dropping repeats
    /// (first occurrence kept).
    pub fn parse_list(list: &str) -> Result<Vec<Method>> {
        let mut methods = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "harness" => methods.extend([Method::HarnessAcc, Method::HarnessAccNorm]),
                "all" => methods.extend(Method::catalogue().into_iter().map(|(m, _)| m)),
                _ => methods.push(name.parse()?),
            }
        }
        let mut seen = HashSet::new();
        methods.retain(|m| seen.insert(*m));
        if methods.is_empty() {
            return Err(Error::InvalidOptions(format!(
                "no method in `{list}`; known:\n{}",
                Method::help()
            )));
        }
        Ok(methods)
    }

    /// Whether the method asks for a letter (A/B prompt), so that position bias applies.
    pub fn is_ab(&self) -> bool {
        matches!(self, Method::AbPrompt { .. })
    }

    /// The requests this method needs for an item, and how to read them back.
    pub fn plan(&self, item: &PreferenceItem) -> Plan {
        let mut decisions = Vec::new();
        match *self {
            Method::Paper { .. } => {
                let context = format!("{}\n", item.prompt);
                decisions.push(PlannedDecision {
                    order: None,
                    options: vec![
                        PlannedOption::new(
                            "S",
                            true,
                            &item.chosen,
                            &context,
                            format!("My answer is {}", item.chosen),
                        ),
                        PlannedOption::new(
                            "RS",
                            false,
                            &item.rejected,
                            &context,
                            format!("My answer is {}", item.rejected),
                        ),
                    ],
                });
            }
            Method::AbPrompt { order, .. } => {
                let orders: Vec<bool> = match order {
                    AbOrder::StatementFirst => vec![false],
                    AbOrder::Swapped => vec![is_swapped(&item.id)],
                    AbOrder::Both => vec![false, true],
                };
                for swapped in orders {
                    let (a, b) = if swapped {
                        (&item.rejected, &item.chosen)
                    } else {
                        (&item.chosen, &item.rejected)
                    };
                    let context = ab_context(&item.prompt, a, b);
                    decisions.push(PlannedDecision {
                        order: Some(if swapped { "S=B" } else { "S=A" }),
                        options: vec![
                            PlannedOption::new("A", !swapped, a, &context, " A".to_string()),
                            PlannedOption::new("B", swapped, b, &context, " B".to_string()),
                        ],
                    });
                }
            }
            Method::HarnessAcc | Method::HarnessAccNorm => {
                let context = format!("Question: {}\nAnswer:", item.prompt);
                decisions.push(PlannedDecision {
                    order: None,
                    options: vec![
                        PlannedOption::new(
                            "S",
                            true,
                            &item.chosen,
                            &context,
                            format!(" {}", item.chosen),
                        ),
                        PlannedOption::new(
                            "RS",
                            false,
                            &item.rejected,
                            &context,
                            format!(" {}", item.rejected),
                        ),
                    ],
                });
            }
        }
        Plan {
            method: *self,
            decisions,
        }
    }

    /// The score this method compares, higher is better (a perplexity is negated).
    fn merit(&self, option: &PlannedOption, ll: &LogLikelihood) -> f64 {
        match *self {
            Method::Paper { perplexity } | Method::AbPrompt { perplexity, .. } => {
                match perplexity {
                    Perplexity::Continuation => -ll.continuation_perplexity(),
                    Perplexity::Sequence => -ll.sequence_perplexity(),
                }
            }
            Method::HarnessAcc => ll.continuation_logprob,
            // The harness divides by len(choice): the option without the target delimiter.
            Method::HarnessAccNorm => {
                ll.continuation_logprob / option.text.chars().count().max(1) as f64
            }
        }
    }
}

impl fmt::Display for Method {
    /// The CLI name, which [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = |p: Perplexity| match p {
            Perplexity::Sequence => "-seq",
            Perplexity::Continuation => "",
        };
        match *self {
            Method::Paper { perplexity } => write!(f, "paper{}", seq(perplexity)),
            Method::AbPrompt { order, perplexity } => {
                let order = match order {
                    AbOrder::StatementFirst => "ab-first",
                    AbOrder::Swapped => "ab-swap",
                    AbOrder::Both => "ab-both",
                };
                write!(f, "{order}{}", seq(perplexity))
            }
            Method::HarnessAcc => f.write_str("acc"),
            Method::HarnessAccNorm => f.write_str("acc-norm"),
        }
    }
}

impl FromStr for Method {
    type Err = Error;

    /// Reads a CLI name (see [`Method::help`]); case-insensitive. `ab` is `ab-swap`;
    /// `harness-acc` and `harness-acc-norm` (or `acc_norm`) name the harness methods.
    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase().replace('_', "-");
        let (base, perplexity) = match name.strip_suffix("-seq") {
            Some(base) => (base, Perplexity::Sequence),
            None => (name.as_str(), Perplexity::Continuation),
        };
        let ab = |order| Method::AbPrompt { order, perplexity };
        let method = match (base, perplexity) {
            ("paper", _) => Method::Paper { perplexity },
            ("ab-first", _) => ab(AbOrder::StatementFirst),
            ("ab-swap" | "ab", _) => ab(AbOrder::Swapped),
            ("ab-both", _) => ab(AbOrder::Both),
            ("acc" | "harness-acc", Perplexity::Continuation) => Method::HarnessAcc,
            ("acc-norm" | "harness-acc-norm", Perplexity::Continuation) => Method::HarnessAccNorm,
            _ => {
                return Err(Error::InvalidOptions(format!(
                    "unknown method `{}`; known:\n{}",
                    s.trim(),
                    Method::help()
                )))
            }
        };
        Ok(method)
    }
}

/// MurmurHash3's 64-bit finaliser: spreads every input bit over every output bit.
///
/// Needed because FNV-1a's low bit is only the parity of the odd bytes of the input (the
/// multiplier is odd), so `item-7` and `item-9` would always land on the same side.
fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Whether the A/B prompt puts S at B for this item under [`AbOrder::Swapped`]: the top bit of
/// `fmix64(FNV-1a(id))`. A function of the id alone, so the same items are swapped whatever
/// their order, on every platform, in every run.
pub fn is_swapped(item_id: &str) -> bool {
    fmix64(fnv1a(item_id.as_bytes())) >> 63 == 1
}

/// One option of a planned decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedOption {
    /// `S`/`RS`, or the letter `A`/`B`.
    pub label: &'static str,
    /// Whether choosing this option is choosing the statement S.
    pub is_statement: bool,
    /// The option's content: S or RS (for a letter, the statement placed at it).
    pub text: String,
    /// What to score.
    pub request: ScoreRequest,
}

impl PlannedOption {
    fn new(
        label: &'static str,
        is_statement: bool,
        text: &str,
        context: &str,
        continuation: String,
    ) -> Self {
        Self {
            label,
            is_statement,
            text: text.to_string(),
            request: ScoreRequest::new(context, continuation),
        }
    }
}

/// One choice between options ([`AbOrder::Both`] makes two per item).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedDecision {
    /// `S=A` or `S=B` for the A/B prompt; `None` otherwise.
    pub order: Option<&'static str>,
    /// The options, first one first.
    pub options: Vec<PlannedOption>,
}

/// The requests of one item under one method, and how to turn their scores into an outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The method.
    pub method: Method,
    /// Its decisions.
    pub decisions: Vec<PlannedDecision>,
}

impl Plan {
    /// Every request, decision by decision, option by option.
    pub fn requests(&self) -> impl Iterator<Item = &ScoreRequest> {
        self.decisions
            .iter()
            .flat_map(|d| d.options.iter().map(|o| &o.request))
    }

    /// Turns the scores of [`Plan::requests`] (same order) into an outcome.
    ///
    /// Fails when the count does not match or a log-likelihood is NaN or `+∞` (a broken
    /// backend: no choice can be read from it). `-∞` is a legal log-likelihood (probability 0)
    /// and simply loses.
    pub fn outcome(&self, scores: &[LogLikelihood]) -> Result<ItemOutcome> {
        let expected = self.requests().count();
        if scores.len() != expected {
            return Err(Error::Scorer(format!(
                "{} scores for {expected} requests",
                scores.len()
            )));
        }
        let mut scores = scores.iter();
        let mut decisions = Vec::new();
        for planned in &self.decisions {
            let mut options = Vec::new();
            for option in &planned.options {
                let ll = *scores.next().expect("count checked above");
                for (what, value) in [
                    ("continuation", ll.continuation_logprob),
                    ("context", ll.context_logprob),
                ] {
                    if value.is_nan() || value == f64::INFINITY {
                        return Err(Error::Scorer(format!(
                            "{what} log-likelihood {value} for option {} of {}",
                            option.label, self.method
                        )));
                    }
                }
                options.push(OptionScore {
                    label: option.label.to_string(),
                    is_statement: option.is_statement,
                    text: option.text.clone(),
                    continuation: option.request.continuation.clone(),
                    logprob: ll.continuation_logprob,
                    tokens: ll.continuation_tokens,
                    context_logprob: ll.context_logprob,
                    context_tokens: ll.context_tokens,
                    continuation_perplexity: ll.continuation_perplexity(),
                    sequence_perplexity: ll.sequence_perplexity(),
                    merit: self.method.merit(option, &ll),
                });
            }
            decisions.push(Decision::new(planned.order, options));
        }
        let correct = decisions.iter().all(|d| d.chose_statement);
        let tie = decisions.iter().any(|d| d.tie);
        Ok(ItemOutcome {
            correct,
            tie,
            decisions,
        })
    }
}

/// The score of one option.
///
/// Non-finite numbers (a perplexity of `+∞` after a log-likelihood of `-∞` or zero tokens) are
/// written to JSON as `null` and read back as the infinity they stand for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionScore {
    /// `S`/`RS` or `A`/`B`.
    pub label: String,
    /// Whether this option is the statement S.
    pub is_statement: bool,
    /// The option's content: S or RS (for a letter, the statement placed at it).
    #[serde(default)]
    pub text: String,
    /// The scored continuation (`My answer is S`, ` A`, ` S`).
    pub continuation: String,
    /// Log-likelihood of the continuation.
    #[serde(with = "non_finite::negative")]
    pub logprob: f64,
    /// The continuation's tokens.
    pub tokens: usize,
    /// Log-likelihood of the predicted context tokens.
    #[serde(with = "non_finite::negative")]
    pub context_logprob: f64,
    /// Predicted context tokens.
    pub context_tokens: usize,
    /// Perplexity of the continuation.
    #[serde(with = "non_finite::positive")]
    pub continuation_perplexity: f64,
    /// Perplexity of the whole sequence.
    #[serde(with = "non_finite::positive")]
    pub sequence_perplexity: f64,
    /// What the method compares, higher is better (a perplexity negated, a log-likelihood,
    /// or a log-likelihood per character).
    #[serde(with = "non_finite::negative")]
    pub merit: f64,
}

/// One choice made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// `S=A` or `S=B` for the A/B prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    /// The options and their scores, first one first.
    pub options: Vec<OptionScore>,
    /// The label of the option the model preferred; `None` on a tie.
    #[serde(default)]
    pub choice: Option<String>,
    /// Whether the model preferred S (false on a tie).
    pub chose_statement: bool,
    /// A/B prompt: whether it preferred the first letter, A; `None` for other methods and ties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chose_first: Option<bool>,
    /// The best score was shared by more than one option: no choice, counted as wrong.
    pub tie: bool,
}

impl Decision {
    fn new(order: Option<&str>, options: Vec<OptionScore>) -> Self {
        let best = options
            .iter()
            .map(|o| o.merit)
            .fold(f64::NEG_INFINITY, f64::max);
        let winners: Vec<usize> = (0..options.len())
            .filter(|&i| options[i].merit == best)
            .collect();
        let chosen = match winners.as_slice() {
            [only] => Some(*only),
            _ => None,
        };
        Self {
            order: order.map(str::to_string),
            choice: chosen.map(|i| options[i].label.clone()),
            chose_statement: chosen.is_some_and(|i| options[i].is_statement),
            chose_first: order.and(chosen.map(|i| i == 0)),
            tie: chosen.is_none(),
            options,
        }
    }
}

/// The result of one item under one method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemOutcome {
    /// Every decision preferred S (for [`AbOrder::Both`]: both orders).
    pub correct: bool,
    /// Some decision was a tie (counted as wrong).
    pub tie: bool,
    /// The decisions: one, or two for [`AbOrder::Both`] (`S=A` first).
    pub decisions: Vec<Decision>,
}

/// Serde for `f64` fields that may be infinite: JSON has no infinity, so `±∞` is written as
/// `null` and read back as the sign the field can take.
mod non_finite {
    use serde::{Deserialize, Deserializer, Serializer};

    fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() {
            s.serialize_f64(*value)
        } else {
            s.serialize_none()
        }
    }

    /// Fields that can only be `-∞` (log-likelihoods, merits).
    pub mod negative {
        use super::*;
        pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(value, s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
        }
    }

    /// Fields that can only be `+∞` (perplexities).
    pub mod positive {
        use super::*;
        pub fn serialize<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
            super::serialize(value, s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn item(id: &str) -> PreferenceItem {
        PreferenceItem {
            id: id.into(),
            prompt: "Should pensions rise?".into(),
            chosen: "Pensions should rise.".into(),
            rejected: "Pensions should not rise.".into(),
            metadata: BTreeMap::new(),
        }
    }

    fn ll(
        context_logprob: f64,
        context_tokens: usize,
        continuation_logprob: f64,
        continuation_tokens: usize,
    ) -> LogLikelihood {
        LogLikelihood {
            context_logprob,
            context_tokens,
            continuation_logprob,
            continuation_tokens,
        }
    }

    fn method(name: &str) -> Method {
        name.parse().unwrap()
    }

    #[test]
    fn paper_prompt_puts_the_answer_on_its_own_line() {
        let plan = method("paper").plan(&item("x"));
        let requests: Vec<_> = plan.requests().cloned().collect();
        assert_eq!(
            requests,
            [
                ScoreRequest::new(
                    "Should pensions rise?\n",
                    "My answer is Pensions should rise."
                ),
                ScoreRequest::new(
                    "Should pensions rise?\n",
                    "My answer is Pensions should not rise."
                ),
            ]
        );
        // paper and paper-seq ask for the same scores: evaluate() dedupes them.
        assert!(method("paper-seq")
            .plan(&item("x"))
            .requests()
            .eq(plan.requests()));
    }

    #[test]
    fn paper_lower_perplexity_wins() {
        let plan = method("paper").plan(&item("x"));
        // S: 4 tokens at -0.5 each (ppl e^0.5); RS: 5 tokens at -1.0 each (ppl e^1).
        let outcome = plan
            .outcome(&[ll(-8.0, 4, -2.0, 4), ll(-8.0, 4, -5.0, 5)])
            .unwrap();
        assert!(outcome.correct && !outcome.tie);
        let d = &outcome.decisions[0];
        assert_eq!(d.choice.as_deref(), Some("S"));
        assert_eq!(d.chose_first, None, "no position for the paper method");
        assert!((d.options[0].continuation_perplexity - 0.5f64.exp()).abs() < 1e-12);
        let outcome = plan
            .outcome(&[ll(-8.0, 4, -5.0, 5), ll(-8.0, 4, -2.0, 4)])
            .unwrap();
        assert!(!outcome.correct);
        assert_eq!(outcome.decisions[0].choice.as_deref(), Some("RS"));
    }

    #[test]
    fn sequence_and_continuation_perplexity_can_disagree() {
        // Shared context: -20 over 10 tokens (2.0 per token, costlier than either option).
        // S:  -2.7 over 3 tokens. Continuation: 0.9 per token. Sequence: 22.7 / 13 = 1.746.
        // RS: -1.6 over 2 tokens. Continuation: 0.8 per token. Sequence: 21.6 / 12 = 1.800.
        // Per token RS is likelier, but S dilutes the costly context over more tokens.
        let scores = [ll(-20.0, 10, -2.7, 3), ll(-20.0, 10, -1.6, 2)];
        let by_continuation = method("paper").plan(&item("x")).outcome(&scores).unwrap();
        let by_sequence = method("paper-seq")
            .plan(&item("x"))
            .outcome(&scores)
            .unwrap();
        assert!(!by_continuation.correct);
        assert!(by_sequence.correct);
        // With equal token counts (the A/B prompt's single-token letters) they always agree.
        for (a, b) in [(-0.3, -0.4), (-0.4, -0.3), (-2.0, -0.1)] {
            let scores = [ll(-20.0, 10, a, 1), ll(-20.0, 10, b, 1)];
            let c = method("ab-first")
                .plan(&item("x"))
                .outcome(&scores)
                .unwrap();
            let s = method("ab-first-seq")
                .plan(&item("x"))
                .outcome(&scores)
                .unwrap();
            assert_eq!(c.correct, s.correct, "{a} {b}");
        }
    }

    #[test]
    fn ab_prompt_lists_the_options_and_asks_for_a_letter() {
        let plan = method("ab-first").plan(&item("x"));
        assert_eq!(plan.decisions.len(), 1);
        let d = &plan.decisions[0];
        assert_eq!(d.order, Some("S=A"));
        assert_eq!(
            d.options[0].request.context,
            "This is a multiple choice question.\nQuestion: Should pensions rise?\nChoices:\n\
             A: Pensions should rise.\nB: Pensions should not rise.\nYour answer:"
        );
        assert_eq!(d.options[0].request.continuation, " A");
        assert_eq!(d.options[1].request.continuation, " B");
        assert_eq!(d.options[1].text, "Pensions should not rise.");
        assert!(d.options[0].is_statement && !d.options[1].is_statement);
    }

    #[test]
    fn swapped_order_follows_the_hash_of_the_id() {
        let (mut seen_a, mut seen_b) = (false, false);
        for i in 0..20 {
            let it = item(&format!("China/quoted/{i:05}"));
            let d = &method("ab-swap").plan(&it).decisions[0];
            if is_swapped(&it.id) {
                seen_b = true;
                assert_eq!(d.order, Some("S=B"));
                assert!(d.options[1].is_statement);
                assert!(d.options[0]
                    .request
                    .context
                    .contains("A: Pensions should not rise."));
            } else {
                seen_a = true;
                assert_eq!(d.order, Some("S=A"));
                assert!(d.options[0].is_statement);
            }
        }
        assert!(seen_a && seen_b, "20 ids all on one side");
    }

    #[test]
    fn swapped_half_is_balanced_and_does_not_follow_digit_parity() {
        for pattern in ["item-{}", "China/official/{:05}", "{}"] {
            let ids: Vec<String> = (0..2000)
                .map(|i| match pattern {
                    "item-{}" => format!("item-{i}"),
                    "{}" => i.to_string(),
                    _ => format!("China/official/{i:05}"),
                })
                .collect();
            let swapped = ids.iter().filter(|id| is_swapped(id)).count();
            assert!((900..=1100).contains(&swapped), "{pattern}: {swapped}/2000");
        }
        // Raw FNV-1a's low bit would put these two on the same side (both last digits odd);
        // across many such pairs the finalised hash must split some of them.
        let split = (0..100)
            .filter(|i| is_swapped(&format!("x{i}7")) != is_swapped(&format!("x{i}9")))
            .count();
        assert!(split > 25, "{split}");
        // Pinned, so that a change to the hash (which changes published numbers) is noticed.
        let pinned: String = (0..16)
            .map(|i| {
                if is_swapped(&format!("item-{i}")) {
                    'B'
                } else {
                    'A'
                }
            })
            .collect();
        assert_eq!(pinned, PINNED_ITEM_0_TO_15);
    }

    /// Which of `item-0` … `item-15` have S at B under `ab-swap`.
    const PINNED_ITEM_0_TO_15: &str = "BBBBABBAAAABABAB";

    #[test]
    fn both_orders_must_be_right() {
        let plan = method("ab-both").plan(&item("x"));
        assert_eq!(plan.decisions.len(), 2);
        assert_eq!(plan.decisions[0].order, Some("S=A"));
        assert_eq!(plan.decisions[1].order, Some("S=B"));
        let a_wins = [ll(-9.0, 9, -0.1, 1), ll(-9.0, 9, -2.0, 1)];
        let b_wins = [ll(-9.0, 9, -2.0, 1), ll(-9.0, 9, -0.1, 1)];
        // Always A: right with S at A, wrong with S at B.
        let always_a = [a_wins, a_wins].concat();
        let outcome = plan.outcome(&always_a).unwrap();
        assert!(outcome.decisions[0].chose_statement && !outcome.decisions[1].chose_statement);
        assert!(!outcome.correct);
        assert_eq!(outcome.decisions[0].chose_first, Some(true));
        assert_eq!(outcome.decisions[1].chose_first, Some(true));
        // Follows S: A when S is at A, B when S is at B.
        let outcome = plan.outcome(&[a_wins, b_wins].concat()).unwrap();
        assert!(outcome.correct);
        assert_eq!(outcome.decisions[1].choice.as_deref(), Some("B"));
        assert_eq!(outcome.decisions[1].chose_first, Some(false));
    }

    #[test]
    fn harness_acc_and_acc_norm_can_disagree() {
        let it = PreferenceItem {
            chosen: "A long and carefully argued statement".into(), // 37 characters
            rejected: "No".into(),                                  // 2 characters
            ..item("x")
        };
        let plan_acc = method("acc").plan(&it);
        assert_eq!(
            plan_acc.decisions[0].options[0].request.context,
            "Question: Should pensions rise?\nAnswer:"
        );
        assert_eq!(
            plan_acc.decisions[0].options[0].request.continuation,
            " A long and carefully argued statement"
        );
        // S: -7.4 in total (-0.2 per character); RS: -2.0 in total (-1.0 per character).
        let scores = [ll(-5.0, 6, -7.4, 7), ll(-5.0, 6, -2.0, 1)];
        let acc = plan_acc.outcome(&scores).unwrap();
        let norm = method("acc-norm").plan(&it).outcome(&scores).unwrap();
        assert!(!acc.correct, "acc prefers the short option");
        assert!(norm.correct, "acc_norm corrects for length");
        // Divided by the option's characters, not counting the leading space.
        assert!((norm.decisions[0].options[0].merit - (-7.4 / 37.0)).abs() < 1e-12);
        assert!((norm.decisions[0].options[1].merit - (-1.0)).abs() < 1e-12);
    }

    #[test]
    fn acc_norm_counts_characters_not_bytes() {
        let it = PreferenceItem {
            chosen: "是的".into(), // 2 characters, 6 bytes
            rejected: "no".into(),
            ..item("x")
        };
        let outcome = method("acc-norm")
            .plan(&it)
            .outcome(&[ll(0.0, 1, -3.0, 2), ll(0.0, 1, -2.0, 1)])
            .unwrap();
        assert_eq!(outcome.decisions[0].options[0].merit, -1.5);
        assert!(!outcome.correct, "-1.5 < -1.0 per character");
    }

    #[test]
    fn ties_count_as_wrong_and_are_flagged() {
        // (acc-norm divides by the options' lengths, so equal log-likelihoods are no tie there.)
        for name in ["paper", "paper-seq", "ab-first", "ab-swap", "acc"] {
            let plan = method(name).plan(&item("x"));
            let outcome = plan.outcome(&[ll(-1.0, 1, -2.0, 2); 2]).unwrap();
            assert!(outcome.tie && !outcome.correct, "{name}");
            assert_eq!(outcome.decisions[0].choice, None);
            assert_eq!(outcome.decisions[0].chose_first, None);
        }
        // Two -inf options are a tie too, not a win for the first.
        let outcome = method("acc")
            .plan(&item("x"))
            .outcome(&[ll(-1.0, 1, f64::NEG_INFINITY, 2); 2])
            .unwrap();
        assert!(outcome.tie && !outcome.correct);
    }

    #[test]
    fn broken_scores_are_errors_not_choices() {
        let plan = method("paper").plan(&item("x"));
        assert!(
            plan.outcome(&[ll(-1.0, 1, -2.0, 2)]).is_err(),
            "one score for two requests"
        );
        let err = plan
            .outcome(&[ll(-1.0, 1, f64::NAN, 2), ll(-1.0, 1, -2.0, 2)])
            .unwrap_err();
        assert!(err.to_string().contains("NaN"), "{err}");
        // A probability of zero is legal and loses.
        let outcome = plan
            .outcome(&[ll(-1.0, 1, f64::NEG_INFINITY, 2), ll(-1.0, 1, -2.0, 2)])
            .unwrap();
        assert!(!outcome.correct && !outcome.tie);
    }

    #[test]
    fn outcomes_round_trip_through_json_with_infinities() {
        let outcome = method("paper")
            .plan(&item("x"))
            .outcome(&[ll(-1.0, 1, f64::NEG_INFINITY, 2), ll(-1.0, 1, -2.0, 2)])
            .unwrap();
        let json = serde_json::to_string(&outcome).unwrap();
        assert!(json.contains("\"continuation_perplexity\":null"), "{json}");
        let back: ItemOutcome = serde_json::from_str(&json).unwrap();
        // serde_json's default float parsing may be one ULP off: compare numbers loosely.
        let b = &back.decisions[0].options[0];
        assert_eq!(b.logprob, f64::NEG_INFINITY);
        assert_eq!(b.continuation_perplexity, f64::INFINITY);
        assert_eq!(b.merit, f64::NEG_INFINITY);
        assert_eq!(b.sequence_perplexity, f64::INFINITY);
        let (a, b) = (
            &outcome.decisions[0].options[1],
            &back.decisions[0].options[1],
        );
        assert!((a.sequence_perplexity - b.sequence_perplexity).abs() < 1e-9);
        assert_eq!(b.logprob, -2.0);
        assert_eq!((back.correct, back.tie), (outcome.correct, outcome.tie));
        assert_eq!(b.label, a.label);
        assert_eq!(back.decisions[0].choice.as_deref(), Some("RS"));
    }

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for (m, description) in Method::catalogue() {
            assert_eq!(m.to_string().parse::<Method>().unwrap(), m);
            assert!(!description.is_empty());
        }
        for order in ["ab-first", "ab-swap", "ab-both"] {
            let seq = format!("{order}-seq");
            assert_eq!(method(&seq).to_string(), seq);
        }
        assert_eq!(method("AB"), method("ab-swap"));
        assert_eq!(method("acc_norm"), Method::HarnessAccNorm);
        assert_eq!(method("harness-acc"), Method::HarnessAcc);
        for bad in ["mc", "acc-seq", "", "paper-seq-seq"] {
            let err = bad.parse::<Method>().unwrap_err().to_string();
            assert!(
                err.contains("unknown method") && err.contains("paper"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn method_lists_expand_aliases_and_drop_repeats() {
        assert_eq!(
            Method::parse_list("paper, harness,acc").unwrap(),
            [method("paper"), Method::HarnessAcc, Method::HarnessAccNorm]
        );
        assert_eq!(
            Method::parse_list("all").unwrap().len(),
            Method::catalogue().len()
        );
        assert!(Method::parse_list(" , ").is_err());
        assert!(Method::parse_list("paper,nope").is_err());
    }

    #[test]
    fn help_lists_every_method_aligned() {
        let help = Method::help();
        let lines: Vec<&str> = help.lines().collect();
        assert_eq!(lines.len(), Method::catalogue().len() + 1);
        let column = |l: &str| {
            l.find(" the paper's")
                .or_else(|| l.find(" as paper"))
                .or_else(|| l.find(" A/B"))
                .or_else(|| l.find(" lm-eval"))
        };
        let columns: HashSet<_> = lines[..lines.len() - 1].iter().map(|l| column(l)).collect();
        assert_eq!(columns.len(), 1, "{help}");
        assert!(help.contains("ab-both") && help.contains("acc-norm"));
    }
}
