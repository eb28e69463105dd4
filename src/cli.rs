//! The command line: the commands of the product design (README,
//! "Commands"), parsed with clap, each a thin call into the library.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::{
    AirtableSettings, ConfigError, DatabaseSettings, Env, ReviewSettings, SlackSettings,
    SyncSettings,
};
use crate::intake::{self, ImportError};
use crate::shutdown::Shutdown;
use crate::storage::{self, DbError};
use crate::sync::{RunReport, SyncError, Syncer};

#[derive(Debug, Parser)]
#[command(
    name = "tagbot",
    version,
    about = "Human review between a tagging model and Airtable, in Slack."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Slack app, the sync worker and the scheduled posts.
    Serve,
    /// Run the Airtable sync worker alone (to scale out).
    Worker,
    /// Apply database migrations (as DATABASE_ADMIN_URL when set, else DATABASE_URL).
    Migrate,
    /// Import model suggestions from a JSON Lines file, all or nothing.
    Import {
        /// One suggestion per line: {"lecture_id","tag_id","score","rationale","model"}.
        file: PathBuf,
    },
    /// Queue approved tags that nothing will sync: approved during a dry
    /// run, or by a hand fix in SQL (their sync item is missing, failed or
    /// done). One audited `enqueue` event each; running it again changes
    /// nothing. Refused while DRY_RUN is on.
    Enqueue {
        /// The name the audit log gives you (`cli:NAME`); your login name
        /// when absent.
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
    },
    /// Sync approved tags to Airtable.
    Sync {
        /// Sync what is queued now, then exit.
        #[arg(long)]
        once: bool,
        /// Show what would be written, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the last sync run's report.
    Report {
        /// As JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Instead: the synced tags people removed in Airtable (drift), newest first.
        #[arg(long, conflicts_with = "calibration")]
        drift: bool,
        /// Instead: how often each model's suggestions were approved, by
        /// score, and the threshold past decisions support.
        #[arg(long)]
        calibration: bool,
        /// With --calibration: also write the calibration chart to this PNG file.
        #[arg(long, requires = "calibration", value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// Write every decided suggestion as a training example (lecture, tag,
    /// score, model, rationale, decision, reviewer, when it reached Airtable,
    /// whether someone removed it there since).
    Export {
        /// Only suggestions decided on or after this date (YYYY-MM-DD, UTC) or time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// jsonl (one JSON object per line) or csv.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: crate::export::Format,
        /// Where to write; standard output when absent or `-`.
        file: Option<PathBuf>,
    },
    /// Check configuration, database, Slack and Airtable, with a fix hint for each failure.
    Doctor,
    /// Run the whole product against local stand-ins for Slack and Airtable.
    #[cfg(feature = "demo")]
    Demo,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error(transparent)]
    Chart(#[from] crate::chart::ChartError),
    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Slack(#[from] crate::slack::app::SlackError),
    #[error(transparent)]
    Serve(#[from] crate::startup::PartStopped),
    #[error(transparent)]
    Startup(#[from] crate::startup::StartupError),
    #[cfg(feature = "demo")]
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    #[error("{0} doctor check(s) failed; see the fix under each ✗ above")]
    Unhealthy(usize),
    #[error(transparent)]
    Review(#[from] crate::review::ReviewError),
    #[error("{0}")]
    Actor(String),
    #[error("the sync run stopped early: {0}")]
    RunAborted(String),
}

/// Runs one command to completion.
pub async fn run(cli: Cli, env: &Env) -> Result<(), CliError> {
    match cli.command {
        Command::Migrate => {
            let settings = DatabaseSettings::from_env(env)?;
            let applied = storage::migrate(&settings).await?;
            println!("migrations applied: {applied} (schema is current)");
            Ok(())
        }
        Command::Import { file } => {
            let settings = DatabaseSettings::from_env(env)?;
            let pool = storage::connect_runtime(&settings).await?;
            let result = intake::import_file(&pool, &file).await;
            pool.close().await;
            println!("{}", result?);
            Ok(())
        }
        Command::Enqueue { as_name } => enqueue(env, as_name.as_deref()).await,
        Command::Serve => serve(env).await,
        Command::Worker => sync(env, false, false).await,
        Command::Sync { once, dry_run } => sync(env, once, dry_run).await,
        Command::Report {
            json,
            drift,
            calibration,
            png,
        } => {
            let settings = DatabaseSettings::from_env(env)?;
            let review = ReviewSettings::from_env(env)?;
            let pool = storage::connect_runtime(&settings).await?;
            let result = if calibration {
                print_calibration(&pool, json, review.target_precision.get(), png.as_deref()).await
            } else if drift {
                print_drift(&pool, json).await
            } else {
                print_latest_run(&pool, json, review.dry_run).await
            };
            pool.close().await;
            result
        }
        Command::Export {
            since,
            format,
            file,
        } => export(env, since.as_deref(), format, file).await,
        Command::Doctor => {
            let diagnosis = crate::doctor::diagnose(env).await;
            println!("{diagnosis}");
            if diagnosis.healthy() {
                Ok(())
            } else {
                Err(CliError::Unhealthy(diagnosis.failures()))
            }
        }
        #[cfg(feature = "demo")]
        Command::Demo => {
            // The demo makes databases and roles: an owner's URL, not the
            // run-time role's; the local Postgres when nothing is set.
            let server = env
                .get_any(&["DATABASE_ADMIN_URL", "DATABASE_URL"])
                .unwrap_or(LOCAL_POSTGRES)
                .to_owned();
            Ok(crate::demo::run(&server).await?)
        }
    }
}

/// `enqueue`: queues the stranded approvals as `cli:NAME`.
async fn enqueue(env: &Env, as_name: Option<&str>) -> Result<(), CliError> {
    let actor = cli_actor(env, as_name)?;
    let review = ReviewSettings::from_env(env)?;
    let settings = DatabaseSettings::from_env(env)?;
    let pool = storage::connect_runtime(&settings).await?;
    let queued = crate::review::Review::new(pool.clone(), review)
        .enqueue_stranded(&actor)
        .await;
    pool.close().await;
    match queued? {
        0 => println!("Every approved tag is already queued or synced; nothing to do."),
        n => println!("Queued {n} approved tag(s) for Airtable, as {actor}; a running worker syncs them shortly."),
    }
    Ok(())
}

/// The audit log's name for a person at the command line: `--as`, else the
/// login name.
fn cli_actor(env: &Env, as_name: Option<&str>) -> Result<crate::domain::Actor, CliError> {
    let name = as_name
        .map(str::to_owned)
        .or_else(|| {
            env.get_any(&["USER", "LOGNAME", "USERNAME"])
                .map(str::to_owned)
        })
        .unwrap_or_default();
    crate::domain::Actor::cli(&name).map_err(|_| {
        CliError::Actor(
            "the audit log needs your name and none was found (no USER or LOGNAME): run it again with --as NAME".to_owned(),
        )
    })
}

/// `export`: the examples to a file or stdout, a progress bar on a
/// terminal, the count on stderr at the end.
async fn export(
    env: &Env,
    since: Option<&str>,
    format: crate::export::Format,
    file: Option<PathBuf>,
) -> Result<(), CliError> {
    use crate::export::{parse_since, Target};
    let since = since.map(parse_since).transpose()?;
    let settings = DatabaseSettings::from_env(env)?;
    let pool = storage::connect_runtime(&settings).await?;
    let target = match file {
        Some(path) if path.as_os_str() != "-" => Target::File(path),
        _ => Target::Stdout,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} exporting {pos}/{len} decisions [{bar:30}] {per_sec} (eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar
    });
    let written = crate::export::export(&pool, since, format, &target, bar.as_ref()).await;
    pool.close().await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let count = written?;
    eprintln!("exported {count} decided suggestion(s)");
    Ok(())
}

/// `report`: the latest run's report.
async fn print_latest_run(pool: &sqlx::PgPool, json: bool, dry_run: bool) -> Result<(), CliError> {
    let latest = RunReport::latest(pool).await.map_err(DbError::Query)?;
    let stranded = crate::review::Stranded {
        count: storage::sync_queue::stranded_count(pool)
            .await
            .map_err(DbError::Query)?,
        dry_run,
    };
    if stranded.count > 0 {
        // On stderr: `--json` keeps its one document on stdout.
        eprintln!("note: {stranded}.");
    }
    match (latest, json) {
        (Some(report), true) => println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        ),
        (Some(report), false) => print!("{report}"),
        (None, true) => println!("null"),
        (None, false) => println!(
            "No sync run has been recorded yet; runs that sync or fail something are kept."
        ),
    }
    Ok(())
}

/// `report --calibration`.
async fn print_calibration(
    pool: &sqlx::PgPool,
    json: bool,
    target: f64,
    png: Option<&std::path::Path>,
) -> Result<(), CliError> {
    let calibration = crate::calibration::Calibration::load(pool, target)
        .await
        .map_err(DbError::Query)?;
    if let Some(path) = png {
        let chart = crate::chart::calibration_png(&calibration)?;
        std::fs::write(path, chart).map_err(|source| CliError::WriteFile {
            path: path.display().to_string(),
            source,
        })?;
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&calibration).unwrap_or_default()
        );
    } else {
        print!("{calibration}");
    }
    Ok(())
}

/// Drift listed at most, newest first.
const DRIFT_LISTED: i64 = 500;

/// `report --drift`: the synced tags people removed in Airtable.
async fn print_drift(pool: &sqlx::PgPool, json: bool) -> Result<(), CliError> {
    let lines = crate::sync::drift_lines(pool, DRIFT_LISTED)
        .await
        .map_err(DbError::Query)?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&lines).unwrap_or_default()
        );
    } else if lines.is_empty() {
        println!("No synced tag has been removed in Airtable (or the change stream is off: see `tagbot doctor`).");
    } else {
        println!("Synced tags removed in Airtable, newest first (tagbot leaves them removed):");
        for line in &lines {
            println!("  {line}");
        }
    }
    Ok(())
}

/// `worker` and `sync`: once (printing the report) or until SIGTERM.
async fn sync(env: &Env, once: bool, dry_run: bool) -> Result<(), CliError> {
    let database = DatabaseSettings::from_env(env)?;
    let airtable = AirtableSettings::from_env(env)?;
    let mut settings = SyncSettings::from_env(env)?;
    settings.dry_run |= dry_run;
    let pool = storage::connect_runtime_holding(&database, crate::sync::HELD_CONNECTIONS).await?;
    let syncer = Syncer::new(pool.clone(), airtable, settings)?;
    let result = if once {
        let bar = std::io::stderr()
            .is_terminal()
            .then(|| tokio::spawn(progress_bar(syncer.progress())));
        let result = syncer.run_once(&Shutdown::on_signal()).await.map(Some);
        if let Some(bar) = bar {
            bar.abort();
        }
        result
    } else {
        syncer
            .run_until_shutdown(&Shutdown::on_signal())
            .await
            .map(|()| None)
    };
    pool.close().await;
    if let Some(report) = result? {
        print!("{report}");
        if let Some(reason) = report.aborted {
            return Err(CliError::RunAborted(reason));
        }
    }
    Ok(())
}

/// A terminal progress bar for `sync --once`, following the run.
async fn progress_bar(mut progress: tokio::sync::watch::Receiver<crate::sync::RunProgress>) {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} syncing {pos}/{len} tags [{bar:30}] {elapsed} (eta {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    while progress.changed().await.is_ok() {
        let now = progress.borrow_and_update().clone();
        bar.set_length(now.total);
        bar.set_position(now.done);
        if now.finished {
            break;
        }
    }
    bar.finish_and_clear();
}

/// `serve`: the Slack app, the poster and the sync worker, until SIGTERM.
async fn serve(env: &Env) -> Result<(), CliError> {
    use crate::startup::{Application, Parts};
    let database = DatabaseSettings::from_env(env)?;
    let slack = SlackSettings::from_env(env)?;
    let review = ReviewSettings::from_env(env)?;
    let airtable = AirtableSettings::from_env(env)?;
    let sync_settings = SyncSettings::from_env(env)?;
    // The poster and the worker each hold a connection for good; the
    // setting counts the ones left for work.
    let held = crate::slack::output::poster::HELD_CONNECTIONS + crate::sync::HELD_CONNECTIONS;
    let pool = storage::connect_runtime_holding(&database, held).await?;
    let syncer = Syncer::new(pool.clone(), airtable, sync_settings)?;
    let result =
        match Application::build(pool.clone(), slack, review, Parts::Serve(Box::new(syncer))).await
        {
            Ok(application) => application
                .run_until_stopped(Shutdown::on_signal())
                .await
                .map_err(CliError::from),
            Err(err) => Err(CliError::from(err)),
        };
    pool.close().await;
    result
}

/// Where `tagbot demo` looks when no URL is set (what scripts/demo starts).
#[cfg(feature = "demo")]
const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
