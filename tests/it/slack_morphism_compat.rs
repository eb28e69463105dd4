//! slack-morphism, configured as tagbot configures it, decodes every
//! answer of the Slack stand-in, and sees its refusals as Slack errors.

use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use std::time::Duration;

use standins::slack::{FakeSlack, RateLimits, SlackCall, BOT_USER_ID};

const TOKEN: &str = "xoxb-fake-token";
const REVIEW: &str = "C0REVIEW01";

async fn fake(rate: RateLimits) -> FakeSlack {
    let fake = FakeSlack::start(TOKEN, rate).await.unwrap();
    fake.add_channel(REVIEW, "tag-review", true);
    fake
}

fn client(fake: &FakeSlack) -> SlackClient<SlackClientHyperHttpsConnector> {
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .unwrap()
        .https_or_http()
        .enable_http1()
        .build();
    SlackClient::new(SlackClientHyperConnector::from(https).with_slack_api_url(&fake.url))
}

fn card() -> Vec<SlackBlock> {
    vec![
        SlackBlock::Header(SlackHeaderBlock::new(pt!("הרצאה L1042"))),
        SlackBlock::Section(SlackSectionBlock::new().with_text(md!("*פילוסופיה* 0.93"))),
        SlackBlock::Actions(SlackActionsBlock::new(vec![
            SlackActionBlockElement::Button(
                SlackBlockButtonElement::new(pt!("אישור"))
                    .with_action_id("approve".into())
                    .with_value("17".into())
                    .with_style(SlackBlockButtonStyle::Primary),
            ),
            SlackActionBlockElement::Button(
                SlackBlockButtonElement::new(pt!("דחייה")).with_action_id("reject".into()),
            ),
        ])),
    ]
}

#[tokio::test]
async fn every_method_tagbot_uses_decodes() {
    let fake = fake(RateLimits::default()).await;
    fake.add_user("U0DANA0001", "דנה");
    fake.add_usergroup("S0REVIEW01", &["U0DANA0001"]);
    let client = client(&fake);
    let token = SlackApiToken::new(TOKEN.into());
    let session = client.open_session(&token);

    let auth = session.auth_test().await.unwrap();
    assert_eq!(auth.user_id.0, BOT_USER_ID);

    let content = SlackMessageContent::new()
        .with_text("fallback".into())
        .with_blocks(card());
    let posted = session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            REVIEW.into(),
            content.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(posted.channel.0, REVIEW);
    assert_eq!(
        fake.message(REVIEW, &posted.ts.0).unwrap()["blocks"][0]["type"],
        "header"
    );

    let updated = session
        .chat_update(&SlackApiChatUpdateRequest::new(
            REVIEW.into(),
            content.clone(),
            posted.ts.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(updated.ts, posted.ts);

    session
        .chat_post_ephemeral(&SlackApiChatPostEphemeralRequest::new(
            REVIEW.into(),
            "U0DANA0001".into(),
            content,
        ))
        .await
        .unwrap();

    let view = SlackView::Modal(SlackModalView::new(pt!("פרטים"), card()));
    let opened = session
        .views_open(&SlackApiViewsOpenRequest::new(
            fake.trigger_id().into(),
            view.clone(),
        ))
        .await
        .unwrap();
    let pushed = session
        .views_push(&SlackApiViewsPushRequest::new(
            fake.trigger_id().into(),
            view.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(
        pushed.view.state_params.root_view_id,
        Some(opened.view.state_params.id.clone())
    );
    session
        .views_update(
            &SlackApiViewsUpdateRequest::new(view).with_view_id(opened.view.state_params.id),
        )
        .await
        .unwrap();

    let user = session
        .users_info(&SlackApiUsersInfoRequest::new("U0DANA0001".into()))
        .await
        .unwrap();
    assert_eq!(
        user.user.profile.and_then(|p| p.display_name).as_deref(),
        Some("דנה")
    );
    let channel = session
        .conversations_info(&SlackApiConversationsInfoRequest::new(REVIEW.into()))
        .await
        .unwrap();
    assert_eq!(channel.channel.flags.is_member, Some(true));
    let group = session
        .usergroups_users_list(&SlackApiUserGroupsUsersListRequest::new(
            "S0REVIEW01".into(),
        ))
        .await
        .unwrap();
    assert_eq!(group.users, vec![SlackUserId::new("U0DANA0001".into())]);

    // Reads are GET with a query string, writes POST with JSON.
    let shapes: Vec<(String, String)> = fake
        .calls()
        .into_iter()
        .map(|c| (c.method, c.http_method))
        .collect();
    assert!(shapes.contains(&("users.info".into(), "GET".into())));
    assert!(shapes.contains(&("chat.update".into(), "POST".into())));
    assert!(fake.calls().iter().all(SlackCall::ok), "{:?}", fake.calls());
    fake.shutdown();
}

#[tokio::test]
async fn refusals_reach_slack_morphism_as_slack_errors() {
    let fake = fake(RateLimits::default()).await;
    let client = client(&fake);
    let wrong = SlackApiToken::new("xoxb-wrong".into());
    match client.open_session(&wrong).auth_test().await {
        Err(SlackClientError::ApiError(err)) => assert_eq!(err.code, "invalid_auth"),
        other => panic!("expected invalid_auth, got {other:?}"),
    }

    let token = SlackApiToken::new(TOKEN.into());
    let session = client.open_session(&token);
    fake.rate_limit_next("chat.postMessage", 1, 3);
    let request = SlackApiChatPostMessageRequest::new(
        REVIEW.into(),
        SlackMessageContent::new().with_text("x".into()),
    );
    match session.chat_post_message(&request).await {
        Err(SlackClientError::RateLimitError(err)) => {
            assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
        }
        other => panic!("expected a rate limit error, got {other:?}"),
    }

    let too_many = SlackMessageContent::new().with_blocks(
        (0..51)
            .map(|_| SlackBlock::Section(SlackSectionBlock::new().with_text(md!("x"))))
            .collect(),
    );
    match session
        .chat_post_message(&SlackApiChatPostMessageRequest::new(
            REVIEW.into(),
            too_many,
        ))
        .await
    {
        Err(SlackClientError::ApiError(err)) => assert_eq!(err.code, "invalid_blocks"),
        other => panic!("expected invalid_blocks, got {other:?}"),
    }
    fake.shutdown();
}
