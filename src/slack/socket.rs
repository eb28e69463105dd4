//! Socket Mode (when `SLACK_APP_TOKEN` is set): Slack delivers
//! interactions and slash commands over a WebSocket that tagbot opens, so
//! no public HTTP endpoint is needed. slack-morphism keeps the connection
//! (reconnecting with backoff) and acknowledges each envelope; the
//! handlers are the same as in HTTP mode.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use slack_morphism::prelude::*;

use super::app::SlackApp;
use super::payload::{Interaction, SlashCommand};
use super::{commands, interactions};
use crate::shutdown::Shutdown;

/// Listens until `shutdown`.
pub async fn run(
    app: SlackApp,
    app_token: &SecretString,
    shutdown: &Shutdown,
) -> Result<(), String> {
    let client = app.api.socket_client();
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
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
            tokio::spawn(async move { interactions::handle(&app, interaction).await });
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
            };
            let answer = commands::respond(&app, &command).await;
            answer["text"].as_str().unwrap_or_default().to_owned()
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
