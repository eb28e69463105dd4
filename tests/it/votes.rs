//! A second pair of eyes through the review operations
//! (`TAGBOT_SECOND_OPINION`): in the band an Approve or Reject is a vote;
//! two agreeing votes decide (the second voter the actor, both votes in
//! the event), two that disagree leave it disputed for a lead; a repeated
//! vote is refused; racing deciding votes make one decision; an undo of a
//! voted decision withdraws the deciding vote; bulk approvals vote in the
//! band and decide the rest. And the database's own rules, by hand-written
//! SQL as the run-time role.

use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::config::{ReviewSettings, ScoreBand};
use tagbot::domain::{Actor, LectureId, Score, SuggestionId, Transition};
use tagbot::review::{Decision, Review, UndoAs, Verdict};

use crate::helpers::{reviewer, TestDb};

fn lecture(id: &str) -> LectureId {
    LectureId::parse(id).unwrap()
}

fn dana() -> Actor {
    reviewer("U0DANA0001", "דנה")
}

fn yosi() -> Actor {
    reviewer("U0YOSI0001", "יוסי")
}

fn lead() -> Actor {
    reviewer("U0LEAD0001", "ראש צוות")
}

/// Review with the band 0.45-0.75 and a 30 s undo window.
pub fn banded(db: &TestDb) -> Review {
    db.review_with(ReviewSettings {
        undo_window: Duration::from_secs(30),
        second_opinion: Some(ScoreBand {
            low: Score::new(0.45).unwrap(),
            high: Score::new(0.75).unwrap(),
        }),
        ..ReviewSettings::default()
    })
}

/// `ballots` (user id, display name, verdict) cast on `id` of `lecture`
/// through the review operations with the band on, none as a lead: a
/// test's votes without asking Slack anything.
pub async fn cast(
    db: &TestDb,
    lecture_id: &str,
    id: SuggestionId,
    ballots: &[(&str, &str, Transition)],
) {
    let review = banded(db);
    for (user, name, transition) in ballots {
        review
            .decide_as(
                id,
                &lecture(lecture_id),
                *transition,
                None,
                &reviewer(user, name),
                false,
            )
            .await
            .unwrap_or_else(|e| panic!("{user}'s vote: {e}"));
    }
}

async fn decide(
    review: &Review,
    id: SuggestionId,
    transition: Transition,
    actor: &Actor,
    lead: bool,
) -> Decision {
    review
        .decide_as(id, &lecture("L1"), transition, None, actor, lead)
        .await
        .unwrap()
}

async fn active_votes(db: &TestDb, id: SuggestionId) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT v.voter, v.verdict FROM review_votes v
         WHERE v.suggestion_id = $1 AND v.verdict <> 'withdraw'
           AND NOT EXISTS (SELECT 1 FROM review_votes w WHERE w.withdraws = v.id)
         ORDER BY v.id",
    )
    .bind(id.get())
    .fetch_all(&db.app)
    .await
    .unwrap()
}

async fn decision_details(db: &TestDb, id: SuggestionId) -> (String, Value) {
    sqlx::query_as(
        "SELECT actor, details FROM events
         WHERE suggestion_id = $1 AND action IN ('approve', 'reject') ORDER BY id DESC LIMIT 1",
    )
    .bind(id.get())
    .fetch_one(&db.app)
    .await
    .unwrap()
}

#[sqlx::test]
async fn the_band_includes_its_edges_and_one_reviewer_decides_outside_it(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = banded(&db);
    let below = db.suggestion("L1", "t1", 0.4499).await;
    let low = db.suggestion("L1", "t2", 0.45).await;
    let high = db.suggestion("L1", "t3", 0.75).await;
    let above = db.suggestion("L1", "t4", 0.7501).await;
    for (id, decided) in [(below, true), (low, false), (high, false), (above, true)] {
        let decision = decide(&review, id, Transition::Approve, &dana(), false).await;
        assert_eq!(decision.is_applied(), decided, "{id}: {decision:?}");
        let status = db.status(id).await;
        assert_eq!(status == "approved", decided, "{id}: {status}");
        if !decided {
            assert!(
                matches!(&decision, Decision::Voted(v) if v.disagrees_with.is_none()),
                "{decision:?}"
            );
            assert_eq!(
                decision.to_string(),
                "your vote to approve is in; it needs one more reviewer who agrees"
            );
        }
    }
    db.close().await;
}

#[sqlx::test]
async fn a_second_agreeing_vote_decides_with_both_votes_on_record(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = banded(&db);
    let id = db.suggestion("L1", "t1", 0.6).await;
    decide(&review, id, Transition::Reject, &dana(), false).await;
    // The same reviewer again: told, nothing added.
    let again = decide(&review, id, Transition::Approve, &dana(), false).await;
    assert_eq!(
        again,
        Decision::AlreadyVoted {
            suggestion: id,
            verdict: Verdict::Reject
        }
    );
    assert_eq!(active_votes(&db, id).await.len(), 1);
    assert_eq!(db.status(id).await, "pending");

    let deciding = review
        .decide_as(
            id,
            &lecture("L1"),
            Transition::Reject,
            Some("too_broad".parse().unwrap()),
            &yosi(),
            false,
        )
        .await
        .unwrap();
    assert!(deciding.is_applied(), "{deciding:?}");
    assert_eq!(db.status(id).await, "rejected");
    let (actor, details) = decision_details(&db, id).await;
    assert_eq!(actor, "slack:U0YOSI0001", "the second voter decides");
    let votes = details["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 2);
    assert_eq!(
        (
            votes[0]["voter"].as_str(),
            votes[0]["voter_name"].as_str(),
            votes[0]["verdict"].as_str()
        ),
        (Some("slack:U0DANA0001"), Some("דנה"), Some("reject"))
    );
    assert_eq!(votes[1]["reason"], "too_broad");
    assert!(votes[0]["voted_at"].is_string());
    assert_eq!(details["reason"], "too_broad");
    assert!(details.get("ruling").is_none());
    db.close().await;
}

#[sqlx::test]
async fn a_dispute_waits_for_a_lead_whose_ruling_decides_at_once(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = banded(&db);
    let id = db.suggestion("L1", "t1", 0.6).await;
    decide(&review, id, Transition::Approve, &dana(), false).await;
    let second = decide(&review, id, Transition::Reject, &yosi(), false).await;
    assert_eq!(
        second.to_string(),
        "your vote to reject disagrees with דנה's vote to approve: a lead decides it now"
    );
    // Anyone else, whatever they choose, is told only a lead may.
    let third = decide(
        &review,
        id,
        Transition::Approve,
        &reviewer("U0OTHER001", "אחר"),
        false,
    )
    .await;
    assert!(matches!(third, Decision::NeedsLead { .. }), "{third:?}");
    assert!(
        third.to_string().contains("only a lead may decide it"),
        "{third}"
    );
    // So is one of its voters pressing again: the dispute is the news.
    let again_by_a_voter = decide(&review, id, Transition::Approve, &dana(), false).await;
    assert!(
        matches!(again_by_a_voter, Decision::NeedsLead { .. }),
        "{again_by_a_voter:?}"
    );
    assert_eq!(db.status(id).await, "pending");

    let ruling = decide(&review, id, Transition::Reject, &lead(), true).await;
    assert!(ruling.is_applied(), "{ruling:?}");
    let (actor, details) = decision_details(&db, id).await;
    assert_eq!(actor, "slack:U0LEAD0001");
    assert_eq!(details["votes"].as_array().unwrap().len(), 2);
    assert_eq!(details["ruling"], true);

    // Undoing the ruling leaves both votes: disputed again.
    review
        .undo(&lecture("L1"), id, &lead(), UndoAs::Lead)
        .await
        .unwrap();
    assert_eq!(db.status(id).await, "pending");
    assert_eq!(active_votes(&db, id).await.len(), 2);
    let again = decide(
        &review,
        id,
        Transition::Approve,
        &reviewer("U0OTHER001", "אחר"),
        false,
    )
    .await;
    assert!(matches!(again, Decision::NeedsLead { .. }), "{again:?}");
    db.close().await;
}

/// A disputed tag picked by name in "Approve selected": a lead's pick
/// rules, anyone else's is told a lead decides; "Approve all ≥" casts
/// votes and rules nothing, even for a lead.
#[sqlx::test]
async fn a_leads_pick_in_approve_selected_rules_a_dispute(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = db.review_with(ReviewSettings {
        approve_threshold: Score::new(0.5).unwrap(),
        ..*banded(&db).settings()
    });
    let id = db.suggestion("L1", "t1", 0.6).await;
    decide(&review, id, Transition::Approve, &dana(), false).await;
    decide(&review, id, Transition::Reject, &yosi(), false).await;
    let everyone = review
        .approve_top(&lecture("L1"), None, &lead())
        .await
        .unwrap();
    assert!(
        matches!(everyone.decisions[..], [Decision::NeedsLead { .. }]),
        "{everyone:?}"
    );
    let other = review
        .approve_selected(&lecture("L1"), &[id], &reviewer("U0OTHER001", "אחר"), false)
        .await
        .unwrap();
    assert!(matches!(other.decisions[..], [Decision::NeedsLead { .. }]));
    let ruled = review
        .approve_selected(&lecture("L1"), &[id], &lead(), true)
        .await
        .unwrap();
    assert_eq!(ruled.applied_count(), 1);
    assert_eq!(decision_details(&db, id).await.1["ruling"], true);
    db.close().await;
}

/// A lead who voted in a dispute still rules it (with one lead, no one
/// else could).
#[sqlx::test]
async fn a_lead_rules_a_dispute_they_voted_in(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let review = banded(&db);
    let id = db.suggestion("L1", "t1", 0.6).await;
    decide(&review, id, Transition::Approve, &lead(), true).await;
    let second = decide(&review, id, Transition::Reject, &dana(), false).await;
    assert!(matches!(&second, Decision::Voted(v) if v.disagrees_with.is_some()));
    let ruling = decide(&review, id, Transition::Approve, &lead(), true).await;
    assert!(ruling.is_applied(), "{ruling:?}");
    assert_eq!(decision_details(&db, id).await.1["ruling"], true);
    db.close().await;
}

#[sqlx::test]
async fn undoing_a_voted_decision_withdraws_the_deciding_vote(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = banded(&db);
    let id = db.suggestion("L1", "t1", 0.6).await;
    decide(&review, id, Transition::Approve, &dana(), false).await;
    assert!(decide(&review, id, Transition::Approve, &yosi(), false)
        .await
        .is_applied());
    review
        .undo(&lecture("L1"), id, &yosi(), UndoAs::Decider)
        .await
        .unwrap();
    assert_eq!(db.status(id).await, "pending");
    assert_eq!(
        active_votes(&db, id).await,
        [("slack:U0DANA0001".to_owned(), "approve".to_owned())],
        "it needs one more again"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM review_votes WHERE verdict = 'withdraw' AND voter = 'slack:U0YOSI0001'")
            .await,
        1
    );
    // Yosi may vote again; agreeing, it decides again.
    assert!(decide(&review, id, Transition::Approve, &yosi(), false)
        .await
        .is_applied());
    db.close().await;
}

#[sqlx::test]
async fn two_racing_deciding_votes_make_one_decision(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = banded(&db);
    let id = db.suggestion("L1", "t1", 0.6).await;
    decide(&review, id, Transition::Approve, &dana(), false).await;
    let (y, other) = (yosi(), reviewer("U0OTHER001", "אחר"));
    let (yosi_says, other_says) = tokio::join!(
        decide(&review, id, Transition::Approve, &y, false),
        decide(&review, id, Transition::Approve, &other, false),
    );
    let applied = [&yosi_says, &other_says]
        .iter()
        .filter(|d| d.is_applied())
        .count();
    assert_eq!(applied, 1, "{yosi_says:?} / {other_says:?}");
    let loser = if yosi_says.is_applied() {
        &other_says
    } else {
        &yosi_says
    };
    assert!(
        matches!(loser, Decision::AlreadyDecided(prior) if prior.decided_by.is_some()),
        "{loser:?}"
    );
    assert!(
        loser.to_string().starts_with("already approved by "),
        "{loser}"
    );
    assert_eq!(
        db.count("SELECT count(*) FROM events WHERE action = 'approve'")
            .await,
        1
    );
    db.close().await;
}

#[sqlx::test]
async fn approve_all_votes_in_the_band_and_decides_the_rest(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let review = db.review_with(ReviewSettings {
        approve_threshold: Score::new(0.5).unwrap(),
        ..*banded(&db).settings()
    });
    let sure = db.suggestion("L1", "t1", 0.9).await;
    let unsure = db.suggestion("L1", "t2", 0.6).await;
    let decided = review
        .approve_top(&lecture("L1"), None, &dana())
        .await
        .unwrap();
    assert_eq!(decided.applied_count(), 1);
    assert_eq!(db.status(sure).await, "approved");
    assert_eq!(db.status(unsure).await, "pending");
    assert_eq!(active_votes(&db, unsure).await.len(), 1);
    // Yosi's Approve all agrees: decided.
    let second = review
        .approve_top(&lecture("L1"), None, &yosi())
        .await
        .unwrap();
    assert_eq!(second.applied_count(), 1);
    assert_eq!(db.status(unsure).await, "approved");
    db.close().await;
}

/// The rules hold against hand-written SQL as the run-time role: a vote in
/// someone else's name, a second vote of one voter, a third on a dispute,
/// a decision that skips the votes, and any change to a vote are refused
/// (the owner too is refused a change: `review_votes_append_only`).
#[sqlx::test]
async fn the_database_refuses_what_the_vote_rules_forbid(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    let suggestion = db.suggestion("L1", "t1", 0.6).await;
    let id = suggestion.get();
    let refused = |sql: String| {
        let app = db.app.clone();
        async move {
            let mut tx = app.begin().await.unwrap();
            let mut err = None;
            for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
                if let Err(e) = sqlx::query(statement).execute(&mut *tx).await {
                    err = e
                        .as_database_error()
                        .and_then(|d| d.code())
                        .map(|c| c.into_owned());
                    break;
                }
            }
            match err {
                None => {
                    tx.commit().await.unwrap();
                    None
                }
                Some(code) => Some(code),
            }
        }
    };
    let vote = |actor: &str, voter: &str, verdict: &str| {
        format!(
            "SET LOCAL tagbot.actor = '{actor}'; SET LOCAL tagbot.undo_secs = '30';
             INSERT INTO review_votes (suggestion_id, voter, verdict) VALUES ({id}, '{voter}', '{verdict}')"
        )
    };
    assert_eq!(
        refused(vote("slack:A", "slack:B", "approve"))
            .await
            .as_deref(),
        Some("TB006")
    );
    assert_eq!(refused(vote("slack:A", "slack:A", "approve")).await, None);
    assert_eq!(
        refused(vote("slack:A", "slack:A", "reject"))
            .await
            .as_deref(),
        Some("TB010")
    );
    assert_eq!(
        refused(format!(
            "SET LOCAL tagbot.actor = 'cli:x'; UPDATE lecture_tag_suggestions SET status = 'approved' WHERE id = {id}"
        ))
        .await
        .as_deref(),
        Some("TB011"),
        "one vote: only a second agreeing one decides"
    );
    assert_eq!(refused(vote("slack:B", "slack:B", "reject")).await, None);
    assert_eq!(
        refused(vote("slack:C", "slack:C", "reject"))
            .await
            .as_deref(),
        Some("TB011")
    );
    assert_eq!(
        refused(format!(
            "SET LOCAL tagbot.actor = 'slack:B'; UPDATE lecture_tag_suggestions SET status = 'rejected' WHERE id = {id}"
        ))
        .await
        .as_deref(),
        Some("TB011"),
        "disputed: not without a lead"
    );
    assert_eq!(
        refused("UPDATE review_votes SET verdict = 'approve'".to_owned())
            .await
            .as_deref(),
        Some("42501"),
        "the run-time role may only add votes"
    );
    assert_eq!(
        refused("DELETE FROM review_votes".to_owned())
            .await
            .as_deref(),
        Some("42501")
    );
    assert_eq!(db.status(suggestion).await, "pending");

    // A vote's id is the sequence's, whatever the writer says (votes are
    // ordered by id); a voter not in the actor's form is refused.
    let second = db.suggestion("L1", "t2", 0.6).await;
    let other = second.get();
    assert_eq!(
        refused(format!(
            "SET LOCAL tagbot.actor = 'slack:D'; SET LOCAL tagbot.undo_secs = '30';
             INSERT INTO review_votes (id, suggestion_id, voter, verdict) VALUES (1000000000, {other}, 'slack:D', 'approve')"
        ))
        .await,
        None
    );
    assert_eq!(
        db.count("SELECT count(*) FROM review_votes WHERE id = 1000000000")
            .await,
        0
    );
    assert_eq!(
        refused(format!(
            "SET LOCAL tagbot.actor = 'worker';
             INSERT INTO review_votes (suggestion_id, voter, verdict) VALUES ({other}, 'worker', 'reject')"
        ))
        .await
        .as_deref(),
        Some("23514")
    );
    // A second agreeing vote left without its decision is refused at commit.
    assert_eq!(
        refused(format!(
            "SET LOCAL tagbot.actor = 'slack:E';
             INSERT INTO review_votes (suggestion_id, voter, verdict) VALUES ({other}, 'slack:E', 'approve');
             SET CONSTRAINTS ALL IMMEDIATE"
        ))
        .await
        .as_deref(),
        Some("TB011")
    );
    assert_eq!(db.status(second).await, "pending");
    db.close().await;
}

/// Each exported row carries the votes that made its decision: a list in
/// JSON Lines, one JSON cell in CSV; a row one reviewer decided, none.
/// Calibration counts the decision once.
#[sqlx::test]
async fn the_export_carries_each_decisions_votes(pool: PgPoolOptions, options: PgConnectOptions) {
    let db = TestDb::new(pool, options).await;
    let review = banded(&db);
    let voted = db.suggestion("L1", "t1", 0.6).await;
    let alone = db.suggestion("L1", "t2", 0.9).await;
    decide(&review, voted, Transition::Reject, &dana(), false).await;
    review
        .decide_as(
            voted,
            &lecture("L1"),
            Transition::Reject,
            Some("duplicate".parse().unwrap()),
            &yosi(),
            false,
        )
        .await
        .unwrap();
    decide(&review, alone, Transition::Approve, &dana(), false).await;

    let (run, jsonl) = crate::calibration_export::export_to_file(&db, &["--format", "jsonl"]).await;
    assert!(run.status.success(), "{run:?}");
    let rows: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let votes = &rows[0]["votes"];
    assert_eq!(votes.as_array().unwrap().len(), 2, "{votes}");
    assert_eq!(
        (
            &votes[0]["voter"],
            &votes[0]["voter_name"],
            &votes[0]["verdict"],
            &votes[0]["reason"]
        ),
        (
            &Value::from("slack:U0DANA0001"),
            &Value::from("דנה"),
            &Value::from("reject"),
            &Value::Null
        )
    );
    assert_eq!(votes[1]["reason"], "duplicate");
    assert!(votes[1]["voted_at"].is_string());
    assert_eq!(rows[0]["reject_reason"], "duplicate");
    assert_eq!(rows[1]["votes"], serde_json::json!([]));

    let (run, csv) = crate::calibration_export::export_to_file(&db, &["--format", "csv"]).await;
    assert!(run.status.success(), "{run:?}");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header = reader.headers().unwrap().clone();
    let at = header
        .iter()
        .position(|h| h == "votes")
        .expect("a votes column");
    let cells: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[at].to_owned())
        .collect();
    let first: Value = serde_json::from_str(&cells[0]).unwrap();
    assert_eq!(&first, votes);
    assert_eq!(cells[1], "[]");

    assert_eq!(
        db.count("SELECT sum(decisions)::bigint FROM calibration_bins")
            .await,
        2,
        "the final decisions, not the votes"
    );
    db.close().await;
}
