//! Template version numbers: `major.minor`, each part `0` or a number without leading zeros.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("version {0:?} is not of the form MAJOR.MINOR (for example 1.0)")]
    Malformed(String),
    #[error("version part {0:?} must be 0 or a number without leading zeros")]
    BadPart(String),
}

/// A template version `major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionNumber {
    pub major: u32,
    pub minor: u32,
}

impl VersionNumber {
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }

    /// Parses one part (`majorVersion` / `minorVersion` in Proton's API).
    pub fn parse_part(raw: &str) -> Result<u32, VersionError> {
        let ok = !raw.is_empty() && raw.len() <= 20 && raw.bytes().all(|b| b.is_ascii_digit()) && (raw == "0" || !raw.starts_with('0'));
        if !ok {
            return Err(VersionError::BadPart(raw.to_string()));
        }
        raw.parse().map_err(|_| VersionError::BadPart(raw.to_string()))
    }
}

impl FromStr for VersionNumber {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s.split_once('.').ok_or_else(|| VersionError::Malformed(s.to_string()))?;
        Ok(Self { major: Self::parse_part(major)?, minor: Self::parse_part(minor)? })
    }
}

impl fmt::Display for VersionNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        let v: VersionNumber = "2.10".parse().unwrap();
        assert_eq!(v, VersionNumber::new(2, 10));
        assert!(VersionNumber::new(2, 10) > VersionNumber::new(2, 9));
        assert!(VersionNumber::new(3, 0) > VersionNumber::new(2, 10));
        assert_eq!(v.to_string(), "2.10");
    }

    #[test]
    fn refuses_malformed() {
        assert!("1".parse::<VersionNumber>().is_err());
        assert!("01.0".parse::<VersionNumber>().is_err());
        assert!("1.x".parse::<VersionNumber>().is_err());
        assert!("-1.0".parse::<VersionNumber>().is_err());
    }
}
