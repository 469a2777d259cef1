//! Unpadded base64url decoding for the validator's hot path: a table lookup per character and
//! eight characters per step, into a caller's buffer.
//!
//! It accepts exactly the canonical encodings that `base64`'s `URL_SAFE_NO_PAD` engine accepts
//! (alphabet `A–Z a–z 0–9 - _`, no `=`, no length of the form 4k+1, unused bits of the last
//! character zero) and nothing else, and says only yes or no: on no, the caller asks the `base64`
//! crate, whose error message is the one users see. The profile showed the crate's general engine
//! at about 7 instructions per character on the header, payload and signature of every token.

/// Marks a byte that is not in the alphabet (any value with a bit above the low six).
const INVALID: u8 = 0xff;

/// Value of each byte in the base64url alphabet, [`INVALID`] for every other byte.
static VALUES: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 26 {
        t[b'A' as usize + i] = i as u8;
        t[b'a' as usize + i] = 26 + i as u8;
        i += 1;
    }
    let mut d = 0;
    while d < 10 {
        t[b'0' as usize + d] = 52 + d as u8;
        d += 1;
    }
    t[b'-' as usize] = 62;
    t[b'_' as usize] = 63;
    t
};

/// True when every byte of `s` is in the base64url alphabet.
#[inline]
pub(crate) fn is_alphabet(s: &[u8]) -> bool {
    s.iter().fold(0u8, |acc, &b| acc | VALUES[b as usize]) & 0xc0 == 0
}

/// Decoded length of `len` characters, when `len` can be an unpadded encoding.
#[inline]
pub(crate) fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        r => Some(len / 4 * 3 + r.saturating_sub(1)),
    }
}

/// A character's six bits already shifted to their place in a 24-bit group of four characters
/// (`SHIFTED[k]` for the `k`-th), or [`SHIFTED_INVALID`] for a byte outside the alphabet. One
/// lookup per character and an OR per group, instead of a shift and an OR per character (the
/// profile showed the plain table at about 8 instructions per character).
static SHIFTED: [[u32; 256]; 4] = {
    let mut t = [[SHIFTED_INVALID; 256]; 4];
    let mut b = 0;
    while b < 256 {
        let v = VALUES[b];
        if v != INVALID {
            t[0][b] = (v as u32) << 18;
            t[1][b] = (v as u32) << 12;
            t[2][b] = (v as u32) << 6;
            t[3][b] = v as u32;
        }
        b += 1;
    }
    t
};

/// Above the 24 data bits: set in a group when one of its characters is not in the alphabet.
const SHIFTED_INVALID: u32 = 1 << 24;

/// The 24 bits of one group of four characters, with [`SHIFTED_INVALID`] set when one of them is
/// not in the alphabet.
#[inline(always)]
fn group(c: &[u8]) -> u32 {
    SHIFTED[0][c[0] as usize]
        | SHIFTED[1][c[1] as usize]
        | SHIFTED[2][c[2] as usize]
        | SHIFTED[3][c[3] as usize]
}

/// Decode `input` into the start of `out` and return the length, or `None` when `input` is not a
/// canonical unpadded base64url encoding or `out` is too short.
pub(crate) fn decode_into(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let len = decoded_len(input.len())?;
    let out = out.get_mut(..len)?;
    let whole = input.len() / 4 * 4;
    let mut bad = 0u32;
    // Two groups (eight characters, six bytes) per step, then the odd group.
    let pairs = input[..whole].chunks_exact(8);
    let odd = pairs.remainder();
    let mut o = 0;
    for (c, w) in pairs.zip(out.chunks_exact_mut(6)) {
        let (hi, lo) = (group(&c[..4]), group(&c[4..]));
        bad |= hi | lo;
        let word = (u64::from(hi) << 40) | (u64::from(lo & 0x00ff_ffff) << 16);
        w.copy_from_slice(&word.to_be_bytes()[..6]);
        o += 6;
    }
    if let [_, _, _, _] = odd {
        let v = group(odd);
        bad |= v;
        out[o..o + 3].copy_from_slice(&v.to_be_bytes()[1..]);
    }
    let mut written = whole / 4 * 3;
    let mut bad = u8::from(bad & SHIFTED_INVALID != 0) * INVALID;
    match input[whole..] {
        [] => {}
        [a, b] => {
            let (a, b) = (VALUES[a as usize], VALUES[b as usize]);
            // 12 bits for one byte: the last character's low four bits must be zero.
            bad |= a | b | if b & 0x0f != 0 { INVALID } else { 0 };
            out[written] = (a << 2) | (b >> 4);
            written += 1;
        }
        [a, b, c] => {
            let (a, b, c) = (VALUES[a as usize], VALUES[b as usize], VALUES[c as usize]);
            // 18 bits for two bytes: the last character's low two bits must be zero.
            bad |= a | b | c | if c & 0x03 != 0 { INVALID } else { 0 };
            out[written] = (a << 2) | (b >> 4);
            out[written + 1] = (b << 4) | (c >> 2);
            written += 2;
        }
        _ => return None,
    }
    (bad & 0xc0 == 0).then_some(written)
}

/// [`decode_into`] a new vector.
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0; decoded_len(input.len())?];
    decode_into(input, &mut out)?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn agrees(input: &[u8]) {
        let theirs = URL_SAFE_NO_PAD.decode(input).ok();
        assert_eq!(
            decode(input),
            theirs,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }

    #[test]
    fn decodes_what_the_base64_crate_decodes_and_refuses_the_rest() {
        for len in 0..64 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            assert_eq!(decode(encoded.as_bytes()).as_deref(), Some(&bytes[..]));
            agrees(encoded.as_bytes());
        }
        for bad in [
            "=",
            "A",
            "AA=",
            "AB",
            "AAB",
            "AAAA=",
            "A+/A",
            "AA AA",
            "AAA\n",
            "Zg",
            "Zh",
            "Zm8",
            "Zm9",
            "Zm9v",
            "Zm9vYg",
            "Zm9vYh",
            "Zm9vYmE",
            "Zm9vYmF",
            "\u{e9}AAA",
            "AAA\u{e9}",
        ] {
            agrees(bad.as_bytes());
        }
        // Every byte value at every position of short inputs, and changed last characters.
        let alphabet: Vec<u8> = (0..=255u8).collect();
        for base in ["", "QU", "QUJ", "QUJD", "QUJDRA"] {
            for at in 0..=base.len() {
                for &b in &alphabet {
                    let mut s = base.as_bytes().to_vec();
                    s.insert(at, b);
                    agrees(&s);
                    if at < base.len() {
                        let mut s = base.as_bytes().to_vec();
                        s[at] = b;
                        agrees(&s);
                    }
                }
            }
        }
    }

    #[test]
    fn a_bad_character_anywhere_in_a_long_input_is_refused() {
        // Long enough for the two-group steps and the single groups after them, every length
        // class, a byte outside the alphabet at every position.
        for len in [40usize, 41, 42, 43, 47, 48, 49] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 53 + 7) as u8).collect();
            let encoded = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            agrees(&encoded);
            for at in 0..encoded.len() {
                for b in [b'=', b'.', b'+', b'/', 0, 0x80, 0xff] {
                    let mut s = encoded.clone();
                    s[at] = b;
                    agrees(&s);
                }
            }
        }
    }

    #[test]
    fn a_short_buffer_is_a_refusal() {
        let mut out = [0u8; 2];
        assert_eq!(decode_into(b"QUJD", &mut out), None);
        let mut out = [0u8; 3];
        assert_eq!(decode_into(b"QUJD", &mut out), Some(3));
        assert_eq!(&out, b"ABC");
        assert!(is_alphabet(b"AZaz09-_"));
        assert!(!is_alphabet(b"AZ+"));
        assert!(!is_alphabet("é".as_bytes()));
    }
}
