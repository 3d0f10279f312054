//! What the audit trail records: the events, and entries built from a context.

use crate::context::{Actor, Client, RequestContext};
use curatore_domain::{AuditAction, AuditStatus, NewAuditLogEntry, OrganizationId, UserId};
use serde_json::{Value, json};
use uuid::Uuid;

macro_rules! audit_events {
    ($($(#[$doc:meta])* $variant:ident = $text:literal;)+) => {
        /// Every action the audit trail records. The stored names are kept as
        /// earlier releases (and the original) wrote them, so existing trails
        /// and filters keep working.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AuditEvent {
            $($(#[$doc])* $variant,)+
        }

        impl AuditEvent {
            /// All events.
            pub const ALL: &'static [AuditEvent] = &[$(AuditEvent::$variant,)+];

            /// The stored action name.
            pub fn as_str(self) -> &'static str {
                match self { $(AuditEvent::$variant => $text,)+ }
            }
        }
    };
}

audit_events! {
    /// A login, successful or not.
    Login = "login";
    /// A session ended.
    Logout = "logout";
    /// A refresh token was rotated (or handed out again within the grace).
    TokenRefresh = "token_refresh";
    /// A rotated refresh token came back; its session was ended.
    RefreshTokenReuse = "refresh_token_reuse";
    /// A caller without the needed role was refused an admin operation.
    AccessDenied = "access_denied";
    /// A client was refused by a rate limit (429); sampled, one entry per
    /// address and limit per minute, with the count refused unrecorded.
    RateLimited = "rate_limited";
    /// An org_admin reset another user's password.
    ResetPassword = "reset_password";
    /// A user set a new password with a one-time reset token.
    RedeemResetToken = "redeem_reset_token";
    /// A user changed their own password.
    ChangePassword = "change_password";
    /// A user was created by registration or by an org_admin.
    Register = "register";
    /// An API key was created.
    ApiKeyCreated = "api_key_created";
    /// An API key was renamed.
    ApiKeyRenamed = "api_key_renamed";
    /// An API key was revoked.
    ApiKeyRevoked = "api_key_revoked";
    /// An instance administrator created an organization and its first admin.
    CreateOrganization = "create_organization";
    /// `curatore-server import` restored an organization from an export file.
    ImportOrganization = "import_organization";
    /// The organization's profile or settings changed.
    UpdateOrganization = "update_organization";
    /// The organization's settings were merged (`PUT …/me/settings`).
    UpdateOrganizationSettings = "update_organization_settings";
    /// A user changed their own settings (`PUT /settings/user`).
    UpdateUserSettings = "update_user_settings";
    /// An instance administrator changed the system settings.
    UpdateSystemSettings = "update_system_settings";
    /// A user's name or role was changed by an org_admin.
    UserUpdated = "update_user";
    /// A user was deactivated by an org_admin.
    UserDeactivated = "deactivate_user";
    /// A user was reactivated by an org_admin.
    UserReactivated = "reactivate_user";
    /// A connection was created (by a user or the environment import).
    CreateConnection = "create_connection";
    /// A connection was changed.
    UpdateConnection = "update_connection";
    /// A connection was deleted.
    DeleteConnection = "delete_connection";
    /// A connection was tested.
    TestConnection = "test_connection";
    /// A connection became its type's default.
    SetDefaultConnection = "set_default_connection";
    /// Audit entries past `AUDIT_RETENTION_DAYS` were deleted.
    PurgeAuditLog = "purge_audit_log";
    /// The first organization and its admin were created.
    SeedInitialTenant = "seed_initial_tenant";
    /// `curatore-server secrets rotate` re-sealed connection secrets under
    /// the newest key (one entry per batch, naming the connections).
    RotateSecrets = "rotate_secrets";
    /// Connection secrets found in clear (the original's, or written by
    /// hand) were sealed at start (one entry per batch).
    SealClearSecrets = "seal_clear_secrets";
    /// A backup of the database ran (status `failure` when no archive was made).
    BackupCreated = "backup_created";
}

impl AuditEvent {
    fn action(self) -> AuditAction {
        // Every name above is a valid action (checked by a test).
        AuditAction::parse(self.as_str()).unwrap_or_else(|_| unreachable!("{}", self.as_str()))
    }
}

/// Our events as actions, to filter the trail by them.
impl From<AuditEvent> for AuditAction {
    fn from(event: AuditEvent) -> Self {
        event.action()
    }
}

/// One audit entry before it is written.
pub(crate) struct Entry {
    pub(crate) organization_id: Option<OrganizationId>,
    pub(crate) user_id: Option<UserId>,
    pub(crate) entity: Option<(std::borrow::Cow<'static, str>, Uuid)>,
    pub(crate) details: Value,
    pub(crate) failure: Option<std::borrow::Cow<'static, str>>,
}

impl Entry {
    /// An entry about `entity` (`("user", id)`, …).
    pub(crate) fn about(
        entity: impl Into<std::borrow::Cow<'static, str>>,
        id: Uuid,
        details: Value,
    ) -> Self {
        Self {
            organization_id: None,
            user_id: None,
            entity: Some((entity.into(), id)),
            details,
            failure: None,
        }
    }

    /// An entry about nothing in particular (a login for an unknown user).
    pub(crate) fn anonymous(details: Value) -> Self {
        Self {
            organization_id: None,
            user_id: None,
            entity: None,
            details,
            failure: None,
        }
    }

    pub(crate) fn failed(mut self, why: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        self.failure = Some(why.into());
        self
    }

    pub(crate) fn by_user(mut self, org: Option<OrganizationId>, user: Option<UserId>) -> Self {
        self.organization_id = org;
        self.user_id = user;
        self
    }

    /// The entry as `client` did it (no authenticated actor: logins, refreshes).
    pub(crate) fn done_from(self, event: AuditEvent, client: &Client) -> NewAuditLogEntry {
        self.done_as(event.action(), client)
    }

    /// [`Entry::done_from`] for an action named at run time (an embedding
    /// service's registered action).
    pub(crate) fn done_as(self, action: AuditAction, client: &Client) -> NewAuditLogEntry {
        let mut details = self.details;
        if let (Some(obj), Some(id)) = (details.as_object_mut(), &client.request_id) {
            obj.insert("request_id".into(), json!(id));
        }
        NewAuditLogEntry {
            organization_id: self.organization_id,
            user_id: self.user_id,
            action,
            entity_id: self.entity.as_ref().map(|(_, id)| *id),
            entity_type: self.entity.map(|(t, _)| t.into_owned()),
            details: Some(details),
            ip_address: Some(client.ip.to_string()),
            user_agent: client.user_agent.clone(),
            status: if self.failure.is_some() {
                AuditStatus::Failure
            } else {
                AuditStatus::Success
            },
            error_message: self.failure.map(std::borrow::Cow::into_owned),
        }
    }

    /// The entry as the principal of `ctx` did it, in its organization.
    pub(crate) fn by(self, event: AuditEvent, ctx: &RequestContext) -> NewAuditLogEntry {
        self.by_as(event.action(), ctx)
    }

    /// [`Entry::by`] for an action named at run time.
    pub(crate) fn by_as(mut self, action: AuditAction, ctx: &RequestContext) -> NewAuditLogEntry {
        if let (Some(obj), Actor::ApiKey { key_id, .. }) =
            (self.details.as_object_mut(), ctx.principal.actor())
        {
            obj.insert("api_key_id".into(), json!(key_id.as_uuid()));
        }
        self.organization_id = Some(ctx.organization_id());
        self.user_id = ctx.principal.user_id();
        self.done_as(action, &ctx.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_is_a_valid_stored_action() {
        for event in AuditEvent::ALL {
            assert!(AuditAction::parse(event.as_str()).is_ok(), "{event:?}");
        }
    }
}
