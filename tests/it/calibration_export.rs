//! Calibration and the training-data export against a real database:
//! figures checked against a hand-computed set (a synced tag removed in
//! Airtable counting as not approved, too few decisions said so), and the
//! export matching the audit log row for row in JSON Lines and CSV, with
//! hostile text surviving both.

use std::collections::BTreeMap;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::calibration::{Calibration, Share, Threshold};
use tagbot::domain::{Author, LectureId, RejectReason, SuggestionId, Transition};
use tagbot::storage::drift;

use crate::helpers::{reviewer, TestDb};

/// A pending suggestion of `model`.
pub async fn suggestion_of(
    db: &TestDb,
    model: &str,
    lecture: &str,
    tag: &str,
    score: f64,
) -> SuggestionId {
    let id = db.suggestion(lecture, tag, score).await;
    sqlx::query("UPDATE lecture_tag_suggestions SET suggested_by = $2 WHERE id = $1")
        .bind(id.get())
        .bind(model)
        .execute(&db.admin)
        .await
        .unwrap();
    id
}

async fn decide(db: &TestDb, id: SuggestionId, approve: bool) {
    let actor = reviewer("U0CALIB", "Rotem");
    if approve {
        db.review().approve(id, &actor).await.unwrap();
    } else {
        db.review().reject(id, &actor).await.unwrap();
    }
}

/// Rejects suggestion `id` of `lecture` because of `reason`.
async fn reject_because(db: &TestDb, id: SuggestionId, lecture: &str, reason: RejectReason) {
    let actor = reviewer("U0CALIB", "Rotem");
    let lecture = LectureId::parse(lecture).unwrap();
    let decision = db
        .review()
        .decide_as(
            id,
            &lecture,
            Transition::Reject,
            Some(reason),
            &actor,
            false,
        )
        .await
        .unwrap();
    assert!(decision.is_applied(), "{decision:?}");
}

/// Records that someone removed synced suggestion `id` (on `lecture`/`tag`)
/// in Airtable, as the change stream does.
async fn removed_in_airtable(db: &TestDb, lecture: &str, tag: &str, name: &str, transaction: i64) {
    let by = Author {
        source: "client".into(),
        user_id: Some("usrX".into()),
        name: Some(name.into()),
        email: None,
    };
    let mut tx = db.app.begin().await.unwrap();
    let recorded = drift::record(
        &mut tx,
        "appTEST",
        &[drift::Removed {
            record_id: "recX",
            lecture,
            tag_id: tag,
            by: &by,
            at: chrono::Utc::now(),
            transaction,
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(recorded, 1);
}

#[sqlx::test]
async fn calibration_matches_a_hand_computed_set(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    // test-model, tag a: 40 at 0.90 (38 approved), 20 at 0.50 (none).
    // Of the 22 rejected, 7 with a reason: at 0.90 one too broad; at 0.50
    // five wrong topic and one duplicate.
    for n in 0..40 {
        let lecture = format!("A{n:02}");
        let id = suggestion_of(&db, "test-model", &lecture, "a", 0.90).await;
        match n {
            0 => reject_because(&db, id, &lecture, RejectReason::TooBroad).await,
            _ => decide(&db, id, n >= 2).await,
        }
    }
    for n in 0..20 {
        let lecture = format!("B{n:02}");
        let id = suggestion_of(&db, "test-model", &lecture, "a", 0.50).await;
        match n {
            0..5 => reject_because(&db, id, &lecture, RejectReason::WrongTopic).await,
            5 => reject_because(&db, id, &lecture, RejectReason::Duplicate).await,
            _ => decide(&db, id, false).await,
        }
    }
    // Tag b: 3 at 0.30 approved and synced; people removed one in Airtable.
    for n in 0..3 {
        let lecture = format!("C{n:02}");
        let id = suggestion_of(&db, "test-model", &lecture, "b", 0.30).await;
        decide(&db, id, true).await;
        db.force_status(id, "synced", "worker").await.unwrap();
        if n == 0 {
            removed_in_airtable(&db, &lecture, "b", "דנה", 1).await;
        }
    }
    // Not decided: not counted. Failed to sync, then retried: still one
    // approval.
    suggestion_of(&db, "test-model", "D00", "a", 0.99).await;
    let retried = suggestion_of(&db, "test-model", "D01", "b", 0.30).await;
    db.fail_as_worker(retried, "server: 503").await;
    db.force_status(retried, "approved", "cli:test")
        .await
        .unwrap();
    // Another model with 5 decisions.
    for n in 0..5 {
        let id = suggestion_of(&db, "other-model", &format!("E{n:02}"), "a", 0.70).await;
        decide(&db, id, true).await;
    }

    let calibration = Calibration::load(&db.app, 0.95).await.unwrap();

    let [other, test] = calibration.models.as_slice() else {
        panic!("two models: {calibration:#?}");
    };
    assert_eq!(other.model, "other-model");
    assert_eq!(
        other.threshold,
        Threshold::NotEnough {
            decisions: 5,
            needed: 30
        }
    );
    assert_eq!(
        test.share,
        Share {
            decisions: 64,
            approved: 41
        },
        "38 + 2 not removed + the retried one"
    );
    // At or above 0.51 only the 0.90s remain: 38 of 40 = 95%, the target.
    let Threshold::At { score, share } = test.threshold else {
        panic!("{:?}", test.threshold);
    };
    assert!((score - 0.51).abs() < 1e-9, "{score}");
    assert_eq!(
        share,
        Share {
            decisions: 40,
            approved: 38
        }
    );
    assert_eq!(
        test.bands[18].share,
        Share {
            decisions: 40,
            approved: 38
        }
    );
    assert_eq!(
        test.bands[10].share,
        Share {
            decisions: 20,
            approved: 0
        }
    );
    assert_eq!(
        test.bands[6].share,
        Share {
            decisions: 4,
            approved: 3
        }
    );
    assert_eq!(test.bands[0].share, Share::default());
    assert_eq!(test.tags.len(), 1, "only tag a has 30 decisions");
    let reasons = test.reject_reasons;
    assert_eq!(
        RejectReason::ALL.map(|r| reasons.of(r)),
        [5, 1, 0, 1, 0],
        "{reasons:?}"
    );
    assert_eq!(reasons.none, 15, "22 rejected, 7 with a reason");
    assert_eq!(test.tags[0].reject_reasons, reasons, "all of them on tag a");
    assert_eq!(other.reject_reasons.rejected(), 0);
    // The counts the triggers kept are what a recount from the
    // suggestions finds.
    let kept = counts(&db).await;
    sqlx::query("SELECT tagbot_calibration_recount()")
        .execute(&db.admin)
        .await
        .unwrap();
    assert_eq!(kept, counts(&db).await);
    assert_eq!(test.tags[0].tag_id, "a");
    assert_eq!(test.tags[0].tag_name, "תגית a", "the catalogue's name");
    assert_eq!(
        calibration.beside_threshold(0.88).as_deref(),
        Some("95% approved at this score, 40 decisions")
    );

    let text = db.tagbot(&["report", "--calibration"]).await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("recommended threshold: 0.51 (95% approved at or above it, 40 decisions)"),
        "{text}"
    );
    assert!(
        text.contains("    by score: 0.90–0.95: 40 (95%, 83%–99%); 0.50–0.55: 20 (0%, 0%–16%)"),
        "{text}"
    );
    assert!(
        text.contains("not enough decisions yet (5 of the 30 needed)"),
        "{text}"
    );
    let why =
        "rejected 22: wrong topic 5 · too broad 1 · duplicate of another tag 1 · no reason 15";
    assert!(
        text.contains(&format!("\n  {why}\n")),
        "the model's: {text}"
    );
    assert!(text.contains(&format!("\n    {why}\n")), "tag a's: {text}");
    assert_eq!(
        text.matches("rejected ").count(),
        2,
        "other-model rejected nothing: {text}"
    );
    let png = std::env::temp_dir().join(format!("tagbot-chart-{}.png", rand::random::<u64>()));
    let url = db.app_url();
    let path = png.clone();
    let charted = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
            .args(["report", "--calibration", "--png"])
            .arg(&path)
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        charted.status.success(),
        "{}",
        String::from_utf8_lossy(&charted.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    std::fs::remove_file(&png).unwrap();
    let chart = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
    assert_eq!(
        (chart.width(), chart.height()),
        (tagbot::chart::WIDTH, tagbot::chart::HEIGHT)
    );
    let json = db.tagbot(&["report", "--calibration", "--json"]).await;
    let json: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(json["models"][1]["threshold"]["kind"], "at");
    assert_eq!(json["target"], 0.95);
    let expected = serde_json::json!({
        "wrong_topic": 5, "too_broad": 1, "too_narrow": 0, "duplicate": 1, "other": 0, "none": 15,
    });
    assert_eq!(json["models"][1]["reject_reasons"], expected);
    assert_eq!(json["models"][1]["tags"][0]["reject_reasons"], expected);
    assert_eq!(
        json["models"][0]["reject_reasons"],
        serde_json::json!({
            "wrong_topic": 0, "too_broad": 0, "too_narrow": 0, "duplicate": 0, "other": 0, "none": 0,
        }),
        "all five keys and none, even at zero"
    );
    db.close().await;
}

/// A bin's kept counts: model, tag, bin, then decisions, approved, synced
/// and the five reasons' counts.
type KeptBin = (String, String, i32, Vec<i64>);

/// Calibration's counts as kept, without the rows that count nothing.
pub async fn counts(db: &TestDb) -> Vec<KeptBin> {
    sqlx::query_as(
        "SELECT model, tag_id, bin,
                ARRAY[decisions, approved, synced, wrong_topic, too_broad, too_narrow, duplicate, other]
         FROM calibration_bins
         WHERE decisions > 0 ORDER BY 1, 2, 3",
    )
    .fetch_all(&db.app)
    .await
    .unwrap()
}

const HOSTILE_TITLE: &str = "He said \"hi\", then\nleft; =SUM(A1) <!channel>";
const HOSTILE_RATIONALE: &str = "line one,\r\nline \"two\"\t<@U123> *bold*";

/// Runs `tagbot export` with `args` into a file; returns the file's text.
pub async fn export_to_file(db: &TestDb, args: &[&str]) -> (std::process::Output, String) {
    let dir = std::env::temp_dir().join(format!("tagbot-export-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out");
    let mut all: Vec<String> = vec!["export".into()];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    all.push(file.display().to_string());
    let url = db.app_url();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
            .args(&all)
            .env("DATABASE_URL", url)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let leftovers = std::fs::read_dir(&dir).unwrap().count();
    assert!(leftovers <= 1, "no partial file is left behind");
    std::fs::remove_dir_all(&dir).unwrap();
    (output, text)
}

/// (suggestion, action, actor, actor name, decided at, synced at).
type AuditRow = (i64, String, String, Option<String>, String, Option<String>);

/// The audit log's view of each decided suggestion: the last approve or
/// reject event (decision, actor, name, time) and the last sync_ok time.
async fn audit_log(db: &TestDb) -> BTreeMap<i64, Value> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT d.suggestion_id, d.action, d.actor, d.actor_name,
                to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'),
                (SELECT to_char(max(e.created_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')
                 FROM events e WHERE e.suggestion_id = d.suggestion_id AND e.action = 'sync_ok')
         FROM (SELECT DISTINCT ON (suggestion_id) * FROM events
               WHERE action IN ('approve', 'reject') ORDER BY suggestion_id, id DESC) d",
    )
    .fetch_all(&db.app)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(id, action, actor, name, at, synced)| {
            let decision = if action == "approve" {
                "approved"
            } else {
                "rejected"
            };
            (
                id,
                serde_json::json!({
                    "decision": decision, "reviewer": actor, "reviewer_name": name,
                    "decided_at": at, "synced_at": synced,
                }),
            )
        })
        .collect()
}

/// A time as the export writes it, to microseconds, for comparing.
fn micros(text: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.6f")
        .to_string()
}

#[sqlx::test]
async fn the_export_matches_the_audit_log_row_for_row_in_both_formats(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    sqlx::query("INSERT INTO enriched_lectures (lecture_external_id, title) VALUES ('L1', $1)")
        .bind(HOSTILE_TITLE)
        .execute(&db.admin)
        .await
        .unwrap();
    let eve = reviewer("U0EVE", "Eve, \"the\" reviewer\n");
    let approved = db.suggestion("L1", "a", 0.91).await;
    db.review().approve(approved, &eve).await.unwrap();
    let rejected = db.suggestion("L1", "b", 0.42).await;
    db.review().reject(rejected, &eve).await.unwrap();
    let synced = db.suggestion("L2", "a", 0.88).await;
    db.review().approve(synced, &eve).await.unwrap();
    db.force_status(synced, "synced", "worker").await.unwrap();
    removed_in_airtable(&db, "L2", "a", "דנה", 7).await;
    let failed = db.suggestion("L3", "c", 0.77).await;
    db.fail_as_worker(failed, "tag_missing: c").await;
    let _pending = db.suggestion("L4", "a", 0.99).await;
    sqlx::query("UPDATE lecture_tag_suggestions SET rationale = $1")
        .bind(HOSTILE_RATIONALE)
        .execute(&db.admin)
        .await
        .unwrap();
    let log = audit_log(&db).await;
    assert_eq!(log.len(), 4);

    let (csv_run, csv_text) = export_to_file(&db, &["--format", "csv"]).await;
    let (json_run, json_text) = export_to_file(&db, &["--format", "jsonl"]).await;

    assert!(
        csv_run.status.success(),
        "{}",
        String::from_utf8_lossy(&csv_run.stderr)
    );
    assert!(
        json_run.status.success(),
        "{}",
        String::from_utf8_lossy(&json_run.stderr)
    );
    assert!(String::from_utf8_lossy(&csv_run.stderr).contains("exported 4 decided suggestion(s)"));
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let csv_rows: Vec<BTreeMap<String, String>> =
        reader.deserialize().map(Result::unwrap).collect();
    let json_rows: Vec<Value> = json_text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(csv_rows.len(), 4);
    assert_eq!(json_rows.len(), 4);
    for (csv_row, json_row) in csv_rows.iter().zip(&json_rows) {
        let id: i64 = csv_row["suggestion_id"].parse().unwrap();
        assert_eq!(json_row["suggestion_id"], id, "the same order");
        let want = &log[&id];
        for field in ["decision", "reviewer"] {
            assert_eq!(
                csv_row[field],
                want[field].as_str().unwrap(),
                "{field} of {id}"
            );
            assert_eq!(json_row[field], want[field], "{field} of {id}");
        }
        assert_eq!(json_row["reviewer_name"], want["reviewer_name"]);
        assert_eq!(
            micros(&csv_row["decided_at"]),
            want["decided_at"].as_str().unwrap()
        );
        assert_eq!(
            micros(json_row["decided_at"].as_str().unwrap()),
            want["decided_at"].as_str().unwrap()
        );
        match want["synced_at"].as_str() {
            Some(at) => assert_eq!(micros(&csv_row["synced_at"]), at),
            None => assert_eq!(csv_row["synced_at"], ""),
        }
        assert_eq!(
            csv_row["rationale"], HOSTILE_RATIONALE,
            "quoted, not mangled"
        );
        assert_eq!(json_row["rationale"], HOSTILE_RATIONALE);
    }
    let first = &csv_rows[0];
    assert_eq!(first["lecture_title"], HOSTILE_TITLE);
    assert!(
        first["reviewer_name"].starts_with("Eve, \"the\" reviewer"),
        "{first:?}"
    );
    let removed = json_rows
        .iter()
        .find(|r| r["suggestion_id"] == synced.get())
        .unwrap();
    assert_eq!(removed["removed_in_airtable_by"], "דנה");
    assert_eq!(removed["status"], "synced");
    let failed_row = json_rows
        .iter()
        .find(|r| r["suggestion_id"] == failed.get())
        .unwrap();
    assert_eq!(
        (
            failed_row["decision"].as_str(),
            failed_row["status"].as_str()
        ),
        (Some("approved"), Some("failed"))
    );

    // Since tomorrow: nothing, but the CSV still says what it holds.
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let (run, text) = export_to_file(&db, &["--format", "csv", "--since", &tomorrow]).await;
    assert!(run.status.success());
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.starts_with("suggestion_id,lecture_id,"));
    // A date that is not one is refused, and nothing is written.
    let (run, text) = export_to_file(&db, &["--since", "last week"]).await;
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("YYYY-MM-DD"));
    assert!(text.is_empty());
    db.close().await;
}
