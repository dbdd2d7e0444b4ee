//! API access keys. SigV4 verification needs each key's secret, so secrets are sealed with
//! AES-256-GCM under the server key before they are stored, opened only in memory to verify a
//! request, and never logged or returned after creation.

use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use deuteron_core::Role;
use deuteron_store::{AccessKeyRecord, StoreError, now_millis};

use crate::{Deuteron, Result, ServiceError};

/// The file the server key is generated into, inside the data directory.
pub const SERVER_KEY_FILE: &str = "server.key";

/// The key that seals access-key secrets at rest (32 bytes).
pub struct ServerKey(LessSafeKey);

impl std::fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerKey(..)")
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    aws_lc_rs::rand::fill(&mut buf).expect("the system random generator works");
    buf
}

impl ServerKey {
    /// A key from 32 bytes given base64-encoded (e.g. `DEUTERON_SERVER_KEY`).
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = B64.decode(text.trim()).map_err(|e| ServiceError::validation(format!("server key: not base64: {e}")))?;
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| ServiceError::validation(format!("server key: {} bytes; it must be 32", bytes.len())))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Reads `<data_dir>/server.key`, generating it (owner-only permissions) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join(SERVER_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text).map_err(|e| ServiceError::Internal(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fail = |what: &str, e: std::io::Error| ServiceError::Internal(format!("cannot {what} {}: {e}", path.display()));
                std::fs::create_dir_all(data_dir).map_err(|e| fail("create the directory of", e))?;
                let bytes: [u8; 32] = random();
                // Written aside and linked into place: processes starting together agree on one key.
                let tmp = data_dir.join(format!(".{SERVER_KEY_FILE}.{}", hex_id()));
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                let mut file = opts.open(&tmp).map_err(|e| fail("create", e))?;
                std::io::Write::write_all(&mut file, format!("{}\n", B64.encode(bytes)).as_bytes()).map_err(|e| fail("write", e))?;
                file.sync_all().map_err(|e| fail("write", e))?;
                let linked = std::fs::hard_link(&tmp, &path);
                let _ = std::fs::remove_file(&tmp);
                match linked {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "generated the server key that seals access-key secrets");
                        Self::from_bytes(&bytes)
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(data_dir),
                    Err(e) => Err(fail("create", e)),
                }
            }
            Err(e) => Err(ServiceError::Internal(format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// `base64(nonce || ciphertext || tag)`.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = random();
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce_bytes), Aad::empty(), &mut buf)
            .expect("AES-GCM sealing of a short secret succeeds");
        let mut out = nonce_bytes.to_vec();
        out.extend(buf);
        B64.encode(out)
    }

    pub fn open(&self, sealed: &str) -> Result<Vec<u8>> {
        let raw = B64.decode(sealed).map_err(|_| ServiceError::Internal("a sealed secret is not base64".into()))?;
        if raw.len() < NONCE_LEN {
            return Err(ServiceError::Internal("a sealed secret is truncated".into()));
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| ServiceError::Internal("bad nonce".into()))?;
        let mut buf = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .map_err(|_| ServiceError::Internal("a sealed secret does not open with this server key (was the key changed?)".into()))?;
        Ok(plain.to_vec())
    }
}

fn hex_id() -> String {
    let b: [u8; 8] = random();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A key as returned to callers: never the secret (except once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeyView {
    pub access_key_id: String,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub state: String,
    /// For a deployment key: the deployment it was issued to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl From<&AccessKeyRecord> for AccessKeyView {
    fn from(k: &AccessKeyRecord) -> Self {
        Self {
            access_key_id: k.id.clone(),
            role: k.role.to_string(),
            description: k.description.clone(),
            created_at: crate::views::iso(k.created_at),
            revoked_at: k.revoked_at.map(crate::views::iso),
            state: key_state(k, now_millis()).to_string(),
            deployment_id: k.deployment_id.clone(),
            expires_at: k.expires_at.map(crate::views::iso),
        }
    }
}

/// Whether a key authenticates at `now`: `active`, else why not.
pub fn key_state(k: &AccessKeyRecord, now: deuteron_store::Millis) -> &'static str {
    if k.revoked_at.is_some() {
        "revoked"
    } else if k.expires_at.is_some_and(|at| at <= now) {
        "expired"
    } else {
        "active"
    }
}

/// Which keys a listing shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KeyListing {
    /// Keys made for people and tools (admin, developer, viewer), active or revoked: the default.
    #[default]
    People,
    /// Keys issued to deployments, of one deployment when given; live ones only unless `all`.
    Deployments { deployment_id: Option<String>, all: bool },
}

impl KeyListing {
    fn shows(&self, k: &AccessKeyRecord, now: deuteron_store::Millis) -> bool {
        match self {
            Self::People => k.role != Role::Deployment,
            Self::Deployments { deployment_id, all } => {
                k.role == Role::Deployment
                    && deployment_id.as_ref().is_none_or(|d| k.deployment_id.as_ref() == Some(d))
                    && (*all || key_state(k, now) == "active")
            }
        }
    }
}

/// How long a deployment key is kept once it stopped working (revoked or expired), then purged.
pub const DEPLOYMENT_KEY_RETENTION_MS: i64 = 7 * 24 * 3600 * 1000;

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_text(alphabet: &[u8], len: usize) -> String {
    let bytes: [u8; 64] = random();
    bytes[..len].iter().map(|b| alphabet[usize::from(*b) % alphabet.len()] as char).collect()
}

/// Access key ids look like AWS's (`AKID` + 16 characters), so clients accept them.
pub fn valid_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Deuteron {
    fn server_key(&self) -> Result<&ServerKey> {
        self.config.server_key.as_deref().ok_or_else(|| ServiceError::Internal("no server key is configured".into()))
    }

    /// Creates a key; the secret is returned here and never again.
    pub async fn create_access_key(&self, role: Role, description: Option<String>) -> Result<(AccessKeyRecord, String)> {
        let id = format!("AKID{}", random_text(ID_ALPHABET, 16));
        let secret = random_text(SECRET_ALPHABET, 40);
        let rec = self.import_access_key(&id, &secret, role, description).await?;
        Ok((rec, secret))
    }

    /// Stores a key whose id and secret are given (e.g. from `DEUTERON_ADMIN_ACCESS_KEY_ID`).
    pub async fn import_access_key(&self, id: &str, secret: &str, role: Role, description: Option<String>) -> Result<AccessKeyRecord> {
        if !valid_key_id(id) {
            return Err(ServiceError::validation(format!("access key id: {id:?} must be 16-128 letters and digits")));
        }
        if secret.len() < 16 {
            return Err(ServiceError::validation("secret access key: at least 16 characters"));
        }
        let rec = AccessKeyRecord {
            id: id.to_string(),
            secret_sealed: self.server_key()?.seal(secret.as_bytes()),
            role,
            description,
            created_at: now_millis(),
            revoked_at: None,
            deployment_id: None,
            expires_at: None,
        };
        self.store.create_access_key(&rec).await?;
        tracing::info!(access_key = %id, role = %role, "access key created");
        Ok(rec)
    }

    /// A `deployment` key for one attempt of `deployment_id`, valid for `ttl` at most. Keys of
    /// the deployment's earlier attempts (a worker that died holding it) are revoked first; the
    /// finish of the deployment revokes this one.
    pub async fn issue_deployment_key(&self, deployment_id: &str, ttl: std::time::Duration) -> Result<(AccessKeyRecord, String)> {
        let earlier = self.store.revoke_deployment_keys(deployment_id).await?;
        if earlier > 0 {
            tracing::info!(deployment = %deployment_id, keys = earlier, "revoked the access keys of the deployment's earlier attempts");
        }
        let now = now_millis();
        let purged = self.store.purge_deployment_keys(now - DEPLOYMENT_KEY_RETENTION_MS).await?;
        if purged > 0 {
            tracing::info!(keys = purged, "purged deployment access keys that stopped working over a week ago");
        }
        let id = format!("AKID{}", random_text(ID_ALPHABET, 16));
        let secret = random_text(SECRET_ALPHABET, 40);
        let rec = AccessKeyRecord {
            id: id.clone(),
            secret_sealed: self.server_key()?.seal(secret.as_bytes()),
            role: Role::Deployment,
            description: Some(format!("deployment {deployment_id}")),
            created_at: now,
            revoked_at: None,
            deployment_id: Some(deployment_id.to_string()),
            expires_at: Some(now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))),
        };
        self.store.create_access_key(&rec).await?;
        tracing::info!(access_key = %id, deployment = %deployment_id, "deployment access key issued");
        Ok((rec, secret))
    }

    pub async fn get_access_key(&self, id: &str) -> Result<AccessKeyRecord> {
        Ok(self.store.get_access_key(id).await?)
    }

    pub async fn list_access_keys(&self, listing: &KeyListing) -> Result<Vec<AccessKeyRecord>> {
        let now = now_millis();
        Ok(self.store.list_access_keys().await?.into_iter().filter(|k| listing.shows(k, now)).collect())
    }

    pub async fn revoke_access_key(&self, id: &str) -> Result<AccessKeyRecord> {
        let rec = self.store.revoke_access_key(id).await?;
        tracing::info!(access_key = %id, "access key revoked");
        Ok(rec)
    }

    /// The secret and role of an active key, for verifying a request signed with it;
    /// `None` for unknown or revoked keys. Read on every request, so a revocation made by any
    /// process takes effect at once.
    pub async fn key_secret(&self, id: &str) -> Result<Option<(Arc<str>, Role)>> {
        let rec = match self.store.get_access_key(id).await {
            Ok(r) => r,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let state = key_state(&rec, now_millis());
        if state != "active" {
            tracing::warn!(access_key = %id, state, "refused an access key that no longer works");
            return Ok(None);
        }
        let secret: Arc<str> = String::from_utf8(self.server_key()?.open(&rec.secret_sealed)?)
            .map_err(|_| ServiceError::Internal("a sealed secret is not text".into()))?
            .into();
        Ok(Some((secret, rec.role)))
    }

    /// On a store without active keys: imports `(id, secret)` as an admin key when given, or
    /// creates one. Returns the new key's id and, when generated, its secret (to print once).
    pub async fn ensure_admin_key(&self, given: Option<(String, String)>) -> Result<Option<(String, Option<String>)>> {
        if self.store.list_access_keys().await?.iter().any(|k| k.revoked_at.is_none() && k.role != Role::Deployment) {
            return Ok(None);
        }
        Ok(Some(match given {
            Some((id, secret)) => {
                self.import_access_key(&id, &secret, Role::Admin, Some("first admin key (from the environment)".into())).await?;
                (id, None)
            }
            None => {
                let (rec, secret) = self.create_access_key(Role::Admin, Some("first admin key (generated)".into())).await?;
                (rec.id, Some(secret))
            }
        }))
    }
}

/// How long a reply to an idempotency token is honoured (Proton: 8 hours).
pub const IDEMPOTENCY_WINDOW_MS: i64 = 8 * 3600 * 1000;

impl Deuteron {
    /// The reply kept for a caller's earlier request with the same idempotency token.
    pub async fn idempotent_reply(&self, caller: &str, operation: &str, token: &str) -> Result<Option<deuteron_store::IdempotentReply>> {
        let since = now_millis() - IDEMPOTENCY_WINDOW_MS;
        Ok(self.store.idempotent_reply(caller, operation, token, since).await?)
    }

    /// Keeps a reply for later retries with the same token.
    pub async fn save_idempotent_reply(
        &self,
        caller: &str,
        operation: &str,
        token: &str,
        request_hash: &str,
        response: &str,
    ) -> Result<()> {
        let reply = deuteron_store::IdempotentReply {
            request_hash: request_hash.to_string(),
            response: response.to_string(),
            created_at: now_millis(),
        };
        Ok(self.store.save_idempotent_reply(caller, operation, token, &reply, now_millis() - IDEMPOTENCY_WINDOW_MS).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open() {
        let key = ServerKey::from_base64(&B64.encode([7u8; 32])).unwrap();
        let sealed = key.seal(b"s3cr3t");
        assert_ne!(sealed, key.seal(b"s3cr3t"), "a fresh nonce each time");
        assert_eq!(key.open(&sealed).unwrap(), b"s3cr3t");
        let other = ServerKey::from_base64(&B64.encode([8u8; 32])).unwrap();
        assert!(other.open(&sealed).unwrap_err().to_string().contains("does not open with this server key"));
        assert!(ServerKey::from_base64(&B64.encode([1u8; 16])).unwrap_err().to_string().contains("16 bytes; it must be 32"));
    }

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<ServerKey> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| ServerKey::load_or_create(dir.path()).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let sealed = keys[0].seal(b"shared");
        assert!(keys.iter().all(|k| k.open(&sealed).unwrap() == b"shared"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary files are left");
    }

    #[test]
    fn generated_key_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = ServerKey::load_or_create(dir.path()).unwrap();
        let b = ServerKey::load_or_create(dir.path()).unwrap();
        assert_eq!(b.open(&a.seal(b"x")).unwrap(), b"x", "the second start reads the same key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SERVER_KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
