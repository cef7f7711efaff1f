//! A million generated replies through every step parser: none panics, and every reply a
//! parser cannot read comes back whole in its `ParseError` (a reply is never dropped).
//!
//! The replies are built from a seeded generator (no shrinking, so a million fit in seconds):
//! the format's own markers (`##`, `Q:`, full-width colons, fences, bullets, JSON brackets,
//! yes/no words in several languages) mixed with arbitrary Unicode, in random order and length.
//! `properties.rs` holds the shrinking property tests; this is their volume.

use navab_llm::steps::{
    parse_source, parse_statements, parse_tags, parse_topic_label, parse_triple, parse_verdict,
    parse_yes_no,
};
use navab_llm::ParseError;

/// Replies generated in total (split over the test's threads).
const REPLIES: u64 = 1_000_000;

const FRAGMENTS: &[&str] = &[
    "## ",
    "#",
    "Q: ",
    "Q：",
    "S: ",
    "S：",
    "RS: ",
    "RS：",
    "\n",
    "\r\n",
    "```json\n",
    "```",
    "**",
    "[{\"tag\": \"",
    "\", \"explanation\": \"",
    "\"}]",
    "[{'tag': ",
    "}],",
    "{",
    "}",
    "[",
    "]",
    "Statement: ",
    "Statement 1: ",
    "1. ",
    "- ",
    "* ",
    "yes",
    "no",
    "Yes.",
    "否",
    "是",
    "是否",
    "oui",
    "nein",
    "A",
    "B",
    "Answer: A",
    "Answer: B",
    "unknown",
    "official",
    "topic: ",
    "Topic：",
    "\"",
    "'",
    "：",
    ":",
    "。",
    "，",
    " ",
    "\t",
    "\u{feff}",
    "\u{200b}",
    "😀",
    "é",
    "\u{301}",
];

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn reply(state: &mut u64) -> String {
    let parts = splitmix(state) % 16;
    let mut out = String::new();
    for _ in 0..parts {
        let r = splitmix(state);
        if r.is_multiple_of(4) {
            // A run of arbitrary scalar values (surrogates skipped by from_u32).
            for k in 0..(r >> 8) % 8 {
                let c = (splitmix(state) >> ((k % 3) * 8)) as u32 % 0x11_0000;
                out.extend(char::from_u32(c));
            }
        } else {
            out.push_str(FRAGMENTS[(r >> 8) as usize % FRAGMENTS.len()]);
        }
    }
    out
}

/// The error holds the reply as given.
fn kept<T>(reply: &str, result: Result<T, ParseError>) -> bool {
    result.err().is_none_or(|e| e.raw == reply)
}

#[test]
fn a_million_generated_replies_never_panic_and_are_never_dropped() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let ran: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut state = 0x5EED ^ t.wrapping_mul(0xA24B_AED4_963E_E407);
                    let share = REPLIES / threads + u64::from(t < REPLIES % threads);
                    for _ in 0..share {
                        let s = reply(&mut state);
                        let all_kept = kept(&s, parse_topic_label(&s))
                            && kept(&s, parse_tags(&s))
                            && kept(&s, parse_yes_no(&s))
                            && kept(&s, parse_statements(&s))
                            && kept(&s, parse_source(&s))
                            && kept(&s, parse_triple(&s))
                            && kept(&s, parse_verdict(&s));
                        assert!(all_kept, "a parse error lost the reply {s:?}");
                    }
                    share
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    assert_eq!(ran, REPLIES);
    eprintln!("{ran} replies × 7 parsers: no panic, every failure kept its reply");
}
