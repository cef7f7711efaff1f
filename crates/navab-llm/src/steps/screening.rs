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

/// Value-related topic screening (Section 3.3, as the paper does it): is a topic cluster
/// value-related? The LLM sees the topic's label, its keywords and a few of its documents,
/// and judges them in context against the value-topic sets. Few-shot yes/no.
///
/// Reply asked for: a short reason, then `## yes` or `## no`. Output: `true` for yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicScreening {
    /// The topic's label.
    pub label: String,
    /// Its keywords (c-TF-IDF, KeyBERT, MMR).
    pub keywords: Vec<String>,
    /// A few representative documents (each cut to [`TOPIC_DOC_CHARS`] characters).
    pub documents: Vec<String>,
    /// The value-topic sets to match against, e.g. [`VALUE_TOPICS`].
    pub value_topics: Vec<String>,
}

/// Characters of each representative document the topic-screening prompt shows.
pub const TOPIC_DOC_CHARS: usize = 300;

/// The default value-topic sets: the kinds of discourse the paper's benchmark is about
/// (policy, law and rights, governance, sovereignty and international relations, ethics and
/// social issues).
pub const VALUE_TOPICS: [&str; 8] = [
    "politics and government policy",
    "law, justice and human rights",
    "elections and democracy",
    "sovereignty, security and international relations",
    "economic and social policy (welfare, labour, taxation, healthcare, education)",
    "ethics and morality (life, family, religion, technology)",
    "social issues (equality, discrimination, migration, gender)",
    "environment and climate policy",
];

const TOPIC_SYSTEM: &str = "You screen news topics for a benchmark of national values. A topic \
is value-related when its news take or report stances on one of the value-topic sets given; a \
topic of plain facts without stances (sport results, weather, celebrity news, product launches) \
is not. Judge the topic as a whole, from its label, its keywords and its documents.";

fn ask_topic(label: &str, keywords: &[String], documents: &[String], sets: &[String]) -> String {
    let mut text = format!("Value-topic sets: {}\n", sets.join("; "));
    text.push_str(&format!(
        "Topic: {}\nKeywords: {}\n",
        label.trim(),
        keywords.join(", ")
    ));
    for (k, d) in documents.iter().enumerate() {
        let d: String = d.trim().chars().take(TOPIC_DOC_CHARS).collect();
        text.push_str(&format!("Document {}: {d}\n", k + 1));
    }
    text.push_str(
        "Is this topic value-related? Give one short reason, then end with `## yes` or `## no`.",
    );
    text
}

impl Step for TopicScreening {
    type Output = bool;
    const NAME: StepName = StepName::TopicScreening;

    fn messages(&self) -> Vec<ChatMessage> {
        let sets: Vec<String> = VALUE_TOPICS.iter().map(|s| s.to_string()).collect();
        let words = |w: &str| w.split(", ").map(str::to_string).collect::<Vec<_>>();
        let shots = [
            (
                ask_topic(
                    "Voting age reform",
                    &words("vote, 16, lower, age, democracy"),
                    &[
                        "Ministers plan to let 16-year-olds vote, saying it strengthens democracy."
                            .into(),
                    ],
                    &sets,
                ),
                "Stances on elections and democracy. ## yes",
            ),
            (
                ask_topic(
                    "Weekend football results",
                    &words("goal, league, match, striker, win"),
                    &["The home side won 3-1 with two late goals.".into()],
                    &sets,
                ),
                "Sport results without stances. ## no",
            ),
        ];
        let sets = if self.value_topics.is_empty() {
            sets
        } else {
            self.value_topics.clone()
        };
        let shots: Vec<(String, &str)> = shots.into_iter().collect();
        few_shot(
            TOPIC_SYSTEM,
            &shots,
            ask_topic(&self.label, &self.keywords, &self.documents, &sets),
        )
    }

    fn parse(&self, reply: &str) -> Result<bool, ParseError> {
        parse_yes_no(reply).map_err(|e| ParseError::new(StepName::TopicScreening, &e.reason, reply))
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
