//! The pipeline per nation and per language: Conflict Reduction within each nation, topic words
//! and statements in each corpus' language, the ablations, and resume after a change of the
//! per-nation settings. Synthetic corpora, a bag-of-words embedder and rule-based replies.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use navab_llm::{BoxFuture, ChatModel, ChatRequest, ChatResponse};
use navab_pipeline::testing::{HashEmbedder, RuleBasedChatModel};
use navab_pipeline::{read_json, run_pipeline, PipelineConfig, RunReport, StdExecutor};

/// Rule-based replies, but relation checks answer by stance: two statements conflict when
/// exactly one of them says "not" (or 不 / pas / nicht), and agree otherwise. Records every
/// request's last user message.
#[derive(Default)]
struct StanceModel {
    seen: Mutex<Vec<(String, String)>>,
}

fn negated(s: &str) -> bool {
    [" not ", "不", " pas ", " nicht "]
        .iter()
        .any(|n| s.contains(n))
}

impl StanceModel {
    fn reply(request: &ChatRequest) -> String {
        let system = request.messages[0].content.as_str();
        let user = request.messages.last().map_or("", |m| m.content.as_str());
        if system.starts_with("You compare the stances") {
            let first = user.split("Statement 2:").next().unwrap_or("");
            let second = user.split("Statement 2:").nth(1).unwrap_or("");
            return if negated(first) != negated(second) {
                "Opposite stances. ## conflict".into()
            } else {
                "The same stance. ## agree".into()
            };
        }
        RuleBasedChatModel::reply(request)
    }

    fn requests(&self, system_prefix: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .filter(|(s, _)| s.starts_with(system_prefix))
            .map(|(_, u)| u.clone())
            .collect()
    }
}

impl ChatModel for StanceModel {
    fn chat<'a>(
        &'a self,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, navab_llm::Result<ChatResponse>> {
        let system = request.messages[0].content.clone();
        let user = request
            .messages
            .last()
            .map_or(String::new(), |m| m.content.clone());
        self.seen.lock().unwrap().push((system, user));
        Box::pin(async move { Ok(ChatResponse::new(Self::reply(request))) })
    }

    fn model_id(&self) -> Option<&str> {
        Some("stance-rules")
    }
}

fn write_jsonl(dir: &Path, lines: &[serde_json::Value]) -> PathBuf {
    let path = dir.join("news.jsonl");
    let text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(&path, text.join("\n") + "\n").unwrap();
    path
}

fn config(corpus: &Path, out: &Path) -> PipelineConfig {
    let mut c = PipelineConfig::new(corpus, out);
    c.topics.hdbscan.min_cluster_size = 4;
    c.instag.min_frequency = 2;
    c
}

fn run(config: &PipelineConfig, llm: &dyn ChatModel) -> RunReport {
    let embedder = HashEmbedder::new(64);
    run_pipeline(config, llm, &embedder, &StdExecutor, &mut |_, _, _| {}).unwrap()
}

/// `good` documents of `nation` saying tariffs help workers, `bad` saying they do not.
fn stance_docs(nation: &str, good: usize, bad: usize) -> Vec<serde_json::Value> {
    (0..good + bad)
        .map(|i| {
            let stance = if i < good { "are" } else { "are not" };
            serde_json::json!({
                "id": format!("{nation}-{i}"),
                "nation": nation,
                "text": format!(
                    "Tariffs on steel imports {stance} good for workers. Economists weigh steel \
                     tariffs, imports, factories, wages and trade policy in report {}.",
                    i % 3
                ),
            })
        })
        .collect()
}

/// The statements of `nation` that survive into the dataset's triples.
fn kept_statements(out: &Path, nation: &str) -> Vec<String> {
    let triples: serde_json::Value = read_json(&out.join("stages/11-triples.json")).unwrap();
    triples["triples"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["nation"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(nation))
        })
        .map(|t| t["statement"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn conflict_reduction_keeps_each_nations_own_majority() {
    let dir = tempfile::tempdir().unwrap();
    // Together the UK's stance is the majority (16 + 4 against 12 + 4); within the US it is not.
    let mut lines = stance_docs("UK", 16, 4);
    lines.extend(stance_docs("US", 4, 12));
    let corpus = write_jsonl(dir.path(), &lines);
    let out = dir.path().join("run");
    let report = run(&config(&corpus, &out), &StanceModel::default());

    for (nation, keeps_negated) in [("UK", false), ("US", true)] {
        let kept = kept_statements(&out, nation);
        assert!(!kept.is_empty(), "{nation}: no statement kept");
        assert!(
            kept.iter().all(|s| negated(s) == keeps_negated),
            "{nation} lost its own majority stance: {kept:?}"
        );
        let counts = &report.per_nation[nation];
        assert!(counts.removed_by_conflict > 0, "{nation}: {counts:?}");
    }

    // The ablation keeps both stances in both nations and says so, in the same run folder:
    // the triples made from the reduced statements are not reused.
    let mut c = config(&corpus, &out);
    c.run_conflict_reduction = false;
    let report = run(&c, &StanceModel::default());
    for nation in ["UK", "US"] {
        let kept = kept_statements(&out, nation);
        assert!(kept.iter().any(|s| negated(s)) && kept.iter().any(|s| !negated(s)));
        assert_eq!(report.per_nation[nation].removed_by_conflict, 0);
    }
    assert!(report.markdown().contains("without Conflict Reduction"));
    let resumed: Vec<&str> = report
        .stages
        .iter()
        .filter(|s| s.resumed)
        .map(|s| s.stage.as_str())
        .collect();
    assert!(
        resumed.contains(&"sources") && !resumed.contains(&"triples"),
        "{resumed:?}"
    );
}

fn language_corpus() -> Vec<serde_json::Value> {
    let zh = [
        "政府宣布提高最低工资标准，工会表示工人收入将明显增加。",
        "政府宣布提高最低工资标准，企业担心劳动力成本上升。",
        "最低工资标准再次上调，工人收入和企业成本引发讨论。",
        "工会欢迎最低工资上调，认为工人收入应当随经济增长。",
        "足球联赛周末开赛，主队在体育场以三比一获胜。",
        "足球联赛继续进行，前锋在体育场打进两球。",
        "主队在足球联赛中获胜，球迷在体育场庆祝。",
        "足球联赛积分榜更新，主队教练称赞前锋表现。",
    ];
    let fr = [
        "Le gouvernement veut réformer les retraites et relever l'âge de départ des salariés.",
        "Les syndicats refusent la réforme des retraites et l'âge de départ plus tardif.",
        "La réforme des retraites divise les salariés, les syndicats et le gouvernement.",
        "Le gouvernement défend la réforme des retraites devant les syndicats et les salariés.",
        "Le club de football a gagné le match au stade grâce à son attaquant.",
        "L'attaquant du club a marqué deux buts lors du match de football au stade.",
        "Le stade était plein pour le match de football du club et de son attaquant.",
        "L'entraîneur du club de football salue son attaquant après le match au stade.",
    ];
    let de = [
        "Die Regierung will die Rente reformieren und das Rentenalter der Arbeitnehmer erhöhen.",
        "Die Gewerkschaften lehnen die Rentenreform und das höhere Rentenalter ab.",
        "Die Rentenreform spaltet Arbeitnehmer, Gewerkschaften und die Regierung.",
        "Die Regierung verteidigt die Rentenreform vor den Gewerkschaften und Arbeitnehmern.",
        "Der Fußballverein gewann das Spiel im Stadion dank seines Stürmers.",
        "Der Stürmer des Vereins schoss zwei Tore beim Fußballspiel im Stadion.",
        "Das Stadion war beim Fußballspiel des Vereins und seines Stürmers voll.",
        "Der Trainer des Fußballvereins lobt seinen Stürmer nach dem Spiel im Stadion.",
    ];
    let mut lines = Vec::new();
    for (k, ((z, f), d)) in zh.iter().zip(fr).zip(de).enumerate() {
        for copy in 0..2 {
            let id = |lang: &str| format!("{lang}{k}-{copy}");
            lines.push(serde_json::json!({"id": id("zh"), "nation": "China", "text": z}));
            lines.push(serde_json::json!({
                "id": id("fr"), "nation": "Canada", "language": "fr", "text": f
            }));
            lines.push(serde_json::json!({"id": id("de"), "nation": "Germany", "text": d}));
        }
    }
    lines
}

#[test]
fn each_language_gets_its_words_and_its_statements() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = write_jsonl(dir.path(), &language_corpus());
    let out = dir.path().join("run");
    let llm = StanceModel::default();
    run(&config(&corpus, &out), &llm);

    let topics_file: serde_json::Value = read_json(&out.join("stages/03-topics.json")).unwrap();
    let topics = topics_file["topics"].as_array().unwrap();
    let words_of = |language: &str| -> Vec<String> {
        topics
            .iter()
            .filter(|t| t["language"] == language)
            .flat_map(|t| t["words"].as_array().unwrap().iter())
            .map(|w| w.as_str().unwrap().to_string())
            .collect()
    };
    let zh = words_of("zh");
    let fr = words_of("fr");
    let de = words_of("de");
    assert!(!de.is_empty(), "{:?}", topics_file["notes"]);
    assert!(
        !de.iter()
            .any(|w| ["die", "der", "und", "das"].contains(&w.as_str())),
        "{de:?}"
    );
    assert!(
        !zh.is_empty() && !fr.is_empty(),
        "zh {zh:?} fr {fr:?} {:?}",
        topics_file["notes"]
    );
    // jieba's words, not overlapping character pairs such as 资标 or 低工.
    assert!(
        zh.iter().any(|w| w == "工资" || w == "足球" || w == "工人"),
        "{zh:?}"
    );
    assert!(!zh.iter().any(|w| w == "资标" || w == "低工"), "{zh:?}");
    // French stop words are gone.
    assert!(
        !fr.iter()
            .any(|w| ["les", "des", "le", "du"].contains(&w.as_str())),
        "{fr:?}"
    );
    let nations = ["China", "Canada", "Germany"];
    assert!(topics
        .iter()
        .all(|t| nations.contains(&t["nation"].as_str().unwrap())));

    // Extraction asked for each document's language, with an example in that language.
    let asks = llm.requests("You extract value statements");
    assert!(
        asks.iter().any(|u| u.starts_with("Language: Chinese")),
        "{asks:?}"
    );
    for language in ["French", "German"] {
        let ask = format!("Language: {language}");
        assert!(asks.iter().any(|u| u.starts_with(&ask)), "{asks:?}");
    }
    assert!(
        !asks.iter().any(|u| u.starts_with("Language: English")),
        "{asks:?}"
    );
    // The statements are in the source language.
    let china = kept_statements(&out, "China");
    assert!(!china.is_empty());
    assert!(china
        .iter()
        .all(|s| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))));
    // Topics were screened as topics, before extraction.
    assert!(!llm.requests("You screen news topics").is_empty());
    for nation in nations {
        assert!(out.join(format!("maps/{nation}.svg")).is_file(), "{nation}");
    }
}

#[test]
fn the_allow_list_and_the_ablations_recompute_only_what_follows_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = stance_docs("UK", 10, 2);
    lines.extend(language_corpus());
    let corpus = write_jsonl(dir.path(), &lines);
    let out = dir.path().join("run");
    let llm = StanceModel::default();
    let first = run(&config(&corpus, &out), &llm);
    let resumed = |r: &RunReport, stage: &str| {
        r.stages
            .iter()
            .find(|s| s.stage == stage)
            .unwrap_or_else(|| panic!("no stage {stage} in {:?}", r.stages))
            .resumed
    };

    // An allow-list keeps one topic: everything up to the topic screening is reused.
    let mut c = config(&corpus, &out);
    let label = first.topic_labels.values().next().unwrap().clone();
    c.allow_topics = Some(vec![label]);
    let second = run(&c, &llm);
    for stage in [
        "corpus",
        "embed:de",
        "embed:en",
        "embed:zh",
        "topics",
        "labels",
        "screen-topics",
    ] {
        assert!(resumed(&second, stage), "{stage} recomputed");
    }
    assert!(!resumed(&second, "extract"));

    // Without InsTag: topics are reused, the labels (InsTag's topics are gone) recomputed.
    c.run_instag = false;
    let third = run(&c, &llm);
    assert!(resumed(&third, "topics") && !resumed(&third, "labels"));
    assert_eq!(third.outliers_placed_by_instag, 0);
    assert!(third.stages.iter().all(|s| s.stage != "instag"));

    // A nation's language changes the corpus stage and so everything after it.
    c.languages.by_nation.insert("uk".into(), "it".into());
    let fourth = run(&c, &llm);
    assert!(!resumed(&fourth, "corpus") && !resumed(&fourth, "topics"));
    assert!(fourth.stages.iter().any(|s| s.stage == "embed:it"));
}
