//! `/tags`: `retry <lecture>`, `pending`, `show <lecture>`, `report`,
//! `stats`, `review`, `help`. Every answer is ephemeral (only the caller
//! sees it); unknown subcommands and bad arguments get the help text.
//! Decisions made here obey who may decide like clicks do
//! ([`crate::slack::reviewers`]); a guest from another organisation sees none of
//! the workspace's lectures or figures.
//!
//! Slack waits 3 s for a command's answer, then shows the user an error
//! (docs.slack.dev/interactivity/implementing-slash-commands). An answer
//! ready within [`INLINE_ANSWER_BUDGET`] goes back in the HTTP response;
//! a later one (`/tags retry` may wait on several Slack lookups) is
//! acknowledged with an empty 200 and posted to the command's
//! `response_url` when ready ([`respond_within`]).

use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::Instrument;

use crate::domain::{LectureId, SuggestionStatus};
use crate::review::ReviewError;
use crate::slack::app::SlackApp;
use crate::slack::click_queue::NoPermit;
use crate::slack::payload::SlashCommand;
use crate::slack::reviewers::Requester;
use crate::slack::{handlers::sessions, render};
use crate::storage::{self, review_messages, suggestions};
use crate::sync::RunReport;

/// Lectures listed by `/tags pending`.
const PENDING_LISTED: i64 = 20;

pub const HELP: &str = "*tagbot* — review model-suggested tags before they reach Airtable.\n\
• `/tags review` — review the queue one lecture at a time, in a modal\n\
• `/tags pending` — lectures waiting for review, oldest first\n\
• `/tags show &lt;lecture&gt;` — a lecture's suggestions and their status\n\
• `/tags retry &lt;lecture&gt;` — send the lecture's failed tags to Airtable again\n\
• `/tags report` — the last sync run's report\n\
• `/tags stats` — the queue, how often each model's suggestions were approved, by score, and why they were rejected\n\
• `/tags help` — this text";

/// How long a command's answer may take and still go back in the HTTP
/// response: Slack's 3 s, less room for the answer's way back.
pub const INLINE_ANSWER_BUDGET: Duration = Duration::from_secs(2);

/// Said when a burst of clicks left no room to take the command in time.
const BUSY: &str =
    "tagbot is busy deciding a burst of clicks and could not take this command in time; nothing was changed. Try again in a moment.";

/// Said when the work behind a command died before it could answer.
const LOST_ANSWER: &str =
    "Something went wrong on tagbot's side and the command's outcome is unknown. Check with `/tags show` before trying again.";

/// A command's answer: its mrkdwn text and, when it has buttons, blocks
/// (which then carry the text too; `text` is their fallback).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub text: String,
    pub blocks: Vec<serde_json::Value>,
}

impl From<String> for Answer {
    fn from(text: String) -> Answer {
        Answer {
            text,
            blocks: Vec::new(),
        }
    }
}

impl Answer {
    /// The text in sections (each within Slack's 3,000 characters, split
    /// at line ends), then `extra`.
    fn with_blocks(text: String, extra: Vec<serde_json::Value>) -> Answer {
        let mut blocks = render::text_sections(&text);
        blocks.extend(extra);
        Answer { text, blocks }
    }
}

/// The command's answer when it is ready within `budget`; else `None`, the
/// caller acknowledges with an empty 200 and the answer is posted to the
/// command's `response_url` once ready. Without a `response_url` there is
/// nowhere to answer later, so it waits for the answer. HTTP and Socket
/// Mode alike can call this.
pub async fn respond_within(
    app: &SlackApp,
    command: SlashCommand,
    budget: Duration,
) -> Option<Answer> {
    let Some(response_url) = command.response_url.clone().filter(|url| !url.is_empty()) else {
        return Some(respond(app, &command).await);
    };
    // Held until the answer is posted, so a graceful shutdown waits for
    // late answers as it does for clicks. The wait for it is bounded, and
    // counts against the budget: the answer still leaves within Slack's 3 s.
    let waiting = Instant::now();
    let permit = match app.clicks.permit().await {
        Ok(permit) => Some(permit),
        Err(NoPermit::Busy) => {
            tracing::warn!(command = %command.text, user = %command.user_id, "too many clicks being decided to take a /tags command in time; the caller is told");
            return Some(BUSY.to_owned().into());
        }
        // Shutting down: answered without holding up the stop.
        Err(NoPermit::Closed) => None,
    };
    let budget = budget.saturating_sub(waiting.elapsed());
    let (answered, mut answer) = oneshot::channel::<Answer>();
    let worker = app.clone();
    tokio::spawn(
        async move {
            let text = respond(&worker, &command).await;
            // Refused once the acknowledgement went out without it.
            if let Err(late) = answered.send(text) {
                if let Err(err) = worker
                    .api
                    .respond_ephemeral_blocks(&response_url, &late.text, &late.blocks)
                    .await
                {
                    tracing::warn!(command = %command.text, user = %command.user_id, error = %err, "could not post a late /tags answer");
                }
            }
            drop(permit);
        }
        .instrument(tracing::Span::current()),
    );
    match tokio::time::timeout(budget, &mut answer).await {
        Ok(Ok(text)) => Some(text),
        Ok(Err(_)) => Some(LOST_ANSWER.to_owned().into()),
        Err(_) => {
            // An answer sent in the instant before closing still goes
            // inline; after closing, the worker posts it late instead.
            answer.close();
            answer.try_recv().ok()
        }
    }
}

/// A command's answer only its user sees, as the HTTP response or a
/// Socket Mode acknowledgement's payload carries it.
pub fn ephemeral(answer: &Answer) -> serde_json::Value {
    let mut message = serde_json::json!({ "response_type": "ephemeral", "text": answer.text });
    if !answer.blocks.is_empty() {
        message["blocks"] = serde_json::Value::from(answer.blocks.clone());
    }
    message
}

/// The command's answer (mrkdwn), shown only to the caller.
pub async fn respond(app: &SlackApp, command: &SlashCommand) -> Answer {
    match answer(app, command).await {
        Ok(answer) => answer,
        Err(err) => {
            tracing::error!(command = %command.text, user = %command.user_id, error = %err, "a /tags command failed");
            "Something went wrong on tagbot's side; nothing was changed. Try again in a moment."
                .to_owned()
                .into()
        }
    }
}

async fn answer(app: &SlackApp, command: &SlashCommand) -> Result<Answer, storage::Error> {
    let mut words = command.text.split_whitespace();
    let subcommand = words.next().unwrap_or("help").to_ascii_lowercase();
    let argument = words.next();
    let extra = words.next();
    let lecture = || argument.and_then(|raw| LectureId::parse(raw).ok());
    // The queue, lectures and figures are the workspace's own: a guest
    // from another organisation is told why and shown none of it.
    if matches!(subcommand.as_str(), "pending" | "report" | "stats" | "show") {
        let requester = Requester::by_id(&command.user_id, command.user_name.as_deref());
        if let Err(refused) = app.may_see(&requester).await {
            return Ok(render::escape_mrkdwn(&refused.to_string()).into());
        }
    }
    let text = match (subcommand.as_str(), argument, extra) {
        ("pending", None, None) => return pending(app).await,
        ("help", None, None) => Ok(HELP.to_owned()),
        ("review", None, None) => Ok(start_session(app, command).await),
        ("report", None, None) => report(app).await,
        ("stats", None, None) => stats(app).await,
        ("show", Some(_), None) => match lecture() {
            Some(lecture) => show(app, &lecture).await,
            None => Ok(usage("show")),
        },
        ("retry", Some(_), None) => match lecture() {
            Some(lecture) => retry(app, command, &lecture).await,
            None => Ok(usage("retry")),
        },
        ("show" | "retry", _, _) => Ok(usage(&subcommand)),
        _ => Ok(format!(
            "I don't know `/tags {}`.\n{HELP}",
            render::escape_mrkdwn(command.text.trim())
        )),
    };
    text.map(Answer::from)
}

/// `/tags review`: a review session in a modal, opened with the command's
/// trigger (valid 3 s, once).
async fn start_session(app: &SlackApp, command: &SlashCommand) -> String {
    let Some(trigger) = command.trigger_id.as_deref() else {
        return "Slack sent no trigger for a modal; try `/tags review` again.".to_owned();
    };
    let requester = Requester::by_id(&command.user_id, command.user_name.as_deref());
    match sessions::start(app, &requester, trigger).await {
        Ok(()) => "Review session opened.".to_owned(),
        Err(err) => {
            tracing::error!(user = %command.user_id, error = %err, "could not open a review session");
            "Could not open a review session; try `/tags review` again in a moment.".to_owned()
        }
    }
}

fn usage(subcommand: &str) -> String {
    format!("`/tags {subcommand}` takes one lecture id, like `/tags {subcommand} L1042`.\n{HELP}")
}

async fn pending(app: &SlackApp) -> Result<Answer, storage::Error> {
    let rows = suggestions::waiting_lectures(&app.pool, PENDING_LISTED + 1).await?;
    if rows.is_empty() {
        return Ok("Nothing is waiting for review. :tada:".to_owned().into());
    }
    let total = suggestions::lectures_in(&app.pool, SuggestionStatus::Pending).await?;
    let mut lines = vec![format!(
        "*{total} lecture(s) waiting for review*, oldest first:"
    )];
    for row in rows.iter().take(PENDING_LISTED as usize) {
        let link = match (&row.channel, &row.ts) {
            (Some(channel), Some(ts)) => format!(" — <{}|open>", permalink(channel, ts)),
            _ => " — waiting in the queue for the review channel".to_owned(),
        };
        lines.push(format!(
            "• {} `{}`: {} pending since {}{link}",
            render::isolate(&render::escape_mrkdwn(&row.title)),
            render::escape_mrkdwn(&row.lecture),
            row.pending,
            row.since.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    if total > PENDING_LISTED {
        lines.push(format!("…and {} more.", total - PENDING_LISTED));
    }
    Ok(Answer::with_blocks(
        lines.join("\n"),
        vec![render::start_reviewing_block("pending_start")],
    ))
}

/// `/tags stats`: the queue, drift of the last week, and calibration per
/// model (every model, its rejections by reason; tags named when people
/// remove them in Airtable).
async fn stats(app: &SlackApp) -> Result<String, storage::Error> {
    let overview = suggestions::overview(&app.pool).await?;
    let week_ago = chrono::Utc::now() - chrono::TimeDelta::days(7);
    let removed = crate::storage::drift::count_since(&app.pool, week_ago).await?;
    let mut lines = vec![format!(
        "*Queue:* {} tag(s) pending on {} lecture(s); {} approved, not yet in Airtable; {} failed. Synced tags removed in Airtable in the last 7 days: {removed}.",
        overview.pending, overview.pending_lectures, overview.approved, overview.failed
    )];
    let Some(calibration) = app.calibration().await else {
        lines.push("Calibration is unavailable right now; try again in a minute.".to_owned());
        return Ok(lines.join("\n"));
    };
    if calibration.models.is_empty() {
        lines.push("*Calibration:* no decisions yet.".to_owned());
        lines.extend(agreement_lines(app, &calibration));
        return Ok(lines.join("\n"));
    }
    lines.push(format!(
        "*Calibration* (a recommended threshold needs {} approved; a synced tag removed in Airtable counts as not approved):",
        crate::calibration::percent(calibration.target)
    ));
    if let Some(note) = calibration.beside_threshold(app.threshold()) {
        lines.push(format!("Approve all ≥ {:.2}: {note}", app.threshold()));
    }
    for model in &calibration.models {
        lines.push(format!(
            "• {}: {}",
            render::escape_mrkdwn(&model.model),
            model.summary()
        ));
        if let Some(reasons) = model.reject_reasons.summary() {
            lines.push(format!("   {reasons}"));
        }
        for tag in &model.drifting {
            lines.push(format!(
                "   removed in Airtable after syncing: {} ({} of {} synced)",
                render::isolate(&render::escape_mrkdwn(&tag.tag_name)),
                tag.removed,
                tag.synced
            ));
        }
    }
    lines.extend(agreement_lines(app, &calibration));
    Ok(lines.join("\n"))
}

/// `/tags stats`' agreement: the team's percent and alpha, then each
/// model's; nothing while there are no votes and no second-opinion band.
fn agreement_lines(app: &SlackApp, calibration: &crate::calibration::Calibration) -> Vec<String> {
    let team = &calibration.agreement;
    if team.items == 0 && app.review.settings().second_opinion.is_none() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "*Agreement between reviewers* (suggestions two reviewers voted on): {}",
        team.summary()
    )];
    for model in calibration.models.iter().filter(|m| m.agreement.items > 0) {
        lines.push(format!(
            "• {}: {}",
            render::escape_mrkdwn(&model.model),
            model.agreement.summary()
        ));
    }
    lines
}

/// A message's web link; Slack redirects it into the workspace.
fn permalink(channel: &str, ts: &str) -> String {
    format!(
        "https://slack.com/archives/{channel}/p{}",
        ts.replace('.', "")
    )
}

async fn show(app: &SlackApp, lecture: &LectureId) -> Result<String, storage::Error> {
    let Some(card) = app.card(lecture.as_str()).await? else {
        return Ok(format!(
            "Lecture `{}` has no suggestions.",
            render::escape_mrkdwn(lecture.as_str())
        ));
    };
    let mut lines = vec![format!(
        "*{}* `{}`",
        render::isolate(&render::escape_mrkdwn(&card.title)),
        render::escape_mrkdwn(&card.lecture_id)
    )];
    for s in &card.suggestions {
        let mut line = format!(
            "• {} {:.2} — {}",
            render::isolate(&render::escape_mrkdwn(&s.tag_name)),
            s.score,
            render::status_badge(s.status)
        );
        if let Some(by) = &s.decided_by {
            line.push_str(&format!(" by {}", render::person(by)));
        }
        if let Some(reason) = s.reject_reason {
            line.push_str(&format!(" · _{}_", reason.label()));
        }
        if let Some(error) = &s.last_error {
            line.push_str(&format!(
                " ({})",
                render::escape_mrkdwn(&render::shorten(error, 200))
            ));
        }
        lines.push(line);
    }
    if let Some(message) = review_messages::message_for(&app.pool, lecture.as_str()).await? {
        lines.push(format!(
            "<{}|Open the review message>",
            permalink(&message.channel, &message.ts)
        ));
    }
    Ok(render::shorten(
        &lines.join("\n"),
        render::limits::SECTION_TEXT,
    ))
}

async fn retry(
    app: &SlackApp,
    command: &SlashCommand,
    lecture: &LectureId,
) -> Result<String, storage::Error> {
    let actor = match app
        .reviewer(&Requester::by_id(
            &command.user_id,
            command.user_name.as_deref(),
        ))
        .await
    {
        Ok(actor) => actor,
        Err(refused) => return Ok(render::escape_mrkdwn(&refused.to_string())),
    };
    let decisions = match app.review.retry_failed(lecture, &actor).await {
        Ok(decisions) => decisions,
        Err(ReviewError::Database(err)) => return Err(err),
        Err(refused) => {
            return Ok(format!(
                "Nothing was retried: {}.",
                render::escape_mrkdwn(&refused.to_string())
            ))
        }
    };
    let retried = decisions.applied_count();
    if retried == 0 {
        return Ok(format!(
            "Lecture `{}` has no failed tags; nothing to retry.",
            render::escape_mrkdwn(lecture.as_str())
        ));
    }
    Ok(format!(
        "Retrying {retried} failed tag(s) of `{}`; they go back to Airtable shortly.",
        render::escape_mrkdwn(lecture.as_str())
    ))
}

async fn report(app: &SlackApp) -> Result<String, storage::Error> {
    Ok(match RunReport::latest(&app.pool).await? {
        Some(report) => render::report_block(&report),
        None => "No sync run has been recorded yet.".to_owned(),
    })
}
