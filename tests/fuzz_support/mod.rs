//! The fuzz harness every parser target shares: a committed corpus of real
//! inputs per target (`tests/fuzz_corpus/<target>/`), and a proptest
//! strategy that takes one of them and mutates it (bytes flipped, set to
//! a byte parsers care about, cut, inserted, duplicated, spliced from
//! another input). Starting from real inputs reaches the parser's deep
//! paths (a TOML table with one bad value, a frame with one bad field)
//! that random bytes alone almost never reach.
//!
//! Every corpus file is also run as it is, so a crashing input kept in
//! the corpus stays a regression test.
//!
//! `READERLINK_FUZZ_CASES=N` runs N mutated inputs per target instead of
//! the default (kept small enough for the normal `cargo test`).

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::Index;
use std::path::{Path, PathBuf};

/// Mutated inputs per target in a normal `cargo test`.
pub const DEFAULT_CASES: u32 = 2000;

/// How many mutated inputs each target runs: `READERLINK_FUZZ_CASES`, or
/// [`DEFAULT_CASES`].
pub fn cases() -> u32 {
    std::env::var("READERLINK_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The proptest configuration of a target: [`cases`] cases, and no
/// shrinking time limit beyond proptest's own.
pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    }
}

/// Where a target's corpus lives.
pub fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target)
}

/// A target's corpus: every file of its folder, sorted by name, as
/// (name, bytes). Fails when the folder is missing or empty, so a target
/// never runs on nothing.
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus entry").path())
        .filter(|path| path.is_file())
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).expect("a readable corpus file");
            (name, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

/// Bytes parsers of text and of frames give meaning to: TOML and JSON
/// punctuation, form separators and escapes, line ends, a multi-byte
/// UTF-8 lead, invalid UTF-8, the extremes.
const INTERESTING: &[u8] = b"\"'=[]{}:,.\n\r\t #%&+-0129eE\\\x00\x01\x7f\x80\xc3\xff";

/// One edit of an input.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Flip one bit of a byte.
    FlipBit(Index, u8),
    /// Set a byte to any value.
    Set(Index, u8),
    /// Set a byte to one parsers care about.
    SetInteresting(Index, Index),
    /// Remove up to `n` bytes.
    Remove(Index, u8),
    /// Insert bytes.
    Insert(Index, Vec<u8>),
    /// Copy a run of the input to another place in it.
    Duplicate(Index, Index, u8),
    /// Insert a run of another corpus input.
    Splice(Index, Index, Index, u8),
    /// Cut the input at a place.
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Edit::FlipBit(i, bit)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(i, b)| Edit::SetInteresting(i, b)),
        2 => (any::<Index>(), 1u8..32).prop_map(|(i, n)| Edit::Remove(i, n)),
        2 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Edit::Insert(i, b)),
        1 => (any::<Index>(), any::<Index>(), 1u8..64).prop_map(|(from, to, n)| Edit::Duplicate(from, to, n)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>(), 1u8..64)
            .prop_map(|(which, from, to, n)| Edit::Splice(which, from, to, n)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// Applies edits to an input; `corpus` is where splices come from.
pub fn apply(mut bytes: Vec<u8>, edits: &[Edit], corpus: &[(String, Vec<u8>)]) -> Vec<u8> {
    for edit in edits {
        let len = bytes.len();
        match edit {
            Edit::FlipBit(i, bit) if len > 0 => bytes[i.index(len)] ^= 1 << bit,
            Edit::Set(i, b) if len > 0 => bytes[i.index(len)] = *b,
            Edit::SetInteresting(i, b) if len > 0 => bytes[i.index(len)] = *b.get(INTERESTING),
            Edit::Remove(i, n) if len > 0 => {
                let at = i.index(len);
                let end = (at + *n as usize).min(len);
                bytes.drain(at..end);
            }
            Edit::Insert(i, new) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Edit::Duplicate(from, to, n) if len > 0 => {
                let at = from.index(len);
                let run = bytes[at..(at + *n as usize).min(len)].to_vec();
                let to = to.index(len + 1);
                bytes.splice(to..to, run);
            }
            Edit::Splice(which, from, to, n) => {
                let other = &which.get(corpus).1;
                if !other.is_empty() {
                    let at = from.index(other.len());
                    let run = &other[at..(at + *n as usize).min(other.len())];
                    let to = to.index(len + 1);
                    bytes.splice(to..to, run.iter().copied());
                }
            }
            Edit::Truncate(i) => bytes.truncate(i.index(len + 1)),
            _ => {}
        }
    }
    bytes
}

/// One corpus input with 0 to 8 edits. With no edit the input is the
/// corpus file itself.
pub fn mutated(corpus: &'static [(String, Vec<u8>)]) -> impl Strategy<Value = Vec<u8>> {
    (any::<Index>(), proptest::collection::vec(edit(), 0..8))
        .prop_map(move |(which, edits)| apply(which.get(corpus).1.clone(), &edits, corpus))
}

/// The corpus of a target, loaded once per test binary.
#[macro_export]
macro_rules! corpus_of {
    ($target:literal) => {{
        static CORPUS: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
        CORPUS
            .get_or_init(|| $crate::fuzz_support::corpus($target))
            .as_slice()
    }};
}
