//! Response bodies: what the API shows of domain records (never a password
//! hash, key hash or connection secret).

use chrono::{DateTime, Utc};
use curatore_domain::{ApiKey, AuditLogEntry, Organization, User};
use curatore_service::{AuditFeedPage, AuditLogPage};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// `at` as chrono writes it (RFC 3339, `Z`, 0, 3, 6 or 9 digits of the
/// second's fraction, as few as show it exactly), without going through
/// `fmt`: a response carries up to a few hundred timestamps and chrono's
/// serialization was an eighth of `/auth/me`'s cost. Years outside
/// 0000–9999 and leap seconds are left to chrono.
pub(crate) fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    use chrono::{Datelike, Timelike};
    let (year, nanos) = (at.year(), at.nanosecond());
    if !(0..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    }
    let mut out = Digits::default();
    out.put(year.unsigned_abs(), 4, b'-');
    out.put(at.month(), 2, b'-');
    out.put(at.day(), 2, b'T');
    out.put(at.hour(), 2, b':');
    out.put(at.minute(), 2, b':');
    out.put(at.second(), 2, 0);
    if nanos != 0 {
        let (value, width) = if nanos % 1_000_000 == 0 {
            (nanos / 1_000_000, 3)
        } else if nanos % 1_000 == 0 {
            (nanos / 1_000, 6)
        } else {
            (nanos, 9)
        };
        out.put(0, 0, b'.');
        out.put(value, width, 0);
    }
    out.put(0, 0, b'Z');
    s.serialize_str(out.as_str())
}

/// A timestamp's text, built in place.
#[derive(Default)]
struct Digits {
    bytes: [u8; 32],
    len: usize,
}

impl Digits {
    /// `value` as `width` decimal digits, then `then` unless it is 0.
    fn put(&mut self, value: u32, width: u32, then: u8) {
        for i in (0..width).rev() {
            self.bytes[self.len] = b'0' + (value / 10u32.pow(i) % 10) as u8;
            self.len += 1;
        }
        if then != 0 {
            self.bytes[self.len] = then;
            self.len += 1;
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// [`rfc3339`] of an optional instant (`null` when absent).
pub(crate) fn rfc3339_opt<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => rfc3339(at, s),
        None => s.serialize_none(),
    }
}

/// An organization as the API shows it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct OrganizationBody {
    id: Uuid,
    name: String,
    display_name: String,
    slug: String,
    is_active: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: Value,
    created_by: Option<Uuid>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    updated_at: DateTime<Utc>,
}

impl From<&Organization> for OrganizationBody {
    fn from(o: &Organization) -> Self {
        Self {
            id: o.id.as_uuid(),
            name: o.name.clone(),
            display_name: o.display_name.clone(),
            slug: o.slug.as_str().to_owned(),
            is_active: o.is_active,
            settings: o.settings.clone(),
            created_by: o.created_by.map(|u| u.as_uuid()),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

/// A user as the API shows it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct UserBody {
    id: Uuid,
    organization_id: Uuid,
    email: String,
    username: String,
    full_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = crate::openapi::RoleName))]
    role: &'static str,
    is_active: bool,
    is_verified: bool,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    settings: Value,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::dto::rfc3339_opt")]
    last_login_at: Option<DateTime<Utc>>,
}

impl From<&User> for UserBody {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_uuid(),
            organization_id: u.organization_id.as_uuid(),
            email: u.email.as_str().to_owned(),
            username: u.username.as_str().to_owned(),
            full_name: u.full_name.clone(),
            role: u.role.as_str(),
            is_active: u.is_active,
            is_verified: u.is_verified,
            settings: u.settings.clone(),
            created_at: u.created_at,
            updated_at: u.updated_at,
            last_login_at: u.last_login_at,
        }
    }
}

/// A user as the original's web UI reads it: [`UserBody`] and `last_login`,
/// the UI's name for `last_login_at`.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct UiUserBody {
    #[serde(flatten)]
    user: UserBody,
    #[serde(serialize_with = "crate::dto::rfc3339_opt")]
    last_login: Option<DateTime<Utc>>,
}

impl From<&User> for UiUserBody {
    fn from(u: &User) -> Self {
        Self {
            user: UserBody::from(u),
            last_login: u.last_login_at,
        }
    }
}

/// An API key as the API shows it: never the key or its hash.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct ApiKeyBody {
    id: Uuid,
    organization_id: Uuid,
    user_id: Option<Uuid>,
    name: String,
    prefix: String,
    scopes: Vec<String>,
    is_active: bool,
    #[serde(serialize_with = "crate::dto::rfc3339_opt")]
    last_used_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::dto::rfc3339_opt")]
    expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    updated_at: DateTime<Utc>,
}

impl From<&ApiKey> for ApiKeyBody {
    fn from(k: &ApiKey) -> Self {
        Self {
            id: k.id.as_uuid(),
            organization_id: k.organization_id.as_uuid(),
            user_id: k.user_id.map(|u| u.as_uuid()),
            name: k.name.clone(),
            prefix: k.prefix.clone(),
            scopes: k.scopes.clone(),
            is_active: k.is_active,
            last_used_at: k.last_used_at,
            expires_at: k.expires_at,
            created_at: k.created_at,
            updated_at: k.updated_at,
        }
    }
}

/// One page of the audit trail: `limit` as asked, and `next_cursor` to pass
/// back as `cursor` (null on the last page).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AuditLogPageBody {
    items: Vec<AuditLogBody>,
    limit: u64,
    next_cursor: Option<String>,
}

impl From<AuditLogPage> for AuditLogPageBody {
    fn from(page: AuditLogPage) -> Self {
        Self {
            items: page.items.into_iter().map(AuditLogBody::from).collect(),
            limit: page.limit,
            next_cursor: page.next_cursor.map(|c| c.to_string()),
        }
    }
}

/// A read of the audit feed: entries in commit order, and the `position` to
/// pass back as `after` (the same one again when nothing new was committed).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AuditFeedBody {
    items: Vec<AuditLogBody>,
    limit: u64,
    position: String,
}

impl From<AuditFeedPage> for AuditFeedBody {
    fn from(page: AuditFeedPage) -> Self {
        Self {
            items: page.items.into_iter().map(AuditLogBody::from).collect(),
            limit: page.limit,
            position: page.position,
        }
    }
}

/// An audit entry as the API shows it.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct AuditLogBody {
    id: Uuid,
    organization_id: Option<Uuid>,
    user_id: Option<Uuid>,
    action: String,
    entity_type: Option<String>,
    entity_id: Option<Uuid>,
    details: Option<Value>,
    ip_address: Option<String>,
    user_agent: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, examples("success", "failure")))]
    status: &'static str,
    error_message: Option<String>,
    #[serde(serialize_with = "crate::dto::rfc3339")]
    created_at: DateTime<Utc>,
}

impl From<AuditLogEntry> for AuditLogBody {
    fn from(e: AuditLogEntry) -> Self {
        Self {
            id: e.id.as_uuid(),
            organization_id: e.organization_id.map(|o| o.as_uuid()),
            user_id: e.user_id.map(|u| u.as_uuid()),
            action: e.action.as_str().to_owned(),
            entity_type: e.entity_type,
            entity_id: e.entity_id,
            details: e.details,
            ip_address: e.ip_address,
            user_agent: e.user_agent,
            status: e.status.as_str(),
            error_message: e.error_message,
            created_at: e.created_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(Serialize)]
    struct Ours(#[serde(serialize_with = "rfc3339")] DateTime<Utc>);

    #[test]
    fn timestamps_are_written_exactly_as_chrono_writes_them() {
        let mut instants = vec![
            Utc.timestamp_opt(0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 12, 7, 9, 24, 12).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap(),
        ];
        for nanos in [1, 7_000, 120_000, 993_162_000, 5_000_000, 999_999_999, 100] {
            instants.push(Utc.timestamp_opt(1_796_635_452, nanos).unwrap());
        }
        // A leap second.
        instants.push(Utc.timestamp_opt(1_483_228_799, 1_500_000_000).unwrap());
        for at in instants {
            assert_eq!(
                serde_json::to_string(&Ours(at)).unwrap(),
                serde_json::to_string(&at).unwrap(),
                "{at:?}"
            );
        }
        let none: Option<DateTime<Utc>> = None;
        let mut out = Vec::new();
        rfc3339_opt(&none, &mut serde_json::Serializer::new(&mut out)).unwrap();
        assert_eq!(out, b"null");
    }
}
