//! The `command` provisioner: runs a CodeBuild-style manifest's `provision` / `deprovision`
//! commands as local child processes.
//!
//! The commands run as one `bash -e` script (so `cd` and variables carry from one command to the
//! next, as in a CodeBuild phase) in a fresh working directory holding the rendered bundle folder
//! and `proton-inputs.json`. Inputs reach the commands only through that file and environment
//! variables: nothing from a spec is ever spliced into the script. The child runs in its own
//! process group, which is killed as a whole on timeout or cancellation. Outputs are read from
//! `proton-outputs.json` after success.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::{Cancel, LogSink, Outcome, ProvisionError, ProvisionRequest, Provisioner, process, replace_files};

#[derive(Debug, Clone)]
pub struct CommandProvisioner {
    /// The shell that runs the commands.
    pub shell: String,
}

impl Default for CommandProvisioner {
    fn default() -> Self {
        Self { shell: "bash".into() }
    }
}

#[async_trait]
impl Provisioner for CommandProvisioner {
    async fn run(&self, req: &ProvisionRequest, log: &dyn LogSink, mut cancel: Cancel) -> Result<Outcome, ProvisionError> {
        replace_files(&req.work_dir, &req.files)?;
        let outputs_file = req.work_dir.join("proton-outputs.json");
        let _ = std::fs::remove_file(&outputs_file);
        let script = format!("set -e\n{}\n", req.commands.join("\n"));
        let mut env: BTreeMap<String, String> = process::base_env();
        env.extend(req.env.clone());
        env.insert("RESOURCE_ARN".into(), req.resource_arn.clone());
        env.insert("STACK_NAME".into(), req.stack_name.clone());
        env.insert("DEPLOYMENT_ID".into(), req.deployment_id.clone());
        env.insert("PROTON_DEPLOYMENT_ID".into(), req.deployment_id.clone());
        env.insert("DEUTERON_ACTION".into(), req.action.as_str().to_string());
        log.line("deuteron", format!("running {} command(s) in {}", req.commands.len(), req.work_dir.display()));
        let deadline = tokio::time::Instant::now() + req.timeout;
        let exit = process::run(&self.shell, &["-c", &script], &req.work_dir, &env, log, &mut cancel, deadline, req.timeout).await?;
        if !exit.success {
            return Err(ProvisionError::Failed(format!("command {}", exit.describe())));
        }
        let outputs = match std::fs::read_to_string(&outputs_file) {
            Ok(text) => crate::outputs::parse_outputs(&text).map_err(ProvisionError::Failed)?,
            Err(_) => Vec::new(),
        };
        log.line("deuteron", format!("commands succeeded with {} output(s)", outputs.len()));
        Ok(Outcome { outputs, resources: Vec::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::WorkFile;
    use deuteron_core::DeploymentAction;
    use std::sync::Mutex;
    use std::time::Duration;

    #[derive(Default)]
    struct Lines(Mutex<Vec<(String, String)>>);
    impl LogSink for Lines {
        fn line(&self, stream: &str, line: String) {
            self.0.lock().unwrap().push((stream.to_string(), line));
        }
    }

    fn req(dir: &std::path::Path, commands: &[&str], timeout: Duration) -> ProvisionRequest {
        ProvisionRequest {
            deployment_id: "d1".into(),
            action: DeploymentAction::Provision,
            resource_arn: "arn:aws:proton:us-east-1:123456789012:environment/dev".into(),
            stack_name: "dev".into(),
            files: vec![WorkFile {
                path: "proton-inputs.json".into(),
                contents: br#"{"environment": {"name": "dev", "inputs": {"x": "$(touch pwned); `touch pwned2`; rm -rf /"}}}"#.to_vec(),
            }],
            work_dir: dir.to_path_buf(),
            resource_dir: dir.join("resource"),
            role_arn: None,
            env: BTreeMap::from([("STAGE".to_string(), "dev".to_string())]),
            commands: commands.iter().map(|c| c.to_string()).collect(),
            timeout,
        }
    }

    #[tokio::test]
    async fn runs_commands_streams_logs_and_reads_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let lines = Lines::default();
        let r = req(
            dir.path(),
            &[
                "echo arn=$RESOURCE_ARN stage=$STAGE",
                "X=$(jq -r .environment.inputs.x proton-inputs.json 2>/dev/null || python3 -c 'import json;print(json.load(open(\"proton-inputs.json\"))[\"environment\"][\"inputs\"][\"x\"])')",
                "echo \"got $X\"",
                "echo oops >&2",
                "printf '{\"Out\": \"%s\"}' \"$X\" > proton-outputs.json",
            ],
            Duration::from_secs(30),
        );
        let (_tx, cancel) = Cancel::new();
        let outcome = CommandProvisioner::default().run(&r, &lines, cancel).await.unwrap();
        assert_eq!(outcome.outputs, vec![("Out".to_string(), "$(touch pwned); `touch pwned2`; rm -rf /".to_string())]);
        assert!(!dir.path().join("pwned").exists() && !dir.path().join("pwned2").exists(), "spec values are data, never executed");
        let lines = lines.0.lock().unwrap().clone();
        assert!(
            lines.contains(&("stdout".into(), "arn=arn:aws:proton:us-east-1:123456789012:environment/dev stage=dev".into())),
            "{lines:?}"
        );
        assert!(lines.contains(&("stderr".into(), "oops".into())), "{lines:?}");
    }

    #[tokio::test]
    async fn failure_carries_the_exit_status_and_last_error_line() {
        let dir = tempfile::tempdir().unwrap();
        let r = req(dir.path(), &["echo starting", "echo 'bucket already exists' >&2; exit 3", "echo never"], Duration::from_secs(30));
        let (_tx, cancel) = Cancel::new();
        let e = CommandProvisioner::default().run(&r, &Lines::default(), cancel).await.unwrap_err();
        assert_eq!(e, ProvisionError::Failed("command exited with status 3: bucket already exists".into()));
    }

    #[tokio::test]
    async fn timeout_and_cancel_kill_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        // A grandchild that would outlive a plain kill of the shell.
        let r = req(dir.path(), &["(sleep 30; touch survived) &", "sleep 30"], Duration::from_millis(300));
        let (_tx, cancel) = Cancel::new();
        let start = std::time::Instant::now();
        let e = CommandProvisioner::default().run(&r, &Lines::default(), cancel).await.unwrap_err();
        assert_eq!(e, ProvisionError::TimedOut(Duration::from_millis(300)));
        assert!(start.elapsed() < Duration::from_secs(5));
        let dir2 = tempfile::tempdir().unwrap();
        let r = req(dir2.path(), &["sleep 30"], Duration::from_secs(60));
        let (tx, cancel) = Cancel::new();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            tx.send(true).unwrap();
        });
        let e = CommandProvisioner::default().run(&r, &Lines::default(), cancel).await.unwrap_err();
        assert_eq!(e, ProvisionError::Cancelled);
        let ps = std::process::Command::new("pgrep").args(["-f", "touch survived"]).output().unwrap();
        assert!(ps.stdout.is_empty(), "the background grandchild was killed with its group");
    }
}
