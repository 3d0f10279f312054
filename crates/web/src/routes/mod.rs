pub(crate) mod api_keys;
pub(crate) mod audit_export;
pub(crate) mod audit_logs;
pub(crate) mod auth;
pub(crate) mod connections;
pub(crate) mod health;
pub(crate) mod organizations;
pub(crate) mod users;
