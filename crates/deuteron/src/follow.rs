//! What `--wait` shows while deployments run, the same for the local store and `--server`: each
//! deployment's log lines prefixed with its resource, its status changes, how it ended (with its
//! duration), and on failure which deployment failed and the command that shows its log.

use std::collections::HashMap;

use deuteron_service::views::{DeploymentView, LogLineView};

use crate::cli::{Output, WaitArgs};
use crate::exit::{DEPLOYMENT_FAILED, Failure, WAIT_TIMEOUT};

/// Where the followed deployments are read: the service layer or the REST API.
#[async_trait::async_trait]
pub trait DeploymentSource: Sync {
    async fn deployment(&self, id: &str) -> Result<DeploymentView, Failure>;
    async fn log(&self, id: &str, after: i64) -> Result<Vec<LogLineView>, Failure>;
}

/// Whether a deployment has ended, from its status.
pub fn ended(d: &DeploymentView) -> bool {
    !matches!(d.deployment_status.as_str(), "IN_PROGRESS" | "DELETE_IN_PROGRESS" | "CANCELLING")
}

fn succeeded(d: &DeploymentView) -> bool {
    matches!(d.deployment_status.as_str(), "SUCCEEDED" | "DELETE_COMPLETE")
}

/// The error a `--wait` that gave up ends with.
pub fn timed_out(args: &WaitArgs) -> Failure {
    Failure {
        code: WAIT_TIMEOUT,
        kind: "WaitTimeout",
        message: format!("gave up waiting after {}s", args.wait_timeout),
        details: Vec::new(),
    }
}

/// The error a failed deployment ends a `--wait` with.
pub fn failure(d: &DeploymentView, context: Option<&str>) -> Failure {
    let message = format!(
        "{}deployment {} of {} ended {}{}; its log: deuteron deployment logs {}",
        context.map(|c| format!("{c}: ")).unwrap_or_default(),
        d.id,
        d.target,
        d.deployment_status,
        d.deployment_status_message.as_deref().map(|m| format!(": {m}")).unwrap_or_default(),
        d.id
    );
    Failure { code: DEPLOYMENT_FAILED, kind: "DeploymentFailed", message, details: Vec::new() }
}

#[derive(Default)]
struct Seen {
    after: i64,
    status: String,
    ended: bool,
}

/// The deployments one `--wait` follows.
#[derive(Default)]
pub struct Follower {
    seen: HashMap<String, Seen>,
    order: Vec<String>,
}

impl Follower {
    /// Starts following `id` (again is a no-op); says so unless it is the only one.
    pub fn add(&mut self, id: &str) {
        if !self.seen.contains_key(id) {
            self.seen.insert(id.to_string(), Seen::default());
            self.order.push(id.to_string());
        }
    }

    /// Shows what happened since the last look at each followed deployment (on stderr, with
    /// `--output table`); the deployments as they are now.
    pub async fn step(&mut self, src: &dyn DeploymentSource, output: Output) -> Result<Vec<DeploymentView>, Failure> {
        let show = output == Output::Table;
        let mut now = Vec::new();
        for id in &self.order {
            let seen = self.seen.get_mut(id).expect("followed ids are seen");
            let d = src.deployment(id).await?;
            let key = d.target.clone();
            if seen.status.is_empty() && show && self.order.len() > 1 {
                eprintln!("[{key}] deployment {} ({})", d.id, d.action);
            }
            for l in src.log(id, seen.after).await? {
                if show {
                    eprintln!("[{key}] {}", l.line);
                }
                seen.after = l.seq;
            }
            if !seen.status.is_empty() && seen.status != d.deployment_status && show && !ended(&d) {
                eprintln!("[{key}] deployment {}: {} -> {}", d.id, seen.status, d.deployment_status);
            }
            seen.status = d.deployment_status.clone();
            if ended(&d) && !seen.ended {
                seen.ended = true;
                if show {
                    let took = d.duration_ms.map(|ms| format!(" in {:.1} s", ms as f64 / 1000.0)).unwrap_or_default();
                    eprintln!("[{key}] deployment {} {}{took}", d.id, d.deployment_status);
                }
            }
            now.push(d);
        }
        Ok(now)
    }

    /// The first followed deployment that ended other than successfully.
    pub fn first_failed<'a>(&self, now: &'a [DeploymentView]) -> Option<&'a DeploymentView> {
        now.iter().find(|d| ended(d) && !succeeded(d))
    }
}
