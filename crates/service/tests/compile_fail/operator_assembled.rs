// Nor can an operator be assembled from the services: only
// `Services::open`, at start-up, makes one.
use curatore_service::{Operator, Services};

fn assemble(services: &Services) -> Operator {
    Operator {
        services: services.clone(),
    }
}

fn main() {}
