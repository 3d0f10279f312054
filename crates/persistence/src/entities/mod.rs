//! SeaORM entities for the tables. They mirror the migrations and stay
//! inside this crate's public surface only for queries the repositories do not
//! cover; everything else speaks `curatore_domain` records.

pub mod api_key;
pub mod audit_log;
pub mod connection;
pub mod mail_outbox;
pub mod organization;
pub mod refresh_token;
pub mod system_setting;
pub mod user;
