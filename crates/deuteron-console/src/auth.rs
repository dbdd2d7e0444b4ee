//! Console sessions. Signing in with an access key sets a cookie that carries the key id, an
//! expiry and an HMAC of both made with the key's own secret: the secret never leaves the
//! server, any server sharing the store can check the cookie, and revoking the key ends every
//! session made with it at once. Each session also has a CSRF token (another HMAC under the same
//! secret) that every form sends back.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use deuteron_core::Role;
use deuteron_service::Deuteron;

pub const COOKIE: &str = "deuteron_session";
/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 12 * 3600;

/// A signed-in console user.
#[derive(Debug, Clone)]
pub struct Session {
    pub key_id: String,
    pub role: Role,
    pub csrf: String,
}

impl Session {
    /// Whether this user may call `operation` (a Proton operation name; the API's rules).
    pub fn may(&self, operation: &str) -> bool {
        self.role.may_call(operation)
    }
}

fn mac(secret: &str, purpose: &str, id: &str, expires: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    URL_SAFE_NO_PAD.encode(hmac::sign(&key, format!("deuteron-console/{purpose}\n{id}\n{expires}").as_bytes()))
}

/// The cookie value for a session of key `id` ending at `expires` (Unix seconds).
pub fn cookie_value(id: &str, secret: &str, expires: i64) -> String {
    format!("{id}.{expires}.{}", mac(secret, "session", id, expires))
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={SESSION_SECONDS}{secure}")
}

/// `Set-Cookie` that ends the session in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The session cookie's value from a `Cookie` header.
pub fn cookie_from(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|c| c.strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')))
}

/// Why a cookie does not make a session.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    Malformed,
    Expired,
    /// Unknown or revoked key, or a cookie not made with its secret.
    BadKey,
}

/// Checks a cookie value against the keys in the store.
pub async fn verify(svc: &Deuteron, value: &str, now: i64) -> Result<Session, Refused> {
    let mut parts = value.splitn(3, '.');
    let (Some(id), Some(expires), Some(tag)) = (parts.next(), parts.next(), parts.next()) else { return Err(Refused::Malformed) };
    let expires: i64 = expires.parse().map_err(|_| Refused::Malformed)?;
    if expires <= now || expires > now + SESSION_SECONDS + 60 {
        return Err(Refused::Expired);
    }
    let Ok(Some((secret, role))) = svc.key_secret(id).await else { return Err(Refused::BadKey) };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| Refused::Malformed)?;
    hmac::verify(&key, format!("deuteron-console/session\n{id}\n{expires}").as_bytes(), &tag).map_err(|_| Refused::BadKey)?;
    Ok(Session { key_id: id.to_string(), role, csrf: mac(&secret, "csrf", id, expires) })
}

/// Checks a key id and secret typed into the sign-in form (or the `ID:SECRET` form the server
/// prints, pasted into the id field); the cookie value on success.
pub async fn sign_in(svc: &Deuteron, id: &str, secret: &str, now: i64) -> Option<(String, Role)> {
    let (id, secret) = match id.trim().split_once(':') {
        Some((i, s)) if secret.trim().is_empty() => (i, s),
        _ => (id, secret),
    };
    let (expected, role) = svc.key_secret(id.trim()).await.ok()??;
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), secret.trim().as_bytes()).ok()?;
    Some((cookie_value(id.trim(), &expected, now + SESSION_SECONDS), role))
}

/// Whether a submitted CSRF token is this session's.
pub fn csrf_ok(session: &Session, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|t| aws_lc_rs::constant_time::verify_slices_are_equal(t.as_bytes(), session.csrf.as_bytes()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_and_parse() {
        let v = cookie_value("AKIDABCDEFGHIJKLMNOP", "s3cret", 1_000);
        assert!(v.starts_with("AKIDABCDEFGHIJKLMNOP.1000."));
        assert_ne!(v, cookie_value("AKIDABCDEFGHIJKLMNOP", "other", 1_000), "the secret is part of the cookie's MAC");
        assert_eq!(cookie_from(&format!("a=1; {COOKIE}={v}; b=2")), Some(v.as_str()));
        assert_eq!(cookie_from("a=1; deuteron_sessionx=2"), None);
        assert!(set_cookie(&v, true).contains("HttpOnly; SameSite=Strict") && set_cookie(&v, true).ends_with("; Secure"));
        assert!(clear_cookie().contains("Max-Age=0"));
    }
}
