//! Commands on templates, their versions, and offline rendering.

use super::*;

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
