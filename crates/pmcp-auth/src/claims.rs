//! Entra access-token claims, and the strict JSON reader the validator uses for every claims object.
//!
//! `serde_json::Map` silently keeps the last of two equal keys, so a token saying
//! `{"tid":"good","tid":"evil"}` would mean different things to different parsers. The reader here
//! rejects any repeated key (at every depth) and two spellings of a security claim that differ only
//! in case (`tid` and `TID`).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod packed;
mod scan;

pub(crate) use packed::PackedClaims;

/// Claims whose case variants are treated as the same claim (a duplicate).
const CASE_INSENSITIVE_CLAIMS: &[&str] = &[
    "tid", "oid", "iss", "aud", "sub", "exp", "nbf", "ver", "roles", "groups", "scp", "appid",
    "azp", "idtyp",
];

/// Why a claims (or header) object could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StrictJsonError {
    /// A key appears twice (or a security claim twice in different case).
    Duplicate(String),
    /// Not JSON, or not an object.
    Invalid(String),
}

/// Parse a JSON object, rejecting repeated keys at every depth and case variants of the security
/// claims at the top level.
pub(crate) fn parse_object_strict(bytes: &[u8]) -> Result<Map<String, Value>, StrictJsonError> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let seed = StrictSeed {
        dup: &dup,
        top_level: true,
    };
    let parsed = seed.deserialize(&mut de).and_then(|v| {
        de.end()?;
        Ok(v)
    });
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(StrictJsonError::Invalid(format!(
            "expected a JSON object, found {}",
            json_kind(&other)
        ))),
        Err(e) => match dup.into_inner() {
            Some(key) => Err(StrictJsonError::Duplicate(key)),
            None => Err(StrictJsonError::Invalid(e.to_string())),
        },
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[derive(Clone, Copy)]
struct StrictSeed<'a> {
    dup: &'a RefCell<Option<String>>,
    top_level: bool,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = StrictSeed {
            dup: self.dup,
            top_level: false,
        };
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = StrictSeed {
            dup: self.dup,
            top_level: false,
        };
        let mut map = Map::new();
        let mut folded: HashSet<&'static str> = HashSet::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                *self.dup.borrow_mut() = Some(key);
                return Err(de::Error::custom("duplicate key"));
            }
            if self.top_level
                && let Some(canon) = CASE_INSENSITIVE_CLAIMS
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(&key))
                && !folded.insert(canon)
            {
                *self.dup.borrow_mut() = Some((*canon).to_string());
                return Err(de::Error::custom("duplicate key"));
            }
            let value = access.next_value_seed(inner)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Index in [`CASE_INSENSITIVE_CLAIMS`] of the security claim `key` spells in any case, if any:
/// the same answer as searching the list with `eq_ignore_ascii_case`, without the search. Every
/// key of every token goes through here, so the key is lower-cased into one integer and compared
/// with the claims packed the same way.
fn security_claim(key: &str) -> Option<usize> {
    let bytes = key.as_bytes();
    if !(3..=6).contains(&bytes.len()) {
        return None;
    }
    // The length in the top byte: a key with a leading NUL (`"\u0000tid"`) is not `tid`.
    let mut packed = bytes.len() as u64;
    for &b in bytes {
        packed = (packed << 8) | u64::from(b.to_ascii_lowercase());
    }
    SECURITY_PACKED.iter().position(|&p| p == packed)
}

/// [`CASE_INSENSITIVE_CLAIMS`] packed as [`security_claim`] packs a key: the length, then the
/// (at most six) bytes.
const SECURITY_PACKED: [u64; CASE_INSENSITIVE_CLAIMS.len()] = {
    let mut out = [0u64; CASE_INSENSITIVE_CLAIMS.len()];
    let mut i = 0;
    while i < out.len() {
        let name = CASE_INSENSITIVE_CLAIMS[i].as_bytes();
        out[i] = name.len() as u64;
        let mut j = 0;
        while j < name.len() {
            out[i] = (out[i] << 8) | name[j] as u64;
            j += 1;
        }
        i += 1;
    }
    out
};

/// One member of a JSON object as the borrowing reader ([`parse_header_view`],
/// [`parse_claims_view`]) keeps it: only the shapes the validator's typed checks use are told
/// apart; everything else is [`Field::Other`] (still read in full and checked for repeated keys).
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Field<'de> {
    /// The member is not there.
    #[default]
    Absent,
    /// `null`.
    Null,
    /// A non-negative integer.
    U64(u64),
    /// A string, borrowed from the input unless it had escapes.
    Str(Cow<'de, str>),
    /// An array whose elements are all strings.
    Strs(Vec<Cow<'de, str>>),
    /// An object (read with the same strict reader as [`parse_object_strict`]). Boxed: it is
    /// rare (`_claim_names`), and unboxed it would make every field, and so every view, the size
    /// of a map (a view is built and dropped on every validation).
    Object(Box<Map<String, Value>>),
    /// Anything else: a boolean, a negative or fractional number, an array with a non-string.
    Other,
}

impl Field<'_> {
    /// True when the member is present (`null` included), like `Map::contains_key`.
    pub(crate) fn is_present(&self) -> bool {
        !matches!(self, Field::Absent)
    }

    /// The string, when the member is one.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Field::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// What the validator reads from a JWT header. Produced by [`parse_header_view`].
#[derive(Debug, Default)]
pub(crate) struct HeaderView<'de> {
    pub(crate) alg: Field<'de>,
    pub(crate) kid: Field<'de>,
    pub(crate) crit: Field<'de>,
    pub(crate) nonce: Field<'de>,
}

/// Every claim the validator checks or [`EntraClaims`] holds, borrowed from the decoded payload.
/// Produced by [`parse_claims_view`]; other claims are read (and checked for repeats) but not kept.
#[derive(Debug, Default)]
pub(crate) struct ClaimsView<'de> {
    pub(crate) sub: Field<'de>,
    pub(crate) iss: Field<'de>,
    pub(crate) aud: Field<'de>,
    pub(crate) exp: Field<'de>,
    pub(crate) iat: Field<'de>,
    pub(crate) nbf: Field<'de>,
    pub(crate) oid: Field<'de>,
    pub(crate) tid: Field<'de>,
    pub(crate) azp: Field<'de>,
    pub(crate) appid: Field<'de>,
    pub(crate) ver: Field<'de>,
    pub(crate) scp: Field<'de>,
    pub(crate) idtyp: Field<'de>,
    pub(crate) preferred_username: Field<'de>,
    pub(crate) upn: Field<'de>,
    pub(crate) email: Field<'de>,
    pub(crate) name: Field<'de>,
    pub(crate) given_name: Field<'de>,
    pub(crate) family_name: Field<'de>,
    pub(crate) groups: Field<'de>,
    pub(crate) roles: Field<'de>,
    pub(crate) idp: Field<'de>,
    pub(crate) claim_names: Field<'de>,
}

impl<'de> ClaimsView<'de> {
    /// True when every kept claim has a shape whose handling the typed path reproduces exactly
    /// (the checks' verdicts and messages, and the [`EntraClaims`] that `serde_json` would build
    /// from the map). Any other shape — say a fractional `exp`, a numeric `oid`, `aud: [1]` —
    /// goes through the map path, which decides it as it always has.
    pub(crate) fn is_plain(&self) -> bool {
        use Field::*;
        let required_text = |f: &Field| matches!(f, Absent | Str(_));
        let optional_text = |f: &Field| matches!(f, Absent | Null | Str(_));
        let optional_list = |f: &Field| matches!(f, Absent | Null | Strs(_));
        [&self.sub, &self.iss, &self.oid, &self.tid]
            .into_iter()
            .all(required_text)
            && [
                &self.azp,
                &self.appid,
                &self.ver,
                &self.scp,
                &self.idtyp,
                &self.preferred_username,
                &self.upn,
                &self.email,
                &self.name,
                &self.given_name,
                &self.family_name,
                &self.idp,
            ]
            .into_iter()
            .all(optional_text)
            && matches!(self.aud, Absent | Str(_) | Strs(_))
            && matches!(self.exp, Absent | U64(_))
            && matches!(self.nbf, Absent | U64(_))
            && matches!(self.iat, Absent | Null | U64(_))
            && optional_list(&self.groups)
            && optional_list(&self.roles)
            && matches!(self.claim_names, Absent | Null | Object(_))
    }

    /// The claims as [`EntraClaims`]. Call only when [`ClaimsView::is_plain`] and every required
    /// claim is present; then this is what `serde_json::from_value` makes of the same map.
    pub(crate) fn to_entra_claims(&self) -> EntraClaims {
        fn text(f: &Field) -> Option<String> {
            f.as_str().map(str::to_owned)
        }
        fn list(f: &Field) -> Option<Vec<String>> {
            match f {
                Field::Strs(v) => Some(v.iter().map(|s| s.to_string()).collect()),
                _ => None,
            }
        }
        fn number(f: &Field) -> Option<u64> {
            match f {
                Field::U64(v) => Some(*v),
                _ => None,
            }
        }
        EntraClaims {
            sub: text(&self.sub).unwrap_or_default(),
            iss: text(&self.iss).unwrap_or_default(),
            aud: match &self.aud {
                Field::Strs(v) => {
                    ClaimAudience::Multiple(v.iter().map(|s| s.to_string()).collect())
                }
                other => ClaimAudience::Single(text(other).unwrap_or_default()),
            },
            exp: number(&self.exp).unwrap_or_default(),
            iat: number(&self.iat),
            nbf: number(&self.nbf),
            oid: text(&self.oid).unwrap_or_default(),
            tid: text(&self.tid).unwrap_or_default(),
            azp: text(&self.azp),
            appid: text(&self.appid),
            ver: text(&self.ver),
            scp: text(&self.scp),
            idtyp: text(&self.idtyp),
            preferred_username: text(&self.preferred_username),
            upn: text(&self.upn),
            email: text(&self.email),
            name: text(&self.name),
            given_name: text(&self.given_name),
            family_name: text(&self.family_name),
            groups: list(&self.groups),
            roles: list(&self.roles),
            idp: text(&self.idp),
            claim_names: match &self.claim_names {
                Field::Object(m) => Some((**m).clone()),
                _ => None,
            },
        }
    }
}

/// Where a top-level key's value goes: a field of the view, or nowhere (read and dropped).
trait Slots<'de>: Default {
    fn slot(&mut self, key: &str) -> Option<&mut Field<'de>>;
}

impl<'de> Slots<'de> for HeaderView<'de> {
    fn slot(&mut self, key: &str) -> Option<&mut Field<'de>> {
        Some(match key {
            "alg" => &mut self.alg,
            "kid" => &mut self.kid,
            "crit" => &mut self.crit,
            "nonce" => &mut self.nonce,
            _ => return None,
        })
    }
}

impl<'de> Slots<'de> for ClaimsView<'de> {
    fn slot(&mut self, key: &str) -> Option<&mut Field<'de>> {
        Some(match key {
            "sub" => &mut self.sub,
            "iss" => &mut self.iss,
            "aud" => &mut self.aud,
            "exp" => &mut self.exp,
            "iat" => &mut self.iat,
            "nbf" => &mut self.nbf,
            "oid" => &mut self.oid,
            "tid" => &mut self.tid,
            "azp" => &mut self.azp,
            "appid" => &mut self.appid,
            "ver" => &mut self.ver,
            "scp" => &mut self.scp,
            "idtyp" => &mut self.idtyp,
            "preferred_username" => &mut self.preferred_username,
            "upn" => &mut self.upn,
            "email" => &mut self.email,
            "name" => &mut self.name,
            "given_name" => &mut self.given_name,
            "family_name" => &mut self.family_name,
            "groups" => &mut self.groups,
            "roles" => &mut self.roles,
            "idp" => &mut self.idp,
            "_claim_names" => &mut self.claim_names,
            _ => return None,
        })
    }
}

/// Read a JWT header without building a map. `None` when [`parse_object_strict`] would not accept
/// the bytes (ask it for the exact error): the same JSON reader, the same repeated-key rules.
pub(crate) fn parse_header_view(bytes: &[u8]) -> Option<HeaderView<'_>> {
    parse_view(bytes)
}

/// Read a claims object into a [`ClaimsView`] without building a map: one pass, strings borrowed.
/// `None` when [`parse_object_strict`] would not accept the bytes (ask it for the exact error).
pub(crate) fn parse_claims_view(bytes: &[u8]) -> Option<ClaimsView<'_>> {
    parse_view(bytes)
}

fn parse_view<'de, S: Slots<'de>>(bytes: &'de [u8]) -> Option<S> {
    // UTF-8 checked once for the whole object (the map reader checks each string; invalid UTF-8
    // anywhere fails both), so serde_json reads strings without checking them again.
    let text = std::str::from_utf8(bytes).ok()?;
    // The plain JSON of nearly every token, read without serde_json's tokenizer; anything else
    // (and every input that reader refuses) is read by serde_json below.
    scan::view(text).or_else(|| serde_view(text))
}

/// The view through `serde_json`'s tokenizer: any JSON text.
fn serde_view<'de, S: Slots<'de>>(text: &'de str) -> Option<S> {
    let mut de = serde_json::Deserializer::from_str(text);
    let view =
        de::Deserializer::deserialize_any(&mut de, TopVisitor(std::marker::PhantomData)).ok()?;
    de.end().ok()?;
    Some(view)
}

fn duplicate<E: de::Error>() -> E {
    E::custom("duplicate key")
}

/// The borrowing reader's repeated-key rule, equivalent to [`StrictSeed`]'s: within one object
/// no key twice (exact), and at the top level no security claim twice in any case. It only has to
/// say yes or no (on no the caller asks [`parse_object_strict`] which key), so keys are sorted and
/// compared once the object is read, and the security claims are a bit set.
#[derive(Default)]
struct RepeatCheck<'de> {
    keys: Vec<Cow<'de, str>>,
    security: u16,
}

impl<'de> RepeatCheck<'de> {
    fn security_claim<E: de::Error>(&mut self, key: &str) -> Result<(), E> {
        if let Some(i) = security_claim(key) {
            if self.security & (1 << i) != 0 {
                return Err(duplicate());
            }
            self.security |= 1 << i;
        }
        Ok(())
    }

    fn push(&mut self, key: Cow<'de, str>) {
        if self.keys.capacity() == 0 {
            // One allocation for a typical token's other claims, instead of growing 4, 8, 16.
            self.keys.reserve(16);
        }
        self.keys.push(key);
    }

    fn finish<E: de::Error>(mut self) -> Result<(), E> {
        if self.keys.len() > 1 {
            self.keys.sort_unstable();
            if self.keys.windows(2).any(|w| w[0] == w[1]) {
                return Err(duplicate());
            }
        }
        Ok(())
    }
}

struct TopVisitor<S>(std::marker::PhantomData<S>);

impl<'de, S: Slots<'de>> Visitor<'de> for TopVisitor<S> {
    type Value = S;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<S, A::Error> {
        let mut view = S::default();
        let mut repeats = RepeatCheck::default();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            repeats.security_claim(&key)?;
            match view.slot(&key) {
                Some(field) => {
                    // A key the view keeps: a second one is a repeat (every kept value is present).
                    if field.is_present() {
                        return Err(duplicate());
                    }
                    *field = access.next_value_seed(FieldSeed)?;
                }
                None => {
                    repeats.push(key);
                    access.next_value_seed(SkipSeed)?;
                }
            }
        }
        repeats.finish()?;
        Ok(view)
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(CowStr)
    }
}

struct CowStr;

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// A kept member's value.
struct FieldSeed;

impl<'de> DeserializeSeed<'de> for FieldSeed {
    type Value = Field<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Field::U64(v))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Str(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Field::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut strings = Vec::new();
        let mut all_strings = true;
        while let Some(item) = seq.next_element_seed(ItemSeed)? {
            match item {
                Some(s) if all_strings => strings.push(s),
                Some(_) => {}
                None => all_strings = false,
            }
        }
        Ok(if all_strings {
            Field::Strs(strings)
        } else {
            Field::Other
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        // Rare in a kept member (`_claim_names`): build it with the map reader itself.
        let dup = RefCell::new(None);
        let inner = StrictSeed {
            dup: &dup,
            top_level: false,
        };
        match inner.visit_map(access)? {
            Value::Object(map) => Ok(Field::Object(Box::new(map))),
            _ => Ok(Field::Other),
        }
    }
}

/// An array element of a kept member: `Some` for a string, `None` for anything else (read in full).
struct ItemSeed;

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        SkipSeed.visit_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Self::Value, A::Error> {
        SkipSeed.visit_map(access).map(|()| None)
    }
}

/// A member that is not kept: read in full (so bad JSON and repeated keys inside it are still
/// refused) and dropped.
struct SkipSeed;

impl<'de> DeserializeSeed<'de> for SkipSeed {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SkipSeed {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(SkipSeed)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let mut repeats = RepeatCheck::default();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            repeats.push(key);
            access.next_value_seed(SkipSeed)?;
        }
        repeats.finish()
    }
}

/// `aud`: one string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ClaimAudience {
    /// `"aud": "x"` (what Entra sends).
    Single(String),
    /// `"aud": ["x", "y"]`.
    Multiple(Vec<String>),
}

impl ClaimAudience {
    /// The audience values.
    pub fn values(&self) -> Vec<&str> {
        match self {
            ClaimAudience::Single(s) => vec![s.as_str()],
            ClaimAudience::Multiple(v) => v.iter().map(String::as_str).collect(),
        }
    }

    /// True when `aud` is (or includes) `value`.
    pub fn contains(&self, value: &str) -> bool {
        match self {
            ClaimAudience::Single(s) => s == value,
            ClaimAudience::Multiple(v) => v.iter().any(|s| s == value),
        }
    }
}

impl fmt::Display for ClaimAudience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.values().join(", "))
    }
}

/// The claims of a validated Entra ID access token (v2.0, or v1.0 when accepted).
///
/// Use [`EntraClaims::user_id`] (`oid`) as the stable identity, not `sub` (which is pairwise per
/// application) and not `preferred_username` (which users can change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraClaims {
    /// Subject: pairwise identifier of the principal for this application.
    pub sub: String,
    /// Issuer, e.g. `https://login.microsoftonline.com/{tid}/v2.0`.
    pub iss: String,
    /// Audience: this API's client id (v2) or `api://…` (v1).
    pub aud: ClaimAudience,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Issued at (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Object id of the user or service principal: the stable identifier.
    pub oid: String,
    /// Tenant (directory) id the principal signed in to.
    pub tid: String,
    /// Authorized party: the client application's id (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Client application's id (v1 tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appid: Option<String>,
    /// Token version: `"2.0"` or `"1.0"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// Delegated scopes, space separated (absent in app-only tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<String>,
    /// `app` for app-only tokens, `user` for delegated ones (optional claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
    /// The user's UPN-like sign-in name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// v1 tokens: the UPN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Email (optional claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Given name (optional claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name (optional claim).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Security group object ids (when group claims are configured and not in overage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// App roles assigned to the user or application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Identity provider (guests and multi-tenant sign-ins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp: Option<String>,
    /// Claim sources: `{"groups": "src1"}` when the user is in too many groups to list (overage).
    #[serde(
        rename = "_claim_names",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub claim_names: Option<Map<String, Value>>,
}

impl EntraClaims {
    /// The user's sign-in name: `preferred_username`, else `upn` (v1), else `email`.
    pub fn upn(&self) -> Option<&str> {
        self.preferred_username
            .as_deref()
            .or(self.upn.as_deref())
            .or(self.email.as_deref())
    }

    /// The stable identifier of the principal: `oid`.
    pub fn user_id(&self) -> &str {
        &self.oid
    }

    /// True when `roles` contains `role` (exact, case-sensitive like Entra's role values).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles
            .as_ref()
            .is_some_and(|r| r.iter().any(|x| x == role))
    }

    /// True when `groups` lists `group_id` (GUIDs compared case-insensitively).
    ///
    /// In groups overage ([`EntraClaims::groups_overage`]) the list is absent and this is false:
    /// do not read "false" as "not a member" then — see [`crate::AuthContext`].
    pub fn in_group(&self, group_id: &str) -> bool {
        self.groups
            .as_ref()
            .is_some_and(|g| g.iter().any(|x| x.eq_ignore_ascii_case(group_id)))
    }

    /// True for app-only tokens (client credentials): `idtyp` is `app`, or there is no `scp` and
    /// no user-only claim.
    pub fn is_app_only(&self) -> bool {
        match self.idtyp.as_deref() {
            Some(t) => t.eq_ignore_ascii_case("app"),
            None => self.scp.is_none() && self.preferred_username.is_none() && self.upn.is_none(),
        }
    }

    /// True when the user is in more groups than the token can carry: `_claim_names` names a
    /// `groups` source and `groups` is absent. Group membership is then unknown (not empty).
    pub fn groups_overage(&self) -> bool {
        self.groups.is_none()
            && self
                .claim_names
                .as_ref()
                .is_some_and(|m| m.contains_key("groups"))
    }

    /// The delegated scopes (`scp` split on spaces).
    pub fn scopes(&self) -> Vec<&str> {
        self.scp
            .as_deref()
            .map(|s| s.split_whitespace().collect())
            .unwrap_or_default()
    }

    /// The client application's id: `azp` (v2) or `appid` (v1).
    pub fn client_app_id(&self) -> Option<&str> {
        self.azp.as_deref().or(self.appid.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_repeated_keys_at_any_depth() {
        assert_eq!(
            parse_object_strict(br#"{"tid":"a","tid":"b"}"#),
            Err(StrictJsonError::Duplicate("tid".into()))
        );
        assert_eq!(
            parse_object_strict(br#"{"x":{"y":1,"y":2}}"#),
            Err(StrictJsonError::Duplicate("y".into()))
        );
        assert_eq!(
            parse_object_strict(br#"{"a":[{"k":1,"k":1}]}"#),
            Err(StrictJsonError::Duplicate("k".into()))
        );
    }

    #[test]
    fn rejects_tid_differing_only_in_case() {
        assert_eq!(
            parse_object_strict(br#"{"tid":"a","TID":"b"}"#),
            Err(StrictJsonError::Duplicate("tid".into()))
        );
        assert_eq!(
            parse_object_strict(br#"{"Tid":"a","tiD":"b"}"#),
            Err(StrictJsonError::Duplicate("tid".into()))
        );
        // Other claims may differ in case.
        assert!(parse_object_strict(br#"{"foo":1,"FOO":2}"#).is_ok());
    }

    #[test]
    fn reads_plain_objects_and_rejects_non_objects() {
        let m = parse_object_strict(br#"{"a":1,"b":[true,null,"s"],"c":{"d":1.5}}"#).unwrap();
        assert_eq!(m["b"][2], "s");
        assert!(matches!(
            parse_object_strict(b"[1]"),
            Err(StrictJsonError::Invalid(_))
        ));
        assert!(matches!(
            parse_object_strict(br#"{"a":1} x"#),
            Err(StrictJsonError::Invalid(_))
        ));
        assert!(matches!(
            parse_object_strict(b"{"),
            Err(StrictJsonError::Invalid(_))
        ));
    }

    /// Inputs on which the borrowing reader and the map reader must agree.
    const READER_CASES: &[&str] = &[
        r#"{}"#,
        r#"{"a":1}"#,
        r#"{"tid":"a","tid":"b"}"#,
        r#"{"tid":"a","TID":"b"}"#,
        r#"{"Tid":"a","tiD":"b"}"#,
        r#"{"TID":"a","tid":"b"}"#,
        r#"{"foo":1,"FOO":2}"#,
        r#"{"foo":1,"foo":2}"#,
        r#"{"roles":["a"],"ROLES":["b"]}"#,
        r#"{"groups":[],"Groups":null}"#,
        r#"{"name":"a","name":"b"}"#,
        r#"{"name":"a","Name":"b"}"#,
        r#"{"t\u0069d":"a","tid":"b"}"#,
        r#"{"x\u0041":1,"xA":2}"#,
        r#"{"x":{"y":1,"y":2}}"#,
        r#"{"x":{"y":1,"Y":2}}"#,
        r#"{"x":{"tid":1,"TID":2}}"#,
        r#"{"a":[{"k":1,"k":1}]}"#,
        r#"{"roles":[{"k":1,"k":1}]}"#,
        r#"{"roles":["a",{"k":1}],"aud":[1,"x"]}"#,
        r#"{"aud":{"k":1,"k":2}}"#,
        r#"{"_claim_names":{"groups":"s","groups":"t"}}"#,
        r#"{"_claim_names":{"groups":"src1"},"_claim_sources":{"src1":{"endpoint":"e"}}}"#,
        r#"{"_claim_names":{"groups":"src1"},"_claim_names":null}"#,
        r#"{"exp":1.5,"nbf":-1,"iat":1e3,"ver":true,"x":[[[]]],"y":{"z":{}}}"#,
        r#"{"exp":18446744073709551616,"s":"\ud83d\ude00","e":"\n\t\\\/"}"#,
        r#"{"s":"\ud800"}"#,
        r#"{"s":"\u00zz"}"#,
        r#"{"a":1,}"#,
        r#"{"a":1} x"#,
        r#"{"a":1}  "#,
        " \n{\"a\" : [ 1 , 2 ] }\t",
        r#"{"a" 1}"#,
        r#"{"#,
        r#"[1]"#,
        r#""s""#,
        r#"null"#,
        r#"1"#,
        r#""#,
        r#"{"a":nul}"#,
        r#"{"a":tru}"#,
        r#"{"a":01}"#,
        r#"{"a":-}"#,
        r#"{1:2}"#,
        r#"{"alg":"RS256","ALG":"RS256"}"#,
        r#"{"alg":"RS256","alg":"HS256","kid":"key-1"}"#,
        r#"{"alg":"RS256","kid":"k","crit":["exp"],"nonce":"n"}"#,
        r#"{"aud":"a","AUD":"b"}"#,
        r#"{"azp":"a","AZP":"b","appid":"c","AppId":"d"}"#,
        r#"{"idtyp":"app","IDTYP":"user"}"#,
        r#"{"scp":"a","ScP":"b"}"#,
        r#"{"sub":"a","sUb":"b"}"#,
        r#"{"exp":1,"EXP":2}"#,
        r#"{"nbf":1,"NBF":2}"#,
        r#"{"ver":"2.0","VER":"1.0"}"#,
        r#"{"iss":"a","ISS":"b"}"#,
        r#"{"oid":"a","OID":"b"}"#,
        r#"{"iat":1,"IAT":2}"#,
    ];

    fn readers_agree(input: &[u8]) {
        let strict = parse_object_strict(input).is_ok();
        assert_eq!(
            parse_claims_view(input).is_some(),
            strict,
            "claims reader on {:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            parse_header_view(input).is_some(),
            strict,
            "header reader on {:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn the_borrowing_reader_accepts_exactly_what_the_map_reader_accepts() {
        for case in READER_CASES {
            readers_agree(case.as_bytes());
        }
        // Deep nesting: both stop at serde_json's depth limit.
        for depth in [100, 127, 128, 129, 200] {
            let deep = format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
            readers_agree(deep.as_bytes());
        }
        // Many keys, one repeated far apart.
        let mut many: Vec<String> = (0..500).map(|i| format!("\"k{i}\":{i}")).collect();
        readers_agree(format!("{{{}}}", many.join(",")).as_bytes());
        many.push("\"k3\":0".into());
        readers_agree(format!("{{{}}}", many.join(",")).as_bytes());
    }

    #[test]
    fn the_borrowing_reader_agrees_on_mutated_tokens() {
        // Deterministic byte mutations of a realistic payload (insertions, deletions, changes).
        let base = serde_json::json!({
            "aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "iss": "https://login.microsoftonline.com/t/v2.0",
            "iat": 1, "nbf": 1, "exp": 2, "aio": "AWQAm/8ZAAAA", "azp": "x", "name": "Ada \u{e9}",
            "oid": "o", "preferred_username": "ada@contoso.com", "roles": ["MCP.User"],
            "scp": "a b", "sub": "s", "tid": "t", "ver": "2.0", "groups": ["g1", "g2"],
            "_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "e"}},
            "nested": {"a": [1, 2.5, -3, true, null, {"b": "c"}]}
        })
        .to_string()
        .into_bytes();
        let alphabet = b"{}[]\":,.-+eE0123456789abtidTIDnulrsfx\\u ";
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..20_000 {
            let mut input = base.clone();
            for _ in 0..1 + next(3) {
                let at = next(input.len());
                match next(3) {
                    0 => input[at] = alphabet[next(alphabet.len())],
                    1 => input.insert(at, alphabet[next(alphabet.len())]),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            readers_agree(&input);
            // Duplicate an existing member (exact, or a security claim in other case).
            let text = String::from_utf8_lossy(&base).into_owned();
            let member = [
                "\"tid\":\"t\"",
                "\"TID\":\"t\"",
                "\"name\":\"n\"",
                "\"aio\":1",
                "\"Exp\":2",
            ][next(5)];
            let dup = text.replacen('{', &format!("{{{member},"), 1);
            readers_agree(dup.as_bytes());
        }
    }

    /// When the hand-written reader accepts `input`, `serde_json`'s reader accepts it too and
    /// reads the same view (header and claims). Returns whether the hand-written one accepted.
    fn fast_reader_agrees(input: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(input) else {
            return false;
        };
        let fast = scan::view::<ClaimsView>(text);
        if let Some(fast) = &fast {
            let slow = serde_view::<ClaimsView>(text);
            assert_eq!(
                Some(format!("{fast:?}")),
                slow.map(|v| format!("{v:?}")),
                "claims on {text:?}"
            );
        }
        if let Some(fast) = scan::view::<HeaderView>(text) {
            let slow = serde_view::<HeaderView>(text);
            assert_eq!(
                Some(format!("{fast:?}")),
                slow.map(|v| format!("{v:?}")),
                "header on {text:?}"
            );
        }
        fast.is_some()
    }

    #[test]
    fn a_field_is_small_whatever_the_map_type() {
        // The map variant is boxed: with serde_json's `preserve_order` (which pmcp turns on) a
        // map is several times this size, and a view holds two dozen fields.
        assert!(std::mem::size_of::<Field>() <= 32);
    }

    #[test]
    fn the_hand_written_reader_reads_what_serde_json_reads() {
        let mut accepted = 0;
        for case in READER_CASES {
            accepted += usize::from(fast_reader_agrees(case.as_bytes()));
        }
        for case in [
            r#"{"alg":"RS256","typ":"JWT","kid":"k"}"#,
            r#" { "a" : [ ] , "b" : [ "x" , 1 , true , false , null ] , "c" : 0 } "#,
            r#"{"aud":["a","b"],"roles":[],"groups":null,"exp":18446744073709551615}"#,
            r#"{"exp":18446744073709551616}"#,
            r#"{"exp":0,"nbf":00}"#,
            r#"{"a":""}"#,
            "{\"a\":\"\u{1}\"}",
            "{\"a\":\"tab\there\"}",
            r#"{"a":"x\"y"}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"ver":"2.0","Ver":"1.0"}"#,
            r#"{"é":"ü","name":"Ada é"}"#,
            "{\"name\":\"Ada é 😀 long enough to need two words\"}",
            r#"{"a":truee}"#,
            r#"{"a":nulls}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e2}"#,
            r#"{"a":-0}"#,
            r#"{"a":{}}"#,
            r#"{"a":[[]]}"#,
            r#"{"a":1}}"#,
            r#"{"a":1"#,
            r#"{"a"}"#,
            r#"{,}"#,
        ] {
            accepted += usize::from(fast_reader_agrees(case.as_bytes()));
            readers_agree(case.as_bytes());
        }
        // A repeated claim nobody reads, among few other claims (compared pairwise) and among
        // many (sorted): declined, and the serde_json reader reports the repeat.
        for n in [1usize, 7, 8, 20] {
            let mut keys: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            keys.push(format!("\"k{}\":0", n / 2));
            let doc = format!("{{{}}}", keys.join(","));
            assert!(!fast_reader_agrees(doc.as_bytes()), "{doc}");
            readers_agree(doc.as_bytes());
            assert!(matches!(
                parse_object_strict(doc.as_bytes()),
                Err(StrictJsonError::Duplicate(_))
            ));
        }
        // More other keys than it remembers: it leaves the object to serde_json.
        let many: Vec<String> = (0..scan_max_other_keys() + 1)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect();
        assert!(!fast_reader_agrees(
            format!("{{{}}}", many.join(",")).as_bytes()
        ));
        assert!(
            accepted >= 10,
            "the hand-written reader accepted only {accepted} cases"
        );
    }

    fn scan_max_other_keys() -> usize {
        scan::MAX_OTHER_KEYS
    }

    #[test]
    fn the_hand_written_reader_agrees_on_mutated_tokens() {
        // A realistic Entra payload (plain JSON: the hand-written reader takes it), mutated.
        let base = serde_json::json!({
            "aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3", "iss": "https://login.microsoftonline.com/t/v2.0",
            "iat": 1_700_000_000u64, "nbf": 1, "exp": 2, "aio": "AWQAm/8ZAAAA", "azp": "x",
            "name": "Ada \u{e9}", "oid": "o", "preferred_username": "ada@contoso.com",
            "roles": ["MCP.User", "MCP.Admin"], "scp": "a b", "sub": "s", "tid": "t", "ver": "2.0",
            "groups": ["g1", "g2"], "amr": ["pwd", 1, true, null], "xms_tcdt": 1_600_000_000u64,
            "idtyp": null, "acct": 0
        })
        .to_string()
        .into_bytes();
        assert!(fast_reader_agrees(&base));
        let alphabet = b"{}[]\":,.-+eE0123456789abtidTIDnulrsfx\\u \t\n\x01\x7f";
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut input = base.clone();
            for _ in 0..1 + next(3) {
                let at = next(input.len());
                match next(3) {
                    0 => input[at] = alphabet[next(alphabet.len())],
                    1 => input.insert(at, alphabet[next(alphabet.len())]),
                    _ => {
                        input.remove(at);
                    }
                }
            }
            accepted += usize::from(fast_reader_agrees(&input));
            readers_agree(&input);
        }
        // Many mutations stay plain JSON (a changed letter or digit): the reader was exercised.
        assert!(accepted > 1_000, "accepted {accepted} of 20,000");
    }

    #[test]
    fn plain_views_make_the_claims_serde_makes() {
        let cases = [
            serde_json::json!({"sub": "s", "iss": "i", "aud": "a", "exp": 1, "oid": "o", "tid": "t"}),
            serde_json::json!({
                "sub": "s", "iss": "i", "aud": ["a", "b"], "exp": 1, "oid": "o", "tid": "t",
                "iat": 0, "nbf": 5, "azp": "z", "appid": "p", "ver": "1.0", "scp": "x y",
                "idtyp": "app", "preferred_username": "u", "upn": "v", "email": "e", "name": "n",
                "given_name": "g", "family_name": "f", "groups": ["g"], "roles": [], "idp": "d",
                "_claim_names": {"groups": "src1"}, "other": {"k": [1, {"j": null}]},
                "x": "esc\"aped\u{e9}"
            }),
            serde_json::json!({
                "sub": "s\\n", "iss": "i", "aud": [], "exp": 1, "oid": "o", "tid": "t",
                "iat": null, "azp": null, "groups": null, "roles": null, "_claim_names": null
            }),
        ];
        for case in cases {
            let bytes = case.to_string().into_bytes();
            let view = parse_claims_view(&bytes).unwrap();
            assert!(view.is_plain(), "{case}");
            let expected: EntraClaims = serde_json::from_value(case.clone()).unwrap();
            assert_eq!(view.to_entra_claims(), expected, "{case}");
        }
        // Shapes the typed path leaves to the map path.
        for odd in [
            r#"{"exp":1.5}"#,
            r#"{"exp":-1}"#,
            r#"{"nbf":null}"#,
            r#"{"iat":"1"}"#,
            r#"{"oid":5}"#,
            r#"{"sub":null}"#,
            r#"{"aud":[1]}"#,
            r#"{"aud":null}"#,
            r#"{"roles":"MCP.User"}"#,
            r#"{"groups":[1]}"#,
            r#"{"name":{"a":1}}"#,
            r#"{"_claim_names":[]}"#,
            r#"{"ver":2}"#,
        ] {
            assert!(
                !parse_claims_view(odd.as_bytes()).unwrap().is_plain(),
                "{odd}"
            );
        }
    }

    #[test]
    fn a_leading_nul_does_not_make_a_security_claim() {
        // The packed comparison counts the length: `"\u0000tid"` is another claim than `tid`.
        for key in ["\0tid", "\0\0tid", "\0exp", "\0\0\0aud"] {
            assert_eq!(security_claim(key), None, "{key:?}");
        }
        assert!(parse_object_strict(br#"{"tid":"a","\u0000tid":"b"}"#).is_ok());
        readers_agree(br#"{"tid":"a","\u0000tid":"b"}"#);
    }

    #[test]
    fn security_claim_matches_the_list_in_any_case() {
        for (i, c) in CASE_INSENSITIVE_CLAIMS.iter().enumerate() {
            assert_eq!(security_claim(c), Some(i));
            assert_eq!(security_claim(&c.to_ascii_uppercase()), Some(i));
            let mixed: String = c
                .chars()
                .enumerate()
                .map(|(k, ch)| {
                    if k % 2 == 0 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect();
            assert_eq!(security_claim(&mixed), Some(i));
        }
        for other in [
            "",
            "ti",
            "tidx",
            "name",
            "rolesx",
            "gróups",
            "t\u{130}d",
            "tİd",
        ] {
            assert_eq!(
                security_claim(other),
                CASE_INSENSITIVE_CLAIMS
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(other)),
                "{other}"
            );
        }
    }

    fn claims(extra: Value) -> EntraClaims {
        let mut base = serde_json::json!({
            "sub": "s", "iss": "i", "aud": "a", "exp": 1, "oid": "o", "tid": "t"
        });
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn overage_and_app_only() {
        let c = claims(serde_json::json!({"_claim_names": {"groups": "src1"}}));
        assert!(c.groups_overage());
        assert!(!c.in_group("x"));
        let c = claims(serde_json::json!({"groups": ["AbC"]}));
        assert!(!c.groups_overage());
        assert!(c.in_group("abc"));
        assert!(claims(serde_json::json!({"idtyp": "app"})).is_app_only());
        assert!(!claims(serde_json::json!({"scp": "a b"})).is_app_only());
        assert_eq!(
            claims(serde_json::json!({"scp": "a  b"})).scopes(),
            vec!["a", "b"]
        );
    }
}
