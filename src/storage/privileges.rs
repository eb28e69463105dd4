//! The run-time role's privilege self-check.
//!
//! tagbot must not be able to write the catalogue's tables or rewrite its own
//! audit log. Grants drift (a DBA connects the app as the owner "just for
//! now"), so every long-running command checks what its role can actually do
//! before it starts, and refuses to run with a list of what is wrong.

use std::fmt;

use sqlx::PgPool;

use super::Error;

/// Every table and view the run-time role touches, with the writes it
/// needs there. It must be able to read each one and write exactly what is
/// listed: any other write (or TRUNCATE, or TRIGGER, which lets a role
/// attach a trigger that rewrites rows as they land) is refused, and it
/// must own none of them (an owner could drop the state-machine and
/// append-only triggers). A test fails when a migration adds a table this
/// list does not know.
const TABLES: &[(&str, &[&str])] = &[
    // The catalogue's: read only.
    ("enriched_lectures", &[]),
    ("tags", &[]),
    // The migrations' own ledger: read only (readyz, doctor).
    ("_sqlx_migrations", &[]),
    ("lecture_tag_suggestions", &["INSERT", "UPDATE"]),
    // The audit log: appended to, never changed.
    ("events", &["INSERT"]),
    ("v_pending_lectures", &[]),
    ("airtable_sync_items", ROW_WRITES),
    ("airtable_sync_leases", ROW_WRITES),
    ("airtable_request_budget", &["INSERT", "UPDATE"]),
    ("sync_runs", &["INSERT"]),
    ("slack_review_messages", ROW_WRITES),
    ("slack_channel_posts", ROW_WRITES),
    ("review_holds", ROW_WRITES),
    ("slack_home_tabs", ROW_WRITES),
    ("airtable_change_streams", ROW_WRITES),
    ("airtable_record_cells", ROW_WRITES),
    ("airtable_writes", &["INSERT", "UPDATE"]),
    ("airtable_repairs", &["INSERT", "UPDATE"]),
    ("airtable_drift", &["INSERT", "UPDATE"]),
    ("airtable_tag_maps", ROW_WRITES),
    // Votes: cast and withdrawn by new rows, never changed.
    ("review_votes", &["INSERT"]),
    // Calibration's counts: only its trigger (running as the owner) writes them.
    ("calibration_bins", &[]),
    // Agreement's tallies: likewise only their trigger (migration 0023).
    ("agreement_items", &[]),
    ("agreement_pairs", &[]),
];

const ROW_WRITES: &[&str] = &["INSERT", "UPDATE", "DELETE"];

/// The writes a table's entry in [`TABLES`] must grant or the role must not hold.
const WRITES: &[&str] = &["INSERT", "UPDATE", "DELETE", "TRUNCATE", "TRIGGER"];

/// The tables and views the check covers, for the test that compares them
/// with what the migrations create.
pub fn checked_tables() -> impl Iterator<Item = &'static str> {
    TABLES.iter().map(|(table, _)| *table)
}

/// `(table, privilege)` the role must hold.
fn required() -> Vec<(&'static str, &'static str)> {
    TABLES
        .iter()
        .flat_map(|(table, writes)| {
            std::iter::once("SELECT")
                .chain(writes.iter().copied())
                .map(move |privilege| (*table, privilege))
        })
        .collect()
}

/// `(table, privilege)` the role must not hold.
fn forbidden() -> Vec<(&'static str, &'static str)> {
    TABLES
        .iter()
        .flat_map(|(table, writes)| {
            WRITES
                .iter()
                .filter(|privilege| !writes.contains(privilege))
                .map(move |privilege| (*table, *privilege))
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeProblem {
    Superuser,
    /// The role may create objects in tagbot's schema: a function there
    /// with a closer signature than a built-in (say
    /// `jsonb_build_object(text, text)`) would be called by tagbot's own
    /// pinned trigger functions instead.
    CreateInSchema {
        schema: String,
    },
    Forbidden {
        table: String,
        privilege: String,
    },
    Owner {
        table: String,
    },
    Missing {
        table: String,
        privilege: String,
    },
}

impl fmt::Display for PrivilegeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeProblem::Superuser => f.write_str("the role is a superuser"),
            PrivilegeProblem::CreateInSchema { schema } => write!(
                f,
                "the role may create objects in schema {schema} (a DBA may run: REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC; and from the role)"
            ),
            PrivilegeProblem::Forbidden { table, privilege } => {
                write!(f, "the role has {privilege} on {table}")
            }
            PrivilegeProblem::Owner { table } => write!(f, "the role owns {table}"),
            PrivilegeProblem::Missing { table, privilege } => {
                write!(f, "the role lacks {privilege} on {table}")
            }
        }
    }
}

/// What the connected role can do that it should not, or cannot that it must.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeReport {
    pub role: String,
    pub problems: Vec<PrivilegeProblem>,
}

impl PrivilegeReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for PrivilegeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ok() {
            return write!(
                f,
                "role {} has exactly the privileges tagbot needs",
                self.role
            );
        }
        writeln!(
            f,
            "refusing to run as database role {:?}: it could write the catalogue or rewrite the audit log",
            self.role
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(
            f,
            "Connect DATABASE_URL as a login role that is a member of tagbot_runtime and nothing more \
             (README, \"Database and role\"); keep the owner's URL in DATABASE_ADMIN_URL for `tagbot migrate`."
        )
    }
}

/// Checks the privileges of the role `pool` connects as.
pub async fn check_privileges(pool: &PgPool) -> Result<PrivilegeReport, Error> {
    let (role, superuser): (String, bool) = sqlx::query_as(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(pool)
    .await?;
    if superuser {
        // A superuser passes every privilege test; listing them adds nothing.
        return Ok(PrivilegeReport {
            role,
            problems: vec![PrivilegeProblem::Superuser],
        });
    }
    let mut problems = Vec::new();

    let (schema, may_create): (String, bool) = sqlx::query_as(
        "SELECT current_schema()::text, has_schema_privilege(current_schema(), 'CREATE')",
    )
    .fetch_one(pool)
    .await?;
    if may_create {
        problems.push(PrivilegeProblem::CreateInSchema { schema });
    }

    let (tables, privileges): (Vec<&str>, Vec<&str>) = forbidden().into_iter().unzip();
    let held: Vec<(String, String)> = sqlx::query_as(
        "SELECT t, p FROM unnest($1::text[], $2::text[]) AS x(t, p)
         WHERE CASE WHEN to_regclass(t) IS NULL THEN false
                    ELSE has_table_privilege(to_regclass(t), p) END",
    )
    .bind(&tables)
    .bind(&privileges)
    .fetch_all(pool)
    .await?;
    problems.extend(
        held.into_iter()
            .map(|(table, privilege)| PrivilegeProblem::Forbidden { table, privilege }),
    );

    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c
         WHERE c.oid = ANY (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
           AND pg_has_role(c.relowner, 'USAGE')
         ORDER BY 1",
    )
    .bind(checked_tables().collect::<Vec<_>>())
    .fetch_all(pool)
    .await?;
    problems.extend(
        owned
            .into_iter()
            .map(|table| PrivilegeProblem::Owner { table }),
    );

    let (tables, privileges): (Vec<&str>, Vec<&str>) = required().into_iter().unzip();
    let lacking: Vec<(String, String)> = sqlx::query_as(
        "SELECT t, p FROM unnest($1::text[], $2::text[]) AS x(t, p)
         WHERE CASE WHEN to_regclass(t) IS NULL THEN true
                    ELSE NOT has_table_privilege(to_regclass(t), p) END",
    )
    .bind(&tables)
    .bind(&privileges)
    .fetch_all(pool)
    .await?;
    problems.extend(
        lacking
            .into_iter()
            .map(|(table, privilege)| PrivilegeProblem::Missing { table, privilege }),
    );

    Ok(PrivilegeReport { role, problems })
}

/// The database the role may create temporary tables in, and the role,
/// when it may.
///
/// PUBLIC holds TEMPORARY by default. tagbot's functions are pinned against
/// it (a temporary table can no longer stand in for `events` or
/// `calibration_bins`, migration 0014), so this is a warning, not a
/// refusal: the run-time role has no use for it, and a DBA may revoke it.
pub async fn temporary_tables_allowed(pool: &PgPool) -> Result<Option<(String, String)>, Error> {
    let (database, role, allowed): (String, String, bool) = sqlx::query_as(
        "SELECT current_database()::text, current_user::text,
                has_database_privilege(current_database(), 'TEMPORARY')",
    )
    .fetch_one(pool)
    .await?;
    Ok(allowed.then_some((database, role)))
}
