use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::ChatMessage;
use crate::error::{ParseError, StepName};
use crate::step::Step;
use crate::text::{clean, repair_json};

/// One InsTag tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tag {
    /// The tag, a few words.
    pub tag: String,
    /// Why it applies; empty when the model gave none.
    pub explanation: String,
}

/// Instruction tagging after InsTag (Section 3.2, Step IV): tags for a document that clustering
/// left as noise, later consolidated into topics.
///
/// Reply asked for: a JSON list `[{"tag": ..., "explanation": ...}, ...]`. Output: the tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagging {
    /// The document to tag.
    pub document: String,
}

const SYSTEM: &str = "You tag news documents from many countries for a benchmark of national \
values. Give several tags that together cover: the main values, intentions and themes; the \
entities involved, nations included; the events mentioned; the issues discussed; universal \
values or cultural heritage. Answer with a JSON list only: \
[{\"tag\": \"...\", \"explanation\": \"...\"}, ...]";

impl Step for Tagging {
    type Output = Vec<Tag>;
    const NAME: StepName = StepName::Tagging;

    fn messages(&self) -> Vec<ChatMessage> {
        vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user(
                "Document: Lawmakers vote to restrict abortion after six weeks of pregnancy.",
            ),
            ChatMessage::assistant(
                r#"[{"tag": "Abortion", "explanation": "the law restricts abortion"}, {"tag": "Women's rights", "explanation": "access to reproductive care"}, {"tag": "Legislation", "explanation": "a parliamentary vote"}]"#,
            ),
            ChatMessage::user(format!("Document: {}", self.document.trim())),
        ]
    }

    fn parse(&self, reply: &str) -> Result<Vec<Tag>, ParseError> {
        parse_tags(reply)
    }

    fn render_reply(output: &Vec<Tag>) -> String {
        serde_json::to_string(output).unwrap_or_default()
    }
}

const TAG_KEYS: [&str; 5] = ["tag", "name", "label", "topic", "tags"];
const EXPLANATION_KEYS: [&str; 6] = [
    "explanation",
    "explain",
    "reason",
    "description",
    "rationale",
    "desc",
];

fn get_str<'v>(obj: &'v serde_json::Map<String, Value>, keys: &[&str]) -> Option<&'v str> {
    obj.iter()
        .find(|(k, v)| keys.contains(&k.trim().to_lowercase().as_str()) && v.is_string())
        .and_then(|(_, v)| v.as_str())
}

/// Tags from a JSON value, or the reason it is not a tag list.
fn tags_from_value(v: &Value) -> Result<Vec<Tag>, String> {
    match v {
        Value::Array(items) => {
            let mut tags = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) if !s.trim().is_empty() => tags.push(Tag {
                        tag: s.trim().to_string(),
                        explanation: String::new(),
                    }),
                    Value::Object(obj) => match get_str(obj, &TAG_KEYS) {
                        Some(t) if !t.trim().is_empty() => tags.push(Tag {
                            tag: t.trim().to_string(),
                            explanation: get_str(obj, &EXPLANATION_KEYS)
                                .unwrap_or("")
                                .trim()
                                .to_string(),
                        }),
                        _ => return Err(format!("item {i} has no `tag`")),
                    },
                    _ => return Err(format!("item {i} is neither an object nor a string")),
                }
            }
            Ok(tags)
        }
        Value::Object(obj) => {
            // `{"tags": [...]}` or a single tag object.
            if let Some(inner) = obj
                .iter()
                .find(|(k, v)| k.to_lowercase() == "tags" && v.is_array())
            {
                return tags_from_value(inner.1);
            }
            tags_from_value(&Value::Array(vec![v.clone()]))
        }
        _ => Err("not a JSON list".into()),
    }
}

static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)["'“]?\b(tag|explanation)\b["'”]?\s*[:：]\s*(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|“([^”]*)”)"#,
    )
    .expect("valid regex")
});

static LIST_ITEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^\s*(?:[-*•]|\d+[.)、])\s+([^:：\n]{1,60}?)\s*[:：–—-]\s+(.+)$")
        .expect("valid regex")
});

/// Reads tags: a JSON list (in code fences or prose, curly or single quotes, trailing commas),
/// `{"tags": [...]}`, a list of strings, the paper's brace-less `["tag": ..., "explanation":
/// ...]`, or as a last resort a markdown list `- tag: explanation`. No tags is an error.
pub fn parse_tags(reply: &str) -> Result<Vec<Tag>, ParseError> {
    let err = |reason: String| ParseError::new(StepName::Tagging, reason, reply);
    let text = clean(reply);
    let mut last_reason = String::from("no JSON list of tags found");
    let regions = [
        text.find('[').zip(text.rfind(']')),
        text.find('{').zip(text.rfind('}')),
    ];
    for (start, end) in regions.into_iter().flatten() {
        if start >= end {
            continue;
        }
        let region = &text[start..=end];
        for candidate in [region.to_string(), repair_json(region)] {
            if let Ok(v) = serde_json::from_str::<Value>(&candidate) {
                match tags_from_value(&v) {
                    Ok(tags) if !tags.is_empty() => return Ok(tags),
                    Ok(_) => last_reason = "the tag list is empty".into(),
                    Err(reason) => last_reason = reason,
                }
            }
        }
    }
    // Key-value pairs without valid JSON around them: pair each tag with the explanation after it.
    let mut tags: Vec<Tag> = Vec::new();
    for c in KEY_VALUE.captures_iter(&text) {
        let key = c[1].to_lowercase();
        let value = c
            .get(2)
            .or(c.get(3))
            .or(c.get(4))
            .map_or("", |m| m.as_str())
            .trim()
            .to_string();
        if key == "tag" {
            if !value.is_empty() {
                tags.push(Tag {
                    tag: value,
                    explanation: String::new(),
                });
            }
        } else if let Some(last) = tags.last_mut() {
            if last.explanation.is_empty() {
                last.explanation = value;
            }
        }
    }
    if !tags.is_empty() {
        return Ok(tags);
    }
    let listed: Vec<Tag> = LIST_ITEM
        .captures_iter(&text)
        .map(|c| Tag {
            tag: c[1].trim().to_string(),
            explanation: c[2].trim().to_string(),
        })
        .filter(|t| !t.tag.is_empty())
        .collect();
    if !listed.is_empty() {
        return Ok(listed);
    }
    Err(err(last_reason))
}
