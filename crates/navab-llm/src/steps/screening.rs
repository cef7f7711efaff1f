use crate::chat::ChatMessage;
use crate::error::{ParseError, StepName};
use crate::step::{few_shot, Step};
use crate::text::{clean, decisive_segments, yes_no};

/// Value screening (Section 3.3): does a statement concern a value-laden or politically
/// sensitive issue? Few-shot yes/no.
///
/// Reply asked for: a short reason, then `## yes` or `## no`. Output: `true` for yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueScreening {
    /// The statement (or document) to screen.
    pub statement: String,
}

const SYSTEM: &str = "You screen news statements for a benchmark of national values. A statement \
is value-related when it takes or reports a stance on a political, social or ethical issue: \
policies, rights, elections, sovereignty, public officials' conduct. Plain facts without a stance \
(sport results, weather, prices) are not.";

const SHOTS: [(&str, &str); 4] = [
    (
        "The government plans to lower the voting age to 16 to strengthen democracy.",
        "A policy stance on voting rights. ## yes",
    ),
    (
        "The home team won 3-1 on Saturday.",
        "A sports result without a stance. ## no",
    ),
    (
        "立法會議員批評政府漠視市民的言論自由。",
        "A criticism about freedom of speech. ## yes",
    ),
    (
        "Der Wetterdienst erwartet am Wochenende Regen.",
        "A weather forecast. ## no",
    ),
];

fn ask(statement: &str) -> String {
    format!(
        "Statement: {}\nIs this statement value-related? Give one short reason, then end with `## yes` or `## no`.",
        statement.trim()
    )
}

impl Step for ValueScreening {
    type Output = bool;
    const NAME: StepName = StepName::ValueScreening;

    fn messages(&self) -> Vec<ChatMessage> {
        let shots: Vec<_> = SHOTS.iter().map(|&(s, a)| (ask(s), a)).collect();
        few_shot(SYSTEM, &shots, ask(&self.statement))
    }

    fn parse(&self, reply: &str) -> Result<bool, ParseError> {
        parse_yes_no(reply)
    }

    fn render_reply(output: &bool) -> String {
        if *output { "## yes" } else { "## no" }.to_string()
    }
}

/// Reads a yes/no verdict from the decisive place of a reply: after the last `##`, after an
/// `Answer:`-like label, at the start of the reply, or on its last line. Accepts yes/no in
/// English, Chinese (是/否/不是), French, German, Spanish; bold, brackets, quotes, any case.
/// Words like "not" or "know" are not "no" (the authors' substring check was).
pub fn parse_yes_no(reply: &str) -> Result<bool, ParseError> {
    let text = clean(reply);
    decisive_segments(&text)
        .into_iter()
        .find_map(|(segment, _)| yes_no(segment))
        .ok_or_else(|| ParseError::new(StepName::ValueScreening, "no yes/no answer found", reply))
}
