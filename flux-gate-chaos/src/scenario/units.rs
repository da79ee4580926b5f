//! The human-first value types of a scenario file: durations (`5s`, `250ms`), rates
//! (`2000/s`), percentages (`99.5%`) and thresholds (`>= 99%`, `< 30s`).
//!
//! Each parses from a string with an error that shows an accepted form, serialises back to
//! the same form, and describes itself in the JSON Schema as a string with a pattern so
//! editors can check it while the user types.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// Implements `Deserialize`/`Serialize` through `FromStr`/`Display`, and `JsonSchema` as a
/// string matching `$pattern`.
macro_rules! string_value {
    ($ty:ident, $name:literal, $pattern:literal, $example:literal) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(TextVisitor::<$ty> {
                    name: $name,
                    example: $example,
                    ty: std::marker::PhantomData,
                })
            }
        }
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": $pattern,
                    "description": concat!($name, ", e.g. `", $example, "`"),
                    "examples": [$example]
                })
            }
        }
    };
}

/// Reads a value written as text — numbers too (`stock: 100` style), as YAML prints them — and
/// parses it *inside* the visitor: an error raised there is placed by serde_yaml at the value's
/// own line and column, where one raised after the value was read would only get its mapping's.
struct TextVisitor<T> {
    name: &'static str,
    example: &'static str,
    ty: std::marker::PhantomData<T>,
}

impl<T> TextVisitor<T> {
    fn wrong<E: de::Error>(&self, found: &str) -> E {
        E::custom(format!(
            "expected {} like `{}`, found {found}",
            self.name, self.example
        ))
    }
}

impl<'de, T: FromStr<Err = String>> de::Visitor<'de> for TextVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} like `{}`", self.name, self.example)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        v.parse().map_err(E::custom)
    }
    // Numbers as serde_yaml writes them (`1.0`, `.inf`), so a number reads as it always has.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&serde_yaml::Number::from(v).to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&serde_yaml::Number::from(v).to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&serde_yaml::Number::from(v).to_string())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<T, E> {
        Err(self.wrong("a boolean"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<T, E> {
        Err(self.wrong("nothing"))
    }
    fn visit_none<E: de::Error>(self) -> Result<T, E> {
        Err(self.wrong("nothing"))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.wrong("a list"))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.wrong("a mapping"))
    }
    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<T, A::Error> {
        Err(self.wrong("a tagged value"))
    }
}

/// A duration written as `250ms`, `5s`, `1m30s` (humantime syntax).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn secs(s: u64) -> Self {
        Dur(Duration::from_secs(s))
    }
    pub const fn millis(ms: u64) -> Self {
        Dur(Duration::from_millis(ms))
    }
    pub fn get(self) -> Duration {
        self.0
    }
}

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "0" {
            return Ok(Dur(Duration::ZERO));
        }
        humantime::parse_duration(t).map(Dur).map_err(|e| {
            format!("`{s}` is not a duration ({e}); write it like `5s`, `250ms` or `1m30s`")
        })
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        write!(f, "{}", humantime::format_duration(self.0))
    }
}
string_value!(
    Dur,
    "a duration",
    r"^\s*(0|([0-9]+(\.[0-9]+)?\s*(ns|us|µs|ms|s|sec|m|min|h|hr)\s*)+)\s*$",
    "5s"
);

/// An arrival rate written as `2000/s` (also `/ms`, `/m`, `/min`); a bare number is per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Rate {
    pub per_second: f64,
}

impl FromStr for Rate {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a rate; write it like `2000/s` or `30/m`");
        let t = s.trim();
        let (n, unit) = t.split_once('/').unwrap_or((t, "s"));
        let n: f64 = n.trim().parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" | "sec" => 1.0,
            "ms" => 0.001,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        if !n.is_finite() || n < 0.0 {
            return Err(format!("`{s}`: a rate must be a number ≥ 0, like `2000/s`"));
        }
        Ok(Rate {
            per_second: n / per,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}
string_value!(
    Rate,
    "a rate",
    r"^\s*[0-9]+(\.[0-9]+)?\s*(/\s*(s|sec|ms|m|min|h))?\s*$",
    "2000/s"
);

/// A comparison in a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn parse(s: &str) -> Option<(Cmp, &str)> {
        for (tok, cmp) in [
            (">=", Cmp::Ge),
            ("<=", Cmp::Le),
            ("≥", Cmp::Ge),
            ("≤", Cmp::Le),
            (">", Cmp::Gt),
            ("<", Cmp::Lt),
        ] {
            if let Some(rest) = s.strip_prefix(tok) {
                return Some((cmp, rest));
            }
        }
        None
    }

    pub fn holds<T: PartialOrd>(self, value: T, limit: T) -> bool {
        match self {
            Cmp::Lt => value < limit,
            Cmp::Le => value <= limit,
            Cmp::Gt => value > limit,
            Cmp::Ge => value >= limit,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// `>= 99.5%`: a share of requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PercentThreshold {
    pub cmp: Cmp,
    /// 0.0 ..= 100.0
    pub percent: f64,
}

impl FromStr for PercentThreshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a percentage threshold; write it like `>= 99.5%`");
        let t = s.trim();
        let (cmp, rest) = Cmp::parse(t).unwrap_or((Cmp::Ge, t));
        let n = rest.trim().strip_suffix('%').ok_or_else(bad)?;
        let percent: f64 = n.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&percent) {
            return Err(format!("`{s}`: a percentage must be between 0% and 100%"));
        }
        Ok(PercentThreshold { cmp, percent })
    }
}

impl fmt::Display for PercentThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}%", self.cmp.as_str(), self.percent)
    }
}
string_value!(
    PercentThreshold,
    "a percentage threshold",
    r"^\s*(>=|<=|>|<|≥|≤)?\s*[0-9]+(\.[0-9]+)?\s*%\s*$",
    ">= 99.5%"
);

/// `< 30s`: a bound on a duration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurThreshold {
    pub cmp: Cmp,
    pub limit: Dur,
}

impl DurThreshold {
    pub fn holds(&self, value: Duration) -> bool {
        self.cmp.holds(value, self.limit.0)
    }
}

impl FromStr for DurThreshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (cmp, rest) = Cmp::parse(t).unwrap_or((Cmp::Le, t));
        let limit: Dur = rest.parse().map_err(|_| {
            format!("`{s}` is not a duration threshold; write it like `< 30s` or `<= 250ms`")
        })?;
        Ok(DurThreshold { cmp, limit })
    }
}

impl fmt::Display for DurThreshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.cmp.as_str(), self.limit)
    }
}
string_value!(
    DurThreshold,
    "a duration threshold",
    r"^\s*(>=|<=|>|<|≥|≤)?\s*\S.*$",
    "< 30s"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!("5s".parse::<Dur>().unwrap(), Dur::secs(5));
        assert_eq!("250ms".parse::<Dur>().unwrap(), Dur::millis(250));
        assert_eq!("1m30s".parse::<Dur>().unwrap(), Dur::secs(90));
        assert_eq!("0".parse::<Dur>().unwrap(), Dur::secs(0));
        let e = "5 parsecs".parse::<Dur>().unwrap_err();
        assert!(
            e.contains("`5 parsecs` is not a duration") && e.contains("`250ms`"),
            "{e}"
        );
        assert_eq!(Dur::millis(1500).to_string(), "1s 500ms");
        assert_eq!(Dur::secs(0).to_string(), "0s");
    }

    #[test]
    fn rates() {
        assert_eq!("2000/s".parse::<Rate>().unwrap().per_second, 2000.0);
        assert_eq!("120/m".parse::<Rate>().unwrap().per_second, 2.0);
        assert_eq!("2/ms".parse::<Rate>().unwrap().per_second, 2000.0);
        assert_eq!("50".parse::<Rate>().unwrap().per_second, 50.0);
        assert!("fast".parse::<Rate>().unwrap_err().contains("`2000/s`"));
        assert!("10/fortnight".parse::<Rate>().is_err());
        assert!("-5/s".parse::<Rate>().is_err());
    }

    #[test]
    fn thresholds() {
        let p: PercentThreshold = ">= 99.5%".parse().unwrap();
        assert_eq!((p.cmp, p.percent), (Cmp::Ge, 99.5));
        assert!(Cmp::Ge.holds(100.0, p.percent) && !Cmp::Ge.holds(99.0, p.percent));
        assert!("101%".parse::<PercentThreshold>().is_err());
        assert!("99"
            .parse::<PercentThreshold>()
            .unwrap_err()
            .contains("`>= 99.5%`"));
        let d: DurThreshold = "< 30s".parse().unwrap();
        assert!(d.holds(Duration::from_secs(29)) && !d.holds(Duration::from_secs(30)));
        let d: DurThreshold = "2s".parse().unwrap();
        assert!(d.holds(Duration::from_secs(2)));
        assert!("< soon".parse::<DurThreshold>().is_err());
    }

    #[test]
    fn values_deserialise_from_yaml_numbers_and_text() {
        let r: Rate = serde_yaml::from_str("500").unwrap();
        assert_eq!(r.per_second, 500.0);
        let e = serde_yaml::from_str::<Dur>("[1, 2]")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected a duration like `5s`, found a list"),
            "{e}"
        );
    }
}
