//! `SCHED_REQUIREMENTS` and `SCHED_RANK`: which hosts a VM may go to, and
//! which of them it prefers, read from its template as OpenNebula's
//! scheduler reads them.
//!
//! # The attributes of a host
//!
//! Both expressions read a host's attributes by name, case-insensitively:
//!
//! | name | value |
//! |---|---|
//! | `ID` | the host's id |
//! | `NAME` | its name (`kvm-1`) |
//! | `STATE` | `INIT`, `MONITORED`, `ERROR`, `DISABLED` or `OFFLINE` |
//! | `MAX_CPU` | its CPUs × 100 (OpenNebula's unit: 8 CPUs are 800) |
//! | `CPU_USAGE` | the CPU of the VMs placed there × 100 |
//! | `FREE_CPU` | `MAX_CPU` − `CPU_USAGE` |
//! | `MAX_MEM` | its memory in KB |
//! | `MEM_USAGE` | the MEMORY of the VMs placed there, in KB |
//! | `FREE_MEM` | `MAX_MEM` − `MEM_USAGE`, in KB |
//! | `RUNNING_VMS` | how many VMs are placed there |
//! | any label | the host's `labels` (`ZONE` for `ZONE=a`) |
//!
//! Usage is what placement booked (the CPU and MEMORY of the VMs placed
//! on the host), not what monitoring measured, as OpenNebula's scheduler
//! counts it. `MAX_*` and `FREE_*` are known once a monitoring answered
//! (never in `INIT`). A label named like one of the attributes above is
//! hidden by it.
//!
//! # SCHED_REQUIREMENTS
//!
//! Comparisons `NAME op VALUE`, `op` one of `=` (or `==`), `!=` (or `<>`),
//! `>`, `>=`, `<`, `<=`; `VALUE` a number (`4`, `-1.5`), a quoted string
//! (`"a"`, `'a'`) or a bare word (`a`, `kvm-1`). They combine with `&`
//! (or `&&`), `|` (or `||`) and `!` (before a comparison or a
//! parenthesised group); `&` binds tighter than `|`, parentheses regroup.
//! Examples: `ZONE = "a"`, `FREE_MEM > 2097152 & NAME != "kvm-*"`,
//! `!(ZONE = b | ZONE = c)`.
//!
//! - Two values compare as numbers when both read as numbers (`"10"` is
//!   10), else as strings (case-sensitive); with `=` and `!=` a string
//!   may use `*` for any run of characters (`NAME = "kvm-*"`). `>`, `>=`,
//!   `<` and `<=` compare numbers only: their value must be a number, and
//!   on an attribute that is not a number they are false.
//! - A comparison whose attribute the host lacks is false, `!=` too:
//!   `ZONE != "a"` holds only on hosts that have a ZONE; `!(ZONE = "a")`
//!   holds on hosts without one as well.
//!
//! # SCHED_RANK
//!
//! Arithmetic over the same attributes: numbers, names, `+ - * /`, unary
//! minus and parentheses (`FREE_CPU`, `-RUNNING_VMS`, `FREE_MEM - 1024 *
//! RUNNING_VMS`). A missing attribute, or one that is not a number, counts
//! 0; a division by zero gives 0. Hosts with the highest rank come first.
//!
//! Both expressions are at most [`MAX_LENGTH`] characters and nest `(`,
//! `!` and unary minus at most [`MAX_DEPTH`] deep, so no input can exhaust
//! the stack; a mistake is reported with its column.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::Arc;

/// The longest expression accepted: an expression is a line in a template.
pub const MAX_LENGTH: usize = 4096;
/// How deep `(`, `!` and unary minus may nest: bounds the recursion.
pub const MAX_DEPTH: usize = 64;

/// The value of an attribute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Number(f64),
    Text(&'a str),
}

impl Value<'_> {
    /// As a number: a number, or a text that reads as one.
    pub fn number(self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(n),
            Value::Text(t) => parse_number(t),
        }
    }
}

/// What an expression reads: the value of an upper-cased name, `None`
/// when there is none.
pub trait Attributes {
    fn get(&self, name: &str) -> Option<Value<'_>>;
}

/// A map of names (upper-case) to texts, as in tests and previews.
impl Attributes for std::collections::BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<Value<'_>> {
        std::collections::BTreeMap::get(self, name).map(|v| Value::Text(v))
    }
}

/// A number as written in an expression or a label: an optional sign,
/// digits, an optional fraction and exponent; never `inf` or `NaN`.
pub fn parse_number(text: &str) -> Option<f64> {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !body.starts_with(|c: char| c.is_ascii_digit())
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
    {
        return None;
    }
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Why an expression does not parse, and where: `column` counts
/// characters from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub column: usize,
    pub reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.reason)
    }
}

impl std::error::Error for ParseError {}

/// A parsed `SCHED_REQUIREMENTS`. `Display` writes the text it was parsed
/// from. Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirements {
    text: Arc<str>,
    root: Arc<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Any(Vec<Condition>),
    All(Vec<Condition>),
    Not(Box<Condition>),
    Compare {
        name: String,
        op: Op,
        value: Literal,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
struct Literal {
    text: String,
    number: Option<f64>,
    glob: bool,
}

impl Requirements {
    pub fn parse(text: &str) -> Result<Requirements, ParseError> {
        let mut p = Cursor::new(text)?;
        let root = p.any()?;
        p.skip_space();
        if let Some(c) = p.peek() {
            return Err(p.error(format!("expected `&`, `|` or the end, found `{c}`")));
        }
        Ok(Requirements {
            text: text.into(),
            root: Arc::new(root),
        })
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the attributes meet the requirements.
    pub fn holds(&self, attributes: &(impl Attributes + ?Sized)) -> bool {
        holds(&self.root, attributes)
    }
}

fn holds(condition: &Condition, attributes: &(impl Attributes + ?Sized)) -> bool {
    match condition {
        Condition::Any(all) => all.iter().any(|c| holds(c, attributes)),
        Condition::All(all) => all.iter().all(|c| holds(c, attributes)),
        Condition::Not(c) => !holds(c, attributes),
        Condition::Compare { name, op, value } => match attributes.get(name) {
            None => false,
            Some(attribute) => compare(attribute, *op, value),
        },
    }
}

fn compare(attribute: Value<'_>, op: Op, value: &Literal) -> bool {
    let numbers = value
        .number
        .and_then(|v| attribute.number().map(|a| (a, v)));
    match op {
        Op::Eq | Op::Ne => {
            let equal = match numbers {
                Some((a, v)) => a == v,
                None => {
                    let text = match attribute {
                        Value::Text(t) => std::borrow::Cow::Borrowed(t),
                        Value::Number(n) => std::borrow::Cow::Owned(n.to_string()),
                    };
                    if value.glob {
                        glob_match(&value.text, &text)
                    } else {
                        *text == value.text
                    }
                }
            };
            equal == (op == Op::Eq)
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => match numbers {
            None => false,
            Some((a, v)) => match op {
                Op::Gt => a > v,
                Op::Ge => a >= v,
                Op::Lt => a < v,
                _ => a <= v,
            },
        },
    }
}

/// `*` matches any run of characters; everything else matches itself.
/// Linear in practice: backtracks only to the last `*`.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == t[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

impl fmt::Display for Requirements {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Requirements {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Requirements {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Requirements::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A parsed `SCHED_RANK`. `Display` writes the text it was parsed from.
/// Cheap to clone.
#[derive(Debug, Clone, PartialEq)]
pub struct Rank {
    text: Arc<str>,
    root: Arc<Term>,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Number(f64),
    Name(String),
    Negate(Box<Term>),
    /// Terms added (`false`) or subtracted (`true`), the first added.
    Sum(Vec<(bool, Term)>),
    /// Factors multiplied (`false`) or divided by (`true`), the first
    /// multiplied.
    Product(Vec<(bool, Term)>),
}

impl Rank {
    pub fn parse(text: &str) -> Result<Rank, ParseError> {
        let mut p = Cursor::new(text)?;
        let root = p.sum()?;
        p.skip_space();
        if let Some(c) = p.peek() {
            return Err(p.error(format!(
                "expected `+`, `-`, `*`, `/` or the end, found `{c}`"
            )));
        }
        Ok(Rank {
            text: text.into(),
            root: Arc::new(root),
        })
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rank of these attributes: never NaN.
    pub fn value(&self, attributes: &(impl Attributes + ?Sized)) -> f64 {
        let v = value(&self.root, attributes);
        if v.is_nan() { 0.0 } else { v }
    }
}

fn value(term: &Term, attributes: &(impl Attributes + ?Sized)) -> f64 {
    match term {
        Term::Number(n) => *n,
        Term::Name(name) => attributes.get(name).and_then(Value::number).unwrap_or(0.0),
        Term::Negate(t) => -value(t, attributes),
        Term::Sum(terms) => terms.iter().fold(0.0, |acc, (minus, t)| {
            let v = value(t, attributes);
            if *minus { acc - v } else { acc + v }
        }),
        Term::Product(factors) => factors.iter().fold(1.0, |acc, (divide, t)| {
            let v = value(t, attributes);
            match (*divide, v == 0.0) {
                (false, _) => acc * v,
                (true, true) => 0.0,
                (true, false) => acc / v,
            }
        }),
    }
}

impl fmt::Display for Rank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Rank {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Rank {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Rank::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Both parsers read characters straight from the text: what a value may
/// be depends on where it stands (`kvm-*` after `=`), so there is no
/// separate tokenizer.
struct Cursor {
    chars: Vec<char>,
    at: usize,
    depth: usize,
}

/// What ends a bare word.
fn ends_word(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '(' | ')' | '&' | '|' | '!' | '=' | '<' | '>' | '"' | '\''
        )
}

impl Cursor {
    fn new(text: &str) -> Result<Cursor, ParseError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > MAX_LENGTH {
            return Err(ParseError {
                column: MAX_LENGTH + 1,
                reason: format!("longer than {MAX_LENGTH} characters"),
            });
        }
        Ok(Cursor {
            chars,
            at: 0,
            depth: 0,
        })
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.at + ahead).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    fn error_at(&self, at: usize, reason: String) -> ParseError {
        ParseError {
            column: at + 1,
            reason,
        }
    }

    fn error(&self, reason: String) -> ParseError {
        self.error_at(self.at, reason)
    }

    /// What stands at the cursor, for an error.
    fn found(&self) -> String {
        match self.peek() {
            None => "the end".into(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nested more than {MAX_DEPTH} deep")));
        }
        Ok(())
    }

    /// A name: a letter, then letters, digits and `_`; upper-cased.
    fn name(&mut self) -> Option<String> {
        if !self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.at += 1;
        }
        Some(
            self.chars[start..self.at]
                .iter()
                .collect::<String>()
                .to_ascii_uppercase(),
        )
    }

    /// Consume one operator character, doubled if it is (`&&`).
    fn operator(&mut self, c: char) -> bool {
        if self.peek() != Some(c) {
            return false;
        }
        self.at += 1;
        if self.peek() == Some(c) {
            self.at += 1;
        }
        true
    }

    fn any(&mut self) -> Result<Condition, ParseError> {
        let mut all = vec![self.all()?];
        loop {
            self.skip_space();
            if !self.operator('|') {
                break;
            }
            all.push(self.all()?);
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one")
        } else {
            Condition::Any(all)
        })
    }

    fn all(&mut self) -> Result<Condition, ParseError> {
        let mut all = vec![self.condition()?];
        loop {
            self.skip_space();
            if !self.operator('&') {
                break;
            }
            all.push(self.condition()?);
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one")
        } else {
            Condition::All(all)
        })
    }

    fn condition(&mut self) -> Result<Condition, ParseError> {
        self.skip_space();
        self.enter()?;
        let condition = match self.peek() {
            Some('!') if self.peek_at(1) != Some('=') => {
                self.at += 1;
                Condition::Not(Box::new(self.condition()?))
            }
            Some('(') => {
                let open = self.at;
                self.at += 1;
                let inner = self.any()?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(self.error(format!(
                        "expected `)` to close the `(` at column {}, found {}",
                        open + 1,
                        self.found()
                    )));
                }
                self.at += 1;
                inner
            }
            _ => self.comparison()?,
        };
        self.depth -= 1;
        Ok(condition)
    }

    fn comparison(&mut self) -> Result<Condition, ParseError> {
        let Some(name) = self.name() else {
            return Err(self.error(format!(
                "expected an attribute name, `!` or `(`, found {}",
                self.found()
            )));
        };
        self.skip_space();
        let start = self.at;
        let (op, len) = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => (Op::Eq, 2),
            (Some('='), _) => (Op::Eq, 1),
            (Some('!'), Some('=')) => (Op::Ne, 2),
            (Some('<'), Some('>')) => (Op::Ne, 2),
            (Some('<'), Some('=')) => (Op::Le, 2),
            (Some('<'), _) => (Op::Lt, 1),
            (Some('>'), Some('=')) => (Op::Ge, 2),
            (Some('>'), _) => (Op::Gt, 1),
            _ => {
                return Err(self.error(format!(
                    "expected a comparison (`=`, `!=`, `>`, `>=`, `<`, `<=`) after {name}, \
                     found {}",
                    self.found()
                )));
            }
        };
        self.at += len;
        let symbol: String = self.chars[start..self.at].iter().collect();
        self.skip_space();
        let value_at = self.at;
        let text = match self.peek() {
            Some(quote @ ('"' | '\'')) => {
                let close = self.chars[self.at + 1..]
                    .iter()
                    .position(|&c| c == quote)
                    .ok_or_else(|| {
                        self.error(format!("the string opened here has no closing {quote}"))
                    })?;
                let text: String = self.chars[self.at + 1..self.at + 1 + close]
                    .iter()
                    .collect();
                self.at += close + 2;
                text
            }
            _ => {
                while self.peek().is_some_and(|c| !ends_word(c)) {
                    self.at += 1;
                }
                if self.at == value_at {
                    return Err(self.error(format!(
                        "expected a value after `{symbol}`, found {}",
                        self.found()
                    )));
                }
                self.chars[value_at..self.at].iter().collect()
            }
        };
        let number = parse_number(&text);
        if !matches!(op, Op::Eq | Op::Ne) && number.is_none() {
            return Err(self.error_at(
                value_at,
                format!("`{symbol}` compares numbers, and `{text}` is not one"),
            ));
        }
        Ok(Condition::Compare {
            name,
            op,
            value: Literal {
                glob: number.is_none() && text.contains('*'),
                text,
                number,
            },
        })
    }

    fn sum(&mut self) -> Result<Term, ParseError> {
        let mut terms = vec![(false, self.product()?)];
        loop {
            self.skip_space();
            let minus = match self.peek() {
                Some('+') => false,
                Some('-') => true,
                _ => break,
            };
            self.at += 1;
            terms.push((minus, self.product()?));
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one").1
        } else {
            Term::Sum(terms)
        })
    }

    fn product(&mut self) -> Result<Term, ParseError> {
        let mut factors = vec![(false, self.factor()?)];
        loop {
            self.skip_space();
            let divide = match self.peek() {
                Some('*') => false,
                Some('/') => true,
                _ => break,
            };
            self.at += 1;
            factors.push((divide, self.factor()?));
        }
        Ok(if factors.len() == 1 {
            factors.pop().expect("one").1
        } else {
            Term::Product(factors)
        })
    }

    fn factor(&mut self) -> Result<Term, ParseError> {
        self.skip_space();
        self.enter()?;
        let term = match self.peek() {
            Some('-') => {
                self.at += 1;
                Term::Negate(Box::new(self.factor()?))
            }
            Some('(') => {
                let open = self.at;
                self.at += 1;
                let inner = self.sum()?;
                self.skip_space();
                if self.peek() != Some(')') {
                    return Err(self.error(format!(
                        "expected `)` to close the `(` at column {}, found {}",
                        open + 1,
                        self.found()
                    )));
                }
                self.at += 1;
                inner
            }
            Some(c) if c.is_ascii_digit() => {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                if self.peek() == Some('.') {
                    self.at += 1;
                    if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        return Err(self.error("expected a digit after the decimal point".into()));
                    }
                    while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.at += 1;
                    }
                }
                let text: String = self.chars[start..self.at].iter().collect();
                match parse_number(&text) {
                    Some(n) => Term::Number(n),
                    None => return Err(self.error_at(start, format!("`{text}` is too large"))),
                }
            }
            _ => match self.name() {
                Some(name) => Term::Name(name),
                None => {
                    return Err(self.error(format!(
                        "expected a number, an attribute name, `-` or `(`, found {}",
                        self.found()
                    )));
                }
            },
        };
        self.depth -= 1;
        Ok(term)
    }
}

#[cfg(test)]
mod tests;
