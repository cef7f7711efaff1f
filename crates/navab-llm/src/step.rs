//! The [`Step`] trait and the step runner.

use crate::chat::{ChatMessage, ChatModel, ChatRequest, Sampling};
use crate::error::{Error, ParseError, Result, StepName};

/// A few-shot conversation: the system prompt, each worked example as a user turn and the
/// assistant's reply, then the real question. Every step's prompt has this shape.
pub(crate) fn few_shot(
    system: &str,
    shots: &[(String, &str)],
    question: String,
) -> Vec<ChatMessage> {
    let mut messages = vec![ChatMessage::system(system)];
    for (user, assistant) in shots {
        messages.push(ChatMessage::user(user.as_str()));
        messages.push(ChatMessage::assistant(*assistant));
    }
    messages.push(ChatMessage::user(question));
    messages
}

/// One LLM step: an input that knows its prompt and how to read the reply.
///
/// Implemented by the input structs in [`steps`](crate::steps); [`run_step`] runs any of them.
pub trait Step {
    /// What a parsed reply gives.
    type Output;
    /// Which step this is.
    const NAME: StepName;

    /// The prompt: system and user messages, few-shot turns included.
    fn messages(&self) -> Vec<ChatMessage>;

    /// Sampling for this step ([`Sampling::PIPELINE`] unless the step says otherwise).
    fn sampling(&self) -> Sampling {
        Sampling::PIPELINE
    }

    /// The request: [`Step::messages`] with [`Step::sampling`].
    fn request(&self) -> ChatRequest {
        ChatRequest::new(self.messages()).with_sampling(self.sampling())
    }

    /// Reads a reply. Tolerant of the usual mess (see the crate docs); never panics.
    fn parse(&self, reply: &str) -> std::result::Result<Self::Output, ParseError>;

    /// The well-formed reply the prompt asks for, for `output`: `parse(render_reply(x)) == x`
    /// for any output a model could give.
    fn render_reply(output: &Self::Output) -> String;
}

/// What happened to one step: parsed, unparseable (raw reply kept), or the call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum StepOutcome<T> {
    /// The reply parsed.
    Ok {
        /// The parsed value.
        value: T,
        /// The reply it came from.
        raw: String,
    },
    /// The model answered, but not in a form the parser reads.
    ParseFailed {
        /// The step.
        step: StepName,
        /// The reply, unchanged.
        raw: String,
        /// What was missing or wrong.
        reason: String,
    },
    /// The model could not be called.
    CallFailed {
        /// The backend's error.
        error: Error,
    },
}

impl<T> StepOutcome<T> {
    /// The parsed value, if any.
    pub fn value(&self) -> Option<&T> {
        match self {
            StepOutcome::Ok { value, .. } => Some(value),
            _ => None,
        }
    }

    /// The raw reply, if the model answered.
    pub fn raw(&self) -> Option<&str> {
        match self {
            StepOutcome::Ok { raw, .. } | StepOutcome::ParseFailed { raw, .. } => Some(raw),
            StepOutcome::CallFailed { .. } => None,
        }
    }

    /// Whether the reply parsed.
    pub fn is_ok(&self) -> bool {
        matches!(self, StepOutcome::Ok { .. })
    }

    /// The value, or the failure as an [`Error`] ([`Error::Parse`] keeps the raw reply).
    pub fn into_result(self) -> Result<T> {
        match self {
            StepOutcome::Ok { value, .. } => Ok(value),
            StepOutcome::ParseFailed { step, raw, reason } => {
                Err(Error::Parse(ParseError { step, reason, raw }))
            }
            StepOutcome::CallFailed { error } => Err(error),
        }
    }
}

/// Runs one step: builds the request, calls the model, parses the reply.
///
/// Never fails as a whole: every failure is recorded in the [`StepOutcome`], so a batch keeps
/// going and keeps the raw replies of the items that did not parse.
pub async fn run_step<M, S>(model: &M, input: &S) -> StepOutcome<S::Output>
where
    M: ChatModel + ?Sized,
    S: Step + ?Sized,
{
    run_request(model, input, input.request()).await
}

/// [`run_step`] with other sampling settings than the step's own.
pub async fn run_step_with<M, S>(model: &M, input: &S, sampling: Sampling) -> StepOutcome<S::Output>
where
    M: ChatModel + ?Sized,
    S: Step + ?Sized,
{
    run_request(model, input, input.request().with_sampling(sampling)).await
}

async fn run_request<M, S>(model: &M, input: &S, request: ChatRequest) -> StepOutcome<S::Output>
where
    M: ChatModel + ?Sized,
    S: Step + ?Sized,
{
    if let Err(error) = request.check() {
        return StepOutcome::CallFailed { error };
    }
    match model.chat(&request).await {
        Err(error) => StepOutcome::CallFailed { error },
        Ok(response) => match input.parse(&response.content) {
            Ok(value) => StepOutcome::Ok {
                value,
                raw: response.content,
            },
            Err(e) => StepOutcome::ParseFailed {
                step: e.step,
                raw: response.content,
                reason: e.reason,
            },
        },
    }
}
