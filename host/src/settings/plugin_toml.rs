//! Policy settings written in TOML: handed to the policy as JSON with one
//! key or array element per line, so that a policy's complaint about a JSON
//! line (serde's `at line L column C`) can be taken back to the TOML key it
//! came from.

use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// Settings converted from TOML, with where each JSON line came from.
#[derive(Debug)]
pub struct TomlSettings {
    json: String,
    /// For each JSON line (0-based): the TOML key (or element) and its span.
    places: Vec<Option<Place>>,
}

#[derive(Debug, Clone)]
struct Place {
    key: String,
    span: Range<usize>,
}

impl TomlSettings {
    /// Converts the TOML document `text`.
    pub fn convert(text: &str) -> Result<TomlSettings, toml::de::Error> {
        let table: toml::Table = toml::from_str(text)?;
        let spans = DeTable::parse(text)?;
        Ok(TomlSettings::written(&table, Some(spans.get_ref()), None))
    }

    /// Converts the table at the dotted key `at` of the TOML document
    /// `text` (`["policy", "settings"]`: `[policy] settings`), its keys
    /// named from the document's root; `None` when there is no table there.
    pub fn convert_at(text: &str, at: &[&str]) -> Result<Option<TomlSettings>, toml::de::Error> {
        let document: toml::Table = toml::from_str(text)?;
        let spans = DeTable::parse(text)?;
        let mut table = &document;
        let mut spanned = Some(spans.get_ref());
        let mut span = 0..0;
        for key in at {
            let Some(toml::Value::Table(inner)) = table.get(*key) else {
                return Ok(None);
            };
            table = inner;
            let entry = spanned.and_then(|spans| {
                spans
                    .iter()
                    .find(|(name, _)| AsRef::<str>::as_ref(name.get_ref()) == *key)
            });
            span = entry.map_or(span, |(name, _)| name.span());
            spanned = entry.and_then(|(_, value)| match value.get_ref() {
                DeValue::Table(spans) => Some(spans),
                _ => None,
            });
        }
        let place = Place {
            key: at.join("."),
            span,
        };
        Ok(Some(TomlSettings::written(table, spanned, Some(&place))))
    }

    /// `table` as JSON, its keys named below `place`.
    fn written(table: &toml::Table, spans: Option<&DeTable<'_>>, place: Option<&Place>) -> Self {
        let mut writer = Writer::default();
        writer.table(0, "", table, spans, place, true);
        TomlSettings {
            json: writer.json,
            places: writer.places,
        }
    }

    /// The settings as a JSON document.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// `message` with its `at line L column C` (a place in [`Self::json`])
    /// replaced by `at FILE:LINE:COLUMN (`key`)` in the TOML `text` of
    /// `file`; `None` when the message names no such place.
    pub fn locate(&self, message: &str, file: &str, text: &str) -> Option<String> {
        let start = message.rfind(" at line ")?;
        let (line, _column) = message[start + " at line ".len()..]
            .trim_end()
            .split_once(" column ")?;
        let line: usize = line.parse().ok()?;
        let place = match self.places.get(line.checked_sub(1)?)? {
            Some(place) => {
                let (line, column) = crate::located::line_and_column(text, place.span.start);
                format!(" at {file}:{line}:{column} (`{}`)", place.key)
            }
            None => format!(" in {file}"),
        };
        let end = message[start..]
            .find(" column ")
            .map(|at| start + at + " column ".len())?;
        let rest = &message[end..];
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        Some(format!("{}{place}{}", &message[..start], &rest[digits..]))
    }
}

#[derive(Default)]
struct Writer {
    json: String,
    places: Vec<Option<Place>>,
}

impl Writer {
    fn line(&mut self, indent: usize, text: &str, place: Option<&Place>) {
        for _ in 0..indent {
            self.json.push_str("  ");
        }
        self.json.push_str(text);
        self.json.push('\n');
        self.places.push(place.cloned());
    }

    fn table(
        &mut self,
        indent: usize,
        head: &str,
        table: &toml::Table,
        spans: Option<&DeTable<'_>>,
        place: Option<&Place>,
        last: bool,
    ) {
        let comma = if last { "" } else { "," };
        if table.is_empty() {
            self.line(indent, &format!("{head}{{}}{comma}"), place);
            return;
        }
        self.line(indent, &format!("{head}{{"), place);
        for (index, (key, value)) in table.iter().enumerate() {
            let spanned = spans.and_then(|spans| {
                spans
                    .iter()
                    .find(|(name, _)| AsRef::<str>::as_ref(name.get_ref()) == key.as_str())
            });
            let child = Place {
                key: match place {
                    Some(parent) => format!("{}.{key}", parent.key),
                    None => key.clone(),
                },
                span: spanned
                    .map(|(name, _)| name.span())
                    .or_else(|| place.map(|place| place.span.clone()))
                    .unwrap_or(0..0),
            };
            let head = format!("{}: ", json_string(key));
            let last = index + 1 == table.len();
            self.value(
                indent + 1,
                &head,
                value,
                spanned.map(|(_, value)| value.get_ref()),
                &child,
                last,
            );
        }
        self.line(indent, &format!("}}{comma}"), place);
    }

    fn value(
        &mut self,
        indent: usize,
        head: &str,
        value: &toml::Value,
        spans: Option<&DeValue<'_>>,
        place: &Place,
        last: bool,
    ) {
        let comma = if last { "" } else { "," };
        match value {
            toml::Value::Table(table) => {
                let spans = match spans {
                    Some(DeValue::Table(spans)) => Some(spans),
                    _ => None,
                };
                self.table(indent, head, table, spans, Some(place), last);
            }
            toml::Value::Array(items) if !items.is_empty() => {
                self.line(indent, &format!("{head}["), Some(place));
                for (index, item) in items.iter().enumerate() {
                    let spanned = match spans {
                        Some(DeValue::Array(spans)) => spans.get(index),
                        _ => None,
                    };
                    let child = Place {
                        key: format!("{}[{index}]", place.key),
                        span: spanned.map_or_else(|| place.span.clone(), |item| item.span()),
                    };
                    self.value(
                        indent + 1,
                        "",
                        item,
                        spanned.map(|item| item.get_ref()),
                        &child,
                        index + 1 == items.len(),
                    );
                }
                self.line(indent, &format!("]{comma}"), Some(place));
            }
            scalar => {
                self.line(
                    indent,
                    &format!("{head}{}{comma}", scalar_json(scalar)),
                    Some(place),
                );
            }
        }
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}

/// A TOML scalar as JSON; a datetime becomes its TOML text, a float JSON
/// cannot hold (`nan`, `inf`) becomes `null`.
fn scalar_json(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => json_string(text),
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => serde_json::Number::from_f64(*number)
            .map_or_else(|| "null".to_owned(), |number| number.to_string()),
        toml::Value::Boolean(yes) => yes.to_string(),
        toml::Value::Datetime(datetime) => json_string(&datetime.to_string()),
        toml::Value::Array(_) => "[]".to_owned(),
        toml::Value::Table(_) => "{}".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEXT: &str = "\
monitor_group = \"sg-1\"
monitor_port = \"seventy\"

[nested]
list = [1, 2.5, \"x\"]
empty = {}
when = 1979-05-27T07:32:00Z
";

    #[test]
    fn the_json_is_the_toml() {
        let settings = TomlSettings::convert(TEXT).unwrap();
        let value: serde_json::Value = serde_json::from_str(settings.json()).unwrap();
        assert_eq!(
            value,
            json!({
                "monitor_group": "sg-1",
                "monitor_port": "seventy",
                "nested": {
                    "list": [1, 2.5, "x"],
                    "empty": {},
                    "when": "1979-05-27T07:32:00Z",
                },
            })
        );
    }

    #[test]
    fn a_json_place_is_taken_back_to_the_toml_key() {
        let settings = TomlSettings::convert(TEXT).unwrap();
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code, reason = "only the error matters")]
        struct Wanted {
            monitor_group: String,
            monitor_port: u16,
        }
        let err = serde_json::from_str::<Wanted>(settings.json())
            .unwrap_err()
            .to_string();
        assert!(err.contains(" at line "), "{err}");
        let located = settings.locate(&err, "s.toml", TEXT).unwrap();
        assert!(
            located.ends_with(" at s.toml:2:1 (`monitor_port`)"),
            "{located}"
        );
        assert!(located.starts_with("invalid type: string \"seventy\""));

        // An element of an array, and the end of the document.
        let line = |key: &str| {
            settings
                .json()
                .lines()
                .position(|line| line.contains(key))
                .unwrap()
                + 1
        };
        let element = format!("bad at line {} column 3", line("2.5"));
        assert_eq!(
            settings.locate(&element, "s.toml", TEXT).unwrap(),
            "bad at s.toml:5:12 (`nested.list[1]`)"
        );
        let end = settings.json().lines().count();
        assert_eq!(
            settings
                .locate(
                    &format!("missing field `x` at line {end} column 1"),
                    "s.toml",
                    TEXT
                )
                .unwrap(),
            "missing field `x` in s.toml"
        );
        assert_eq!(settings.locate("no place", "s.toml", TEXT), None);
    }
}
