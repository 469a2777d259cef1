//! [`EntraClaims`] as the verified-token cache keeps them: the token (the cache's key) and every
//! string in one buffer, addressed by offsets.
//!
//! A cache miss stores the claims it just returned, and an insert into a full set frees the entry
//! it replaces. Kept as a token plus an `EntraClaims`, that was a dozen to two dozen allocations
//! to make (the token, each string and list) and as many to free, on every distinct token.
//! Packed, an entry is one allocation for the token and the strings, plus one for the list
//! items' offsets only when the token has more than [`INLINE_ITEMS`] of them. A hit builds the
//! caller's `EntraClaims` from the buffer, as a clone of the struct did. The effect on the miss
//! path is measured in docs/performance.md.
//!
//! Hand-written because no kept crate stores a struct of strings in one arena: the layout is ours
//! (the fixed fields' order below), and `unpack(pack(c)) == c` is tested for every field.

use serde_json::{Map, Value};

use super::{ClaimAudience, EntraClaims};

/// A string of `text`: `start..start + len`, or absent (`start == NONE`).
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    len: u32,
}

const NONE: u32 = u32::MAX;

impl Span {
    const ABSENT: Span = Span {
        start: NONE,
        len: 0,
    };
}

/// A run of `items` (a list claim), or absent.
#[derive(Clone, Copy, Debug)]
struct Run {
    first: u32,
    count: u32,
}

impl Run {
    const ABSENT: Run = Run {
        first: NONE,
        count: 0,
    };
}

/// The text fields in their slot order.
const TEXT_FIELDS: usize = 16;

/// List items (`aud` values, groups, roles) kept in the struct itself; more go to the heap.
const INLINE_ITEMS: usize = 8;

/// Where the list items' spans are.
enum Items {
    Inline([Span; INLINE_ITEMS]),
    Heap(Box<[Span]>),
}

/// Collects the list items' spans: inline while they fit, else in a vector sized up front.
struct ItemSink {
    inline: [Span; INLINE_ITEMS],
    heap: Option<Vec<Span>>,
    len: usize,
}

impl ItemSink {
    fn new(count: usize) -> Self {
        Self {
            inline: [Span::ABSENT; INLINE_ITEMS],
            heap: (count > INLINE_ITEMS).then(|| Vec::with_capacity(count)),
            len: 0,
        }
    }

    fn push(&mut self, span: Span) {
        match &mut self.heap {
            Some(v) => v.push(span),
            None => self.inline[self.len] = span,
        }
        self.len += 1;
    }

    fn finish(self) -> Items {
        match self.heap {
            Some(v) => Items::Heap(v.into_boxed_slice()),
            None => Items::Inline(self.inline),
        }
    }
}

/// One token's claims in (at most) two allocations, after the cache's key (the token) in the same
/// buffer. Only the cache builds these, and only from claims that passed every check, so the
/// sizes fit `u32` (the cache refuses tokens over 8 KiB).
pub(crate) struct PackedClaims {
    /// The key, then every string.
    text: Box<str>,
    key_len: u32,
    /// Every list item (`aud` when an array, `groups`, `roles`), in that order.
    items: Items,
    fields: [Span; TEXT_FIELDS],
    /// `aud` when a single string is `fields`-like: `aud_one`; when an array, `aud_many`.
    aud_one: Span,
    aud_many: Run,
    groups: Run,
    roles: Run,
    exp: u64,
    iat: Option<u64>,
    nbf: Option<u64>,
    /// `_claim_names` (present only on group overage): rare, kept as it is.
    claim_names: Option<Box<Map<String, Value>>>,
}

/// The optional and required text fields, in slot order.
fn text_fields(c: &EntraClaims) -> [Option<&str>; TEXT_FIELDS] {
    [
        Some(c.sub.as_str()),
        Some(c.iss.as_str()),
        Some(c.oid.as_str()),
        Some(c.tid.as_str()),
        c.azp.as_deref(),
        c.appid.as_deref(),
        c.ver.as_deref(),
        c.scp.as_deref(),
        c.idtyp.as_deref(),
        c.preferred_username.as_deref(),
        c.upn.as_deref(),
        c.email.as_deref(),
        c.name.as_deref(),
        c.given_name.as_deref(),
        c.family_name.as_deref(),
        c.idp.as_deref(),
    ]
}

/// Appends strings to one preallocated buffer, recording where each went.
struct Packer {
    text: String,
}

impl Packer {
    fn push(&mut self, s: &str) -> Span {
        let span = Span {
            start: self.text.len() as u32,
            len: s.len() as u32,
        };
        self.text.push_str(s);
        span
    }

    fn push_opt(&mut self, s: Option<&str>) -> Span {
        s.map_or(Span::ABSENT, |s| self.push(s))
    }

    fn push_list(&mut self, items: &mut ItemSink, list: Option<&[String]>) -> Run {
        let Some(list) = list else {
            return Run::ABSENT;
        };
        let first = items.len as u32;
        for s in list {
            items.push(self.push(s));
        }
        Run {
            first,
            count: list.len() as u32,
        }
    }
}

impl PackedClaims {
    /// `c`, after `key` (the token) in the same buffer.
    pub(crate) fn pack(key: &str, c: &EntraClaims) -> PackedClaims {
        let fields = text_fields(c);
        let (aud_one, aud_many) = match &c.aud {
            ClaimAudience::Single(s) => (Some(s.as_str()), None),
            ClaimAudience::Multiple(v) => (None, Some(v.as_slice())),
        };
        let groups = c.groups.as_deref();
        let roles = c.roles.as_deref();
        let list_len = |l: Option<&[String]>| l.map_or(0, |l| l.iter().map(String::len).sum());
        let list_count = |l: Option<&[String]>| l.map_or(0, <[String]>::len);
        let bytes = key.len()
            + fields.iter().flatten().map(|s| s.len()).sum::<usize>()
            + aud_one.map_or(0, str::len)
            + list_len(aud_many)
            + list_len(groups)
            + list_len(roles);
        let mut packer = Packer {
            text: String::with_capacity(bytes),
        };
        let mut items =
            ItemSink::new(list_count(aud_many) + list_count(groups) + list_count(roles));
        packer.text.push_str(key);
        let fields = fields.map(|f| packer.push_opt(f));
        let aud_one = packer.push_opt(aud_one);
        let aud_many = packer.push_list(&mut items, aud_many);
        let groups = packer.push_list(&mut items, groups);
        let roles = packer.push_list(&mut items, roles);
        PackedClaims {
            text: packer.text.into_boxed_str(),
            key_len: key.len() as u32,
            items: items.finish(),
            fields,
            aud_one,
            aud_many,
            groups,
            roles,
            exp: c.exp,
            iat: c.iat,
            nbf: c.nbf,
            claim_names: c.claim_names.clone().map(Box::new),
        }
    }

    /// The key the claims were packed with.
    pub(crate) fn key(&self) -> &str {
        &self.text[..self.key_len as usize]
    }

    fn get(&self, span: Span) -> Option<String> {
        (span.start != NONE).then(|| {
            let start = span.start as usize;
            self.text[start..start + span.len as usize].to_owned()
        })
    }

    fn list(&self, run: Run) -> Option<Vec<String>> {
        (run.first != NONE).then(|| {
            let first = run.first as usize;
            let items: &[Span] = match &self.items {
                Items::Inline(a) => a,
                Items::Heap(v) => v,
            };
            items[first..first + run.count as usize]
                .iter()
                .map(|&s| self.get(s).unwrap_or_default())
                .collect()
        })
    }

    pub(crate) fn unpack(&self) -> EntraClaims {
        // Field by field (no temporary array of strings): a hit runs this for every request.
        let text = |i: usize| self.get(self.fields[i]);
        EntraClaims {
            sub: text(0).unwrap_or_default(),
            iss: text(1).unwrap_or_default(),
            aud: match self.list(self.aud_many) {
                Some(v) => ClaimAudience::Multiple(v),
                None => ClaimAudience::Single(self.get(self.aud_one).unwrap_or_default()),
            },
            exp: self.exp,
            iat: self.iat,
            nbf: self.nbf,
            oid: text(2).unwrap_or_default(),
            tid: text(3).unwrap_or_default(),
            azp: text(4),
            appid: text(5),
            ver: text(6),
            scp: text(7),
            idtyp: text(8),
            preferred_username: text(9),
            upn: text(10),
            email: text(11),
            name: text(12),
            given_name: text(13),
            family_name: text(14),
            groups: self.list(self.groups),
            roles: self.list(self.roles),
            idp: text(15),
            claim_names: self.claim_names.as_deref().cloned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzIn0.c2lnbmF0dXJl";

    fn full() -> EntraClaims {
        serde_json::from_value(json!({
            "sub": "sub-1", "iss": "https://login.microsoftonline.com/t/v2.0",
            "aud": "api-client", "exp": 2_000_000_000u64, "iat": 1_999_999_000u64,
            "nbf": 1_999_999_000u64, "oid": "oid-1", "tid": "t", "azp": "client",
            "appid": "app", "ver": "2.0", "scp": "access_as_user", "idtyp": "user",
            "preferred_username": "ada@contoso.com", "upn": "ada@contoso.com",
            "email": "ada@contoso.com", "name": "Ada Lovelace — ∑", "given_name": "Ada",
            "family_name": "", "groups": ["g1", "", "g3"], "roles": ["MCP.User", "MCP.Admin"],
            "idp": "live.com", "_claim_names": {"groups": "src1"}
        }))
        .unwrap()
    }

    #[test]
    fn unpack_gives_back_exactly_what_was_packed() {
        let full = full();
        assert_eq!(PackedClaims::pack(KEY, &full).unpack(), full);
        assert_eq!(PackedClaims::pack(KEY, &full).key(), KEY);
        assert_eq!(PackedClaims::pack("", &full).unpack(), full);

        // Every optional field absent, empty lists, several audiences.
        let sparse: EntraClaims = serde_json::from_value(json!({
            "sub": "", "iss": "i", "aud": ["a", "b", ""], "exp": 1, "oid": "o", "tid": "",
            "groups": [], "roles": []
        }))
        .unwrap();
        assert_eq!(PackedClaims::pack(KEY, &sparse).unpack(), sparse);

        // One field at a time removed from the full set, so no slot borrows another's value.
        let mut c = full.clone();
        for i in 0..14 {
            match i {
                0 => c.azp = None,
                1 => c.appid = None,
                2 => c.ver = None,
                3 => c.scp = None,
                4 => c.idtyp = None,
                5 => c.preferred_username = None,
                6 => c.upn = None,
                7 => c.email = None,
                8 => c.name = None,
                9 => c.given_name = None,
                10 => c.family_name = None,
                11 => c.groups = None,
                12 => c.roles = None,
                _ => c.claim_names = None,
            }
            assert_eq!(PackedClaims::pack(KEY, &c).unpack(), c, "after step {i}");
        }
        c.idp = None;
        c.iat = None;
        c.nbf = None;
        assert_eq!(PackedClaims::pack(KEY, &c).unpack(), c);
    }

    #[test]
    fn the_strings_take_one_buffer_of_exactly_their_size() {
        let full = full();
        let packed = PackedClaims::pack(KEY, &full);
        let expected: usize = KEY.len()
            + text_fields(&full)
                .iter()
                .flatten()
                .map(|s| s.len())
                .sum::<usize>()
            + "api-client".len()
            + "g1g3".len()
            + "MCP.UserMCP.Admin".len();
        assert_eq!(packed.text.len(), expected);
        assert!(matches!(packed.items, Items::Inline(_)));

        // More list items than fit inline: they go to the heap, in order.
        let mut many = full.clone();
        many.groups = Some((0..20).map(|i| format!("group-{i}")).collect());
        let packed = PackedClaims::pack(KEY, &many);
        assert!(matches!(&packed.items, Items::Heap(v) if v.len() == 22));
        assert_eq!(packed.unpack(), many);
        many.groups = Some((0..6).map(|i| format!("group-{i}")).collect());
        assert!(matches!(
            PackedClaims::pack(KEY, &many).items,
            Items::Inline(_)
        ));
        assert_eq!(PackedClaims::pack(KEY, &many).unpack(), many);
    }
}
