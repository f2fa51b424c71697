//! The sparse part of a batch, sent by the TypeScript layer as one JSON string per `append`:
//!
//! ```json
//! {"m": [[row, "message"], ...], "f": [[row, keyId, "i" | "f" | "b" | "s", value], ...]}
//! ```
//!
//! `m` gives log messages, `f` gives fields with their type tag: `"i"` a whole number (i64), `"f"` a
//! number (`null` stands for NaN and the infinities, which JSON cannot spell), `"b"` a boolean, `"s"`
//! a string. Rows are ascending in each list; `keyId`s come from `intern`. The JSON is read straight
//! into the batch (no intermediate tree); the row rules are the core's (`Batch::set_message`,
//! `Batch::add_field_at`).

use std::borrow::Cow;
use std::fmt;

use laptime_core::{Batch, NameId, Value};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::errors::Malformed;

/// Attach the messages and fields described by `json` to `batch`.
pub(crate) fn apply(batch: &mut Batch, json: &str) -> Result<(), Malformed> {
    let mut at = Position::Top;
    let mut de = serde_json::Deserializer::from_str(json);
    let result = Extras { batch, at: &mut at }
        .deserialize(&mut de)
        .and_then(|()| de.end());
    result.map_err(|e| match at {
        Position::Top => Malformed(format!("invalid extrasJson: {e}")),
        at => Malformed(format!("invalid extrasJson at {at}: {e}")),
    })
}

/// Which entry is being read, for error messages.
#[derive(Debug, Clone, Copy)]
enum Position {
    Top,
    Message(usize),
    Field(usize),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Top => f.write_str("top level"),
            Position::Message(i) => write!(f, "m[{i}]"),
            Position::Field(i) => write!(f, "f[{i}]"),
        }
    }
}

/// The top-level object.
struct Extras<'a> {
    batch: &'a mut Batch,
    at: &'a mut Position,
}

impl<'de> DeserializeSeed<'de> for Extras<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Extras<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"an object {"m": [...], "f": [...]}"#)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match &*key.0 {
                "m" => map.next_value_seed(List {
                    batch: &mut *self.batch,
                    at: &mut *self.at,
                    kind: Kind::Messages,
                })?,
                "f" => map.next_value_seed(List {
                    batch: &mut *self.batch,
                    at: &mut *self.at,
                    kind: Kind::Fields,
                })?,
                other => {
                    return Err(de::Error::custom(format_args!(
                        "unknown key {other:?}, expected \"m\" or \"f\""
                    )))
                }
            }
            *self.at = Position::Top;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Messages,
    Fields,
}

/// The array under `m` or `f`.
struct List<'a> {
    batch: &'a mut Batch,
    at: &'a mut Position,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for List<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for List<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Messages => f.write_str("an array of [row, message]"),
            Kind::Fields => f.write_str("an array of [row, keyId, type, value]"),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for i in 0.. {
            *self.at = match self.kind {
                Kind::Messages => Position::Message(i),
                Kind::Fields => Position::Field(i),
            };
            let entry = Entry {
                batch: &mut *self.batch,
                kind: self.kind,
            };
            if seq.next_element_seed(entry)?.is_none() {
                break;
            }
        }
        Ok(())
    }
}

/// One `[row, message]` or `[row, keyId, type, value]`.
struct Entry<'a> {
    batch: &'a mut Batch,
    kind: Kind,
}

impl<'de> DeserializeSeed<'de> for Entry<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entry<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Kind::Messages => f.write_str("[row, message]"),
            Kind::Fields => f.write_str(r#"[row, keyId, "i" | "f" | "b" | "s", value]"#),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let row: u32 = next(&mut seq, 0, &self)?;
        let arity = match self.kind {
            Kind::Messages => {
                let message: Text<'de> = next(&mut seq, 1, &self)?;
                self.batch
                    .set_message(row, &message.0)
                    .map_err(de::Error::custom)?;
                2
            }
            Kind::Fields => {
                let key: NameId = next(&mut seq, 1, &self)?;
                let tag: Text<'de> = next(&mut seq, 2, &self)?;
                let value = match &*tag.0 {
                    "i" => Value::I64(next(&mut seq, 3, &self)?),
                    "f" => {
                        Value::F64(next::<Option<f64>, _>(&mut seq, 3, &self)?.unwrap_or(f64::NAN))
                    }
                    "b" => Value::Bool(next(&mut seq, 3, &self)?),
                    "s" => Value::Str(next::<Text<'de>, _>(&mut seq, 3, &self)?.0.into_owned()),
                    other => {
                        return Err(de::Error::invalid_value(
                            de::Unexpected::Str(other),
                            &r#"a type of "i", "f", "b" or "s""#,
                        ))
                    }
                };
                self.batch
                    .add_field_at(row, key, value)
                    .map_err(de::Error::custom)?;
                4
            }
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(arity + 1, &self));
        }
        Ok(())
    }
}

/// The element at `index` of an entry, which must be there.
fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
    seq: &mut A,
    index: usize,
    expected: &dyn de::Expected,
) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::invalid_length(index, expected))
}

/// A string, borrowed from the JSON text when it has no escapes.
struct Text<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }

        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: usize) -> Batch {
        Batch::from_columns(vec![0; n], vec![0; n], vec![0; n], vec![0; n]).unwrap()
    }

    #[test]
    fn messages_and_fields_land_on_their_rows() {
        let mut b = batch(3);
        let json = r#"{"m":[[1,"plain"],[2,"esc\"aped\n"]],
                       "f":[[0,4,"i",-7],[0,5,"f",1.5],[1,6,"b",true],[2,7,"s","x"],[2,8,"f",null]]}"#;
        apply(&mut b, json).unwrap();
        assert_eq!(
            b.messages(),
            &[(1, "plain".to_owned()), (2, "esc\"aped\n".to_owned())]
        );
        let f = b.fields();
        assert_eq!(f.len(), 5);
        assert_eq!((f[0].row, f[0].key, &f[0].value), (0, 4, &Value::I64(-7)));
        assert_eq!(f[1].value, Value::F64(1.5));
        assert_eq!((f[2].row, &f[2].value), (1, &Value::Bool(true)));
        assert_eq!(f[3].value, Value::Str("x".into()));
        assert!(matches!(f[4].value, Value::F64(v) if v.is_nan()));
        apply(&mut batch(1), "{}").unwrap();
    }

    #[test]
    fn errors_say_where() {
        let err = |json: &str| apply(&mut batch(2), json).unwrap_err().0;
        assert!(err(r#"{"f":[[0,1,"i",1],[0,1,"q",2]]}"#).contains("at f[1]:"));
        assert!(err(r#"{"m":[[5,"x"]]}"#).contains("at m[0]: invalid message row"));
        assert!(err(r#"{"m":[[1,"x"],[0,"y"]]}"#).contains("at m[1]"));
        assert!(err(r#"{"f":[[0,1,"i",2.5]]}"#).contains("expected i64"));
        assert!(err(r#"{"f":[[0,1,"b"]]}"#).contains("invalid length 3"));
        assert!(err(r#"{"m":[[0,"x",1]]}"#).contains("invalid length 3"));
        assert!(err(r#"{"x":[]}"#).contains("unknown key \"x\""));
        assert!(err(r#"[]"#).starts_with("invalid extrasJson: invalid type"));
        assert!(err(r#"{} trailing"#).starts_with("invalid extrasJson: trailing"));
    }
}
