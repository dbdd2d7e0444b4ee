//! The data directory (`--data-dir`): the SQLite store, the server key and the resources'
//! working directories. It is created readable by its owner only, and `server`/`worker` warn at
//! start about anything in it that other users can read.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::exit::Failure;

/// Creates the directory (and missing parents) with mode 0700 unless it exists.
pub fn prepare(dir: &Path) -> Result<(), Failure> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Failure::internal(format!("cannot create data directory {}: {e}", dir.display())))
}

/// The directory itself and the entries directly in it that group or others may read or
/// enter, with their modes.
pub fn too_open(dir: &Path) -> Vec<(PathBuf, u32)> {
    let mode = |p: &Path| std::fs::symlink_metadata(p).ok().map(|m| m.permissions().mode() & 0o777);
    let entries = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path());
    std::iter::once(dir.to_path_buf()).chain(entries).filter_map(|p| mode(&p).filter(|m| m & 0o077 != 0).map(|m| (p, m))).collect()
}

/// Logs one warning per entry of [`too_open`], with the command that closes it.
pub fn warn_if_open(dir: &Path) {
    for (path, mode) in too_open(dir) {
        let fix = if path.is_dir() { "chmod 700" } else { "chmod 600" };
        tracing::warn!(
            path = %path.display(),
            mode = %format!("{mode:o}"),
            "readable by other users; the data directory holds specs, outputs, sealed secrets and logs: run `{fix} {}`",
            path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_private_and_open_entries_are_named() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/data");
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(too_open(&dir).is_empty());
        let db = dir.join("deuteron.db");
        std::fs::write(&db, "").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let key = dir.join("server.key");
        std::fs::write(&key, "").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(too_open(&dir), vec![(db, 0o644)]);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(too_open(&dir).first(), Some(&(dir.clone(), 0o755)));
        prepare(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o755, "an existing directory is not changed");
    }
}
