use super::*;
use std::collections::BTreeMap;

/// A host's attributes as texts (numbers read from them).
fn host(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn holds(text: &str, attributes: &BTreeMap<String, String>) -> bool {
    Requirements::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .holds(attributes)
}

fn rank(text: &str, attributes: &BTreeMap<String, String>) -> f64 {
    Rank::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .value(attributes)
}

#[test]
fn every_comparison_holds_as_written() {
    let h = host(&[("FREE_CPU", "400"), ("ZONE", "a"), ("NAME", "kvm-12")]);
    let table = [
        ("FREE_CPU = 400", true),
        ("FREE_CPU == 400", true),
        ("FREE_CPU = 400.0", true),
        ("FREE_CPU = \"400\"", true),
        ("FREE_CPU != 400", false),
        ("FREE_CPU <> 400", false),
        ("FREE_CPU != 100", true),
        ("FREE_CPU > 399.5", true),
        ("FREE_CPU > 400", false),
        ("FREE_CPU >= 400", true),
        ("FREE_CPU < 400", false),
        ("FREE_CPU <= 400", true),
        ("FREE_CPU > -1", true),
        ("FREE_CPU < 1e3", true),
        ("ZONE = \"a\"", true),
        ("ZONE = 'a'", true),
        ("ZONE = a", true),
        ("ZONE == b", false),
        ("ZONE != b", true),
        ("ZONE <> \"a\"", false),
        // Values are case-sensitive, names are not.
        ("ZONE = A", false),
        ("zone = a", true),
        ("Zone='a'", true),
        // A string attribute is not ordered.
        ("ZONE > 1", false),
        ("ZONE < 1", false),
        // A number compared with a word is compared as text.
        ("FREE_CPU = many", false),
        ("FREE_CPU != many", true),
    ];
    for (text, want) in table {
        assert_eq!(holds(text, &h), want, "{text}");
    }
}

#[test]
fn a_star_matches_any_run_of_characters() {
    let h = host(&[("NAME", "kvm-12"), ("ID", "12"), ("ZONE", "")]);
    let table = [
        ("NAME = \"kvm-*\"", true),
        ("NAME = kvm-*", true),
        ("NAME = \"*-12\"", true),
        ("NAME = \"k*1*\"", true),
        ("NAME = \"*\"", true),
        ("NAME = \"kvm-1\"", false),
        ("NAME = \"kvm-1*3\"", false),
        ("NAME = \"xen-*\"", false),
        ("NAME != \"xen-*\"", true),
        ("NAME != \"kvm-*\"", false),
        ("NAME = \"kvm-**\"", true),
        // Numbers read as text for a glob.
        ("ID = 1*", true),
        ("ID = 2*", false),
        // `*` matches the empty run.
        ("ZONE = \"*\"", true),
        ("NAME = \"kvm-12*\"", true),
    ];
    for (text, want) in table {
        assert_eq!(holds(text, &h), want, "{text}");
    }
    assert!(glob_match("a*b*c", "axxbyyc"));
    assert!(!glob_match("a*b*c", "axxbyy"));
    assert!(glob_match("*é*", "café"));
}

#[test]
fn and_binds_tighter_than_or_and_not_takes_the_term_after_it() {
    let h = host(&[("A", "1"), ("B", "0"), ("C", "1")]);
    let table = [
        ("A = 0 & B = 0 | C = 1", true),
        ("A = 0 && (B = 0 || C = 1)", false),
        ("A = 1 | B = 1 & C = 0", true),
        ("A = 0 | B = 1 & C = 1", false),
        ("(A = 0 | B = 0) & C = 1", true),
        ("!A = 0", true),
        ("!A = 1 & C = 1", false),
        ("!(A = 1 & B = 1)", true),
        ("!!A = 1", true),
        ("! ( A = 1 ) | B = 0", true),
        ("A=1&B=0&C=1", true),
        ("A=1&&B=1||C=1", true),
    ];
    for (text, want) in table {
        assert_eq!(holds(text, &h), want, "{text}");
    }
}

#[test]
fn a_missing_attribute_makes_its_comparison_false() {
    let h = host(&[("ZONE", "a")]);
    let table = [
        ("RACK = 1", false),
        ("RACK != 1", false),
        ("RACK > 0", false),
        ("!(RACK = 1)", true),
        ("!RACK != 1", true),
        ("RACK = 1 | ZONE = a", true),
        ("RACK = 1 & ZONE = a", false),
    ];
    for (text, want) in table {
        assert_eq!(holds(text, &h), want, "{text}");
    }
}

#[test]
fn mistakes_say_what_and_where() {
    let table = [
        (
            "",
            1,
            "expected an attribute name, `!` or `(`, found the end",
        ),
        ("ZONE =", 7, "expected a value after `=`, found the end"),
        ("ZONE", 5, "expected a comparison"),
        (
            "ZONE a",
            6,
            "expected a comparison (`=`, `!=`, `>`, `>=`, `<`, `<=`) after ZONE, found `a`",
        ),
        ("ZONE = a b", 10, "expected `&`, `|` or the end, found `b`"),
        ("ZONE = a &", 11, "expected an attribute name"),
        ("ZONE = a)", 9, "expected `&`, `|` or the end, found `)`"),
        (
            "(ZONE = a",
            10,
            "expected `)` to close the `(` at column 1, found the end",
        ),
        ("ZONE = \"a", 8, "the string opened here has no closing \""),
        ("ZONE = 'a\"", 8, "the string opened here has no closing '"),
        (
            "FREE_CPU > many",
            12,
            "`>` compares numbers, and `many` is not one",
        ),
        ("FREE_CPU >= \"kvm-*\"", 13, "`>=` compares numbers"),
        ("ZONE == == a", 9, "expected a value after `==`"),
        ("1ZONE = a", 1, "expected an attribute name"),
        ("_ZONE = a", 1, "expected an attribute name"),
        (
            "ZONE = a & != b",
            12,
            "expected an attribute name, `!` or `(`, found `!`",
        ),
        ("ZONE @> a", 6, "expected a comparison"),
        ("ZONE = é & X", 13, "expected a comparison"),
    ];
    for (text, column, reason) in table {
        let e = Requirements::parse(text).expect_err(text);
        assert_eq!(e.column, column, "{text}: {e}");
        assert!(e.reason.contains(reason), "{text}: {e}");
    }
    let e = Requirements::parse("ZONE =").unwrap_err();
    assert_eq!(
        e.to_string(),
        "column 7: expected a value after `=`, found the end"
    );
}

#[test]
fn hostile_input_is_refused_without_exhausting_the_stack() {
    let deep = format!("{}A = 1{}", "(".repeat(100), ")".repeat(100));
    let e = Requirements::parse(&deep).unwrap_err();
    assert_eq!(e.column, MAX_DEPTH + 1);
    assert!(e.reason.contains("nested more than 64 deep"), "{e}");
    let nots = format!("{}A = 1", "!".repeat(100));
    assert!(Requirements::parse(&nots).is_err());
    let fine = format!("{}A = 1{}", "(".repeat(60), ")".repeat(60));
    assert!(holds(&fine, &host(&[("A", "1")])));
    let long = "A = 1 & ".repeat(600) + "A = 1";
    let e = Requirements::parse(&long).unwrap_err();
    assert_eq!(e.column, MAX_LENGTH + 1);
    assert!(e.reason.contains("longer than 4096"), "{e}");
    // Long but within bounds: a flat chain, no recursion per term.
    let chain = "A = 1 & ".repeat(500) + "A = 1";
    assert!(holds(&chain, &host(&[("A", "1")])));
    let e = Rank::parse(&"-".repeat(100)).unwrap_err();
    assert!(e.reason.contains("nested more than"), "{e}");
    assert!(Rank::parse(&"1 + ".repeat(1100)).is_err());
    assert_eq!(rank(&("1 + ".repeat(1000) + "1"), &host(&[])), 1001.0);
}

#[test]
fn the_text_is_kept_and_written_back() {
    let r = Requirements::parse("  zone='a'  ").unwrap();
    assert_eq!(r.to_string(), "  zone='a'  ");
    assert_eq!(r.text(), "  zone='a'  ");
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json, serde_json::json!("  zone='a'  "));
    let back: Requirements = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
    assert!(serde_json::from_value::<Requirements>(serde_json::json!("ZONE =")).is_err());
    let k = Rank::parse("FREE_MEM - 1024*RUNNING_VMS").unwrap();
    assert_eq!(k.to_string(), "FREE_MEM - 1024*RUNNING_VMS");
    let back: Rank = serde_json::from_value(serde_json::to_value(&k).unwrap()).unwrap();
    assert_eq!(back, k);
}

#[test]
fn ranks_do_arithmetic() {
    let h = host(&[
        ("FREE_CPU", "350"),
        ("FREE_MEM", "4194304"),
        ("RUNNING_VMS", "3"),
        ("ZONE", "a"),
        ("WEIGHT", "2.5"),
    ]);
    let table = [
        ("FREE_CPU", 350.0),
        ("-RUNNING_VMS", -3.0),
        ("RUNNING_VMS", 3.0),
        ("FREE_MEM - 1024 * RUNNING_VMS", 4194304.0 - 3072.0),
        ("free_mem-1024*running_vms", 4194304.0 - 3072.0),
        ("1 + 2 * 3", 7.0),
        ("(1 + 2) * 3", 9.0),
        ("10 - 4 - 3", 3.0),
        ("12 / 3 / 2", 2.0),
        ("2 * -3", -6.0),
        ("--RUNNING_VMS", 3.0),
        ("-(1 - 4)", 3.0),
        ("WEIGHT * 2", 5.0),
        ("0.5 * 4", 2.0),
        // A missing attribute, or a text, counts 0.
        ("MISSING + 1", 1.0),
        ("ZONE + 1", 1.0),
        // Division by zero gives 0.
        ("FREE_CPU / 0", 0.0),
        ("FREE_CPU / MISSING + 1", 1.0),
        ("FREE_CPU / (RUNNING_VMS - 3)", 0.0),
    ];
    for (text, want) in table {
        assert_eq!(rank(text, &h), want, "{text}");
    }
}

#[test]
fn rank_mistakes_say_what_and_where() {
    let table = [
        (
            "",
            1,
            "expected a number, an attribute name, `-` or `(`, found the end",
        ),
        ("FREE_CPU +", 11, "expected a number"),
        (
            "FREE_CPU RUNNING_VMS",
            10,
            "expected `+`, `-`, `*`, `/` or the end, found `R`",
        ),
        ("(1 + 2", 7, "expected `)` to close the `(` at column 1"),
        ("1 + 2)", 6, "found `)`"),
        ("1.", 3, "expected a digit after the decimal point"),
        ("FREE_CPU > 1", 10, "found `>`"),
        ("+1", 1, "expected a number"),
        ("1 # 2", 3, "found `#`"),
    ];
    for (text, column, reason) in table {
        let e = Rank::parse(text).expect_err(text);
        assert_eq!(e.column, column, "{text}: {e}");
        assert!(e.reason.contains(reason), "{text}: {e}");
    }
    let huge = "9".repeat(400);
    let e = Rank::parse(&huge).unwrap_err();
    assert!(e.reason.contains("too large"), "{e}");
}

#[test]
fn numbers_are_decimal_and_finite() {
    let table = [
        ("10", Some(10.0)),
        ("-1.5", Some(-1.5)),
        ("+2", Some(2.0)),
        ("1e3", Some(1000.0)),
        ("inf", None),
        ("NaN", None),
        ("infinity", None),
        (".5", None),
        ("", None),
        ("-", None),
        ("1-2", None),
        ("0x10", None),
        ("1e999", None),
    ];
    for (text, want) in table {
        assert_eq!(parse_number(text), want, "{text}");
    }
}
