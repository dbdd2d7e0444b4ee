//! Commands on environments, services, instances, pipelines, components and deployments, and
//! the update, wait and version-filter flags they share.

use super::*;

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
