//! A JSON import body, `{"items": [...], "mode"?, "callbackUrl"?}`, read
//! in two passes over its bytes: [`outline`] reads the options and counts
//! the items without keeping any, so an import over the item limit is
//! refused before one item is built, whatever the items are; then
//! [`each_item`] hands the items over one at a time, so memory holds the
//! body and one item, as for an NDJSON body, not every item at once.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The fields a body may have.
const FIELDS: &[&str] = &["items", "mode", "callbackUrl"];

/// What the first pass reads of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    /// How many items `items` holds.
    pub items: u64,
    pub mode: Option<String>,
    pub callback_url: Option<String>,
}

/// Reads a body's options and counts its items, keeping none of them.
pub fn outline(bytes: &[u8]) -> Result<Outline, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let outline = de::Deserializer::deserialize_map(&mut de, OutlineVisitor)?;
    de.end()?;
    Ok(outline)
}

/// Calls `take` with each item of a body that [`outline`] read, in order,
/// until it answers `false`.
pub fn each_item(bytes: &[u8], take: impl FnMut(Value) -> bool) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let mut stopped = false;
    let visitor = ItemsVisitor {
        take,
        stopped: &mut stopped,
    };
    match de::Deserializer::deserialize_map(&mut de, visitor) {
        // The parse ends with an error when `take` stops it.
        Err(_) if stopped => Ok(()),
        other => other,
    }
}

struct OutlineVisitor;

impl<'de> Visitor<'de> for OutlineVisitor {
    type Value = Outline;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with items, and optionally mode and callbackUrl")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Outline, A::Error> {
        let (mut items, mut mode, mut callback_url) = (None, None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "items" if items.is_some() => return Err(de::Error::duplicate_field("items")),
                "items" => items = Some(map.next_value_seed(Count)?),
                "mode" => mode = map.next_value::<Option<String>>()?,
                "callbackUrl" => callback_url = map.next_value::<Option<String>>()?,
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        Ok(Outline {
            items: items.ok_or_else(|| de::Error::missing_field("items"))?,
            mode,
            callback_url,
        })
    }
}

/// Counts the elements of an array without building them.
struct Count;

impl<'de> DeserializeSeed<'de> for Count {
    type Value = u64;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Count {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut count = 0;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            count += 1;
        }
        Ok(count)
    }
}

struct ItemsVisitor<'s, F> {
    take: F,
    /// Set when `take` stopped the parse.
    stopped: &'s mut bool,
}

impl<'de, F: FnMut(Value) -> bool> Visitor<'de> for ItemsVisitor<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with items")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                map.next_value_seed(EachItem {
                    take: &mut self.take,
                    stopped: &mut *self.stopped,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EachItem<'a, F> {
    take: &'a mut F,
    stopped: &'a mut bool,
}

impl<'de, F: FnMut(Value) -> bool> DeserializeSeed<'de> for EachItem<'_, F> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: FnMut(Value) -> bool> Visitor<'de> for EachItem<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Value>()? {
            if !(self.take)(item) {
                *self.stopped = true;
                return Err(de::Error::custom("stopped by the reader"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outline_counts_items_and_reads_the_options_in_any_order() {
        let body = br#"{"mode": "missing", "items": [0, {"a": [1, 2]}, "x"], "callbackUrl": null}"#;
        assert_eq!(
            outline(body).expect("an outline"),
            Outline {
                items: 3,
                mode: Some("missing".into()),
                callback_url: None,
            }
        );
        for bad in [
            &br#"{"items": [], "other": 1}"#[..],
            br#"{"mode": "replace"}"#,
            br#"{"items": [1], "items": [2]}"#,
            br#"{"items": [1]} trailing"#,
            br#"[1]"#,
        ] {
            assert!(outline(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn items_come_one_at_a_time_until_told_to_stop() {
        let body = br#"{"items": [1, {"userId": "u"}, 3], "mode": "replace"}"#;
        let mut seen = Vec::new();
        each_item(body, |item| {
            seen.push(item);
            true
        })
        .expect("read");
        assert_eq!(
            seen,
            [
                serde_json::json!(1),
                serde_json::json!({"userId": "u"}),
                serde_json::json!(3)
            ]
        );
        let mut first = Vec::new();
        each_item(body, |item| {
            first.push(item);
            false
        })
        .expect("stopped");
        assert_eq!(first.len(), 1);
    }
}
