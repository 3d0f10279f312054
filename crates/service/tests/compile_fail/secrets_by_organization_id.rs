// Decrypted connections are reached through the caller's own organization
// (`services.connections(&ctx).active(..)`) or the operator, never by a bare
// organization id.
use curatore_domain::OrganizationId;
use curatore_service::Services;

async fn peek(services: &Services, other: OrganizationId) {
    let _ = services.active_connection(other, "llm").await;
}

fn main() {}
