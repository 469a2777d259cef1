//! A hand-written reader for the plain JSON that JWT headers and claims almost always are: one
//! object whose members are strings without escapes, non-negative integers, `true`/`false`/`null`,
//! or flat arrays of those. It fills the same views as the `serde_json` visitor in the parent
//! module, and for anything else (an escape, a nested object or array, a negative or fractional
//! number, a repeated key, a syntax error) it answers `None` and the caller runs that visitor.
//!
//! Why hand-written: profiling the validator showed `serde_json`'s general tokenizer (a visitor
//! call per token, per-key dispatch through `Deserializer::deserialize_any`) as the largest cost
//! beside the signature check on a distinct token. This reader only has to be right when it says
//! yes: every input it accepts is one `serde_json` accepts, read to the same [`Field`]s (tested
//! against the `serde_json` reader on fixed cases and mutated tokens in the parent's tests).

use std::borrow::Cow;

use super::{Field, Slots, security_claim};

/// Other keys of one object that are remembered for the repeated-key check without allocating;
/// an object with more falls back to the `serde_json` reader.
pub(super) const MAX_OTHER_KEYS: usize = 48;

/// Read `text` (already known to be UTF-8) into a view, or `None` to let the general reader decide.
pub(super) fn view<'de, S: Slots<'de>>(text: &'de str) -> Option<S> {
    let mut r = Reader {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let mut view = S::default();
    let mut others: [&'de str; MAX_OTHER_KEYS] = [""; MAX_OTHER_KEYS];
    let mut n_others = 0usize;
    let mut security = 0u16;
    r.ws();
    r.eat(b'{')?;
    r.ws();
    if r.peek()? == b'}' {
        r.i += 1;
    } else {
        loop {
            let key = r.string()?;
            if let Some(i) = security_claim(key) {
                if security & (1 << i) != 0 {
                    return None;
                }
                security |= 1 << i;
            }
            r.ws();
            r.eat(b':')?;
            r.ws();
            match view.slot(key) {
                Some(field) => {
                    if field.is_present() {
                        return None;
                    }
                    *field = r.field()?;
                }
                None => {
                    *others.get_mut(n_others)? = key;
                    n_others += 1;
                    r.skip()?;
                }
            }
            r.ws();
            match r.next()? {
                b',' => r.ws(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    r.ws();
    if r.i != r.s.len() {
        return None;
    }
    let others = &mut others[..n_others];
    if others.len() <= 8 {
        // A handful (a typical token has five or six claims nobody reads): comparing every pair
        // is cheaper than sorting.
        for (i, a) in others.iter().enumerate() {
            if others[i + 1..].contains(a) {
                return None;
            }
        }
    } else {
        others.sort_unstable();
        if others.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
    }
    Some(view)
}

struct Reader<'de> {
    s: &'de [u8],
    text: &'de str,
    i: usize,
}

/// The high bit of each byte of `w` that is `"`, `\` or a control character (below 0x20): the
/// bytes that end or complicate a string. Bits above the lowest one may be false alarms (a borrow
/// from a flagged byte); the lowest set bit is always exact, and no bit is set when no byte is
/// special.
#[inline]
fn special_bits(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    // Bytes below 0x20: subtracting 0x20 borrows into the high bit only for them (or for bytes
    // that already have it set, which `!w` masks out).
    (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
        | zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
}

/// True when some byte of `w` is special (see [`special_bits`]).
#[cfg(test)]
fn has_special(w: u64) -> bool {
    special_bits(w) != 0
}

impl<'de> Reader<'de> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    #[inline]
    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    /// JSON whitespace.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, borrowed (the reader is at its `"`).
    fn string(&mut self) -> Option<&'de str> {
        self.eat(b'"')?;
        let start = self.i;
        let mut i = start;
        // Eight bytes at a time: the first special byte is the lowest flagged one.
        while let Some(chunk) = self.s.get(i..i + 8) {
            let bits = special_bits(u64::from_le_bytes(chunk.try_into().ok()?));
            if bits != 0 {
                i += (bits.trailing_zeros() / 8) as usize;
                break;
            }
            i += 8;
        }
        loop {
            match *self.s.get(i)? {
                b'"' => break,
                b'\\' | 0..0x20 => return None,
                _ => i += 1,
            }
        }
        self.i = i + 1;
        // `"` is ASCII, so both ends are on character boundaries of the UTF-8 text.
        self.text.get(start..i)
    }

    /// A non-negative integer that fits in `u64`, with no fraction or exponent.
    fn integer(&mut self) -> Option<u64> {
        let first = self.next()?;
        let mut v = u64::from(first.checked_sub(b'0').filter(|d| *d <= 9)?);
        if first == b'0' {
            // A leading zero stands alone.
            if matches!(self.peek(), Some(b'0'..=b'9')) {
                return None;
            }
        } else {
            while let Some(d @ b'0'..=b'9') = self.peek() {
                v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                self.i += 1;
            }
        }
        // A fraction or an exponent makes it a float: the general reader decides.
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => Some(v),
        }
    }

    /// `lit` (the reader is at its first byte).
    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.i + lit.len();
        (self.s.get(self.i..end)? == lit).then(|| self.i = end)
    }

    /// A scalar: a string (`Some`), or a number, `true`, `false` or `null` (`None`, read in full);
    /// anything else fails with the outer `None`.
    fn scalar(&mut self) -> Option<Option<&'de str>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'0'..=b'9' => self.integer().map(|_| None),
            b't' => self.literal(b"true").map(|()| None),
            b'f' => self.literal(b"false").map(|()| None),
            b'n' => self.literal(b"null").map(|()| None),
            _ => None,
        }
    }

    /// A flat array of scalars (the reader is at its `[`): its strings when all are strings.
    fn array(&mut self) -> Option<Option<Vec<Cow<'de, str>>>> {
        self.eat(b'[')?;
        self.ws();
        let mut strings = Some(Vec::new());
        if self.peek()? == b']' {
            self.i += 1;
            return Some(strings);
        }
        loop {
            match self.scalar()? {
                Some(s) => {
                    if let Some(v) = strings.as_mut() {
                        v.push(Cow::Borrowed(s));
                    }
                }
                None => strings = None,
            }
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                b']' => return Some(strings),
                _ => return None,
            }
        }
    }

    /// A kept member's value, as the `serde_json` visitor reads it.
    fn field(&mut self) -> Option<Field<'de>> {
        Some(match self.peek()? {
            b'"' => Field::Str(Cow::Borrowed(self.string()?)),
            b'0'..=b'9' => Field::U64(self.integer()?),
            b'n' => {
                self.literal(b"null")?;
                Field::Null
            }
            b't' => {
                self.literal(b"true")?;
                Field::Other
            }
            b'f' => {
                self.literal(b"false")?;
                Field::Other
            }
            b'[' => match self.array()? {
                Some(strings) => Field::Strs(strings),
                None => Field::Other,
            },
            _ => return None,
        })
    }

    /// A member that is not kept: read in full and dropped.
    fn skip(&mut self) -> Option<()> {
        if self.peek()? == b'[' {
            // Read like a kept array, without keeping its strings.
            self.eat(b'[')?;
            self.ws();
            if self.peek()? == b']' {
                self.i += 1;
                return Some(());
            }
            loop {
                self.scalar()?;
                self.ws();
                match self.next()? {
                    b',' => self.ws(),
                    b']' => return Some(()),
                    _ => return None,
                }
            }
        }
        self.scalar().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_special_byte_test_finds_exactly_quote_backslash_and_control_characters() {
        for b in 0..=255u8 {
            let special = b == b'"' || b == b'\\' || b < 0x20;
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                assert_eq!(
                    has_special(u64::from_le_bytes(w)),
                    special,
                    "byte {b:#x} at {pos}"
                );
            }
        }
        // The lowest flagged byte is the first special one, whatever follows it (borrows).
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Bias the bytes towards the special ones and their neighbours.
            let w = seed.to_le_bytes().map(|b| match b % 8 {
                0 => b'"',
                1 => b'\\',
                2 => b % 0x21,
                3 => b'"' + 1,
                _ => b,
            });
            let first = w.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            let bits = special_bits(u64::from_le_bytes(w));
            assert_eq!(
                (bits != 0).then(|| (bits.trailing_zeros() / 8) as usize),
                first,
                "{w:?}"
            );
        }
        // Neighbours of special bytes are not special, whatever surrounds them.
        for w in [
            *b"!#[]^_`~",
            [0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff, 0xc3],
        ] {
            assert!(!has_special(u64::from_le_bytes(w)));
        }
    }
}
