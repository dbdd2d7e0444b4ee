//! Reading bundle files from a directory, a `.tar.gz` or a `.zip`, refusing hostile content.
//!
//! Every entry must be a regular file or a directory under a relative path without `..`; links,
//! devices and FIFOs are refused, and the archive size, unpacked size, per-file size and file count
//! are bounded by [`Limits`]. The result is an in-memory map of normalised paths to contents, so
//! nothing from an archive ever reaches the filesystem.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use crate::bundle::BundleError;

/// Bounds on what a bundle may contain. The defaults are documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest archive file accepted (compressed size). Default 5 MiB, Proton's bundle limit.
    pub max_archive_bytes: u64,
    /// Largest sum of unpacked file sizes. Default 20 MiB (guards against decompression bombs).
    pub max_unpacked_bytes: u64,
    /// Largest single file. Default 5 MiB.
    pub max_file_bytes: u64,
    /// Most files (directories not counted). Default 1000.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_archive_bytes: 5 * 1024 * 1024, max_unpacked_bytes: 20 * 1024 * 1024, max_file_bytes: 5 * 1024 * 1024, max_files: 1000 }
    }
}

/// The files of a bundle: normalised relative paths (`/`-separated) to contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl BundleFiles {
    /// Builds a bundle from in-memory files, checking each path and the limits.
    pub fn from_files<P: AsRef<str>>(files: impl IntoIterator<Item = (P, Vec<u8>)>, limits: &Limits) -> Result<Self, BundleError> {
        let mut acc = Accumulator::new(limits);
        for (path, data) in files {
            acc.add(path.as_ref(), data)?;
        }
        Ok(acc.finish())
    }

    /// Loads a bundle from a directory, a `.tar.gz`/`.tgz` or a `.zip` (chosen by content).
    pub fn load(path: &Path, limits: &Limits) -> Result<Self, BundleError> {
        let meta =
            std::fs::symlink_metadata(path).map_err(|e| BundleError::Io { path: path.display().to_string(), message: e.to_string() })?;
        if meta.is_dir() {
            return Self::from_dir(path, limits);
        }
        if !meta.is_file() {
            return Err(BundleError::Unsupported {
                path: path.display().to_string(),
                reason: "not a directory, .tar.gz or .zip file".into(),
            });
        }
        if meta.len() > limits.max_archive_bytes {
            return Err(BundleError::TooLarge {
                what: format!("archive {}", path.display()),
                size: meta.len(),
                limit: limits.max_archive_bytes,
            });
        }
        let bytes = std::fs::read(path).map_err(|e| BundleError::Io { path: path.display().to_string(), message: e.to_string() })?;
        Self::from_archive_bytes(&bytes, limits)
    }

    /// Reads an archive held in memory: gzip-compressed tar or zip, told apart by magic bytes.
    pub fn from_archive_bytes(bytes: &[u8], limits: &Limits) -> Result<Self, BundleError> {
        if bytes.len() as u64 > limits.max_archive_bytes {
            return Err(BundleError::TooLarge { what: "archive".into(), size: bytes.len() as u64, limit: limits.max_archive_bytes });
        }
        match bytes {
            [0x1f, 0x8b, ..] => Self::from_tar_gz(bytes, limits),
            [b'P', b'K', 3, 4, ..] | [b'P', b'K', 5, 6, ..] => Self::from_zip(bytes, limits),
            _ => Err(BundleError::Unsupported { path: "archive".into(), reason: "not a gzip-compressed tar or a zip archive".into() }),
        }
    }

    fn from_dir(root: &Path, limits: &Limits) -> Result<Self, BundleError> {
        let mut acc = Accumulator::new(limits);
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let io = |e: std::io::Error| BundleError::Io { path: dir.display().to_string(), message: e.to_string() };
            let mut entries: Vec<_> = std::fs::read_dir(&dir).map_err(io)?.collect::<Result<_, _>>().map_err(io)?;
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = entry.path();
                let rel = path.strip_prefix(root).expect("walked paths are under the root").to_string_lossy().replace('\\', "/");
                let ft = entry.file_type().map_err(io)?;
                if ft.is_symlink() {
                    return Err(BundleError::Hostile { path: rel, reason: "symbolic links are not allowed in bundles".into() });
                } else if ft.is_dir() {
                    stack.push(path);
                } else if ft.is_file() {
                    let size = entry.metadata().map_err(io)?.len();
                    acc.check_size(&rel, size)?;
                    let data = std::fs::read(&path).map_err(io)?;
                    acc.add(&rel, data)?;
                } else {
                    return Err(BundleError::Hostile {
                        path: rel,
                        reason: "device files, sockets and FIFOs are not allowed in bundles".into(),
                    });
                }
            }
        }
        Ok(acc.finish())
    }

    fn from_tar_gz(bytes: &[u8], limits: &Limits) -> Result<Self, BundleError> {
        let gz = flate2::read::GzDecoder::new(bytes);
        let mut archive = tar::Archive::new(gz);
        let mut acc = Accumulator::new(limits);
        let bad = |e: std::io::Error| BundleError::Unsupported { path: "archive".into(), reason: format!("corrupt tar.gz: {e}") };
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let kind = entry.header().entry_type();
            use tar::EntryType::*;
            match kind {
                Directory => {
                    check_path(&raw_path)?;
                    continue;
                }
                Regular | Continuous => {}
                // pax and GNU long-name headers are consumed by the tar reader itself.
                XGlobalHeader | XHeader | GNULongName | GNULongLink => continue,
                Symlink | Link => {
                    return Err(BundleError::Hostile { path: raw_path, reason: "links are not allowed in bundles".into() });
                }
                Char | Block | Fifo => {
                    return Err(BundleError::Hostile {
                        path: raw_path,
                        reason: "device files and FIFOs are not allowed in bundles".into(),
                    });
                }
                other => {
                    return Err(BundleError::Hostile { path: raw_path, reason: format!("unsupported tar entry type {other:?}") });
                }
            }
            let size = entry.header().size().map_err(bad)?;
            acc.check_size(&raw_path, size)?;
            let data = read_bounded(&mut entry, limits.max_file_bytes, &raw_path)?;
            acc.add(&raw_path, data)?;
        }
        Ok(acc.finish())
    }

    fn from_zip(bytes: &[u8], limits: &Limits) -> Result<Self, BundleError> {
        let bad = |e: zip::result::ZipError| BundleError::Unsupported { path: "archive".into(), reason: format!("corrupt zip: {e}") };
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(bad)?;
        let mut acc = Accumulator::new(limits);
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).map_err(bad)?;
            let raw_path = file.name().map_err(bad)?.to_string();
            if file.is_symlink() {
                return Err(BundleError::Hostile { path: raw_path, reason: "links are not allowed in bundles".into() });
            }
            if let Some(mode) = file.unix_mode() {
                let kind = mode & 0o170000;
                if kind != 0 && kind != 0o100000 && kind != 0o040000 {
                    return Err(BundleError::Hostile {
                        path: raw_path,
                        reason: "device files and FIFOs are not allowed in bundles".into(),
                    });
                }
            }
            if file.is_dir() {
                check_path(&raw_path)?;
                continue;
            }
            acc.check_size(&raw_path, file.size())?;
            let data = read_bounded(&mut file, limits.max_file_bytes, &raw_path)?;
            acc.add(&raw_path, data)?;
        }
        Ok(acc.finish())
    }

    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// The file as UTF-8 text, or an error naming it.
    pub fn text(&self, path: &str) -> Result<Option<&str>, BundleError> {
        match self.files.get(path) {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|e| BundleError::Invalid {
                file: path.to_string(),
                line: None,
                message: format!("not UTF-8 text: {e}"),
            }),
        }
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// Whether any file lives under `dir/`.
    pub fn has_dir(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.files.range(prefix.clone()..).next().is_some_and(|(k, _)| k.starts_with(&prefix))
    }

    /// Files directly or indirectly under `dir/`, with paths relative to it.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let prefix = format!("{dir}/");
        self.files
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(move |(k, v)| (&k[dir.len() + 1..], v.as_slice()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.files.values().map(|v| v.len() as u64).sum()
    }

    /// A SHA-256 over paths and contents: equal bundles have equal digests.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        for (path, data) in &self.files {
            h.update((path.len() as u64).to_le_bytes());
            h.update(path.as_bytes());
            h.update((data.len() as u64).to_le_bytes());
            h.update(data);
        }
        hex::encode(h.finalize())
    }

    /// A deterministic `.tar.gz` of the files (sorted, fixed modes and times), for storage.
    pub fn to_tar_gz(&self) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let mut builder = tar::Builder::new(gz);
        for (path, data) in &self.files {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder.append_data(&mut header, path, data.as_slice()).expect("writing to memory cannot fail");
        }
        let mut gz = builder.into_inner().expect("writing to memory cannot fail");
        gz.flush().expect("writing to memory cannot fail");
        gz.finish().expect("writing to memory cannot fail")
    }
}

/// Collects files while enforcing the limits; strips a single wrapping folder at the end.
struct Accumulator<'l> {
    limits: &'l Limits,
    files: BTreeMap<String, Vec<u8>>,
    total: u64,
}

impl<'l> Accumulator<'l> {
    fn new(limits: &'l Limits) -> Self {
        Self { limits, files: BTreeMap::new(), total: 0 }
    }

    fn check_size(&self, path: &str, size: u64) -> Result<(), BundleError> {
        if size > self.limits.max_file_bytes {
            return Err(BundleError::TooLarge { what: format!("file {path}"), size, limit: self.limits.max_file_bytes });
        }
        if self.total + size > self.limits.max_unpacked_bytes {
            return Err(BundleError::TooLarge {
                what: "unpacked bundle".into(),
                size: self.total + size,
                limit: self.limits.max_unpacked_bytes,
            });
        }
        Ok(())
    }

    fn add(&mut self, raw_path: &str, data: Vec<u8>) -> Result<(), BundleError> {
        let path = check_path(raw_path)?;
        if path.is_empty() {
            return Ok(());
        }
        self.check_size(&path, data.len() as u64)?;
        if self.files.len() >= self.limits.max_files {
            return Err(BundleError::TooManyFiles { limit: self.limits.max_files });
        }
        self.total += data.len() as u64;
        if self.files.insert(path.clone(), data).is_some() {
            return Err(BundleError::Hostile { path, reason: "the archive holds this path twice".into() });
        }
        Ok(())
    }

    fn finish(self) -> BundleFiles {
        let files = strip_wrapper(self.files);
        BundleFiles { files }
    }
}

/// Archives made with `tar czf bundle.tar.gz v1/` wrap the bundle in one folder; when the root
/// holds no schema but a single folder does, the folder is dropped.
fn strip_wrapper(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    if files.contains_key("schema/schema.yaml") {
        return files;
    }
    let first_dirs: std::collections::BTreeSet<&str> = files.keys().map(|k| k.split('/').next().unwrap_or("")).collect();
    let all_nested = files.keys().all(|k| k.contains('/'));
    match first_dirs.into_iter().collect::<Vec<_>>().as_slice() {
        [only] if all_nested && files.contains_key(&format!("{only}/schema/schema.yaml")) => {
            let cut = only.len() + 1;
            files.into_iter().map(|(k, v)| (k[cut..].to_string(), v)).collect()
        }
        _ => files,
    }
}

/// Normalises an archive path (`./a//b` → `a/b`) and refuses absolute paths and `..`.
fn check_path(raw: &str) -> Result<String, BundleError> {
    let hostile = |reason: &str| BundleError::Hostile { path: raw.to_string(), reason: reason.to_string() };
    if raw.contains('\0') {
        return Err(hostile("path contains a NUL byte"));
    }
    if raw.contains('\\') {
        return Err(hostile("path contains a backslash"));
    }
    if raw.starts_with('/') || (raw.len() >= 2 && raw.as_bytes()[1] == b':') {
        return Err(hostile("absolute paths are not allowed in bundles"));
    }
    let mut parts = Vec::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(hostile("path traversal ('..') is not allowed in bundles"));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(hostile("absolute paths are not allowed in bundles"));
            }
        }
    }
    Ok(parts.join("/"))
}

fn read_bounded(reader: &mut impl Read, limit: u64, path: &str) -> Result<Vec<u8>, BundleError> {
    let mut data = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut data)
        .map_err(|e| BundleError::Unsupported { path: path.to_string(), reason: format!("cannot read archive entry: {e}") })?;
    if data.len() as u64 > limit {
        return Err(BundleError::TooLarge { what: format!("file {path}"), size: data.len() as u64, limit });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_or_refused() {
        assert_eq!(check_path("./schema//schema.yaml").unwrap(), "schema/schema.yaml");
        assert!(matches!(check_path("../x"), Err(BundleError::Hostile { .. })));
        assert!(matches!(check_path("a/../../x"), Err(BundleError::Hostile { .. })));
        assert!(matches!(check_path("/etc/passwd"), Err(BundleError::Hostile { .. })));
        assert!(matches!(check_path("C:/x"), Err(BundleError::Hostile { .. })));
    }

    #[test]
    fn wrapper_folder_is_stripped() {
        let files = BundleFiles::from_files(
            [("v1/schema/schema.yaml", b"x".to_vec()), ("v1/infrastructure/manifest.yaml", b"y".to_vec())],
            &Limits::default(),
        )
        .unwrap();
        assert!(files.contains("schema/schema.yaml"));
        assert!(files.has_dir("infrastructure"));
        assert!(!files.has_dir("infra"));
    }

    #[test]
    fn tar_gz_round_trips() {
        let files =
            BundleFiles::from_files([("schema/schema.yaml", b"x".to_vec()), ("a/b.txt", b"yy".to_vec())], &Limits::default()).unwrap();
        let back = BundleFiles::from_archive_bytes(&files.to_tar_gz(), &Limits::default()).unwrap();
        assert_eq!(back, files);
        assert_eq!(back.digest(), files.digest());
    }
}
