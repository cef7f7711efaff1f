//! Preference JSONL: MVPBench-style lines and LLaMA-Factory DPO lines as [`PreferenceItem`]s.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::jsonl::{read_jsonl, write_jsonl};
use crate::read::{as_record, json_kind, required_str, Fault, Loaded, ReadOptions};
use crate::types::PreferenceItem;

/// How the fields of a preference JSONL line map onto a [`PreferenceItem`].
///
/// With the defaults, this MVPBench-style line
///
/// ```json
/// {"id": 7, "question": "Is it right to ...?", "chosen": "Yes, ...", "rejected": "No, ...", "country": "Kenya", "age": "25-34", "gender": "female"}
/// ```
///
/// reads as id `"7"`, prompt `"Is it right to ...?"`, chosen `"Yes, ..."`, rejected `"No, ..."`
/// and metadata `{age: "25-34", country: "Kenya", gender: "female"}`:
///
/// - **prompt**: the first present (non-null) of [`prompt`](Self::prompt) (`prompt`,
///   `question`, `instruction`); then, if the [`input`](Self::input) field (`input`) is a
///   non-empty string, a newline and the input. That reads the LLaMA-Factory DPO shape
///   `{"instruction": …, "input": …, "chosen": …, "rejected": …}`.
/// - **chosen**: the first present of `chosen`, `answer`, `preferred`, `response_chosen`.
/// - **rejected**: the first present of `rejected`, `rejected_answer`, `dispreferred`,
///   `response_rejected`.
/// - **id**: field [`id`](Self::id) (`id`), a string or a number; when absent, `line-<n>` with
///   `n` the 1-based line number.
/// - **metadata**: every other top-level field whose value is a string, number or boolean
///   (stringified), then the entries of an object field `metadata`, which win on a clash. Other
///   values (arrays, objects, null) are left out. [`metadata_keys`](Self::metadata_keys)
///   restricts the metadata to the keys listed.
///
/// Prompt, chosen and rejected must be non-blank strings; they are kept as written (not
/// trimmed).
///
/// ```
/// use navab_core::PreferenceFields;
///
/// // Keep only the grouping fields a report needs.
/// let fields = PreferenceFields::default().with_metadata_keys(["country", "gender"]);
/// assert_eq!(fields.prompt[0], "prompt");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreferenceFields {
    /// Field names for the prompt, first present wins.
    pub prompt: Vec<String>,
    /// Field whose non-empty text is appended to the prompt after a newline (`None`: never).
    pub input: Option<String>,
    /// Field names for the preferred response, first present wins.
    pub chosen: Vec<String>,
    /// Field names for the dispreferred response, first present wins.
    pub rejected: Vec<String>,
    /// Field holding the id.
    pub id: String,
    /// When set, only these metadata keys are kept.
    pub metadata_keys: Option<Vec<String>>,
}

/// The object field whose entries become metadata.
const METADATA_FIELD: &str = "metadata";

impl Default for PreferenceFields {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Self {
            prompt: names(&["prompt", "question", "instruction"]),
            input: Some("input".into()),
            chosen: names(&["chosen", "answer", "preferred", "response_chosen"]),
            rejected: names(&[
                "rejected",
                "rejected_answer",
                "dispreferred",
                "response_rejected",
            ]),
            id: "id".into(),
            metadata_keys: None,
        }
    }
}

impl PreferenceFields {
    /// Keeps only these metadata keys.
    pub fn with_metadata_keys<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.metadata_keys = Some(keys.into_iter().map(Into::into).collect());
        self
    }

    fn item_from(
        &self,
        value: &Value,
        line_number: usize,
    ) -> std::result::Result<PreferenceItem, Fault> {
        let record = as_record(value)?;
        let (prompt_field, prompt) = first_present(record, &self.prompt)?;
        let input = self
            .input
            .as_deref()
            .and_then(|field| record.get(field))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty());
        let prompt = match input {
            Some(input) => format!("{prompt}\n{input}"),
            None => prompt.to_string(),
        };
        let (chosen_field, chosen) = first_present(record, &self.chosen)?;
        let (rejected_field, rejected) = first_present(record, &self.rejected)?;
        let id = match record.get(&self.id) {
            None | Some(Value::Null) => format!("line-{line_number}"),
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => {
                return Err(Fault::field(
                    &self.id,
                    format!("expected a string or a number, found {}", describe(other)),
                ))
            }
        };

        let mapped = [
            prompt_field,
            chosen_field,
            rejected_field,
            self.id.as_str(),
            METADATA_FIELD,
        ];
        let is_mapped = |key: &str| mapped.contains(&key) || self.input.as_deref() == Some(key);
        let mut metadata = BTreeMap::new();
        for (key, value) in record {
            if !is_mapped(key) {
                if let Some(text) = scalar_text(value) {
                    metadata.insert(key.clone(), text);
                }
            }
        }
        match record.get(METADATA_FIELD) {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                for (key, value) in entries {
                    if let Some(text) = scalar_text(value) {
                        metadata.insert(key.clone(), text);
                    }
                }
            }
            Some(other) => {
                return Err(Fault::field(
                    METADATA_FIELD,
                    format!("expected an object, found {}", json_kind(other)),
                ))
            }
        }
        if let Some(keys) = &self.metadata_keys {
            metadata.retain(|key, _| keys.contains(key));
        }
        Ok(PreferenceItem {
            id,
            prompt,
            chosen: chosen.to_string(),
            rejected: rejected.to_string(),
            metadata,
        })
    }
}

/// The first of `names` present and not null, as (field name, non-blank text).
fn first_present<'a>(
    record: &'a Map<String, Value>,
    names: &'a [String],
) -> std::result::Result<(&'a str, &'a str), Fault> {
    match names
        .iter()
        .find(|name| !matches!(record.get(name.as_str()), None | Some(Value::Null)))
    {
        Some(name) => Ok((name, required_str(record, name)?)),
        None => Err(Fault::field(
            names.first().map_or("", String::as_str),
            format!("missing (looked for {})", names.join(", ")),
        )),
    }
}

/// Metadata values: strings as they are, numbers and booleans as JSON writes them.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Like [`json_kind`], but a blank string is called out as such.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "an empty string",
        other => json_kind(other),
    }
}

/// Reads preference items from JSONL (MVPBench-style or LLaMA-Factory DPO), mapped by `fields`;
/// see [`PreferenceFields`]. Blank lines are ignored. Reading streams the file.
///
/// # Errors
/// [`crate::Error::Io`] if the file cannot be read; in strict mode, [`crate::Error::Record`]
/// for the first bad line (not JSON, not an object, prompt/chosen/rejected missing or blank, a
/// bad id or `metadata`), with its record index, line number and field.
pub fn read_preferences_jsonl(
    path: impl AsRef<Path>,
    options: &ReadOptions,
    fields: &PreferenceFields,
) -> Result<Loaded<PreferenceItem>> {
    read_jsonl(path.as_ref(), options, |value, line_number| {
        fields.item_from(value, line_number)
    })
}

/// Reads preference items from a JSON array, mapped by `fields`: the LLaMA-Factory DPO file
/// that `navab_triples::write_llama_factory` writes (`[{"instruction", "input", "chosen",
/// "rejected"}, ...]`), or any array of MVPBench-style objects. An item without an id gets
/// `line-<n>`, n being its 1-based position in the array, as JSONL lines do.
///
/// # Errors
/// [`crate::Error::Io`] if the file cannot be read; [`crate::Error::Record`] when the file is
/// not a JSON array, and in strict mode for the first bad element (with its index and field).
pub fn read_preferences_json(
    path: impl AsRef<Path>,
    options: &ReadOptions,
    fields: &PreferenceFields,
) -> Result<Loaded<PreferenceItem>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(crate::error::io_error(path))?;
    let records = match serde_json::from_slice::<Value>(crate::read::strip_bom(&bytes)) {
        Ok(Value::Array(records)) => records,
        Ok(other) => {
            let fault = Fault::record(format!(
                "expected a JSON array, found {}",
                json_kind(&other)
            ));
            return Err(fault.at(path, 0, None).into());
        }
        Err(e) => {
            return Err(Fault::record(format!("not valid JSON: {e}"))
                .at(path, 0, None)
                .into())
        }
    };
    let mut loaded = Loaded::default();
    for (index, record) in records.iter().enumerate() {
        match fields.item_from(record, index + 1) {
            Ok(item) => loaded.items.push(item),
            Err(fault) => loaded.reject(options, fault.at(path, index, None))?,
        }
    }
    Ok(loaded)
}

/// Writes preference items as JSONL, one per line: `{"id", "prompt", "chosen", "rejected",
/// "metadata": {…}}` (metadata left out when empty, keys sorted), which
/// [`read_preferences_jsonl`] reads back with the default [`PreferenceFields`]. The same input
/// gives the same bytes. Atomic: a crash leaves the old file or the new one.
///
/// # Errors
/// [`crate::Error::Io`] if the file cannot be written.
pub fn write_preferences_jsonl(path: impl AsRef<Path>, items: &[PreferenceItem]) -> Result<()> {
    write_jsonl(path.as_ref(), items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: Value) -> std::result::Result<PreferenceItem, Fault> {
        PreferenceFields::default().item_from(&json, 9)
    }

    #[test]
    fn a_llama_factory_json_array_reads_with_positions_as_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dpo_train.json");
        let text = r#"[{"instruction": "Q1?", "input": "", "chosen": "S1", "rejected": "RS1"},
                       {"instruction": "Q2?", "input": "ctx", "chosen": "S2", "rejected": "RS2"},
                       {"instruction": "Q3?", "chosen": "", "rejected": "RS3"}]"#;
        std::fs::write(&path, text).unwrap();
        let fields = PreferenceFields::default();
        let err = read_preferences_json(&path, &ReadOptions::default(), &fields).unwrap_err();
        assert!(err.to_string().contains("record 2"), "{err}");
        let loaded = read_preferences_json(&path, &ReadOptions::lenient(), &fields).unwrap();
        assert_eq!(loaded.items.len(), 2);
        assert_eq!(loaded.skipped.len(), 1);
        let (a, b) = (&loaded.items[0], &loaded.items[1]);
        assert_eq!(
            (a.id.as_str(), a.prompt.as_str(), a.chosen.as_str()),
            ("line-1", "Q1?", "S1")
        );
        assert_eq!(
            (b.id.as_str(), b.prompt.as_str(), b.rejected.as_str()),
            ("line-2", "Q2?\nctx", "RS2")
        );
        std::fs::write(&path, r#"{"instruction": "Q"}"#).unwrap();
        let err = read_preferences_json(&path, &ReadOptions::default(), &fields).unwrap_err();
        assert!(err.to_string().contains("expected a JSON array"), "{err}");
    }

    #[test]
    fn the_documented_mvpbench_line() {
        let item = read(serde_json::json!({
            "id": 7, "question": "Is it right to ...?", "chosen": "Yes, ...", "rejected": "No, ...",
            "country": "Kenya", "age": "25-34", "gender": "female"
        }))
        .unwrap();
        assert_eq!(item.id, "7");
        assert_eq!(item.prompt, "Is it right to ...?");
        let metadata: Vec<_> = item
            .metadata
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(metadata, ["age=25-34", "country=Kenya", "gender=female"]);
    }

    #[test]
    fn metadata_object_wins_and_non_scalars_are_left_out() {
        let item = read(serde_json::json!({
            "prompt": "p", "chosen": "c", "rejected": "r", "input": "",
            "country": "Chile", "flag": true, "score": 2.5, "tags": ["a"], "none": null,
            "metadata": {"country": "Peru", "nested": {"x": 1}}
        }))
        .unwrap();
        assert_eq!(item.id, "line-9");
        assert_eq!(item.prompt, "p", "an empty input adds nothing");
        let keys: Vec<_> = item.metadata.keys().map(String::as_str).collect();
        assert_eq!(keys, ["country", "flag", "score"]);
        assert_eq!(item.metadata["country"], "Peru");
        assert_eq!(item.metadata["flag"], "true");
        assert_eq!(item.metadata["score"], "2.5");
    }

    #[test]
    fn bad_ids_and_metadata_name_the_field() {
        let base = serde_json::json!({"prompt": "p", "chosen": "c", "rejected": "r"});
        for (field, value) in [
            ("id", Value::Bool(true)),
            ("id", Value::from(" ")),
            ("metadata", Value::from("x")),
        ] {
            let mut json = base.clone();
            json[field] = value;
            assert_eq!(read(json).unwrap_err().field.as_deref(), Some(field));
        }
        let mut json = base;
        json["chosen"] = Value::Null;
        let fault = read(json).unwrap_err();
        assert_eq!(fault.field.as_deref(), Some("chosen"));
        assert!(fault.reason.contains("response_chosen"), "{}", fault.reason);
    }
}
