//! The `chorus` binary: parses the command line, loads the configuration,
//! sets up logging and runs the server.

use std::path::PathBuf;
use std::process::ExitCode;

use chorus::Application;
use chorus::config::{Config, Overrides};
use clap::{Args, Parser, Subcommand};

/// chorus: a stateful backend for AI chat applications.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Accepted before or after the subcommand.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Manage accounts in the data dir of a stopped server.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Create an account; the password is read from stdin.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        username: String,
        /// user, admin or superadmin.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Change an account's role.
    SetRole {
        #[arg(long)]
        email: String,
        /// user, admin or superadmin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Args, Clone)]
struct ServeArgs {
    /// A TOML file with the keys to change (see config/default.toml).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides server.bind).
    #[arg(long, value_name = "ADDR", global = true)]
    bind: Option<String>,
    /// Data directory (overrides store.data_dir).
    #[arg(long, value_name = "DIR", global = true)]
    data_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = cli.serve;
    let admin = match cli.command {
        Some(Command::Admin { action }) => Some(action),
        Some(Command::Serve) | None => None,
    };
    let overrides = Overrides {
        config_file: args.config,
        bind: args.bind,
        data_dir: args.data_dir,
    };
    let config = match Config::load(&overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = chorus::telemetry::init_tracing(&config.log) {
        eprintln!("invalid configuration: log.level: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(action) = admin {
        return runtime.block_on(run_admin(&config, action));
    }
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "chorus stopped with an error");
            eprintln!("chorus: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_admin(config: &Config, action: AdminAction) -> ExitCode {
    let result = match action {
        AdminAction::CreateUser {
            email,
            username,
            role,
        } => chorus::admin_cli::create_user(config, &email, &username, &role).await,
        AdminAction::SetRole { email, role } => {
            chorus::admin_cli::set_role(config, &email, &role).await
        }
    };
    match result {
        Ok(done) => {
            eprintln!("{done}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chorus admin: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), chorus::ServerError> {
    let app = Application::build(config).await?;
    app.run_until_stopped(shutdown_signal()).await
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
