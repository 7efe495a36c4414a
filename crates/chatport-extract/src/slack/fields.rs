//! Typed access to the fields of one Slack JSON record, with warnings instead of errors.
//!
//! A field of the wrong type is never dropped: it stays in the record's leftover map
//! (which becomes `extra` in the canonical record) and a `wrong_type` warning names the
//! file, record and field.

use chatport_model::{Warning, WarningCode};
use serde_json::{Map, Value};

/// Where a record sits, and where its warnings go.
pub struct Ctx<'a> {
    /// Export file, relative to the export root.
    pub file: &'a str,
    /// Record index in the file.
    pub index: u64,
    /// Collected warnings.
    pub warnings: &'a mut Vec<Warning>,
}

impl Ctx<'_> {
    /// Records a warning about this record.
    pub fn warn(&mut self, code: WarningCode, detail: impl Into<String>) {
        self.warnings.push(Warning::new(code, Some(self.file), Some(self.index), detail));
    }

    fn wrong_type(&mut self, map: &mut Map<String, Value>, key: &str, value: Value, expected: &str) {
        self.warn(
            WarningCode::WrongType,
            format!("field `{key}` should be {expected}, found {}", kind_of(&value)),
        );
        map.insert(key.to_owned(), value);
    }

    /// Takes a string field; `null` and absent are `None`.
    pub fn take_str(&mut self, map: &mut Map<String, Value>, key: &str) -> Option<String> {
        match map.remove(key)? {
            Value::String(s) => Some(s),
            Value::Null => None,
            other => {
                self.wrong_type(map, key, other, "a string");
                None
            }
        }
    }

    /// Takes a string field, treating `""` as absent (Slack writes empty strings for
    /// unset ids).
    pub fn take_nonempty_str(&mut self, map: &mut Map<String, Value>, key: &str) -> Option<String> {
        self.take_str(map, key).filter(|s| !s.is_empty())
    }

    /// Takes a boolean field.
    pub fn take_bool(&mut self, map: &mut Map<String, Value>, key: &str) -> bool {
        match map.remove(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => b,
            Some(other) => {
                self.wrong_type(map, key, other, "a boolean");
                false
            }
        }
    }

    /// Takes an integer field; numeric strings (`"1433558319"`, as old exports write
    /// times) are accepted.
    pub fn take_i64(&mut self, map: &mut Map<String, Value>, key: &str) -> Option<i64> {
        match map.remove(key)? {
            Value::Null => None,
            Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
            Value::String(s) if s.parse::<i64>().is_ok() => s.parse().ok(),
            other => {
                self.wrong_type(map, key, other, "an integer");
                None
            }
        }
    }

    /// Takes a non-negative integer field.
    pub fn take_u64(&mut self, map: &mut Map<String, Value>, key: &str) -> Option<u64> {
        match map.remove(key)? {
            Value::Null => None,
            Value::Number(n) if n.as_u64().is_some() => n.as_u64(),
            Value::String(s) if s.parse::<u64>().is_ok() => s.parse().ok(),
            other => {
                self.wrong_type(map, key, other, "a non-negative integer");
                None
            }
        }
    }

    /// Takes an array of strings; non-string items are reported and the whole field kept
    /// as given.
    pub fn take_str_list(&mut self, map: &mut Map<String, Value>, key: &str) -> Vec<String> {
        match map.remove(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
                .into_iter()
                .filter_map(|v| if let Value::String(s) = v { Some(s) } else { None })
                .collect(),
            Some(other) => {
                self.wrong_type(map, key, other, "an array of strings");
                Vec::new()
            }
        }
    }

    /// Takes an object field.
    pub fn take_object(&mut self, map: &mut Map<String, Value>, key: &str) -> Option<Map<String, Value>> {
        match map.remove(key)? {
            Value::Object(m) => Some(m),
            Value::Null => None,
            other => {
                self.wrong_type(map, key, other, "an object");
                None
            }
        }
    }

    /// Takes an array field.
    pub fn take_array(&mut self, map: &mut Map<String, Value>, key: &str) -> Option<Vec<Value>> {
        match map.remove(key)? {
            Value::Array(a) => Some(a),
            Value::Null => None,
            other => {
                self.wrong_type(map, key, other, "an array");
                None
            }
        }
    }
}

/// A short name of a JSON value's type, for messages.
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wrong_types_are_kept_and_reported() {
        let mut warnings = Vec::new();
        let mut ctx = Ctx { file: "general/2020-01-01.json", index: 3, warnings: &mut warnings };
        let Value::Object(mut m) =
            json!({"user": 5, "created": "17", "deleted": "yes", "members": ["U1", 2]})
        else {
            unreachable!()
        };
        assert_eq!(ctx.take_str(&mut m, "user"), None);
        assert_eq!(ctx.take_i64(&mut m, "created"), Some(17));
        assert!(!ctx.take_bool(&mut m, "deleted"));
        assert!(ctx.take_str_list(&mut m, "members").is_empty());
        assert_eq!(m.get("user"), Some(&json!(5)), "kept for extra");
        assert_eq!(m.get("members"), Some(&json!(["U1", 2])));
        assert_eq!(warnings.len(), 3);
        assert!(warnings[0].to_string().contains("general/2020-01-01.json [record 3]"));
    }
}
