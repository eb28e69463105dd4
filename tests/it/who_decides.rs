//! Who may decide with `SLACK_REVIEWERS` unset: the members of the
//! workspace tagbot is installed in (or of its Grid organisation), never a
//! guest from another organisation in a Slack Connect channel unless they
//! are listed by id. Judged by a click's `user.team_id`, and by
//! `users.info` for commands and events.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tagbot::slack::card::actions;
use tagbot::slack::reviewers::{Requester, Standing};

use crate::slack_world::{all_text, eventually, settings, Signing, SlackWorld, REVIEW};

const DANA: &str = "U0DANA0001";
const GUEST: &str = "U0GUEST001";
const OTHER_ORG: &str = "T0OTHERORG";

/// A click as a guest from another organisation makes it: their own
/// workspace in `user.team_id`.
async fn guest_click(w: &SlackWorld, lecture: &str, action_id: &str, value: &str) {
    let ts = w.message_ts(lecture).await;
    let mut payload = w.block_actions(GUEST, &ts, action_id, json!({ "value": value }), json!({}));
    payload["user"]["team_id"] = json!(OTHER_ORG);
    assert_eq!(w.interact(&payload).await, 200);
}

#[sqlx::test]
async fn a_guest_from_another_organisation_decides_nothing_anywhere(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::new(pool, options).await;
    w.slack
        .add_user_of(GUEST, "Mallory <!channel>", OTHER_ORG, None);
    let one = w.db.suggestion("L1", "t1", 0.95).await;
    w.db.suggestion("L1", "t2", 0.93).await;
    w.settle().await;

    // Clicks on the review message: refused, told why, nothing changed.
    guest_click(&w, "L1", actions::APPROVE, &one.to_string()).await;
    guest_click(&w, "L1", actions::APPROVE_TOP, "L1").await;
    eventually("the guest is told twice", || async {
        w.told(GUEST).len() == 2
    })
    .await;
    for told in w.told(GUEST) {
        assert!(told.contains("cannot review tags here"), "{told}");
    }
    assert_eq!(w.db.status(one).await, "pending");

    // Slash commands: judged by users.info; nothing of the workspace's
    // lectures or figures is shown either.
    for command in ["retry L1", "show L1", "pending", "stats", "report"] {
        let answer = w.command(GUEST, command).await;
        assert!(
            answer.contains("cannot review tags here"),
            "{command}: {answer}"
        );
        assert!(!answer.contains("תגית"), "{command}: {answer}");
    }
    // Nor the Details modal, with its history of who decided.
    let views_before = w.slack.views().len();
    guest_click(&w, "L1", actions::DETAILS, "L1").await;
    eventually("the guest is told about Details", || async {
        w.told(GUEST).len() == 3
    })
    .await;
    assert_eq!(
        w.slack.views().len(),
        views_before,
        "no Details modal for a guest"
    );

    // A review session: a notice, and nothing held.
    let minted = w.slack.mint(REVIEW, GUEST);
    let body = standins::sender::command_body(GUEST, REVIEW, "review", &minted);
    let (status, _) = w.send("/slack/commands", &body, Signing::Valid).await;
    assert_eq!(status, 200);
    eventually("the session modal opens", || async {
        w.slack
            .views()
            .iter()
            .any(|v| v.trigger_id.as_deref() == Some(minted.trigger_id.as_str()))
    })
    .await;
    let session = w
        .slack
        .views()
        .into_iter()
        .find(|v| v.trigger_id.as_deref() == Some(minted.trigger_id.as_str()))
        .unwrap();
    assert!(
        all_text(&session.view).contains("cannot review tags here"),
        "{}",
        session.view
    );
    assert_eq!(w.db.count("SELECT count(*) FROM review_holds").await, 0);

    // The App Home: why, and none of the team's figures.
    let body = json!({
        "type": "event_callback", "team_id": "T0TAGBOT00", "api_app_id": "A0TAGBOT00",
        "event_id": "EvGUEST", "event_time": 1_700_000_000,
        "event": { "type": "app_home_opened", "user": GUEST, "channel": "D0GUEST001",
                   "tab": "home", "event_ts": "1700000000.000100" },
    });
    let (status, _) = w
        .send("/slack/events", &body.to_string(), Signing::Valid)
        .await;
    assert_eq!(status, 200);
    eventually("the guest's Home tab is published", || async {
        w.slack.home(GUEST).is_some()
    })
    .await;
    let home = all_text(&w.slack.home(GUEST).unwrap().view);
    assert!(home.contains("cannot review tags here"), "{home}");
    assert!(!home.contains("waiting for review"), "{home}");

    // A member of the workspace decides as before.
    w.click(DANA, "L1", actions::APPROVE, &one.to_string())
        .await;
    eventually("the member's approval lands", || async {
        w.db.status(one).await == "approved"
    })
    .await;
    assert_eq!(
        w.db.count("SELECT count(*) FROM events WHERE actor = 'slack:U0GUEST001'")
            .await,
        0
    );
    w.close().await;
}

#[sqlx::test]
async fn a_guest_listed_by_id_in_slack_reviewers_decides(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::with_env(pool, options, &[("SLACK_REVIEWERS", GUEST)]).await;
    w.slack.add_user_of(GUEST, "Guest", OTHER_ORG, None);
    let one = w.db.suggestion("L1", "t1", 0.95).await;
    w.settle().await;
    guest_click(&w, "L1", actions::APPROVE, &one.to_string()).await;
    eventually("the listed guest's approval lands", || async {
        w.db.status(one).await == "approved"
    })
    .await;
    w.close().await;
}

/// In an Enterprise Grid organisation, a colleague from another workspace
/// of the organisation is a member; a user of another organisation is not,
/// nor is anyone Slack cannot place.
#[sqlx::test]
async fn in_a_grid_organisation_its_other_workspaces_are_members(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.slack.set_enterprise(Some("E0GRID0001"));
    w.slack
        .add_user_of("U0SISTER01", "Colleague", "T0SISTER01", Some("E0GRID0001"));
    w.slack
        .add_user_of("U0OUTSIDE1", "Outsider", "T0OUTSIDE1", Some("E0OTHER001"));
    let grid = tagbot::startup::slack_app(
        w.db.app.clone(),
        settings(&w.slack, &[]),
        crate::helpers::no_undo(),
    )
    .await
    .unwrap();
    assert_eq!(grid.workspace.enterprise_id.as_deref(), Some("E0GRID0001"));
    let standing = |id: &'static str, team: Option<&'static str>| {
        let grid = grid.clone();
        async move {
            grid.standing(&Requester {
                id,
                handle: None,
                team_id: team,
            })
            .await
        }
    };
    assert_eq!(
        standing("U0SISTER01", Some("T0SISTER01")).await,
        Standing::Reviewer
    );
    assert_eq!(standing("U0SISTER01", None).await, Standing::Reviewer);
    assert_eq!(
        standing("U0OUTSIDE1", Some("T0OUTSIDE1")).await,
        Standing::NotAMember
    );
    assert_eq!(standing("U0OUTSIDE1", None).await, Standing::NotAMember);
    assert_eq!(standing(DANA, Some("T0TAGBOT00")).await, Standing::Reviewer);
    // A user Slack says it does not know is not a member.
    assert_eq!(standing("U0NOBODY01", None).await, Standing::NotAMember);
    // Slack failing to answer leaves it unknown: nobody is told "no".
    w.slack.fail_next("users.info", 1, "internal_error");
    assert_eq!(standing("U0STRANGE2", None).await, Standing::Unknown);
    w.close().await;
}

/// `serve` refuses to start, naming the token, when Slack will not say
/// which workspace it belongs to: without it, members and guests look
/// alike.
#[sqlx::test]
async fn serve_refuses_to_start_when_auth_test_fails(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::without_poster(pool, options, &[]).await;
    w.slack.fail_next("auth.test", 5, "invalid_auth");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tagbot"))
        .arg("serve")
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", w.db.app_url())
        .env("SLACK_BOT_TOKEN", crate::slack_world::BOT_TOKEN)
        .env("SLACK_SIGNING_SECRET", crate::slack_world::SECRET)
        .env("SLACK_API_URL", &w.slack.url)
        .env("SLACK_REVIEW_CHANNEL", REVIEW)
        .env("SLACK_REPORT_CHANNEL", crate::slack_world::REPORT)
        .env("AIRTABLE_TOKEN", crate::sync_world::TOKEN)
        .env("AIRTABLE_BASE_ID", crate::sync_world::BASE_ID)
        .env("AIRTABLE_API_URL", "http://127.0.0.1:1")
        .env("TAGBOT_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run tagbot serve");
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > std::time::Duration::from_secs(30) {
            let _ = child.kill();
            panic!("serve started although auth.test failed");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(stderr.contains("refusing to start"), "{stderr}");
    assert!(stderr.contains("SLACK_BOT_TOKEN"), "{stderr}");
    assert!(stderr.contains("invalid_auth"), "{stderr}");
    w.close().await;
}
