//! Topic words end to end for French, German and Chinese snippets (news-like sentences written
//! for this test): each topic's words come from its own documents and hold no stop word.

use navab_topics::represent::{CtfidfModel, Language, RepresentParams};

fn words(lang: Language, docs: &[&str], labels: &[usize], topic: usize) -> Vec<String> {
    let mut params = RepresentParams::new(lang);
    params.vectorizer.drop_most_frequent = 0; // a handful of sentences has no "most frequent" tokens to speak of
    let model = CtfidfModel::fit(docs, labels, &params).unwrap();
    let stop = lang.stop_words();
    let out: Vec<String> = model
        .topic_words(topic)
        .into_iter()
        .map(|w| w.term)
        .collect();
    for w in &out {
        assert!(!w.is_empty());
        assert!(
            w.split(' ').all(|p| !p.is_empty() && !stop.contains(&p)),
            "{lang:?}: stop word in {w:?}"
        );
    }
    out
}

#[test]
fn french() {
    let docs = [
        "Le gouvernement présente un budget pour relancer l'économie et réduire le déficit.",
        "La Banque centrale européenne maintient ses taux ; l'économie française ralentit.",
        "L'équipe de France gagne le match grâce à un but de Mbappé.",
        "Le sélectionneur de l'équipe prépare le prochain match de la Coupe du monde.",
    ];
    let economy = words(Language::French, &docs, &[0, 0, 1, 1], 0);
    let football = words(Language::French, &docs, &[0, 0, 1, 1], 1);
    assert!(economy.iter().any(|w| w == "économie"), "{economy:?}");
    assert!(
        football.iter().any(|w| w == "équipe") && football.iter().any(|w| w == "match"),
        "{football:?}"
    );
    assert!(!football.iter().any(|w| w == "économie"));
}

#[test]
fn german() {
    let docs = [
        "Die Bundesregierung plant höhere Ausgaben für die Bundeswehr.",
        "Der Bundestag debattiert über die Ausgaben im Haushalt.",
        "Der FC Bayern gewinnt das Spiel gegen Dortmund.",
        "Im Spiel gegen Leipzig schießt Bayern zwei Tore.",
    ];
    let politics = words(Language::German, &docs, &[0, 0, 1, 1], 0);
    let football = words(Language::German, &docs, &[0, 0, 1, 1], 1);
    assert!(politics.iter().any(|w| w == "ausgaben"), "{politics:?}");
    assert!(
        football.iter().any(|w| w == "spiel") && football.iter().any(|w| w == "bayern"),
        "{football:?}"
    );
}

#[test]
fn chinese() {
    let docs = [
        "政府公布新的经济政策，以促进经济增长。",
        "央行表示将继续支持经济发展和稳定就业。",
        "中国女排在比赛中战胜对手，赢得冠军。",
        "球队在决赛中表现出色，球迷庆祝冠军。",
    ];
    let economy = words(Language::Chinese, &docs, &[0, 0, 1, 1], 0);
    let sport = words(Language::Chinese, &docs, &[0, 0, 1, 1], 1);
    // A word with jieba (feature `chinese`), one of the overlapping bigrams without it.
    assert!(economy.iter().any(|w| w == "经济"), "{economy:?}");
    assert!(sport.iter().any(|w| w == "冠军"), "{sport:?}");
    assert!(economy
        .iter()
        .all(|w| !w.contains('，') && !w.contains('。')));
}
