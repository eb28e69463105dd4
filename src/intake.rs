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
use std::io::BufRead;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sqlx::PgPool;

use crate::domain::{LectureId, Score, TagId};
use crate::storage::catalogue;
use crate::storage::suggestions::{self, NewSuggestion};

/// Rows per INSERT statement; all statements share one transaction.
const INSERT_CHUNK: usize = 5_000;

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
    Database(#[from] sqlx::Error),
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
        if reader.read_until(b'\n', &mut buffer)? == 0 {
            break;
        }
        line += 1;
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
    let lecture = text_field(&object, "lecture_id", &mut reasons).and_then(|raw| {
        LectureId::parse(raw)
            .map_err(|e| reasons.push(format!("lecture_id: {e}")))
            .ok()
    });
    let tag = text_field(&object, "tag_id", &mut reasons).and_then(|raw| {
        TagId::parse(raw)
            .map_err(|e| reasons.push(format!("tag_id: {e}")))
            .ok()
    });
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
    let rationale = text_field(&object, "rationale", &mut reasons).map(str::to_owned);
    let model = text_field(&object, "model", &mut reasons).and_then(|raw| {
        let model = raw.trim();
        if model.is_empty() {
            reasons.push("model is empty".to_owned());
            None
        } else {
            Some(model.to_owned())
        }
    });
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
) -> Result<Vec<LineProblem>, sqlx::Error> {
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
    let mut tx = pool.begin().await?;
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
    tx.commit().await?;
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
    fn invalid_utf8_is_a_line_problem_not_a_failure() {
        let (_, problems, _) = parse_lines(&b"\xff\xfe\n"[..]).unwrap();
        assert_eq!(problems[0].reason, "not valid UTF-8");
    }
}
