// The system principal acts as org_admin of its organization: only the
// services make one (authentication disabled, operator work).
use curatore_domain::Organization;
use curatore_service::Principal;

fn admin_of(organization: Organization) -> Principal {
    Principal::system(organization)
}

fn main() {}
