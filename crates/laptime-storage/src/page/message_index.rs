//! The message index of a page (issue 15): the words of its log messages in a membership filter
//! (`value_filter`), so `message~"text"` skips a page that cannot contain the text, exactly: no
//! page that holds a match is ever skipped.
//!
//! A word is a maximal run of word characters (alphanumeric or `_`); everything else separates
//! words. A message that contains the needle contains each of the needle's words at the same
//! place, and where the needle has a separator the message has the same one. So a needle word
//! with a separator (or another needle word) on both sides is a whole word of the message; one
//! with a separator only after it (the needle's first word, when the needle starts inside a word)
//! is a word's suffix; one with a separator only before it is a word's prefix; a needle that is
//! one word with nothing around it may sit anywhere inside a word and rules nothing out.
//!
//! What the filter holds, per distinct word `w` of the page's messages: `w` whole; its prefixes
//! and suffixes of [`MIN_PART`] to [`MAX_PART`] bytes (cut at character boundaries; `w` itself
//! when it is that short). A needle word longer than [`MAX_PART`] is looked up by its first (for
//! a prefix) or last (for a suffix) [`MAX_PART`] bytes, which a longer word also has. Entries are
//! hashed with a kind byte first, so a whole word never answers for a prefix.
//!
//! Cost, R1-full (about 1,300 log messages of 100 templates with one number per page of 65,536
//! events): measured in BENCHMARKS.md.
//!
//! Layout (after the value index, layout 3): `0` no index (a segment summary: filters do not
//! merge), or `1` and the filter.

use crate::encoding::varint::{read_varint, write_varint};
use crate::error::DecodeError;
use crate::page::value_filter::{hash_value, FilterKind, ValueFilter};

/// Shortest prefix or suffix indexed: shorter ones would be in nearly every page.
pub const MIN_PART: usize = 3;
/// Longest prefix or suffix indexed.
pub const MAX_PART: usize = 24;

const WHOLE: u8 = b'w';
const PREFIX: u8 = b'p';
const SUFFIX: u8 = b's';

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The words of `text` with their byte offsets.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut rest = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let (start, _) = rest.by_ref().find(|(_, c)| is_word_char(*c))?;
        let mut end = text.len();
        while let Some(&(i, c)) = rest.peek() {
            if !is_word_char(c) {
                end = i;
                break;
            }
            rest.next();
        }
        Some((start, &text[start..end]))
    })
}

fn entry(kind: u8, part: &str, buf: &mut Vec<u8>) -> u64 {
    buf.clear();
    buf.push(kind);
    buf.extend_from_slice(part.as_bytes());
    hash_value(buf)
}

/// The index of a page's `messages`.
pub(crate) fn build<'m>(messages: impl Iterator<Item = &'m str>) -> ValueFilter {
    let mut distinct: foldhash::HashSet<&str> = foldhash::HashSet::default();
    for m in messages {
        distinct.extend(words(m).map(|(_, w)| w));
    }
    let mut hashes = Vec::with_capacity(distinct.len() * 4);
    let mut buf = Vec::new();
    for w in distinct {
        hashes.push(entry(WHOLE, w, &mut buf));
        for (cut, _) in w.char_indices().skip(1).chain([(w.len(), ' ')]) {
            if (MIN_PART..=MAX_PART).contains(&cut) {
                hashes.push(entry(PREFIX, &w[..cut], &mut buf));
            }
            let tail = w.len() - cut;
            // `cut` runs over the boundaries after the first character: the suffixes from the
            // whole word's (cut 0) down are covered by adding the whole word here.
            if (MIN_PART..=MAX_PART).contains(&tail) {
                hashes.push(entry(SUFFIX, &w[cut..], &mut buf));
            }
        }
        if (MIN_PART..=MAX_PART).contains(&w.len()) {
            hashes.push(entry(SUFFIX, w, &mut buf));
        }
    }
    hashes.sort_unstable();
    hashes.dedup();
    // A split-block Bloom filter, not the fuse filter of field values: a page has thousands of
    // entries, which it builds several times faster (it is built on the writer's path), at about
    // the same size; its higher false-positive rate (about 1.3 % an entry) matters less here,
    // since a text usually needs several entries and each must pass.
    ValueFilter::build_as(&hashes, FilterKind::Bloom10)
        .unwrap_or_else(|| ValueFilter::build(&hashes))
}

/// The entries a message containing `needle` must have, as (kind, part).
///
/// A whole word is also a prefix and a suffix of itself, so it needs those entries too: each is
/// another independent chance for the filter to say no, which takes a whole word's false
/// positives from one entry's rate (about 1.3 %) to about its cube.
fn required(needle: &str) -> Vec<(u8, &str)> {
    let found: Vec<(usize, &str)> = words(needle).collect();
    let mut out = Vec::with_capacity(found.len() * 3);
    for (i, &(at, w)) in found.iter().enumerate() {
        let bounded_before = i > 0 || at > 0;
        let bounded_after = i + 1 < found.len() || at + w.len() < needle.len();
        match (bounded_before, bounded_after) {
            (true, true) => {
                out.push((WHOLE, w));
                out.extend(prefix(w));
                out.extend(suffix(w));
            }
            (true, false) => out.extend(prefix(w)),
            (false, true) => out.extend(suffix(w)),
            (false, false) => {}
        }
    }
    out
}

/// The prefix entry a word starting with `w` has (its first [`MAX_PART`] bytes), if indexed.
fn prefix(w: &str) -> Option<(u8, &str)> {
    let cut = floor_boundary(w, MAX_PART);
    (cut >= MIN_PART).then(|| (PREFIX, &w[..cut]))
}

/// The suffix entry a word ending with `w` has (its last [`MAX_PART`] bytes), if indexed.
fn suffix(w: &str) -> Option<(u8, &str)> {
    let from = ceil_boundary(w, w.len().saturating_sub(MAX_PART));
    (w.len() - from >= MIN_PART).then(|| (SUFFIX, &w[from..]))
}

/// The largest character boundary of `s` at or below `at`.
fn floor_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

/// The smallest character boundary of `s` at or above `at`.
fn ceil_boundary(s: &str, at: usize) -> usize {
    (at..=s.len())
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(s.len())
}

/// Whether a page whose messages `index` describes may hold a message containing `needle`:
/// `false` only if none does.
pub fn may_contain(index: &ValueFilter, needle: &str) -> bool {
    holds_all(index, &required_hashes(needle))
}

/// The hashed entries a page's index must hold for one of its messages to contain `needle`
/// (computed once per query, then checked against each page with [`holds_all`]).
pub fn required_hashes(needle: &str) -> Vec<u64> {
    let mut buf = Vec::new();
    required(needle)
        .into_iter()
        .map(|(kind, part)| entry(kind, part, &mut buf))
        .collect()
}

/// Whether `index` holds every entry of `required` (from [`required_hashes`]): `false` only if
/// no message of its page contains the needle.
pub fn holds_all(index: &ValueFilter, required: &[u64]) -> bool {
    required.iter().all(|&h| index.may_contain(h))
}

/// Append `index` as a meta stores it (see the module doc).
pub(crate) fn encode(index: Option<&ValueFilter>, out: &mut Vec<u8>) {
    match index {
        None => write_varint(out, 0),
        Some(f) => {
            write_varint(out, 1);
            f.encode(out);
        }
    }
}

/// Read what [`encode`] wrote from `input[*pos..]`.
pub(crate) fn decode(input: &[u8], pos: &mut usize) -> Result<Option<ValueFilter>, DecodeError> {
    let at = *pos;
    match read_varint(input, pos)? {
        0 => Ok(None),
        1 => {
            let (filter, used) = ValueFilter::decode(input.get(*pos..).unwrap_or_default())
                .map_err(|e| DecodeError {
                    offset: *pos + e.offset,
                    reason: e.reason,
                })?;
            *pos += used;
            Ok(Some(filter))
        }
        _ => Err(DecodeError::new(at, "unknown message index entry")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: [&str; 5] = [
        "cache: processed 884213 items",
        "db pool: connection reset by peer (attempt 3)",
        "disk full on /var/lib/laptime_data",
        "ünïcödé wörds and snake_case_words",
        "",
    ];

    /// Every substring of every message (at character boundaries), and some that are in none.
    fn needles() -> Vec<String> {
        let mut out = Vec::new();
        for m in MESSAGES {
            let cuts: Vec<usize> = m.char_indices().map(|(i, _)| i).chain([m.len()]).collect();
            for (a, &i) in cuts.iter().enumerate() {
                for &j in &cuts[a..] {
                    out.push(m[i..j].to_owned());
                }
            }
        }
        out
    }

    #[test]
    fn no_page_holding_the_text_is_ruled_out() {
        let index = build(MESSAGES.iter().copied());
        for n in needles() {
            assert!(may_contain(&index, &n), "{n:?} is in a message");
        }
    }

    #[test]
    fn absent_words_rule_the_page_out() {
        let index = build(MESSAGES.iter().copied());
        for n in [
            "processed 884214 items",
            " 884213 things",
            "reset by pear",
            "disk empty",
            "snake_case_word ",
            "wörds xyz",
            "x 9999999",
        ] {
            assert!(!may_contain(&index, n), "{n:?} is in no message");
        }
        // One word with nothing around it may sit inside any word: nothing is ruled out.
        assert!(may_contain(&index, "zzzz"));
        // Parts shorter than MIN_PART say nothing either.
        assert!(may_contain(&index, " zz"));
    }

    /// A page of about R1's messages (1,300 with a six-digit number each) asked for numbers it
    /// lacks: the Bloom filter's rate for one entry is about 1.3 %, but a whole word needs its
    /// prefix and suffix entries too, so far fewer pages are kept for nothing.
    #[test]
    fn a_whole_word_is_checked_by_its_prefix_and_suffix_too() {
        let present: std::collections::HashSet<u64> =
            (0..1300u64).map(|i| 100_000 + i * 677 % 900_000).collect();
        let messages: Vec<String> = present
            .iter()
            .map(|n| format!("retrying after {n} ms"))
            .collect();
        let index = build(messages.iter().map(String::as_str));
        let absent = (0..20_000u64)
            .map(|i| 100_000 + (i * 7919 + 13) % 900_000)
            .filter(|n| !present.contains(n));
        let (mut asked, mut kept, mut kept_by_word) = (0u32, 0u32, 0u32);
        let mut buf = Vec::new();
        for n in absent {
            asked += 1;
            kept += u32::from(may_contain(&index, &format!("after {n} ms")));
            kept_by_word += u32::from(index.may_contain(entry(WHOLE, &n.to_string(), &mut buf)));
        }
        // The whole-word entry alone keeps about 1.3 %; with its ends, well under 0.2 %.
        assert!(asked > 15_000, "{asked}");
        assert!(kept_by_word > asked / 200, "{kept_by_word} of {asked}");
        assert!(kept < asked / 500, "{kept} of {asked} kept");
    }

    #[test]
    fn words_longer_than_the_longest_part_are_found_by_their_ends() {
        let long = "a".repeat(10) + &"b".repeat(40) + &"c".repeat(10);
        let index = build([format!("id {long} end").as_str()].into_iter());
        for n in [
            format!(" {}", &long[..45]),
            format!("{} ", &long[15..]),
            format!(" {long} "),
            format!("id {}", &long[..MAX_PART + 5]),
        ] {
            assert!(may_contain(&index, &n), "{n:?}");
        }
        // A difference within the first MAX_PART bytes is seen; one beyond them is not.
        let other = "a".repeat(10) + "x" + &"b".repeat(20);
        assert!(!may_contain(&index, &format!(" {other}")));
        assert!(may_contain(&index, &format!(" {}x", &long[..45])));
    }

    #[test]
    fn round_trip_and_bad_bytes() {
        let index = build(MESSAGES.iter().copied());
        let mut out = Vec::new();
        encode(Some(&index), &mut out);
        encode(None, &mut out);
        let mut pos = 0;
        assert_eq!(decode(&out, &mut pos).unwrap(), Some(index));
        assert_eq!(decode(&out, &mut pos).unwrap(), None);
        assert_eq!(pos, out.len());
        assert!(decode(&[7], &mut 0).is_err());
        for cut in 1..out.len() - 1 {
            assert!(decode(&out[..cut], &mut 0).is_err(), "cut at {cut}");
        }
    }
}
