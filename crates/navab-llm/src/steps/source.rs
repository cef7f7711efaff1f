use std::sync::LazyLock;

use navab_core::StatementSet;
use regex::Regex;

use crate::chat::ChatMessage;
use crate::error::{ParseError, StepName};
use crate::step::{few_shot, Step};
use crate::text::{after_last_hashes, clean, first_line, strip_wrapping, trim_end_punct};

/// Who a statement comes from (Section 3.4, Step III).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Source {
    /// Said by a named person or organisation: the quoted set.
    Quoted(String),
    /// No speaker: the outlet's own view, the official set.
    Official,
}

impl Source {
    /// The statement set this source puts a statement in.
    pub fn set(&self) -> StatementSet {
        match self {
            Source::Quoted(_) => StatementSet::Quoted,
            Source::Official => StatementSet::Official,
        }
    }

    /// The speaker, for a quoted statement.
    pub fn speaker(&self) -> Option<&str> {
        match self {
            Source::Quoted(name) => Some(name),
            Source::Official => None,
        }
    }
}

/// Source judgment: does the statement name who said it?
///
/// Reply asked for: `<reason> ## <name>` or `<reason> ## Unknown`. Output: [`Source`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceJudgment {
    /// The extracted statement.
    pub statement: String,
}

const SYSTEM: &str = "You attribute statements. Look for cues of who said a statement: verbs \
such as said, believes, criticised, urged, 表示, 認為, 批評, 稱, or a name followed by a colon. \
If a person or organisation is clearly the speaker, give their name as written in the statement. \
If the statement only mentions people but does not say who said it, the speaker is Unknown.";

fn ask(statement: &str) -> String {
    format!(
        "Statement: {}\nWho said it? Give one short reason, then `## <name>` or `## Unknown`.",
        statement.trim()
    )
}

impl Step for SourceJudgment {
    type Output = Source;
    const NAME: StepName = StepName::SourceJudgment;

    fn messages(&self) -> Vec<ChatMessage> {
        let shots = [
            (
                ask("The minister said the voting age should be lowered to 16."),
                "\"said\" attributes it to the minister. ## the minister",
            ),
            (
                ask("Prices of public housing rose for the third year running."),
                "Nothing says who made this statement. ## Unknown",
            ),
        ];
        few_shot(SYSTEM, &shots, ask(&self.statement))
    }

    fn parse(&self, reply: &str) -> Result<Source, ParseError> {
        parse_source(reply)
    }

    fn render_reply(output: &Source) -> String {
        match output {
            Source::Quoted(name) => format!("The statement names its speaker. ## {name}"),
            Source::Official => "No speaker is named. ## Unknown".to_string(),
        }
    }
}

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?im)^[\s\-*•>]*(?:source|speaker|said by|name|answer|來源|来源|發言人|发言人|講者|讲者|說話者|说话者|source de la déclaration|quelle|sprecher)\s*[:：]\s*(.+)$",
    )
    .expect("valid regex")
});

static TRAILING_BRACKET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\[【]([^\[\]【】\n]{1,80})[\]】]\s*\.?\s*$").expect("valid regex")
});

fn is_unknown(name: &str) -> bool {
    let n = name.trim().to_lowercase();
    let n = n.trim_matches(|c: char| !c.is_alphanumeric());
    n.starts_with("unknown")
        || n.starts_with("no speaker")
        || n.starts_with("not specified")
        || n.starts_with("not known")
        || n.starts_with("unclear")
        || n.starts_with("unidentified")
        || n.starts_with("inconnu")
        || n.starts_with("unbekannt")
        || n.starts_with("desconocido")
        || [
            "none",
            "n/a",
            "na",
            "nobody",
            "official",
            "未知",
            "不明",
            "不詳",
            "不详",
            "無",
            "无",
            "沒有",
            "没有",
            "未知來源",
            "未知来源",
            "aucun",
            "niemand",
        ]
        .contains(&n)
}

/// A reply that is only a name (or "Unknown"): one line, at most four words, and not a
/// sentence ("I cannot tell." is not a speaker).
fn is_bare_name(text: &str) -> bool {
    let line = text.trim();
    if line.contains('\n') {
        return false;
    }
    if is_unknown(trim_end_punct(strip_wrapping(line))) {
        return true;
    }
    let lower = line.to_lowercase();
    let sentence = line.ends_with(['.', '。', '!', '?', '？'])
        || lower.starts_with("i ")
        || ["cannot", "can't", " not ", "sorry"]
            .iter()
            .any(|w| lower.contains(w));
    !sentence && line.split_whitespace().count() <= 4
}

/// Reads a source judgment: the name after the last `##` (first line only: models often add a
/// reason after it), else after `Source:`/`Speaker:`/`來源：`, else a trailing `[Name]` (the
/// paper's format), else a reply of one short line. "Unknown" and its translations
/// (未知, 不明, inconnu, unbekannt, none, ...) give [`Source::Official`].
pub fn parse_source(reply: &str) -> Result<Source, ParseError> {
    let err = |reason: &str| ParseError::new(StepName::SourceJudgment, reason, reply);
    let text = clean(reply);
    let candidate = if let Some(after) = after_last_hashes(&text) {
        first_line(after)
    } else if let Some(c) = LABEL.captures_iter(&text).last().and_then(|c| c.get(1)) {
        c.as_str()
    } else if let Some(c) = TRAILING_BRACKET.captures(&text).and_then(|c| c.get(1)) {
        c.as_str()
    } else if is_bare_name(&text) {
        first_line(&text)
    } else {
        return Err(err("no `## name` or `## Unknown` found"));
    };
    let name = strip_wrapping(trim_end_punct(strip_wrapping(candidate)));
    if name.is_empty() {
        return Err(err("the speaker's name is empty"));
    }
    if is_unknown(name) {
        return Ok(Source::Official);
    }
    if name.chars().count() > 80 || name.split_whitespace().count() > 12 {
        return Err(err("the text after `##` is too long to be a name"));
    }
    Ok(Source::Quoted(name.to_string()))
}
