//! The binary as a user meets it: help, unbuilt commands, configuration errors.

use std::process::{Command, Output};

fn tagbot(args: &[&str], env: &[(&str, &str)]) -> Output {
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

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unbuilt_commands_say_so_and_fail() {
    for (command, issue) in [("doctor", "demo, doctor"), ("demo", "demo, doctor")] {
        let output = tagbot(&[command], &[]);
        assert!(!output.status.success(), "{command}");
        let text = stderr(&output);
        assert!(
            text.contains(&format!("`tagbot {command}` is not built yet")),
            "{text}"
        );
        assert!(text.contains(issue), "{text}");
    }
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
