//! Who acts, for which organization, from where: what every use case takes.

use crate::error::{Denied, Result};
use curatore_domain::{ApiKeyId, Organization, OrganizationId, Role, User, UserId};
use std::net::IpAddr;
use uuid::Uuid;

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Authentication is disabled, or the server itself (seeding): the
    /// service acting for an organization.
    System,
    /// A user with an access token from the session (refresh-token family) `session_id`.
    User {
        /// The user.
        user_id: UserId,
        /// The refresh-token family the token was issued with (`sid`).
        session_id: Uuid,
    },
    /// An API key, acting for its user (or for the organization).
    ApiKey {
        /// The key.
        key_id: ApiKeyId,
        /// Its user; `None` for an organization-wide key.
        user_id: Option<UserId>,
    },
}

/// The authenticated caller: who, in which organization, with which role.
#[derive(Debug, Clone)]
pub struct Principal {
    pub(crate) actor: Actor,
    pub(crate) role: Role,
    pub(crate) organization: Organization,
    pub(crate) user: Option<User>,
    pub(crate) scopes: Vec<String>,
}

impl Principal {
    /// The principal of every request while authentication is disabled, and
    /// of the operator's work in an organization. Never public: holding one
    /// means acting as org_admin of `organization`.
    pub(crate) fn system(organization: Organization) -> Self {
        Self {
            actor: Actor::System,
            role: Role::OrgAdmin,
            organization,
            user: None,
            scopes: Vec::new(),
        }
    }

    /// Who is acting.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// What they may do: the user's current role; `member` for
    /// organization-wide keys; `org_admin` for the system principal.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The organization every operation of this request is scoped to.
    pub fn organization(&self) -> &Organization {
        &self.organization
    }

    /// Its id.
    pub fn organization_id(&self) -> OrganizationId {
        self.organization.id
    }

    /// The acting user, if any (not for the system or organization-wide keys).
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The acting user's id, if any.
    pub fn user_id(&self) -> Option<UserId> {
        self.user.as_ref().map(|u| u.id)
    }

    /// The API key's scopes (empty otherwise, and for unrestricted keys).
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The refresh-token family of a token-authenticated user.
    pub fn session_id(&self) -> Option<Uuid> {
        match self.actor {
            Actor::User { session_id, .. } => Some(session_id),
            _ => None,
        }
    }

    /// `jwt`, `api_key` or `none`.
    pub fn method(&self) -> &'static str {
        match self.actor {
            Actor::System => "none",
            Actor::User { .. } => "jwt",
            Actor::ApiKey { .. } => "api_key",
        }
    }

    /// Refuses unless the caller's role is at least `role`.
    ///
    /// # Errors
    /// 403 `forbidden`.
    pub fn require_role(&self, role: Role) -> Result<()> {
        if self.role.satisfies(role) {
            Ok(())
        } else {
            Err(Denied::Role { required: role }.into())
        }
    }

    /// Whether the caller signed in with a temporary password that must be
    /// changed before they may do anything else.
    pub fn must_change_password(&self) -> bool {
        self.user
            .as_ref()
            .is_some_and(|u| u.password_change_required)
    }

    /// Refuses a caller who must first change their temporary password.
    ///
    /// # Errors
    /// 403 `password_change_required`.
    pub fn refuse_pending_password_change(&self) -> Result<()> {
        if self.must_change_password() {
            return Err(Denied::PasswordChangeRequired.into());
        }
        Ok(())
    }

    /// Refuses API keys: whatever a key creates (a user, another key) would
    /// outlive the key's own revocation.
    ///
    /// # Errors
    /// 403 `forbidden` with `message`.
    pub fn refuse_api_key(&self, message: &'static str) -> Result<()> {
        if matches!(self.actor, Actor::ApiKey { .. }) {
            return Err(Denied::PersonRequired(message).into());
        }
        Ok(())
    }

    /// Refuses an API key whose scopes do not allow `scope`. Keys without
    /// scopes, users and the system are limited by their role only.
    ///
    /// # Errors
    /// 403 `insufficient_scope`.
    pub fn require_scope(&self, scope: Scope) -> Result<()> {
        if !matches!(self.actor, Actor::ApiKey { .. }) || self.scopes.is_empty() {
            return Ok(());
        }
        if self.scopes.iter().any(|s| scope.granted_by(s)) {
            return Ok(());
        }
        Err(Denied::Scope {
            scope: scope.name(),
            access: scope.access.as_str(),
        }
        .into())
    }
}

/// What an operation does to a resource, for API-key scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads.
    Read,
    /// Changes.
    Write,
}

impl Access {
    fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// A scope an API key may be limited to: `read` or `write` for every
/// resource, or `<resource>:read` / `<resource>:write` for one (the
/// resources are ours and those registered in [`crate::ScopeRegistry`]). An
/// embedding service checks its own with [`Principal::require_scope`]:
/// `ctx.principal().require_scope(Scope::new("documents", Access::Write))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The resource (`organization`, `api_keys`, `audit_logs`, `users`,
    /// `connections`, or one an embedding service registered).
    pub resource: &'static str,
    /// Read or write.
    pub access: Access,
}

impl Scope {
    /// A scope for `resource`.
    pub const fn new(resource: &'static str, access: Access) -> Self {
        Self { resource, access }
    }

    /// `resource:access`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.resource, self.access.as_str())
    }

    fn granted_by(&self, held: &str) -> bool {
        held == self.access.as_str() || held == self.name()
    }
}

/// Where a request comes from: for audit entries and per-address limits.
#[derive(Debug, Clone)]
pub struct Client {
    /// The request id (`x-request-id`), if any.
    pub request_id: Option<String>,
    /// The client's address (after trusted proxies).
    pub ip: IpAddr,
    /// The client's user agent.
    pub user_agent: Option<String>,
}

impl Client {
    /// The process itself (seeding, a CLI): no address, no agent.
    pub fn local() -> Self {
        Self {
            request_id: None,
            ip: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            user_agent: None,
        }
    }
}

/// Who acts and from where: the proof that a request authenticated.
///
/// Only [`crate::Services::authenticate`] makes one (its fields are private
/// and there is no constructor), so whoever holds one acts in the
/// organization its credentials belong to, with the role they carry, and no
/// other (`crates/server/tests/compile_fail` proves it does not compile).
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub(crate) principal: Principal,
    pub(crate) client: Client,
}

impl RequestContext {
    pub(crate) fn new(principal: Principal, client: Client) -> Self {
        Self { principal, client }
    }

    /// Where the request came from.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The acting principal.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The organization the request is scoped to.
    pub fn organization_id(&self) -> OrganizationId {
        self.principal.organization_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_grant_by_access_or_by_resource() {
        let read_keys = Scope::new("api_keys", Access::Read);
        assert!(read_keys.granted_by("read"));
        assert!(read_keys.granted_by("api_keys:read"));
        assert!(!read_keys.granted_by("write"));
        assert!(!read_keys.granted_by("audit_logs:read"));
    }
}
