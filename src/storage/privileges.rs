//! The run-time role's privilege self-check.
//!
//! tagbot must not be able to write the catalogue's tables or rewrite its own
//! audit log. Grants drift (a DBA connects the app as the owner "just for
//! now"), so every long-running command checks what its role can actually do
//! before it starts, and refuses to run with a list of what is wrong.

use std::fmt;

use sqlx::PgPool;

/// Privileges the run-time role needs; a missing one would fail mid-run.
const REQUIRED: &[(&str, &str)] = &[
    ("enriched_lectures", "SELECT"),
    ("tags", "SELECT"),
    ("lecture_tag_suggestions", "SELECT"),
    ("lecture_tag_suggestions", "INSERT"),
    ("lecture_tag_suggestions", "UPDATE"),
    ("events", "SELECT"),
    ("events", "INSERT"),
    ("airtable_sync_items", "SELECT"),
    ("airtable_sync_items", "INSERT"),
    ("airtable_sync_items", "UPDATE"),
    ("airtable_sync_items", "DELETE"),
    ("airtable_sync_leases", "SELECT"),
    ("airtable_sync_leases", "INSERT"),
    ("airtable_sync_leases", "UPDATE"),
    ("airtable_sync_leases", "DELETE"),
    ("airtable_request_budget", "SELECT"),
    ("airtable_request_budget", "INSERT"),
    ("airtable_request_budget", "UPDATE"),
    ("sync_runs", "SELECT"),
    ("sync_runs", "INSERT"),
    ("slack_review_messages", "SELECT"),
    ("slack_review_messages", "INSERT"),
    ("slack_review_messages", "UPDATE"),
    ("slack_review_messages", "DELETE"),
    ("slack_channel_posts", "SELECT"),
    ("slack_channel_posts", "INSERT"),
    ("slack_channel_posts", "UPDATE"),
    ("slack_channel_posts", "DELETE"),
    ("review_holds", "SELECT"),
    ("review_holds", "INSERT"),
    ("review_holds", "UPDATE"),
    ("review_holds", "DELETE"),
    ("slack_home_tabs", "SELECT"),
    ("slack_home_tabs", "INSERT"),
    ("slack_home_tabs", "UPDATE"),
    ("slack_home_tabs", "DELETE"),
    ("airtable_change_streams", "SELECT"),
    ("airtable_change_streams", "INSERT"),
    ("airtable_change_streams", "UPDATE"),
    ("airtable_change_streams", "DELETE"),
];

/// Privileges the run-time role must not have.
const FORBIDDEN: &[(&str, &str)] = &[
    ("enriched_lectures", "INSERT"),
    ("enriched_lectures", "UPDATE"),
    ("enriched_lectures", "DELETE"),
    ("enriched_lectures", "TRUNCATE"),
    ("tags", "INSERT"),
    ("tags", "UPDATE"),
    ("tags", "DELETE"),
    ("tags", "TRUNCATE"),
    ("events", "UPDATE"),
    ("events", "DELETE"),
    ("events", "TRUNCATE"),
    // TRIGGER lets a role attach a trigger that rewrites rows as they land.
    ("events", "TRIGGER"),
    ("lecture_tag_suggestions", "DELETE"),
    ("lecture_tag_suggestions", "TRUNCATE"),
];

/// Tables whose owner could drop the state-machine or append-only triggers.
const MUST_NOT_OWN: &[&str] = &[
    "enriched_lectures",
    "tags",
    "lecture_tag_suggestions",
    "events",
    "airtable_sync_items",
    "airtable_sync_leases",
    "airtable_request_budget",
    "sync_runs",
    "slack_review_messages",
    "slack_channel_posts",
    "review_holds",
    "slack_home_tabs",
    "airtable_change_streams",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeProblem {
    Superuser,
    Forbidden { table: String, privilege: String },
    Owner { table: String },
    Missing { table: String, privilege: String },
}

impl fmt::Display for PrivilegeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeProblem::Superuser => f.write_str("the role is a superuser"),
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
pub async fn check_privileges(pool: &PgPool) -> Result<PrivilegeReport, sqlx::Error> {
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

    let (tables, privileges): (Vec<&str>, Vec<&str>) = FORBIDDEN.iter().copied().unzip();
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
    .bind(MUST_NOT_OWN)
    .fetch_all(pool)
    .await?;
    problems.extend(
        owned
            .into_iter()
            .map(|table| PrivilegeProblem::Owner { table }),
    );

    let (tables, privileges): (Vec<&str>, Vec<&str>) = REQUIRED.iter().copied().unzip();
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
