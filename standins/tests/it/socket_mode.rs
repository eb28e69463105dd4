//! The Socket Mode stand-in speaks Slack's wire format: `apps.connections.open`
//! for the app-level token only, single-use URLs, `hello` on connect,
//! envelopes as Slack shapes them, acknowledgements recorded per envelope,
//! late ones reported and re-delivered, and `disconnect` before a close.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use standins::slack::{FakeSlack, RateLimits, APP_ID};
use standins::socket_mode::{FakeSocketMode, SocketModeError};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const BOT_TOKEN: &str = "xoxb-fake-token";
const APP_TOKEN: &str = "xapp-1-A0TAGBOT00-1-fake";
/// Generous: only a broken stand-in waits this long.
const PATIENCE: Duration = Duration::from_secs(10);

type Client = WebSocketStream<TcpStream>;

async fn stand_ins() -> (FakeSlack, FakeSocketMode) {
    let slack = FakeSlack::start(BOT_TOKEN, RateLimits::off())
        .await
        .unwrap();
    let socket = FakeSocketMode::start(APP_TOKEN).await.unwrap();
    slack.enable_socket_mode(&socket);
    (slack, socket)
}

/// `apps.connections.open` as slack-morphism calls it: a POST with the
/// token in the Authorization header.
async fn connections_open(slack: &FakeSlack, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{}/apps.connections.open", slack.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Opens a WebSocket to `url` (the client side, over a plain TCP stream).
async fn connect(url: &str) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let address = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let tcp = TcpStream::connect(address).await.unwrap();
    tokio_tungstenite::client_async(url, tcp)
        .await
        .map(|(socket, _)| socket)
}

async fn new_connection(slack: &FakeSlack) -> Client {
    let opened = connections_open(slack, APP_TOKEN).await;
    connect(opened["url"].as_str().unwrap()).await.unwrap()
}

/// The next text frame, as JSON; None when the socket closed.
async fn next_frame(client: &mut Client) -> Option<Value> {
    loop {
        match tokio::time::timeout(PATIENCE, client.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => return Some(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(_)) => {}
        }
    }
}

async fn send(client: &mut Client, frame: Value) {
    client
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

fn click() -> Value {
    // Never exchanged for a modal nor answered: any values do.
    let minted = standins::sender::Minted {
        trigger_id: "1.2.3".into(),
        response_url: "http://127.0.0.1:9/response/unused".into(),
    };
    standins::sender::block_actions(
        "U0DANA0001",
        "C0REVIEW01",
        "1700000000.000100",
        &minted,
        "tagbot_approve",
        json!({ "value": "7" }),
        json!({}),
    )
}

#[tokio::test]
async fn connections_open_takes_the_app_token_only_and_its_urls_admit_one_connection() {
    let (slack, socket) = stand_ins().await;

    let refused = connections_open(&slack, BOT_TOKEN).await;
    assert_eq!(refused["ok"], false);
    assert_eq!(refused["error"], "not_allowed_token_type");
    // The app-level token opens connections and nothing else.
    let post = reqwest::Client::new()
        .post(format!("{}/chat.postMessage", slack.url))
        .bearer_auth(APP_TOKEN)
        .json(&json!({ "channel": "C0REVIEW01", "text": "hi" }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(post["error"], "not_allowed_token_type");

    // The app token as a POST parameter is an error, as the method's page says.
    let in_form = reqwest::Client::new()
        .post(format!("{}/apps.connections.open", slack.url))
        .form(&[("token", APP_TOKEN)])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(in_form["ok"], false, "{in_form}");

    let opened = connections_open(&slack, APP_TOKEN).await;
    assert_eq!(opened["ok"], true, "{opened}");
    let url = opened["url"].as_str().unwrap();
    assert!(url.starts_with(&socket.base), "{url}");
    let mut client = connect(url).await.unwrap();
    let hello = next_frame(&mut client).await.unwrap();
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["num_connections"], 1);
    assert_eq!(hello["connection_info"]["app_id"], APP_ID);
    assert!(hello["debug_info"]["host"].is_string());

    // The same URL a second time, or one never issued, is refused.
    assert!(connect(url).await.is_err());
    assert!(connect(&format!("{}/link/?ticket=made-up", socket.base))
        .await
        .is_err());
    assert_eq!(socket.refused(), 2);
    assert_eq!(socket.connections(), 1);
    assert_eq!(slack.count("apps.connections.open"), 3);
    socket.shutdown();
    slack.shutdown();
}

#[tokio::test]
async fn envelopes_are_shaped_as_slack_sends_them_and_acks_are_recorded() {
    let (slack, socket) = stand_ins().await;
    assert_eq!(
        socket.send_interactive(click()),
        Err(SocketModeError::NoConnection)
    );
    let mut client = new_connection(&slack).await;
    next_frame(&mut client).await.unwrap();

    let clicked = socket.send_interactive(click()).unwrap();
    let frame = next_frame(&mut client).await.unwrap();
    assert_eq!(frame["type"], "interactive");
    assert_eq!(frame["envelope_id"], clicked.as_str());
    assert_eq!(frame["accepts_response_payload"], false);
    assert_eq!(frame["payload"], click());
    send(&mut client, json!({ "envelope_id": clicked })).await;
    let ack = socket.wait_for_ack(&clicked, PATIENCE).await.unwrap();
    assert_eq!(ack.payload, None);
    assert_eq!(ack.connection, 1);
    assert!(ack.in_time);

    let command = socket
        .send_tags_command(
            "U0DANA0001",
            "C0REVIEW01",
            "pending",
            &slack.mint("C0REVIEW01", "U0DANA0001"),
        )
        .unwrap();
    let frame = next_frame(&mut client).await.unwrap();
    assert_eq!(frame["type"], "slash_commands");
    assert_eq!(frame["accepts_response_payload"], true);
    assert_eq!(frame["payload"]["command"], "/tags");
    assert_eq!(frame["payload"]["text"], "pending");
    assert!(frame["payload"]
        .as_object()
        .unwrap()
        .values()
        .all(Value::is_string));
    let answer = json!({ "response_type": "ephemeral", "text": "nothing waits" });
    send(
        &mut client,
        json!({ "envelope_id": command, "payload": answer }),
    )
    .await;
    let ack = socket.wait_for_ack(&command, PATIENCE).await.unwrap();
    assert_eq!(ack.payload, Some(answer));

    let event = socket
        .send_event(json!({ "type": "event_callback", "event": { "type": "app_home_opened" } }))
        .unwrap();
    let frame = next_frame(&mut client).await.unwrap();
    assert_eq!(frame["type"], "events_api");
    assert_eq!(frame["retry_attempt"], 0);
    assert_eq!(frame["retry_reason"], "");
    assert_eq!(frame["payload"]["event"]["type"], "app_home_opened");
    send(&mut client, json!({ "envelope_id": event })).await;
    socket.wait_for_ack(&event, PATIENCE).await.unwrap();
    assert_eq!(socket.acks().len(), 3);
    assert!(socket.violations().is_empty(), "{:?}", socket.violations());

    // What Slack would not accept is recorded as a violation.
    send(&mut client, json!({ "envelope_id": event })).await;
    send(&mut client, json!({ "envelope_id": "never-sent" })).await;
    send(
        &mut client,
        json!({ "envelope_id": socket.send_interactive(click()).unwrap(), "payload": {} }),
    )
    .await;
    // The payload-carrying ack comes after the frame it acknowledges.
    next_frame(&mut client).await.unwrap();
    tokio::time::timeout(PATIENCE, async {
        while socket.violations().len() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let violations = socket.violations().join("\n");
    assert!(violations.contains("twice"), "{violations}");
    assert!(violations.contains("never sent"), "{violations}");
    assert!(violations.contains("did not accept one"), "{violations}");
    socket.shutdown();
    slack.shutdown();
}

#[tokio::test]
async fn an_envelope_not_acknowledged_in_time_is_reported_and_delivered_again() {
    let (slack, socket) = stand_ins().await;
    // Shortened from Slack's 3 s so the test does not wait for it.
    socket.set_ack_deadline(Duration::from_millis(100));
    socket.set_retries(1);
    let mut client = new_connection(&slack).await;
    next_frame(&mut client).await.unwrap();

    let clicked = socket.send_interactive(click()).unwrap();
    let first = next_frame(&mut client).await.unwrap();
    assert_eq!(first["envelope_id"], clicked.as_str());
    assert!(first.get("retry_attempt").is_none());
    let again = next_frame(&mut client).await.unwrap();
    assert_eq!(again["envelope_id"], clicked.as_str());
    assert_eq!(again["retry_attempt"], 1);
    assert_eq!(again["retry_reason"], "timeout");
    assert_eq!(again["payload"], click());
    assert!(socket.wait_for_late(&clicked, PATIENCE).await);

    send(&mut client, json!({ "envelope_id": clicked })).await;
    let ack = socket.wait_for_ack(&clicked, PATIENCE).await.unwrap();
    assert!(!ack.in_time);
    assert_eq!(socket.late(), [clicked]);
    socket.shutdown();
    slack.shutdown();
}

#[tokio::test]
async fn disconnect_names_the_reason_then_closes_and_a_new_url_connects_again() {
    let (slack, socket) = stand_ins().await;
    let mut client = new_connection(&slack).await;
    next_frame(&mut client).await.unwrap();
    assert!(socket.wait_for_connections(1, PATIENCE).await);

    assert_eq!(socket.disconnect("refresh_requested"), 1);
    let frame = next_frame(&mut client).await.unwrap();
    assert_eq!(frame["type"], "disconnect");
    assert_eq!(frame["reason"], "refresh_requested");
    assert!(next_frame(&mut client).await.is_none(), "closed after it");
    assert_eq!(socket.open_connections(), 0);
    assert_eq!(
        socket.send_interactive(click()),
        Err(SocketModeError::NoConnection)
    );

    let mut second = new_connection(&slack).await;
    let hello = next_frame(&mut second).await.unwrap();
    assert_eq!(hello["type"], "hello");
    assert!(socket.wait_for_connections(2, PATIENCE).await);
    assert_eq!(socket.connections(), 2);

    // A warning leaves the link open until Slack closes it.
    assert_eq!(socket.announce_disconnect("warning"), 1);
    let frame = next_frame(&mut second).await.unwrap();
    assert_eq!(frame["reason"], "warning");
    assert_eq!(socket.open_connections(), 1);
    let clicked = socket.send_interactive(click()).unwrap();
    assert_eq!(
        next_frame(&mut second).await.unwrap()["envelope_id"],
        clicked.as_str()
    );

    // A dropped link ends without a disconnect message.
    assert_eq!(socket.drop_connections(), 1);
    assert!(next_frame(&mut second).await.is_none());
    socket.shutdown();
    slack.shutdown();
}
