//! The stored things, as the rest of the system sees them.
//!
//! Plain data with validated fields; the persistence layer maps its ORM rows to
//! and from these so no ORM type reaches a caller.

use crate::{
    ApiKeyId, AuditAction, AuditLogId, AuditStatus, ConnectionId, ConnectionScope,
    ConnectionTestStatus, ConnectionType, EmailAddress, OrganizationId, RefreshTokenId, Role, Slug,
    SystemSettingId, UserId, Username,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::fmt;
use uuid::Uuid;

/// An argon2id PHC string. Not the password, but still kept out of `Debug`:
/// an offline guessing attack starts from it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by the password hasher.
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([REDACTED])")
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// Primary key.
    pub id: OrganizationId,
    /// Unique internal name.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Unique URL name.
    pub slug: Slug,
    /// Inactive organizations lose all access.
    pub is_active: bool,
    /// Free-form organization settings (a JSON object).
    pub settings: Value,
    /// Set on insert.
    pub created_at: DateTime<Utc>,
    /// Set on insert and every update.
    pub updated_at: DateTime<Utc>,
    /// The user who created it, while that user exists.
    pub created_by: Option<UserId>,
}

/// What it takes to create an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOrganization {
    /// Unique internal name.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Unique URL name.
    pub slug: Slug,
    /// Free-form settings; `{}` when there are none.
    pub settings: Value,
    /// The creating user, if any.
    pub created_by: Option<UserId>,
}

/// A person who belongs to one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Primary key.
    pub id: UserId,
    /// The organization the user belongs to.
    pub organization_id: OrganizationId,
    /// Unique, lower-case.
    pub email: EmailAddress,
    /// Unique login name.
    pub username: Username,
    /// argon2id PHC string.
    pub password_hash: PasswordHash,
    /// Name shown to people.
    pub full_name: Option<String>,
    /// Inactive users lose all access.
    pub is_active: bool,
    /// Whether the e-mail address was confirmed.
    pub is_verified: bool,
    /// What the user may do.
    pub role: Role,
    /// Free-form user settings (a JSON object).
    pub settings: Value,
    /// Set on insert.
    pub created_at: DateTime<Utc>,
    /// Set on insert and every update.
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// The password was generated for an invitation: a session signed in
    /// with it may only change it.
    pub password_change_required: bool,
    /// When such a generated password stops working if still unchanged.
    pub password_expires_at: Option<DateTime<Utc>>,
    /// When the SMTP server accepted the user's invitation mail.
    pub invitation_sent_at: Option<DateTime<Utc>>,
    /// Why the last mail to the user could not be delivered (yet); cleared
    /// when one is.
    pub last_mail_error: Option<String>,
}

/// What it takes to create a user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUser {
    /// The organization the user joins.
    pub organization_id: OrganizationId,
    /// Unique, lower-case.
    pub email: EmailAddress,
    /// Unique login name.
    pub username: Username,
    /// argon2id PHC string.
    pub password_hash: PasswordHash,
    /// Name shown to people.
    pub full_name: Option<String>,
    /// What the user may do.
    pub role: Role,
    /// Whether the e-mail address is already confirmed.
    pub is_verified: bool,
}

/// A credential for headless access. The key itself is never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// Primary key.
    pub id: ApiKeyId,
    /// The organization the key acts in.
    pub organization_id: OrganizationId,
    /// The user the key acts as; `None` for an organization-wide key.
    pub user_id: Option<UserId>,
    /// Name given by its owner.
    pub name: String,
    /// SHA-256 of the full key, hex.
    pub key_hash: String,
    /// The key's first characters, for display.
    pub prefix: String,
    /// What the key may be used for.
    pub scopes: Vec<String>,
    /// Revoked keys are inactive.
    pub is_active: bool,
    /// Last use, written at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    /// After this the key is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set on insert.
    pub created_at: DateTime<Utc>,
    /// Set on insert and every update.
    pub updated_at: DateTime<Utc>,
    /// The key that minted this one (`api_keys:write`), if a key did:
    /// revoking it revokes this one too.
    pub created_by_key_id: Option<ApiKeyId>,
}

/// What it takes to create an API key.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApiKey {
    /// The organization the key acts in.
    pub organization_id: OrganizationId,
    /// The user the key acts as, if any.
    pub user_id: Option<UserId>,
    /// Name given by its owner.
    pub name: String,
    /// SHA-256 of the full key, hex.
    pub key_hash: String,
    /// The key's first characters, for display.
    pub prefix: String,
    /// What the key may be used for.
    pub scopes: Vec<String>,
    /// When the key stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// The key minting it, when a key does.
    pub created_by_key_id: Option<ApiKeyId>,
}

/// A configured link from an organization to an outside service.
#[derive(Clone, PartialEq)]
pub struct Connection {
    /// Primary key.
    pub id: ConnectionId,
    /// Owning organization.
    pub organization_id: OrganizationId,
    /// Name given by its owner.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// What kind of service it reaches.
    pub connection_type: ConnectionType,
    /// Type-specific settings; holds secrets, so `Debug` hides it.
    pub config: Value,
    /// Inactive connections are not used.
    pub is_active: bool,
    /// The organization's default for its type.
    pub is_default: bool,
    /// When it was last tested.
    pub last_tested_at: Option<DateTime<Utc>>,
    /// Outcome of the last test.
    pub test_status: Option<ConnectionTestStatus>,
    /// Details of the last test.
    pub test_result: Option<Value>,
    /// Organization-wide or private to its owner.
    pub scope: ConnectionScope,
    /// Owner of a user-scoped connection.
    pub owner_user_id: Option<UserId>,
    /// Who created it, while that user exists.
    pub created_by: Option<UserId>,
    /// Set on insert.
    pub created_at: DateTime<Utc>,
    /// Set on insert and every update.
    pub updated_at: DateTime<Utc>,
    /// Created from environment variables; changed only by changing them.
    pub is_managed: bool,
    /// The variables a managed connection comes from.
    pub managed_by: Option<String>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("name", &self.name)
            .field("connection_type", &self.connection_type)
            .field("config", &"[REDACTED]")
            .field("is_active", &self.is_active)
            .field("is_default", &self.is_default)
            .field("test_status", &self.test_status)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// What it takes to create a connection.
#[derive(Clone, PartialEq)]
pub struct NewConnection {
    /// Owning organization.
    pub organization_id: OrganizationId,
    /// Name given by its owner.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// What kind of service it reaches.
    pub connection_type: ConnectionType,
    /// Type-specific settings; holds secrets.
    pub config: Value,
    /// The organization's default for its type.
    pub is_default: bool,
    /// Organization-wide or private to its owner.
    pub scope: ConnectionScope,
    /// Owner of a user-scoped connection.
    pub owner_user_id: Option<UserId>,
    /// Who creates it.
    pub created_by: Option<UserId>,
    /// For a managed connection, the environment variables it comes from.
    pub managed_by: Option<String>,
}

impl fmt::Debug for NewConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewConnection")
            .field("organization_id", &self.organization_id)
            .field("name", &self.name)
            .field("connection_type", &self.connection_type)
            .field("config", &"[REDACTED]")
            .finish_non_exhaustive()
    }
}

/// A system-wide setting.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemSetting {
    /// Primary key.
    pub id: SystemSettingId,
    /// Unique name.
    pub key: String,
    /// Any JSON value.
    pub value: Value,
    /// Free text.
    pub description: Option<String>,
    /// Whether unauthenticated callers may read it.
    pub is_public: bool,
    /// Set on insert.
    pub created_at: DateTime<Utc>,
    /// Set on insert and every update.
    pub updated_at: DateTime<Utc>,
}

/// What it takes to create a system setting.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSystemSetting {
    /// Unique name.
    pub key: String,
    /// Any JSON value.
    pub value: Value,
    /// Free text.
    pub description: Option<String>,
    /// Whether unauthenticated callers may read it.
    pub is_public: bool,
}

/// One audited action. Append-only.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditLogEntry {
    /// Primary key.
    pub id: AuditLogId,
    /// The organization it happened in, while it exists.
    pub organization_id: Option<OrganizationId>,
    /// The acting user, while they exist.
    pub user_id: Option<UserId>,
    /// What was done.
    pub action: AuditAction,
    /// The kind of thing acted on.
    pub entity_type: Option<String>,
    /// The thing acted on.
    pub entity_id: Option<Uuid>,
    /// Structured details; never a secret.
    pub details: Option<Value>,
    /// Client address (IPv4 or IPv6).
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Whether it succeeded.
    pub status: AuditStatus,
    /// Why it failed.
    pub error_message: Option<String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

/// What it takes to record an action.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditLogEntry {
    /// The organization it happened in.
    pub organization_id: Option<OrganizationId>,
    /// The acting user.
    pub user_id: Option<UserId>,
    /// What was done.
    pub action: AuditAction,
    /// The kind of thing acted on.
    pub entity_type: Option<String>,
    /// The thing acted on.
    pub entity_id: Option<Uuid>,
    /// Structured details; never a secret.
    pub details: Option<Value>,
    /// Client address.
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Whether it succeeded.
    pub status: AuditStatus,
    /// Why it failed.
    pub error_message: Option<String>,
}

/// A token digest for `Debug`: the first 8 characters, the rest elided. Enough
/// to tell two tokens apart in a log, too little to look one up.
struct DigestPrefix<'a>(&'a str);

impl fmt::Debug for DigestPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.chars().take(8).collect();
        write!(f, "\"{prefix}…\"")
    }
}

/// One stored refresh token. The token itself is never stored, only its
/// SHA-256; tokens issued from one login share a `family_id`, so reuse of a
/// rotated token can revoke the whole family.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// Primary key.
    pub id: RefreshTokenId,
    /// The user the token signs in.
    pub user_id: UserId,
    /// The login session the token belongs to; shared by every rotation.
    pub family_id: Uuid,
    /// SHA-256 of the token, hex. A credential digest: `Debug` shows only its start.
    pub token_hash: String,
    /// Absolute expiry of the family: rotation keeps it.
    pub expires_at: DateTime<Utc>,
    /// When it was rotated or revoked; `None` while usable.
    pub revoked_at: Option<DateTime<Utc>>,
    /// The token that replaced it on rotation.
    pub replaced_by: Option<RefreshTokenId>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// Client address it was issued to (IPv4 or IPv6).
    pub ip_address: Option<String>,
    /// Client user agent it was issued to.
    pub user_agent: Option<String>,
}

impl fmt::Debug for RefreshTokenRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenRecord")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("family_id", &self.family_id)
            .field("token_hash", &DigestPrefix(&self.token_hash))
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .field("replaced_by", &self.replaced_by)
            .field("created_at", &self.created_at)
            .field("ip_address", &self.ip_address)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// What it takes to store a new refresh token.
#[derive(Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// The user the token signs in.
    pub user_id: UserId,
    /// The family: a fresh UUID at login, the predecessor's on rotation.
    pub family_id: Uuid,
    /// SHA-256 of the token, hex (64 characters).
    pub token_hash: String,
    /// Absolute expiry of the family.
    pub expires_at: DateTime<Utc>,
    /// Client address (IPv4 or IPv6).
    pub ip_address: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

impl fmt::Debug for NewRefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRefreshToken")
            .field("user_id", &self.user_id)
            .field("family_id", &self.family_id)
            .field("token_hash", &DigestPrefix(&self.token_hash))
            .field("expires_at", &self.expires_at)
            .field("ip_address", &self.ip_address)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug() {
        let h = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        assert!(!format!("{h:?}").contains("argon2id"));
        let c = NewConnection {
            organization_id: OrganizationId::new(),
            name: "llm".into(),
            description: None,
            connection_type: ConnectionType::parse("llm").unwrap(),
            config: serde_json::json!({"api_key": "sk-very-secret"}),
            is_default: false,
            scope: ConnectionScope::Organization,
            owner_user_id: None,
            created_by: None,
            managed_by: None,
        };
        assert!(!format!("{c:?}").contains("sk-very-secret"));
    }

    #[test]
    fn refresh_token_digests_are_shortened_in_debug() {
        let hash = "0123456789abcdef".repeat(4);
        let new = NewRefreshToken {
            user_id: UserId::new(),
            family_id: Uuid::new_v4(),
            token_hash: hash.clone(),
            expires_at: Utc::now(),
            ip_address: None,
            user_agent: None,
        };
        let shown = format!("{new:?}");
        assert!(!shown.contains(&hash), "{shown}");
        assert!(!shown.contains("0123456789"), "{shown}");
        assert!(shown.contains("\"01234567…\""), "{shown}");

        let record = RefreshTokenRecord {
            id: RefreshTokenId::new(),
            user_id: new.user_id,
            family_id: new.family_id,
            token_hash: hash.clone(),
            expires_at: new.expires_at,
            revoked_at: None,
            replaced_by: None,
            created_at: new.expires_at,
            ip_address: Some("2001:db8::1".into()),
            user_agent: None,
        };
        let shown = format!("{record:?}");
        assert!(!shown.contains(&hash), "{shown}");
        assert!(shown.contains("RefreshTokenRecord"), "{shown}");
        assert!(shown.contains("2001:db8::1"), "{shown}");

        // A short or non-ASCII value never panics.
        let odd = NewRefreshToken {
            token_hash: "é".into(),
            ..new
        };
        assert!(format!("{odd:?}").contains("\"é…\""));
    }
}
