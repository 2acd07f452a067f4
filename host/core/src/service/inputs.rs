//! User inputs: `"M|type|description|params|default"` declarations and the
//! values given for them. OneFlow's server checks only that a value exists
//! for every key; Flotilla also checks the value against the declared type.

use serde_json::Value;

/// Why a declaration or a value is refused: the reason shown after the
/// field that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The declaration is wrong: its shape, type or params, or a default
    /// that does not fit them.
    Declaration(String),
    /// A value does not fit the declared type.
    Value(String),
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Declaration(m) | InputError::Value(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for InputError {}

#[derive(Debug, Clone, PartialEq)]
pub enum InputType {
    Text,
    Text64,
    Password,
    Boolean,
    Number,
    NumberFloat,
    Range {
        min: i64,
        max: i64,
    },
    RangeFloat {
        min: f64,
        max: f64,
    },
    List(Vec<String>),
    /// Any of the options, comma-separated (`a,c`), as Sunstone sends a
    /// multiple choice.
    ListMultiple(Vec<String>),
    Fixed,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserInput {
    pub mandatory: bool,
    pub kind: InputType,
    pub description: String,
    pub default: Option<String>,
}

/// Parse a declaration; the error says what is wrong with it.
pub fn parse(spec: &str) -> Result<UserInput, InputError> {
    let fields: Vec<&str> = spec.split('|').collect();
    if fields.len() != 3 && fields.len() != 5 {
        return Err(InputError::Declaration(format!(
            "`{spec}` must be `M|type|description` or `M|type|description|params|default`"
        )));
    }
    let mandatory = match fields[0].trim() {
        "M" => true,
        "O" => false,
        other => {
            return Err(InputError::Declaration(format!(
                "`{other}` must be M (mandatory) or O (optional)"
            )));
        }
    };
    let params = fields.get(3).map(|p| p.trim()).unwrap_or("");
    let range = |p: &str| -> Option<(String, String)> {
        p.split_once("..")
            .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
    };
    let kind = match fields[1].trim() {
        "text" => InputType::Text,
        "text64" => InputType::Text64,
        "password" => InputType::Password,
        "boolean" => InputType::Boolean,
        "number" => InputType::Number,
        "number-float" => InputType::NumberFloat,
        "fixed" => InputType::Fixed,
        "range" => {
            let (a, b) = range(params).ok_or_else(|| {
                InputError::Declaration(format!("range `{params}` must be MIN..MAX"))
            })?;
            let (min, max) = (a.parse::<i64>(), b.parse::<i64>());
            match (min, max) {
                (Ok(min), Ok(max)) if min <= max => InputType::Range { min, max },
                _ => {
                    return Err(InputError::Declaration(format!(
                        "range `{params}` must be MIN..MAX with integers, MIN ≤ MAX"
                    )));
                }
            }
        }
        "range-float" => {
            let (a, b) = range(params).ok_or_else(|| {
                InputError::Declaration(format!("range `{params}` must be MIN..MAX"))
            })?;
            match (a.parse::<f64>(), b.parse::<f64>()) {
                (Ok(min), Ok(max)) if min <= max => InputType::RangeFloat { min, max },
                _ => {
                    return Err(InputError::Declaration(format!(
                        "range `{params}` must be MIN..MAX with numbers, MIN ≤ MAX"
                    )));
                }
            }
        }
        kind @ ("list" | "list-multiple") => {
            let options: Vec<String> = params
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect();
            if options.is_empty() {
                return Err(InputError::Declaration(
                    "a list needs its options in the params field (a,b,c)".into(),
                ));
            }
            if kind == "list" {
                InputType::List(options)
            } else {
                InputType::ListMultiple(options)
            }
        }
        other => {
            return Err(InputError::Declaration(format!(
                "type `{other}` is not one of text, text64, password, boolean, number, number-float, range, range-float, list, list-multiple, fixed"
            )));
        }
    };
    let default = fields
        .get(4)
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    let input = UserInput {
        mandatory,
        kind,
        description: fields[2].trim().to_string(),
        default,
    };
    if let Some(d) = &input.default {
        check_value(&input, &Value::String(d.clone()))
            .map_err(|e| InputError::Declaration(format!("default: {e}")))?;
    }
    Ok(input)
}

/// The value as text, as it lands in the VM template. JSON numbers and
/// booleans are accepted for numeric and boolean inputs.
pub fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("YES".into()),
        Value::Bool(false) => Some("NO".into()),
        _ => None,
    }
}

/// Check a value against its declaration.
pub fn check_value(input: &UserInput, value: &Value) -> Result<(), InputError> {
    let text = as_text(value)
        .ok_or_else(|| InputError::Value("must be a string, a number or a boolean".into()))?;
    match &input.kind {
        InputType::Text | InputType::Password | InputType::Fixed => Ok(()),
        InputType::Text64 => {
            use base64::Engine as _;
            use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
            // Standard alphabet, padded. The value is stored as given, never
            // decoded here, so unused bits in its last character are let be.
            const TEXT64: GeneralPurpose = GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
            );
            match TEXT64.decode(&text) {
                Ok(_) => Ok(()),
                Err(_) => Err(InputError::Value(format!("`{text}` is not base64"))),
            }
        }
        InputType::Boolean => match text.as_str() {
            "YES" | "NO" => Ok(()),
            _ => Err(InputError::Value(format!("`{text}` must be YES or NO"))),
        },
        InputType::Number => text
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| InputError::Value(format!("`{text}` is not an integer"))),
        InputType::NumberFloat => match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(()),
            _ => Err(InputError::Value(format!("`{text}` is not a number"))),
        },
        InputType::Range { min, max } => match text.parse::<i64>() {
            Ok(v) if (*min..=*max).contains(&v) => Ok(()),
            Ok(v) => Err(InputError::Value(format!("{v} is outside {min}..{max}"))),
            Err(_) => Err(InputError::Value(format!("`{text}` is not an integer"))),
        },
        InputType::RangeFloat { min, max } => match text.parse::<f64>() {
            Ok(v) if v >= *min && v <= *max => Ok(()),
            Ok(v) => Err(InputError::Value(format!("{v} is outside {min}..{max}"))),
            Err(_) => Err(InputError::Value(format!("`{text}` is not a number"))),
        },
        InputType::ListMultiple(options) => {
            let unknown: Vec<&str> = text
                .split(',')
                .map(str::trim)
                .filter(|part| !part.is_empty() && !options.iter().any(|o| o == part))
                .collect();
            if unknown.is_empty() {
                Ok(())
            } else {
                Err(InputError::Value(format!(
                    "`{}` is not one of {}",
                    unknown.join(","),
                    options.join(", ")
                )))
            }
        }
        InputType::List(options) => {
            if options.contains(&text) {
                Ok(())
            } else {
                Err(InputError::Value(format!(
                    "`{text}` is not one of {}",
                    options.join(", ")
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_declarations() {
        let i = parse("M|range|Number of workers|1..10|2").unwrap();
        assert!(i.mandatory);
        assert_eq!(i.kind, InputType::Range { min: 1, max: 10 });
        assert_eq!(i.default.as_deref(), Some("2"));
        assert_eq!(parse("O|text|Name").unwrap().kind, InputType::Text);
        assert!(
            parse("X|text|Name")
                .unwrap_err()
                .to_string()
                .contains("M (mandatory)")
        );
        assert!(
            parse("M|colour|Name")
                .unwrap_err()
                .to_string()
                .contains("colour")
        );
        assert!(parse("M|range|n|10..1|").is_err());
        assert!(
            parse("M|range|n|1..5|9")
                .unwrap_err()
                .to_string()
                .starts_with("default:")
        );
        assert!(parse("M|text").is_err());
    }

    #[test]
    fn checks_values_against_the_type() {
        let range = parse("M|range|n|1..10|").unwrap();
        assert!(check_value(&range, &json!(5)).is_ok());
        assert!(check_value(&range, &json!("7")).is_ok());
        assert_eq!(
            check_value(&range, &json!(11)).unwrap_err().to_string(),
            "11 is outside 1..10"
        );
        let list = parse("M|list|size|small,large|").unwrap();
        assert!(check_value(&list, &json!("small")).is_ok());
        assert!(check_value(&list, &json!("medium")).is_err());
        assert!(check_value(&list, &json!("small,large")).is_err());
        let many = parse("O|list-multiple|services|cache,mail,web|cache,web").unwrap();
        assert!(check_value(&many, &json!("mail")).is_ok());
        assert!(check_value(&many, &json!("cache, mail")).is_ok());
        assert_eq!(
            check_value(&many, &json!("cache,ftp,dns"))
                .unwrap_err()
                .to_string(),
            "`ftp,dns` is not one of cache, mail, web"
        );
        let boolean = parse("M|boolean|tls").unwrap();
        assert!(check_value(&boolean, &json!(true)).is_ok());
        assert!(check_value(&boolean, &json!("maybe")).is_err());
        let number = parse("M|number|port").unwrap();
        assert!(check_value(&number, &json!("80a")).is_err());
        assert!(check_value(&number, &json!([1])).is_err());
        let b64 = parse("M|text64|blob").unwrap();
        assert!(check_value(&b64, &json!("aGVsbG8=")).is_ok());
        assert!(check_value(&b64, &json!("not base64!")).is_err());
        assert!(check_value(&b64, &json!("")).is_ok());
        // The right characters in the wrong places.
        assert!(check_value(&b64, &json!("====")).is_err());
        assert!(check_value(&b64, &json!("aG=V")).is_err());
        assert!(check_value(&b64, &json!("aGVsbG8")).is_err());
    }
}
