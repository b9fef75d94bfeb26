//! Pass options: the schema a pass declares and the values parsed from a pipeline string.
//!
//! Every option has a kind, a default (written as pipeline text, so `--list-passes` shows exactly
//! what a user would type) and a help line. Unknown names, repeated names and malformed values are
//! errors, never silently ignored.

use std::collections::BTreeMap;
use std::fmt;

use super::pipeline::RawOption;

/// The type of an option value.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum OptionKind {
    /// `true` / `false`; a bare `name` means `true`.
    Bool,
    /// A non-negative integer.
    UInt,
    Int,
    Float,
    String,
}

impl OptionKind {
    pub fn name(self) -> &'static str {
        match self {
            OptionKind::Bool => "bool",
            OptionKind::UInt => "uint",
            OptionKind::Int => "int",
            OptionKind::Float => "float",
            OptionKind::String => "string",
        }
    }

    /// Parse `text` as a value of this kind.
    pub fn parse(self, text: &str) -> Result<OptionValue, BadValue> {
        let bad = || BadValue {
            kind: self,
            text: text.to_string(),
        };
        match self {
            OptionKind::Bool => match text {
                "true" | "1" => Ok(OptionValue::Bool(true)),
                "false" | "0" => Ok(OptionValue::Bool(false)),
                _ => Err(bad()),
            },
            OptionKind::UInt => text.parse().map(OptionValue::UInt).map_err(|_| bad()),
            OptionKind::Int => text.parse().map(OptionValue::Int).map_err(|_| bad()),
            OptionKind::Float => match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(OptionValue::Float(v)),
                _ => Err(bad()),
            },
            OptionKind::String => Ok(OptionValue::String(text.to_string())),
        }
    }
}

/// Text that is not a value of an option's kind.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected {} value, found '{text}'", kind.name())]
pub struct BadValue {
    pub kind: OptionKind,
    pub text: String,
}

/// A schema whose default text does not parse (a bug in the pass).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("default of option '{option}': {error}")]
pub struct BadDefault {
    pub option: &'static str,
    #[source]
    pub error: BadValue,
}

/// A pass read an option it does not declare, or as another kind (a bug in the pass).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum OptionLookupError {
    #[error("pass has no option '{name}'")]
    Missing { name: String },
    #[error("option '{name}' is not a {} (value {value})", want.name())]
    WrongKind {
        name: String,
        want: OptionKind,
        value: OptionValue,
    },
}

/// One option in a pass's schema.
#[derive(Copy, Clone, Debug)]
pub struct PassOption {
    pub name: &'static str,
    pub kind: OptionKind,
    /// The default, as pipeline text (parsed with [`OptionKind::parse`]).
    pub default: &'static str,
    pub help: &'static str,
}

/// A parsed option value.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionValue {
    Bool(bool),
    UInt(u64),
    Int(i64),
    Float(f64),
    String(String),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bool(v) => write!(f, "{v}"),
            OptionValue::UInt(v) => write!(f, "{v}"),
            OptionValue::Int(v) => write!(f, "{v}"),
            OptionValue::Float(v) => write!(f, "{v}"),
            OptionValue::String(v) => write!(f, "{v}"),
        }
    }
}

/// An option problem, pointing at the column of the offending text in the pipeline string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub col: usize,
    pub len: usize,
    pub message: String,
}

/// The complete set of option values of one pass instance (defaults filled in).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PassOptions {
    values: BTreeMap<&'static str, OptionValue>,
}

impl PassOptions {
    /// Defaults of every option in `schema`. Fails only if a default is malformed (a pass bug).
    pub fn defaults(schema: &'static [PassOption]) -> Result<PassOptions, BadDefault> {
        let mut values = BTreeMap::new();
        for opt in schema {
            let v = opt.kind.parse(opt.default).map_err(|error| BadDefault {
                option: opt.name,
                error,
            })?;
            values.insert(opt.name, v);
        }
        Ok(PassOptions { values })
    }

    /// Defaults overridden by `raw` (from a pipeline string), checked against `schema`.
    pub fn from_raw(
        pass: &str,
        schema: &'static [PassOption],
        raw: &[RawOption],
    ) -> Result<PassOptions, OptionError> {
        let mut opts = PassOptions::defaults(schema).map_err(|e| OptionError {
            col: raw.first().map_or(1, |r| r.col),
            len: 1,
            message: e.to_string(),
        })?;
        let mut seen: Vec<&str> = Vec::new();
        for r in raw {
            let err = |message: String| OptionError {
                col: r.col,
                len: r.key.len().max(1),
                message,
            };
            let Some(def) = schema.iter().find(|o| o.name == r.key) else {
                return Err(err(unknown_option_message(pass, &r.key, schema)));
            };
            if seen.contains(&def.name) {
                return Err(err(format!("option '{}' given twice", r.key)));
            }
            seen.push(def.name);
            let text = match (&r.value, def.kind) {
                (Some(v), _) => v.as_str(),
                (None, OptionKind::Bool) => "true",
                (None, kind) => {
                    return Err(err(format!(
                        "option '{}' needs a {} value ('{}=...')",
                        r.key,
                        kind.name(),
                        r.key
                    )))
                }
            };
            let v = def
                .kind
                .parse(text)
                .map_err(|e| err(format!("option '{}': {e}", r.key)))?;
            opts.values.insert(def.name, v);
        }
        Ok(opts)
    }

    pub fn get(&self, name: &str) -> Option<&OptionValue> {
        self.values.get(name)
    }

    /// Every option, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &OptionValue)> + '_ {
        self.values.iter().map(|(&k, v)| (k, v))
    }

    pub fn bool(&self, name: &str) -> Result<bool, OptionLookupError> {
        match self.get(name) {
            Some(OptionValue::Bool(v)) => Ok(*v),
            other => Err(wrong_kind(name, OptionKind::Bool, other)),
        }
    }

    pub fn uint(&self, name: &str) -> Result<u64, OptionLookupError> {
        match self.get(name) {
            Some(OptionValue::UInt(v)) => Ok(*v),
            other => Err(wrong_kind(name, OptionKind::UInt, other)),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64, OptionLookupError> {
        match self.get(name) {
            Some(OptionValue::Int(v)) => Ok(*v),
            other => Err(wrong_kind(name, OptionKind::Int, other)),
        }
    }

    pub fn float(&self, name: &str) -> Result<f64, OptionLookupError> {
        match self.get(name) {
            Some(OptionValue::Float(v)) => Ok(*v),
            other => Err(wrong_kind(name, OptionKind::Float, other)),
        }
    }

    pub fn string(&self, name: &str) -> Result<&str, OptionLookupError> {
        match self.get(name) {
            Some(OptionValue::String(v)) => Ok(v),
            other => Err(wrong_kind(name, OptionKind::String, other)),
        }
    }
}

fn wrong_kind(name: &str, want: OptionKind, got: Option<&OptionValue>) -> OptionLookupError {
    let name = name.to_string();
    match got {
        None => OptionLookupError::Missing { name },
        Some(value) => OptionLookupError::WrongKind {
            name,
            want,
            value: value.clone(),
        },
    }
}

fn unknown_option_message(pass: &str, key: &str, schema: &[PassOption]) -> String {
    if schema.is_empty() {
        return format!("pass '{pass}' takes no options (found '{key}')");
    }
    let known: Vec<&str> = schema.iter().map(|o| o.name).collect();
    format!(
        "unknown option '{key}' for pass '{pass}'; it accepts: {}",
        known.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    static SCHEMA: &[PassOption] = &[
        PassOption {
            name: "aggressive",
            kind: OptionKind::Bool,
            default: "false",
            help: "",
        },
        PassOption {
            name: "max-iterations",
            kind: OptionKind::UInt,
            default: "10",
            help: "",
        },
    ];

    fn raw(key: &str, value: Option<&str>, col: usize) -> RawOption {
        RawOption {
            key: key.into(),
            value: value.map(str::to_string),
            col,
        }
    }

    #[test]
    fn defaults_are_filled_and_overridden() {
        let o = PassOptions::from_raw("p", SCHEMA, &[raw("max-iterations", Some("3"), 5)]).unwrap();
        assert_eq!(o.uint("max-iterations"), Ok(3));
        assert_eq!(o.bool("aggressive"), Ok(false));
        let o = PassOptions::from_raw("p", SCHEMA, &[raw("aggressive", None, 5)]).unwrap();
        assert_eq!(o.bool("aggressive"), Ok(true));
    }

    #[test]
    fn unknown_repeated_and_malformed_options_are_errors() {
        let e = PassOptions::from_raw("p", SCHEMA, &[raw("agressive", Some("1"), 7)]).unwrap_err();
        assert_eq!(e.col, 7);
        assert!(
            e.message.contains("unknown option 'agressive'"),
            "{}",
            e.message
        );
        assert!(e.message.contains("aggressive, max-iterations"));
        let twice = [raw("aggressive", None, 3), raw("aggressive", None, 14)];
        let e = PassOptions::from_raw("p", SCHEMA, &twice).unwrap_err();
        assert_eq!((e.col, e.message.contains("twice")), (14, true));
        let e = PassOptions::from_raw("p", SCHEMA, &[raw("max-iterations", Some("-1"), 2)])
            .unwrap_err();
        assert!(
            e.message.contains("expected uint value, found '-1'"),
            "{}",
            e.message
        );
        let e = PassOptions::from_raw("p", SCHEMA, &[raw("max-iterations", None, 2)]).unwrap_err();
        assert!(e.message.contains("needs a uint value"));
    }

    #[test]
    fn getters_reject_wrong_kinds() {
        let o = PassOptions::defaults(SCHEMA).unwrap();
        assert!(o.uint("aggressive").is_err());
        assert_eq!(
            o.bool("nope").unwrap_err().to_string(),
            "pass has no option 'nope'"
        );
        assert_eq!(
            OptionKind::Float.parse("0.25"),
            Ok(OptionValue::Float(0.25))
        );
        assert!(OptionKind::Float.parse("inf").is_err());
    }
}
