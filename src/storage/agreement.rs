//! Agreement's reads: the sums of `agreement_items` and `agreement_pairs`,
//! which a trigger keeps from the active votes as votes are cast and
//! withdrawn (migration 0023; nothing in tagbot writes them), so a read
//! is a pass over one narrow row per voted suggestion, never over the
//! votes and their suggestions (BENCHMARKS.md, issue 27).
//!
//! - [`units`]: per model and score hundredth, how many suggestions had
//!   `approve` approving and `reject` rejecting active votes: what percent
//!   agreement and Krippendorff's alpha need, by score band too.
//! - [`pairs`]: per model and pair of voters (`a` < `b`), how many
//!   suggestions both voted on, by the two verdicts: what Cohen's kappa
//!   needs; with the name each voter last voted under.
//!
//! Withdrawn votes are left out (a withdrawal is not a verdict, and the
//! vote it takes back no longer is one); a suggestion's status does not
//! matter: a decided suggestion's votes count as a disputed one's do. The
//! two reads are two statements: a vote landing between them can make
//! them differ by that vote, which figures cached for a minute allow.

use sqlx::PgPool;

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
    /// The name each last voted under, if one was recorded.
    pub a_name: Option<String>,
    pub b_name: Option<String>,
    pub a_approves: bool,
    pub b_approves: bool,
    #[sqlx(try_from = "i64")]
    pub items: u64,
}

/// Every (model, bin, approve, reject) with suggestions, in no order.
pub async fn units(pool: &PgPool) -> Result<Vec<UnitRow>, Error> {
    sqlx::query_as(
        "SELECT model, bin, approve::bigint AS approve, reject::bigint AS reject, count(*) AS items
         FROM agreement_items
         GROUP BY 1, 2, 3, 4",
    )
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}

/// Every (model, a, b, a's verdict, b's verdict) with suggestions, in no
/// order, with the name each voter last voted under.
pub async fn pairs(pool: &PgPool) -> Result<Vec<PairRow>, Error> {
    sqlx::query_as(
        "WITH crossed AS (
            SELECT model, a, b, a_approves, b_approves, count(*) AS items
            FROM agreement_pairs
            GROUP BY 1, 2, 3, 4, 5
         ),
         named AS (
            SELECT voter,
                   (SELECT v.voter_name FROM review_votes v
                    WHERE v.voter = voters.voter AND v.voter_name IS NOT NULL
                    ORDER BY v.id DESC LIMIT 1) AS name
            FROM (SELECT a AS voter FROM crossed UNION SELECT b FROM crossed) AS voters
         )
         SELECT c.model, c.a, c.b, na.name AS a_name, nb.name AS b_name,
                c.a_approves, c.b_approves, c.items
         FROM crossed c
         JOIN named na ON na.voter = c.a
         JOIN named nb ON nb.voter = c.b",
    )
    .fetch_all(pool)
    .await
    .map_err(Error::from)
}
