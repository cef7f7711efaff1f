use std::sync::LazyLock;

use regex::Regex;

use crate::chat::ChatMessage;
use crate::error::{ParseError, StepName};
use crate::step::Step;
use crate::text::{after_last_hashes, clean, first_line, strip_wrapping, trim_end_punct};

/// Most words a topic label may have (paper, Table 8).
pub const MAX_TOPIC_WORDS: usize = 5;

/// Topic creation (Section 3.2, Step V): a label of at most five words for a cluster, from its
/// c-TF-IDF/KeyBERT keywords and a few representative documents.
///
/// Reply asked for: `topic: <label>`. Output: the label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicLabel {
    /// Representative documents of the cluster (cut short by the caller).
    pub documents: Vec<String>,
    /// The cluster's keywords, most representative first.
    pub keywords: Vec<String>,
}

const SYSTEM: &str = "You name clusters of news articles. A name is a short, specific topic label \
of at most five words, in English.";

impl Step for TopicLabel {
    type Output = String;
    const NAME: StepName = StepName::TopicLabel;

    fn messages(&self) -> Vec<ChatMessage> {
        let mut docs = String::new();
        for (i, d) in self.documents.iter().enumerate() {
            docs.push_str(&format!("[Document {}] {}\n", i + 1, d.trim()));
        }
        vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user(
                "Documents of one cluster:\n[Document 1] Parliament debates a bill limiting access to abortion after six weeks.\n\
                 Keywords: abortion, women, pregnancy, restrict, bill\n\
                 Give the cluster a label of at most five words. Answer with one line: topic: <label>",
            ),
            ChatMessage::assistant("topic: Abortion Restriction"),
            ChatMessage::user(format!(
                "Documents of one cluster:\n{docs}Keywords: {}\n\
                 Give the cluster a label of at most five words. Answer with one line: topic: <label>",
                self.keywords.join(", ")
            )),
        ]
    }

    fn parse(&self, reply: &str) -> Result<String, ParseError> {
        parse_topic_label(reply)
    }

    fn render_reply(output: &String) -> String {
        format!("topic: {output}")
    }
}

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^[\s\-*•>#]*(?:topic(?:\s+label)?|label|title|主題|主题|話題|话题|標籤|标签|thème|theme|sujet|thema)\s*[:：]\s*(.*)$",
    )
    .expect("valid regex")
});

/// Reads a topic label: `topic: X` (any case, `：`, bold, quotes, `[X]`), text after `##`, or a
/// reply that is a single line. More than [`MAX_TOPIC_WORDS`] words is an error, not a cut.
pub fn parse_topic_label(reply: &str) -> Result<String, ParseError> {
    let err = |reason: String| ParseError::new(StepName::TopicLabel, reason, reply);
    let text = clean(reply);
    let candidate = if let Some(c) = LABEL.captures(&text).and_then(|c| c.get(1)) {
        c.as_str()
    } else if let Some(after) = after_last_hashes(&text) {
        first_line(after)
    } else if text.lines().filter(|l| !l.trim().is_empty()).count() == 1 {
        first_line(&text)
    } else {
        return Err(err(
            "no `topic:` line, and the reply is more than one line".into()
        ));
    };
    let label = strip_wrapping(trim_end_punct(strip_wrapping(candidate))).to_string();
    if label.is_empty() {
        return Err(err("the topic label is empty".into()));
    }
    let words = label.split_whitespace().count();
    if words > MAX_TOPIC_WORDS {
        return Err(err(format!(
            "the label has {words} words, at most {MAX_TOPIC_WORDS} allowed"
        )));
    }
    if label.chars().count() > 60 {
        return Err(err("the label is longer than 60 characters".into()));
    }
    Ok(label)
}
