//! Provisioners: the only code that starts processes or reaches clouds. Each implements
//! [`Provisioner`]; the engine picks one by the bundle manifest's rendering engine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use deuteron_core::DeploymentAction;

pub mod cloudformation;
pub mod command;
pub mod outputs;
pub mod process;
pub mod terraform;

/// A file to place in the working directory, at a path relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkFile {
    pub path: String,
    pub contents: Vec<u8>,
}

/// Everything a provisioner needs for one deployment.
#[derive(Debug, Clone)]
pub struct ProvisionRequest {
    pub deployment_id: String,
    pub action: DeploymentAction,
    /// The resource's ARN (`RESOURCE_ARN` for commands).
    pub resource_arn: String,
    /// A stable, unique name for the resource's infrastructure (stack name, state key).
    pub stack_name: String,
    /// The rendered infrastructure folder.
    pub files: Vec<WorkFile>,
    /// Where to run: created fresh for the deployment.
    pub work_dir: PathBuf,
    /// A directory that lives as long as the resource (Terraform state), under the data dir.
    pub resource_dir: PathBuf,
    /// Extra environment variables (the manifest's `env.variables`).
    pub env: BTreeMap<String, String>,
    /// CloudFormation: the role the stack runs with (the environment's role ARN).
    pub role_arn: Option<String>,
    /// Command provisioner: the manifest's `provision` or `deprovision` commands.
    pub commands: Vec<String>,
    pub timeout: Duration,
}

/// Where a provisioner reports progress: each line lands in the deployment log.
pub trait LogSink: Send + Sync {
    fn line(&self, stream: &str, line: String);
}

/// Signals a running provisioner to stop.
#[derive(Debug, Clone)]
pub struct Cancel(tokio::sync::watch::Receiver<bool>);

impl Cancel {
    /// A cancel signal and the sender that trips it.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Self(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once cancellation is requested (never, if the sender is dropped untripped).
    pub async fn cancelled(&mut self) {
        loop {
            if *self.0.borrow() {
                return;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A successful provision: the outputs to store, and the infrastructure it manages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub outputs: Vec<(String, String)>,
    pub resources: Vec<Provisioned>,
}

/// One piece of infrastructure a provisioner manages for a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    pub name: String,
    pub identifier: String,
    /// `CLOUDFORMATION` or `TERRAFORM`.
    pub engine: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {}s", .0.as_secs())]
    TimedOut(Duration),
    #[error("cancelled")]
    Cancelled,
}

#[async_trait]
pub trait Provisioner: Send + Sync {
    /// Provisions (create or update) or deprovisions per `req.action`.
    async fn run(&self, req: &ProvisionRequest, log: &dyn LogSink, cancel: Cancel) -> Result<Outcome, ProvisionError>;
}

/// Writes `files` under `dir`, refusing paths that leave it.
pub fn write_files(dir: &std::path::Path, files: &[WorkFile]) -> Result<(), ProvisionError> {
    std::fs::create_dir_all(dir).map_err(|e| ProvisionError::Failed(format!("cannot create {}: {e}", dir.display())))?;
    for f in files {
        let rel = std::path::Path::new(&f.path);
        if rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            return Err(ProvisionError::Failed(format!("refusing to write {:?} outside the working directory", f.path)));
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ProvisionError::Failed(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&path, &f.contents).map_err(|e| ProvisionError::Failed(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(())
}
