//! The expression of a metric policy: `CPU > 80 && MEM_USED_PERC > 70`.
//!
//! OneFlow's grammar (`grammar.rb`) with three of its traps fixed on
//! purpose (listed in `docs/compatibility.md`):
//! - `&&` binds tighter than `||`, as in every language users know; OneFlow
//!   gives them equal precedence and groups from the right, so
//!   `A && B || C` meant `A && (B || C)` there;
//! - `!` negates the term after it (a comparison or a parenthesised
//!   expression); OneFlow's `!` negated everything to its right;
//! - a quoted name (`"CPU"`, `'CPU'`) is the name; OneFlow kept the quotes
//!   in the lookup key, so a quoted name was never found.
//!
//! A name no VM reports is *missing*, never a number: a comparison with a
//! missing operand is neither true nor false, and `&&`, `||` and `!`
//! follow three-valued logic (`false && missing` is false, `true ||
//! missing` is true, anything else with a missing operand is missing), so
//! an expression is true or false only when the values it read decide it.
//!
//! Everything else is OneFlow's: comparison operators `==` `=` `!=` `<>`
//! `>=` `>` `<=` `<`, the `&`/`|` spellings, numbers with an optional sign
//! and fraction, names of letters, digits and `_` starting with a letter,
//! looked up case-insensitively (upper-cased).

use std::fmt;
use std::sync::Arc;

/// The longest expression accepted: an expression is a line in a template.
pub const MAX_LENGTH: usize = 4096;
/// How deep parentheses and `!` may nest: bounds the parser's recursion.
pub const MAX_DEPTH: usize = 64;

/// A parsed expression. `Display` writes it back in a canonical form.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Or(Box<Node>, Box<Node>),
    And(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Group(Box<Node>),
    Compare(Operand, Comparison, Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// The number as written, for the trace, and its value.
    Number(String, f64),
    /// Upper-cased, as OneFlow looks attributes up.
    Name(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Eq,
    Ne,
    Ge,
    Gt,
    Le,
    Lt,
}

impl Comparison {
    fn symbol(self) -> &'static str {
        match self {
            Comparison::Eq => "==",
            Comparison::Ne => "!=",
            Comparison::Ge => ">=",
            Comparison::Gt => ">",
            Comparison::Le => "<=",
            Comparison::Lt => "<",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Comparison::Eq => left == right,
            Comparison::Ne => left != right,
            Comparison::Ge => left >= right,
            Comparison::Gt => left > right,
            Comparison::Le => left <= right,
            Comparison::Lt => left < right,
        }
    }
}

/// An expression with the text it was parsed from, parsed once: a
/// template keeps and shows the text as written, evaluations read the
/// tree. Cheap to clone (both are shared).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedExpression {
    text: Arc<str>,
    tree: Arc<Expression>,
}

impl ParsedExpression {
    pub fn parse(text: &str) -> Result<ParsedExpression, ParseError> {
        Ok(ParsedExpression {
            tree: Arc::new(Expression::parse(text)?),
            text: text.into(),
        })
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl std::ops::Deref for ParsedExpression {
    type Target = Expression;

    fn deref(&self) -> &Expression {
        &self.tree
    }
}

/// Why an expression does not parse, and where: `column` counts
/// characters from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The value of an expression under three-valued logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    /// A value it needed was not reported.
    Missing,
}

impl Truth {
    fn of(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }

    fn not(self) -> Truth {
        match self {
            Truth::True => Truth::False,
            Truth::False => Truth::True,
            Truth::Missing => Truth::Missing,
        }
    }

    fn and(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::True, Truth::True) => Truth::True,
            _ => Truth::Missing,
        }
    }

    fn or(self, other: Truth) -> Truth {
        match (self, other) {
            (Truth::True, _) | (_, Truth::True) => Truth::True,
            (Truth::False, Truth::False) => Truth::False,
            _ => Truth::Missing,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Truth::True => "true",
            Truth::False => "false",
            Truth::Missing => "missing",
        }
    }
}

impl fmt::Display for Truth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One evaluation: its value, the trace with every value read
/// (`CPU[85.3] > 80 && MEM[--] < 50`, `--` for a missing one) and the
/// names that were missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub truth: Truth,
    pub trace: String,
    pub missing: Vec<String>,
}

impl fmt::Display for Evaluated {
    /// `CPU[85.3] > 80 → true`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}", self.trace, self.truth)
    }
}

impl Expression {
    pub fn parse(text: &str) -> Result<Expression, ParseError> {
        if text.chars().count() > MAX_LENGTH {
            return Err(ParseError {
                column: MAX_LENGTH + 1,
                message: format!("longer than {MAX_LENGTH} characters"),
            });
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            depth: 0,
        };
        let root = parser.or()?;
        match parser.peek() {
            Token {
                kind: Kind::End, ..
            } => Ok(Expression { root }),
            t => Err(t.error(format!("expected `&&`, `||` or the end, found {}", t.kind))),
        }
    }

    /// When the whole expression is one comparison of a name with a
    /// number (`CPU > 80`, `20 > CPU`, in parentheses or not): the name,
    /// whether it fires above (`true`) or below the number, and the number.
    /// What a lint can reason about; `None` for anything else.
    pub fn threshold(&self) -> Option<(&str, bool, f64)> {
        let mut node = &self.root;
        while let Node::Group(inner) = node {
            node = inner;
        }
        let Node::Compare(l, op, r) = node else {
            return None;
        };
        let (name, op, number) = match (l, r) {
            (Operand::Name(n), Operand::Number(_, v)) => (n, *op, *v),
            (Operand::Number(_, v), Operand::Name(n)) => (
                n,
                match op {
                    Comparison::Gt => Comparison::Lt,
                    Comparison::Ge => Comparison::Le,
                    Comparison::Lt => Comparison::Gt,
                    Comparison::Le => Comparison::Ge,
                    other => *other,
                },
                *v,
            ),
            _ => return None,
        };
        match op {
            Comparison::Gt | Comparison::Ge => Some((name, true, number)),
            Comparison::Lt | Comparison::Le => Some((name, false, number)),
            Comparison::Eq | Comparison::Ne => None,
        }
    }

    /// The names the expression reads, upper-cased, each once, in order.
    pub fn names(&self) -> Vec<&str> {
        fn walk<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
            match node {
                Node::Or(a, b) | Node::And(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Node::Not(a) | Node::Group(a) => walk(a, out),
                Node::Compare(l, _, r) => {
                    for operand in [l, r] {
                        if let Operand::Name(n) = operand
                            && !out.contains(&n.as_str())
                        {
                            out.push(n);
                        }
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// Evaluate with `value` giving the value of an (upper-cased) name, or
    /// `None` when no VM reports it.
    pub fn evaluate(&self, value: impl Fn(&str) -> Option<f64>) -> Evaluated {
        let mut trace = String::new();
        let mut missing = Vec::new();
        let truth = eval(&self.root, &value, &mut trace, &mut missing);
        Evaluated {
            truth,
            trace,
            missing,
        }
    }
}

fn eval(
    node: &Node,
    value: &impl Fn(&str) -> Option<f64>,
    trace: &mut String,
    missing: &mut Vec<String>,
) -> Truth {
    match node {
        Node::Or(a, b) => {
            let a = eval(a, value, trace, missing);
            trace.push_str(" || ");
            a.or(eval(b, value, trace, missing))
        }
        Node::And(a, b) => {
            let a = eval(a, value, trace, missing);
            trace.push_str(" && ");
            a.and(eval(b, value, trace, missing))
        }
        Node::Not(a) => {
            trace.push('!');
            eval(a, value, trace, missing).not()
        }
        Node::Group(a) => {
            trace.push('(');
            let t = eval(a, value, trace, missing);
            trace.push(')');
            t
        }
        Node::Compare(l, op, r) => {
            let mut read = |operand: &Operand, trace: &mut String| match operand {
                Operand::Number(text, v) => {
                    trace.push_str(text);
                    Some(*v)
                }
                Operand::Name(name) => {
                    let v = value(name);
                    match v {
                        Some(v) => trace.push_str(&format!("{name}[{v}]")),
                        None => {
                            trace.push_str(&format!("{name}[--]"));
                            if !missing.contains(name) {
                                missing.push(name.clone());
                            }
                        }
                    }
                    v
                }
            };
            let left = read(l, trace);
            trace.push_str(&format!(" {} ", op.symbol()));
            let right = read(r, trace);
            match (left, right) {
                (Some(a), Some(b)) => Truth::of(op.holds(a, b)),
                _ => Truth::Missing,
            }
        }
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn write(node: &Node, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match node {
                Node::Or(a, b) => {
                    write(a, f)?;
                    f.write_str(" || ")?;
                    write(b, f)
                }
                Node::And(a, b) => {
                    write(a, f)?;
                    f.write_str(" && ")?;
                    write(b, f)
                }
                Node::Not(a) => {
                    f.write_str("!")?;
                    write(a, f)
                }
                Node::Group(a) => {
                    f.write_str("(")?;
                    write(a, f)?;
                    f.write_str(")")
                }
                Node::Compare(l, op, r) => {
                    for (i, operand) in [l, r].into_iter().enumerate() {
                        if i == 1 {
                            write!(f, " {} ", op.symbol())?;
                        }
                        match operand {
                            Operand::Number(text, _) => f.write_str(text)?,
                            Operand::Name(n) => f.write_str(n)?,
                        }
                    }
                    Ok(())
                }
            }
        }
        write(&self.root, f)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Number(String, f64),
    Name(String),
    Compare(Comparison),
    And,
    Or,
    Not,
    Open,
    Close,
    End,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Number(t, _) => write!(f, "the number {t}"),
            Kind::Name(n) => write!(f, "the name {n}"),
            Kind::Compare(c) => write!(f, "`{}`", c.symbol()),
            Kind::And => f.write_str("`&&`"),
            Kind::Or => f.write_str("`||`"),
            Kind::Not => f.write_str("`!`"),
            Kind::Open => f.write_str("`(`"),
            Kind::Close => f.write_str("`)`"),
            Kind::End => f.write_str("the end"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// 1-based character column.
    column: usize,
}

impl Token {
    fn error(&self, message: String) -> ParseError {
        ParseError {
            column: self.column,
            message,
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let error = |at: usize, message: String| ParseError {
        column: at + 1,
        message,
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let next = chars.get(i + 1).copied();
        let kind = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Kind::Open,
            ')' => Kind::Close,
            '&' => {
                if next == Some('&') {
                    i += 1;
                }
                Kind::And
            }
            '|' => {
                if next == Some('|') {
                    i += 1;
                }
                Kind::Or
            }
            '!' if next == Some('=') => {
                i += 1;
                Kind::Compare(Comparison::Ne)
            }
            '!' => Kind::Not,
            '=' => {
                if next == Some('=') {
                    i += 1;
                }
                Kind::Compare(Comparison::Eq)
            }
            '<' if next == Some('>') => {
                i += 1;
                Kind::Compare(Comparison::Ne)
            }
            '<' if next == Some('=') => {
                i += 1;
                Kind::Compare(Comparison::Le)
            }
            '<' => Kind::Compare(Comparison::Lt),
            '>' if next == Some('=') => {
                i += 1;
                Kind::Compare(Comparison::Ge)
            }
            '>' => Kind::Compare(Comparison::Gt),
            '"' | '\'' => {
                let quote = c;
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if chars.get(j) != Some(&quote) {
                    return Err(error(start, format!("unterminated name: expected {quote}")));
                }
                let name: String = chars[i + 1..j].iter().collect();
                if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    return Err(error(start, "a name must start with a letter".into()));
                }
                i = j;
                Kind::Name(name.to_ascii_uppercase())
            }
            c if c.is_ascii_alphabetic() => {
                let mut j = i;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i..j].iter().collect();
                i = j - 1;
                Kind::Name(name.to_ascii_uppercase())
            }
            c if c.is_ascii_digit() || (c == '-' && next.is_some_and(|n| n.is_ascii_digit())) => {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                if chars.get(j) == Some(&'.') {
                    if !chars.get(j + 1).is_some_and(|d| d.is_ascii_digit()) {
                        return Err(error(j, "expected a digit after the decimal point".into()));
                    }
                    j += 1;
                    while j < chars.len() && chars[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                let text: String = chars[i..j].iter().collect();
                let value = text
                    .parse::<f64>()
                    .map_err(|_| error(start, format!("`{text}` is not a number")))?;
                i = j - 1;
                Kind::Number(text, value)
            }
            other => return Err(error(start, format!("unexpected character `{other}`"))),
        };
        tokens.push(Token {
            kind,
            column: start + 1,
        });
        i += 1;
    }
    tokens.push(Token {
        kind: Kind::End,
        column: chars.len() + 1,
    });
    Ok(tokens)
}

struct Parser<'t> {
    tokens: &'t [Token],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        // `tokenize` always ends the list with `End`, which is never
        // consumed.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != Kind::End {
            self.at += 1;
        }
        t
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut node = self.and()?;
        while self.peek().kind == Kind::Or {
            self.advance();
            node = Node::Or(Box::new(node), Box::new(self.and()?));
        }
        Ok(node)
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut node = self.unary()?;
        while self.peek().kind == Kind::And {
            self.advance();
            node = Node::And(Box::new(node), Box::new(self.unary()?));
        }
        Ok(node)
    }

    fn unary(&mut self) -> Result<Node, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self
                .peek()
                .error(format!("nested more than {MAX_DEPTH} deep")));
        }
        let node = match self.peek().kind {
            Kind::Not => {
                self.advance();
                Node::Not(Box::new(self.unary()?))
            }
            Kind::Open => {
                let open = self.advance();
                let inner = self.or()?;
                match self.peek().kind {
                    Kind::Close => {
                        self.advance();
                        Node::Group(Box::new(inner))
                    }
                    _ => {
                        let t = self.peek();
                        return Err(t.error(format!(
                            "expected `)` to close the `(` at column {}, found {}",
                            open.column, t.kind
                        )));
                    }
                }
            }
            _ => self.comparison()?,
        };
        self.depth -= 1;
        Ok(node)
    }

    fn comparison(&mut self) -> Result<Node, ParseError> {
        let left = self.operand()?;
        let op = match self.peek().kind {
            Kind::Compare(op) => {
                self.advance();
                op
            }
            _ => {
                let t = self.peek();
                return Err(t.error(format!(
                    "expected a comparison (`>`, `<`, `>=`, `<=`, `==`, `!=`), found {}",
                    t.kind
                )));
            }
        };
        let right = self.operand()?;
        Ok(Node::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, ParseError> {
        let Token { kind, column } = self.advance();
        match kind {
            Kind::Number(text, v) => Ok(Operand::Number(text, v)),
            Kind::Name(n) => Ok(Operand::Name(n)),
            other => Err(ParseError {
                column,
                message: format!("expected a name or a number, found {other}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
