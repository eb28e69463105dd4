//! tagbot under pressure from outside: clients slow on purpose, a flood of
//! connections, SIGTERM with such clients connected, unauthenticated
//! probes, a small database pool and a full click queue. Each test holds a
//! limit (closed within the timeout, answered inside Slack's 3 s, never
//! the database's words to a stranger) that the server without limits did
//! not keep.

use std::future::Future;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use standins::sender::{slack_signature, unix_now};
use standins::slack::FakeSlack;
use tagbot::slack::card::actions;
use tagbot::slack::click_queue::MAX_OUTSTANDING_CLICKS;
use tagbot::slack::transport::listen::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::serve::{free_port, serve_command, stand_ins};
use crate::slack_world::{eventually_within, until_healthy, SlackWorld, REVIEW, SECRET};

const DANA: &str = "U0DANA0001";

/// Room on top of a timeout for a loaded 2-core machine to act on it.
const SLACK: Duration = Duration::from_secs(4);

/// Shortened timeouts, so a test waits seconds, not the defaults' tens.
fn short(head: Duration, body: Duration, max_connections: usize) -> Limits {
    Limits {
        head,
        body,
        max_connections,
        drain: Duration::from_secs(15),
    }
}

fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes):
/// what it sent, and whether it closed.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    (
        String::from_utf8_lossy(&received).into_owned(),
        read.is_ok(),
    )
}

/// A connection that sent half a request head and stalls.
async fn half_a_head(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"POST /slack/interactions HTTP/1.1\r\nhost: tagbot\r\nx-slack-request-")
        .await
        .expect("write half a head");
    stream
}

/// A connection that sent a signed-looking head promising a megabyte, and
/// a hundred bytes of it, and stalls.
async fn a_promised_megabyte(address: &str, timestamp: u64) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    let head = format!(
        "POST /slack/interactions HTTP/1.1\r\nhost: tagbot\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: 1048576\r\n\
         x-slack-request-timestamp: {timestamp}\r\nx-slack-signature: v0=00\r\n\r\n{}",
        "p".repeat(100)
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

#[sqlx::test]
async fn a_request_head_that_never_ends_is_closed_within_the_head_timeout(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let head = Duration::from_secs(1);
    let w = SlackWorld::tuned(pool, options, |settings| {
        settings.http_limits = short(head, Duration::from_secs(30), 64);
    })
    .await;
    let started = Instant::now();
    let mut stalled = half_a_head(&address(&w.base)).await;
    let (_, closed) = until_closed(&mut stalled, head + SLACK).await;
    assert!(
        closed,
        "a half-sent head was still open after {:?}",
        started.elapsed()
    );

    // An idle keep-alive connection is a head that never comes, too.
    let mut idle = TcpStream::connect(address(&w.base)).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: tagbot\r\n\r\n")
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut idle, head + SLACK).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(closed, "an idle connection stayed open");
    w.close().await;
}

#[sqlx::test]
async fn a_body_that_never_arrives_is_answered_408_and_closed_within_the_body_timeout(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let body = Duration::from_secs(1);
    let w = SlackWorld::tuned(pool, options, |settings| {
        settings.http_limits = short(Duration::from_secs(30), body, 64);
    })
    .await;
    let mut slow = a_promised_megabyte(&address(&w.base), unix_now()).await;
    let (answer, closed) = until_closed(&mut slow, body + SLACK).await;
    assert!(closed, "a body that never came held its connection");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    w.close().await;
}

#[sqlx::test]
async fn a_stale_or_unsigned_request_is_refused_before_its_body_is_read(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    // With a body timeout this long, only a refusal before reading answers.
    let w = SlackWorld::tuned(pool, options, |settings| {
        settings.http_limits = short(Duration::from_secs(60), Duration::from_secs(60), 64);
    })
    .await;
    let mut stale = a_promised_megabyte(&address(&w.base), unix_now() - 3_600).await;
    let (answer, _) = until_closed(&mut stale, SLACK).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");

    let mut unsigned = TcpStream::connect(address(&w.base)).await.unwrap();
    unsigned
        .write_all(
            b"POST /slack/commands HTTP/1.1\r\nhost: tagbot\r\ncontent-length: 1048576\r\n\r\nxyz",
        )
        .await
        .unwrap();
    let (answer, _) = until_closed(&mut unsigned, SLACK).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    w.close().await;
}

#[sqlx::test]
async fn connections_past_the_cap_are_turned_away_until_some_close(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let cap = 4;
    let w = SlackWorld::tuned(pool, options, |settings| {
        settings.http_limits = short(Duration::from_secs(60), Duration::from_secs(60), cap);
    })
    .await;
    let address = address(&w.base);
    let mut open = Vec::new();
    for _ in 0..cap {
        open.push(half_a_head(&address).await);
    }
    // Let the server take them all before the next one knocks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(&address).await.unwrap();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: tagbot\r\n\r\n")
        .await;
    let (answer, closed) = until_closed(&mut extra, SLACK).await;
    assert!(closed, "a connection past the cap was kept open");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 503"),
        "a connection past the cap was served: {answer}"
    );

    drop(open.pop());
    until_healthy(
        "a connection is taken again once one closed",
        &w.base,
        SLACK,
    )
    .await;
    w.close().await;
}

/// What `request` answered, and how long it took; fails the test when it
/// is left waiting (for a queue slot) past 10 s.
async fn answered<T>(what: &str, request: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .unwrap_or_else(|_| panic!("{what} is answered, not left waiting for a slot"));
    (answer, started.elapsed())
}

#[sqlx::test]
async fn a_click_or_command_that_finds_no_slot_is_answered_inside_slacks_3_s(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::tuned(pool, options, |_| {}).await;
    let id = w.db.suggestion("L1", "t1", 0.95).await;
    w.post_reviews().await;
    // Every slot is taken, as by a burst being worked off.
    let mut held = Vec::new();
    for _ in 0..MAX_OUTSTANDING_CLICKS {
        held.push(w.app.clicks.permit().await.expect("a free slot"));
    }

    let (clicked, waited) = answered(
        "the click",
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()),
    )
    .await;
    assert_eq!(clicked, 503, "a click without a slot is not acknowledged");
    assert!(waited < Duration::from_secs(3) + SLACK, "{waited:?}");

    let minted = w.slack.mint(REVIEW, DANA);
    let body = standins::sender::command_body(DANA, REVIEW, "pending", &minted);
    let ((status, answer), waited) = answered(
        "the command",
        w.send("/slack/commands", &body, crate::slack_world::Signing::Valid),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("busy"), "{answer}");
    assert!(waited < Duration::from_secs(3) + SLACK, "{waited:?}");
    assert_eq!(w.db.status(id).await, "pending", "nothing was decided");

    // Once slots are free, the same click is taken and decided.
    drop(held);
    assert_eq!(
        w.click(DANA, "L1", actions::APPROVE, &id.to_string()).await,
        200
    );
    eventually_within("decided", SLACK, || async {
        w.db.status(id).await == "approved"
    })
    .await;
    w.close().await;
}

#[sqlx::test]
async fn readyz_and_metrics_answer_strangers_a_fixed_word_and_read_the_queue_at_most_every_5_s(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let w = SlackWorld::tuned(pool, options, |_| {}).await;
    let http = reqwest::Client::new();
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("{}{path}", w.base));
        async move {
            let response = http.get(url).send().await.expect("reach tagbot");
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let read_at = Instant::now();
    assert_eq!(get("/metrics").await.0, 200);
    // The reading is stored before the first scrape is answered.
    let stored_by = Instant::now();
    // The queue cannot be read any more; scrapes within 5 s of the last
    // reading do not try, so they do not notice.
    sqlx::query("REVOKE SELECT ON airtable_sync_items FROM tagbot_runtime")
        .execute(&w.db.admin)
        .await
        .unwrap();
    let scrapes: Vec<_> = (0..16).map(|_| get("/metrics")).collect();
    let answers = futures_util::future::join_all(scrapes).await;
    if read_at.elapsed() < Duration::from_secs(4) {
        assert!(
            answers.iter().all(|(status, _)| *status == 200),
            "{answers:?}"
        );
    }
    // Wait until the reading is surely more than 5 s old.
    tokio::time::sleep(Duration::from_secs(6).saturating_sub(stored_by.elapsed())).await;
    let (status, body) = get("/metrics").await;
    assert_eq!(status, 503);
    assert_eq!(body, "unavailable", "the database's words reach a stranger");

    // A schema behind the binary: not ready, in a word.
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    assert_eq!(get("/readyz").await, (503, "not ready".to_owned()));
    w.close().await;
}

/// A signed click on the review message of `lecture`, sent to `listen`.
async fn click_over_http(
    listen: &str,
    slack: &FakeSlack,
    id: tagbot::domain::SuggestionId,
) -> Option<u16> {
    let message = slack.messages(REVIEW).into_iter().next()?;
    let ts = message["ts"].as_str()?.to_owned();
    let minted = slack.mint(REVIEW, DANA);
    let payload = standins::sender::block_actions(
        DANA,
        REVIEW,
        &ts,
        &minted,
        actions::APPROVE,
        serde_json::json!({ "value": id.to_string() }),
        serde_json::json!({}),
    );
    let body = standins::sender::interaction_body(&payload);
    let timestamp = unix_now().to_string();
    let response = reqwest::Client::new()
        .post(format!("http://{listen}/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &timestamp)
        .header(
            "x-slack-signature",
            slack_signature(SECRET, &timestamp, body.as_bytes()),
        )
        .body(body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    Some(response.status().as_u16())
}

/// Waits for `serve` on `listen` to answer and post the review message.
async fn wait_until_serving(listen: &str, slack: &FakeSlack) {
    until_healthy(
        "serve answers /healthz",
        &format!("http://{listen}"),
        Duration::from_secs(20),
    )
    .await;
    eventually_within(
        "the pending lecture is posted",
        Duration::from_secs(20),
        || async { slack.messages(REVIEW).len() == 1 },
    )
    .await;
}

/// A `serve` process, killed if a test ends (or fails) before it stopped,
/// so a failure never leaves it holding the test database.
struct Serving(std::process::Child);

impl Serving {
    fn start(mut command: Command) -> Serving {
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tagbot serve");
        Serving(child)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Sends SIGTERM and waits (up to `limit`) for the process to end.
async fn terminate(
    child: &mut std::process::Child,
    limit: Duration,
) -> Option<(std::process::ExitStatus, Duration)> {
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(signalled.success());
    let sent = Instant::now();
    while sent.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("wait for serve") {
            return Some((status, sent.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

#[sqlx::test]
async fn sigterm_ends_serve_within_30_s_with_slow_clients_connected_and_the_acknowledged_click_decided(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (db, slack, airtable) = stand_ins(pool, options).await;
    slack.add_user(DANA, "דנה");
    let id = db.suggestion("L1", "t1", 0.95).await;
    let listen = format!("127.0.0.1:{}", free_port());
    // The defaults, as deployed: 5 s heads, 10 s bodies, a 15 s drain.
    let mut serving = Serving::start(serve_command(&db, &slack, &airtable, &listen));
    wait_until_serving(&listen, &slack).await;

    let mut slow = Vec::new();
    for _ in 0..200 {
        slow.push(half_a_head(&listen).await);
    }
    for _ in 0..50 {
        slow.push(a_promised_megabyte(&listen, unix_now()).await);
    }
    assert_eq!(click_over_http(&listen, &slack, id).await, Some(200));
    let stopped = terminate(&mut serving.0, Duration::from_secs(30)).await;
    let (status, took) = stopped.expect("serve ends within 30 s of SIGTERM");
    assert!(status.success(), "exit status {status} after {took:?}");
    let decided = db.status(id).await;
    assert!(
        decided == "approved" || decided == "synced",
        "the acknowledged click was not decided: {decided}"
    );
    drop(slow);
    slack.shutdown();
    airtable.shutdown();
    db.close().await;
}

/// `serve` with `DATABASE_POOL_SIZE=size` takes a click and decides it.
async fn decides_a_click_with_a_pool_of(
    size: &str,
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let (db, slack, airtable) = stand_ins(pool, options).await;
    slack.add_user(DANA, "דנה");
    let id = db.suggestion("L1", "t1", 0.95).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let mut command = serve_command(&db, &slack, &airtable, &listen);
    command.env("DATABASE_POOL_SIZE", size);
    let mut serving = Serving::start(command);
    wait_until_serving(&listen, &slack).await;
    assert_eq!(click_over_http(&listen, &slack, id).await, Some(200));
    eventually_within("the click is decided", Duration::from_secs(20), || async {
        db.status(id).await != "pending"
    })
    .await;
    let stopped = terminate(&mut serving.0, Duration::from_secs(30)).await;
    let (status, _) = stopped.expect("serve stops");
    assert!(status.success(), "exit status {status}");
    slack.shutdown();
    airtable.shutdown();
    db.close().await;
}

#[sqlx::test]
async fn serve_with_a_pool_of_one_decides_a_click(pool: PgPoolOptions, options: PgConnectOptions) {
    decides_a_click_with_a_pool_of("1", pool, options).await;
}

#[sqlx::test]
async fn serve_with_a_pool_of_two_decides_a_click(pool: PgPoolOptions, options: PgConnectOptions) {
    decides_a_click_with_a_pool_of("2", pool, options).await;
}

#[sqlx::test]
async fn the_worker_deletes_done_items_past_their_retention_and_nothing_else(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    use crate::sync_world::{fast, World};
    use standins::airtable::TagsFieldKind;
    use tagbot::shutdown::Shutdown;

    let w = World::new(pool, options, TagsFieldKind::Linked).await;
    w.fake.add_tag("t1", "פילוסופיה");
    w.fake.add_tag("t2", "היסטוריה");
    w.fake.add_lecture("L1", "הרצאה");
    w.fake.add_lecture("L2", "הרצאה שנייה");
    let old_done = w.approved("L1", "t1").await;
    w.approved("L1", "t2").await;
    w.approved("L2", "t1").await;
    w.approved("L2", "t2").await;
    // Done 40 days ago, done 10 days ago, failed and waiting 40 days ago.
    sqlx::query(
        "UPDATE airtable_sync_items SET
             status = CASE WHEN lecture_external_id = 'L1' THEN 'done'
                           WHEN tag_id = 't1' THEN 'failed' ELSE 'queued' END,
             last_error = CASE WHEN lecture_external_id = 'L2' AND tag_id = 't1' THEN 'gone' END,
             next_attempt_at = now() + interval '1 day',
             updated_at = now() - CASE WHEN (lecture_external_id, tag_id) = ('L1', 't2')
                                       THEN interval '10 days' ELSE interval '40 days' END",
    )
    .execute(&w.db.admin)
    .await
    .unwrap();
    let events = w.db.count("SELECT count(*) FROM events").await;

    let mut settings = fast();
    settings.done_retention = Some(Duration::from_secs(30 * 24 * 3600));
    let syncer = w.syncer(settings);
    let (stop, shutdown) = Shutdown::manual();
    let worker = tokio::spawn(async move { syncer.run_until_shutdown(&shutdown).await });
    eventually_within("the old done item is deleted", Duration::from_secs(10), || async {
        w.db
            .count("SELECT count(*) FROM airtable_sync_items WHERE lecture_external_id = 'L1' AND tag_id = 't1'")
            .await
            == 0
    })
    .await;
    stop.send(true).unwrap();
    worker.await.unwrap().unwrap();

    let left: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT lecture_external_id, tag_id, status FROM airtable_sync_items ORDER BY 1, 2",
    )
    .fetch_all(&w.db.admin)
    .await
    .unwrap();
    let left: Vec<(&str, &str, &str)> = left
        .iter()
        .map(|(l, t, s)| (l.as_str(), t.as_str(), s.as_str()))
        .collect();
    assert_eq!(
        left,
        [
            ("L1", "t2", "done"),
            ("L2", "t1", "failed"),
            ("L2", "t2", "queued")
        ]
    );
    // The audit keeps every approval and enqueue, the forgotten one's too.
    assert_eq!(w.db.count("SELECT count(*) FROM events").await, events);
    assert_eq!(w.db.actions(old_done).await, ["approve", "enqueue"]);
    w.close().await;
}

/// A transaction whose caller is cancelled while `BEGIN` is on the wire (a
/// worker aborted, a handler's timeout) leaves no pooled connection inside
/// a transaction: the next borrower's write is its own and committed.
/// sqlx 0.8.6's own `Pool::begin` failed this every round
/// (transact-rs/sqlx#4393); with one connection and no ping before
/// acquiring, a single poll takes the connection and sends `BEGIN`.
#[sqlx::test]
async fn a_begin_cancelled_on_the_wire_leaves_no_connection_in_a_transaction(
    pool: PgPoolOptions,
    options: PgConnectOptions,
) {
    let db = crate::helpers::TestDb::new(pool, options).await;
    let one = PgPoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .connect_with(db.app_options.clone())
        .await
        .expect("a pool of one");
    for round in 0..20 {
        {
            // Polled once, then dropped.
            let mut begin = std::pin::pin!(tagbot::storage::begin(&one));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(
                begin.as_mut().poll(&mut cx).is_pending(),
                "round {round}: BEGIN answered in one poll"
            );
        }
        // In one simple query (one message), the transaction starts with
        // the statement unless a block was open before it.
        let row = sqlx::raw_sql("SELECT now() = statement_timestamp() AS outside")
            .fetch_one(&one)
            .await
            .expect("the next borrower's statement");
        let outside: bool = sqlx::Row::get(&row, "outside");
        assert!(
            outside,
            "round {round}: the next borrower ran inside a cancelled BEGIN's transaction"
        );
    }
}
