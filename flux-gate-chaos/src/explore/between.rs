//! `{ min: 1s, max: 20s }`: a closed range in a space file. Its order is checked while it is
//! read, so an inverted range is an error at the range's own line and column, not after.

use std::fmt::Display;

use schemars::JsonSchema;
use serde::{de, Deserialize, Deserializer, Serialize};

/// A closed range, `min` ≤ `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Between<T> {
    pub min: T,
    pub max: T,
}

impl<T: PartialOrd + Copy> Between<T> {
    pub const fn new(min: T, max: T) -> Self {
        Between { min, max }
    }

    /// `value` held to this range.
    pub fn clamp(&self, value: T) -> T {
        if value < self.min {
            self.min
        } else if value > self.max {
            self.max
        } else {
            value
        }
    }
}

impl<'de, T> Deserialize<'de> for Between<T>
where
    T: Deserialize<'de> + PartialOrd + Display,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RangeVisitor(std::marker::PhantomData))
    }
}

/// Reads `min` and `max` and checks their order *inside* the visitor: serde_yaml places an
/// error raised there at the range itself, where one raised after the mapping was read would
/// get the document's start (the same reason as `scenario::units`' `TextVisitor`).
struct RangeVisitor<T>(std::marker::PhantomData<T>);

impl<'de, T> de::Visitor<'de> for RangeVisitor<T>
where
    T: Deserialize<'de> + PartialOrd + Display,
{
    type Value = Between<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a range like `{ min: 1s, max: 20s }`")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Between<T>, A::Error> {
        let (mut min, mut max) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "min" => min = Some(map.next_value()?),
                "max" => max = Some(map.next_value()?),
                other => return Err(de::Error::unknown_field(other, &["min", "max"])),
            }
        }
        let min: T = min.ok_or_else(|| de::Error::missing_field("min"))?;
        let max: T = max.ok_or_else(|| de::Error::missing_field("max"))?;
        if min > max {
            return Err(de::Error::custom(format!(
                "`min` {min} is above `max` {max}: the range would hold nothing"
            )));
        }
        Ok(Between { min, max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Dur;

    #[test]
    fn an_inverted_range_is_refused_where_it_is_written() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct File {
            name: String,
            duration: Between<Dur>,
        }
        let text = "name: x\nduration: { min: 20s, max: 1s }\n";
        let e = crate::yaml::parse_yaml::<File>(text, "space.yaml").unwrap_err();
        assert_eq!((e.line, e.key.as_str()), (Some(2), "duration"), "{e}");
        assert!(e.message.contains("`min` 20s is above `max` 1s"), "{e}");
        let ok: File =
            crate::yaml::parse_yaml("name: x\nduration: { min: 1s, max: 1s }\n", "f").unwrap();
        assert_eq!(ok.duration, Between::new(Dur::secs(1), Dur::secs(1)));
    }
}
