//! One frame Slack sends over a Socket Mode connection: what it is, what
//! tagbot does with it, and the acknowledgement it owes
//! (<https://docs.slack.dev/apis/events-api/using-socket-mode>).
//!
//! Payloads are read with the lenient types HTTP mode reads
//! ([`crate::slack::payload`]), not slack-morphism's full models: a click
//! is the same click whichever way it arrives, and a field those models
//! do not expect (an org-wide install's `"team": null`, message
//! `metadata`) must not lose it.
//!
//! Every envelope that has an id is acknowledged, readable or not: one
//! tagbot cannot read would read no better when Slack delivers it again,
//! so it is acknowledged and logged with its type and envelope id, where
//! an operator can find it. The one exception is a click arriving while
//! tagbot shuts down: left unacknowledged, Slack delivers it again, to
//! this process's successor or another instance.

use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::slack::app::SlackApp;
use crate::slack::click_queue::NoPermit;
use crate::slack::dispatch::{self, Dispatched};
use crate::slack::payload::{Interaction, SlashCommand};

/// The fields of a frame tagbot reads; the payload stays JSON until its
/// type says how to read it.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    envelope_id: Option<String>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    accepts_response_payload: bool,
    #[serde(default)]
    retry_attempt: Option<u32>,
    /// `disconnect`'s reason.
    #[serde(default)]
    reason: Option<String>,
}

/// What the connection does after a frame.
#[derive(Debug, PartialEq)]
pub(super) enum Next {
    /// Send this acknowledgement now.
    Ack(String),
    /// Nothing to send now (the answer, if any, comes later through the
    /// connection's answer channel).
    Nothing,
    /// Slack's `hello`: the connection is live.
    Hello,
    /// Slack will close this connection: open another.
    Disconnect(String),
}

/// Handles one text frame. Slash-command answers are computed in the
/// background and sent through `answers` as complete acknowledgements.
pub(super) async fn handle(
    app: &SlackApp,
    text: &str,
    answers: &mpsc::UnboundedSender<String>,
) -> Next {
    let frame = match serde_json::from_str::<Frame>(text) {
        Ok(frame) => frame,
        Err(err) => return unreadable_frame(text, &err),
    };
    match (frame.kind.as_str(), frame.envelope_id.clone()) {
        ("hello", _) => Next::Hello,
        ("disconnect", _) => Next::Disconnect(frame.reason.unwrap_or_else(|| "unknown".to_owned())),
        (kind, None) => {
            tracing::warn!(
                envelope_type = kind,
                "a Socket Mode frame without an envelope id; ignored"
            );
            Next::Nothing
        }
        (kind, Some(id)) => {
            let span = tracing::info_span!("envelope", envelope_id = %id, envelope_type = %kind);
            on_envelope(app, frame, id, answers).instrument(span).await
        }
    }
}

async fn on_envelope(
    app: &SlackApp,
    frame: Frame,
    id: String,
    answers: &mpsc::UnboundedSender<String>,
) -> Next {
    let kind = frame.kind.as_str();
    match kind {
        "interactive" => match serde_json::from_value::<Interaction>(frame.payload) {
            // Acknowledged once a permit is free, decided right after, as
            // in HTTP mode; waited for off the read loop, so a burst being
            // worked off never stalls the link (pings, other envelopes).
            Ok(interaction) => {
                accept_later(app, interaction, id, answers);
                Next::Nothing
            }
            Err(err) => unreadable(kind, &id, &err),
        },
        "slash_commands" => match serde_json::from_value::<SlashCommand>(frame.payload) {
            Ok(command) => {
                answer_later(app, command, id, frame.accepts_response_payload, answers);
                Next::Nothing
            }
            Err(err) => unreadable(kind, &id, &err),
        },
        "events_api" => {
            dispatch::event(app, &frame.payload, frame.retry_attempt.unwrap_or(0) > 0);
            Next::Ack(ack(&id, None))
        }
        other => {
            tracing::warn!(envelope_type = other, envelope_id = %id, "a Socket Mode envelope of a type tagbot does not handle; acknowledged");
            Next::Ack(ack(&id, None))
        }
    }
}

/// Accepts a click once a permit is free and acknowledges it then. A
/// review session's submission is answered in the acknowledgement's
/// payload instead, as in HTTP mode.
fn accept_later(
    app: &SlackApp,
    interaction: Interaction,
    id: String,
    answers: &mpsc::UnboundedSender<String>,
) {
    let (app, answers) = (app.clone(), answers.clone());
    tokio::spawn(
        async move {
            // A click that waited past `click_queue::ACCEPT_WAIT` is left
            // unacknowledged, for Slack to report to the reviewer, rather
            // than acknowledged and never decided.
            match dispatch::interaction(&app, interaction).await {
                Ok(Dispatched::Answer(answer)) => {
                    if answers.send(ack(&id, Some(answer))).is_err() {
                        tracing::warn!(envelope_id = %id, "the connection closed before a session's answer was sent");
                    }
                }
                Ok(Dispatched::Accepted) => {
                    if answers.send(ack(&id, None)).is_err() {
                        tracing::warn!(envelope_id = %id, "the connection closed before a click's acknowledgement was sent");
                    }
                }
                Err(NoPermit::Closed) => {
                    tracing::info!(envelope_id = %id, "a click during shutdown left for Slack to deliver again");
                }
                Err(NoPermit::Busy) => {
                    tracing::warn!(envelope_id = %id, "too many clicks being decided to take this one in time; left unacknowledged");
                }
            }
        }
        .instrument(tracing::Span::current()),
    );
}

/// Answers a slash command in the acknowledgement, as Slack's page shows,
/// without holding up the envelopes behind it; an answer not ready within
/// [`dispatch::INLINE_ANSWER_BUDGET`] (Slack waits 3 s for the
/// acknowledgement) goes to the command's `response_url` instead, and the
/// acknowledgement leaves without it.
fn answer_later(
    app: &SlackApp,
    command: SlashCommand,
    id: String,
    accepts_response_payload: bool,
    answers: &mpsc::UnboundedSender<String>,
) {
    let (app, answers) = (app.clone(), answers.clone());
    tokio::spawn(
        async move {
            // Without room for a payload the answer can only go to the
            // response URL: give it no time inline.
            let budget = if accepts_response_payload {
                dispatch::INLINE_ANSWER_BUDGET
            } else {
                std::time::Duration::ZERO
            };
            let acknowledgement = match dispatch::command(&app, command, budget).await {
                Some(text) if accepts_response_payload => ack(
                    &id,
                    Some(dispatch::ephemeral(&text)),
                ),
                Some(_) => {
                    tracing::warn!(envelope_id = %id, "a command without a response URL whose acknowledgement takes no answer; the caller sees none");
                    ack(&id, None)
                }
                None => ack(&id, None),
            };
            if answers.send(acknowledgement).is_err() {
                tracing::warn!(envelope_id = %id, "the connection closed before a command's answer was sent");
            }
        }
        .instrument(tracing::Span::current()),
    );
}

/// `{"envelope_id": …}`, with the payload when there is one.
fn ack(envelope_id: &str, payload: Option<Value>) -> String {
    match payload {
        Some(payload) => json!({ "envelope_id": envelope_id, "payload": payload }),
        None => json!({ "envelope_id": envelope_id }),
    }
    .to_string()
}

fn unreadable(kind: &str, id: &str, err: &serde_json::Error) -> Next {
    tracing::error!(envelope_type = kind, envelope_id = id, error = %err, "a Socket Mode envelope tagbot cannot read; acknowledged so that Slack does not send it again");
    Next::Ack(ack(id, None))
}

/// A frame that is not even an envelope: its id, if it has one, is still
/// acknowledged.
fn unreadable_frame(text: &str, err: &serde_json::Error) -> Next {
    let value = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    match value.get("envelope_id").and_then(Value::as_str) {
        Some(id) => unreadable(kind, id, err),
        None => {
            tracing::error!(envelope_type = kind, bytes = text.len(), error = %err, "a Socket Mode frame tagbot cannot read, without an envelope id");
            Next::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_acknowledgement_carries_the_envelope_id_and_the_answer() {
        let bare: Value = serde_json::from_str(&ack("e-1", None)).unwrap();
        assert_eq!(bare, json!({ "envelope_id": "e-1" }));
        let answered: Value =
            serde_json::from_str(&ack("e-2", Some(json!({ "text": "hi" })))).unwrap();
        assert_eq!(
            answered,
            json!({ "envelope_id": "e-2", "payload": { "text": "hi" } })
        );
    }

    #[test]
    fn a_frame_that_is_not_an_envelope_is_still_acknowledged_by_its_id() {
        let err = serde_json::from_str::<Frame>("{}").unwrap_err();
        assert_eq!(
            unreadable_frame(r#"{"envelope_id":"e-3","type":7}"#, &err),
            Next::Ack(ack("e-3", None))
        );
        assert_eq!(unreadable_frame("not json", &err), Next::Nothing);
    }

    #[test]
    fn a_click_slack_morphism_cannot_model_reads_as_the_http_one_does() {
        // An org-wide install sends `"team": null`; message metadata is an
        // object slack-morphism 2.31 does not model. Neither matters here.
        let payload = json!({
            "type": "block_actions",
            "team": null,
            "is_enterprise_install": true,
            "enterprise": { "id": "E0ORG00001", "name": "org" },
            "user": { "id": "U0DANA0001", "username": "dana", "name": "dana" },
            "api_app_id": "A0TAGBOT00",
            "container": { "type": "message", "message_ts": "1700000000.000100", "channel_id": "C0REVIEW01" },
            "trigger_id": "1.2.3",
            "message": { "type": "message", "ts": "1700000000.000100",
                         "metadata": { "event_type": "x", "event_payload": { "a": 1 } } },
            "actions": [{ "type": "button", "action_id": "tagbot_approve", "value": "7" }],
        });
        assert!(
            serde_json::from_value::<slack_morphism::prelude::SlackInteractionEvent>(
                payload.clone()
            )
            .is_err(),
            "slack-morphism reads this now; pick a payload it cannot"
        );
        let Ok(Interaction::BlockActions(click)) = serde_json::from_value::<Interaction>(payload)
        else {
            panic!("not a click");
        };
        assert_eq!(click.actions[0].value.as_deref(), Some("7"));
    }
}
