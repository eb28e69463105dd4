//! The reporting half of reject reasons, through the review operations:
//! the export's `reject_reason` (JSON Lines and CSV), calibration's counts
//! by reason (with the rest counted as "none"), both leaving a reason an
//! undo took back, and `/tags stats` naming them per model. The report's
//! text and `--json`: `calibration_export.rs`; the database's own rules:
//! `reasons_database.rs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::calibration::{Calibration, RejectReasons};
use tagbot::config::ReviewSettings;
use tagbot::domain::{Actor, LectureId, RejectReason, SuggestionId, Transition};
use tagbot::review::{Review, UndoAs};

use crate::calibration_export::{counts, export_to_file, suggestion_of};
use crate::helpers::{reviewer, TestDb};
use crate::slack_world::SlackWorld;

fn lecture(id: &str) -> LectureId {
    LectureId::parse(id).unwrap()
}

fn dana() -> Actor {
    reviewer("U0DANA0001", "דנה")
}

/// The review operations with a window long enough to undo in.
fn with_window(db: &TestDb) -> Review {
    db.review_with(ReviewSettings {
        undo_window: Duration::from_secs(30),
        ..ReviewSettings::default()
    })
}

async fn reject_because(review: &Review, id: SuggestionId, on: &str, reason: RejectReason) {
    let decision = review
        .decide_as(
            id,
            &lecture(on),
            Transition::Reject,
            Some(reason),
            &dana(),
            false,
        )
        .await
        .unwrap();
    assert!(decision.is_applied(), "{decision:?}");
}

async fn undo(review: &Review, id: SuggestionId, on: &str) {
    let undo = review
        .undo(&lecture(on), id, &dana(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(undo.undone_count(), 1, "{undo:?}");
}

/// One exported example's decision and reason, as JSON Lines and CSV
/// give them.
#[derive(Debug, PartialEq)]
struct Exported {
    decision: String,
    /// JSON Lines: the key is always there, `null` when there is no reason.
    json: Value,
    /// CSV: empty when there is no reason.
    csv: String,
}

/// Exports in both formats; each example's decision and reason by id.
async fn exported(db: &TestDb) -> BTreeMap<i64, Exported> {
    let (run, csv_text) = export_to_file(db, &["--format", "csv"]).await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (run, json_text) = export_to_file(db, &["--format", "jsonl"]).await;
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let header = csv_text.lines().next().unwrap_or_default();
    assert!(
        header.contains(",decision,reject_reason,reviewer,"),
        "the reason beside the decision: {header}"
    );
    let mut csv_reasons: BTreeMap<i64, String> = BTreeMap::new();
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    for row in reader.deserialize::<BTreeMap<String, String>>() {
        let row = row.unwrap();
        csv_reasons.insert(
            row["suggestion_id"].parse().unwrap(),
            row["reject_reason"].clone(),
        );
    }
    let mut examples = BTreeMap::new();
    for line in json_text.lines() {
        let row: Value = serde_json::from_str(line).unwrap();
        assert!(
            row.as_object().unwrap().contains_key("reject_reason"),
            "present even when null: {row}"
        );
        let id = row["suggestion_id"].as_i64().unwrap();
        let csv = csv_reasons.remove(&id).expect("the same rows in both");
        examples.insert(
            id,
            Exported {
                decision: row["decision"].as_str().unwrap().to_owned(),
                json: row["reject_reason"].clone(),
                csv,
            },
        );
    }
    assert!(
        csv_reasons.is_empty(),
        "the same rows in both: {csv_reasons:?}"
    );
    examples
}

fn example(decision: &str, reason: Option<&str>) -> Exported {
    Exported {
        decision: decision.to_owned(),
        json: reason.map_or(Value::Null, |r| json!(r)),
        csv: reason.unwrap_or_default().to_owned(),
    }
}

#[sqlx::test]
async fn the_export_says_why_a_tag_was_rejected_until_an_undo_takes_it_back(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = with_window(&db);
    let because = db.suggestion("L1", "t1", 0.41).await;
    let plain = db.suggestion("L1", "t2", 0.32).await;
    let approved = db.suggestion("L2", "t1", 0.93).await;
    reject_because(&review, because, "L1", RejectReason::TooBroad).await;
    review.reject(plain, &dana()).await.unwrap();
    review.approve(approved, &dana()).await.unwrap();

    let before = exported(&db).await;
    assert_eq!(
        before,
        BTreeMap::from([
            (because.get(), example("rejected", Some("too_broad"))),
            (plain.get(), example("rejected", None)),
            (approved.get(), example("approved", None)),
        ])
    );

    // Taken back and approved instead: the reason goes with the reject.
    undo(&review, because, "L1").await;
    review.approve(because, &dana()).await.unwrap();
    let after = exported(&db).await;
    assert_eq!(after[&because.get()], example("approved", None));
    assert_eq!(after[&plain.get()], before[&plain.get()]);
    db.close().await;
}

/// The model's rejections by reason, as calibration works them out now.
async fn reasons_now(db: &TestDb) -> RejectReasons {
    let calibration = Calibration::load(&db.app, 0.95).await.unwrap();
    let [model] = calibration.models.as_slice() else {
        panic!("one model: {calibration:#?}");
    };
    model.reject_reasons
}

/// [wrong topic, too broad, too narrow, duplicate, other] and none.
fn tally(reasons: RejectReasons) -> ([u64; 5], u64) {
    (RejectReason::ALL.map(|r| reasons.of(r)), reasons.none)
}

/// The counts the trigger kept equal a recount from the suggestions.
async fn kept_is_recounted(db: &TestDb) {
    let kept = counts(db).await;
    sqlx::query("SELECT tagbot_calibration_recount()")
        .execute(&db.admin)
        .await
        .unwrap();
    assert_eq!(counts(db).await, kept);
}

#[sqlx::test]
async fn calibration_counts_reasons_and_an_undo_takes_its_reason_out(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = with_window(&db);
    let wrong = db.suggestion("L1", "t1", 0.21).await;
    let other = db.suggestion("L2", "t1", 0.21).await;
    let plain = db.suggestion("L3", "t1", 0.55).await;
    let also_plain = db.suggestion("L4", "t2", 0.55).await;
    let approved = db.suggestion("L5", "t1", 0.90).await;
    reject_because(&review, wrong, "L1", RejectReason::WrongTopic).await;
    reject_because(&review, other, "L2", RejectReason::Other).await;
    review.reject(plain, &dana()).await.unwrap();
    review.reject(also_plain, &dana()).await.unwrap();
    review.approve(approved, &dana()).await.unwrap();
    assert_eq!(tally(reasons_now(&db).await), ([1, 0, 0, 0, 1], 2));
    kept_is_recounted(&db).await;

    // A reasoned reject taken back: its reason leaves, the rest stay.
    undo(&review, wrong, "L1").await;
    assert_eq!(tally(reasons_now(&db).await), ([0, 0, 0, 0, 1], 2));
    // One without a reason taken back: "none" is one fewer.
    undo(&review, plain, "L3").await;
    assert_eq!(tally(reasons_now(&db).await), ([0, 0, 0, 0, 1], 1));
    kept_is_recounted(&db).await;

    // Decided again: an approval adds no rejection, a reject its reason.
    review.approve(wrong, &dana()).await.unwrap();
    reject_because(&review, plain, "L3", RejectReason::TooNarrow).await;
    let reasons = reasons_now(&db).await;
    assert_eq!(tally(reasons), ([0, 0, 1, 0, 1], 1));
    assert_eq!(reasons.rejected(), 3);
    kept_is_recounted(&db).await;
    db.close().await;
}

const DANA: &str = "U0DANA0001";

#[sqlx::test]
async fn tags_stats_says_why_each_models_tags_were_rejected(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    let review = w.db.review();
    // "v3 <!here> *x*": a model name is text tagbot did not write.
    let hostile = "v3 <!here> *x*";
    for (n, reason) in [
        Some(RejectReason::WrongTopic),
        Some(RejectReason::WrongTopic),
        Some(RejectReason::Duplicate),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let on = format!("R{n}");
        let id = suggestion_of(&w.db, hostile, &on, "t1", 0.4).await;
        match reason {
            Some(reason) => reject_because(&review, id, &on, reason).await,
            None => assert!(review.reject(id, &dana()).await.unwrap().is_applied()),
        }
    }
    let id = suggestion_of(&w.db, hostile, "R9", "t1", 0.9).await;
    review.approve(id, &dana()).await.unwrap();
    for n in 0..3 {
        let id = suggestion_of(&w.db, "tagger-v2", &format!("S{n}"), "t1", 0.9).await;
        review.approve(id, &dana()).await.unwrap();
    }

    let stats = w.command(DANA, "stats").await;
    let lines: Vec<&str> = stats.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?}: {stats}"))
    };
    let v3 = at("• v3 &lt;!here&gt; \u{2217}x\u{2217}: 5 decisions, 20% approved;");
    assert_eq!(
        lines[v3 + 1],
        "   rejected 4: wrong topic 2 · duplicate of another tag 1 · no reason 1",
        "{stats}"
    );
    let v2 = at("• tagger-v2: 3 decisions, 100% approved;");
    assert!(
        lines
            .get(v2 + 1)
            .is_none_or(|next| !next.contains("rejected")),
        "nothing rejected, nothing said: {stats}"
    );
    assert!(!stats.contains("<!here>"), "{stats}");
    w.close().await;
}
