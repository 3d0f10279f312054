//! The tenant-isolation matrix, black-box on both engines: two
//! organizations, each with an admin, a member and an API key. Every route
//! that takes an id is called by each caller of one organization with the
//! other organization's ids, and must answer exactly as it does for an id
//! that does not exist; every list is searched for the other's ids.
// A panic in a test is a failed test with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use curatore_test_support::TestDatabase;
use serde_json::{Value, json};
use support::{Server, on_both};

const SECRET: &str = "test-secret-k9Vq2mXw7Lr4Tz8Bn1Hc6Jd3Fs5Gp0Ye";
const ADMIN_PASSWORD: &str = "admin-password-123";
const PASSWORD: &str = "a-long-member-password";
const MISSING: &str = "0195d3a0-0000-7000-8000-000000000000";

/// One organization as its callers see it.
struct Tenant {
    org_id: String,
    admin_id: String,
    member_id: String,
    key_id: String,
    /// (who, header name, header value)
    callers: Vec<(&'static str, &'static str, String)>,
}

fn login(s: &Server, who: &str, password: &str) -> String {
    let r = s.call(
        "POST",
        "/api/v1/auth/login",
        &[],
        Some(&json!({"email_or_username": who, "password": password})),
    );
    assert_eq!(r.status, 200, "login {who}: {r:?}");
    format!("Bearer {}", r.json()["access_token"].as_str().unwrap())
}

fn post(s: &Server, auth: &str, path: &str, body: Value) -> Value {
    let r = s.call("POST", path, &[("authorization", auth)], Some(&body));
    assert_eq!(r.status, 201, "{path}: {r:?}");
    r.json()
}

/// A member and a key in the organization whose admin is `admin`.
fn populate(s: &Server, admin: String, tag: &str) -> Tenant {
    let me = s
        .call("GET", "/api/v1/auth/me", &[("authorization", &admin)], None)
        .json();
    let member = post(
        s,
        &admin,
        "/api/v1/auth/register",
        json!({"email": format!("member@{tag}.example"), "username": format!("member-{tag}"),
               "password": PASSWORD, "role": "member"}),
    );
    let key = post(
        s,
        &admin,
        "/api/v1/api-keys",
        json!({"name": format!("key-{tag}")}),
    );
    let member_auth = login(s, &format!("member-{tag}"), PASSWORD);
    Tenant {
        org_id: me["organization"]["id"].as_str().unwrap().to_owned(),
        admin_id: me["user"]["id"].as_str().unwrap().to_owned(),
        member_id: member["id"].as_str().unwrap().to_owned(),
        key_id: key["id"].as_str().unwrap().to_owned(),
        callers: vec![
            ("admin", "authorization", admin),
            ("member", "authorization", member_auth),
            ("key", "x-api-key", key["key"].as_str().unwrap().to_owned()),
        ],
    }
}

/// Every route that takes an id, for the id `id` of kind `kind`.
fn routes(kind: &str, id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    match kind {
        "organization" => vec![
            ("GET", format!("/api/v1/organizations/{id}"), None),
            (
                "PUT",
                format!("/api/v1/organizations/{id}"),
                Some(json!({"display_name": "x"})),
            ),
        ],
        "user" => vec![
            ("GET", format!("/api/v1/organizations/me/users/{id}"), None),
            (
                "PUT",
                format!("/api/v1/organizations/me/users/{id}"),
                Some(json!({"full_name": "x"})),
            ),
            (
                "DELETE",
                format!("/api/v1/organizations/me/users/{id}"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/organizations/me/users/{id}/reactivate"),
                None,
            ),
            // The original UI's routes over the same services.
            ("GET", format!("/api/v1/users/{id}"), None),
            (
                "PUT",
                format!("/api/v1/users/{id}"),
                Some(json!({"email": "stolen@example.test", "is_active": false})),
            ),
            ("DELETE", format!("/api/v1/users/{id}"), None),
            (
                "PUT",
                format!("/api/v1/users/{id}/password"),
                Some(json!({"new_password": "taken-over-password-1"})),
            ),
        ],
        _ => vec![
            (
                "PUT",
                format!("/api/v1/api-keys/{id}"),
                Some(json!({"name": "x"})),
            ),
            ("DELETE", format!("/api/v1/api-keys/{id}"), None),
        ],
    }
}

async fn no_route_reaches_another_organization(db: TestDatabase) {
    let s = Server::start(
        &db.url(),
        &[
            ("ENABLE_AUTH", "true"),
            ("JWT_SECRET_KEY", SECRET),
            ("ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("AUTH_CACHE_SECONDS", "0"),
            ("LOGIN_MAX_FAILURES_PER_IP", "1000"),
        ],
    );
    let root = login(&s, "admin", ADMIN_PASSWORD);
    post(
        &s,
        &root,
        "/api/v1/organizations",
        json!({"name": "Beta", "slug": "beta", "admin": {
            "email": "boss@beta.example", "username": "boss", "password": "a-long-beta-password"}}),
    );
    let beta_admin = login(&s, "boss", "a-long-beta-password");
    let a = populate(&s, root, "alpha");
    let b = populate(&s, beta_admin, "beta");

    for (mine, theirs) in [(&a, &b), (&b, &a)] {
        // Alpha is the default organization: its admin administers the
        // instance and may read and change Beta as an organization (that is
        // tested with the instance routes), never Beta's users or keys.
        let instance_admin = std::ptr::eq(mine, &a);
        for (who, header, value) in &mine.callers {
            let headers = [(*header, value.as_str())];
            for (kind, id) in [
                ("organization", &theirs.org_id),
                ("user", &theirs.admin_id),
                ("user", &theirs.member_id),
                ("key", &theirs.key_id),
            ] {
                if instance_admin && *who == "admin" && kind == "organization" {
                    continue;
                }
                for ((method, path, body), (_, missing_path, _)) in
                    routes(kind, id).into_iter().zip(routes(kind, MISSING))
                {
                    let foreign = s.call(method, &path, &headers, body.as_ref());
                    let missing = s.call(method, &missing_path, &headers, body.as_ref());
                    assert!(
                        !(200..300).contains(&foreign.status),
                        "{who} reached {method} {path}: {foreign:?}"
                    );
                    assert_eq!(
                        (foreign.status, foreign.error_code()),
                        (missing.status, missing.error_code()),
                        "{who}: {method} {path} answers unlike a missing id"
                    );
                }
            }
            // Lists show nothing of the other organization.
            for list in [
                "/api/v1/organizations/me/users",
                "/api/v1/users",
                "/api/v1/api-keys?all=true",
                "/api/v1/audit-logs?limit=1000",
                "/api/v1/organizations/me",
                "/api/v1/settings/organization",
                "/api/v1/settings/user",
                "/api/v1/settings/effective",
            ] {
                let r = s.call("GET", list, &headers, None);
                for id in [
                    &theirs.org_id,
                    &theirs.admin_id,
                    &theirs.member_id,
                    &theirs.key_id,
                ] {
                    // The instance's own trail records that it created Beta.
                    let own_record =
                        instance_admin && id == &theirs.org_id && list.contains("audit");
                    assert!(
                        own_record || !r.body.contains(id.as_str()),
                        "{who}: {list} leaks {id}"
                    );
                }
            }
        }
    }
    // And nothing was changed by all those attempts.
    let r = s.call(
        "GET",
        &format!("/api/v1/organizations/me/users/{}", b.member_id),
        &[("authorization", &b.callers[0].2)],
        None,
    );
    assert_eq!(r.json()["is_active"], true);
}

on_both!(no_route_reaches_another_organization);
