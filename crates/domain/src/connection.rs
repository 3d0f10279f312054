use crate::error::DomainError;
use std::fmt;

/// Who a connection belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionScope {
    /// Shared by the whole organization.
    #[default]
    Organization,
    /// Private to its owner.
    User,
}

/// The outcome of the last connection test.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionTestStatus {
    /// The service answered as expected.
    Healthy,
    /// The service failed the test.
    Unhealthy,
    /// Never tested.
    #[default]
    NotTested,
}

macro_rules! string_enum {
    ($ty:ident, $field:literal, $($variant:ident => $s:literal),+) => {
        impl $ty {
            /// The stored and serialised name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $ty {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    other => Err(DomainError::invalid(
                        $field,
                        format!(concat!("`{}` is not one of: ", $($s, " "),+), other),
                    )),
                }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(ConnectionScope, "scope", Organization => "organization", User => "user");
string_enum!(ConnectionTestStatus, "test_status", Healthy => "healthy", Unhealthy => "unhealthy", NotTested => "not_tested");

/// The kind of outside service (`llm`, `extraction`, `sharepoint`, …).
///
/// Open-ended so new kinds need no migration, but shaped: lowercase letters,
/// digits and `_`, 1–50 characters (the column is `varchar(50)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ConnectionType(String);

impl ConnectionType {
    /// Validates a connection type.
    ///
    /// # Errors
    /// When empty, longer than 50 bytes, or holding other than `[a-z0-9_]`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= 50
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::invalid(
                "connection_type",
                "must be 1-50 characters of lowercase letters, digits and `_`",
            ))
        }
    }

    /// The type's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ConnectionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        assert_eq!(
            "user".parse::<ConnectionScope>().unwrap(),
            ConnectionScope::User
        );
        assert_eq!(
            "not_tested".parse::<ConnectionTestStatus>().unwrap(),
            ConnectionTestStatus::NotTested
        );
        let err = "meh".parse::<ConnectionScope>().unwrap_err();
        assert_eq!(err.field(), "scope");
    }

    #[test]
    fn connection_types_are_shaped() {
        assert!(ConnectionType::parse("llm").is_ok());
        assert!(ConnectionType::parse("share_point2").is_ok());
        assert!(ConnectionType::parse("").is_err());
        assert!(ConnectionType::parse("LLM").is_err());
        assert!(ConnectionType::parse(&"a".repeat(51)).is_err());
    }
}
