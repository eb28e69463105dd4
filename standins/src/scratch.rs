//! Scratch Postgres databases: a database made for one run (the demo, a
//! benchmark) and dropped after it, migrated by the caller's migrator, with
//! a login role the application under test connects as.
//!
//! Needs a connection that may create databases and roles. The caller brings
//! its own [`Migrator`] and names the group role its login joins, so this
//! module knows nothing of the schema it sets up.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// Why a scratch database could not be set up.
#[derive(Debug)]
pub enum ScratchError {
    /// `DATABASE_URL` is missing or not a Postgres URL.
    Config(String),
    Database(sqlx::Error),
    Migrate(sqlx::migrate::MigrateError),
}

impl std::fmt::Display for ScratchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScratchError::Config(what) => write!(f, "{what}"),
            ScratchError::Database(err) => write!(f, "database error: {err}"),
            ScratchError::Migrate(err) => write!(f, "migrations failed: {err}"),
        }
    }
}

impl std::error::Error for ScratchError {}

impl From<sqlx::Error> for ScratchError {
    fn from(err: sqlx::Error) -> Self {
        ScratchError::Database(err)
    }
}

async fn connect(options: PgConnectOptions) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
}

/// Creates the login role `role` as a member of `member_of`, unless a role
/// of that name already is one. Roles are shared by every database of the
/// server and another process may be creating the same one, so a failed
/// attempt is retried until the role is there.
pub async fn ensure_login_role(
    admin: &PgPool,
    role: &str,
    password: &str,
    member_of: &str,
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}",
        quote_ident(role),
        quote_literal(password),
        quote_ident(member_of)
    );
    let mut last_error = None;
    for _ in 0..20 {
        if is_member(admin, role, member_of).await? {
            return Ok(());
        }
        match sqlx::query(&statement).execute(admin).await {
            Ok(_) => return Ok(()),
            Err(err) => {
                last_error = Some(err);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    Err(last_error.unwrap_or(sqlx::Error::RowNotFound))
}

async fn is_member(admin: &PgPool, role: &str, member_of: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM pg_auth_members m
             JOIN pg_roles member ON member.oid = m.member
             JOIN pg_roles parent ON parent.oid = m.roleid
             WHERE member.rolname = $1 AND parent.rolname = $2)",
    )
    .bind(role)
    .bind(member_of)
    .fetch_one(admin)
    .await
}

/// A database made for one run and dropped after it.
#[derive(Debug)]
pub struct ScratchDatabase {
    pub name: String,
    server: PgConnectOptions,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<pid>_<millis>` on the server of `server`.
    pub async fn create(server: &PgConnectOptions, prefix: &str) -> Result<Self, sqlx::Error> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let name = format!("{prefix}_{}_{millis}", std::process::id());
        let admin = connect(server.clone()).await?;
        let created = sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .execute(&admin)
            .await;
        admin.close().await;
        created?;
        Ok(ScratchDatabase {
            name,
            server: server.clone(),
        })
    }

    /// Options for this database, as the server's (administrative) user.
    pub fn options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }

    /// Drops the database, closing whatever connections are still open.
    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        let admin = connect(self.server.clone()).await?;
        let dropped = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        ))
        .execute(&admin)
        .await;
        admin.close().await;
        dropped.map(|_| ())
    }
}

/// Who the application under test logs in as.
#[derive(Debug, Clone)]
pub struct Login {
    pub role: String,
    pub password: String,
    /// The group role that grants the application its privileges.
    pub member_of: String,
}

/// A migrated scratch database with a login role: what the demo and the
/// benchmarks run in. Drop it with [`Playground::remove`].
#[derive(Debug)]
pub struct Playground {
    pub scratch: ScratchDatabase,
    /// The server's (administrative) user on the scratch database: it
    /// writes what the application may only read, as an owner would.
    pub admin: PgPool,
    server_url: String,
    login: Login,
}

impl Playground {
    /// Creates `<prefix>_…` on the server of `server_url`, runs `migrator`
    /// in it and makes sure `login` can log in. Nothing is left behind when
    /// a step fails.
    pub async fn create(
        server_url: &str,
        prefix: &str,
        migrator: &Migrator,
        login: Login,
    ) -> Result<Playground, ScratchError> {
        let server: PgConnectOptions = server_url
            .parse()
            .map_err(|_| ScratchError::Config("DATABASE_URL is not a Postgres URL".into()))?;
        let scratch = ScratchDatabase::create(&server, prefix).await?;
        let admin = match connect(scratch.options()).await {
            Ok(admin) => admin,
            Err(err) => {
                scratch.drop_database().await?;
                return Err(err.into());
            }
        };
        let prepared = match migrator.run(&admin).await {
            Ok(()) => ensure_login_role(&admin, &login.role, &login.password, &login.member_of)
                .await
                .map_err(ScratchError::from),
            Err(err) => Err(ScratchError::Migrate(err)),
        };
        if let Err(err) = prepared {
            admin.close().await;
            scratch.drop_database().await?;
            return Err(err);
        }
        Ok(Playground {
            scratch,
            admin,
            server_url: server_url.to_owned(),
            login,
        })
    }

    /// For benchmarks: a playground on the server `DATABASE_URL` names (a
    /// role that may create databases and roles, as scripts/bench sets),
    /// logged in as a benchmark role in `member_of`.
    pub async fn from_environment(
        prefix: &str,
        migrator: &Migrator,
        member_of: &str,
    ) -> Result<Playground, ScratchError> {
        let login = Login {
            role: "standins_bench_app".into(),
            password: "standins_bench".into(),
            member_of: member_of.into(),
        };
        let server = std::env::var("DATABASE_URL").map_err(|_| {
            ScratchError::Config(
                "DATABASE_URL is not set: it names a Postgres role that may create databases and roles (run scripts/bench)".into(),
            )
        })?;
        Playground::create(&server, prefix, migrator, login).await
    }

    /// A Postgres URL for the application on this database.
    pub fn app_url(&self) -> Result<String, ScratchError> {
        url_for(
            &self.server_url,
            &self.scratch.name,
            &self.login.role,
            &self.login.password,
        )
    }

    /// Connection options as the login role.
    pub fn app_options(&self) -> PgConnectOptions {
        self.scratch
            .options()
            .username(&self.login.role)
            .password(&self.login.password)
    }

    /// Closes the pool and drops the database.
    pub async fn remove(self) -> Result<(), ScratchError> {
        self.admin.close().await;
        Ok(self.scratch.drop_database().await?)
    }

    /// A benchmark's `main`: a playground made as
    /// [`Playground::from_environment`] makes it, `work` run on it, and
    /// the playground removed whatever `work` returned (its error first).
    pub async fn bench<E>(
        prefix: &str,
        migrator: &Migrator,
        member_of: &str,
        work: impl AsyncFnOnce(&Playground) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<ScratchError>,
    {
        let playground = Playground::from_environment(prefix, migrator, member_of).await?;
        let result = work(&playground).await;
        playground.remove().await?;
        result
    }
}

/// `server_url` (a Postgres URL) pointed at `database` as `role`.
pub fn url_for(
    server_url: &str,
    database: &str,
    role: &str,
    password: &str,
) -> Result<String, ScratchError> {
    let invalid = || ScratchError::Config("DATABASE_URL is not a URL".into());
    let mut url = url::Url::parse(server_url).map_err(|_| invalid())?;
    url.set_username(role).map_err(|()| invalid())?;
    url.set_password(Some(password)).map_err(|()| invalid())?;
    url.set_path(database);
    Ok(url.to_string())
}

/// `ident` as a quoted SQL identifier (CREATE ROLE and CREATE DATABASE take
/// no bind parameters).
fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
