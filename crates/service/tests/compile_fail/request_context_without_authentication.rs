// A RequestContext is the proof that a request authenticated; it cannot be
// assembled from parts.
use curatore_service::{Client, Principal, RequestContext};

fn forge(principal: Principal) -> RequestContext {
    RequestContext {
        principal,
        client: Client::local(),
    }
}

fn main() {}
