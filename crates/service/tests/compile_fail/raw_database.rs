// The services do not hand out the database (which reaches every tenant's
// rows past the audit trail and cache invalidation).
use curatore_service::Services;

fn raw(services: &Services) {
    let _ = services.database();
}

fn main() {}
