//! Shared test support: a fake OpenAI-compatible server, a fault-injecting proxy, and a step
//! whose reply names its input, so that a mix-up between items cannot pass unnoticed.

#![allow(dead_code)] // each test binary uses a different part

pub mod proxy;
pub mod server;

use navab_llm::{ChatMessage, ParseError, Step, StepName};

/// A step whose prompt is `item <id> <extra>` and whose parsed reply is the id the fake server
/// echoed back.
#[derive(Debug, Clone)]
pub struct EchoItem {
    /// The item's number.
    pub id: usize,
    /// More prompt text (fault markers, `poison`).
    pub extra: String,
}

impl EchoItem {
    /// Items `0..n` with no extra text.
    pub fn batch(n: usize) -> Vec<EchoItem> {
        (0..n)
            .map(|id| EchoItem {
                id,
                extra: String::new(),
            })
            .collect()
    }
}

impl Step for EchoItem {
    type Output = usize;
    // Any name does: the runner only reports it.
    const NAME: StepName = StepName::TopicLabel;

    fn messages(&self) -> Vec<ChatMessage> {
        vec![
            ChatMessage::system("Repeat the user's message."),
            ChatMessage::user(
                format!("item {} {}", self.id, self.extra)
                    .trim_end()
                    .to_string(),
            ),
        ]
    }

    fn parse(&self, reply: &str) -> Result<usize, ParseError> {
        reply
            .strip_prefix("echo: item ")
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| ParseError::new(Self::NAME, "not an echo of an item", reply))
    }

    fn render_reply(output: &usize) -> String {
        format!("echo: item {output}")
    }
}
