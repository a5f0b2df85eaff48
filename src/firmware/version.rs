//! Software versions as readers carry them: dotted numbers with an
//! optional pre-release suffix (`3.2.0`, `3.2.0-beta.1`), compared for
//! rollback protection (R19).

use std::cmp::Ordering;

/// Why a version string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// The version is empty, or its numeric part is.
    #[error("the version `{version}` has no number")]
    Empty {
        /// The version as written.
        version: String,
    },
    /// A dotted part of the numeric core is not a number.
    #[error("the version `{version}` has `{part}` where a number belongs")]
    NotNumeric {
        /// The version as written.
        version: String,
        /// The part that is not a number.
        part: String,
    },
    /// The pre-release suffix after `-` is empty or has an empty part.
    #[error("the version `{version}` has an empty pre-release part")]
    EmptyPreRelease {
        /// The version as written.
        version: String,
    },
}

/// A parsed version: numeric core and optional pre-release identifiers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Version<'a> {
    core: Vec<u64>,
    pre: Option<Vec<&'a str>>,
}

fn parse(version: &str) -> Result<Version<'_>, VersionError> {
    let (core_text, pre_text) = match version.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (version, None),
    };
    if core_text.is_empty() {
        return Err(VersionError::Empty {
            version: version.to_owned(),
        });
    }
    let core = core_text
        .split('.')
        .map(|part| {
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(VersionError::NotNumeric {
                    version: version.to_owned(),
                    part: part.to_owned(),
                });
            }
            part.parse::<u64>().map_err(|_| VersionError::NotNumeric {
                version: version.to_owned(),
                part: part.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pre = match pre_text {
        None => None,
        Some(pre) => {
            let parts: Vec<&str> = pre.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) {
                return Err(VersionError::EmptyPreRelease {
                    version: version.to_owned(),
                });
            }
            Some(parts)
        }
    };
    Ok(Version { core, pre })
}

fn compare_identifiers(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        // A numeric identifier sorts before an alphanumeric one (as in
        // semver).
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// Compares two versions: the numeric cores part by part (a missing part
/// is 0, so `3.2` equals `3.2.0`), then a pre-release sorts before its
/// release (`3.2.0-rc.1` < `3.2.0`) and pre-releases compare identifier by
/// identifier, numbers numerically.
///
/// ```
/// use std::cmp::Ordering;
/// use readerlink::firmware::compare_versions;
///
/// assert_eq!(compare_versions("3.10.0", "3.9.1"), Ok(Ordering::Greater));
/// assert_eq!(compare_versions("3.2.0-beta.2", "3.2.0"), Ok(Ordering::Less));
/// assert!(compare_versions("3.x", "3.1").is_err());
/// ```
pub fn compare_versions(a: &str, b: &str) -> Result<Ordering, VersionError> {
    let a = parse(a)?;
    let b = parse(b)?;
    let len = a.core.len().max(b.core.len());
    for i in 0..len {
        let x = a.core.get(i).copied().unwrap_or(0);
        let y = b.core.get(i).copied().unwrap_or(0);
        if x != y {
            return Ok(x.cmp(&y));
        }
    }
    Ok(match (&a.pre, &b.pre) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => {
            for (p, q) in x.iter().zip(y.iter()) {
                let order = compare_identifiers(p, q);
                if order != Ordering::Equal {
                    return Ok(order);
                }
            }
            x.len().cmp(&y.len())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_numerically_with_pre_releases_first() {
        let ordered = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.2",
            "1.10.0",
            "10.0.0",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(compare_versions(pair[0], pair[1]), Ok(Ordering::Less), "{pair:?}");
            assert_eq!(
                compare_versions(pair[1], pair[0]),
                Ok(Ordering::Greater),
                "{pair:?}"
            );
        }
        assert_eq!(compare_versions("3.2", "3.2.0"), Ok(Ordering::Equal));
    }

    #[test]
    fn unreadable_versions_are_typed_errors() {
        assert!(matches!(
            compare_versions("", "1"),
            Err(VersionError::Empty { .. })
        ));
        assert!(matches!(
            compare_versions("1..2", "1"),
            Err(VersionError::NotNumeric { part, .. }) if part.is_empty()
        ));
        assert!(matches!(
            compare_versions("v1.2", "1"),
            Err(VersionError::NotNumeric { .. })
        ));
        assert!(matches!(
            compare_versions("1.2-", "1"),
            Err(VersionError::EmptyPreRelease { .. })
        ));
        assert!(matches!(
            compare_versions("1", "99999999999999999999999"),
            Err(VersionError::NotNumeric { .. })
        ));
    }
}
