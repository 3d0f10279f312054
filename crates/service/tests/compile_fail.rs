//! What must not compile: the capability rules of the service layer, each
//! shown failing with the compiler's own words (trybuild compares them to
//! the `.stderr` files beside each case).
//!
//! - a request context cannot be made without authenticating;
//! - the system principal (org_admin of any organization) cannot be named;
//! - the operator cannot be made from the services a request can reach;
//! - no bare organization id opens another tenant's decrypted secrets;
//! - the raw database is not reachable through the services.

#[test]
fn capability_rules_are_enforced_by_the_compiler() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/compile_fail/*.rs");
}
