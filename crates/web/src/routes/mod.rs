pub(crate) mod audit_logs;
pub(crate) mod health;
pub(crate) mod organizations;
