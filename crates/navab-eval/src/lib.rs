//! Evaluate how well a language model's stances align with a nation's values, on NaVAB triples
//! or any preference data (MVPBench-style), by multiple-choice perplexity scoring.
//!
// The example needs `LocalScorer` (feature `local`): without it, it is shown but not compiled.
#![cfg_attr(feature = "local", doc = "```no_run")]
#![cfg_attr(not(feature = "local"), doc = "```ignore")]
//! use navab_core::{read_navab_dir, ReadOptions};
//! use navab_eval::{evaluate, write_reports, EvalOptions, LocalScorer, Method};
//! use navab_lm::{LanguageModel, LoadOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let triples = read_navab_dir("NaVAB/", &ReadOptions::default())?.items;
//! let items: Vec<_> = triples.iter().map(|t| t.to_preference()).collect();
//! let model = LanguageModel::load("models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
//!                                 &LoadOptions::cpu())?;
//! let scorer = LocalScorer::new(model, 8);
//! let methods: Vec<Method> = ["paper", "ab-both", "acc-norm"].iter().map(|m| m.parse()).collect::<Result<_, _>>()?;
//! let run = evaluate(&scorer, &items, &methods, &EvalOptions::default(), &mut |_, _| {});
//! let summary = write_reports("results/".as_ref(), &run, &[], 1)?;
//! println!("{}", summary.text_table());
//! # Ok(()) }
//! ```
//!
//! # Methods
//! See [`Method`]: the paper's "My answer is S" vs "My answer is RS" (`paper`), the authors'
//! A/B prompt with S always first (`ab-first`), swapped on a deterministic half (`ab-swap`) or
//! scored in both orders (`ab-both`), and lm-evaluation-harness's `acc` and `acc-norm`.
//! Perplexity methods compare the continuation's perplexity, or the whole text's with `-seq`
//! (what the authors' code compares).
//!
//! # Results
//! [`Summary`]: the correct rate per nation × statement set × method with a 95% Wilson
//! interval, and for A/B prompts the **position bias** (how often the model picks A whatever it
//! holds). [`group_by`] gives rates per value of any metadata field with the best-to-worst
//! spread (MVPBench's PAA by country, age, gender). [`write_reports`] writes item-level JSONL,
//! JSON, CSV and a Markdown table shaped like the paper's Table 2; two runs give identical bytes.
//!
//! # Features
//! - `local` (default): [`LocalScorer`], in-process scoring with `navab-lm` (candle), for both
//!   seams. Without it, the crate depends on no ML library; implement [`Scorer`] (continuations)
//!   or [`PromptScorer`] (every prompt token, what `navab-server` serves) for your own backend,
//!   and check it with [`testing::check_prompt_scorer`].
//! - `remote`: `RemoteScorer`, scoring through any OpenAI-compatible server that offers
//!   `/v1/completions` with `echo` and `logprobs` (vLLM, `navab-server`), over reqwest with
//!   rustls. Needs no ML library either.
//! - `cuda`: GPU scoring.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod evaluate;
#[cfg(feature = "judge")]
#[cfg_attr(docsrs, doc(cfg(feature = "judge")))]
pub mod judge;
#[cfg(feature = "local")]
mod local;
mod method;
pub mod prompt;
#[cfg(feature = "remote")]
mod remote;
mod report;
mod scorer;
pub mod testing;

pub use error::{Error, Result};
pub use evaluate::{evaluate, evaluate_triples, EvalOptions, EvalRun, ItemFailure, ItemRecord};
#[cfg(feature = "local")]
#[cfg_attr(docsrs, doc(cfg(feature = "local")))]
pub use local::LocalScorer;
pub use method::{
    is_swapped, AbOrder, Decision, ItemOutcome, Method, OptionScore, Perplexity, Plan,
    PlannedDecision, PlannedOption,
};
pub use prompt::{Prompt, PromptLogprobs, PromptScorer, ScoreOptions, TokenLogprob};
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub use remote::{RemoteScorer, RemoteScorerConfig};
pub use report::{
    group_by, table2_markdown, wilson_interval, write_reports, GroupReport, Rate, Spread, Summary,
    SummaryRow, ALL, MISSING,
};
pub use scorer::{LogLikelihood, ScoreRequest, Scorer};
