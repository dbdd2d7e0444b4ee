//! Commands on fleet rollouts and templates' default rollout policies.

use super::*;

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
