//! InsTag outlier tagging: consolidation by embedding similarity, rounds with a falling
//! frequency bar, retries of failed taggings, and nothing lost.
#![cfg(feature = "instag")]

use navab_llm::testing::{block_on, ScriptedChatModel};
use navab_topics::instag::{tag_outliers, InsTagParams};
use ndarray::Array2;

fn tags(list: &[&str]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|t| format!(r#"{{"tag": "{t}", "explanation": "because"}}"#))
        .collect();
    format!("```json\n[{}]\n```", items.join(", "))
}

/// Vectors by a tag's first word: tags that share it are near-identical (cosine 0.99),
/// others orthogonal.
fn by_first_word(list: &[&str]) -> Result<Array2<f32>, String> {
    let words: Vec<&str> = list.iter().map(|t| t.split(' ').next().unwrap()).collect();
    let mut vocab: Vec<&str> = words.clone();
    vocab.sort();
    vocab.dedup();
    let dim = vocab.len() + 1;
    Ok(Array2::from_shape_fn((list.len(), dim), |(i, j)| {
        let k = vocab.iter().position(|w| *w == words[i]).unwrap();
        if j == k {
            1.0
        } else if j == dim - 1 {
            0.1 * (i % 2) as f32
        } else {
            0.0
        }
    }))
}

#[test]
fn similar_tags_merge_into_one_topic_and_rounds_place_the_rest() {
    let docs = ["d0", "d1", "d2", "d3", "d4", "d5"];
    let model = ScriptedChatModel::new([
        tags(&["Housing policy", "Rent"]),
        tags(&["housing prices"]),
        tags(&["HOUSING shortage", "Budget"]),
        tags(&["Budget deficit"]),
        tags(&["budget vote"]),
        tags(&["Football"]),
    ]);
    let params = InsTagParams {
        min_frequency: 3,
        max_rounds: 3,
        similarity: 0.9,
        ..InsTagParams::default()
    };
    let result = block_on(tag_outliers(
        &model,
        &docs,
        &by_first_word,
        &params,
        &mut |_| {},
    ))
    .unwrap();
    assert!(result.embed_error.is_none());
    // Round 1 (bar 3): "housing ..." (3 docs) and "budget ..." (3 docs) become topics.
    assert_eq!(result.rounds[0].new_topics, 2);
    assert_eq!(result.rounds[0].placed, 5);
    let labels: Vec<&str> = result.topics.iter().map(|t| t.label.as_str()).collect();
    assert!(
        labels[0].starts_with("budget") || labels[0].starts_with("housing"),
        "{labels:?}"
    );
    let housing = result
        .topics
        .iter()
        .position(|t| t.label.starts_with("housing"))
        .unwrap();
    assert_eq!(
        result.topics[housing].merged.len(),
        3,
        "{:?}",
        result.topics[housing]
    );
    assert_eq!(result.assignments[0], Some(housing));
    assert_eq!(result.assignments[1], Some(housing));
    // Round 2 (bar 2): football has 1 doc, stays out; round 3 (bar 1) places it.
    assert_eq!(result.rounds.len(), 3);
    assert_eq!(result.rounds[2].placed, 1);
    assert!(result.assignments.iter().all(Option::is_some));
    assert_eq!(
        result.topics.iter().map(|t| t.size).sum::<usize>(),
        docs.len()
    );
    // Each document was tagged once: no retries needed.
    assert_eq!(model.remaining(), 0);
}

#[test]
fn failed_taggings_are_retried_and_reported_never_lost() {
    let docs = ["a", "b", "c"];
    let model = ScriptedChatModel::new([tags(&["Trade"]), "I'd rather not tag this.".to_string()])
        .with_failure("HTTP 503")
        .with_reply(tags(&["Trade"]))
        .with_reply("still not JSON");
    let params = InsTagParams {
        min_frequency: 1,
        max_rounds: 2,
        similarity: 0.9,
        ..InsTagParams::default()
    };
    let result = block_on(tag_outliers(
        &model,
        &docs,
        &by_first_word,
        &params,
        &mut |_| {},
    ))
    .unwrap();
    // Round 1: a tagged, b unparsable, c call failed. Round 2 retries b (ok) and c (unparsable).
    assert_eq!(result.rounds[0].failed, 2);
    assert_eq!(result.rounds[1].tagged, 2);
    assert_eq!(result.assignments, vec![Some(0), Some(0), None]);
    assert_eq!(result.failures.len(), 1);
    assert_eq!(result.failures[0].document, 2);
    assert_eq!(result.failures[0].raw.as_deref(), Some("still not JSON"));
}

#[test]
fn an_embedder_failure_falls_back_to_exact_tags() {
    let docs = ["a", "b"];
    let model = ScriptedChatModel::new([tags(&["Trade war"]), tags(&["trade war"])]);
    let broken = |_: &[&str]| -> Result<Array2<f32>, String> { Err("model file missing".into()) };
    let params = InsTagParams {
        min_frequency: 2,
        max_rounds: 1,
        similarity: 0.9,
        ..InsTagParams::default()
    };
    let result = block_on(tag_outliers(&model, &docs, &broken, &params, &mut |_| {})).unwrap();
    assert_eq!(result.embed_error.as_deref(), Some("model file missing"));
    assert_eq!(result.assignments, vec![Some(0), Some(0)]);
    let bad = InsTagParams {
        similarity: 0.0,
        ..params
    };
    let err = block_on(tag_outliers(&model, &docs, &broken, &bad, &mut |_| {})).unwrap_err();
    assert!(err.to_string().contains("similarity"), "{err}");
}
