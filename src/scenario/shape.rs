//! The shape of a serializable type — its fields, nested types and enum
//! values — read from its derived `Deserialize`, so that the fields an
//! event pattern may name come from the event types themselves rather than
//! from a second, hand-written list that could drift from them.
//!
//! A derived `Deserialize` hands every struct's field names and every
//! enum's variant names to the deserializer. [`Shape::of`] runs the type's
//! `Deserialize` against a probe deserializer that records them, answering
//! with placeholder values; an enum answers one variant a pass, and passes
//! repeat until every variant (and every enum inside one) has been seen.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

/// What a value of a type looks like as JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// Anything else that holds no named parts (a map, a tuple, unit).
    Opaque,
    /// An object with these fields, in declaration order.
    Struct(Vec<(&'static str, Shape)>),
    /// An externally tagged enum: its variants in declaration order, each
    /// with its payload ([`Shape::Opaque`] for a unit variant, written as
    /// the bare name).
    Enum(Vec<(&'static str, Option<Shape>)>),
    /// A list of this.
    Seq(Box<Shape>),
    /// This, or `null`.
    Option(Box<Shape>),
    /// An error: `{"code", "message", ...fields}` ([`crate::error_data`]);
    /// a pattern matches it by its code as a string.
    Error,
}

/// Why a type's shape could not be read (a hand-written `Deserialize` that
/// refuses the probe's placeholder values, or a type that contains itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the shape of a type: {0}")]
pub struct ShapeError(String);

impl de::Error for ShapeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

impl Shape {
    /// The shape of `T`, from its derived `Deserialize`.
    pub fn of<T: DeserializeOwned>() -> Result<Shape, ShapeError> {
        let state = RefCell::new(State::default());
        // Each pass explores at least one variant not seen before; a pass
        // that explores none would repeat forever, so it ends the search.
        loop {
            let before = state.borrow().explored();
            let mut root = Shape::Opaque;
            state.borrow_mut().strings = 0;
            let pass = T::deserialize(Probe {
                state: &state,
                out: &mut root,
                depth: 0,
            });
            if let Err(error) = pass {
                // A type that refused the last placeholder string (a digest
                // wants 64 hex digits) is asked again with the long one; a
                // failed pass records nothing, so the retry takes the same
                // path.
                let mut state = state.borrow_mut();
                let Some(last) = state.strings.checked_sub(1) else {
                    return Err(error);
                };
                if !state.long_strings.insert(last) {
                    return Err(error);
                }
                continue;
            }
            let state_now = state.borrow();
            if state_now.complete() || state_now.explored() == before {
                return Ok(state_now.resolve(&root));
            }
        }
    }

    /// The variant names of an enum shape whose variants are all unit
    /// (written as bare strings): `None` for any other shape.
    pub fn unit_variants(&self) -> Option<Vec<&'static str>> {
        match self {
            Shape::Enum(variants) => Some(
                variants
                    .iter()
                    .filter(|(_, payload)| matches!(payload, Some(Shape::Opaque)))
                    .map(|(name, _)| *name)
                    .collect(),
            ),
            _ => None,
        }
    }
}

/// An enum as the probe has seen it so far.
#[derive(Default)]
struct EnumSeen {
    variants: &'static [&'static str],
    /// Each explored variant's payload, and the enums met inside it.
    explored: BTreeMap<usize, (Shape, BTreeSet<&'static str>)>,
}

#[derive(Default)]
struct State {
    enums: BTreeMap<&'static str, EnumSeen>,
    /// The enums met since the innermost enum being explored started, so
    /// each variant knows which enums it leads to.
    met: Vec<BTreeSet<&'static str>>,
    /// The placeholder strings handed out so far this pass.
    strings: usize,
    /// Which of them (by order in the pass) get [`LONG_PLACEHOLDER`].
    long_strings: BTreeSet<usize>,
}

/// The placeholder string for a type that refuses `"0"`: 64 zeros, a valid
/// hex digest.
const LONG_PLACEHOLDER: &str = "0000000000000000000000000000000000000000000000000000000000000000";

impl State {
    /// The next placeholder string of this pass.
    fn placeholder(&mut self) -> &'static str {
        let index = self.strings;
        self.strings += 1;
        if self.long_strings.contains(&index) {
            LONG_PLACEHOLDER
        } else {
            "0"
        }
    }
}

impl State {
    fn explored(&self) -> usize {
        self.enums.values().map(|e| e.explored.len()).sum()
    }

    fn enum_complete(&self, name: &str, seen: &mut BTreeSet<String>) -> bool {
        if !seen.insert(name.to_owned()) {
            return true;
        }
        let Some(e) = self.enums.get(name) else {
            return false;
        };
        e.explored.len() == e.variants.len()
            && e.explored
                .values()
                .all(|(_, inner)| inner.iter().all(|n| self.enum_complete(n, seen)))
    }

    fn complete(&self) -> bool {
        self.enums
            .keys()
            .all(|name| self.enum_complete(name, &mut BTreeSet::new()))
    }

    /// The variant to answer for `name` this pass: the first one not seen,
    /// else the first that leads to an enum not fully seen.
    fn pick(&self, name: &'static str, variants: &'static [&'static str]) -> usize {
        let Some(e) = self.enums.get(name) else {
            return 0;
        };
        (0..variants.len())
            .find(|i| !e.explored.contains_key(i))
            .or_else(|| {
                e.explored.iter().find_map(|(i, (_, inner))| {
                    inner
                        .iter()
                        .any(|n| !self.enum_complete(n, &mut BTreeSet::from([name.to_owned()])))
                        .then_some(*i)
                })
            })
            .unwrap_or(0)
    }

    /// `shape` with every enum reference filled in with its variants.
    fn resolve(&self, shape: &Shape) -> Shape {
        self.resolve_depth(shape, 0)
    }

    fn resolve_depth(&self, shape: &Shape, depth: usize) -> Shape {
        if depth > MAX_DEPTH {
            return Shape::Opaque;
        }
        match shape {
            Shape::Struct(fields) => Shape::Struct(
                fields
                    .iter()
                    .map(|(n, s)| (*n, self.resolve_depth(s, depth + 1)))
                    .collect(),
            ),
            Shape::Seq(inner) => Shape::Seq(Box::new(self.resolve_depth(inner, depth + 1))),
            Shape::Option(inner) => Shape::Option(Box::new(self.resolve_depth(inner, depth + 1))),
            Shape::Enum(refs) => {
                // A probed enum is recorded as a one-variant reference
                // carrying its name; fill in all its variants.
                let Some((name, _)) = refs.first() else {
                    return Shape::Opaque;
                };
                let Some(e) = self.enums.get(name) else {
                    return Shape::Opaque;
                };
                Shape::Enum(
                    e.variants
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            (
                                *v,
                                e.explored
                                    .get(&i)
                                    .map(|(payload, _)| self.resolve_depth(payload, depth + 1)),
                            )
                        })
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }
}

/// Deeper than this, a type is taken to contain itself.
const MAX_DEPTH: usize = 32;

struct Probe<'s, 'o> {
    state: &'s RefCell<State>,
    out: &'o mut Shape,
    depth: usize,
}

impl<'s> Probe<'s, '_> {
    fn child<'o>(&self, out: &'o mut Shape) -> Result<Probe<'s, 'o>, ShapeError> {
        if self.depth >= MAX_DEPTH {
            return Err(ShapeError("the type contains itself".into()));
        }
        Ok(Probe {
            state: self.state,
            out,
            depth: self.depth + 1,
        })
    }

    fn fields<'de, V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        let mut shapes = vec![Shape::Opaque; fields.len()];
        let mut unused = Shape::Opaque;
        let value = visitor.visit_map(FieldsProbe {
            probe: self.child(&mut unused)?,
            fields,
            shapes: &mut shapes,
            next: 0,
        })?;
        *self.out = Shape::Struct(fields.iter().copied().zip(shapes).collect());
        Ok(value)
    }
}

macro_rules! scalar {
    ($($method:ident => $visit:ident($value:expr), $shape:expr;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
                *self.out = $shape;
                visitor.$visit($value)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for Probe<'_, '_> {
    type Error = ShapeError;

    scalar! {
        deserialize_bool => visit_bool(false), Shape::Bool;
        deserialize_i8 => visit_i8(0), Shape::Number;
        deserialize_i16 => visit_i16(0), Shape::Number;
        deserialize_i32 => visit_i32(0), Shape::Number;
        deserialize_i64 => visit_i64(0), Shape::Number;
        deserialize_u8 => visit_u8(0), Shape::Number;
        deserialize_u16 => visit_u16(0), Shape::Number;
        deserialize_u32 => visit_u32(0), Shape::Number;
        deserialize_u64 => visit_u64(0), Shape::Number;
        deserialize_f32 => visit_f32(0.0), Shape::Number;
        deserialize_f64 => visit_f64(0.0), Shape::Number;
        deserialize_char => visit_char('0'), Shape::String;
        deserialize_identifier => visit_str("0"), Shape::String;
        deserialize_bytes => visit_bytes(&[]), Shape::Opaque;
        deserialize_byte_buf => visit_bytes(&[]), Shape::Opaque;
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        *self.out = Shape::String;
        let placeholder = self.state.borrow_mut().placeholder();
        visitor.visit_str(placeholder)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        *self.out = Shape::Opaque;
        visitor.visit_unit()
    }

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, ShapeError> {
        Err(ShapeError("a self-describing type has no fixed shape".into()))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        let mut inner = Shape::Opaque;
        let value = visitor.visit_some(self.child(&mut inner)?)?;
        *self.out = Shape::Option(Box::new(inner));
        Ok(value)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        *self.out = Shape::Opaque;
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        if name == crate::error_data::MARKER {
            // An error's fields depend on its kind; what a pattern matches
            // is its code.
            *self.out = Shape::Error;
            return visitor.visit_newtype_struct(de::value::BytesDeserializer::<ShapeError>::new(
                crate::error_data::PROBE_BYTES,
            ));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        let mut inner = Shape::Opaque;
        let value = visitor.visit_seq(SeqProbe {
            probe: self.child(&mut inner)?,
            left: 1,
        })?;
        *self.out = Shape::Seq(Box::new(inner));
        Ok(value)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, ShapeError> {
        *self.out = Shape::Opaque;
        let mut unused = Shape::Opaque;
        visitor.visit_seq(SeqProbe {
            probe: self.child(&mut unused)?,
            left: len,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ShapeError> {
        *self.out = Shape::Opaque;
        visitor.visit_map(
            de::value::MapDeserializer::<std::iter::Empty<((), ())>, ShapeError>::new(std::iter::empty()),
        )
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        self.fields(fields, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        if variants.is_empty() {
            return Err(ShapeError(format!("enum {name} has no variants")));
        }
        let pick = {
            let mut state = self.state.borrow_mut();
            if let Some(outer) = state.met.last_mut() {
                outer.insert(name);
            }
            state.met.push(BTreeSet::new());
            state.enums.entry(name).or_default().variants = variants;
            state.pick(name, variants)
        };
        let mut payload = Shape::Opaque;
        let value = visitor.visit_enum(EnumProbe {
            probe: self.child(&mut payload)?,
            variant: variants[pick],
        });
        let mut state = self.state.borrow_mut();
        let inner = state.met.pop().unwrap_or_default();
        let value = value?;
        if let Some(seen) = state.enums.get_mut(name) {
            seen.explored.insert(pick, (payload, inner));
        }
        *self.out = Shape::Enum(vec![(name, None)]);
        Ok(value)
    }
}

struct SeqProbe<'s, 'o> {
    probe: Probe<'s, 'o>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for SeqProbe<'_, '_> {
    type Error = ShapeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ShapeError> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        seed.deserialize(Probe {
            state: self.probe.state,
            out: &mut *self.probe.out,
            depth: self.probe.depth,
        })
        .map(Some)
    }
}

struct FieldsProbe<'s, 'o, 'f> {
    probe: Probe<'s, 'o>,
    fields: &'static [&'static str],
    shapes: &'f mut [Shape],
    next: usize,
}

impl<'de> de::MapAccess<'de> for FieldsProbe<'_, '_, '_> {
    type Error = ShapeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, ShapeError> {
        match self.fields.get(self.next) {
            None => Ok(None),
            Some(field) => seed
                .deserialize(IntoDeserializer::<ShapeError>::into_deserializer(*field))
                .map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, ShapeError> {
        let index = self.next;
        self.next += 1;
        let out = self
            .shapes
            .get_mut(index)
            .ok_or_else(|| ShapeError("a value without a key".into()))?;
        seed.deserialize(Probe {
            state: self.probe.state,
            out,
            depth: self.probe.depth,
        })
    }
}

struct EnumProbe<'s, 'o> {
    probe: Probe<'s, 'o>,
    variant: &'static str,
}

impl<'de, 's, 'o> de::EnumAccess<'de> for EnumProbe<'s, 'o> {
    type Error = ShapeError;
    type Variant = Probe<'s, 'o>;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Probe<'s, 'o>), ShapeError> {
        let variant = seed.deserialize(IntoDeserializer::<ShapeError>::into_deserializer(self.variant))?;
        Ok((variant, self.probe))
    }
}

impl<'de> de::VariantAccess<'de> for Probe<'_, '_> {
    type Error = ShapeError;

    fn unit_variant(self) -> Result<(), ShapeError> {
        *self.out = Shape::Opaque;
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, ShapeError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, ShapeError> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ShapeError> {
        self.fields(fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    #[serde(rename_all = "snake_case")]
    enum Reason {
        Lost,
        PoweredOff,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Inner {
        Plain,
        Failed { why: Option<Reason> },
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        level: f32,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    enum Event {
        Gone {
            reason: Reason,
        },
        Listed {
            items: Vec<Item>,
            on: bool,
        },
        Nested {
            inner: Inner,
        },
        Skipping {
            #[serde(skip)]
            handle: u8,
            kept: u64,
        },
    }

    #[test]
    fn every_variant_field_and_nested_enum_value_is_read_from_the_derive() {
        let reason = Shape::Enum(vec![
            ("lost", Some(Shape::Opaque)),
            ("powered_off", Some(Shape::Opaque)),
        ]);
        let expected = Shape::Enum(vec![
            ("Gone", Some(Shape::Struct(vec![("reason", reason.clone())]))),
            (
                "Listed",
                Some(Shape::Struct(vec![
                    (
                        "items",
                        Shape::Seq(Box::new(Shape::Struct(vec![
                            ("id", Shape::String),
                            ("level", Shape::Number),
                        ]))),
                    ),
                    ("on", Shape::Bool),
                ])),
            ),
            (
                "Nested",
                Some(Shape::Struct(vec![(
                    "inner",
                    Shape::Enum(vec![
                        ("Plain", Some(Shape::Opaque)),
                        (
                            "Failed",
                            Some(Shape::Struct(vec![(
                                "why",
                                Shape::Option(Box::new(reason.clone())),
                            )])),
                        ),
                    ]),
                )])),
            ),
            ("Skipping", Some(Shape::Struct(vec![("kept", Shape::Number)]))),
        ]);
        assert_eq!(Shape::of::<Event>().unwrap(), expected);
        assert_eq!(
            Shape::of::<Reason>().unwrap().unit_variants(),
            Some(vec!["lost", "powered_off"])
        );
    }

    #[test]
    fn a_field_that_refuses_the_short_placeholder_is_read_with_the_long_one() {
        use crate::updater::Sha256Digest;
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Update {
            version: String,
            sha256: Sha256Digest,
            size: u32,
        }
        assert_eq!(
            Shape::of::<Update>().unwrap(),
            Shape::Struct(vec![
                ("version", Shape::String),
                ("sha256", Shape::String),
                ("size", Shape::Number),
            ])
        );
        // A string nothing accepts is still an error, not a loop.
        struct Never;
        impl<'de> Deserialize<'de> for Never {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?;
                Err(serde::de::Error::custom("never"))
            }
        }
        assert!(Shape::of::<Never>().is_err());
    }
}
