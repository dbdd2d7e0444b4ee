//! The `terraform` provisioner: runs a configured `terraform` or `tofu` binary on the rendered
//! files plus Proton's generated variable files.
//!
//! Each resource has a directory of its own under the data directory; it holds the resource's
//! state (the local backend's `terraform.tfstate`) unless the bundle declares its own backend.
//! A provision runs `init`, `plan -out`, `apply` of that plan and `output -json`; a deprovision
//! runs `init` and `destroy`, then removes the directory.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::{Cancel, LogSink, Outcome, ProvisionError, ProvisionRequest, Provisioner, process, write_files};

#[derive(Debug, Clone)]
pub struct TerraformProvisioner {
    /// The binary: `terraform`, `tofu`, or a path.
    pub binary: String,
}

impl Default for TerraformProvisioner {
    fn default() -> Self {
        Self { binary: "terraform".into() }
    }
}

/// Files of the previous deployment that the new render replaces (state and plugins stay).
fn clear_rendered(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let keep = name.starts_with("terraform.tfstate") || name == ".terraform" || name == ".terraform.lock.hcl";
            if !keep && e.file_type().is_ok_and(|t| t.is_file()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Terraform prints outputs as JSON values; strings stay as they are, others as JSON text.
fn outputs_from(text: &str) -> Result<Vec<(String, String)>, ProvisionError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| ProvisionError::Failed(format!("cannot read `output -json`: {e}")))?;
    let map = doc.as_object().ok_or_else(|| ProvisionError::Failed("`output -json` did not print an object".into()))?;
    Ok(map
        .iter()
        .map(|(k, v)| {
            let value = match v.get("value") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            (k.clone(), value)
        })
        .collect())
}

/// The managed resources of a local state file: `type.name[key]` and each instance's `id`
/// (empty when the bundle keeps its state in a remote backend).
fn state_resources(path: &std::path::Path) -> Vec<crate::Provisioned> {
    let Ok(text) = std::fs::read_to_string(path) else { return Vec::new() };
    let Ok(state) = serde_json::from_str::<Value>(&text) else { return Vec::new() };
    let mut out = Vec::new();
    for r in state.get("resources").and_then(Value::as_array).into_iter().flatten() {
        if r.get("mode").and_then(Value::as_str) != Some("managed") {
            continue;
        }
        let address = format!(
            "{}{}.{}",
            r.get("module").and_then(Value::as_str).map(|m| format!("{m}.")).unwrap_or_default(),
            r.get("type").and_then(Value::as_str).unwrap_or_default(),
            r.get("name").and_then(Value::as_str).unwrap_or_default()
        );
        for inst in r.get("instances").and_then(Value::as_array).into_iter().flatten() {
            let name = match inst.get("index_key") {
                Some(Value::String(k)) => format!("{address}[\"{k}\"]"),
                Some(Value::Number(n)) => format!("{address}[{n}]"),
                _ => address.clone(),
            };
            let id = inst.pointer("/attributes/id").and_then(Value::as_str).unwrap_or(&name).to_string();
            out.push(crate::Provisioned { name, identifier: id, engine: "TERRAFORM" });
        }
    }
    out
}

#[async_trait]
impl Provisioner for TerraformProvisioner {
    async fn run(&self, req: &ProvisionRequest, log: &dyn LogSink, mut cancel: Cancel) -> Result<Outcome, ProvisionError> {
        let dir = &req.resource_dir;
        crate::private_dir(dir).map_err(|e| ProvisionError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        clear_rendered(dir);
        write_files(dir, &req.files)?;
        let mut env: BTreeMap<String, String> = process::base_env();
        env.extend(req.env.clone());
        env.insert("TF_IN_AUTOMATION".into(), "1".into());
        env.insert("TF_INPUT".into(), "0".into());
        let deadline = tokio::time::Instant::now() + req.timeout;
        let deprovision = req.action == deuteron_core::DeploymentAction::Deprovision;
        let steps: Vec<(&str, Vec<&str>)> = if deprovision {
            vec![
                ("init", vec!["init", "-input=false", "-no-color"]),
                ("destroy", vec!["destroy", "-auto-approve", "-input=false", "-no-color"]),
            ]
        } else {
            vec![
                ("init", vec!["init", "-input=false", "-no-color"]),
                ("plan", vec!["plan", "-input=false", "-no-color", "-out=deuteron.tfplan"]),
                ("apply", vec!["apply", "-input=false", "-no-color", "-auto-approve", "deuteron.tfplan"]),
            ]
        };
        for (name, args) in steps {
            log.line("deuteron", format!("{} {}", self.binary, args.join(" ")));
            let exit = process::run(&self.binary, &args, dir, &env, log, &mut cancel, deadline, req.timeout).await?;
            if !exit.success {
                return Err(ProvisionError::Failed(format!("terraform {name} {}", exit.describe())));
            }
        }
        if deprovision {
            let _ = std::fs::remove_dir_all(dir);
            return Ok(Outcome::default());
        }
        // `output -json` is read whole: capture it instead of logging it.
        let capture = Capture::default();
        let exit =
            process::run(&self.binary, &["output", "-json", "-no-color"], dir, &env, &capture, &mut cancel, deadline, req.timeout).await?;
        if !exit.success {
            return Err(ProvisionError::Failed(format!("terraform output {}", exit.describe())));
        }
        let outputs = outputs_from(&capture.stdout())?;
        let resources = state_resources(&dir.join("terraform.tfstate"));
        log.line(
            "deuteron",
            format!("terraform apply succeeded with {} output(s), {} managed resource(s)", outputs.len(), resources.len()),
        );
        Ok(Outcome { outputs, resources })
    }
}

#[derive(Default)]
struct Capture(std::sync::Mutex<Vec<String>>);

impl Capture {
    fn stdout(&self) -> String {
        self.0.lock().expect("capture lock").join("\n")
    }
}

impl LogSink for Capture {
    fn line(&self, stream: &str, line: String) {
        if stream == "stdout" {
            self.0.lock().expect("capture lock").push(line);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn outputs_become_strings() {
        let out = super::outputs_from(r#"{"a": {"value": "x", "type": "string"}, "n": {"value": 3}, "l": {"value": ["p", "q"]}}"#).unwrap();
        assert_eq!(out, vec![("a".into(), "x".into()), ("n".into(), "3".into()), ("l".into(), "[\"p\",\"q\"]".into())]);
    }
}
