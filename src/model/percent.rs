//! Percentages: numbers 0–100 compared numerically, written as integers when whole.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A percentage. `50`, `50.0` and `5e1` are the same value; a whole value serializes as an
/// integer so that imported files and plans read naturally.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Percent(pub f64);

impl Percent {
    /// 100%.
    pub const FULL: Percent = Percent(100.0);

    /// The value as a number.
    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether two percentages are equal within PostHog's tolerance.
    pub fn same(self, other: Percent) -> bool {
        (self.0 - other.0).abs() < 1e-9
    }
}

impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            #[allow(clippy::cast_possible_truncation)]
            let whole = self.0 as i64;
            write!(f, "{whole}%")
        } else {
            write!(f, "{}%", self.0)
        }
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.fract() == 0.0 && self.0.abs() < 1e15 {
            #[allow(clippy::cast_possible_truncation)]
            serializer.serialize_i64(self.0 as i64)
        } else {
            serializer.serialize_f64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Percent)
    }
}

impl JsonSchema for Percent {
    fn schema_name() -> Cow<'static, str> {
        "Percent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "number",
            "minimum": 0,
            "maximum": 100,
            "description": "A percentage from 0 to 100."
        })
    }
}
