//! Test doubles: a [`ScriptedChatModel`] that replays replies, and [`block_on`] (from
//! [`exec`](crate::exec)) to drive it.
//!
//! For tests, examples and docs only: nothing here talks to a model.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::chat::{BoxFuture, ChatModel, ChatRequest, ChatResponse};
use crate::error::{Error, Result};

/// Runs a future to completion on the current thread; see [`exec::block_on`](crate::exec::block_on).
pub use crate::exec::block_on;

/// One scripted answer.
#[derive(Debug, Clone)]
enum Scripted {
    Reply(String),
    Fail(String),
}

/// A [`ChatModel`] that answers with scripted replies, in order, and records every request.
///
/// A test double: it ignores what it is asked. Running out of replies is an
/// [`Error::ScriptExhausted`], not a panic.
///
/// ```
/// use navab_llm::testing::{block_on, ScriptedChatModel};
/// use navab_llm::{ChatMessage, ChatModel, ChatRequest};
///
/// let model = ScriptedChatModel::new(["## yes"]).with_failure("HTTP 503");
/// let request = ChatRequest::new(vec![ChatMessage::user("Is this political?")]);
/// assert_eq!(block_on(model.chat(&request)).unwrap().content, "## yes");
/// assert!(block_on(model.chat(&request)).is_err());
/// assert_eq!(model.requests().len(), 2);
/// ```
#[derive(Debug, Default)]
pub struct ScriptedChatModel {
    script: Mutex<VecDeque<Scripted>>,
    requests: Mutex<Vec<ChatRequest>>,
}

impl ScriptedChatModel {
    /// A model that gives these replies, in order.
    pub fn new<I, S>(replies: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let script = replies
            .into_iter()
            .map(|r| Scripted::Reply(r.into()))
            .collect();
        Self {
            script: Mutex::new(script),
            requests: Mutex::default(),
        }
    }

    /// Appends a reply.
    pub fn with_reply(self, reply: impl Into<String>) -> Self {
        self.lock_script().push_back(Scripted::Reply(reply.into()));
        self
    }

    /// Appends a backend failure with this message.
    pub fn with_failure(self, message: impl Into<String>) -> Self {
        self.lock_script().push_back(Scripted::Fail(message.into()));
        self
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<ChatRequest> {
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replies (and failures) not yet served.
    pub fn remaining(&self) -> usize {
        self.lock_script().len()
    }

    fn lock_script(&self) -> std::sync::MutexGuard<'_, VecDeque<Scripted>> {
        // A panic elsewhere while holding the lock leaves the queue intact: keep going.
        self.script.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl ChatModel for ScriptedChatModel {
    fn chat<'a>(&'a self, request: &'a ChatRequest) -> BoxFuture<'a, Result<ChatResponse>> {
        Box::pin(async move {
            let served = {
                let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
                requests.push(request.clone());
                requests.len() - 1
            };
            match self.lock_script().pop_front() {
                Some(Scripted::Reply(text)) => Ok(ChatResponse::new(text)),
                Some(Scripted::Fail(message)) => Err(Error::Backend {
                    backend: "scripted".into(),
                    message,
                }),
                None => Err(Error::ScriptExhausted { served }),
            }
        })
    }

    fn model_id(&self) -> Option<&str> {
        Some("scripted")
    }
}
