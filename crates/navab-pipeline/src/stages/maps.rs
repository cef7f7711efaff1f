//! The topic map of each nation: `out/maps/<nation>.svg`, its documents on the 2-D UMAP of
//! its topic model, coloured by topic, with a legend of the topics' labels.

use std::collections::BTreeMap;
use std::path::Path;

use ndarray::Array2;

use super::labels::LabelRecord;
use super::topics::TopicsStage;
use crate::corpus::NewsDoc;
use crate::{Error, Result};

/// Writes one map per nation (cheap: the coordinates come from the topics stage).
pub(crate) fn write(
    out: &Path,
    docs: &[NewsDoc],
    topics: &TopicsStage,
    labels: &[LabelRecord],
) -> Result<()> {
    if topics.map.len() != docs.len() {
        return Ok(()); // a topics file of an older layout: no coordinates
    }
    let dir = out.join("maps");
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    let label_of: BTreeMap<usize, &str> =
        labels.iter().map(|l| (l.topic, l.label.as_str())).collect();
    let mut by_nation: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in docs.iter().enumerate() {
        by_nation.entry(d.nation.as_str()).or_default().push(i);
    }
    for (nation, members) in by_nation {
        let mut local: BTreeMap<usize, usize> = BTreeMap::new();
        let mut names = Vec::new();
        let mut doc_labels = Vec::with_capacity(members.len());
        for &d in &members {
            doc_labels.push(topics.labels[d].map(|t| {
                *local.entry(t).or_insert_with(|| {
                    names.push(
                        label_of
                            .get(&t)
                            .map_or_else(|| format!("topic {t}"), |l| l.to_string()),
                    );
                    names.len() - 1
                })
            }));
        }
        let points = Array2::from_shape_fn((members.len(), 2), |(r, c)| topics.map[members[r]][c]);
        let outliers = doc_labels.iter().filter(|l| l.is_none()).count();
        let title = format!(
            "{nation}: {} documents, {} topics, {} outliers",
            members.len(),
            names.len(),
            outliers
        );
        let path = dir.join(format!("{}.svg", file_name(nation)));
        navab_topics::map::write_map_svg(&path, points.view(), &doc_labels, &names, &title)?;
    }
    Ok(())
}

/// A nation's name as a file name: characters other than letters, digits, `-` and `_` become `_`.
fn file_name(nation: &str) -> String {
    nation
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
