//! Identifiers: UUID v4 newtypes, shown in the lowercase hyphenated form.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (version 4) id. The bytes come from `rand`'s per-thread
            /// generator (uuid's `fast-rng` feature), seeded from the OS and reseeded
            /// periodically, so making an id costs no system call.
            pub fn new_v4() -> Self {
                $name(Uuid::new_v4())
            }

            /// The id made of these 16 bytes, in RFC 4122 (big-endian) order.
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                $name(Uuid::from_bytes(bytes))
            }

            /// The 16 bytes of the id, in RFC 4122 (big-endian) order.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// The underlying UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map($name)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                $name(u)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.hyphenated())
            }
        }
    };
}

uuid_id! {
    /// Identifies one published message (`Id` in PowerShell, `mc_id` in C).
    MessageId
}

uuid_id! {
    /// Identifies one subscription (`mc_id` in C). Ids are never reused, so an id that was
    /// unsubscribed is simply not found.
    SubscriptionId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_bytes_and_text() {
        let id = MessageId::new_v4();
        assert_eq!(MessageId::from_bytes(*id.as_bytes()), id);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<MessageId>().unwrap(), id);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
    }

    #[test]
    fn ids_are_rfc4122_v4_and_distinct_across_threads() {
        use std::collections::HashSet;
        let per_thread: Vec<Vec<MessageId>> = std::thread::scope(|s| {
            let workers: Vec<_> =
                (0..4).map(|_| s.spawn(|| (0..10_000).map(|_| MessageId::new_v4()).collect())).collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut seen = HashSet::new();
        for id in per_thread.into_iter().flatten() {
            assert_eq!(id.as_uuid().get_version(), Some(uuid::Version::Random), "{id}");
            assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122, "{id}");
            assert!(seen.insert(id), "duplicate id {id}");
        }
        assert_eq!(seen.len(), 40_000);
    }

    #[test]
    fn bytes_are_rfc4122_big_endian() {
        let id: SubscriptionId = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
        assert_eq!(id.as_bytes()[0], 0x00);
        assert_eq!(id.as_bytes()[1], 0x11);
        assert_eq!(id.as_bytes()[15], 0xff);
    }
}
