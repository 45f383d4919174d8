//! Notebook parameters from the command line and from pod configuration.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{RunError, invalid};

/// Parameters to inject, in the forms papermill takes.
#[derive(Debug, Default)]
pub(crate) struct Parameters {
    /// `--param KEY=VALUE` pairs, passed as `-p KEY VALUE`.
    pub(crate) pairs: Vec<(String, String)>,
    /// A JSON object passed as `-y` (JSON is valid YAML).
    pub(crate) json: Option<String>,
}

impl Parameters {
    pub(crate) fn parse(pairs: &[String], json: Option<&str>) -> Result<Self, RunError> {
        let pairs = pairs
            .iter()
            .map(|p| parse_pair(p))
            .collect::<Result<_, _>>()?;
        let json = json
            .filter(|j| !j.trim().is_empty())
            .map(check_json)
            .transpose()?;
        Ok(Self { pairs, json })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pairs.is_empty() && self.json.is_none()
    }

    /// Parameters as recorded in the report.
    pub(crate) fn for_report(&self) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> = self.pairs.iter().cloned().collect();
        if let Some(Ok(Value::Object(map))) =
            self.json.as_deref().map(serde_json::from_str::<Value>)
        {
            for (k, v) in map {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out.insert(k, text);
            }
        }
        out
    }
}

fn parse_pair(pair: &str) -> Result<(String, String), RunError> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| invalid(format!("parameter {pair:?} is not KEY=VALUE")))?;
    check_name(key)?;
    Ok((key.to_owned(), value.to_owned()))
}

/// Names become Python assignments in the injected cell, so they must be identifiers.
fn check_name(key: &str) -> Result<(), RunError> {
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_alphanumeric() || c == '_') {
        Ok(())
    } else {
        Err(invalid(format!(
            "parameter name {key:?} is not a Python identifier"
        )))
    }
}

fn check_json(json: &str) -> Result<String, RunError> {
    match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(map)) => {
            map.keys().try_for_each(|k| check_name(k))?;
            Ok(json.to_owned())
        }
        Ok(_) => Err(invalid("parameters must be a JSON object")),
        Err(e) => Err(invalid(format!("parameters are not valid JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_and_json_are_merged_for_the_report() {
        let p = Parameters::parse(
            &["count=3".into(), "name=a=b".into()],
            Some(r#"{"x": 1, "y": "s"}"#),
        )
        .unwrap();
        let report = p.for_report();
        assert_eq!(report["count"], "3");
        assert_eq!(report["name"], "a=b");
        assert_eq!(report["x"], "1");
        assert_eq!(report["y"], "s");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Parameters::parse(&["novalue".into()], None).is_err());
        assert!(Parameters::parse(&["1x=2".into()], None).is_err());
        assert!(Parameters::parse(&["a-b=2".into()], None).is_err());
        assert!(Parameters::parse(&[], Some("[1]")).is_err());
        assert!(Parameters::parse(&[], Some("{bad")).is_err());
        assert!(Parameters::parse(&[], Some(r#"{"import os": 1}"#)).is_err());
    }
}
