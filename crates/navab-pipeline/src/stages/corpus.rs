//! 1. Corpus: the JSONL, CSV or text-file corpus read into documents, bad records listed.

use serde::{Deserialize, Serialize};

use super::{Computed, Ctx};
use crate::corpus::{read_corpus, NewsDoc, SkippedLine};
use crate::pipeline::Executor;
use crate::store::corpus_sha256;
use crate::Result;

/// The corpus stage's file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CorpusStage {
    pub docs: Vec<NewsDoc>,
    pub skipped: Vec<SkippedLine>,
}

pub(crate) fn run<X: Executor>(cx: &mut Ctx<'_, X>) -> Result<CorpusStage> {
    let c = cx.config;
    // The contents, not the path: an edited corpus is another corpus.
    let inputs = serde_json::json!({
        "sha256": corpus_sha256(&c.corpus)?, "text_field": c.text_field,
        "label_field": c.label_field, "default_nation": c.default_nation,
        "default_source": c.default_source, "limit": c.limit,
        "languages": c.languages,
    });
    cx.stage("corpus", "01-corpus.json", inputs, |cx| {
        let c = cx.config;
        let (docs, skipped) = read_corpus(
            &c.corpus,
            &c.text_field,
            c.label_field.as_deref(),
            &c.default_nation,
            c.default_source.as_deref(),
            &c.languages,
            c.limit,
        )?;
        let counts = [("documents", docs.len()), ("skipped", skipped.len())];
        Ok(Computed::new(CorpusStage { docs, skipped }, &counts))
    })
}
