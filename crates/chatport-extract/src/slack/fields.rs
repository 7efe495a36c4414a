//! Typed access to the fields of one Slack JSON record, with warnings instead of errors.
//!
//! A field of the wrong type is never dropped: it stays in the record's leftover map
//! (which becomes `extra` in the canonical record) and a `wrong_type` warning names the
//! file, record and field.

use chatport_model::{Warning, WarningCode};
use serde_json::{Map, Value};

/// The fields of a record, as the `take_*` helpers need them: a JSON object's map, or
/// the fixed slots the day-file reader fills for messages.
pub trait Fields {
    /// Removes and returns a field.
    fn remove(&mut self, key: &str) -> Option<Value>;
    /// Reads a field.
    fn get(&self, key: &str) -> Option<&Value>;
    /// Sets a field.
    fn insert(&mut self, key: &str, value: Value);
}

impl Fields for Map<String, Value> {
    fn remove(&mut self, key: &str) -> Option<Value> {
        Map::remove(self, key)
    }
    fn get(&self, key: &str) -> Option<&Value> {
        Map::get(self, key)
    }
    fn insert(&mut self, key: &str, value: Value) {
        Map::insert(self, key.to_owned(), value);
    }
}

/// The top-level message fields the message conversion reads, removes or inserts. The
/// day-file reader parses these into [`MessageFields`]; every other field is passed
/// through as canonical bytes.
pub const MESSAGE_FIELDS: [&str; 22] = [
    "app_id",
    "attachments",
    "blocks",
    "bot_id",
    "comment",
    "edited",
    "file",
    "files",
    "files_without_id",
    "icons",
    "pub_secret",
    "reactions",
    "reactions_unparsed",
    "reply_count",
    "reply_users",
    "subtype",
    "text",
    "thread_ts",
    "ts",
    "type",
    "user",
    "username",
];

/// The slot of a key of [`MESSAGE_FIELDS`].
pub fn message_field_slot(key: &str) -> Option<usize> {
    // Dispatch on the length first, so that each comparison is against a constant of
    // known size (a few integer compares) rather than a chain of `memcmp` calls.
    match key.len() {
        2 => (key == "ts").then_some(18),
        4 => match key {
            "file" => Some(6),
            "text" => Some(16),
            "type" => Some(19),
            "user" => Some(20),
            _ => None,
        },
        5 => match key {
            "files" => Some(7),
            "icons" => Some(9),
            _ => None,
        },
        6 => match key {
            "app_id" => Some(0),
            "blocks" => Some(2),
            "bot_id" => Some(3),
            "edited" => Some(5),
            _ => None,
        },
        7 => match key {
            "comment" => Some(4),
            "subtype" => Some(15),
            _ => None,
        },
        8 => (key == "username").then_some(21),
        9 => match key {
            "reactions" => Some(11),
            "thread_ts" => Some(17),
            _ => None,
        },
        10 => (key == "pub_secret").then_some(10),
        11 => match key {
            "attachments" => Some(1),
            "reply_count" => Some(13),
            "reply_users" => Some(14),
            _ => None,
        },
        16 => (key == "files_without_id").then_some(8),
        18 => (key == "reactions_unparsed").then_some(12),
        _ => None,
    }
}

/// The [`MESSAGE_FIELDS`] of one message, one slot each, without a map's key allocations
/// and comparisons. Any other key (never inserted by the conversion) goes to `other`.
#[derive(Debug, Default)]
pub struct MessageFields {
    slots: [Option<Value>; MESSAGE_FIELDS.len()],
    other: Map<String, Value>,
}

impl MessageFields {
    /// Every value present, for in-place rewriting.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Value> {
        self.slots.iter_mut().flatten().chain(self.other.values_mut())
    }

    /// The fields left, as a map.
    pub fn into_map(self) -> Map<String, Value> {
        let mut map = self.other;
        for (key, slot) in MESSAGE_FIELDS.iter().zip(self.slots) {
            if let Some(v) = slot {
                map.insert((*key).to_owned(), v);
            }
        }
        map
    }
}

impl From<Map<String, Value>> for MessageFields {
    fn from(map: Map<String, Value>) -> Self {
        let mut fields = MessageFields::default();
        for (k, v) in map {
            Fields::insert(&mut fields, &k, v);
        }
        fields
    }
}

impl Fields for MessageFields {
    fn remove(&mut self, key: &str) -> Option<Value> {
        match message_field_slot(key) {
            Some(i) => self.slots[i].take(),
            None => self.other.remove(key),
        }
    }
    fn get(&self, key: &str) -> Option<&Value> {
        match message_field_slot(key) {
            Some(i) => self.slots[i].as_ref(),
            None => self.other.get(key),
        }
    }
    fn insert(&mut self, key: &str, value: Value) {
        match message_field_slot(key) {
            Some(i) => self.slots[i] = Some(value),
            None => {
                self.other.insert(key.to_owned(), value);
            }
        }
    }
}

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

    fn wrong_type(&mut self, map: &mut impl Fields, key: &str, value: Value, expected: &str) {
        self.warn(
            WarningCode::WrongType,
            format!("field `{key}` should be {expected}, found {}", kind_of(&value)),
        );
        map.insert(key, value);
    }

    /// Takes a string field; `null` and absent are `None`.
    pub fn take_str(&mut self, map: &mut impl Fields, key: &str) -> Option<String> {
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
    pub fn take_nonempty_str(&mut self, map: &mut impl Fields, key: &str) -> Option<String> {
        self.take_str(map, key).filter(|s| !s.is_empty())
    }

    /// Takes a boolean field.
    pub fn take_bool(&mut self, map: &mut impl Fields, key: &str) -> bool {
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
    pub fn take_i64(&mut self, map: &mut impl Fields, key: &str) -> Option<i64> {
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
    pub fn take_u64(&mut self, map: &mut impl Fields, key: &str) -> Option<u64> {
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
    pub fn take_str_list(&mut self, map: &mut impl Fields, key: &str) -> Vec<String> {
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
    pub fn take_object(&mut self, map: &mut impl Fields, key: &str) -> Option<Map<String, Value>> {
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
    pub fn take_array(&mut self, map: &mut impl Fields, key: &str) -> Option<Vec<Value>> {
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

    #[test]
    fn every_message_field_has_its_slot() {
        for (i, key) in MESSAGE_FIELDS.iter().enumerate() {
            assert_eq!(message_field_slot(key), Some(i), "{key}");
        }
        for other in ["", "t", "tsx", "client_msg_id", "Text", "user_profile", "files_without_ids"] {
            assert_eq!(message_field_slot(other), None, "{other}");
        }
    }
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
