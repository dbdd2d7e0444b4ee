//! Resource names as Proton accepts them: `^[0-9A-Za-z]+[0-9A-Za-z_\-]*$`, 1 to 100 characters.

use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name must not be empty")]
    Empty,
    #[error("name {0:?} is longer than 100 characters")]
    TooLong(String),
    #[error("name {0:?} must start with a letter or digit")]
    BadStart(String),
    #[error("name {name:?} contains {ch:?}; only letters, digits, '-' and '_' are allowed")]
    BadChar { name: String, ch: char },
}

/// A validated name of a template, environment, service, instance or component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourceName(String);

impl ResourceName {
    pub const MAX_LEN: usize = 100;

    /// Checks `raw` against Proton's name rule.
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let mut chars = raw.chars();
        let first = chars.next().ok_or(NameError::Empty)?;
        if raw.chars().count() > Self::MAX_LEN {
            return Err(NameError::TooLong(raw.to_string()));
        }
        if !first.is_ascii_alphanumeric() {
            return Err(NameError::BadStart(raw.to_string()));
        }
        if let Some(ch) = chars.find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_')) {
            return Err(NameError::BadChar { name: raw.to_string(), ch });
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ResourceName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_proton_names() {
        for ok in ["a", "fargate-env", "Svc_1", "9lives", &"x".repeat(100)] {
            assert_eq!(ResourceName::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(ResourceName::parse(""), Err(NameError::Empty));
        assert!(matches!(ResourceName::parse("-x"), Err(NameError::BadStart(_))));
        assert!(matches!(ResourceName::parse(&"x".repeat(101)), Err(NameError::TooLong(_))));
        assert_eq!(ResourceName::parse("a/b"), Err(NameError::BadChar { name: "a/b".into(), ch: '/' }));
        assert!(ResourceName::parse("../etc").is_err());
    }
}
