//! Budgets per network, not per address: 40 addresses of one IPv6 /64 get
//! exactly the login and registration budget of one client, 40 addresses in
//! 40 networks get 40 budgets, and IPv4 counts per address. On both engines
//! (PostgreSQL keeps the counts in the database too).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use curatore_domain::Secret;
use curatore_service::{Client, LoginLimits, Registration, Services, ServicesConfig, testing};
use curatore_test_support::{TestDatabase, each_engine};
use std::net::IpAddr;

/// The `n`-th address of one /64.
fn in_one_network(n: u32) -> IpAddr {
    format!("2001:db8:77:1:{n:x}::{n:x}").parse().unwrap()
}

/// An address in the `n`-th of 40 different /64s.
fn in_own_network(n: u32) -> IpAddr {
    format!("2001:db8:78:{n:x}::1").parse().unwrap()
}

fn from(ip: IpAddr) -> Client {
    Client {
        request_id: None,
        ip,
        user_agent: None,
    }
}

/// Whether a wrong password was checked (401) or refused by a limit (429).
async fn guess(services: &Services, ip: IpAddr, login: &str) -> bool {
    match services
        .anonymous(&from(ip))
        .login(login, &Secret::new("wrong-password-123"))
        .await
    {
        Err(curatore_service::ServiceError::Unauthenticated(
            curatore_service::Unauthenticated::InvalidCredentials,
        )) => true,
        Err(curatore_service::ServiceError::Limited(_)) => false,
        other => panic!("{ip}: {:?}", other.map(|_| "signed in")),
    }
}

async fn login_budgets(db: TestDatabase) {
    // 5 failures per account and address, 20 per address.
    let limits = LoginLimits {
        per_account: 5,
        per_ip: 20,
        window: std::time::Duration::from_secs(60),
    };
    let config = ServicesConfig::new(common::config().with_login_limits(limits));
    let (services, operator) = testing::open(&db.url(), config).await;
    testing::seed(&operator, "budgets").await;
    let mut checked = 0;
    for n in 0..40 {
        checked += u32::from(guess(&services, in_one_network(n), "admin").await);
    }
    assert_eq!(
        checked,
        5,
        "{}: guesses at one account from one /64",
        db.engine()
    );

    let mut checked = 0;
    for n in 0..40 {
        checked += u32::from(guess(&services, in_one_network(n), &format!("nobody{n}")).await);
    }
    // The /64 already spent 5 of its 20 on the admin.
    assert_eq!(
        checked,
        15,
        "{}: guesses from one /64 across accounts",
        db.engine()
    );

    let mut checked = 0;
    for n in 0..40 {
        checked += u32::from(guess(&services, in_own_network(n), &format!("other{n}")).await);
    }
    assert_eq!(
        checked,
        40,
        "{}: one /64 each, one budget each",
        db.engine()
    );

    let mut checked = 0;
    for n in 0..40u8 {
        let ip: IpAddr = format!("198.51.100.{n}").parse().unwrap();
        checked += u32::from(guess(&services, ip, &format!("v4-{n}")).await);
    }
    assert_eq!(checked, 40, "{}: IPv4 per address", db.engine());
    operator.close().await;
}

#[tokio::test]
async fn forty_addresses_of_one_64_get_the_login_budget_of_one() {
    each_engine(login_budgets).await;
}

async fn registration_budgets(db: TestDatabase) {
    let config = ServicesConfig::new(common::config().with_allow_registration(true));
    let (services, operator) = testing::open(&db.url(), config).await;
    testing::seed(&operator, "registrations").await;
    let mut admitted = 0;
    for n in 0..40u32 {
        let client = from(in_one_network(n));
        let done = services
            .anonymous(&client)
            .register(Registration {
                email: format!("user{n}@example.com"),
                username: format!("user{n}"),
                password: Secret::new("a-long-enough-password"),
                full_name: None,
                role: None,
            })
            .await;
        match done {
            Ok(_) => admitted += 1,
            Err(curatore_service::ServiceError::Limited(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
    // common::config(): 5 registrations per client address.
    assert_eq!(admitted, 5, "{}", db.engine());
    operator.close().await;
}

#[tokio::test]
async fn forty_addresses_of_one_64_get_the_registration_budget_of_one() {
    each_engine(registration_budgets).await;
}
