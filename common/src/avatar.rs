//! What a stored avatar is: the sides made of it ([`Sides`], from
//! `AVATARS_SIZES`), where each is stored, and its placeholder
//! ([`StoredAvatar`]).
//!
//! The largest side is stored under the avatar's key,
//! `{stamp}/userAvatars/{userId}/avatar.jpg`, and each smaller side `S`
//! beside it as `avatar_S.jpg`, so the folder `{stamp}/userAvatars/{userId}/`
//! holds every object of one avatar and nothing else: deleting or copying
//! an avatar is deleting or copying that folder.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::ObjectKey;

/// The smallest side an avatar may be made at.
pub const MIN_SIDE: u32 = 16;
/// The largest side an avatar may be made at.
pub const MAX_SIDE: u32 = 4096;
/// The most sides one avatar may be made at.
pub const MAX_SIDES: usize = 8;

/// The sides of the squares made of every avatar: at least one, each from
/// [`MIN_SIDE`] to [`MAX_SIDE`], without repeats, largest first.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sides(Vec<u32>);

/// Why a list of sides was refused: the message names the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSides(String);

impl Sides {
    /// One side only.
    pub fn one(side: u32) -> Result<Self, InvalidSides> {
        Self::new(vec![side])
    }

    /// `sides` in any order, repeats dropped.
    pub fn new(mut sides: Vec<u32>) -> Result<Self, InvalidSides> {
        if let Some(bad) = sides
            .iter()
            .find(|side| !(MIN_SIDE..=MAX_SIDE).contains(*side))
        {
            return Err(InvalidSides(format!(
                "the side {bad} is outside {MIN_SIDE} to {MAX_SIDE} pixels"
            )));
        }
        sides.sort_unstable_by(|a, b| b.cmp(a));
        sides.dedup();
        match sides.len() {
            0 => Err(InvalidSides("give at least one side, e.g. 512".into())),
            n if n > MAX_SIDES => Err(InvalidSides(format!(
                "{n} sides are more than the {MAX_SIDES} one avatar may be made at"
            ))),
            _ => Ok(Self(sides)),
        }
    }

    /// The largest side: the one stored under the avatar's key.
    pub fn largest(&self) -> u32 {
        self.0[0]
    }

    /// The other sides, largest first.
    pub fn smaller(&self) -> &[u32] {
        &self.0[1..]
    }

    /// Every side, largest first.
    pub fn all(&self) -> &[u32] {
        &self.0
    }
}

impl FromStr for Sides {
    type Err = InvalidSides;

    /// A comma-separated list, e.g. `512,256,128,64`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let sides = text
            .split(',')
            .map(|part| {
                let part = part.trim();
                part.parse::<u32>().map_err(|_| {
                    InvalidSides(format!(
                        "{part:?} is not a side in pixels; list whole numbers separated by commas, e.g. 512,256,128,64"
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(sides)
    }
}

impl fmt::Display for Sides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, side) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{side}")?;
        }
        Ok(())
    }
}

/// An avatar in the object store: the key of its largest side, the sides
/// it was made at, and its placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAvatar {
    /// Where its largest side is stored.
    pub key: ObjectKey,
    pub sides: Sides,
    /// Its ThumbHash, base64; `None` for an avatar stored before
    /// placeholders were made.
    pub placeholder: Option<String>,
}

impl StoredAvatar {
    /// The public URL of its largest side, under `base` (no trailing `/`).
    pub fn url(&self, base: &str) -> String {
        format!("{base}/{}", self.key)
    }

    /// The public URL of each side, under `base`: `avatarUrls`.
    pub fn urls(&self, base: &str) -> BTreeMap<u32, String> {
        self.objects()
            .map(|(side, key)| (side, format!("{base}/{key}")))
            .collect()
    }

    /// Each side with the key it is stored under, largest first.
    pub fn objects(&self) -> impl Iterator<Item = (u32, ObjectKey)> + '_ {
        let largest = self.sides.largest();
        self.sides.all().iter().map(move |&side| {
            let key = match side == largest {
                true => self.key.clone(),
                false => self.key.resized(side),
            };
            (side, key)
        })
    }
}

impl StoredAvatar {
    /// Reads an avatar from the form the scripts keep it in where one
    /// string holds it (an import's URLs): key, sides and placeholder
    /// separated by `|`. A value of the key alone, written before sides
    /// were made, has the one side `fallback_side`.
    pub fn parse_joined(value: &str, fallback_side: u32) -> Result<Self, String> {
        let mut parts = value.splitn(3, '|');
        let key = ObjectKey::try_from(parts.next().unwrap_or_default().to_owned())
            .map_err(|e| e.to_string())?;
        let sides = match parts.next() {
            Some(sides) => sides.parse::<Sides>(),
            None => Sides::one(fallback_side),
        }
        .map_err(|e| e.to_string())?;
        let placeholder = parts.next().filter(|p| !p.is_empty()).map(str::to_owned);
        Ok(Self {
            key,
            sides,
            placeholder,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_are_kept_largest_first_without_repeats() {
        let sides: Sides = "64, 512,128,256,512".parse().expect("sides");
        assert_eq!(sides.all(), &[512, 256, 128, 64]);
        assert_eq!(
            (sides.largest(), sides.smaller()),
            (512, &[256, 128, 64][..])
        );
        assert_eq!(sides.to_string(), "512,256,128,64");
        assert_eq!(sides.to_string().parse::<Sides>(), Ok(sides));
    }

    #[test]
    fn a_bad_side_is_refused_by_its_number() {
        for (text, says) in [
            ("512,abc", "\"abc\" is not a side"),
            ("512,8", "the side 8 is outside 16 to 4096"),
            ("9000", "the side 9000"),
            ("", "\"\" is not a side"),
            ("16,17,18,19,20,21,22,23,24", "9 sides are more than the 8"),
        ] {
            let error = text.parse::<Sides>().expect_err(text).to_string();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }

    #[test]
    fn each_side_but_the_largest_is_stored_beside_the_avatar() {
        let user = "bob".parse().expect("a user");
        let avatar = StoredAvatar {
            key: ObjectKey::avatar(7, &user),
            sides: "512,128".parse().expect("sides"),
            placeholder: None,
        };
        let objects: Vec<_> = avatar
            .objects()
            .map(|(side, key)| (side, key.to_string()))
            .collect();
        assert_eq!(
            objects,
            [
                (512, "7/userAvatars/bob/avatar.jpg".to_owned()),
                (128, "7/userAvatars/bob/avatar_128.jpg".to_owned())
            ]
        );
    }

    #[test]
    fn an_avatar_reads_back_from_its_joined_form() {
        let avatar = StoredAvatar::parse_joined("7/userAvatars/bob/avatar.jpg|512,64|1QcSHQ", 256)
            .expect("reads");
        assert_eq!(avatar.sides.all(), &[512, 64]);
        assert_eq!(avatar.placeholder.as_deref(), Some("1QcSHQ"));
        let older = StoredAvatar::parse_joined("7/userAvatars/bob/avatar.jpg", 256).expect("reads");
        assert_eq!((older.sides.all(), older.placeholder), (&[256][..], None));
        assert!(StoredAvatar::parse_joined("../x|512|", 256).is_err());
    }
}
