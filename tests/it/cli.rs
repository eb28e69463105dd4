//! The binary as a user meets it: help, the demo, configuration errors.

use std::process::{Command, Output};

pub fn tagbot(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tagbot"));
    command
        .args(args)
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_ADMIN_URL");
    // Run somewhere without a .env so the test sees only what it sets.
    command.current_dir(std::env::temp_dir());
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run tagbot")
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn the_demo_runs_the_product_end_to_end() {
    let server = std::env::var("DATABASE_URL").expect("scripts/test sets DATABASE_URL");
    let started = std::time::Instant::now();
    let output = tagbot(&["demo"], &[("DATABASE_URL", &server)]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{printed}\n{}", stderr(&output));
    for expected in [
        "tagbot import: 8 suggestion(s) read: 8 imported",
        "All checks passed.",
        "#tag-review",
        "approves פילוסופיה",
        "already approved by \u{2068}דנה\u{2069} at ",
        "synced: 5 (5 written",
        "L2077 ירושלים בימי הבית השני: אמנות, היסטוריה, ארכיאולוגיה",
        "Done: the demo database and the stand-ins are gone.",
    ] {
        assert!(
            printed.contains(expected),
            "{expected:?} missing from:\n{printed}"
        );
    }
    // A demo is a minute at most; the stand-ins pace it, not the machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn the_demo_says_what_it_needs_when_postgres_is_not_there() {
    let output = tagbot(
        &["demo"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")],
    );
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("the demo needs a Postgres role"), "{text}");
}

#[test]
fn a_missing_database_url_names_the_variable() {
    let output = tagbot(&["migrate"], &[]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("DATABASE_URL is not set: expected a Postgres URL"));
}

#[test]
fn a_malformed_database_url_is_named_without_echoing_it() {
    let output = tagbot(
        &["import", "x.jsonl"],
        &[("DATABASE_URL", "mysql://root:hunter2@db/x")],
    );
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("DATABASE_URL is malformed"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[test]
fn sync_names_a_missing_airtable_setting_before_connecting() {
    for command in [&["sync", "--once"][..], &["worker"][..]] {
        let output = tagbot(
            command,
            &[("DATABASE_URL", "postgres://tagbot@127.0.0.1:1/none")],
        );
        assert!(!output.status.success(), "{command:?}");
        let text = stderr(&output);
        assert!(text.contains("AIRTABLE_TOKEN is not set"), "{text}");
    }
}

#[test]
fn the_help_lists_every_command() {
    let output = tagbot(&["--help"], &[]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for command in [
        "serve", "worker", "migrate", "import", "sync", "report", "doctor", "demo",
    ] {
        assert!(help.contains(command), "{command} missing from:\n{help}");
    }
}
