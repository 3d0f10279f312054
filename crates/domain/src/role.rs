use crate::error::DomainError;
use std::fmt;

/// What a user may do inside their organization.
///
/// Ordered by power: `Viewer < Member < OrgAdmin`, so a guard asks
/// `role >= Role::Member`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads, never writes.
    Viewer,
    /// Reads and writes their own work. The default for new users.
    #[default]
    Member,
    /// Manages the organization's users, keys and connections.
    OrgAdmin,
}

impl Role {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Member => "member",
            Self::OrgAdmin => "org_admin",
        }
    }

    /// Whether this role grants at least what `required` grants.
    pub fn satisfies(self, required: Role) -> bool {
        self >= required
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "member" => Ok(Self::Member),
            "org_admin" => Ok(Self::OrgAdmin),
            other => Err(DomainError::invalid(
                "role",
                format!("`{other}` is not a role (org_admin, member, viewer)"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_order_and_print() {
        for r in [Role::Viewer, Role::Member, Role::OrgAdmin] {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!(Role::OrgAdmin.satisfies(Role::Member));
        assert!(!Role::Viewer.satisfies(Role::Member));
        assert_eq!(Role::default(), Role::Member);
        assert!("admin".parse::<Role>().is_err());
    }
}
