//! Building audit entries from a request: who, from where, with which id.

use crate::auth::Principal;
use crate::client;
use crate::error::ApiError;
use crate::request::RequestId;
use crate::state::AppState;
use actix_web::{HttpMessage, HttpRequest};
use curatore_domain::{AuditAction, AuditStatus, NewAuditLogEntry, OrganizationId, UserId};
use serde_json::{Value, json};
use uuid::Uuid;

/// The request-side facts of an audit entry.
pub(crate) struct AuditContext {
    ip: String,
    user_agent: Option<String>,
    request_id: Option<String>,
}

impl AuditContext {
    pub(crate) fn new(req: &HttpRequest, state: &AppState) -> Self {
        Self {
            ip: client::client_ip(req, &state.auth().config.trusted_proxies).to_string(),
            user_agent: client::user_agent(req),
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|r| r.as_str().to_owned()),
        }
    }

    pub(crate) fn ip(&self) -> &str {
        &self.ip
    }

    pub(crate) fn user_agent(&self) -> Option<String> {
        self.user_agent.clone()
    }

    /// An entry; `details` gets the request id and, for API keys, the key id.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn entry(
        &self,
        action: &'static str,
        organization_id: Option<OrganizationId>,
        user_id: Option<UserId>,
        entity: Option<(&'static str, Uuid)>,
        details: Value,
        status: AuditStatus,
        error_message: Option<&str>,
    ) -> Result<NewAuditLogEntry, ApiError> {
        let mut details = details;
        if let (Some(obj), Some(id)) = (details.as_object_mut(), &self.request_id) {
            obj.insert("request_id".into(), json!(id));
        }
        Ok(NewAuditLogEntry {
            organization_id,
            user_id,
            action: AuditAction::parse(action)?,
            entity_type: entity.map(|(t, _)| t.to_owned()),
            entity_id: entity.map(|(_, id)| id),
            details: Some(details),
            ip_address: Some(self.ip.clone()),
            user_agent: self.user_agent.clone(),
            status,
            error_message: error_message.map(str::to_owned),
        })
    }

    /// A successful action by `principal` on `entity`.
    pub(crate) fn by(
        &self,
        principal: &Principal,
        action: &'static str,
        entity: (&'static str, Uuid),
        details: Value,
    ) -> Result<NewAuditLogEntry, ApiError> {
        let mut details = details;
        if let (Some(obj), crate::auth::Actor::ApiKey { key_id, .. }) =
            (details.as_object_mut(), principal.actor())
        {
            obj.insert("api_key_id".into(), json!(key_id.as_uuid()));
        }
        self.entry(
            action,
            Some(principal.organization_id()),
            principal.user_id(),
            Some(entity),
            details,
            AuditStatus::Success,
            None,
        )
    }
}
