use super::*;
use std::collections::HashMap;

fn values(pairs: &[(&str, f64)]) -> HashMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn eval(text: &str, pairs: &[(&str, f64)]) -> Evaluated {
    let vals = values(pairs);
    Expression::parse(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .evaluate(|name| vals.get(name).copied())
}

fn truth(text: &str, pairs: &[(&str, f64)]) -> Truth {
    eval(text, pairs).truth
}

#[test]
fn comparisons_hold_as_written() {
    let v = [("CPU", 80.0)];
    let table = [
        ("CPU > 79.5", Truth::True),
        ("CPU > 80", Truth::False),
        ("CPU >= 80", Truth::True),
        ("CPU < 80", Truth::False),
        ("CPU <= 80", Truth::True),
        ("CPU == 80", Truth::True),
        ("CPU = 80", Truth::True),
        ("CPU != 80", Truth::False),
        ("CPU <> 80", Truth::False),
        ("80 < CPU", Truth::False),
        ("CPU > -1", Truth::True),
        ("-2.5 < CPU", Truth::True),
    ];
    for (text, want) in table {
        assert_eq!(truth(text, &v), want, "{text}");
    }
}

#[test]
fn and_binds_tighter_than_or() {
    // A && B || C is (A && B) || C; OneFlow read it as A && (B || C).
    let v = [("A", 1.0), ("B", 0.0), ("C", 1.0)];
    assert_eq!(truth("A > 5 && B > 5 || C > 0", &v), Truth::True);
    // A || B && C is A || (B && C).
    assert_eq!(truth("A > 0 || B > 5 && C > 5", &v), Truth::True);
    assert_eq!(truth("A > 5 || B > 5 && C > 0", &v), Truth::False);
    // Parentheses regroup.
    assert_eq!(truth("A > 5 && (B > 5 || C > 0)", &v), Truth::False);
    // `&` and `|` are the same operators.
    assert_eq!(truth("A > 5 & B > 5 | C > 0", &v), Truth::True);
}

#[test]
fn not_negates_only_the_term_after_it() {
    let v = [("A", 2.0), ("B", 1.0)];
    // OneFlow: !(A > 1 && B < 2) = false. Here: (!(A > 1)) && B < 2 = false
    // too, so pick values that tell the two readings apart.
    assert_eq!(truth("!A > 5 && B < 2", &v), Truth::True);
    assert_eq!(truth("!(A > 1) && B < 2", &v), Truth::False);
    assert_eq!(truth("!(A > 1 && B > 5)", &v), Truth::True);
    assert_eq!(truth("!!A > 1", &v), Truth::True);
}

#[test]
fn a_missing_value_is_never_a_number() {
    let v = [("CPU", 90.0)];
    let e = eval("MEM > 50", &v);
    assert_eq!(e.truth, Truth::Missing);
    assert_eq!(e.missing, vec!["MEM".to_string()]);
    assert_eq!(e.trace, "MEM[--] > 50");
    // Negation does not turn missing into true (OneFlow's did).
    assert_eq!(truth("!MEM > 50", &v), Truth::Missing);
    // Three-valued logic: decided when the values read decide it.
    assert_eq!(truth("CPU > 95 && MEM > 50", &v), Truth::False);
    assert_eq!(truth("CPU > 80 && MEM > 50", &v), Truth::Missing);
    assert_eq!(truth("CPU > 80 || MEM > 50", &v), Truth::True);
    assert_eq!(truth("CPU > 95 || MEM > 50", &v), Truth::Missing);
}

#[test]
fn names_are_case_insensitive_and_quotes_are_not_part_of_them() {
    let v = [("CPU", 90.0)];
    assert_eq!(truth("cpu > 80", &v), Truth::True);
    assert_eq!(truth("\"CPU\" > 80", &v), Truth::True);
    assert_eq!(truth("'cpu' > 80", &v), Truth::True);
    let e = Expression::parse("cpu > 1 && Mem_2 < 3 || cpu < 0").unwrap();
    assert_eq!(e.names(), vec!["CPU", "MEM_2"]);
}

#[test]
fn the_trace_shows_every_value_read() {
    let e = eval(
        "CPU > 80 && (MEM < 50 || !DISK >= 1.5)",
        &[("CPU", 85.3), ("MEM", 60.0)],
    );
    assert_eq!(
        e.trace,
        "CPU[85.3] > 80 && (MEM[60] < 50 || !DISK[--] >= 1.5)"
    );
    assert_eq!(e.truth, Truth::Missing);
    assert_eq!(e.to_string(), format!("{} → missing", e.trace));
    let e = eval("CPU > 80", &[("CPU", 85.3)]);
    assert_eq!(e.to_string(), "CPU[85.3] > 80 → true");
}

#[test]
fn whitespace_is_free_and_the_canonical_form_reads_back() {
    let e = Expression::parse("  cpu>80&&(mem<=2|\t!x<>1)  ").unwrap();
    assert_eq!(e.to_string(), "CPU > 80 && (MEM <= 2 || !X != 1)");
    assert_eq!(Expression::parse(&e.to_string()).unwrap(), e);
}

#[test]
fn syntax_errors_say_what_and_where() {
    let table = [
        ("", 1, "expected a name or a number, found the end"),
        ("CPU", 4, "expected a comparison"),
        ("CPU >", 6, "expected a name or a number, found the end"),
        ("CPU > 80 &&", 12, "expected a name or a number"),
        (
            "CPU > 80 extra",
            10,
            "expected `&&`, `||` or the end, found the name EXTRA",
        ),
        ("(CPU > 80", 10, "expected `)` to close the `(` at column 1"),
        ("CPU > 80)", 9, "expected `&&`, `||` or the end, found `)`"),
        ("CPU # 80", 5, "unexpected character `#`"),
        ("CPU > 8.", 8, "expected a digit after the decimal point"),
        ("\"CPU > 80", 1, "unterminated name"),
        ("CPU > > 80", 7, "expected a name or a number, found `>`"),
        ("1CPU > 2", 2, "expected a comparison"),
        (
            "CPU > 80 && > 3",
            13,
            "expected a name or a number, found `>`",
        ),
        ("_X > 1", 1, "unexpected character `_`"),
    ];
    for (text, column, message) in table {
        let e = Expression::parse(text).expect_err(text);
        assert_eq!(e.column, column, "{text}: {e}");
        assert!(e.message.contains(message), "{text}: {e}");
    }
}

#[test]
fn hostile_input_is_refused_without_exhausting_the_stack() {
    let deep = format!("{}A > 1{}", "(".repeat(100), ")".repeat(100));
    let e = Expression::parse(&deep).unwrap_err();
    assert!(e.message.contains("nested more than"), "{e}");
    let nots = format!("{}A > 1", "!".repeat(100));
    assert!(Expression::parse(&nots).is_err());
    let long = "A > 1 && ".repeat(1000) + "A > 1";
    let e = Expression::parse(&long).unwrap_err();
    assert!(e.message.contains("longer than"), "{e}");
    // Long but within bounds: a flat chain parses without recursion.
    let chain = "A > 1 && ".repeat(400) + "A > 1";
    assert_eq!(truth(&chain, &[("A", 2.0)]), Truth::True);
}

#[test]
fn a_parsed_expression_keeps_its_text_and_reads_as_its_tree() {
    let e = ParsedExpression::parse("  cpu>80 ").unwrap();
    assert_eq!(e.text(), "  cpu>80 ");
    assert_eq!(e.names(), vec!["CPU"]);
    assert_eq!(*e, Expression::parse("CPU > 80").unwrap());
    assert_ne!(e, ParsedExpression::parse("CPU > 80").unwrap());
    assert!(ParsedExpression::parse("CPU >").is_err());
}
