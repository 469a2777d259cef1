//! Entra access-token claims, and the strict JSON reader the validator uses for every claims object.
//!
//! `serde_json::Map` silently keeps the last of two equal keys, so a token saying
//! `{"tid":"good","tid":"evil"}` would mean different things to different parsers. The reader here
//! rejects any repeated key (at every depth) and two spellings of a security claim that differ only
//! in case (`tid` and `TID`).

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
