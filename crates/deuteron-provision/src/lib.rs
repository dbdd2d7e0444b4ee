//! Provisioners: the only code that starts processes or reaches clouds. Each implements
//! [`Provisioner`]; the engine picks one by the bundle manifest's rendering engine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use deuteron_core::DeploymentAction;

pub mod aws;
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

/// Signals a running provisioner to stop: because the deployment is cancelled, or because this
/// worker is shutting down and *releases* it to another worker ([`Cancel::releasing`]). Either
/// way its processes are stopped; only a cancel undoes work in progress elsewhere (a
/// CloudFormation update is cancelled), a release leaves it for the next worker to follow.
#[derive(Debug, Clone)]
pub struct Cancel(tokio::sync::watch::Receiver<bool>, std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Cancel {
    /// A cancel signal and the sender that trips it.
    pub fn new() -> (tokio::sync::watch::Sender<bool>, Self) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (tx, Self(rx, Default::default()))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// The flag that, set before the signal is tripped, makes the stop a release.
    pub fn release_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.1.clone()
    }

    /// Whether the stop releases the deployment to another worker rather than cancelling it.
    pub fn releasing(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
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

/// Writes `files` under `dir` (creating it), refusing paths that leave it.
pub fn write_files(dir: &std::path::Path, files: &[WorkFile]) -> Result<(), ProvisionError> {
    check_paths(files)?;
    write_checked(dir, files)
}

/// Makes `dir` hold exactly `files`, refusing paths that leave it. A directory used before
/// (workers reuse theirs) is cleared of everything else first; directories that are needed
/// again and files that already hold what they should are kept, which spares the file system
/// allocating (and flushing) new files for every deployment. Nothing left behind is followed: symbolic links, hard-linked files and
/// anything else on the way are removed, never written through.
pub fn replace_files(dir: &std::path::Path, files: &[WorkFile]) -> Result<(), ProvisionError> {
    let (keep_files, keep_dirs) = check_paths(files)?;
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => clear_except(dir, std::path::Path::new(""), &keep_files, &keep_dirs).map_err(|e| failed("clear", dir, e))?,
        Ok(_) => std::fs::remove_file(dir).map_err(|e| failed("replace", dir, e))?,
        Err(_) => {}
    }
    write_checked(dir, files)
}

type PathSet = std::collections::BTreeSet<std::path::PathBuf>;

fn failed(what: &str, path: &std::path::Path, e: std::io::Error) -> ProvisionError {
    ProvisionError::Failed(format!("cannot {what} {}: {e}", path.display()))
}

/// Refuses paths that leave the working directory; returns the files and their directories.
fn check_paths(files: &[WorkFile]) -> Result<(PathSet, PathSet), ProvisionError> {
    let (mut keep_files, mut keep_dirs) = (PathSet::new(), PathSet::new());
    for f in files {
        let rel = std::path::Path::new(&f.path);
        if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_) | std::path::Component::CurDir)) {
            return Err(ProvisionError::Failed(format!("refusing to write {:?} outside the working directory", f.path)));
        }
        keep_dirs.extend(rel.ancestors().skip(1).filter(|a| !a.as_os_str().is_empty()).map(std::path::Path::to_path_buf));
        keep_files.insert(rel.to_path_buf());
    }
    Ok((keep_files, keep_dirs))
}

/// Creates `dir` and its missing parents readable by the owner only (0700): working
/// directories hold rendered inputs, state and outputs.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

fn write_checked(dir: &std::path::Path, files: &[WorkFile]) -> Result<(), ProvisionError> {
    private_dir(dir).map_err(|e| failed("create", dir, e))?;
    for f in files {
        let path = dir.join(&f.path);
        if let Some(parent) = path.parent() {
            private_dir(parent).map_err(|e| failed("create", parent, e))?;
        }
        write_if_changed(&path, &f.contents).map_err(|e| failed("write", &path, e))?;
    }
    Ok(())
}

/// Writes `contents` to `path` unless the file there holds them already. A file that differs
/// is removed and written anew rather than truncated: ext4 flushes a file truncated to zero and
/// rewritten when it is closed (its `auto_da_alloc` heuristic), which costs a disk write.
/// Only regular files are ever at `path` here: `clear_except` removed everything else.
fn write_if_changed(path: &std::path::Path, contents: &[u8]) -> std::io::Result<()> {
    match std::fs::read(path) {
        Ok(old) if old == contents => return Ok(()),
        Ok(_) => std::fs::remove_file(path)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(contents)
}

/// Removes everything under `dir` (at `rel` below the working directory) but the regular,
/// singly linked files in `files` and the real directories in `dirs`.
fn clear_except(dir: &std::path::Path, rel: &std::path::Path, files: &PathSet, dirs: &PathSet) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let (path, name) = (entry.path(), rel.join(entry.file_name()));
        let meta = std::fs::symlink_metadata(&path)?; // of the entry itself: links are not followed
        if meta.is_dir() {
            if dirs.contains(&name) {
                clear_except(&path, &name, files, dirs)?;
            } else {
                std::fs::remove_dir_all(&path)?;
            }
        } else if !(meta.is_file() && meta.nlink() == 1 && files.contains(&name)) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str) -> WorkFile {
        WorkFile { path: path.into(), contents: contents.as_bytes().to_vec() }
    }

    #[test]
    fn a_reused_working_directory_holds_exactly_the_new_files() {
        let root = tempfile::tempdir().unwrap();
        let outside = root.path().join("outside.txt");
        std::fs::write(&outside, "keep me").unwrap();
        let dir = root.path().join("work");
        replace_files(&dir, &[file("main.tf", "old"), file("modules/a/x.tf", "x"), file("stale.txt", "s")]).unwrap();
        // What the previous deployment's commands left behind.
        std::fs::write(dir.join("proton-outputs.json"), "{}").unwrap();
        std::fs::create_dir_all(dir.join(".terraform/providers")).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("proton-inputs.json")).unwrap();
        std::os::unix::fs::symlink(root.path(), dir.join("linked")).unwrap();
        std::fs::remove_file(dir.join("main.tf")).unwrap();
        std::fs::hard_link(&outside, dir.join("main.tf")).unwrap();

        replace_files(
            &dir,
            &[file("main.tf", "new"), file("proton-inputs.json", "{\"a\": 1}"), file("linked/y.tf", "y"), file("modules/b.tf", "b")],
        )
        .unwrap();
        let mut found: Vec<String> = Vec::new();
        fn walk(dir: &std::path::Path, rel: &str, found: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let e = e.unwrap();
                let name = format!("{rel}{}", e.file_name().to_string_lossy());
                let t = e.file_type().unwrap();
                assert!(!t.is_symlink(), "{name} is still a link");
                if t.is_dir() {
                    walk(&e.path(), &format!("{name}/"), found);
                } else {
                    found.push(name);
                }
            }
        }
        walk(&dir, "", &mut found);
        found.sort();
        assert_eq!(found, ["linked/y.tf", "main.tf", "modules/b.tf", "proton-inputs.json"]);
        assert_eq!(std::fs::read_to_string(dir.join("main.tf")).unwrap(), "new");
        assert_eq!(std::fs::read_to_string(dir.join("proton-inputs.json")).unwrap(), "{\"a\": 1}");
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep me", "links were replaced, not written through");
        assert!(!root.path().join("y.tf").exists());
        use std::os::unix::fs::PermissionsExt;
        let mode = |rel: &str| std::fs::metadata(dir.join(rel)).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(""), mode("modules"), mode("main.tf"), mode("modules/b.tf")), (0o700, 0o700, 0o600, 0o600), "owner only");

        for bad in ["../escape", "/etc/passwd", "a/../../b"] {
            let e = replace_files(&dir, &[file(bad, "x")]).unwrap_err();
            assert!(e.to_string().contains("outside the working directory"), "{bad}: {e}");
        }
        assert_eq!(std::fs::read_to_string(dir.join("main.tf")).unwrap(), "new", "a refused write leaves the directory as it was");
    }

    #[test]
    fn a_file_holding_its_contents_already_is_kept_and_a_changed_one_is_written_anew() {
        use std::os::unix::fs::MetadataExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("work");
        replace_files(&dir, &[file("same.txt", "s"), file("changed.txt", "before")]).unwrap();
        let inode = |name: &str| std::fs::metadata(dir.join(name)).unwrap().ino();
        let (same, changed) = (inode("same.txt"), inode("changed.txt"));
        // Holds the old inode open, so the changed file cannot be given the same number again.
        let _old = std::fs::File::open(dir.join("changed.txt")).unwrap();
        replace_files(&dir, &[file("same.txt", "s"), file("changed.txt", "after, longer")]).unwrap();
        assert_eq!(inode("same.txt"), same, "an unchanged file is left as it is");
        assert_ne!(inode("changed.txt"), changed, "a changed file is a new file, not the old one truncated");
        assert_eq!(std::fs::read_to_string(dir.join("changed.txt")).unwrap(), "after, longer");
        assert_eq!(std::fs::read_to_string(dir.join("same.txt")).unwrap(), "s");
    }
}
