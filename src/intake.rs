//! Intake: `tagbot import FILE` reads model suggestions as JSON Lines,
//! validates every line, and writes all of them or none.
//!
//! A line is `{"lecture_id", "tag_id", "score", "rationale", "model"}`. Every
//! problem in the file is reported at once, by line number, so a pipeline
//! author fixes the file in one pass. Suggestions already present (same
//! lecture and tag) are left as they are, so re-importing a file changes
//! nothing.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::domain::{LectureId, Score, TagId};
use crate::storage::suggestions::{self, NewSuggestion};
use crate::storage::{self, catalogue};

/// Rows per INSERT statement; all statements share one transaction.
const INSERT_CHUNK: usize = 5_000;

/// The longest line read, in bytes: a suggestion's rationale is a few
/// sentences, and a runaway line must not be read into memory whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest model name, in characters: it is part of calibration's key
/// (an index entry), which the database also limits (migration 0014).
pub const MAX_MODEL_CHARS: usize = 200;

/// One valid line of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingSuggestion {
    pub line: usize,
    pub lecture: LectureId,
    pub tag: TagId,
    pub score: Score,
    pub rationale: String,
    pub model: String,
}

/// A line that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineProblem {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportReport {
    /// Suggestion lines read (blank lines are not counted).
    pub suggestions: usize,
    pub inserted: u64,
    /// Lines whose lecture and tag already had a suggestion.
    pub unchanged: u64,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} suggestion(s) read: {} imported, {} already present and left unchanged",
            self.suggestions, self.inserted, self.unchanged
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} has no suggestions in it", .0.display())]
    Empty(PathBuf),
    #[error("nothing was imported: {} of {lines} line(s) have problems:\n{}", .problems.len(), list(.problems))]
    Invalid {
        lines: usize,
        problems: Vec<LineProblem>,
    },
    #[error("database error during import (nothing was imported): {0}")]
    Database(#[from] storage::Error),
}

fn list(problems: &[LineProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Imports the JSON Lines file at `path`.
pub async fn import_file(pool: &PgPool, path: &Path) -> Result<ImportReport, ImportError> {
    let read_error = |source| ImportError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let (suggestions, mut problems, lines) =
        parse_lines(std::io::BufReader::new(file)).map_err(read_error)?;
    if suggestions.is_empty() && problems.is_empty() {
        return Err(ImportError::Empty(path.to_owned()));
    }
    problems.extend(unknown_references(pool, &suggestions).await?);
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(ImportError::Invalid { lines, problems });
    }
    insert_all(pool, &suggestions).await
}

/// Parses every line, returning the valid suggestions, the problems, and the
/// number of lines read. Fails only when the reader itself fails.
pub fn parse_lines(
    mut reader: impl BufRead,
) -> std::io::Result<(Vec<IncomingSuggestion>, Vec<LineProblem>, usize)> {
    let mut suggestions = Vec::new();
    let mut problems = Vec::new();
    let mut first_line_of: HashMap<(LectureId, TagId), usize> = HashMap::new();
    let mut buffer = Vec::new();
    let mut line = 0;
    loop {
        buffer.clear();
        let limit = u64::try_from(MAX_LINE_BYTES).unwrap_or(u64::MAX) + 1;
        if Read::take(&mut reader, limit).read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        line += 1;
        if buffer.len() > MAX_LINE_BYTES && buffer.last() != Some(&b'\n') {
            // The rest of the line is passed over unread into memory.
            reader.skip_until(b'\n')?;
            problems.push(LineProblem {
                line,
                reason: format!(
                    "longer than {MAX_LINE_BYTES} bytes, the limit for one suggestion (shorten its rationale)"
                ),
            });
            continue;
        }
        let bytes = if line == 1 {
            buffer.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&buffer)
        } else {
            &buffer
        };
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text.trim(),
            Err(_) => {
                problems.push(LineProblem {
                    line,
                    reason: "not valid UTF-8".to_owned(),
                });
                continue;
            }
        };
        if text.is_empty() {
            continue;
        }
        match parse_line(line, text) {
            Ok(suggestion) => {
                let key = (suggestion.lecture.clone(), suggestion.tag.clone());
                if let Some(first) = first_line_of.get(&key) {
                    problems.push(LineProblem {
                        line,
                        reason: format!(
                            "repeats lecture {:?} and tag {:?} of line {first}",
                            key.0.as_str(),
                            key.1.as_str()
                        ),
                    });
                } else {
                    first_line_of.insert(key, line);
                    suggestions.push(suggestion);
                }
            }
            Err(reasons) => problems.push(LineProblem {
                line,
                reason: reasons.join("; "),
            }),
        }
    }
    Ok((suggestions, problems, line))
}

/// One line, or every reason it is wrong.
fn parse_line(line: usize, text: &str) -> Result<IncomingSuggestion, Vec<String>> {
    let value: Value =
        serde_json::from_str(text).map_err(|err| vec![format!("not valid JSON ({err})")])?;
    let Value::Object(object) = value else {
        return Err(vec!["expected a JSON object".to_owned()]);
    };
    let mut reasons = Vec::new();
    let lecture = id_field(&object, "lecture_id", LectureId::parse, &mut reasons);
    let tag = id_field(&object, "tag_id", TagId::parse, &mut reasons);
    let score = match object.get("score") {
        None | Some(Value::Null) => {
            reasons.push("missing field score".to_owned());
            None
        }
        Some(Value::Number(n)) => match n.as_f64().map(Score::new) {
            Some(Ok(score)) => Some(score),
            _ => {
                reasons.push(format!("score {n} is outside 0..1"));
                None
            }
        },
        Some(other) => {
            reasons.push(format!("score must be a number, got {}", kind(other)));
            None
        }
    };
    let rationale = text_field(&object, "rationale", &mut reasons)
        .and_then(|raw| storable(raw, "rationale", &mut reasons))
        .map(str::to_owned);
    let model = text_field(&object, "model", &mut reasons)
        .and_then(|raw| storable(raw, "model", &mut reasons))
        .and_then(|raw| model_name(raw, &mut reasons));
    match (lecture, tag, score, rationale, model) {
        (Some(lecture), Some(tag), Some(score), Some(rationale), Some(model)) => {
            Ok(IncomingSuggestion {
                line,
                lecture,
                tag,
                score,
                rationale,
                model,
            })
        }
        _ => Err(reasons),
    }
}

/// The id in field `name`, parsed, or the reasons it is not one.
fn id_field<T>(
    object: &Map<String, Value>,
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, crate::domain::IdError>,
    reasons: &mut Vec<String>,
) -> Option<T> {
    let raw = text_field(object, name, reasons)?;
    let raw = visible(name, raw, reasons)?;
    parse(raw)
        .map_err(|e| reasons.push(format!("{name}: {e}")))
        .ok()
}

/// An id, unless it holds an invisible formatting character (a zero-width
/// space, a direction mark): it would look right and match nothing.
fn visible<'a>(name: &str, id: &'a str, reasons: &mut Vec<String>) -> Option<&'a str> {
    match id.chars().find(|c| crate::domain::is_invisible_format(*c)) {
        Some(c) => {
            reasons.push(format!(
                "{name} contains an invisible formatting character (U+{:04X}, such as a zero-width space or a direction mark)",
                u32::from(c)
            ));
            None
        }
        None => Some(id),
    }
}

/// `text`, unless it holds a NUL character, which Postgres text cannot
/// store (the whole import would fail on it).
fn storable<'a>(text: &'a str, name: &str, reasons: &mut Vec<String>) -> Option<&'a str> {
    if text.contains('\0') {
        reasons.push(format!(
            "{name} contains a NUL character (\\u0000), which the database cannot store"
        ));
        return None;
    }
    Some(text)
}

/// A model's name: not empty, at most [`MAX_MODEL_CHARS`], no control or
/// invisible formatting characters (it is shown to reviewers and keys
/// calibration).
fn model_name(raw: &str, reasons: &mut Vec<String>) -> Option<String> {
    let model = raw.trim();
    let problem = if model.is_empty() {
        Some("model is empty".to_owned())
    } else if model.chars().count() > MAX_MODEL_CHARS {
        Some(format!(
            "model is longer than {MAX_MODEL_CHARS} characters ({})",
            model.chars().count()
        ))
    } else if model
        .chars()
        .any(|c| c.is_control() || crate::domain::is_invisible_format(c))
    {
        Some("model contains a control or invisible formatting character".to_owned())
    } else {
        None
    };
    match problem {
        Some(problem) => {
            reasons.push(problem);
            None
        }
        None => Some(model.to_owned()),
    }
}

fn text_field<'a>(
    object: &'a Map<String, Value>,
    name: &str,
    reasons: &mut Vec<String>,
) -> Option<&'a str> {
    match object.get(name) {
        None | Some(Value::Null) => {
            reasons.push(format!("missing field {name}"));
            None
        }
        Some(Value::String(text)) => Some(text),
        Some(other) => {
            reasons.push(format!("{name} must be a string, got {}", kind(other)));
            None
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Lines naming a lecture or tag the catalogue does not have.
async fn unknown_references(
    pool: &PgPool,
    suggestions: &[IncomingSuggestion],
) -> Result<Vec<LineProblem>, storage::Error> {
    let lectures: BTreeSet<&str> = suggestions.iter().map(|s| s.lecture.as_str()).collect();
    let tags: BTreeSet<&str> = suggestions.iter().map(|s| s.tag.as_str()).collect();
    let known_lectures =
        catalogue::known_lectures(pool, &lectures.into_iter().collect::<Vec<_>>()).await?;
    let known_tags = catalogue::known_tags(pool, &tags.into_iter().collect::<Vec<_>>()).await?;
    Ok(suggestions
        .iter()
        .filter_map(|s| {
            let mut reasons = Vec::new();
            if !known_lectures.contains(s.lecture.as_str()) {
                reasons.push(format!("unknown lecture {:?}", s.lecture.as_str()));
            }
            if !known_tags.contains(s.tag.as_str()) {
                reasons.push(format!("unknown tag {:?}", s.tag.as_str()));
            }
            (!reasons.is_empty()).then(|| LineProblem {
                line: s.line,
                reason: reasons.join("; "),
            })
        })
        .collect())
}

async fn insert_all(
    pool: &PgPool,
    suggestions: &[IncomingSuggestion],
) -> Result<ImportReport, ImportError> {
    let mut tx = storage::begin(pool).await?;
    let mut inserted = 0;
    for chunk in suggestions.chunks(INSERT_CHUNK) {
        let rows: Vec<NewSuggestion<'_>> = chunk
            .iter()
            .map(|s| NewSuggestion {
                lecture: s.lecture.as_str(),
                tag: s.tag.as_str(),
                score: s.score.get(),
                rationale: s.rationale.as_str(),
                model: s.model.as_str(),
            })
            .collect();
        inserted += suggestions::insert_pending(&mut tx, &rows).await?;
    }
    storage::commit(tx).await?;
    let total = u64::try_from(suggestions.len()).unwrap_or(u64::MAX);
    Ok(ImportReport {
        suggestions: suggestions.len(),
        inserted,
        unchanged: total.saturating_sub(inserted),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<IncomingSuggestion>, Vec<LineProblem>, usize) {
        parse_lines(text.as_bytes()).unwrap()
    }

    #[test]
    fn a_good_line_with_hebrew_and_a_bom_parses() {
        let (ok, problems, lines) = parse(
            "\u{feff}{\"lecture_id\":\"L1\",\"tag_id\":\"t-1\",\"score\":0.9,\"rationale\":\"על היסטוריה\",\"model\":\"m\"}\n\n",
        );
        assert_eq!(problems, vec![]);
        assert_eq!(lines, 2);
        assert_eq!(ok[0].lecture.as_str(), "L1");
        assert_eq!(ok[0].rationale, "על היסטוריה");
    }

    #[test]
    fn every_problem_of_a_line_is_named() {
        let (ok, problems, _) = parse("{\"lecture_id\":7,\"score\":1.5,\"model\":\"\"}\n");
        assert!(ok.is_empty());
        assert_eq!(
            problems[0].reason,
            "lecture_id must be a string, got a number; missing field tag_id; score 1.5 is outside 0..1; missing field rationale; model is empty"
        );
    }

    #[test]
    fn bad_json_non_objects_and_repeats_are_reported_by_line() {
        let good = r#"{"lecture_id":"L1","tag_id":"t","score":0.5,"rationale":"","model":"m"}"#;
        let text = format!("{good}\nnot json\n[1]\n{good}\n");
        let (ok, problems, lines) = parse(&text);
        assert_eq!(ok.len(), 1);
        assert_eq!(lines, 4);
        let lines_with_problems: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines_with_problems, vec![2, 3, 4]);
        assert!(problems[0].reason.starts_with("not valid JSON"));
        assert_eq!(problems[1].reason, "expected a JSON object");
        assert!(problems[2].reason.contains("of line 1"));
    }

    #[test]
    fn a_nul_a_long_model_and_an_invisible_id_character_are_line_problems() {
        let long_model = "m".repeat(MAX_MODEL_CHARS + 1);
        let text = format!(
            "{}\n{}\n{}\n{}\n",
            r#"{"lecture_id":"L1","tag_id":"t","score":0.5,"rationale":"a\u0000b","model":"m"}"#,
            format_args!(
                r#"{{"lecture_id":"L2","tag_id":"t","score":0.5,"rationale":"","model":"{long_model}"}}"#
            ),
            "{\"lecture_id\":\"L3\u{200B}\",\"tag_id\":\"t\",\"score\":0.5,\"rationale\":\"\",\"model\":\"m\"}",
            r#"{"lecture_id":"L4","tag_id":"t","score":0.5,"rationale":"","model":"m\u0000"}"#,
        );
        let (ok, problems, lines) = parse(&text);
        assert!(ok.is_empty(), "{ok:?}");
        assert_eq!(lines, 4);
        let reasons: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                (1, "rationale contains a NUL character (\\u0000), which the database cannot store"),
                (2, "model is longer than 200 characters (201)"),
                (3, "lecture_id contains an invisible formatting character (U+200B, such as a zero-width space or a direction mark)"),
                (4, "model contains a NUL character (\\u0000), which the database cannot store"),
            ]
        );
    }

    #[test]
    fn a_line_past_the_limit_is_refused_by_number_and_the_next_still_read() {
        let good = r#"{"lecture_id":"L1","tag_id":"t","score":0.5,"rationale":"","model":"m"}"#;
        let huge = format!(
            r#"{{"lecture_id":"L2","tag_id":"t","score":0.5,"rationale":"{}","model":"m"}}"#,
            "א".repeat(MAX_LINE_BYTES)
        );
        let (ok, problems, lines) = parse(&format!("{huge}\n{good}\n"));
        assert_eq!(lines, 2);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].line, 2);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 1);
        assert!(
            problems[0].reason.starts_with("longer than 65536 bytes"),
            "{}",
            problems[0].reason
        );
    }

    #[test]
    fn invalid_utf8_is_a_line_problem_not_a_failure() {
        let (_, problems, _) = parse_lines(&b"\xff\xfe\n"[..]).unwrap();
        assert_eq!(problems[0].reason, "not valid UTF-8");
    }
}
