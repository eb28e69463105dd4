//! `slack_home_tabs`: the users who have opened tagbot's App Home tab, so
//! their tab is published again after their own decisions.

use sqlx::PgPool;

use super::Error;

/// Notes that `user` opened the Home tab.
pub async fn opened(pool: &PgPool, user: &str) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO slack_home_tabs (user_id) VALUES ($1)
         ON CONFLICT (user_id) DO UPDATE SET opened_at = now()",
    )
    .bind(user)
    .execute(pool)
    .await?;
    Ok(())
}

/// Every user who has opened the Home tab.
pub async fn all(pool: &PgPool) -> Result<Vec<String>, Error> {
    sqlx::query_scalar("SELECT user_id FROM slack_home_tabs")
        .fetch_all(pool)
        .await
        .map_err(Error::from)
}
