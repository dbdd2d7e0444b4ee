//! Running one child process for a provisioner: its own process group, stdout and stderr
//! streamed line by line into the log, a deadline, and cancellation that kills the whole group.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

use crate::{Cancel, LogSink, ProvisionError};

/// How long a process group gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(3);

/// Environment variables passed through from Deuteron's own environment to children.
const PASSTHROUGH: &[&str] = &["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "SHELL", "TZ"];
/// Prefixes of variables passed through (AWS SDK/CLI and Terraform configuration).
const PASSTHROUGH_PREFIXES: &[&str] = &["AWS_", "TF_", "DEUTERON_COMMAND_"];

/// The inherited part of a child's environment.
pub fn base_env() -> BTreeMap<String, String> {
    std::env::vars().filter(|(k, _)| PASSTHROUGH.contains(&k.as_str()) || PASSTHROUGH_PREFIXES.iter().any(|p| k.starts_with(p))).collect()
}

/// A finished child: whether it succeeded, and its last stderr line.
pub struct Exit {
    pub success: bool,
    pub code: Option<i32>,
    pub last_stderr: String,
}

impl Exit {
    /// `status N: <last stderr line>`, for failure messages.
    pub fn describe(&self) -> String {
        let code = self.code.map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
        if self.last_stderr.is_empty() { format!("exited with {code}") } else { format!("exited with {code}: {}", self.last_stderr) }
    }
}

/// Runs `program args` in `cwd` with exactly `env`, until it exits, `deadline` passes
/// ([`ProvisionError::TimedOut`] with `timeout`) or `cancel` trips.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    program: &str,
    args: &[&str],
    cwd: &Path,
    env: &BTreeMap<String, String>,
    log: &dyn LogSink,
    cancel: &mut Cancel,
    deadline: Instant,
    timeout: Duration,
) -> Result<Exit, ProvisionError> {
    // An absolute path lets the standard library start the child with posix_spawn (no copy of
    // this process's page tables); with a cleared environment and a bare name it has to fork.
    let resolved = resolve(program, env.get("PATH").map(String::as_str));
    let mut child = tokio::process::Command::new(&resolved)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ProvisionError::Failed(format!("cannot start {program}: {e}")))?;
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut last_err = String::new();
    let pump = async {
        let mut out = BufReader::new(stdout).lines();
        let mut err = BufReader::new(stderr).lines();
        let (mut out_done, mut err_done) = (false, false);
        while !(out_done && err_done) {
            tokio::select! {
                line = out.next_line(), if !out_done => match line {
                    Ok(Some(l)) => log.line("stdout", l),
                    _ => out_done = true,
                },
                line = err.next_line(), if !err_done => match line {
                    Ok(Some(l)) => {
                        if !l.trim().is_empty() {
                            last_err = l.trim().to_string();
                        }
                        log.line("stderr", l);
                    }
                    _ => err_done = true,
                },
            }
        }
    };
    let outcome = tokio::select! {
        (status, ()) = async { tokio::join!(child.wait(), pump) } => Ok(status),
        _ = tokio::time::sleep_until(deadline) => Err(ProvisionError::TimedOut(timeout)),
        _ = cancel.cancelled() => Err(ProvisionError::Cancelled),
    };
    match outcome {
        Ok(Ok(status)) => Ok(Exit { success: status.success(), code: status.code(), last_stderr: last_err }),
        Ok(Err(e)) => Err(ProvisionError::Failed(format!("waiting for {program} failed: {e}"))),
        Err(stop) => {
            log.line("deuteron", format!("{stop}: stopping process group {}", pid.unwrap_or(0)));
            if let Some(pid) = pid {
                kill_group(pid, "TERM").await;
                if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
                    kill_group(pid, "KILL").await;
                }
            }
            let _ = child.wait().await;
            Err(stop)
        }
    }
}

/// `program` as a path: itself when it names a directory, else its first match on `path`
/// (the child's `PATH`); unchanged when nothing matches (spawning then reports it missing).
pub fn resolve(program: &str, path: Option<&str>) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return program.into();
    }
    path.unwrap_or("/usr/local/bin:/usr/bin:/bin")
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
        .unwrap_or_else(|| program.into())
}

/// Signals every process in the group `pgid` (children are made group leaders).
async fn kill_group(pgid: u32, signal: &str) {
    let _ = tokio::process::Command::new("kill").arg(format!("-{signal}")).arg("--").arg(format!("-{pgid}")).status().await;
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn resolves_programs_on_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let tool = dir.path().join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        // Not executable: skipped.
        assert_eq!(resolve("tool", Some(dir.path().to_str().unwrap())), std::path::PathBuf::from("tool"));
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = format!("/nonexistent:{}:/usr/bin", dir.path().display());
        assert_eq!(resolve("tool", Some(&path)), tool);
        assert_eq!(resolve("./x/tool", Some(&path)), std::path::PathBuf::from("./x/tool"));
        assert_eq!(resolve("no-such-program-here", Some(&path)), std::path::PathBuf::from("no-such-program-here"));
    }
}
