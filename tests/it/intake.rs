//! `import`: validation of every line against the catalogue, all or nothing.

use std::io::Write;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::intake::{import_file, ImportError};

use crate::helpers::TestDb;

fn file_with(lines: &[&str]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file
}

async fn catalogue(db: &TestDb) {
    db.lecture("L1", "מבוא לפילוסופיה").await;
    db.lecture("L2", "Jazz, \"live\"").await;
    db.tag("phil", "פילוסופיה").await;
    db.tag("music", "מוזיקה").await;
}

const GOOD_1: &str = r#"{"lecture_id":"L1","tag_id":"phil","score":0.93,"rationale":"דן בסוקרטס","model":"tagger-v2"}"#;
const GOOD_2: &str =
    r#"{"lecture_id":"L2","tag_id":"music","score":0.88,"rationale":"","model":"tagger-v2"}"#;

#[sqlx::test]
async fn a_file_with_any_bad_line_writes_nothing_and_names_every_bad_line(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    catalogue(&db).await;
    let file = file_with(&[
        GOOD_1,
        r#"{"lecture_id":"L9","tag_id":"phil","score":0.5,"rationale":"","model":"m"}"#,
        r#"{"lecture_id":"L1","tag_id":"art","score":0.5,"rationale":"","model":"m"}"#,
        r#"{"lecture_id":"L1","tag_id":"music","score":1.2,"rationale":"","model":"m"}"#,
        r#"{"lecture_id":"L2","tag_id":"phil","rationale":"","model":"m"}"#,
        "{not json",
        "",
        GOOD_2,
    ]);
    let err = import_file(&db.app, file.path()).await.unwrap_err();
    let ImportError::Invalid { lines, problems } = &err else {
        panic!("expected invalid, got {err}");
    };
    assert_eq!(*lines, 8);
    let found: Vec<(usize, &str)> = problems
        .iter()
        .map(|p| (p.line, p.reason.as_str()))
        .collect();
    assert_eq!(found.len(), 5, "{err}");
    assert_eq!(found[0], (2, "unknown lecture \"L9\""));
    assert_eq!(found[1], (3, "unknown tag \"art\""));
    assert_eq!(found[2], (4, "score 1.2 is outside 0..1"));
    assert_eq!(found[3], (5, "missing field score"));
    assert_eq!(found[4].0, 6);
    assert!(found[4].1.starts_with("not valid JSON"));
    assert!(err
        .to_string()
        .starts_with("nothing was imported: 5 of 8 line(s) have problems:"));
    assert_eq!(
        db.count("SELECT count(*) FROM lecture_tag_suggestions")
            .await,
        0
    );
    db.close().await;
}

#[sqlx::test]
async fn a_good_file_imports_once_and_reimporting_changes_nothing(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    catalogue(&db).await;
    let file = file_with(&[GOOD_1, GOOD_2]);
    let first = import_file(&db.app, file.path()).await.unwrap();
    assert_eq!(
        (first.suggestions, first.inserted, first.unchanged),
        (2, 2, 0)
    );
    let rows: Vec<(String, String, f64, String, String, String)> = sqlx::query_as(
        "SELECT lecture_external_id, tag_id, score, rationale, suggested_by, status
         FROM lecture_tag_suggestions ORDER BY lecture_external_id",
    )
    .fetch_all(&db.app)
    .await
    .unwrap();
    assert_eq!(
        rows[0],
        (
            "L1".into(),
            "phil".into(),
            0.93,
            "דן בסוקרטס".into(),
            "tagger-v2".into(),
            "pending".into()
        )
    );

    let before: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT id, updated_at FROM lecture_tag_suggestions ORDER BY id")
            .fetch_all(&db.app)
            .await
            .unwrap();
    let second = import_file(&db.app, file.path()).await.unwrap();
    assert_eq!((second.inserted, second.unchanged), (0, 2));
    assert_eq!(
        second.to_string(),
        "2 suggestion(s) read: 0 imported, 2 already present and left unchanged"
    );
    let after: Vec<(i64, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT id, updated_at FROM lecture_tag_suggestions ORDER BY id")
            .fetch_all(&db.app)
            .await
            .unwrap();
    assert_eq!(before, after);
    assert_eq!(db.count("SELECT count(*) FROM events").await, 0);
    db.close().await;
}

#[sqlx::test]
async fn an_empty_or_missing_file_is_refused(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let empty = file_with(&["", "  "]);
    let err = import_file(&db.app, empty.path()).await.unwrap_err();
    assert!(matches!(err, ImportError::Empty(_)), "{err}");
    let err = import_file(
        &db.app,
        std::path::Path::new("/nonexistent/suggestions.jsonl"),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/suggestions.jsonl"),
        "{err}"
    );
    db.close().await;
}

/// A NUL in a rationale, a model name of kilobytes and a zero-width space
/// in an id are refused by line, and nothing is written; the database
/// refuses the long model name to a direct INSERT too (it would make every
/// decision on it fail inside the calibration trigger).
#[sqlx::test]
async fn nul_characters_huge_model_names_and_invisible_ids_are_refused_by_line(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    catalogue(&db).await;
    let long_model = format!(
        r#"{{"lecture_id":"L2","tag_id":"music","score":0.5,"rationale":"","model":"{}"}}"#,
        "מודל".repeat(1_000)
    );
    let file = file_with(&[
        GOOD_1,
        r#"{"lecture_id":"L2","tag_id":"phil","score":0.5,"rationale":"x\u0000y","model":"m"}"#,
        &long_model,
        "{\"lecture_id\":\"L1\u{200B}\",\"tag_id\":\"music\",\"score\":0.5,\"rationale\":\"\",\"model\":\"m\"}",
    ]);
    let err = import_file(&db.app, file.path()).await.unwrap_err();
    let ImportError::Invalid { problems, .. } = &err else {
        panic!("expected line problems, got {err}");
    };
    let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![2, 3, 4], "{err}");
    assert!(problems[0].reason.contains("NUL"), "{err}");
    assert!(problems[1].reason.contains("longer than 200"), "{err}");
    assert!(problems[2].reason.contains("U+200B"), "{err}");
    assert_eq!(
        db.count("SELECT count(*) FROM lecture_tag_suggestions")
            .await,
        0
    );

    let direct = sqlx::query(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, suggested_by)
         VALUES ('L1', 'phil', 0.5, repeat('m', 201))",
    )
    .execute(&db.app)
    .await
    .expect_err("the database refuses a model name past 200 characters");
    assert!(
        direct
            .to_string()
            .contains("has 1 to 200 characters, not 201"),
        "{direct}"
    );

    // A row already there with such a name (written before the limit) still
    // moves through the state machine: only writing a name is checked.
    let mut owner = db.admin.begin().await.unwrap();
    sqlx::query("ALTER TABLE lecture_tag_suggestions DISABLE TRIGGER sugg_guard")
        .execute(&mut *owner)
        .await
        .unwrap();
    let old: i64 = sqlx::query_scalar(
        "INSERT INTO lecture_tag_suggestions (lecture_external_id, tag_id, score, suggested_by)
         VALUES ('L1', 'phil', 0.5, repeat('m', 300)) RETURNING id",
    )
    .fetch_one(&mut *owner)
    .await
    .unwrap();
    sqlx::query("ALTER TABLE lecture_tag_suggestions ENABLE TRIGGER sugg_guard")
        .execute(&mut *owner)
        .await
        .unwrap();
    owner.commit().await.unwrap();
    let old = tagbot::domain::SuggestionId::new(old).unwrap();
    db.review()
        .reject(old, &crate::helpers::reviewer("U1", "דנה"))
        .await
        .unwrap();
    assert_eq!(db.status(old).await, "rejected");
    db.close().await;
}
