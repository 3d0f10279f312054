// What a request can reach (the services and its own context) gives no
// operator.
use curatore_service::{Operator, RequestContext, Services};

fn escalate(services: &Services, _ctx: &RequestContext) -> Operator {
    services.operator()
}

fn main() {}
