//! `ulid_id!`: an id newtype over a ULID (48 bits of time, 80 random bits),
//! so ids sort by creation and cannot be guessed, parsed only from their
//! canonical form. [`JobId`](crate::JobId) and
//! [`ImportId`](crate::ImportId) are made by it.

/// Declares `$name`, a ULID id, and `$invalid`, the error of a string that
/// is not one, whose message names `$what`.
macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident, $(#[$invalid_doc:meta])* $invalid:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(ulid::Ulid);

        $(#[$invalid_doc])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("{}", concat!("a", $what, " id is a 26-character ULID such as 01J9Z3G6TQ5V8X2M4N7P0R1S2T"))]
        pub struct $invalid;

        impl $name {
            /// A new, unique id.
            pub fn generate() -> Self {
                Self(ulid::Ulid::generate())
            }

            /// The creation time encoded in the id, in milliseconds since
            /// the epoch.
            pub fn timestamp_ms(&self) -> u64 {
                self.0.timestamp_ms()
            }

            /// The low 64 of the id's 80 random bits: a seed that differs
            /// from id to id.
            pub fn random_part(&self) -> u64 {
                self.0.random() as u64
            }
        }

        impl std::str::FromStr for $name {
            type Err = $invalid;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the canonical form: the decoder accepts some strings
                // (an overflowing first character) that print back
                // differently.
                match ulid::Ulid::from_string(s) {
                    Ok(ulid) if ulid.to_string() == s => Ok(Self(ulid)),
                    _ => Err($invalid),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $invalid;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                value.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

pub(crate) use ulid_id;
