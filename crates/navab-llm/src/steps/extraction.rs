use std::sync::LazyLock;

use regex::Regex;

use crate::chat::ChatMessage;
use crate::error::{ParseError, StepName};
use crate::step::Step;
use crate::text::{after_last_hashes, clean, strip_wrapping};

/// How much of a news article the extraction prompt shows, in characters (the authors' 1,920).
pub const NEWS_PROMPT_CHARS: usize = 1920;

/// Value statement extraction (Section 3.4, Step I): the political or policy statements a news
/// article makes, in the source's language.
///
/// Reply asked for: one `Statement: ...` line per statement, or `Statement: none`.
/// Output: the statements, possibly none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementExtraction {
    /// The news article; only its first [`NEWS_PROMPT_CHARS`] characters are shown.
    pub news: String,
    /// The language to write the statements in, e.g. `Traditional Chinese`, `English`.
    pub language: String,
}

const SYSTEM: &str = "You extract value statements from news for a benchmark of national \
values: sentences that take a stance on a political, social or ethical issue, such as a policy \
position, a criticism of officials, or a claim about rights. Think step by step, then give each \
statement on its own line as `Statement: <text>`, written as one self-contained sentence. \
If the article has no such statement, answer `Statement: none`.";

impl StatementExtraction {
    /// An extraction input.
    pub fn new(news: impl Into<String>, language: impl Into<String>) -> Self {
        Self {
            news: news.into(),
            language: language.into(),
        }
    }
}

impl Step for StatementExtraction {
    type Output = Vec<String>;
    const NAME: StepName = StepName::StatementExtraction;

    fn messages(&self) -> Vec<ChatMessage> {
        let news: String = self.news.trim().chars().take(NEWS_PROMPT_CHARS).collect();
        let (example, reply) = example_for(&self.language);
        vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user(example),
            ChatMessage::assistant(reply),
            ChatMessage::user(format!("Language: {}\nNews: {news}", self.language.trim())),
        ]
    }

    fn parse(&self, reply: &str) -> Result<Vec<String>, ParseError> {
        parse_statements(reply)
    }

    fn render_reply(output: &Vec<String>) -> String {
        if output.is_empty() {
            return "Statement: none".to_string();
        }
        output
            .iter()
            .map(|s| format!("Statement: {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The worked example in the language the statements are asked in (Chinese, French, German;
/// English for any other), so that the model sees a statement written in that language.
fn example_for(language: &str) -> (&'static str, &'static str) {
    let l = language.trim().to_lowercase();
    let is = |code: &str, names: &[&str]| {
        l == code || l.starts_with(&format!("{code}-")) || names.iter().any(|n| l.contains(n))
    };
    if is("zh", &["chinese", "中文", "汉语", "漢語"]) {
        (
            "Language: Chinese\nNews: 国务院发布新规，要求各地加强对农村留守儿童的保护。发言人表示，保障儿童权益是政府不可推卸的责任。",
            "发言人就儿童权益表明立场。\nStatement: 国务院发言人表示，保障农村留守儿童的权益是政府不可推卸的责任。",
        )
    } else if is("fr", &["french", "français", "francais"]) {
        (
            "Language: French\nNews: Le gouvernement a présenté sa réforme des retraites. La ministre a déclaré que l'âge de départ devait être relevé pour sauver le système par répartition.",
            "La ministre prend position sur les retraites.\nStatement: La ministre a déclaré que l'âge de départ à la retraite devait être relevé pour sauver le système par répartition.",
        )
    } else if is("de", &["german", "deutsch"]) {
        (
            "Language: German\nNews: Der Bundestag debattierte über das Klimaschutzgesetz. Die Umweltministerin sagte, Deutschland müsse schneller aus der Kohle aussteigen.",
            "Die Ministerin bezieht Stellung zur Klimapolitik.\nStatement: Die Umweltministerin sagte, Deutschland müsse schneller aus der Kohle aussteigen.",
        )
    } else {
        (
            "Language: English\nNews: When the senator was a child, he lived abroad for four years, where classmates mocked his accent. He says the experience made him fight discrimination.",
            "The senator takes a stance against discrimination.\nStatement: The senator says being mocked as a child abroad made him fight discrimination.",
        )
    }
}

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s>]*(?:[-*•]\s*|\d+[.)、]\s*)?(?:value\s+|political\s+|sensitive\s+)*(?:statement|陳述|陈述|聲明|声明|觀點|观点|價值陳述|价值陈述|déclaration|declaration|affirmation|énoncé|aussage|erklärung|stellungnahme)s?\s*(?:\d+|[（(#]\d+[)）]?)?\s*[:：]\s*(.*)$",
    )
    .expect("valid regex")
});

static LIST_ITEM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*(?:[-*•]|\d+[.)、])\s*(.+)$").expect("valid regex"));

static NONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\W*(?:none|n/a|no\b|nothing|無|无|沒有|没有|aucune?|keine|néant)|\bno\s+(?:sensitive\s+|value\s+|political\s+|relevant\s+|such\s+)*statements?\b|沒有.{0,8}(?:陳述|聲明)|没有.{0,8}(?:陈述|声明)|aucune\s+déclaration|keine\s+aussage",
    )
    .expect("valid regex")
});

/// "None" as the whole content of a `Statement:` line. Stricter than [`NONE`], which reads a
/// whole reply: a statement may well begin with "No", "Nothing" or 沒有 ("No new taxes should be
/// levied", 沒有人應該...), and must not be taken for "none".
static NONE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\W*(?:none|n/a|no|nothing|無|无|沒有|没有|aucune?|keine|néant)(?:\s+(?:found|given|here))?\W*$|^\W*no\s+(?:sensitive\s+|value(?:-related)?\s+|political\s+|relevant\s+|such\s+)*statements?(?:\s+(?:found|given|here))?\W*$",
    )
    .expect("valid regex")
});

fn tidy(s: &str) -> String {
    let s = s.trim().trim_start_matches('#').trim();
    strip_wrapping(s).to_string()
}

/// Reads statements: every `Statement: ...` line (any case, numbered, bulleted, bold, `：`,
/// 陳述/聲明, déclaration, Aussage), a `Statements:` header followed by a list, or the text after
/// the last `##` up to the first blank line. A statement is one line: explanations after a line
/// break are not part of it. `Statement: none` (or 沒有, aucune, keine, "no political
/// statement") gives an empty list; a reply with neither statements nor a "none" is an error.
pub fn parse_statements(reply: &str) -> Result<Vec<String>, ParseError> {
    let text = clean(reply);
    let lines: Vec<&str> = text.lines().collect();
    let mut statements = Vec::new();
    let mut said_none = false;
    let mut i = 0;
    while i < lines.len() {
        let Some(c) = LABEL.captures(lines[i]) else {
            i += 1;
            continue;
        };
        let rest = tidy(c.get(1).map_or("", |m| m.as_str()));
        i += 1;
        if !rest.is_empty() {
            if NONE_LINE.is_match(&rest) {
                said_none = true;
            } else {
                statements.push(rest);
            }
            continue;
        }
        // A header: the statements follow as a list, or as the next non-empty line.
        while i < lines.len() && lines[i].trim().is_empty() {
            i += 1;
        }
        let mut listed = false;
        while i < lines.len() && !LABEL.is_match(lines[i]) {
            match LIST_ITEM.captures(lines[i]) {
                Some(item) => {
                    listed = true;
                    let s = tidy(&item[1]);
                    if !s.is_empty() {
                        statements.push(s);
                    }
                    i += 1;
                }
                None => break,
            }
        }
        if !listed && i < lines.len() && !LABEL.is_match(lines[i]) {
            let s = tidy(lines[i]);
            if NONE_LINE.is_match(&s) {
                said_none = true;
            } else if !s.is_empty() {
                statements.push(s);
            }
            i += 1;
        }
    }
    if statements.is_empty() {
        if let Some(after) = after_last_hashes(&text) {
            let paragraph: Vec<&str> = after
                .trim_start()
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .collect();
            let s = tidy(&paragraph.join("\n"));
            if NONE_LINE.is_match(&s) {
                said_none = true;
            } else if !s.is_empty() {
                statements.push(s);
            }
        }
    }
    if statements.is_empty() && !said_none && NONE.is_match(&text) && text.chars().count() < 200 {
        said_none = true;
    }
    if statements.is_empty() && !said_none {
        return Err(ParseError::new(
            StepName::StatementExtraction,
            "no `Statement:` line, `##` answer or \"none\" found",
            reply,
        ));
    }
    Ok(statements)
}
