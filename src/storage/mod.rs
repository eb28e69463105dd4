//! Storage: every SQL statement tagbot runs, one module per table family,
//! and the database itself (connecting, the embedded migrations, the
//! run-time role's privilege self-check).
//!
//! Each table has one module that writes it; others may read it in a join.
//! Review and sync keep their rules and call these functions; nothing
//! outside `storage` writes SQL. Statements are checked by the test suite
//! against a real Postgres rather than at compile time (see ARCHITECTURE.md
//! for why).
//!
//! A failure leaves `storage` as an [`Error`], which says what it means to
//! the caller (the database is away, the pool had no connection free, a
//! concurrent transaction won, no such row, anything else): callers decide
//! on that, never on sqlx's variants. Callers that need several of these
//! functions in one transaction open it with [`begin`] and end it with
//! [`commit`]; the processes that wake on `NOTIFY` hear it through a
//! [`Listener`].
//!
//! tagbot runs as a restricted role (see `migrations/0002_runtime_role.sql`);
//! migrations run as the owner. Every long-running command calls
//! [`connect_runtime`], which refuses to hand out a pool whose role could
//! write the catalogue or rewrite the audit log.

pub mod agreement;
pub mod airtable_writes;
pub mod budget;
pub mod calibration;
pub mod catalogue;
pub mod change_streams;
pub mod channel_posts;
mod codec;
pub mod drift;
mod error;
pub mod events;
pub mod exports;
pub mod home_tabs;
mod listener;
mod privileges;
pub mod record_cells;
pub mod repairs;
pub mod review_holds;
pub mod review_messages;
pub mod review_queue;
pub mod runs;
pub mod suggestions;
pub mod sync_queue;
pub mod tag_maps;
pub mod votes;

pub use error::{Error, UndoRefusal, VoteRefusal};
pub use listener::Listener;
pub use privileges::{
    check_privileges, checked_tables, temporary_tables_allowed, PrivilegeProblem, PrivilegeReport,
};

use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::pool::MaybePoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Transaction};

use crate::config::{ConfigError, DatabaseSettings};
use crate::domain::Failure;

/// The group role migrations create and tagbot runs as (through a login
/// role that is a member of it).
pub const RUNTIME_ROLE: &str = "tagbot_runtime";

/// Every migration, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Why a command got no database fit to run on: the settings, the
/// connection, the migrations, a schema behind this build, privileges
/// wider than the run-time role's; or a query on the way failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] MigrateError),
    #[error("the database schema is not current ({pending} migration(s) not applied): run `tagbot migrate`")]
    SchemaBehind { pending: usize },
    #[error("{0}")]
    Privileges(PrivilegeReport),
    #[error("database error: {0}")]
    Query(#[from] Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> DbError {
        DbError::Query(err.into())
    }
}

/// A transaction on `pool`: what a caller outside `storage` runs several
/// of these functions in, to keep them all or none. Ends with [`commit`];
/// dropped, it rolls back. Every transaction tagbot opens on a pool is
/// begun here.
///
/// `BEGIN` is sent and answered in a task of its own, so that it is safe
/// to cancel. sqlx 0.8.6's `Pool::begin` counts the transaction (and so
/// arms its roll-back on drop) only once `BEGIN`'s answer is read: a
/// caller cancelled while waiting for it (a worker aborted, a handler's
/// timeout) left its connection inside a transaction nobody knew of, back
/// in the pool, and the next borrower's writes in it were never
/// committed: seen as an approve that could not find the suggestion just
/// inserted (transact-rs/sqlx#4393, fixed upstream after 0.8.6 in #4394).
/// The task reads the answer whatever becomes of the caller; a
/// transaction nobody awaits any more is dropped there, which rolls it
/// back. The connection is taken first, by the caller: waiting for one is
/// safe to cancel, and a cancelled caller leaves no task queued for a
/// connection ahead of those still waiting (a pool of one). The task
/// begins through `Transaction::begin`, what `Pool::begin` itself calls
/// (public in sqlx 0.8, if undocumented).
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, Error> {
    let connection = pool.acquire().await?;
    let begin = Transaction::begin(MaybePoolConnection::PoolConnection(connection), None);
    match tokio::spawn(begin).await {
        Ok(begun) => begun.map_err(Error::from),
        // A panic in sqlx is a bug, not an outage: it goes on up.
        Err(failed) if failed.is_panic() => std::panic::resume_unwind(failed.into_panic()),
        // The runtime is shutting down.
        Err(_) => Err(Error::Unavailable(sqlx::Error::WorkerCrashed)),
    }
}

/// Keeps what `tx` wrote.
pub async fn commit(tx: Transaction<'_, Postgres>) -> Result<(), Error> {
    Ok(tx.commit().await?)
}

/// Begins a transaction that holds the advisory lock `key` until it ends:
/// what runs in it runs in one process at a time, across all of them.
async fn serialized(pool: &PgPool, key: i64) -> Result<Transaction<'static, Postgres>, Error> {
    let mut tx = begin(pool).await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// A turn at an advisory lock that lets one process at a time do something
/// slow (build the tag mapping, look records up, set the change stream
/// up): while holding it, the holder calls Airtable and goes on querying
/// the pool. The lock is held on a connection of its own, outside the
/// pool: held on a pooled one, a pool of one or two connections for work
/// would leave the holder none for its next query, and every click would
/// wait behind it. Released by [`Turn::release`], or by dropping it (the
/// connection closes, and Postgres lets go of a session's locks with it).
#[derive(Debug)]
pub struct Turn {
    connection: PgConnection,
}

impl Turn {
    /// Waits for the turn at lock `key`, on a new connection to the
    /// pool's database as the pool's role.
    async fn take(pool: &PgPool, key: i64) -> Result<Turn, Error> {
        // Waiting for the lock is the point: not a slow statement to warn of.
        let options =
            sqlx::ConnectOptions::disable_statement_logging((*pool.connect_options()).clone());
        let connecting = PgConnection::connect_with(&options);
        // As long as the pool would wait for a connection, and no longer.
        let mut connection = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| {
                Error::Unavailable(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connecting to the database timed out",
                )))
            })??;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut connection)
            .await?;
        Ok(Turn { connection })
    }

    /// Lets the next process have its turn, now.
    pub async fn release(self) -> Result<(), Error> {
        Ok(self.connection.close().await?)
    }
}

/// Failures as the two array columns they are bound as: the words people
/// read, and the categories.
fn failure_columns<'a>(
    failures: impl Iterator<Item = &'a Failure>,
) -> (Vec<String>, Vec<&'static str>) {
    failures
        .map(|failure| (failure.to_string(), failure.category.as_str()))
        .unzip()
}

/// Waiting for the database: first retry, and the longest between retries.
const OUTAGE_BACKOFF_FIRST: Duration = Duration::from_millis(200);
const OUTAGE_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Runs `query` until the database answers: errors that mean the database
/// is away ([`Error::is_unavailable`]: a restart, a dropped connection, a pool that
/// cannot connect) are waited out with backoff, logged once when the wait
/// starts and once when it ends, naming `who` waits. Any other error is
/// returned. An outage of tagbot's own database is nobody's failure: what
/// waits here charges no one for it.
pub async fn wait_out_outage<T, F, Fut>(who: &str, mut query: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let mut delay = OUTAGE_BACKOFF_FIRST;
    let mut since: Option<std::time::Instant> = None;
    loop {
        match query().await {
            Ok(answer) => {
                if let Some(since) = since {
                    tracing::info!(
                        waited_ms = since.elapsed().as_millis(),
                        "the database is back; {who} go on"
                    );
                }
                return Ok(answer);
            }
            Err(err) if err.is_unavailable() => {
                if since.is_none() {
                    warn_waiting(&err, who);
                    since = Some(std::time::Instant::now());
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(OUTAGE_BACKOFF_MAX);
            }
            Err(err) => return Err(err),
        }
    }
}

/// Says why `who` waits: the database away, or every pooled connection
/// busy (a pool too small for the load, or a query holding them), which
/// is not the database's fault and not fixed by looking at it.
fn warn_waiting(err: &Error, who: &str) {
    if matches!(err, Error::PoolTimedOut) {
        tracing::warn!(error = %err, "no database connection came free in time (DATABASE_POOL_SIZE too small for the load?); {who} wait for one (no sync item is charged a try)");
    } else {
        tracing::warn!(error = %err, "the database is unavailable; {who} wait for it (no sync item is charged a try)");
    }
}

/// How long a query waits for a connection (from the pool, or a new one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool for the given options, failing fast when the server is unreachable.
pub async fn connect(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, DbError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(DbError::Connect)
}

/// The pool of a command: connected as the run-time role, schema current,
/// privileges no wider than they should be.
pub async fn connect_runtime(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    connect_runtime_holding(settings, 0).await
}

/// [`connect_runtime`] for a process whose tasks hold `held` of the pool's
/// connections for good (a notification listener holds one while it
/// runs): `DATABASE_POOL_SIZE` counts connections for work, and these
/// come on top, so every accepted size leaves work at least one.
pub async fn connect_runtime_holding(
    settings: &DatabaseSettings,
    held: u32,
) -> Result<PgPool, DbError> {
    connect_runtime_with(settings.runtime_options()?, settings.pool_size + held).await
}

/// [`connect_runtime`] for explicit connection options.
pub async fn connect_runtime_with(
    options: PgConnectOptions,
    max_connections: u32,
) -> Result<PgPool, DbError> {
    let pool = connect(options, max_connections).await?;
    let ready = async {
        ensure_schema_current(&pool).await?;
        let report = check_privileges(&pool).await?;
        if report.is_ok() {
            Ok(())
        } else {
            Err(DbError::Privileges(report))
        }
    };
    match ready.await {
        Ok(()) => Ok(pool),
        Err(err) => {
            pool.close().await;
            Err(err)
        }
    }
}

/// Applies every pending migration as the owner (`DATABASE_ADMIN_URL`, else
/// `DATABASE_URL`) and returns how many were applied.
pub async fn migrate(settings: &DatabaseSettings) -> Result<usize, DbError> {
    let pool = connect(settings.admin_options()?, 1).await?;
    let result = run_migrations(&pool).await;
    pool.close().await;
    result
}

/// Applies pending migrations on `pool`, returning how many ran.
pub async fn run_migrations(pool: &PgPool) -> Result<usize, DbError> {
    let before = applied_versions(pool).await.unwrap_or_default();
    MIGRATOR.run(pool).await?;
    let after = applied_versions(pool).await?;
    Ok(after.len().saturating_sub(before.len()))
}

/// How many embedded migrations the database has not applied yet.
pub async fn pending_migrations(pool: &PgPool) -> Result<usize, DbError> {
    let applied = applied_versions(pool).await?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .count())
}

pub async fn ensure_schema_current(pool: &PgPool) -> Result<(), DbError> {
    match pending_migrations(pool).await? {
        0 => Ok(()),
        pending => Err(DbError::SchemaBehind { pending }),
    }
}

async fn applied_versions(pool: &PgPool) -> Result<Vec<i64>, DbError> {
    // A database never migrated has no bookkeeping table: nothing applied.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(Vec::new());
    }
    Ok(
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?,
    )
}
