//! The command line: one binary, a subcommand per role and per resource.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod access;
mod resources;
mod rollouts;
mod templates;

pub use access::*;
pub use resources::*;
pub use rollouts::*;
pub use templates::*;

/// Settings every command takes but few change: shown by `deuteron --help` and `server --help`.
pub const SETTINGS_HELP: &str = "Settings (flags of every command, or environment variables):
  --server-key / DEUTERON_SERVER_KEY              the key sealing secrets at rest (32 bytes, base64;
                                                  default DATA_DIR/server.key); servers sharing a
                                                  PostgreSQL store must share it
  --bundle-max-archive-bytes / DEUTERON_BUNDLE_MAX_ARCHIVE_BYTES    default 5242880
  --bundle-max-unpacked-bytes / DEUTERON_BUNDLE_MAX_UNPACKED_BYTES  default 20971520
  --bundle-max-file-bytes / DEUTERON_BUNDLE_MAX_FILE_BYTES          default 5242880
  --bundle-max-files / DEUTERON_BUNDLE_MAX_FILES                    default 1000
  --arn-partition / DEUTERON_ARN_PARTITION        partition of the ARNs Deuteron gives (default aws)
  --arn-region / DEUTERON_ARN_REGION              region in those ARNs (default us-east-1)
  --account-id / DEUTERON_ACCOUNT_ID              account id in those ARNs (default 123456789012)";

/// Deuteron: self-hosted platform-engineering deployments, the successor to AWS Proton.
#[derive(Debug, Parser)]
#[command(name = "deuteron", version, propagate_version = true, arg_required_else_help = true, after_long_help = SETTINGS_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory for the embedded SQLite database and other state.
    #[arg(help_heading = "Global options", long, global = true, env = "DEUTERON_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Use this database instead of SQLite in the data directory (postgres://... or sqlite://PATH).
    #[arg(help_heading = "Global options", long, global = true, env = "DEUTERON_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Output format of client commands.
    #[arg(help_heading = "Global options", long, short, global = true, value_enum, env = "DEUTERON_OUTPUT", default_value_t = Output::Table)]
    pub output: Output,
    /// Log format.
    #[arg(help_heading = "Global options", long, global = true, value_enum, env = "DEUTERON_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `deuteron=debug` (RUST_LOG syntax). Default: `info` for the
    /// server, `warn` for client commands.
    #[arg(help_heading = "Global options", long, global = true, env = "DEUTERON_LOG")]
    pub log: Option<String>,
    /// Run client commands against this Deuteron server's REST API (e.g. https://deuteron.example.com)
    /// instead of opening the store directly.
    #[arg(help_heading = "Global options", long, global = true, env = "DEUTERON_SERVER")]
    pub server: Option<String>,
    /// With --server: the access key as `<access key id>:<secret>`.
    #[arg(help_heading = "Global options", long, global = true, env = "DEUTERON_ACCESS_KEY", hide_env_values = true)]
    pub access_key: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// How resources are named (ARNs) and how access-key secrets are sealed.
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Partition of the ARNs Deuteron gives resources (aws, aws-cn, aws-us-gov).
    #[arg(long, global = true, hide = true, env = "DEUTERON_ARN_PARTITION", default_value = "aws")]
    pub arn_partition: String,
    /// Region in the ARNs Deuteron gives resources.
    #[arg(long, global = true, hide = true, env = "DEUTERON_ARN_REGION", default_value = "us-east-1")]
    pub arn_region: String,
    /// 12-digit account id in the ARNs Deuteron gives resources.
    #[arg(long, global = true, hide = true, env = "DEUTERON_ACCOUNT_ID", default_value = "123456789012")]
    pub account_id: String,
    /// The key sealing access-key secrets at rest: 32 bytes, base64. Default: DATA_DIR/server.key,
    /// generated on first use. Servers sharing a PostgreSQL store must share this key.
    #[arg(long, global = true, hide = true, env = "DEUTERON_SERVER_KEY", hide_env_values = true)]
    pub server_key: Option<String>,
}

impl IdentityArgs {
    pub fn arn(&self) -> deuteron_core::ArnConfig {
        deuteron_core::ArnConfig {
            partition: self.arn_partition.clone(),
            region: self.arn_region.clone(),
            account_id: self.account_id.clone(),
        }
    }
}

/// Limits on bundles (defaults in the README).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest bundle archive accepted, in bytes.
    #[arg(long, global = true, hide = true, env = "DEUTERON_BUNDLE_MAX_ARCHIVE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub bundle_max_archive_bytes: u64,
    /// Largest total size of a bundle's files once unpacked, in bytes.
    #[arg(long, global = true, hide = true, env = "DEUTERON_BUNDLE_MAX_UNPACKED_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub bundle_max_unpacked_bytes: u64,
    /// Largest single file in a bundle, in bytes.
    #[arg(long, global = true, hide = true, env = "DEUTERON_BUNDLE_MAX_FILE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub bundle_max_file_bytes: u64,
    /// Most files in a bundle.
    #[arg(long, global = true, hide = true, env = "DEUTERON_BUNDLE_MAX_FILES", default_value_t = 1000)]
    pub bundle_max_files: usize,
}

impl LimitArgs {
    pub fn limits(&self) -> deuteron_bundle::Limits {
        deuteron_bundle::Limits {
            max_archive_bytes: self.bundle_max_archive_bytes,
            max_unpacked_bytes: self.bundle_max_unpacked_bytes,
            max_file_bytes: self.bundle_max_file_bytes,
            max_files: self.bundle_max_files,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Deuteron server: the Proton-compatible API, the REST API, the web console,
    /// /healthz, /readyz, /metrics, and the deployment workers.
    #[command(after_long_help = SETTINGS_HELP)]
    Server(ServerArgs),
    /// Apply database migrations and exit.
    #[command(after_long_help = SETTINGS_HELP)]
    Migrate,
    /// Manage environment and service templates and their versions.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Render a bundle offline, exactly as a deployment would, to see the result before publishing.
    Render(RenderArgs),
    /// Run deployment workers only (scale-out against a shared PostgreSQL).
    #[command(after_long_help = SETTINGS_HELP)]
    Worker(WorkerArgs),
    /// Manage environments.
    #[command(subcommand, name = "env", alias = "environment")]
    Env(EnvCommand),
    /// Manage services (each with its instances and pipeline).
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Manage service instances.
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Manage service pipelines.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Manage directly defined components (a template file attached to an environment or instance).
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Inspect and cancel deployments.
    #[command(subcommand)]
    Deployment(DeploymentCommand),
    /// Manage API access keys (SigV4 for the Proton-compatible endpoint).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Status changes of templates, versions and resources.
    #[command(subcommand)]
    Event(EventCommand),
    /// Move a fleet of resources to a new template version in waves, safely.
    #[command(subcommand)]
    Rollout(RolloutCommand),
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "DEUTERON_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub workers: WorkerArgs,
    /// Do not register the example templates into an empty store.
    #[arg(long, env = "DEUTERON_NO_EXAMPLES")]
    pub no_examples: bool,
    /// Largest request body the APIs accept, in bytes.
    #[arg(long, env = "DEUTERON_MAX_REQUEST_BYTES", default_value_t = 1024 * 1024)]
    pub max_request_bytes: usize,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Deployments run at once by this process (0: no workers).
    #[arg(long, env = "DEUTERON_WORKERS", default_value_t = 4)]
    pub workers: usize,
    /// Longest a deployment may run, in seconds.
    #[arg(long, env = "DEUTERON_DEPLOYMENT_TIMEOUT", default_value_t = 3600)]
    pub deployment_timeout: u64,
    /// Seconds a worker's claim on a deployment lasts without a heartbeat.
    #[arg(long, env = "DEUTERON_LEASE_SECONDS", default_value_t = 30)]
    pub lease_seconds: u64,
    /// At shutdown, seconds running deployments get to finish before they are stopped and
    /// released to another worker (a second signal releases them at once).
    #[arg(long, env = "DEUTERON_DRAIN_SECONDS", default_value_t = 30)]
    pub drain_seconds: u64,
    /// The Terraform or OpenTofu binary that runs HCL bundles.
    #[arg(long, env = "DEUTERON_TERRAFORM_BIN", default_value = "terraform")]
    pub terraform_bin: String,
    /// The URL deployment commands reach the Proton-compatible API at (for
    /// NotifyResourceDeploymentStatusChange). Default for `server`: its own address.
    #[arg(long, env = "DEUTERON_API_URL")]
    pub api_url: Option<String>,
}
