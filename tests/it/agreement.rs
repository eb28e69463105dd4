//! How far reviewers agree, from votes cast through the review operations
//! (`TAGBOT_SECOND_OPINION`): a fixed set whose figures are worked out by
//! hand below, read by `Calibration::load`, `tagbot report --calibration`
//! (text and `--json`) and `/tags stats`; withdrawn votes and single votes
//! left out; figures on too few suggestions said to be so.

use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::calibration::Calibration;
use tagbot::domain::{Actor, LectureId, Transition};
use tagbot::review::Review;

use crate::calibration_export::suggestion_of;
use crate::helpers::{reviewer, TestDb};
use crate::slack_world::SlackWorld;
use crate::votes::banded;

/// Three reviewers whose actors sort a < b < c.
const ADA: &str = "U0ADA00001";
const BEN: &str = "U0BEN00001";
const CAL: &str = "U0CAL00001";
/// Who asks for `/tags stats`: a user the Slack stand-in knows.
const DANA: &str = "U0DANA0001";

fn actor(user: &str) -> Actor {
    let name = match user {
        ADA => "עדה",
        BEN => "בן",
        _ => "כל",
    };
    reviewer(user, name)
}

fn slack(user: &str) -> String {
    format!("slack:{user}")
}

/// One vote of `user` on `lecture`'s one suggestion.
async fn vote(review: &Review, id: tagbot::domain::SuggestionId, on: &str, user: &str, yes: bool) {
    let transition = if yes {
        Transition::Approve
    } else {
        Transition::Reject
    };
    review
        .decide_as(
            id,
            &LectureId::parse(on).unwrap(),
            transition,
            None,
            &actor(user),
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("{user}'s vote on {on}: {e}"));
}

/// A reviewer and their verdict (true: approve).
type Ballot<'a> = (&'a str, bool);

/// Votes, two per suggestion, each on a lecture of its own.
async fn votes_on(
    db: &TestDb,
    review: &Review,
    model: &str,
    score: f64,
    prefix: &str,
    pairs: &[(Ballot<'_>, Ballot<'_>)],
) {
    for (n, ((first, first_yes), (second, second_yes))) in pairs.iter().enumerate() {
        let on = format!("{prefix}{n}");
        let id = suggestion_of(db, model, &on, "t1", score).await;
        vote(review, id, &on, first, *first_yes).await;
        vote(review, id, &on, second, *second_yes).await;
    }
}

/// The fixed set:
/// - model v2 at 0.52: Ada and Ben agree on 20 (12 approve, 8 reject),
///   each decided by their two votes;
/// - model v3 at 0.62: Ada and Cal disagree on 20 (10 each way), each
///   left disputed;
/// - model v2 at 0.47: Ben and Cal agree on 5 (approve);
/// - model v2 at 0.52: one with Ada's vote withdrawn and Ben's, and one
///   with a single vote: neither has two active votes;
/// - model v3 at 0.9, outside the band: one decision, no votes.
async fn fixed_set(db: &TestDb) {
    let review = banded(db);
    let mut agree = vec![((ADA, true), (BEN, true)); 12];
    agree.extend([((ADA, false), (BEN, false)); 8]);
    votes_on(db, &review, "v2", 0.52, "AB", &agree).await;
    let mut disagree = vec![((ADA, true), (CAL, false)); 10];
    disagree.extend([((CAL, true), (ADA, false)); 10]);
    votes_on(db, &review, "v3", 0.62, "AC", &disagree).await;
    votes_on(
        db,
        &review,
        "v2",
        0.47,
        "BC",
        &[((BEN, true), (CAL, true)); 5],
    )
    .await;

    let id = suggestion_of(db, "v2", "W0", "t1", 0.52).await;
    vote(&review, id, "W0", ADA, true).await;
    review
        .withdraw_vote(&LectureId::parse("W0").unwrap(), id, &actor(ADA))
        .await
        .unwrap();
    vote(&review, id, "W0", BEN, true).await;
    let id = suggestion_of(db, "v2", "S0", "t1", 0.52).await;
    vote(&review, id, "S0", CAL, false).await;
    // Outside the band one reviewer decides: v3's one decision (a model
    // is listed once it has one), no vote.
    let id = suggestion_of(db, "v3", "D0", "t1", 0.9).await;
    vote(&review, id, "D0", ADA, true).await;
}

fn close(got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("a number, got {got}"));
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
}

/// The pair `(a, b)` in a JSON `pairs` list.
fn pair<'v>(pairs: &'v Value, a: &str, b: &str) -> Option<&'v Value> {
    pairs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["a"] == slack(a) && p["b"] == slack(b))
}

/// The band starting at `from` in a JSON `bands` list.
fn band(bands: &Value, from: f64) -> &Value {
    let bands = bands.as_array().unwrap();
    assert_eq!(bands.len(), 20, "calibration's 0.05 bands, all of them");
    bands
        .iter()
        .find(|b| (b["from"].as_f64().unwrap() - from).abs() < 1e-9)
        .unwrap()
}

/// The figures by hand:
///
/// Team: 45 suggestions (20 + 20 + 5), one pair of votes each; 25 agree:
/// percent 25/45. Values: approve 24 + 20 + 10 = 54, reject 16 + 20 = 36,
/// n = 90; the coincidence matrix's off-diagonal cell is 20 (the
/// disagreeing 20, each 1·1/(2 − 1)). D_o = 2·20/90, D_e = 2·54·36/(90·89),
/// α = 1 − D_o/D_e.
///
/// v2: 25 suggestions all agreeing: percent 1, α 1 (D_o = 0, D_e > 0).
/// v3: 20 all disagreeing: percent 0; D_o = 2·20/40 = 1,
/// D_e = 2·20·20/(40·39) = 20/39, α = 1 − 39/20 = −0.95.
///
/// Kappa: Ada–Ben never disagree, each approves 12 of 20: p_o = 1,
/// p_e = 0.6² + 0.4² = 0.52, κ = 1. Ada–Cal always disagree, each
/// approves 10 of 20: p_o = 0, p_e = 0.5, κ = −1. Ben–Cal share 5: no
/// kappa (fewer than 20).
fn check(json: &Value) {
    let team = &json["agreement"];
    assert_eq!(
        team["items"], 45,
        "withdrawn and single votes left out: {team}"
    );
    close(&team["percent"], 25.0 / 45.0);
    let observed = 2.0 * 20.0 / 90.0;
    let expected = 2.0 * 54.0 * 36.0 / (90.0 * 89.0);
    close(&team["alpha"], 1.0 - observed / expected);
    assert_eq!(team["pairs"].as_array().unwrap().len(), 2, "{team}");
    let ab = pair(&team["pairs"], ADA, BEN).expect("Ada and Ben");
    assert_eq!(ab["items"], 20);
    close(&ab["kappa"], 1.0);
    let ac = pair(&team["pairs"], ADA, CAL).expect("Ada and Cal");
    assert_eq!(ac["items"], 20);
    close(&ac["kappa"], -1.0);
    assert!(
        pair(&team["pairs"], BEN, CAL).is_none(),
        "5 shared is too few"
    );

    let high = band(&team["bands"], 0.50);
    assert_eq!(high["items"], 20);
    close(&high["percent"], 1.0);
    close(&high["alpha"], 1.0);
    let higher = band(&team["bands"], 0.60);
    assert_eq!(higher["items"], 20);
    close(&higher["percent"], 0.0);
    close(&higher["alpha"], -0.95);
    let low = band(&team["bands"], 0.45);
    assert_eq!(low["items"], 5);
    assert!(
        low["percent"].is_null() && low["alpha"].is_null(),
        "too few: {low}"
    );
    assert_eq!(band(&team["bands"], 0.70)["items"], 0);

    let model = |name: &str| {
        json["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"] == name)
            .unwrap_or_else(|| panic!("model {name}"))["agreement"]
            .clone()
    };
    let v2 = model("v2");
    assert_eq!(v2["items"], 25);
    close(&v2["percent"], 1.0);
    close(&v2["alpha"], 1.0);
    assert_eq!(v2["pairs"].as_array().unwrap().len(), 1);
    assert!(pair(&v2["pairs"], ADA, BEN).is_some());
    let v3 = model("v3");
    assert_eq!(v3["items"], 20);
    close(&v3["percent"], 0.0);
    close(&v3["alpha"], -0.95);
    close(&pair(&v3["pairs"], ADA, CAL).unwrap()["kappa"], -1.0);
}

#[sqlx::test]
async fn agreement_matches_the_hand_computation_in_the_report_and_its_json(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    fixed_set(&db).await;

    let calibration = Calibration::load(&db.app, 0.95).await.unwrap();
    check(&serde_json::to_value(&calibration).unwrap());
    let v3 = calibration.models.iter().find(|m| m.model == "v3").unwrap();
    assert_eq!(v3.share.decisions, 1, "the disputed ones are not decisions");

    let json = db.tagbot(&["report", "--calibration", "--json"]).await;
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    check(&serde_json::from_slice(&json.stdout).unwrap());

    let text = db.tagbot(&["report", "--calibration"]).await;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    let alpha = 1.0 - (2.0 * 20.0 / 90.0) / (2.0 * 54.0 * 36.0 / (90.0 * 89.0));
    assert!(
        text.contains(&format!(
            "\n  agreement: 45 suggestions with two or more votes: 56% of paired votes agree, alpha {alpha:.2}\n"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "  עדה (slack:U0ADA00001) and בן (slack:U0BEN00001): 20 shared, kappa 1.00\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "  עדה (slack:U0ADA00001) and כל (slack:U0CAL00001): 20 shared, kappa -1.00\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("    0.45–0.50       5 suggestions  too few to measure\n"),
        "{text}"
    );
    assert!(
        text.contains("    0.60–0.65      20 suggestions  0% agree, alpha -0.95\n"),
        "{text}"
    );
    // Each model's own, under the model.
    assert!(
        text.contains("\n  agreement: 20 suggestions with two or more votes: 0% of paired votes agree, alpha -0.95\n"),
        "{text}"
    );
    db.close().await;
}

#[sqlx::test]
async fn tags_stats_gives_percent_and_alpha_per_model_and_says_when_too_few(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(
        pool,
        options,
        &[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", "U0LEAD0001"),
        ],
    )
    .await;
    let review = banded(&w.db);
    // A hostile model name: text tagbot did not write.
    let hostile = "v9 <!here> *x*";
    votes_on(
        &w.db,
        &review,
        hostile,
        0.5,
        "H",
        &[((ADA, true), (BEN, true)); 3],
    )
    .await;
    let mut agree = vec![((ADA, true), (BEN, true)); 9];
    agree.push(((ADA, false), (BEN, true)));
    agree.extend([((ADA, false), (BEN, false)); 2]);
    votes_on(&w.db, &review, "v2", 0.5, "A", &agree).await;

    let stats = w.command(DANA, "stats").await;
    let lines: Vec<&str> = stats.lines().collect();
    let at = |prefix: &str| {
        lines
            .iter()
            .position(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?}: {stats}"))
    };
    // Team: 15 suggestions, 14 agree; approve 3·2 + 9·2 + 1 = 25, reject
    // 1 + 2·2 = 5, n = 30, off-diagonal 1: α = 1 − (2/30)/(2·25·5/(30·29)).
    let alpha = 1.0 - (2.0 / 30.0) / (2.0 * 25.0 * 5.0 / (30.0 * 29.0));
    let team = at("*Agreement between reviewers*");
    assert_eq!(
        lines[team],
        format!("*Agreement between reviewers* (suggestions two reviewers voted on): 15 suggestions with two or more votes: 93% of paired votes agree, alpha {alpha:.2}"),
        "{stats}"
    );
    at("• v2: 12 suggestions with two or more votes: 92% of paired votes agree, alpha ");
    at("• v9 &lt;!here&gt; \u{2217}x\u{2217}: 3 suggestions with two or more votes: too few to measure (10 needed)");
    assert!(!stats.contains("<!here>"), "{stats}");
    w.close().await;
}

#[sqlx::test]
async fn tags_stats_says_no_votes_yet_only_where_the_band_is_on(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let off = SlackWorld::without_poster(pool.clone(), options.clone(), &[]).await;
    let stats = off.command(DANA, "stats").await;
    assert!(
        !stats.contains("Agreement"),
        "no band, no votes, nothing said: {stats}"
    );
    off.close().await;

    let on = SlackWorld::without_poster(
        pool,
        options,
        &[
            ("TAGBOT_SECOND_OPINION", "0.45-0.75"),
            ("SLACK_LEADS", "U0LEAD0001"),
        ],
    )
    .await;
    let stats = on.command(DANA, "stats").await;
    assert!(
        stats.contains("\n*Agreement between reviewers* (suggestions two reviewers voted on): no suggestion has two votes yet"),
        "{stats}"
    );
    on.close().await;
}

/// Agreement's tallies as the triggers kept them: items, then pairs.
async fn tallies(
    db: &TestDb,
) -> (
    Vec<(i64, String, i32, i32, i32)>,
    Vec<(i64, String, String, String, bool, bool)>,
) {
    let items = sqlx::query_as(
        "SELECT suggestion_id, model, bin, approve, reject FROM agreement_items ORDER BY 1",
    )
    .fetch_all(&db.app)
    .await
    .unwrap();
    let pairs = sqlx::query_as(
        "SELECT suggestion_id, model, a, b, a_approves, b_approves FROM agreement_pairs ORDER BY 1, 3, 4",
    )
    .fetch_all(&db.app)
    .await
    .unwrap();
    (items, pairs)
}

/// The tallies the triggers keep (votes cast, withdrawn by their voter and
/// by an undo, a voted suggestion re-scored) are what a recount from the
/// votes finds; the run-time role cannot write them.
#[sqlx::test]
async fn the_kept_tallies_are_a_recount_of_the_votes_and_only_the_trigger_writes_them(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = TestDb::new(pool, options).await;
    fixed_set(&db).await;
    // An undo of a voted decision withdraws its deciding vote.
    let review = banded(&db);
    let id = suggestion_of(&db, "v2", "U0", "t1", 0.6).await;
    vote(&review, id, "U0", ADA, true).await;
    vote(&review, id, "U0", BEN, true).await;
    let (items, _) = tallies(&db).await;
    assert!(
        items.iter().any(|(s, ..)| *s == id.get()),
        "decided by two votes"
    );
    let undone = review
        .undo(
            &LectureId::parse("U0").unwrap(),
            id,
            &actor(BEN),
            tagbot::review::UndoAs::Decider,
        )
        .await
        .unwrap();
    assert_eq!(undone.undone_count(), 1, "{undone:?}");
    let (items, pairs) = tallies(&db).await;
    assert!(
        !items.iter().any(|(s, ..)| *s == id.get()) && !pairs.iter().any(|(s, ..)| *s == id.get()),
        "one active vote left: no item"
    );
    // The model team re-scores a voted suggestion: its tally moves.
    let moved = suggestion_of(&db, "v2", "M0", "t1", 0.5).await;
    vote(&review, moved, "M0", ADA, false).await;
    vote(&review, moved, "M0", CAL, false).await;
    sqlx::query("UPDATE lecture_tag_suggestions SET score = 0.91 WHERE id = $1")
        .bind(moved.get())
        .execute(&db.admin)
        .await
        .unwrap();

    let kept = tallies(&db).await;
    assert_eq!(kept.0.len(), 45 + 1, "{:?}", kept.0);
    assert_eq!(
        kept.0.iter().find(|(s, ..)| *s == moved.get()).map(|t| t.2),
        Some(91)
    );
    assert_eq!(kept.1.len(), 45 + 1);
    sqlx::query("SELECT tagbot_agreement_recount()")
        .execute(&db.admin)
        .await
        .unwrap();
    assert_eq!(kept, tallies(&db).await);

    for write in [
        "INSERT INTO agreement_items (suggestion_id, model, bin, approve, reject) VALUES (1, 'v2', 1, 2, 0)",
        "UPDATE agreement_items SET approve = approve + 1",
        "DELETE FROM agreement_pairs",
        // The functions that rewrite them are the owner's alone: the
        // run-time role cannot have a tally recounted by hand either.
        "SELECT tagbot_agreement_refresh(1)",
        "SELECT tagbot_agreement_recount()",
    ] {
        let refused = sqlx::query(write).execute(&db.app).await.unwrap_err();
        assert!(refused.to_string().contains("permission denied"), "{write}: {refused}");
    }
    assert_eq!(kept, tallies(&db).await);
    db.close().await;
}
