use crate::error::DomainError;
use std::fmt;

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the value.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

validated_string!(
    /// An organization's URL name: 2–100 characters of lowercase letters,
    /// digits and single `-` between them (`acme-research`).
    Slug
);
validated_string!(
    /// An e-mail address, normalised to lower case so uniqueness is
    /// case-insensitive on every engine.
    EmailAddress
);
validated_string!(
    /// A login name: 3–100 characters of ASCII letters, digits, `_`, `-` and `.`.
    /// Case is kept as typed.
    Username
);

impl Slug {
    /// Validates a slug. Does not lowercase: a slug is an identifier and a
    /// silently changed one surprises.
    ///
    /// # Errors
    /// When the length or the characters break the rule above.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let bytes = raw.as_bytes();
        if !(2..=100).contains(&bytes.len()) {
            return Err(DomainError::invalid(
                "slug",
                "must be 2-100 characters long",
            ));
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        {
            return Err(DomainError::invalid(
                "slug",
                "may hold only lowercase letters, digits and `-`",
            ));
        }
        if raw.starts_with('-') || raw.ends_with('-') || raw.contains("--") {
            return Err(DomainError::invalid(
                "slug",
                "`-` may only separate letters or digits (not lead, trail or repeat)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

impl EmailAddress {
    /// Validates and lowercases an address: an RFC 5322 `addr-spec` in its
    /// dot-atom form (quoted local parts and address literals are refused),
    /// letters beyond ASCII allowed as RFC 6531 does, nothing invisible or
    /// direction-changing. Lowercased whole, so uniqueness is
    /// case-insensitive on every engine. The only real proof of an address is
    /// a message that arrives; this only keeps out what cannot be one.
    ///
    /// # Errors
    /// When the shape is wrong or it is longer than 254 bytes.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let value = raw.trim().to_lowercase();
        if value.is_empty() || value.len() > 254 {
            return Err(DomainError::invalid(
                "email",
                "must be 1-254 characters long",
            ));
        }
        crate::text::check_line("email", &value)?;
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(DomainError::invalid("email", "must contain `@`"));
        };
        if !is_dot_atom(local, |c| {
            c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
        }) || local.len() > 64
        {
            return Err(DomainError::invalid(
                "email",
                "the part before `@` is not a valid address",
            ));
        }
        let labels_ok = domain.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        let tld_ok = domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()));
        if !domain.contains('.') || !labels_ok || !tld_ok {
            return Err(DomainError::invalid(
                "email",
                "the part after `@` is not a valid domain",
            ));
        }
        Ok(Self(value))
    }
}

/// RFC 5322 dot-atom: runs of allowed characters joined by single dots.
fn is_dot_atom(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(&allowed))
}

impl Username {
    /// Validates a username.
    ///
    /// # Errors
    /// When the length or the characters break the rule above.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if !(3..=100).contains(&raw.len()) {
            return Err(DomainError::invalid(
                "username",
                "must be 3-100 characters long",
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err(DomainError::invalid(
                "username",
                "may hold only letters, digits, `_`, `-` and `.`",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("default").is_ok());
        assert!(Slug::parse("acme-research-2").is_ok());
        for bad in [
            "",
            "a",
            "Acme",
            "-a",
            "a-",
            "a--b",
            "a_b",
            "a b",
            &"a".repeat(101),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_lowercased() {
        assert_eq!(
            EmailAddress::parse(" Admin@Example.COM ").unwrap().as_str(),
            "admin@example.com"
        );
        for bad in ["", "no-at", "a@b", "@b.c", "a@.c", "a b@c.d", "a@b@c.d"] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        for good in [
            "first.last+tag@sub.example.org",
            "o'brien@example.ie",
            "zoë@exämple.de",
        ] {
            assert!(EmailAddress::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn look_alike_emails_are_refused() {
        for bad in [
            "admin\u{200b}@example.com",
            "admin@example.com\u{feff}",
            "\u{202e}admin@example.com",
            "admin\u{0}@example.com",
            ".admin@example.com",
            "ad..min@example.com",
            "admin@-example.com",
            "admin@example.123",
            "\"quoted\"@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            EmailAddress::parse("Admin@EXAMPLE.com").unwrap().as_str(),
            "admin@example.com"
        );
    }

    #[test]
    fn usernames() {
        assert!(Username::parse("Admin_1.x").is_ok());
        for bad in ["ab", "has space", "ümlaut", &"a".repeat(101)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deserialising_validates() {
        let e: Result<Slug, _> = serde_json::from_str("\"Bad Slug\"");
        assert!(e.is_err());
    }
}
