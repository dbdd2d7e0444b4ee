//! Proton's template registry rules: version numbering, the recommended version, publishing and
//! deletion. Pure functions over the versions a template has.

use crate::status::TemplateVersionStatus;
use crate::template::UsageRef;
use crate::version::VersionNumber;

/// A rule of the registry was broken; the message says which and how to proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    #[error("major version {major} does not exist; omit the major version to create {next}.0")]
    UnknownMajor { major: u32, next: u32 },
    #[error("version {version} is {status}; only a DRAFT version can be published")]
    NotPublishable { version: VersionNumber, status: TemplateVersionStatus },
    #[error("version {version} is in use by {}", list(users))]
    VersionInUse { version: VersionNumber, users: Vec<UsageRef> },
    #[error(
        "version {version} is the recommended minor version of major {major}; delete the other minor versions of major {major} ({}) first",
        others.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", ")
    )]
    RecommendedMinor { version: VersionNumber, major: u32, others: Vec<VersionNumber> },
    #[error("template still has versions {}; delete them first", versions.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(", "))]
    TemplateHasVersions { versions: Vec<VersionNumber> },
}

fn list(users: &[UsageRef]) -> String {
    const SHOWN: usize = 10;
    let mut text = users.iter().take(SHOWN).map(|u| u.to_string()).collect::<Vec<_>>().join(", ");
    if users.len() > SHOWN {
        text.push_str(&format!(" and {} more", users.len() - SHOWN));
    }
    text
}

/// The number a new version gets: the next minor of `requested_major`, or the next major `.0`.
pub fn next_version(existing: &[VersionNumber], requested_major: Option<u32>) -> Result<VersionNumber, RegistryError> {
    let max_major = existing.iter().map(|v| v.major).max();
    match requested_major {
        None => Ok(VersionNumber::new(max_major.map_or(1, |m| m + 1), 0)),
        Some(major) => existing
            .iter()
            .filter(|v| v.major == major)
            .map(|v| v.minor)
            .max()
            .map(|minor| VersionNumber::new(major, minor + 1))
            .ok_or(RegistryError::UnknownMajor { major, next: max_major.map_or(1, |m| m + 1) }),
    }
}

/// The template's recommended version: the highest published one.
pub fn recommended_version(versions: &[(VersionNumber, TemplateVersionStatus)]) -> Option<VersionNumber> {
    versions.iter().filter(|(_, s)| *s == TemplateVersionStatus::Published).map(|(v, _)| *v).max()
}

/// A major's recommended minor: its highest published minor.
pub fn recommended_minor(versions: &[(VersionNumber, TemplateVersionStatus)], major: u32) -> Option<u32> {
    versions.iter().filter(|(v, s)| v.major == major && *s == TemplateVersionStatus::Published).map(|(v, _)| v.minor).max()
}

/// Whether `status` may become PUBLISHED. Publishing a published version changes nothing.
/// How a deployed version stands against a template's published versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Staleness {
    /// It is the recommended version (or nothing newer is published).
    UpToDate,
    /// A newer minor of its major is published.
    BehindMinor,
    /// A higher major is published.
    BehindMajor,
}

/// Proton's outdated detection: behind major if a higher major is published, else behind minor
/// if a newer minor of its major is, else up to date.
pub fn staleness(deployed: VersionNumber, versions: &[(VersionNumber, TemplateVersionStatus)]) -> Staleness {
    staleness_to(deployed, recommended_version(versions))
}

/// How a deployed version stands against the template's recommended version: behind major if
/// the recommended one has a higher major, behind minor if it is a newer minor of the same major,
/// else up to date (also when the deployed version is newer than a recommended version chosen by
/// the platform team). With the highest published version as the recommended one this is
/// Proton's rule, [`staleness`].
pub fn staleness_to(deployed: VersionNumber, recommended: Option<VersionNumber>) -> Staleness {
    match recommended {
        Some(r) if r.major > deployed.major => Staleness::BehindMajor,
        Some(r) if r.major == deployed.major && r.minor > deployed.minor => Staleness::BehindMinor,
        _ => Staleness::UpToDate,
    }
}

/// The recommended version: `pinned` when the platform team chose one and it is published, else
/// the highest published one.
pub fn recommended_with_pin(versions: &[(VersionNumber, TemplateVersionStatus)], pinned: Option<VersionNumber>) -> Option<VersionNumber> {
    pinned
        .filter(|p| versions.iter().any(|(v, s)| v == p && *s == TemplateVersionStatus::Published))
        .or_else(|| recommended_version(versions))
}

pub fn check_publish(version: VersionNumber, status: TemplateVersionStatus) -> Result<(), RegistryError> {
    match status {
        TemplateVersionStatus::Draft | TemplateVersionStatus::Published => Ok(()),
        other => Err(RegistryError::NotPublishable { version, status: other }),
    }
}

/// Proton's delete rule for one version: not while anything uses it, and a major's recommended
/// minor only once it is the last minor of that major.
pub fn check_delete_version(
    version: VersionNumber,
    versions: &[(VersionNumber, TemplateVersionStatus)],
    users: Vec<UsageRef>,
) -> Result<(), RegistryError> {
    if !users.is_empty() {
        return Err(RegistryError::VersionInUse { version, users });
    }
    if recommended_minor(versions, version.major) == Some(version.minor) {
        let others: Vec<_> = versions.iter().map(|(v, _)| *v).filter(|v| v.major == version.major && *v != version).collect();
        if !others.is_empty() {
            return Err(RegistryError::RecommendedMinor { version, major: version.major, others });
        }
    }
    Ok(())
}

/// Proton's API deletes a template only once it has no versions left.
pub fn check_delete_template(versions: &[VersionNumber]) -> Result<(), RegistryError> {
    if versions.is_empty() {
        Ok(())
    } else {
        let mut versions = versions.to_vec();
        versions.sort();
        Err(RegistryError::TemplateHasVersions { versions })
    }
}

#[cfg(test)]
mod staleness_tests {
    use super::*;
    use crate::TemplateVersionStatus::{Draft, Published};

    #[test]
    fn outdated_detection() {
        let v = VersionNumber::new;
        let versions = [(v(1, 0), Published), (v(1, 1), Published), (v(1, 2), Draft), (v(2, 0), Draft)];
        assert_eq!(staleness(v(1, 1), &versions), Staleness::UpToDate, "drafts do not count");
        assert_eq!(staleness(v(1, 0), &versions), Staleness::BehindMinor);
        let with_major = [(v(1, 0), Published), (v(2, 0), Published)];
        assert_eq!(staleness(v(1, 0), &with_major), Staleness::BehindMajor);
        assert_eq!(staleness(v(2, 0), &with_major), Staleness::UpToDate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TemplateVersionStatus::*;

    fn v(major: u32, minor: u32) -> VersionNumber {
        VersionNumber::new(major, minor)
    }

    #[test]
    fn numbering_follows_proton() {
        assert_eq!(next_version(&[], None), Ok(v(1, 0)));
        assert_eq!(next_version(&[v(1, 0), v(1, 1)], Some(1)), Ok(v(1, 2)));
        assert_eq!(next_version(&[v(1, 0), v(1, 1)], None), Ok(v(2, 0)));
        assert_eq!(next_version(&[v(1, 0)], Some(3)), Err(RegistryError::UnknownMajor { major: 3, next: 2 }));
        assert_eq!(
            next_version(&[], Some(1)).unwrap_err().to_string(),
            "major version 1 does not exist; omit the major version to create 1.0"
        );
    }

    #[test]
    fn a_pinned_recommended_version_moves_the_staleness() {
        use TemplateVersionStatus::*;
        let vs = [(v(1, 0), Published), (v(1, 3), Published), (v(1, 4), Published), (v(2, 0), Published), (v(2, 1), Draft)];
        assert_eq!(recommended_with_pin(&vs, None), Some(v(2, 0)));
        assert_eq!(recommended_with_pin(&vs, Some(v(1, 3))), Some(v(1, 3)));
        assert_eq!(recommended_with_pin(&vs, Some(v(2, 1))), Some(v(2, 0)), "a pin to an unpublished version is ignored");
        let pinned = Some(v(1, 3));
        assert_eq!(staleness_to(v(1, 0), pinned), Staleness::BehindMinor);
        assert_eq!(staleness_to(v(1, 3), pinned), Staleness::UpToDate);
        assert_eq!(staleness_to(v(1, 4), pinned), Staleness::UpToDate, "ahead of the pin is not behind");
        assert_eq!(staleness_to(v(2, 0), pinned), Staleness::UpToDate);
        assert_eq!(staleness_to(v(0, 9), pinned), Staleness::BehindMajor);
        for d in [v(1, 0), v(1, 3), v(1, 4), v(2, 0)] {
            let highest = recommended_version(&vs);
            assert_eq!(staleness(d, &vs), staleness_to(d, highest), "Proton's rule is the unpinned case ({d})");
        }
        assert_eq!(staleness(v(1, 0), &vs), Staleness::BehindMajor);
    }

    #[test]
    fn recommended_is_highest_published() {
        let vs = [(v(1, 0), Published), (v(1, 1), Published), (v(1, 2), Draft), (v(2, 0), Draft)];
        assert_eq!(recommended_version(&vs), Some(v(1, 1)));
        assert_eq!(recommended_minor(&vs, 1), Some(1));
        assert_eq!(recommended_minor(&vs, 2), None);
        assert_eq!(recommended_version(&[(v(1, 0), Draft)]), None);
    }

    #[test]
    fn publish_only_from_draft() {
        assert!(check_publish(v(1, 0), Draft).is_ok());
        let err = check_publish(v(1, 0), RegistrationFailed).unwrap_err();
        assert_eq!(err.to_string(), "version 1.0 is REGISTRATION_FAILED; only a DRAFT version can be published");
    }

    #[test]
    fn delete_rules() {
        let vs = [(v(1, 0), Published), (v(1, 1), Published), (v(1, 2), Draft)];
        let users = vec![UsageRef { kind: "environment", name: "dev".into(), version: v(1, 0) }];
        assert_eq!(
            check_delete_version(v(1, 0), &vs, users).unwrap_err().to_string(),
            "version 1.0 is in use by environment dev (version 1.0)"
        );
        assert_eq!(
            check_delete_version(v(1, 1), &vs, vec![]).unwrap_err().to_string(),
            "version 1.1 is the recommended minor version of major 1; delete the other minor versions of major 1 (1.0, 1.2) first"
        );
        assert!(check_delete_version(v(1, 2), &vs, vec![]).is_ok());
        assert!(check_delete_version(v(1, 1), &[(v(1, 1), Published)], vec![]).is_ok());
        assert_eq!(
            check_delete_template(&[v(1, 1), v(1, 0)]).unwrap_err().to_string(),
            "template still has versions 1.0, 1.1; delete them first"
        );
        assert!(check_delete_template(&[]).is_ok());
    }
}
