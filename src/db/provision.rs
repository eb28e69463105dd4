//! Setting up databases and login roles: throw-away databases for the demo
//! and the benchmarks, and login roles in `tagbot_runtime` for them and the
//! tests. Needs a connection that may create databases and roles.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use sqlx::PgPool;

use super::{connect, run_migrations, DbError};

/// Creates the login role `role` as a member of `tagbot_runtime`, unless a
/// role of that name already is one. Roles are shared by every database of
/// the server and another process may be creating the same one, so a failed
/// attempt is retried until the role is there.
pub async fn ensure_runtime_login(
    admin: &PgPool,
    role: &str,
    password: &SecretString,
) -> Result<(), DbError> {
    let statement = format!(
        "CREATE ROLE {} LOGIN PASSWORD {} IN ROLE tagbot_runtime",
        quote_ident(role),
        quote_literal(password.expose_secret())
    );
    let mut last_error = None;
    for _ in 0..20 {
        if is_runtime_member(admin, role).await? {
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
    Err(DbError::Query(
        last_error.unwrap_or(sqlx::Error::RowNotFound),
    ))
}

async fn is_runtime_member(admin: &PgPool, role: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM pg_auth_members m
             JOIN pg_roles member ON member.oid = m.member
             JOIN pg_roles parent ON parent.oid = m.roleid
             WHERE member.rolname = $1 AND parent.rolname = 'tagbot_runtime')",
    )
    .bind(role)
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
    /// Creates `<prefix>_<pid>_<millis>` on the server of `server` and runs
    /// every migration in it.
    pub async fn create(server: &PgConnectOptions, prefix: &str) -> Result<Self, DbError> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let name = format!("{prefix}_{}_{millis}", std::process::id());
        let admin = connect(server.clone(), 1).await?;
        let created = sqlx::query(&format!("CREATE DATABASE {}", quote_ident(&name)))
            .execute(&admin)
            .await;
        admin.close().await;
        created?;
        let scratch = ScratchDatabase {
            name,
            server: server.clone(),
        };
        let pool = connect(scratch.options(), 2).await?;
        let migrated = run_migrations(&pool).await;
        pool.close().await;
        migrated?;
        Ok(scratch)
    }

    /// Options for this database, as the server's (administrative) user.
    pub fn options(&self) -> PgConnectOptions {
        self.server.clone().database(&self.name)
    }

    /// Drops the database, closing whatever connections are still open.
    pub async fn drop_database(self) -> Result<(), DbError> {
        let admin = connect(self.server.clone(), 1).await?;
        let dropped = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&self.name)
        ))
        .execute(&admin)
        .await;
        admin.close().await;
        dropped?;
        Ok(())
    }
}

/// The login role benchmarks run tagbot as.
const BENCH_ROLE: &str = "tagbot_bench_app";
const BENCH_PASSWORD: &str = "tagbot_bench";

/// A scratch database with a login role in `tagbot_runtime`: what the demo
/// and the benchmarks run in. Drop it with [`Playground::remove`].
#[derive(Debug)]
pub struct Playground {
    pub scratch: ScratchDatabase,
    /// The server's (administrative) user on the scratch database: it
    /// writes the catalogue, as the catalogue's owner would.
    pub admin: PgPool,
    server_url: String,
    role: String,
    password: SecretString,
}

impl Playground {
    /// Creates `<prefix>_…` on the server of `server_url`, migrates it and
    /// makes sure `role` can log in as the run-time role.
    pub async fn create(
        server_url: &str,
        prefix: &str,
        role: &str,
        password: SecretString,
    ) -> Result<Playground, DbError> {
        let server: PgConnectOptions = server_url.parse().map_err(DbError::Query)?;
        let scratch = ScratchDatabase::create(&server, prefix).await?;
        let admin = match connect(scratch.options(), 2).await {
            Ok(admin) => admin,
            Err(err) => {
                scratch.drop_database().await?;
                return Err(err);
            }
        };
        if let Err(err) = ensure_runtime_login(&admin, role, &password).await {
            admin.close().await;
            scratch.drop_database().await?;
            return Err(err);
        }
        Ok(Playground {
            scratch,
            admin,
            server_url: server_url.to_owned(),
            role: role.to_owned(),
            password,
        })
    }

    /// For benchmarks: a playground on the server `DATABASE_URL` names
    /// (a role that may create databases and roles, as scripts/bench sets).
    pub async fn for_benchmarks(prefix: &str) -> Result<Playground, DbError> {
        let server = std::env::var("DATABASE_URL").map_err(|_| {
            DbError::Config(crate::config::ConfigError::Missing {
                var: "DATABASE_URL",
                expects: "a Postgres role that may create databases and roles (run scripts/bench)",
            })
        })?;
        Playground::create(
            &server,
            prefix,
            BENCH_ROLE,
            SecretString::from(BENCH_PASSWORD),
        )
        .await
    }

    /// `DATABASE_URL` for a tagbot process on this database.
    pub fn app_url(&self) -> Result<String, DbError> {
        url_for(
            &self.server_url,
            &self.scratch.name,
            &self.role,
            self.password.expose_secret(),
        )
    }

    /// Connection options as the run-time role.
    pub fn app_options(&self) -> PgConnectOptions {
        self.scratch
            .options()
            .username(&self.role)
            .password(self.password.expose_secret())
    }

    /// Closes the pool and drops the database.
    pub async fn remove(self) -> Result<(), DbError> {
        self.admin.close().await;
        self.scratch.drop_database().await
    }
}

/// `server_url` (a Postgres URL) pointed at `database` as `role`: how the
/// demo and the benchmarks hand a scratch database to a tagbot process.
pub fn url_for(
    server_url: &str,
    database: &str,
    role: &str,
    password: &str,
) -> Result<String, DbError> {
    let invalid = || {
        DbError::Query(sqlx::Error::Configuration(
            "DATABASE_URL is not a URL".into(),
        ))
    };
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
