//! The text functions are total: any input gives an answer, never a panic.

use navab_triples::{is_question, normalise, opposition, parse_relation, ValidationParams};
use proptest::prelude::*;

// Mixed scripts, punctuation and the markers the heuristics look for.
fn messy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("不".to_string()),
            Just("非常".to_string()),
            Just("反對".to_string()),
            Just(" not ".to_string()),
            Just("n't".to_string()),
            Just("##".to_string()),
            Just("？".to_string()),
            Just("Ａ".to_string()),
            Just("agree".to_string()),
            Just("conflict".to_string()),
            Just("\n".to_string()),
            any::<char>().prop_map(|c| c.to_string()),
            "[a-z ]{0,6}",
        ],
        0..24,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn text_checks_never_panic(s in messy(), rs in messy()) {
        let _ = is_question(&s);
        let n = normalise(&s);
        prop_assert_eq!(normalise(&n), n.clone(), "normalise is idempotent");
        let _ = opposition(&s, &rs, &ValidationParams::default());
        if let Err(e) = parse_relation(&s) {
            prop_assert_eq!(e.raw, s);
        }
    }
}
