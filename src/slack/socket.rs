//! Socket Mode (when `SLACK_APP_TOKEN` is set): Slack delivers
//! interactions and slash commands over a WebSocket that tagbot opens, so
//! no public HTTP endpoint is needed. slack-morphism keeps the connection
//! (reconnecting with backoff) and acknowledges each envelope; the
//! handlers are the same as in HTTP mode.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::*;

use super::app::SlackApp;
use super::commands;
use super::payload::{Interaction, SlashCommand};
use crate::shutdown::Shutdown;

/// Listens until `shutdown`.
pub async fn run(
    app: SlackApp,
    app_token: &SecretString,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let client = app.api.socket_client();
    let listener_client = Arc::clone(&client);
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(listener_client)
            .with_error_handler(on_error)
            .with_user_state(app),
    );
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new(),
        environment,
        callbacks,
    );
    let token = SlackApiToken::new(SlackApiTokenValue::new(
        app_token.expose_secret().to_owned(),
    ));
    // slack-morphism reconnects forever in the background; a token Slack
    // refuses must stop `serve` with a clear reason instead.
    let probe = client.open_session(&token);
    let request = SlackApiAppsConnectionOpenRequest::new();
    let opened = probe.apps_connections_open(&request);
    match tokio::time::timeout(std::time::Duration::from_secs(15), opened).await {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            return Err(format!(
                "Slack refused a Socket Mode connection (check SLACK_APP_TOKEN: an xapp- token with connections:write, and Socket Mode enabled for the app): {err}"
            ))
        }
        Err(_) => return Err("Slack did not answer apps.connections.open within 15 s".to_owned()),
    }
    listener.listen_for(&token).await.map_err(|err| {
        format!("could not open a Socket Mode connection (check SLACK_APP_TOKEN): {err}")
    })?;
    listener.start().await;
    tracing::info!("connected to Slack in Socket Mode");
    shutdown.requested().await;
    listener.shutdown().await;
    Ok(())
}

async fn state(states: &SlackClientEventsUserState) -> Option<SlackApp> {
    states.read().await.get_user_state::<SlackApp>().cloned()
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let Some(app) = state(&states).await else {
        return Ok(());
    };
    // The same payload types as HTTP mode read.
    match serde_json::to_value(&event).and_then(serde_json::from_value::<Interaction>) {
        Ok(interaction) => {
            app.accept(interaction).await;
        }
        Err(err) => tracing::warn!(error = %err, "a Socket Mode interaction tagbot cannot read"),
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let text = match state(&states).await {
        Some(app) => {
            let command = SlashCommand {
                command: event.command.to_string(),
                text: event.text.clone().unwrap_or_default(),
                user_id: event.user_id.to_string(),
                user_name: None,
                channel_id: event.channel_id.to_string(),
                trigger_id: Some(event.trigger_id.to_string()),
                response_url: Some(event.response_url.0.to_string()),
            };
            commands::respond(&app, &command).await
        }
        None => "tagbot is starting; try again in a moment.".to_owned(),
    };
    Ok(
        SlackCommandEventResponse::new(SlackMessageContent::new().with_text(text))
            .with_response_type(SlackMessageResponseType::Ephemeral),
    )
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _states: SlackClientEventsUserState,
) -> HttpStatusCode {
    tracing::warn!(error = %err, "Socket Mode error");
    HttpStatusCode::OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_mode_click_reads_as_the_http_one_does() {
        let slack_json = serde_json::json!({
            "type": "block_actions",
            "team": { "id": "T0TAGBOT00", "domain": "tagbot" },
            "user": { "id": "U0DANA0001", "username": "dana", "name": "dana", "team_id": "T0TAGBOT00" },
            "api_app_id": "A0TAGBOT00",
            "container": { "type": "message", "message_ts": "1700000000.000100", "channel_id": "C0REVIEW01", "is_ephemeral": false },
            "trigger_id": "1.2.3",
            "channel": { "id": "C0REVIEW01", "name": "tag-review" },
            "actions": [{ "type": "button", "action_id": "tagbot_approve", "block_id": "a:7",
                          "text": { "type": "plain_text", "text": "Approve" }, "value": "7",
                          "action_ts": "1700000001.000200" }],
        });
        // What slack-morphism hands the Socket Mode callback…
        let event: SlackInteractionEvent = serde_json::from_value(slack_json).unwrap();
        // …becomes the same interaction HTTP mode handles.
        let interaction: Interaction =
            serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
        let Interaction::BlockActions(click) = interaction else {
            panic!("not a click");
        };
        assert_eq!(click.user.id, "U0DANA0001");
        assert_eq!(click.actions[0].action_id, "tagbot_approve");
        assert_eq!(click.actions[0].value.as_deref(), Some("7"));
        assert_eq!(
            click.message(),
            Some(("C0REVIEW01".into(), "1700000000.000100".into()))
        );
    }
}
