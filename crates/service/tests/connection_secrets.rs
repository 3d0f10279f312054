//! Property tests: whatever the secret values, sealing hides them, redaction
//! shows only the marker, opening gives them back, a form echoing a redacted
//! configuration back keeps every stored secret, and scrubbing removes them
//! from any text.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use curatore_auth::SecretBox;
use curatore_service::ConnectionRegistry;
use curatore_service::connections::config::{
    REDACTED, merge, open, redact, scrub, seal, secret_paths,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn nested_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "api_key": {"type": "string", "writeOnly": true},
            "url": {"type": "string"},
            "auth": {"type": "object", "properties": {
                "password": {"type": "string", "format": "password"},
                "user": {"type": "string"}
            }}
        }
    })
}

fn secret() -> impl Strategy<Value = String> {
    // Printable, at least 8 characters, never the marker itself.
    "[ -~]{8,40}".prop_filter("not the marker", |s| !s.contains(REDACTED))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sealed_and_redacted_forms_never_hold_a_secret(
        key in secret(),
        password in secret(),
        url in "[a-z]{1,12}",
        user in "[a-z]{1,12}",
    ) {
        let b = SecretBox::new([("k1", [5u8; 32])]).unwrap();
        let paths = secret_paths(&nested_schema());
        let plain = json!({"api_key": key, "url": url, "auth": {"password": password, "user": user}});
        let mut stored = plain.clone();
        seal(&mut stored, &paths, &b);
        let shown = redact(&stored, &paths);
        for text in [stored.to_string(), shown.to_string()] {
            prop_assert!(!text.contains(key.as_str()));
            prop_assert!(!text.contains(password.as_str()));
        }
        prop_assert_eq!(&shown["api_key"], REDACTED);
        prop_assert_eq!(&shown["auth"]["password"], REDACTED);
        prop_assert_eq!(&shown["url"], &plain["url"]);
        let mut opened = stored.clone();
        open(&mut opened, &paths, &b).unwrap();
        prop_assert_eq!(&opened, &plain);
        // A form that echoes the GET back changes nothing.
        prop_assert_eq!(merge(&plain, &shown, &paths), plain.clone());
        // Scrubbing removes the values from any text around them.
        let text = format!("upstream said: {key} / {password}!");
        let scrubbed = scrub(&text, &[key.clone(), password.clone()]);
        prop_assert!(!scrubbed.contains(key.as_str()) && !scrubbed.contains(password.as_str()));
    }

    #[test]
    fn a_new_secret_replaces_and_an_omitted_one_stays(old in secret(), new in secret()) {
        let paths = secret_paths(&nested_schema());
        let stored = json!({"api_key": old, "url": "u"});
        prop_assert_eq!(merge(&stored, &json!({"api_key": new}), &paths)["api_key"].clone(), json!(new));
        prop_assert_eq!(merge(&stored, &json!({"url": "v"}), &paths)["api_key"].clone(), json!(old));
    }
}

#[test]
fn the_builtin_types_declare_their_secrets_and_their_examples_validate() {
    let registry = ConnectionRegistry::builtin();
    let expect = [
        ("llm", vec!["api_key"]),
        ("extraction", vec!["api_key"]),
        ("sharepoint", vec!["client_secret"]),
    ];
    for (name, secrets) in expect {
        let kind = registry.get(name).unwrap();
        let found: Vec<String> = kind
            .secret_fields()
            .into_iter()
            .map(|p| p.join("."))
            .collect();
        assert_eq!(found, secrets, "{name}");
        let example = kind.example_config();
        assert!(kind.validate(&example).is_ok(), "{name}: {example}");
    }
    let llm = registry.get("llm").unwrap();
    let err = llm
        .validate(&json!({"model": "m", "base_url": "http://x"}))
        .unwrap_err();
    assert_eq!(err, "config.api_key is required");
}
