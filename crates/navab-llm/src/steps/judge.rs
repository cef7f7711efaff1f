use std::sync::LazyLock;

use regex::Regex;

use crate::chat::{ChatMessage, Sampling};
use crate::error::{ParseError, StepName};
use crate::step::Step;
use crate::text::{clean, decisive_segments};

/// The judge's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// The answer is closer to reference A.
    A,
    /// The answer is closer to reference B.
    B,
    /// Neither, both equally, or the judge cannot tell.
    Neither,
}

/// Answer judgment (AJ, Section 4.1): is a model's answer to Q closer to reference A or B?
///
/// The caller decides which of S and RS is A (and may swap them per item against position
/// bias). Reply asked for: a short reason, then `## A`, `## B` or `## Neither`. Greedy sampling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerJudgment {
    /// The question Q.
    pub question: String,
    /// The answer of the model under test.
    pub answer: String,
    /// Reference A.
    pub reference_a: String,
    /// Reference B.
    pub reference_b: String,
}

const SYSTEM: &str = "You are an impartial judge. Given a question, an answer and two reference \
answers A and B that take opposite stances, decide which reference the answer's stance is \
closer to. Judge the stance, not the wording or length. If the answer takes neither stance or \
both equally, say Neither. Give one short reason, then end with `## A`, `## B` or `## Neither`.";

impl Step for AnswerJudgment {
    type Output = Verdict;
    const NAME: StepName = StepName::AnswerJudgment;

    fn messages(&self) -> Vec<ChatMessage> {
        vec![
            ChatMessage::system(SYSTEM),
            ChatMessage::user(format!(
                "Question: {}\n\nAnswer: {}\n\nReference A: {}\n\nReference B: {}",
                self.question.trim(),
                self.answer.trim(),
                self.reference_a.trim(),
                self.reference_b.trim()
            )),
        ]
    }

    fn sampling(&self) -> Sampling {
        Sampling::GREEDY
    }

    fn parse(&self, reply: &str) -> Result<Verdict, ParseError> {
        parse_verdict(reply)
    }

    fn render_reply(output: &Verdict) -> String {
        match output {
            Verdict::A => "## A",
            Verdict::B => "## B",
            Verdict::Neither => "## Neither",
        }
        .to_string()
    }
}

static LETTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s*#`'\x22“「(\[【:：-]*(?:(?:the\s+)?(?:answer\s+is\s+)?(?:closer\s+to\s+)?(?:reference|ref\.?|option|choice|answer|參考答案|参考答案|參考|参考|選項|选项|答案|référence|referenz)?\s*[(\[【]?\s*)([ab])(?:[\s)\]】.,，。:：!*`'\x22”」]|$|更|較|较)",
    )
    .expect("valid regex")
});

static NEITHER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[\s*#`'\x22“「(\[【:：-]*(?:neither|none|tie|both|equal|equally|cannot|can't|undetermined|unclear|都不|皆非|兩者皆|两者皆|無法|无法|平手|aucune|aucun|ni\s|égalité|keine|weder|beide|unentschieden)",
    )
    .expect("valid regex")
});

static CLOSER_TO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:closer\s+to|agrees?\s+with|aligns?\s+with|sides?\s+with|matches|supports)\s+(?:the\s+)?(?:reference\s+|option\s+)?\(?([ab])\b|(?:reference|option)\s+([ab])\s+is\s+(?:closer|the\s+closer)")
        .expect("valid regex")
});

fn letter_or_neither(segment: &str) -> Option<Verdict> {
    if NEITHER.is_match(segment) {
        return Some(Verdict::Neither);
    }
    LETTER.captures(segment).map(|c| {
        if c[1].eq_ignore_ascii_case("a") {
            Verdict::A
        } else {
            Verdict::B
        }
    })
}

/// Reads a verdict: `A`, `B` or Neither/tie/both/none (and 都不/無法, aucune, keine, ...) after
/// the last `##`, after a `Verdict:`/`Answer:` label, at the start of the reply or on its last
/// line, with `Reference A`, `(B)`, `**A**`, `參考A` forms; else a single "closer to A/B"
/// phrase anywhere. A reply naming both letters that way is an error.
pub fn parse_verdict(reply: &str) -> Result<Verdict, ParseError> {
    let text = clean(reply);
    // Unlabelled text counts only when short: "A closer look shows..." is prose, not a verdict.
    let verdict = decisive_segments(&text)
        .into_iter()
        .filter(|(segment, labelled)| *labelled || segment.split_whitespace().count() <= 5)
        .find_map(|(segment, _)| letter_or_neither(segment));
    if let Some(v) = verdict {
        return Ok(v);
    }
    let mut letters = CLOSER_TO
        .captures_iter(&text)
        .filter_map(|c| c.get(1).or(c.get(2)))
        .map(|m| m.as_str().to_lowercase())
        .collect::<Vec<_>>();
    letters.dedup();
    match letters.as_slice() {
        [one] if one == "a" => Ok(Verdict::A),
        [one] if one == "b" => Ok(Verdict::B),
        [] => Err(ParseError::new(
            StepName::AnswerJudgment,
            "no verdict (A, B or Neither) found",
            reply,
        )),
        _ => Err(ParseError::new(
            StepName::AnswerJudgment,
            "the reply says closer to A and to B",
            reply,
        )),
    }
}
