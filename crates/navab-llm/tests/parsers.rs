//! Table tests: each parser on replies shaped like real models' (prose around the answer, code
//! fences, bold, wrong case, full-width punctuation, other languages), and on unreadable ones.

use navab_llm::steps::{
    parse_source, parse_statements, parse_tags, parse_topic_label, parse_triple, parse_verdict,
    parse_yes_no, Source, Verdict,
};
use navab_llm::{squash_whitespace as squash, StepName};

#[test]
fn topic_label_table() {
    let ok = [
        ("topic: Abortion Restriction", "Abortion Restriction"),
        (
            "Topic: Hong Kong Electoral Reform.",
            "Hong Kong Electoral Reform",
        ),
        (
            "**Topic Label:** \"Brexit Negotiations\"",
            "Brexit Negotiations",
        ),
        (
            "Based on the keywords, here is the label.\n\ntopic: [US Trade War]",
            "US Trade War",
        ),
        ("主題：香港政制改革", "香港政制改革"),
        ("TOPIC : climate policy", "climate policy"),
        ("```\ntopic: Taiwan Relations\n```", "Taiwan Relations"),
        ("Thème : Réforme des retraites", "Réforme des retraites"),
        ("Thema: Energiewende", "Energiewende"),
        ("Immigration Policy", "Immigration Policy"),
        ("Reasoning first ## Press Freedom", "Press Freedom"),
    ];
    for (reply, want) in ok {
        assert_eq!(
            parse_topic_label(reply).unwrap_or_else(|e| panic!("{e}")),
            want,
            "{reply:?}"
        );
    }
    for reply in [
        "",
        "topic: ",
        "topic: A Label Of Far Too Many Words Here",
        "I think the documents are about many things.\nSome of them discuss elections.",
    ] {
        let e = parse_topic_label(reply).unwrap_err();
        assert_eq!((e.step, e.raw.as_str()), (StepName::TopicLabel, reply));
    }
}

#[test]
fn tagging_table() {
    let cases: [(&str, &[(&str, &str)]); 10] = [
        (r#"[{"tag": "Abortion", "explanation": "restricts abortion"}]"#, &[("Abortion", "restricts abortion")]),
        (
            "Here are the tags:\n```json\n[\n  {\"tag\": \"Election\", \"explanation\": \"a vote\"},\n  {\"tag\": \"Hong Kong\", \"explanation\": \"the place\"},\n]\n```\nHope this helps!",
            &[("Election", "a vote"), ("Hong Kong", "the place")],
        ),
        ("[{'tag': 'Women's rights', 'explanation': 'access to care'}]", &[("Women's rights", "access to care")]),
        (r#"{"tags": [{"Tag": "Trade", "Explanation": "tariffs"}]}"#, &[("Trade", "tariffs")]),
        (r#"["Democracy", "Taiwan"]"#, &[("Democracy", ""), ("Taiwan", "")]),
        // The paper's own brace-less format.
        (
            r#"["tag": "Abortion", "explanation": "restricting abortion", "tag": "Law", "explanation": "a bill"]"#,
            &[("Abortion", "restricting abortion"), ("Law", "a bill")],
        ),
        ("[{“tag”: “民主”, “explanation”: “爭取普選”}]", &[("民主", "爭取普選")]),
        (r#"[{"name": "Sovereignty", "reason": "border dispute"}]"#, &[("Sovereignty", "border dispute")]),
        ("Tags:\n1. Immigration: the new visa rules\n2. **Labour market** - jobs for migrants", &[("Immigration", "the new visa rules"), ("Labour market", "jobs for migrants")]),
        (r#"{"tag": "Press freedom", "explanation": "a newspaper closed"}"#, &[("Press freedom", "a newspaper closed")]),
    ];
    for (reply, want) in cases {
        let got = parse_tags(reply).unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|t| (t.tag.as_str(), t.explanation.as_str()))
            .collect();
        assert_eq!(got, want, "{reply:?}");
    }
    for reply in [
        "",
        "[]",
        "I cannot tag this document.",
        r#"[{"explanation": "no tag key"}]"#,
    ] {
        let e = parse_tags(reply).unwrap_err();
        assert_eq!((e.step, e.raw.as_str()), (StepName::Tagging, reply));
    }
}

#[test]
fn screening_table() {
    let cases = [
        ("## yes", true),
        ("## no", false),
        ("after analyzing the statement, i conclude that it is related.\n\nstatement: ## yes", true),
        ("The statement is about a football match, not politics. ## No.", false),
        ("**Answer:** Yes", true),
        ("Answer: NO", false),
        ("Yes. It criticises the government's economic policy.", true),
        ("No, this is about the economy and nobody knows.", false),
        ("It is not political and I know that.\n## no", false),
        ("答案：是", true),
        ("這涉及政治議題。\n\n## 是", true),
        ("## 否", false),
        ("不是。這只是天氣預報。", false),
        ("Réponse : oui", true),
        ("## non", false),
        ("Antwort: Ja", true),
        ("## Nein, es geht um Sport.", false),
        ("```\n## YES\n```", true),
        ("## [Yes]", true),
        ("I would classify this statement as:\n\n## yes\n\nreasoning: it mentions elections, not sports.", true),
        // One `#` instead of two (SmolLM2-135M writes this), inline after the reasoning.
        ("A public opinion. # no", false),
        ("It is about an election. # Yes", true),
    ];
    for (reply, want) in cases {
        assert_eq!(
            parse_yes_no(reply).unwrap_or_else(|e| panic!("{e}")),
            want,
            "{reply:?}"
        );
    }
    for reply in [
        "",
        "# Yes or no?\nI am not sure.",
        "I am not sure.",
        "## Yes/No",
        "Maybe, it depends on the context.",
    ] {
        let e = parse_yes_no(reply).unwrap_err();
        assert_eq!((e.step, e.raw.as_str()), (StepName::ValueScreening, reply));
    }
}

#[test]
fn statement_extraction_table() {
    let cases: [(&str, &[&str]); 17] = [
        ("Statement: The minister opposes the tax.", &["The minister opposes the tax."]),
        (
            "Let me think step by step.\n1. The article is about housing.\n\nStatement: 政府應增建公屋。\n\nThis statement is sensitive because it criticises policy.",
            &["政府應增建公屋。"],
        ),
        ("**Statement 1:** A is good.\n**Statement 2:** B is bad.", &["A is good.", "B is bad."]),
        ("Statements:\n1. First stance.\n2. Second stance.", &["First stance.", "Second stance."]),
        ("statement: \"Quoted stance.\"", &["Quoted stance."]),
        ("陳述：梁振英認為要盡快實行普選。", &["梁振英認為要盡快實行普選。"]),
        ("Déclaration : Le gouvernement doit baisser les impôts.", &["Le gouvernement doit baisser les impôts."]),
        ("Aussage: Die Regierung muss sparen.", &["Die Regierung muss sparen."]),
        (
            "after analyzing the news, here is the statement:\n\n## 泛民如果10月前都唔表態，佢哋都要搵人出馬。\n\nthis is sensitive because ...",
            &["泛民如果10月前都唔表態，佢哋都要搵人出馬。"],
        ),
        ("Statement: none", &[]),
        ("There is no political statement in this article.", &[]),
        ("Statement:\n沒有", &[]),
        // Statements that begin with a "none" word are statements, not "none".
        ("Statement: No new taxes should be levied this year.", &["No new taxes should be levied this year."]),
        ("Statement: 沒有人應該被迫加班。", &["沒有人應該被迫加班。"]),
        ("Statement: Nothing justifies violence.", &["Nothing justifies violence."]),
        ("## No new taxes.", &["No new taxes."]),
        ("Statement: No value-related statement found.", &[]),
    ];
    for (reply, want) in cases {
        assert_eq!(
            parse_statements(reply).unwrap_or_else(|e| panic!("{e}")),
            want,
            "{reply:?}"
        );
    }
    for reply in [
        "",
        "The article describes a football match between two clubs in detail, with goals.",
    ] {
        let e = parse_statements(reply).unwrap_err();
        assert_eq!(
            (e.step, e.raw.as_str()),
            (StepName::StatementExtraction, reply)
        );
    }
}

#[test]
fn source_table() {
    let q = |s: &str| Source::Quoted(s.to_string());
    let cases = [
        (
            "\"said\" names the speaker. ## the minister",
            q("the minister"),
        ),
        (
            "There's no information about the speaker. ## Unknown",
            Source::Official,
        ),
        (
            "## unknown\n\nthe reason is that nothing names a speaker.",
            Source::Official,
        ),
        (
            "since the statement includes 認為, it was said by 張炳良. ## 張炳良",
            q("張炳良"),
        ),
        (
            "reason ## **Taiwan Foreign Ministry**.",
            q("Taiwan Foreign Ministry"),
        ),
        (
            "There's no information about the speaker of this sentence. [Unknown]",
            Source::Official,
        ),
        (
            "The verb 'urged' points to the mayor. [Mayor Lee]",
            q("Mayor Lee"),
        ),
        ("Source: 李肇星", q("李肇星")),
        ("來源：未知", Source::Official),
        ("Speaker: N/A", Source::Official),
        ("## 不明", Source::Official),
        ("Source : inconnu", Source::Official),
        ("## Unbekannt", Source::Official),
        ("Unknown.", Source::Official),
        ("## [UNKNOWN]", Source::Official),
        ("Carrie Lam", q("Carrie Lam")),
    ];
    for (reply, want) in cases {
        assert_eq!(
            parse_source(reply).unwrap_or_else(|e| panic!("{e}")),
            want,
            "{reply:?}"
        );
    }
    assert_eq!(q("x").set(), navab_core::StatementSet::Quoted);
    for reply in [
        "",
        "## ",
        "I cannot tell.",
        "Sorry, no idea",
        "The statement mentions several politicians but it is hard to tell who might have said it in the end.",
        "## this statement was most probably said by somebody who works for the government of the city",
    ] {
        let e = parse_source(reply).unwrap_err();
        assert_eq!((e.step, e.raw.as_str()), (StepName::SourceJudgment, reply));
    }
}

#[test]
fn triple_table() {
    let cases = [
        ("Q: Is X good? ## S: X is good. ## RS: X is bad.", ("Is X good?", "X is good.", "X is bad.")),
        ("Q: Is X good?\nS: X is good.\nRS: X is bad.", ("Is X good?", "X is good.", "X is bad.")),
        ("Sure! Here is the sample:\n\n**Q:** Is X good?\n**S:** X is good.\n**RS:** X is bad.\n\nLet me know.", ("Is X good?", "X is good.", "X is bad.\n\nLet me know.")),
        ("q: Is X good? s: X is good. rs: X is bad.", ("Is X good?", "X is good.", "X is bad.")),
        ("Q：李肇星是否容忍台獨？\nS：李肇星：絕不容忍台獨。\nRS：李肇星：容忍台獨。", ("李肇星是否容忍台獨？", "李肇星：絕不容忍台獨。", "李肇星：容忍台獨。")),
        ("Question: Is X good?\nStatement: X is good.\nReverse statement: X is bad.", ("Is X good?", "X is good.", "X is bad.")),
        ("Generated Question: Is X good?\nOriginal Statement: X is good.\nReversed Statement: X is bad.", ("Is X good?", "X is good.", "X is bad.")),
        ("問題：X好嗎？\n陳述：X好。\n反向陳述：X不好。", ("X好嗎？", "X好。", "X不好。")),
        ("```\nQ: Is X good? ##\nS: X is good. ##\nRS: X is bad.\n```", ("Is X good?", "X is good.", "X is bad.")),
        ("Frage: Ist X gut?\nAussage: X ist gut.\nGegenaussage: X ist schlecht.", ("Ist X gut?", "X ist gut.", "X ist schlecht.")),
        ("- Q: Is the U.S. economy strong?\n- S: The U.S. economy is strong.\n- RS: The U.S. economy is weak.", ("Is the U.S. economy strong?", "The U.S. economy is strong.", "The U.S. economy is weak.")),
    ];
    for (reply, (q, s, rs)) in cases {
        let t = parse_triple(reply).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (
                squash(&t.question),
                squash(&t.statement),
                squash(&t.reverse_statement)
            ),
            (squash(q), squash(s), squash(rs)),
            "{reply:?}"
        );
    }
    for (reply, reason) in [
        ("", "missing Q, S, RS"),
        ("Q: Is X good? ## S: X is good.", "missing RS"),
        (
            "I cannot write a reverse statement for this.",
            "missing Q, S, RS",
        ),
        ("Q: Is X good? ## S: ## RS: X is bad.", "a part is empty"),
    ] {
        let e = parse_triple(reply).unwrap_err();
        assert_eq!(
            (e.step, e.raw.as_str(), e.reason.as_str()),
            (StepName::TripleConstruction, reply, reason)
        );
    }
}

#[test]
fn verdict_table() {
    let cases = [
        ("## A", Verdict::A),
        (
            "The answer supports the policy, as reference A does. ## B",
            Verdict::B,
        ),
        ("A", Verdict::A),
        ("**B**", Verdict::B),
        ("Verdict: Reference A", Verdict::A),
        ("Answer: (b)", Verdict::B),
        ("The answer is closer to Reference B.", Verdict::B),
        (
            "A closer look shows the answer agrees with reference A.",
            Verdict::A,
        ),
        ("## Neither", Verdict::Neither),
        ("Tie.", Verdict::Neither),
        ("Both equally.", Verdict::Neither),
        ("結論：參考A", Verdict::A),
        ("## 都不接近", Verdict::Neither),
        ("Réponse : B", Verdict::B),
        ("Antwort: keine", Verdict::Neither),
        ("```\n## b\n```", Verdict::B),
    ];
    for (reply, want) in cases {
        assert_eq!(
            parse_verdict(reply).unwrap_or_else(|e| panic!("{e}")),
            want,
            "{reply:?}"
        );
    }
    for reply in [
        "",
        "I cannot judge this.",
        "It is closer to A in tone but closer to B in substance.",
    ] {
        let e = parse_verdict(reply).unwrap_err();
        assert_eq!((e.step, e.raw.as_str()), (StepName::AnswerJudgment, reply));
    }
}
