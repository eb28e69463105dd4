//! The App Home tab (`app_home_opened`, `views.publish`): published when a
//! user opens it and again after each of their decisions, for the users
//! who have opened it (`storage::home_tabs`). What it shows is
//! `render::home_view`; this module gathers the figures.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use chrono::{Datelike, Duration as Days, TimeZone, Utc};

use crate::domain::SuggestionStatus;
use crate::slack::app::{HomeTabsHere, SlackApp, SlackError};
use crate::slack::render::{self, HomeFigures, HOME_FAILED_LECTURES};
use crate::slack::reviewers::Requester;
use crate::storage::{events, home_tabs, review_queue, suggestions, sync_queue};
use crate::sync::RunReport;

/// `user` opened the Home tab: remember them and publish it.
pub async fn opened(app: &SlackApp, user: &str) -> Result<(), SlackError> {
    home_tabs::opened(&app.pool, user).await?;
    lock(&app.home_users.here).opened.insert(user.to_owned());
    publish(app, user).await
}

/// Publishes `user`'s Home tab again after a decision of theirs, if they
/// have ever opened it; in the background (Slack paces views.publish).
pub fn refresh_after_decision(app: &SlackApp, user: &str) {
    let (app, user) = (app.clone(), user.to_owned());
    tokio::spawn(async move {
        let refreshed = async {
            if !has_opened(&app, &user).await? {
                return Ok(());
            }
            {
                let mut known = lock(&app.home_users.here);
                if let Some(again) = known.publishing.get_mut(&user) {
                    *again = true;
                    return Ok(());
                }
                known.publishing.insert(user.clone(), false);
            }
            loop {
                let published = publish(&app, &user).await;
                let mut known = lock(&app.home_users.here);
                match known.publishing.get_mut(&user) {
                    Some(again) if *again && published.is_ok() => *again = false,
                    _ => {
                        known.publishing.remove(&user);
                        return published;
                    }
                }
            }
        };
        if let Err(err) = refreshed.await {
            tracing::warn!(user, error = %err, "could not refresh a Home tab after a decision");
        }
    });
}

async fn has_opened(app: &SlackApp, user: &str) -> Result<bool, crate::storage::Error> {
    if lock(&app.home_users.here).opened.contains(user) {
        return Ok(true);
    }
    let read = async {
        let users: HashSet<String> = home_tabs::all(&app.pool).await?.into_iter().collect();
        Ok::<_, crate::storage::Error>(Arc::new(users))
    };
    Ok(app
        .home_users
        .read
        .get_or_read((), read)
        .await?
        .contains(user))
}

fn lock(here: &Mutex<HomeTabsHere>) -> MutexGuard<'_, HomeTabsHere> {
    here.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Publishes `user`'s Home tab as things stand now; a guest from another
/// organisation sees only why they cannot review here (the queue, the
/// team's decisions and sync health are the workspace's own).
pub async fn publish(app: &SlackApp, user: &str) -> Result<(), SlackError> {
    let view = match app.may_see(&Requester::by_id(user, None)).await {
        Err(refused) => render::home_notice(&render::escape_mrkdwn(&refused.to_string())),
        Ok(()) => render::home_view(&figures(app, user).await?),
    };
    app.api.publish_home(user, &view).await?;
    Ok(())
}

/// What `user`'s Home tab shows now.
pub async fn figures(app: &SlackApp, user: &str) -> Result<HomeFigures, crate::storage::Error> {
    let pool = &app.pool;
    let now = Utc::now();
    let today = Utc.from_utc_datetime(&now.date_naive().and_time(chrono::NaiveTime::MIN));
    let week = today - Days::days(i64::from(now.weekday().num_days_from_monday()));
    let actor = format!("slack:{user}");
    let overview = suggestions::overview(pool).await?;
    let sla = app.settings.review_sla;
    let backlog = review_queue::backlog(pool, now, sla).await?;
    let queue = sync_queue::counts_by_status(pool).await?;
    let sync_queued = queue
        .iter()
        .filter(|(status, _)| status == "queued" || status == "in_flight")
        .map(|(_, n)| n)
        .sum();
    let limit = i64::try_from(HOME_FAILED_LECTURES).unwrap_or(10);
    Ok(HomeFigures {
        waiting_lectures: overview.pending_lectures,
        waiting_tags: overview.pending,
        oldest_waiting: overview.oldest_pending,
        review_sla: sla,
        overdue_lectures: backlog.overdue_lectures,
        mine_today: events::decisions_by(pool, &actor, today).await?,
        mine_this_week: events::decisions_by(pool, &actor, week).await?,
        team_week: events::decisions_per_reviewer(pool, now - Days::days(7)).await?,
        sync_queued,
        failed_by_category: suggestions::failed_by_category(pool).await?,
        failed_lectures: suggestions::failed_lectures(pool, limit).await?,
        failed_lecture_count: suggestions::lectures_in(pool, SuggestionStatus::Failed).await?,
        last_run: RunReport::latest(pool)
            .await?
            .map(|run| last_run_line(&run)),
        digest_at: app.settings.digest_at,
        calibration: app.calibration().await,
        approve_threshold: app.threshold(),
    })
}

/// "2026-11-29 09:14 UTC: 12 synced, 1 failed, 0 to retry".
fn last_run_line(run: &RunReport) -> String {
    let mut line = format!(
        "{}: {} synced, {} failed, {} to retry",
        run.finished_at.format("%Y-%m-%d %H:%M UTC"),
        run.synced,
        run.failed,
        run.retried
    );
    if run.dry_run {
        line.push_str(" (dry run)");
    }
    if run.aborted.is_some() {
        line.push_str("; stopped early (see the report channel)");
    }
    line
}
