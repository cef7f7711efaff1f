//! Properties: no parser panics on any input; a well-formed reply round-trips.

use navab_llm::steps::{
    parse_source, parse_statements, parse_tags, parse_topic_label, parse_triple, parse_verdict,
    parse_yes_no, AnswerJudgment, Source, SourceJudgment, StatementExtraction, Tag, Tagging,
    TopicLabel, TripleConstruction, TripleDraft, ValueScreening, Verdict,
};
use navab_llm::{squash_whitespace as squash, Step};
use proptest::prelude::*;

/// Text a model could put in a field: letters (Latin, CJK), digits, spaces and punctuation, but
/// none of the format's own markers (`#`, `:`, `：`, newlines, list bullets, quotes).
fn field() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            proptest::char::range('a', 'z'),
            proptest::char::range('A', 'Z'),
            proptest::char::range('0', '9'),
            proptest::char::range('\u{4e00}', '\u{4fff}'),
            Just(' '),
            Just(','),
            Just('?'),
            Just('，'),
            Just('。'),
            Just('「'),
            Just('」'),
        ],
        1..40,
    )
    .prop_map(|chars| chars.into_iter().collect::<String>().trim().to_string())
    // Leading digits/letters + `.` could read as a list item, so start with a letter.
    .prop_filter("non-empty, starts with a letter", |s| {
        s.chars().next().is_some_and(|c| c.is_alphabetic())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_parser_panics(s in any::<String>()) {
        let _ = parse_topic_label(&s);
        let _ = parse_tags(&s);
        let _ = parse_yes_no(&s);
        let _ = parse_statements(&s);
        let _ = parse_source(&s);
        let _ = parse_triple(&s);
        let _ = parse_verdict(&s);
    }

    #[test]
    fn no_parser_panics_on_reply_like_text(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("## ".to_string()), Just("Q: ".to_string()), Just("S：".to_string()),
                Just("RS: ".to_string()), Just("\n".to_string()), Just("```json\n".to_string()),
                Just("**".to_string()), Just("[{'tag': ".to_string()), Just("}],".to_string()),
                Just("Statement: ".to_string()), Just("yes".to_string()), Just("否".to_string()),
                Just("1. ".to_string()), Just("\"".to_string()), Just("是否".to_string()),
                any::<String>(),
            ],
            0..12,
        )
    ) {
        let s = parts.concat();
        let _ = parse_topic_label(&s);
        let _ = parse_tags(&s);
        let _ = parse_yes_no(&s);
        let _ = parse_statements(&s);
        let _ = parse_source(&s);
        let _ = parse_triple(&s);
        let _ = parse_verdict(&s);
    }

    #[test]
    fn triple_round_trips(question in field(), statement in field(), reverse in field()) {
        let draft = TripleDraft { question, statement, reverse_statement: reverse };
        let input = TripleConstruction { statement: String::new() };
        let parsed = input.parse(&TripleConstruction::render_reply(&draft)).unwrap();
        prop_assert_eq!(squash(&parsed.question), squash(&draft.question));
        prop_assert_eq!(squash(&parsed.statement), squash(&draft.statement));
        prop_assert_eq!(squash(&parsed.reverse_statement), squash(&draft.reverse_statement));
    }

    #[test]
    fn statements_round_trip(
        // A statement that is only a "none" word ("no", "none") reads as "no statements" by design.
        statements in proptest::collection::vec(
            field().prop_filter("not a bare none word", |s| {
                !["no", "none", "nothing", "n/a"].contains(&s.trim_end_matches(|c: char| !c.is_alphanumeric()).to_lowercase().as_str())
            }),
            0..5,
        )
    ) {
        let input = StatementExtraction::new("", "English");
        let parsed = input.parse(&StatementExtraction::render_reply(&statements)).unwrap();
        prop_assert_eq!(parsed, statements);
    }

    #[test]
    fn source_round_trips(name in field()) {
        // Names end without sentence punctuation: the parser trims it (`## Mayor Lee.`).
        let name = name.trim_end_matches(|c: char| ",，。?".contains(c) || c.is_whitespace()).to_string();
        prop_assume!(!name.is_empty());
        let input = SourceJudgment { statement: String::new() };
        let parsed = input.parse(&SourceJudgment::render_reply(&Source::Quoted(name.clone()))).unwrap();
        // Names that read as "unknown" (none, na, no speaker, ...) are official by design.
        prop_assume!(parsed != Source::Official);
        prop_assert_eq!(parsed, Source::Quoted(name));
        let official = input.parse(&SourceJudgment::render_reply(&Source::Official)).unwrap();
        prop_assert_eq!(official, Source::Official);
    }

    #[test]
    fn tags_round_trip(tags in proptest::collection::vec((field(), field()), 1..5)) {
        let tags: Vec<Tag> = tags.into_iter().map(|(tag, explanation)| Tag { tag, explanation }).collect();
        let input = Tagging { document: String::new() };
        prop_assert_eq!(input.parse(&Tagging::render_reply(&tags)).unwrap(), tags);
    }

    #[test]
    fn topic_label_round_trips(words in proptest::collection::vec("[A-Za-z]{1,10}", 1..=5)) {
        let label = words.join(" ");
        let input = TopicLabel { documents: vec![], keywords: vec![] };
        prop_assert_eq!(input.parse(&TopicLabel::render_reply(&label)).unwrap(), label);
    }

    #[test]
    fn yes_no_and_verdict_round_trip(yes in any::<bool>(), v in 0..3u8) {
        let screening = ValueScreening { statement: String::new() };
        prop_assert_eq!(screening.parse(&ValueScreening::render_reply(&yes)).unwrap(), yes);
        let verdict = [Verdict::A, Verdict::B, Verdict::Neither][v as usize];
        let judge = AnswerJudgment {
            question: String::new(), answer: String::new(),
            reference_a: String::new(), reference_b: String::new(),
        };
        prop_assert_eq!(judge.parse(&AnswerJudgment::render_reply(&verdict)).unwrap(), verdict);
    }
}
