//! JSON values as Smithy documents: tool schemas and tool call arguments.

use std::collections::HashMap;

use aws_smithy_types::{Document, Number};
use serde_json::Value;

/// The document for a JSON value. Integers keep their exact value; other numbers become
/// floats.
pub(crate) fn from_json(value: Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(flag) => Document::Bool(flag),
        Value::Number(number) => Document::Number(if let Some(unsigned) = number.as_u64() {
            Number::PosInt(unsigned)
        } else if let Some(signed) = number.as_i64() {
            Number::NegInt(signed)
        } else {
            Number::Float(number.as_f64().unwrap_or_default())
        }),
        Value::String(text) => Document::String(text),
        Value::Array(items) => Document::Array(items.into_iter().map(from_json).collect()),
        Value::Object(fields) => Document::Object(
            fields
                .into_iter()
                .map(|(key, value)| (key, from_json(value)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_json_kind_converts() {
        let document = from_json(json!({
            "a": [1, -2, 2.5, "s", true, null],
        }));
        let Document::Object(fields) = document else {
            panic!("not an object");
        };
        assert_eq!(
            fields["a"],
            Document::Array(vec![
                Document::Number(Number::PosInt(1)),
                Document::Number(Number::NegInt(-2)),
                Document::Number(Number::Float(2.5)),
                Document::String("s".into()),
                Document::Bool(true),
                Document::Null,
            ])
        );
    }
}
