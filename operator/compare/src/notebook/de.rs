//! Deserializers for the nbformat shapes serde cannot derive directly:
//! multiline strings (a string or a list of lines), outputs keyed by
//! `output_type`, and MIME bundles whose values are text or JSON by MIME type.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// One output of a code cell.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "RawOutput")]
pub enum Output {
    Stream {
        name: String,
        text: String,
    },
    ExecuteResult {
        data: MimeBundle,
        execution_count: Option<u64>,
    },
    DisplayData {
        data: MimeBundle,
    },
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
}

impl Output {
    /// The nbformat `output_type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Stream { .. } => "stream",
            Self::ExecuteResult { .. } => "execute_result",
            Self::DisplayData { .. } => "display_data",
            Self::Error { .. } => "error",
        }
    }
}

/// Flat form of every output type; read in one pass, then checked.
#[derive(Deserialize)]
struct RawOutput {
    output_type: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, deserialize_with = "multiline_opt")]
    text: Option<String>,
    #[serde(default)]
    data: Option<MimeBundle>,
    #[serde(default)]
    execution_count: Option<u64>,
    #[serde(default)]
    ename: Option<String>,
    #[serde(default)]
    evalue: Option<String>,
    #[serde(default)]
    traceback: Option<Vec<String>>,
}

impl TryFrom<RawOutput> for Output {
    type Error = String;

    fn try_from(raw: RawOutput) -> Result<Self, String> {
        let missing = |field: &str| format!("{} output without `{field}`", raw.output_type);
        Ok(match raw.output_type.as_str() {
            "stream" => Output::Stream {
                name: raw.name.ok_or_else(|| missing("name"))?,
                text: raw.text.unwrap_or_default(),
            },
            "execute_result" => Output::ExecuteResult {
                data: raw.data.unwrap_or_default(),
                execution_count: raw.execution_count,
            },
            "display_data" => Output::DisplayData {
                data: raw.data.unwrap_or_default(),
            },
            "error" => Output::Error {
                ename: raw.ename.ok_or_else(|| missing("ename"))?,
                evalue: raw.evalue.unwrap_or_default(),
                traceback: raw.traceback.unwrap_or_default(),
            },
            other => return Err(format!("unknown output_type `{other}`")),
        })
    }
}

/// Value of one MIME type in a rich output.
#[derive(Debug, Clone, PartialEq)]
pub enum MimeData {
    Text(String),
    Json(serde_json::Value),
}

/// MIME type → value, in file order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MimeBundle(pub Vec<(String, MimeData)>);

impl MimeBundle {
    pub fn get(&self, mime: &str) -> Option<&MimeData> {
        self.0.iter().find(|(m, _)| m == mime).map(|(_, d)| d)
    }
}

/// nbformat stores JSON MIME types as JSON values, everything else as text.
pub(crate) fn is_json_mime(mime: &str) -> bool {
    mime == "application/json" || mime.ends_with("+json")
}

impl<'de> Deserialize<'de> for MimeBundle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BundleVisitor;
        impl<'de> Visitor<'de> for BundleVisitor {
            type Value = MimeBundle;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a MIME bundle object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MimeBundle, A::Error> {
                let mut entries = Vec::new();
                while let Some(mime) = map.next_key::<String>()? {
                    let data = if is_json_mime(&mime) {
                        MimeData::Json(map.next_value()?)
                    } else {
                        MimeData::Text(map.next_value::<Multiline>()?.0)
                    };
                    entries.push((mime, data));
                }
                Ok(MimeBundle(entries))
            }
        }
        d.deserialize_map(BundleVisitor)
    }
}

/// A string stored either whole or as a list of lines.
struct Multiline(String);

impl<'de> Deserialize<'de> for Multiline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MultilineVisitor;
        impl<'de> Visitor<'de> for MultilineVisitor {
            type Value = Multiline;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Multiline, E> {
                Ok(Multiline(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Multiline, E> {
                Ok(Multiline(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Multiline, A::Error> {
                let mut joined = String::new();
                // Lines already end in "\n" in nbformat; they are concatenated as is.
                while seq.next_element_seed(AppendTo(&mut joined))?.is_some() {}
                Ok(Multiline(joined))
            }
        }
        d.deserialize_any(MultilineVisitor)
    }
}

/// Appends one string element to a buffer without allocating it separately.
struct AppendTo<'a>(&'a mut String);

impl<'de> de::DeserializeSeed<'de> for AppendTo<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for AppendTo<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push_str(v);
        Ok(())
    }
}

pub(super) fn multiline<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Multiline::deserialize(d).map(|m| m.0)
}

fn multiline_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<Multiline>::deserialize(d).map(|m| m.map(|m| m.0))
}
