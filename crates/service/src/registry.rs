//! What embedding services add to ours: resources their API keys can be
//! scoped to, and actions their audit entries record.

use curatore_domain::AuditAction;
use std::fmt;

/// Our resources, which API-key scopes can name (`users:read`, …).
const BUILTIN_RESOURCES: &[(&str, &str)] = &[
    ("organization", "the caller's organization and its settings"),
    ("api_keys", "API keys"),
    ("audit_logs", "the organization's audit trail"),
    ("users", "the organization's users"),
    ("connections", "connections to outside services"),
];

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The name breaks the naming rule.
    #[error("`{name}` is not a valid name: {rule}")]
    InvalidName {
        /// The name given.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The name is ours or was registered already.
    #[error("`{0}` is registered already")]
    Taken(String),
}

/// The resources API keys may be scoped to: ours, and those an embedding
/// service registers. Each gives the scopes `<resource>:read` and
/// `<resource>:write`; `read` and `write` alone cover every resource.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopeRegistry {
    resources: Vec<(String, String)>,
}

impl fmt::Debug for ScopeRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.resources.iter().map(|(r, _)| r))
            .finish()
    }
}

impl Default for ScopeRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ScopeRegistry {
    /// Our resources only.
    pub fn builtin() -> Self {
        Self {
            resources: BUILTIN_RESOURCES
                .iter()
                .map(|(r, d)| ((*r).to_owned(), (*d).to_owned()))
                .collect(),
        }
    }

    /// Adds `resource` (lowercase letters, digits and `_`, 2 to 40, starting
    /// with a letter), described for people (the OpenAPI document lists it).
    ///
    /// ```
    /// let mut scopes = curatore_service::ScopeRegistry::builtin();
    /// scopes.register("documents", "documents and their summaries").unwrap();
    /// assert!(scopes.is_known("documents:write"));
    /// assert!(scopes.register("users", "ours").is_err());
    /// ```
    ///
    /// # Errors
    /// A name breaking the rule, or one registered already.
    pub fn register(&mut self, resource: &str, description: &str) -> Result<(), RegistryError> {
        let valid = (2..=40).contains(&resource.len())
            && resource.starts_with(|c: char| c.is_ascii_lowercase())
            && resource
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(RegistryError::InvalidName {
                name: resource.to_owned(),
                rule: "2 to 40 lowercase letters, digits or `_`, starting with a letter",
            });
        }
        if self.resources.iter().any(|(r, _)| r == resource) {
            return Err(RegistryError::Taken(resource.to_owned()));
        }
        self.resources
            .push((resource.to_owned(), description.to_owned()));
        Ok(())
    }

    /// Whether `scope` is one a key may hold: `read`, `write`, or
    /// `<resource>:read|write` for a registered resource.
    pub fn is_known(&self, scope: &str) -> bool {
        match scope.split_once(':') {
            None => matches!(scope, "read" | "write"),
            Some((resource, access)) => {
                matches!(access, "read" | "write")
                    && self.resources.iter().any(|(r, _)| r == resource)
            }
        }
    }

    /// The registered resources and their descriptions, ours first.
    pub fn resources(&self) -> impl Iterator<Item = (&str, &str)> {
        self.resources.iter().map(|(r, d)| (r.as_str(), d.as_str()))
    }

    /// Every scope a key may hold, in order: `read`, `write`, then each
    /// resource's `:read` and `:write`.
    pub fn scopes(&self) -> Vec<String> {
        let mut all = vec!["read".to_owned(), "write".to_owned()];
        for (r, _) in &self.resources {
            all.push(format!("{r}:read"));
            all.push(format!("{r}:write"));
        }
        all
    }
}

/// The actions an embedding service's audit entries may record, besides
/// ours ([`crate::AuditEvent`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditActions {
    names: Vec<String>,
}

impl AuditActions {
    /// Adds `name` (an action as stored: lowercase letters, digits and `_`);
    /// our own actions cannot be registered again.
    ///
    /// # Errors
    /// An invalid name, one of ours, or one registered already.
    pub fn register(&mut self, name: &str) -> Result<(), RegistryError> {
        AuditAction::parse(name).map_err(|_| RegistryError::InvalidName {
            name: name.to_owned(),
            rule: "an audit action: lowercase letters, digits and `_`",
        })?;
        let ours = crate::AuditEvent::ALL.iter().any(|e| e.as_str() == name);
        if ours || self.names.iter().any(|n| n == name) {
            return Err(RegistryError::Taken(name.to_owned()));
        }
        self.names.push(name.to_owned());
        Ok(())
    }

    /// Whether `name` was registered.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The registered actions, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}
