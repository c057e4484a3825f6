//! The `chorus` binary: parses the command line, loads the configuration,
//! sets up logging and runs the server.

use std::path::PathBuf;
use std::process::ExitCode;

use chorus::Application;
use chorus::config::{Config, Overrides};
use clap::{Args, Parser, Subcommand};

/// `chorus -V`: the version and the commit, as `GET /version` reports them.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("CHORUS_GIT_SHA"),
    ")"
);

const CONFIG_HELP: &str = "\
Configuration, each layer overriding the one before:
  1. the built-in defaults, compiled into this binary (no file needed;
     `chorus config print` shows the effective result)
  2. --config FILE: a TOML file with only the keys you change
  3. environment variables CHORUS__<SECTION>__<KEY>, e.g.
       CHORUS__SERVER__BIND=0.0.0.0:8080
       CHORUS__PROVIDERS__OPENAI__KIND=openai
       CHORUS__PROVIDERS__OPENAI__API_KEY=sk-...   (secrets come from here only)
  4. the flags --bind and --data-dir
An invalid value stops start-up with one line naming the key (exit code 2).";

/// chorus: a stateful backend for AI chat applications.
#[derive(Parser)]
#[command(version = VERSION, about, after_help = CONFIG_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// A TOML file with the keys to change (the defaults are built in).
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Manage accounts in the data dir of a stopped server.
    Admin {
        /// The stopped server's data directory (overrides store.data_dir).
        #[arg(long, value_name = "DIR", global = true)]
        data_dir: Option<PathBuf>,
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Model providers.
    Providers {
        #[command(subcommand)]
        action: ProvidersAction,
    },
    /// The configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum AdminAction {
    /// Create an account; the password is read from stdin.
    CreateUser {
        /// The account's email address, which it signs in with.
        #[arg(long)]
        email: String,
        /// The account's username: 3-32 characters of a-z, 0-9, _ and -.
        #[arg(long)]
        username: String,
        /// user, admin or superadmin.
        #[arg(long, default_value = "user")]
        role: String,
    },
    /// Change an account's role.
    SetRole {
        /// The email address of the account to change.
        #[arg(long)]
        email: String,
        /// user, admin or superadmin.
        #[arg(long)]
        role: String,
    },
}

#[derive(Subcommand)]
enum ProvidersAction {
    /// Send one tiny request to each configured provider and print, per
    /// provider, `OK <model> <latency> ms` or why it failed; exit 1 if any failed.
    Check,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print the effective configuration (every layer applied) as TOML,
    /// secrets shown as [redacted].
    Print(DataDirArg),
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (overrides server.bind).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    #[command(flatten)]
    data: DataDirArg,
}

#[derive(Args, Clone, Default)]
struct DataDirArg {
    /// Data directory (overrides store.data_dir).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// What to do once the configuration is loaded.
enum Run {
    Serve,
    Admin(AdminAction),
    CheckProviders,
    PrintConfig,
}

/// mimalloc, not the system allocator: fewer cycles per request in the
/// edge bench (allocation was a sixth of an append's profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (task, args) = match cli.command {
        Some(Command::Serve(args)) => (Run::Serve, args),
        None => (Run::Serve, cli.serve),
        Some(Command::Admin { data_dir, action }) => {
            (Run::Admin(action), serve_args(DataDirArg { data_dir }))
        }
        Some(Command::Providers {
            action: ProvidersAction::Check,
        }) => (Run::CheckProviders, ServeArgs::default()),
        Some(Command::Config {
            action: ConfigAction::Print(data),
        }) => (Run::PrintConfig, serve_args(data)),
    };
    let overrides = Overrides {
        config_file: cli.config,
        bind: args.bind,
        data_dir: args.data.data_dir.clone(),
    };
    let config = match Config::load(&overrides) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // These print their own findings; log lines would only get in the way.
    let export = if matches!(task, Run::CheckProviders | Run::PrintConfig) {
        chorus::telemetry::TraceExport::none()
    } else {
        match chorus::telemetry::init_tracing(&config.log, &config.telemetry) {
            Ok(export) => export,
            Err(e) => {
                eprintln!("invalid configuration: {e}");
                return ExitCode::from(2);
            }
        }
    };
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
    let code = match task {
        Run::PrintConfig => print_config(&config),
        Run::Admin(action) => {
            let given = args.data.data_dir.is_some();
            runtime.block_on(run_admin(&config, given, action))
        }
        Run::CheckProviders => runtime.block_on(check_providers(&config)),
        Run::Serve => match runtime.block_on(run(config)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(error = %e, "chorus stopped with an error");
                eprintln!("chorus: {e}");
                ExitCode::FAILURE
            }
        },
    };
    // The runtime has stopped: flush the spans still queued.
    drop(runtime);
    export.shutdown();
    code
}

fn serve_args(data: DataDirArg) -> ServeArgs {
    ServeArgs { bind: None, data }
}

/// `chorus config print`: the effective configuration on stdout.
#[allow(clippy::print_stdout)] // the command's output
fn print_config(config: &Config) -> ExitCode {
    match config.to_toml() {
        Ok(toml) => {
            println!(
                "# chorus: the effective configuration (defaults < --config < CHORUS__* < flags).\n\
                 # Secrets are shown as [redacted].\n\n{toml}"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chorus config print: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `chorus providers check`: one line per provider on stdout.
#[allow(clippy::print_stdout)] // the command's output
async fn check_providers(config: &Config) -> ExitCode {
    let lines = match chorus::providers_cli::check(config).await {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("chorus providers check: {e}");
            return ExitCode::from(2);
        }
    };
    for line in &lines {
        println!("{line}");
    }
    if lines.iter().all(|l| l.outcome.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn run_admin(config: &Config, data_dir_given: bool, action: AdminAction) -> ExitCode {
    if let Err(e) = chorus::admin_cli::check_data_dir(config, data_dir_given) {
        eprintln!("chorus admin: {e}");
        return ExitCode::FAILURE;
    }
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
