//! The `deuteron` binary: parses the command line, sets up logging and the store, and hands
//! each command to the service layer. Nothing here holds domain logic.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

mod cli;
mod data_dir;
mod examples;
mod exit;
mod follow;
mod key_cmd;
mod output;
mod remote;
mod render_cmd;
mod resource_cmd;
mod rollout_cmd;
mod server;
mod template_cmd;

use cli::{Cli, Command, LogFormat};
use exit::Failure;

fn init_logging(global: &cli::Global, default_level: &str) {
    let wanted = global.log.as_deref().unwrap_or(default_level);
    let filter = tracing_subscriber::EnvFilter::try_new(wanted).unwrap_or_else(|e| {
        eprintln!("warning: ignoring log filter {wanted:?}: {e}");
        tracing_subscriber::EnvFilter::new(default_level)
    });
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    match global.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.compact().init(),
    }
}

/// Opens the configured store: `--database-url`, or SQLite in `--data-dir`.
async fn open_store(global: &cli::Global) -> Result<std::sync::Arc<dyn deuteron_store::Store>, Failure> {
    let url = match &global.database_url {
        Some(url) => url.clone(),
        None => {
            data_dir::prepare(&global.data_dir)?;
            format!("sqlite://{}", global.data_dir.join("deuteron.db").display())
        }
    };
    deuteron_store::open(&url).await.map_err(|e| Failure::internal(e.to_string()))
}

async fn service(global: &cli::Global) -> Result<deuteron_service::Deuteron, Failure> {
    use deuteron_service::keys::ServerKey;
    data_dir::prepare(&global.data_dir)?;
    let server_key = match &global.identity.server_key {
        Some(text) => ServerKey::from_base64(text).map_err(|e| Failure::invalid(format!("DEUTERON_SERVER_KEY: {e}")))?,
        None => ServerKey::load_or_create(&global.data_dir).map_err(Failure::from)?,
    };
    let config = deuteron_service::Config {
        bundle_limits: global.limits.limits(),
        server_key: Some(std::sync::Arc::new(server_key)),
        ..Default::default()
    };
    Ok(deuteron_service::Deuteron::new(open_store(global).await?, config))
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let local = matches!(
        cli.command,
        Command::Server(_) | Command::Worker(_) | Command::Migrate | Command::Render(_) | Command::Completions { .. }
    );
    if let (Some(url), false) = (&cli.global.server, local) {
        let remote = remote::Remote::new(url, cli.global.access_key.as_deref())?;
        return remote::run(&remote, cli.global.output, cli.command).await;
    }
    match cli.command {
        Command::Server(args) => server::run(&cli.global, args).await,
        Command::Migrate => {
            open_store(&cli.global).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Template(cmd) => template_cmd::run(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Worker(args) => server::run_worker(&cli.global, args).await,
        Command::Env(cmd) => resource_cmd::env(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Service(cmd) => resource_cmd::service(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Instance(cmd) => resource_cmd::instance(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Pipeline(cmd) => resource_cmd::pipeline(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Component(cmd) => resource_cmd::component(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Event(cmd) => key_cmd::events(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Key(cmd) => key_cmd::run(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Rollout(cmd) => rollout_cmd::run(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Deployment(cmd) => resource_cmd::deployment(&service(&cli.global).await?, cli.global.output, cmd).await,
        Command::Render(args) => render_cmd::run(cli.global.output, &cli.global.limits.limits(), args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "deuteron", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// `deuteron completions zsh | head`: printing to a pipe whose reader has gone ends the process
/// quietly with the status a shell gives a program killed by SIGPIPE (141), not with a panic.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        if message.is_some_and(|m| m.contains("Broken pipe")) {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Server(_) | Command::Worker(_)) { "info" } else { "warn" };
    init_logging(&cli.global, default_level);
    let output = cli.global.output;
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INTERNAL);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(output),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn verify_cli() {
        use clap::CommandFactory;
        // Every subcommand, with the flags propagated to it (e.g. --version), is well formed.
        fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let mut built = cmd.clone();
            built.build();
            for sub in built.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                sub.clone().debug_assert();
                // Every command says what it does, and every argument and flag what it is.
                if sub.get_name() != "help" {
                    if sub.get_about().is_none_or(|a| a.to_string().trim().is_empty()) {
                        missing.push(name.clone());
                    }
                    for arg in sub.get_arguments().filter(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version")) {
                        if arg.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                            missing.push(format!("{name} {}", arg.get_id()));
                        }
                    }
                }
                check(sub, &name, missing);
            }
        }
        let root = super::Cli::command();
        root.clone().debug_assert();
        let mut missing = Vec::new();
        check(&root, "deuteron", &mut missing);
        missing.dedup();
        assert!(missing.is_empty(), "without a description: {missing:#?}");
    }
}
