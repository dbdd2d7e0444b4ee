//! The command line: one binary, a subcommand per role and per resource.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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

/// How to move a resource: Proton's deployment types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpdateKind {
    /// Metadata only.
    None,
    /// Same version, new spec.
    CurrentVersion,
    /// The recommended (or given) minor version of the current major.
    MinorVersion,
    /// A different major version.
    MajorVersion,
}

impl From<UpdateKind> for deuteron_core::UpdateType {
    fn from(k: UpdateKind) -> Self {
        match k {
            UpdateKind::None => deuteron_core::UpdateType::None,
            UpdateKind::CurrentVersion => deuteron_core::UpdateType::CurrentVersion,
            UpdateKind::MinorVersion => deuteron_core::UpdateType::MinorVersion,
            UpdateKind::MajorVersion => deuteron_core::UpdateType::MajorVersion,
        }
    }
}

/// Options of commands that start deployments.
#[derive(Debug, Args, Clone, Copy)]
pub struct WaitArgs {
    /// Wait for the deployment(s) to finish, showing progress and the log.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit code 7).
    #[arg(long, default_value_t = 3600)]
    pub wait_timeout: u64,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The deployment type.
    #[arg(long = "type", value_enum, default_value_t = UpdateKind::CurrentVersion)]
    pub update_type: UpdateKind,
    /// A new spec file (default: keep the current spec).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Target major version (MAJOR_VERSION).
    #[arg(long)]
    pub major: Option<u32>,
    /// Target minor version (default: the recommended one).
    #[arg(long)]
    pub minor: Option<u32>,
    #[command(flatten)]
    pub wait: WaitArgs,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Create an environment from an environment template version and an EnvironmentSpec.
    #[command(
        after_help = "Examples:\n  deuteron env create dev --template example-env --spec examples/specs/dev.yaml --wait\n  deuteron env create prod --template net --major 2 --minor 1 --spec prod.yaml"
    )]
    Create {
        /// The name.
        name: String,
        /// The template's name.
        #[arg(long)]
        template: String,
        /// Default: the major of the template's recommended version.
        #[arg(long)]
        major: Option<u32>,
        /// Default: the major's recommended minor version.
        #[arg(long)]
        minor: Option<u32>,
        /// A Proton spec file (proton: EnvironmentSpec).
        #[arg(long)]
        spec: PathBuf,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
        /// IAM role passed to CloudFormation stacks.
        #[arg(long)]
        role_arn: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Environments, with their version and how far behind the recommended one they are.
    List {
        #[command(flatten)]
        filter: VersionFilter,
    },
    /// An environment: template version, how far behind it is, status and outputs.
    Show {
        /// The resource's name.
        name: String,
    },
    /// Update an environment: a new spec and/or version, or its description (--type none).
    Update {
        /// The resource's name.
        name: String,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        update: UpdateArgs,
    },
    /// Delete (deprovision) an environment that no service instance uses.
    Delete {
        /// The resource's name.
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Show an environment's outputs.
    Outputs {
        /// The resource's name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Create a service, its instances and its pipeline from a ServiceSpec.
    #[command(
        after_help = "Examples:\n  deuteron service create web --template example-svc --spec examples/specs/web.yaml --wait\n  deuteron --server https://deuteron.example.com service create api --template svc --spec api.yaml"
    )]
    Create {
        /// The name.
        name: String,
        /// The template's name.
        #[arg(long)]
        template: String,
        /// Default: the major of the template's recommended version.
        #[arg(long)]
        major: Option<u32>,
        /// Default: the major's recommended minor version.
        #[arg(long)]
        minor: Option<u32>,
        /// A Proton spec file (proton: ServiceSpec).
        #[arg(long)]
        spec: PathBuf,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
        /// Proton's repository connection ARN of the service's pipeline source (kept for Proton clients).
        #[arg(long)]
        repository_connection_arn: Option<String>,
        /// The pipeline source repository, as `owner/name`.
        #[arg(long)]
        repository_id: Option<String>,
        /// The pipeline source branch.
        #[arg(long)]
        branch_name: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Services and their status.
    List,
    /// A service with its instances and pipeline, each with version and status.
    Show {
        /// The resource's name.
        name: String,
    },
    /// Change the description, and/or add and remove instances with a ServiceSpec listing the
    /// instances the service should have.
    Update {
        /// The resource's name.
        name: String,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
        /// A new spec file (default: keep the current spec).
        #[arg(long)]
        spec: Option<PathBuf>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete a service with its instances and pipeline.
    Delete {
        /// The resource's name.
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// How far behind the recommended version a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Behind {
    /// A newer minor of its major is published.
    Minor,
    /// A higher major is published.
    Major,
}

#[derive(Debug, Subcommand)]
pub enum InstanceCommand {
    /// Service instances, with their version and how far behind the recommended one they are.
    List {
        /// Only those of this service.
        #[arg(long)]
        service: Option<String>,
        /// Only those in this environment.
        #[arg(long)]
        environment: Option<String>,
        #[command(flatten)]
        filter: VersionFilter,
    },
    /// A service instance: environment, template version, status, last deployments.
    Show {
        /// The service.
        service: String,
        /// The instance.
        name: String,
    },
    /// Update an instance: new spec (a ServiceSpec naming it, or its inputs) and/or version.
    Update {
        /// The service.
        service: String,
        /// The instance.
        name: String,
        #[command(flatten)]
        update: UpdateArgs,
    },
    /// A service instance's outputs.
    Outputs {
        /// The service.
        service: String,
        /// The instance.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Pipelines, with their version and how far behind the recommended one they are.
    List {
        #[command(flatten)]
        filter: VersionFilter,
    },
    /// A service's pipeline: template version, status, last deployments.
    Show {
        /// The service whose pipeline it is.
        service: String,
    },
    /// Update a pipeline: new spec (a ServiceSpec's pipeline) and/or version.
    Update {
        /// The service whose pipeline it is.
        service: String,
        #[command(flatten)]
        update: UpdateArgs,
    },
    /// A pipeline's outputs.
    Outputs {
        /// The service whose pipeline it is.
        service: String,
    },
}

/// Where a component is attached: a service instance (both flags) or nothing.
#[derive(Debug, Args, Clone, Default)]
pub struct AttachArgs {
    /// The service of the instance to attach to (with --instance).
    #[arg(long, requires = "instance")]
    pub service: Option<String>,
    /// The service instance to attach to (with --service).
    #[arg(long, requires = "service")]
    pub instance: Option<String>,
    /// A ServiceSpec file the component reads its instance's inputs from (attached components).
    #[arg(long)]
    pub service_spec: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// Create a component from a template file and a manifest (CloudFormation or Terraform).
    Create {
        /// The name.
        name: String,
        /// The environment to deploy in (implied by --service/--instance).
        #[arg(long)]
        environment: Option<String>,
        /// The infrastructure-as-code file (Jinja-rendered CloudFormation, or Terraform).
        #[arg(long)]
        template_file: PathBuf,
        /// The manifest naming the file and its rendering engine.
        #[arg(long)]
        manifest: PathBuf,
        #[command(flatten)]
        attach: AttachArgs,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Components, of an environment or a service instance.
    List {
        /// Only those in this environment.
        #[arg(long)]
        environment: Option<String>,
        /// Only those of this service.
        #[arg(long)]
        service: Option<String>,
        /// Only the one attached to this service instance (with --service).
        #[arg(long)]
        instance: Option<String>,
    },
    /// A component: what it is attached to, status, last deployments.
    Show {
        /// The resource's name.
        name: String,
    },
    /// Redeploy a component with a new template, manifest, spec or attachment, or change its
    /// description only (--description without other changes).
    Update {
        /// The resource's name.
        name: String,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
        /// A new template file (default: keep the current one).
        #[arg(long)]
        template_file: Option<PathBuf>,
        /// A new manifest file (default: keep the current one).
        #[arg(long)]
        manifest: Option<PathBuf>,
        #[command(flatten)]
        attach: AttachArgs,
        /// Detach the component from its service instance.
        #[arg(long, conflicts_with_all = ["service", "instance", "service_spec"])]
        detach: bool,
        /// Redeploy even when only the description changes.
        #[arg(long)]
        redeploy: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete (deprovision) a detached component.
    Delete {
        /// The resource's name.
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Show a component's outputs.
    Outputs {
        /// The resource's name.
        name: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything, including templates, environments and keys.
    Admin,
    /// Services, instances, pipelines, components and their deployments; reads everything.
    Developer,
    /// Reads everything, changes nothing.
    Viewer,
}

impl From<RoleArg> for deuteron_core::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => deuteron_core::Role::Admin,
            RoleArg::Developer => deuteron_core::Role::Developer,
            RoleArg::Viewer => deuteron_core::Role::Viewer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// List status-change events, oldest first.
    List {
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only this resource type (ENVIRONMENT, SERVICE, SERVICE_INSTANCE, SERVICE_PIPELINE,
        /// COMPONENT, ENVIRONMENT_TEMPLATE, SERVICE_TEMPLATE_VERSION, ...).
        #[arg(long = "type")]
        resource_type: Option<String>,
        /// Only this resource (`name`, `service/instance`, `template:M.m`).
        #[arg(long)]
        resource: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Keep printing new events as they happen (Ctrl-C to stop).
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an access key; its secret is printed once and cannot be shown again.
    Create {
        /// What the key may do: admin (everything), developer (services and their parts; reads all), viewer (reads).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// List access keys (never their secrets): people's keys, or with --deployment the keys
    /// issued to deployments.
    List {
        /// Keys issued to deployments instead (of one deployment when an id is given); only the
        /// ones still working unless --all.
        #[arg(long, value_name = "DEPLOYMENT_ID", num_args = 0..=1)]
        deployment: Option<Option<String>>,
        /// With --deployment: also revoked and expired keys (kept a week, then purged).
        #[arg(long, requires = "deployment")]
        all: bool,
    },
    /// Revoke an access key; requests signed with it are refused at once.
    Revoke {
        /// The key's id (AKID...).
        access_key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeploymentCommand {
    /// List deployments, newest first (kept after their resources are deleted).
    List {
        /// Only those in this environment.
        #[arg(long)]
        environment: Option<String>,
        /// Only those of this service.
        #[arg(long)]
        service: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One deployment: target, versions, status, attempts, times and duration.
    Show {
        /// The deployment's id, or any unique prefix of it.
        id: String,
    },
    /// Print a deployment's log.
    #[command(
        after_help = "Examples:\n  deuteron deployment logs 0193a1b2-c3d4 --follow\n  deuteron deployment logs --latest web/web-dev\n  deuteron deployment logs --latest dev          # an environment"
    )]
    Logs {
        /// The deployment's id, or any unique prefix of it.
        #[arg(required_unless_present = "latest")]
        id: Option<String>,
        /// The newest deployment of a resource instead: SERVICE/INSTANCE, an environment, a
        /// service (its pipeline) or a component (env:, pipeline: or component: in front when
        /// the name is more than one).
        #[arg(long, value_name = "RESOURCE", conflicts_with = "id")]
        latest: Option<String>,
        /// Keep printing new lines until the deployment finishes.
        #[arg(long, short)]
        follow: bool,
    },
    /// Cancel a queued or running deployment.
    Cancel {
        /// The id, or any unique prefix of it.
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
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
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The name.
        name: String,
        /// A name for people (at most 100 characters).
        #[arg(long)]
        display_name: Option<String>,
        /// A description (at most 500 characters).
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
    Show {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        name: String,
    },
    /// Change a template's display name or description.
    Update {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The name.
        name: String,
        /// A name for people (at most 100 characters).
        #[arg(long)]
        display_name: Option<String>,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// Choose the recommended version: a published VERSION instead of the highest published one,
    /// or --highest to follow the highest published one again. Outdated detection, the fleet
    /// summary and rollouts' default target follow it.
    Recommend {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The name.
        name: String,
        /// A published version, e.g. 1.3.
        #[arg(value_name = "VERSION", required_unless_present = "highest", conflicts_with = "highest")]
        number: Option<String>,
        /// Follow the highest published version (remove the choice).
        #[arg(long)]
        highest: bool,
    },
    /// Delete a template (it must have no versions, unless --cascade).
    Delete {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The name.
        name: String,
        /// Also delete its versions, if none is in use.
        #[arg(long)]
        cascade: bool,
    },
    /// Who runs which version of each template, and how many resources are behind the
    /// recommended version (behind a minor, behind a major).
    Fleet {
        /// Only templates of this kind.
        kind: Option<Kind>,
        /// Only this template.
        name: Option<String>,
    },
    /// Manage template versions.
    #[command(subcommand)]
    Version(VersionCommand),
}

#[derive(Debug, Subcommand)]
pub enum VersionCommand {
    /// Register a bundle (directory, .tar.gz or .zip) as a new DRAFT version.
    #[command(
        after_help = "Examples:\n  deuteron template version register env net ./net/v1 --publish        # 1.0, or the next major\n  deuteron template version register env net ./net/v1 --major 1 --publish  # the next minor of 1\n  deuteron template version register service web bundle.tar.gz --compatible-env net:1"
    )]
    Register {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
        /// The bundle: a directory, .tar.gz or .zip.
        bundle: PathBuf,
        /// Register the next minor version of this major (default: a new major version).
        #[arg(long)]
        major: Option<String>,
        /// A description (at most 500 characters).
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
        /// Register the bundle even when an existing version has the same content.
        #[arg(long)]
        allow_same_content: bool,
    },
    /// Publish a DRAFT version; the highest published version becomes the recommended one.
    Publish {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
    },
    /// Lift the block a rolled-back rollout put on a version: it may be recommended and rolled
    /// out again.
    Unblock {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
    },
    /// List a template's versions.
    List {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
        /// Only this major version.
        #[arg(long)]
        major: Option<String>,
    },
    /// Show one version, with its schema.
    Show {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
    },
    /// Change a version's description.
    Update {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
        /// MAJOR.MINOR
        #[arg(value_name = "VERSION")]
        number: String,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a version nothing uses.
    Delete {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
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

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Show what a rollout would do before anything runs: which resources move, from which version
    /// to which, in which wave, and which are skipped and why.
    Plan(RolloutArgs),
    /// Plan and start a rollout (`--watch` to follow it wave by wave).
    #[command(
        after_help = "Examples:\n  deuteron rollout start service web --waves 'dev;staging;prod' --max-concurrency 10 --watch\n  deuteron rollout start service web --to 1.3 --waves 10%,40%,50% --wave-failure-tolerance 1 --rollback-on-failure"
    )]
    Start {
        #[command(flatten)]
        args: RolloutArgs,
        #[command(flatten)]
        watch: RolloutWatch,
    },
    /// A rollout's status and per-wave progress (`--items`: every resource).
    Status {
        /// The id, or any unique prefix of it.
        id: String,
        /// List every resource with its wave, state and deployment.
        #[arg(long)]
        items: bool,
        #[command(flatten)]
        watch: RolloutWatch,
    },
    /// Stop starting deployments; running ones finish.
    Pause {
        /// The rollout's id, or any unique prefix of it.
        id: String,
    },
    /// Continue a paused rollout.
    Resume {
        /// The rollout's id, or any unique prefix of it.
        id: String,
    },
    /// Let the wave waiting for approval start.
    Approve {
        /// The rollout's id, or any unique prefix of it.
        id: String,
    },
    /// End a rollout; resources not updated yet are left as they are.
    Cancel {
        /// The rollout's id, or any unique prefix of it.
        id: String,
    },
    /// Rollouts, newest first.
    List {
        /// At most this many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Each template's default rollout policy and automatic mode.
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Debug, Args)]
pub struct RolloutWatch {
    /// Follow the rollout until it ends, showing progress per wave (exit code 6 unless it succeeds).
    #[arg(long)]
    pub watch: bool,
    /// With --watch: give up after this many seconds (exit code 7).
    #[arg(long, default_value_t = 86_400)]
    pub wait_timeout: u64,
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// The template kind: environment (env) or service (svc).
    pub kind: Kind,
    /// The template whose resources move.
    pub template: String,
    /// Target version: `1.3`, or `2` for major 2's recommended minor. Default: the recommended
    /// minor of the major the selected resources run.
    #[arg(long = "to")]
    pub to: Option<String>,
    /// Only resources running this version (`1` or `1.2`); repeatable.
    #[arg(long = "from-version")]
    pub from_versions: Vec<String>,
    /// Only resources in this environment; repeatable.
    #[arg(long = "in-env")]
    pub environments: Vec<String>,
    /// Only the instances and pipeline of this service; repeatable.
    #[arg(long = "service")]
    pub services: Vec<String>,
    /// Only this resource (an environment, service/instance, or a service for its pipeline); repeatable.
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// A spec transform file (YAML or JSON: remove, rename, set) applied to every moved resource's inputs.
    #[arg(long)]
    pub spec_transform: Option<PathBuf>,
}

/// A rollout policy, from flags or a file.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Waves: a count (3), percentages (10%,40%,50%) or environment groups in order
    /// (dev;staging;prod-eu,prod-us).
    #[arg(long, default_value = "1")]
    pub waves: String,
    /// Deployments running at the same time.
    #[arg(long, default_value_t = 10)]
    pub max_concurrency: u32,
    /// Failures a wave tolerates (a count, or a percentage like 10%); one more stops the rollout.
    #[arg(long, default_value = "0")]
    pub wave_failure_tolerance: String,
    /// Failures the whole rollout tolerates (a count or a percentage).
    #[arg(long)]
    pub total_failure_tolerance: Option<String>,
    /// Seconds to wait after a wave before starting the next.
    #[arg(long, default_value_t = 0)]
    pub bake_seconds: u64,
    /// Wait for `deuteron rollout approve` before this wave (numbered from 1); repeatable.
    #[arg(long = "approve-before")]
    pub approve_before: Vec<u32>,
    /// When a tolerance is crossed, move updated resources back to their previous version and spec.
    #[arg(long)]
    pub rollback_on_failure: bool,
    /// A policy file (YAML or JSON with waves, max_concurrency, ...) instead of the policy flags.
    #[arg(long = "policy")]
    pub policy_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Set a template's default rollout policy; with --automatic, publishing a new minor version
    /// starts a rollout of the resources on its major with this policy.
    Set {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
        #[command(flatten)]
        policy: PolicyArgs,
        /// Start a rollout with this policy whenever a new minor version of the template is published.
        #[arg(long)]
        automatic: bool,
    },
    /// Show a template's default rollout policy.
    Show {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
    },
    /// Remove a template's default rollout policy (and its automatic mode).
    Clear {
        /// The template kind: environment (env) or service (svc).
        kind: Kind,
        /// The template's name.
        template: String,
    },
}

/// Outdated detection filters of the resource lists.
#[derive(Debug, Args, Default)]
pub struct VersionFilter {
    /// Only resources of this template.
    #[arg(long)]
    pub template: Option<String>,
    /// Only resources running this version (MAJOR.MINOR).
    #[arg(long = "template-version", value_name = "MAJOR.MINOR")]
    pub template_version: Option<String>,
    /// Only resources behind the recommended version by a minor or a major.
    #[arg(long, value_enum)]
    pub behind: Option<Behind>,
}
