//! `slack_home_tabs`: the users who have opened tagbot's App Home tab, so
//! their tab is published again after their own decisions.

use sqlx::PgPool;

/// Notes that `user` opened the Home tab.
pub async fn opened(pool: &PgPool, user: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO slack_home_tabs (user_id) VALUES ($1)
         ON CONFLICT (user_id) DO UPDATE SET opened_at = now()",
    )
    .bind(user)
    .execute(pool)
    .await?;
    Ok(())
}

/// Whether `user` has ever opened the Home tab.
pub async fn has_opened(pool: &PgPool, user: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM slack_home_tabs WHERE user_id = $1)")
        .bind(user)
        .fetch_one(pool)
        .await
}
