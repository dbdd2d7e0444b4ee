//! The command line: one binary, a subcommand per role and per resource.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Deuteron: self-hosted platform-engineering deployments, the successor to AWS Proton.
#[derive(Debug, Parser)]
#[command(name = "deuteron", version, propagate_version = true, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// Directory for the embedded SQLite database and other state.
    #[arg(long, global = true, env = "DEUTERON_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Use this database instead of SQLite in the data directory (postgres://... or sqlite://PATH).
    #[arg(long, global = true, env = "DEUTERON_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Output format of client commands.
    #[arg(long, short, global = true, value_enum, env = "DEUTERON_OUTPUT", default_value_t = Output::Table)]
    pub output: Output,
    /// Log format.
    #[arg(long, global = true, value_enum, env = "DEUTERON_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter, e.g. `info` or `deuteron=debug` (RUST_LOG syntax). Default: `info` for the
    /// server, `warn` for client commands.
    #[arg(long, global = true, env = "DEUTERON_LOG")]
    pub log: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Limits on bundles (defaults in the README).
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Largest bundle archive accepted, in bytes.
    #[arg(long, global = true, env = "DEUTERON_BUNDLE_MAX_ARCHIVE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub bundle_max_archive_bytes: u64,
    /// Largest total size of a bundle's files once unpacked, in bytes.
    #[arg(long, global = true, env = "DEUTERON_BUNDLE_MAX_UNPACKED_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub bundle_max_unpacked_bytes: u64,
    /// Largest single file in a bundle, in bytes.
    #[arg(long, global = true, env = "DEUTERON_BUNDLE_MAX_FILE_BYTES", default_value_t = 5 * 1024 * 1024)]
    pub bundle_max_file_bytes: u64,
    /// Most files in a bundle.
    #[arg(long, global = true, env = "DEUTERON_BUNDLE_MAX_FILES", default_value_t = 1000)]
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
    /// Run the Deuteron server: health, metrics and (as they land) the APIs and workers.
    Server(ServerArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage environment and service templates and their versions.
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Render a bundle offline, exactly as a deployment would, to see the result before publishing.
    Render(RenderArgs),
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
}

/// Template kind: `environment` (alias `env`) or `service` (alias `svc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    #[value(alias = "env")]
    Environment,
    #[value(alias = "svc")]
    Service,
}

impl From<Kind> for deuteron_core::TemplateKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Environment => deuteron_core::TemplateKind::Environment,
            Kind::Service => deuteron_core::TemplateKind::Service,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum TemplateCommand {
    /// Create a template.
    Create {
        kind: Kind,
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Environment templates: the infrastructure is provisioned outside Deuteron (only a schema).
        /// Service templates: the services have no pipeline.
        #[arg(long)]
        customer_managed: bool,
    },
    /// List templates.
    List {
        /// Only templates of this kind.
        kind: Option<Kind>,
    },
    /// Show a template with its recommended version.
    Show { kind: Kind, name: String },
    /// Change a template's display name or description.
    Update {
        kind: Kind,
        name: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a template (it must have no versions, unless --cascade).
    Delete {
        kind: Kind,
        name: String,
        /// Also delete its versions, if none is in use.
        #[arg(long)]
        cascade: bool,
    },
    /// Manage template versions.
    #[command(subcommand)]
    Version(VersionCommand),
}

#[derive(Debug, Subcommand)]
pub enum VersionCommand {
    /// Register a bundle (directory, .tar.gz or .zip) as a new DRAFT version.
    Register {
        kind: Kind,
        template: String,
        bundle: PathBuf,
        /// Register the next minor version of this major (default: a new major version).
        #[arg(long)]
        major: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Service templates: an environment template major this version deploys into,
        /// as TEMPLATE:MAJOR (repeatable). Default: the bundle's .compatible-envs.
        #[arg(long = "compatible-env", value_name = "TEMPLATE:MAJOR")]
        compatible_env: Vec<String>,
        /// Service templates: allow directly defined components on instances.
        #[arg(long)]
        components: bool,
        /// Publish the version once registered.
        #[arg(long)]
        publish: bool,
    },
    /// Publish a DRAFT version; the highest published version becomes the recommended one.
    Publish {
        kind: Kind,
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
    },
    /// List a template's versions.
    List {
        kind: Kind,
        template: String,
        #[arg(long)]
        major: Option<String>,
    },
    /// Show one version, with its schema.
    Show {
        kind: Kind,
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
    },
    /// Change a version's description.
    Update {
        kind: Kind,
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a version nothing uses.
    Delete {
        kind: Kind,
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["spec", "context"])))]
pub struct RenderArgs {
    /// The bundle: a directory, .tar.gz or .zip.
    pub bundle: PathBuf,
    /// A Proton spec file (EnvironmentSpec or ServiceSpec); inputs are validated and defaulted.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// A context.json naming, per infrastructure folder, the values its templates see.
    #[arg(long)]
    pub context: Option<PathBuf>,
    /// Directory that receives the rendered files under their infrastructure folder names.
    #[arg(long)]
    pub out: PathBuf,
    /// With --spec: the environment's or service's name.
    #[arg(long)]
    pub name: Option<String>,
    /// With --spec: the account id templates see as environment.account_id.
    #[arg(long, default_value = "123456789012")]
    pub account_id: String,
    /// With --spec: a JSON file mapping environment names to their outputs.
    #[arg(long)]
    pub environment_outputs: Option<PathBuf>,
}
