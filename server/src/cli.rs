//! The command line: `serve`, `demo`, `migrate` and `render`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::{Application, Mode, shutdown_signal};
use crate::telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "signalbox",
    version,
    about = "Self-service onboarding for a GitOps-run service mesh"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the portal against the configured database.
    Serve {
        /// A TOML file layered over the embedded defaults.
        #[arg(long, env = "SIGNALBOX_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Run the portal on embedded defaults, starting a throwaway PostgreSQL when none is reachable.
    Demo {
        #[arg(long, env = "SIGNALBOX_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = "SIGNALBOX_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print (or write) every file the pull request for the given requests would contain.
    Render(crate::render::RenderArgs),
    /// The audit history.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of the audit history and report the first broken link (exit 1),
    /// or that it is intact and how many events it covers.
    Verify {
        #[arg(long, env = "SIGNALBOX_CONFIG")]
        config: Option<PathBuf>,
    },
}

impl Cli {
    pub fn run(self) -> ExitCode {
        match self.command {
            Command::Render(args) => crate::render::run(&args),
            Command::Serve { config } => serve(config, Mode::Production),
            Command::Demo { config } => serve(config, Mode::Demo),
            Command::Migrate { config } => migrate(config),
            Command::Audit {
                command: AuditCommand::Verify { config },
            } => audit_verify(config),
        }
    }
}

fn load(config: Option<PathBuf>) -> Result<Settings, ExitCode> {
    Settings::load(config.as_deref()).map_err(|error| {
        eprintln!("signalbox: configuration: {error}");
        ExitCode::from(2)
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the async runtime starts")
}

fn serve(config: Option<PathBuf>, mode: Mode) -> ExitCode {
    let settings = match load(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    telemetry::init(settings.server.log_format);
    let result = runtime().block_on(async {
        settings.check_ranges()?;
        let app = Application::build(&settings, mode).await?;
        let address = app.local_addr();
        println!("Signalbox is running at http://{address}/");
        app.run_until(shutdown_signal()).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "Signalbox stopped with an error"
            );
            eprintln!("signalbox: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn audit_verify(config: Option<PathBuf>) -> ExitCode {
    let settings = match load(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let result = runtime().block_on(async {
        let options = crate::startup::connect_options(&settings)?;
        let pool = sqlx::PgPool::connect_with(options).await?;
        anyhow::Ok(backend::audit::verify(&pool).await?)
    });
    match result {
        Ok(verdict) => {
            println!("{verdict}");
            match verdict {
                backend::audit::Verdict::Intact { .. } => ExitCode::SUCCESS,
                backend::audit::Verdict::Broken { .. } => ExitCode::FAILURE,
            }
        }
        Err(error) => {
            eprintln!("signalbox: audit verify: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn migrate(config: Option<PathBuf>) -> ExitCode {
    let settings = match load(config) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    telemetry::init(settings.server.log_format);
    let result = runtime().block_on(async {
        let options = crate::startup::connect_options(&settings)?;
        let pool = sqlx::PgPool::connect_with(options).await?;
        backend::db::migrate(&pool).await?;
        anyhow::Ok(())
    });
    match result {
        Ok(()) => {
            println!("migrations applied");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("signalbox: migrate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
