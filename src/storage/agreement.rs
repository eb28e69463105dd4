//! Agreement's two reads of `review_votes` (owned by [`super::votes`]):
//! the active votes of every suggestion with two or more of them, summed
//! by the database into a few hundred rows, never a row per vote.
//!
//! - [`units`]: per model and score hundredth, how many suggestions had
//!   `approve` approving and `reject` rejecting active votes: what percent
//!   agreement and Krippendorff's alpha need, by score band too.
//! - [`pairs`]: per model and pair of voters (`a` < `b`), how many
//!   suggestions both voted on, by the two verdicts: what Cohen's kappa
//!   needs.
//!
//! Withdrawn votes are left out (a withdrawal is not a verdict, and the
//! vote it takes back no longer is one); a suggestion's status does not
//! matter: a decided suggestion's votes count as a disputed one's do.
//! Both reads scan the votes once (100,000 of them in tens of
//! milliseconds, BENCHMARKS.md) and look their suggestions up by id.

use sqlx::PgPool;

use super::votes::active_vote;
use super::Error;

/// Suggestions of one model and score hundredth with the same count of
/// approving and rejecting active votes (together at least two).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct UnitRow {
    pub model: String,
    /// As calibration's: the score's hundredth, 0..=99.
    pub bin: i32,
    #[sqlx(try_from = "i64")]
    pub approve: u64,
    #[sqlx(try_from = "i64")]
    pub reject: u64,
    /// How many suggestions voted so.
    #[sqlx(try_from = "i64")]
    pub items: u64,
}

/// Suggestions of one model both voters of a pair voted on, with the same
/// two verdicts.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PairRow {
    pub model: String,
    /// The voters as `events.actor` (`slack:U…`), `a` < `b`.
    pub a: String,
    pub b: String,
    /// A name each voted under (one of them, should it have changed).
    pub a_name: Option<String>,
    pub b_name: Option<String>,
    pub a_approves: bool,
    pub b_approves: bool,
    #[sqlx(try_from = "i64")]
    pub items: u64,
}

/// The active votes, each as (suggestion, voter, name, approves): the
/// common table both reads start from.
const ACTIVE_VOTES: &str = concat!(
    "WITH active AS MATERIALIZED (
        SELECT v.suggestion_id, v.voter, v.voter_name, v.verdict = 'approve' AS approves
        FROM review_votes v
        WHERE ",
    active_vote!(),
    "
     )"
);

/// Every (model, bin, approve, reject) with suggestions, in no order.
pub async fn units(pool: &PgPool) -> Result<Vec<UnitRow>, Error> {
    let sql = format!(
        "{ACTIVE_VOTES},
         voted AS (
            SELECT suggestion_id, count(*) FILTER (WHERE approves) AS approve,
                   count(*) FILTER (WHERE NOT approves) AS reject
            FROM active GROUP BY suggestion_id HAVING count(*) >= 2
         )
         SELECT s.suggested_by AS model, tagbot_calibration_bin(s.score) AS bin,
                u.approve, u.reject, count(*) AS items
         FROM voted u JOIN lecture_tag_suggestions s ON s.id = u.suggestion_id
         GROUP BY 1, 2, 3, 4"
    );
    sqlx::query_as(&sql)
        .fetch_all(pool)
        .await
        .map_err(Error::from)
}

/// Every (model, a, b, a's verdict, b's verdict) with suggestions, in no
/// order.
pub async fn pairs(pool: &PgPool) -> Result<Vec<PairRow>, Error> {
    let sql = format!(
        "{ACTIVE_VOTES}
         SELECT s.suggested_by AS model, a.voter AS a, b.voter AS b,
                max(a.voter_name) AS a_name, max(b.voter_name) AS b_name,
                a.approves AS a_approves, b.approves AS b_approves, count(*) AS items
         FROM active a
         JOIN active b ON b.suggestion_id = a.suggestion_id AND a.voter < b.voter
         JOIN lecture_tag_suggestions s ON s.id = a.suggestion_id
         GROUP BY 1, 2, 3, 6, 7"
    );
    sqlx::query_as(&sql)
        .fetch_all(pool)
        .await
        .map_err(Error::from)
}
