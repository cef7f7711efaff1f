//! Running one step over a batch of inputs with bounded concurrency (feature `stage`).
//!
//! ```
//! use navab_llm::stage::run_stage;
//! use navab_llm::steps::ValueScreening;
//! use navab_llm::testing::{block_on, ScriptedChatModel};
//!
//! let model = ScriptedChatModel::new(["Policy stance. ## yes", "I am not sure."])
//!     .with_failure("connection refused");
//! let inputs: Vec<_> = ["a", "b", "c"]
//!     .into_iter()
//!     .map(|s| ValueScreening { statement: s.into() })
//!     .collect();
//! // Concurrency 1 here so that the scripted replies go to the inputs in order.
//! let run = block_on(run_stage(&model, &inputs, 1, |p| assert!(p.done <= p.total)));
//! assert_eq!(run.outcomes.len(), 3); // one per input, in input order
//! assert_eq!(run.outcomes[0].value(), Some(&true));
//! assert_eq!((run.summary.ok, run.summary.parse_failed, run.summary.call_failed), (1, 1, 1));
//! ```
//!
//! The runner needs no particular async runtime: it drives at most `concurrency` step futures
//! at once on the task that awaits it ([`run_bounded`], refilled as calls finish). Its
//! future is `Send` when the model, inputs, outputs and callback are, so a stage can be
//! `tokio::spawn`ed. The model decides
//! where the I/O happens; [`OpenAiChatModel`](crate::openai::OpenAiChatModel), for one, also
//! bounds its own in-flight requests.
//!
//! Available with the crate feature `stage`.

use std::time::{Duration, Instant};

use crate::chat::ChatModel;
use crate::exec::run_bounded;
use crate::step::{run_step, Step, StepOutcome};

/// Counts of a stage, also passed to the progress callback as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StageSummary {
    /// Inputs in the stage.
    pub total: usize,
    /// Inputs finished so far (all of them once the stage returns).
    pub done: usize,
    /// Replies that parsed.
    pub ok: usize,
    /// Replies that did not parse (raw reply kept).
    pub parse_failed: usize,
    /// Calls that failed after the backend's retries (error kept).
    pub call_failed: usize,
}

impl StageSummary {
    fn record<T>(&mut self, outcome: &StepOutcome<T>) {
        self.done += 1;
        match outcome {
            StepOutcome::Ok { .. } => self.ok += 1,
            StepOutcome::ParseFailed { .. } => self.parse_failed += 1,
            StepOutcome::CallFailed { .. } => self.call_failed += 1,
        }
    }
}

/// What [`run_stage`] returns.
#[derive(Debug)]
pub struct StageRun<T> {
    /// One outcome per input, in input order.
    pub outcomes: Vec<StepOutcome<T>>,
    /// The counts; `ok + parse_failed + call_failed == total`.
    pub summary: StageSummary,
    /// Wall time of the stage.
    pub elapsed: Duration,
}

/// Runs `S` on every input, at most `concurrency` at once (0 is taken as 1).
///
/// Every input gets exactly one [`StepOutcome`], in input order: `Ok`, `ParseFailed` with the
/// raw reply, or `CallFailed` with the backend's error (after its retries). Nothing is dropped
/// and nothing panics on a bad reply. `progress` is called after each input finishes, with the
/// counts so far.
///
/// # Complexity
///
/// O(n) outcomes kept; at most `concurrency` calls in flight.
pub async fn run_stage<M, S, F>(
    model: &M,
    inputs: &[S],
    concurrency: usize,
    mut progress: F,
) -> StageRun<S::Output>
where
    M: ChatModel + ?Sized,
    S: Step,
    F: FnMut(&StageSummary),
{
    let started = Instant::now();
    let mut summary = StageSummary {
        total: inputs.len(),
        ..StageSummary::default()
    };
    // Collected, not a lazy `map`: a closure type held across the await would make the
    // compiler lose the future's `Send`. Step futures do nothing until polled.
    let steps: Vec<_> = inputs.iter().map(|input| run_step(model, input)).collect();
    let outcomes = run_bounded(steps, concurrency, |_, outcome| {
        summary.record(outcome);
        progress(&summary);
    })
    .await;
    StageRun {
        outcomes,
        summary,
        elapsed: started.elapsed(),
    }
}
