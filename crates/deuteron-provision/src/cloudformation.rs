//! The `cloudformation` provisioner: one stack per resource, through aws-sdk-cloudformation.
//!
//! Region, credentials and endpoint come from the AWS SDK's standard configuration
//! (`AWS_REGION`, the credential chain, `AWS_ENDPOINT_URL_CLOUDFORMATION`), so tests run against
//! a local moto server. A provision creates the stack or updates it ("no updates" is a success
//! that keeps the current outputs), waits for a final status while copying stack events into
//! the deployment log, and returns the stack's outputs; a failure carries CloudFormation's
//! reason. A deprovision deletes the stack. The environment's role ARN is passed to the stack.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_cloudformation::types::{Capability, Stack, StackStatus};

use crate::{Cancel, LogSink, Outcome, ProvisionError, ProvisionRequest, Provisioner};

/// How often stack status and events are polled.
const POLL: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct CloudFormationProvisioner {
    client: tokio::sync::OnceCell<Client>,
}

impl CloudFormationProvisioner {
    async fn client(&self) -> &Client {
        self.client.get_or_init(|| async { Client::new(&crate::aws::setup().await.config) }).await
    }
}

fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> ProvisionError {
    ProvisionError::Failed(format!("CloudFormation {what}: {}", DisplayErrorContext(e)))
}

async fn describe(client: &Client, name: &str) -> Result<Option<Stack>, ProvisionError> {
    match client.describe_stacks().stack_name(name).send().await {
        Ok(out) => Ok(out.stacks().first().cloned()),
        Err(e) if e.message().is_some_and(|m| m.contains("does not exist")) => Ok(None),
        Err(e) => Err(sdk_error("DescribeStacks", e)),
    }
}

fn outputs_of(stack: &Stack) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value().unwrap_or_default().to_string())))
        .collect();
    out.sort();
    out
}

/// The stack itself, as Proton listed it among a resource's provisioned resources.
fn stack_resource(stack: &Stack) -> crate::Provisioned {
    let name = stack.stack_name().unwrap_or_default().to_string();
    crate::Provisioned { identifier: stack.stack_id().map_or_else(|| name.clone(), str::to_string), name, engine: "CLOUDFORMATION" }
}

/// Copies stack events not seen yet into the log (oldest first); returns the first failure
/// reason among them.
async fn copy_events(client: &Client, name: &str, seen: &mut HashSet<String>, log: &dyn LogSink) -> Option<String> {
    let events = client.describe_stack_events().stack_name(name).send().await.ok()?;
    let mut reason = None;
    let mut fresh: Vec<_> = events.stack_events().iter().filter(|e| e.event_id().is_some_and(|id| !seen.contains(id))).collect();
    fresh.reverse();
    for e in fresh {
        seen.insert(e.event_id().unwrap_or_default().to_string());
        let status = e.resource_status().map(|s| s.as_str().to_string()).unwrap_or_default();
        let why = e.resource_status_reason().unwrap_or_default();
        log.line(
            "cloudformation",
            format!(
                "{} {} {}{}",
                e.logical_resource_id().unwrap_or_default(),
                e.resource_type().unwrap_or_default(),
                status,
                if why.is_empty() { String::new() } else { format!(": {why}") }
            ),
        );
        if status.ends_with("_FAILED") && !why.is_empty() && reason.is_none() {
            reason = Some(format!("{} {}: {why}", e.logical_resource_id().unwrap_or_default(), status));
        }
    }
    reason
}

fn in_progress(s: &StackStatus) -> bool {
    s.as_str().ends_with("_IN_PROGRESS")
}

/// Waits for the stack to leave `*_IN_PROGRESS`; `None` once it is gone.
async fn wait(
    client: &Client,
    req: &ProvisionRequest,
    log: &dyn LogSink,
    cancel: &mut Cancel,
    seen: &mut HashSet<String>,
) -> Result<(Option<Stack>, Option<String>), ProvisionError> {
    let deadline = tokio::time::Instant::now() + req.timeout;
    let mut reason = None;
    loop {
        if let Some(r) = copy_events(client, &req.stack_name, seen, log).await {
            reason.get_or_insert(r);
        }
        let stack = describe(client, &req.stack_name).await?;
        match &stack {
            None => return Ok((None, reason)),
            Some(s) if s.stack_status().is_some_and(|st| !in_progress(st)) => {
                if reason.is_none() {
                    reason = s.stack_status_reason().map(str::to_string);
                }
                return Ok((stack, reason));
            }
            Some(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = tokio::time::sleep_until(deadline) => return Err(ProvisionError::TimedOut(req.timeout)),
            _ = cancel.cancelled() => {
                if cancel.releasing() {
                    log.line("deuteron", format!("this worker is shutting down: the next worker follows stack {} from here", req.stack_name));
                    return Err(ProvisionError::Cancelled);
                }
                log.line("deuteron", format!("cancelling: stopping work on stack {}", req.stack_name));
                let status = stack.as_ref().and_then(|s| s.stack_status()).map(|s| s.as_str().to_string()).unwrap_or_default();
                if status.starts_with("UPDATE") {
                    let _ = client.cancel_update_stack().stack_name(&req.stack_name).send().await;
                } else if status.starts_with("CREATE") {
                    let _ = client.delete_stack().stack_name(&req.stack_name).send().await;
                }
                return Err(ProvisionError::Cancelled);
            }
        }
    }
}

#[async_trait]
impl Provisioner for CloudFormationProvisioner {
    async fn run(&self, req: &ProvisionRequest, log: &dyn LogSink, mut cancel: Cancel) -> Result<Outcome, ProvisionError> {
        let client = self.client().await;
        let name = req.stack_name.as_str();
        let mut seen = HashSet::new();
        // Events from earlier deployments are not this deployment's.
        if let Ok(events) = client.describe_stack_events().stack_name(name).send().await {
            seen.extend(events.stack_events().iter().filter_map(|e| e.event_id().map(str::to_string)));
        }
        let existing = describe(client, name).await?;
        if req.action == deuteron_core::DeploymentAction::Deprovision {
            if existing.is_none() {
                log.line("deuteron", format!("stack {name} does not exist; nothing to delete"));
                return Ok(Outcome::default());
            }
            log.line("deuteron", format!("deleting stack {name}"));
            client.delete_stack().stack_name(name).send().await.map_err(|e| sdk_error("DeleteStack", e))?;
            let (stack, reason) = wait(client, req, log, &mut cancel, &mut seen).await?;
            return match stack.as_ref().and_then(|s| s.stack_status()) {
                None | Some(StackStatus::DeleteComplete) => Ok(Outcome::default()),
                Some(st) => Err(ProvisionError::Failed(format!("stack {name} is {}: {}", st.as_str(), reason.unwrap_or_default()))),
            };
        }
        let body = req
            .files
            .iter()
            .find(|f| f.path.ends_with(".yaml") || f.path.ends_with(".yml") || f.path.ends_with(".json"))
            .ok_or_else(|| ProvisionError::Failed("the rendered bundle has no CloudFormation template".into()))?;
        let body =
            String::from_utf8(body.contents.clone()).map_err(|e| ProvisionError::Failed(format!("the template is not UTF-8: {e}")))?;
        let caps = [Capability::CapabilityIam, Capability::CapabilityNamedIam, Capability::CapabilityAutoExpand];
        let mut existing = existing;
        if existing.as_ref().and_then(|s| s.stack_status()) == Some(&StackStatus::RollbackComplete) {
            // A stack whose creation failed cannot be updated; CloudFormation requires a delete.
            log.line("deuteron", format!("stack {name} is ROLLBACK_COMPLETE after a failed create; deleting it before creating it again"));
            client.delete_stack().stack_name(name).send().await.map_err(|e| sdk_error("DeleteStack", e))?;
            wait(client, req, log, &mut cancel, &mut seen).await?;
            existing = None;
        }
        if existing.is_none() {
            log.line("deuteron", format!("creating stack {name}"));
            client
                .create_stack()
                .stack_name(name)
                .template_body(&body)
                .set_role_arn(req.role_arn.clone())
                .set_capabilities(Some(caps.to_vec()))
                .send()
                .await
                .map_err(|e| sdk_error("CreateStack", e))?;
        } else {
            log.line("deuteron", format!("updating stack {name}"));
            let sent = client
                .update_stack()
                .stack_name(name)
                .template_body(&body)
                .set_role_arn(req.role_arn.clone())
                .set_capabilities(Some(caps.to_vec()))
                .send()
                .await;
            if let Err(e) = sent {
                if e.message().is_some_and(|m| m.contains("No updates are to be performed")) {
                    log.line("deuteron", format!("stack {name} is already up to date"));
                    return Ok(Outcome {
                        outputs: existing.as_ref().map(outputs_of).unwrap_or_default(),
                        resources: existing.as_ref().map(stack_resource).into_iter().collect(),
                    });
                }
                return Err(sdk_error("UpdateStack", e));
            }
        }
        let (stack, reason) = wait(client, req, log, &mut cancel, &mut seen).await?;
        let stack =
            stack.ok_or_else(|| ProvisionError::Failed(format!("stack {name} disappeared: {}", reason.clone().unwrap_or_default())))?;
        match stack.stack_status() {
            Some(StackStatus::CreateComplete | StackStatus::UpdateComplete) => {
                Ok(Outcome { outputs: outputs_of(&stack), resources: vec![stack_resource(&stack)] })
            }
            other => Err(ProvisionError::Failed(format!(
                "stack {name} is {}: {}",
                other.map(|s| s.as_str()).unwrap_or("unknown"),
                reason.unwrap_or_else(|| "no reason given".into())
            ))),
        }
    }
}
