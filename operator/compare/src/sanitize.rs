//! Rewrites applied to outputs before they are compared: the user's sanitizers (nbval's
//! `--nbval-sanitize-with`), and what a terminal shows of a stream that rewrites its line.

use std::borrow::Cow;

use regex::Regex;

use crate::config::{ConfigError, Sanitizer};

/// The user's sanitizers, compiled, applied in order.
#[derive(Debug, Default)]
pub(crate) struct Sanitizers(Vec<(Regex, String)>);

impl Sanitizers {
    pub(crate) fn new(sanitizers: &[Sanitizer]) -> Result<Self, ConfigError> {
        sanitizers
            .iter()
            .map(|s| {
                let regex =
                    Regex::new(&s.regex).map_err(|source| ConfigError::InvalidSanitizer {
                        pattern: s.regex.clone(),
                        source,
                    })?;
                Ok((regex, replacement(&s.replace)))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// `text` with every sanitizer applied.
    pub(crate) fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut text = Cow::Borrowed(text);
        for (regex, replace) in &self.0 {
            if let Cow::Owned(rewritten) = regex.replace_all(&text, replace.as_str()) {
                text = Cow::Owned(rewritten);
            }
        }
        text
    }
}

/// A replacement written for Python's `re.sub` (`\1`, `\g<name>`) in the `regex` crate's syntax
/// (`${1}`, `${name}`); a literal `$` stays literal.
fn replacement(python: &str) -> String {
    let mut out = String::with_capacity(python.len());
    let mut chars = python.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek().copied() {
                Some(d) if d.is_ascii_digit() => {
                    let mut group = String::new();
                    while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                        group.push(d);
                        chars.next();
                    }
                    out.push_str(&format!("${{{group}}}"));
                }
                Some('g') => {
                    let mut rest = chars.clone();
                    rest.next();
                    if rest.next() == Some('<') {
                        let name: String = rest.by_ref().take_while(|c| *c != '>').collect();
                        out.push_str(&format!("${{{name}}}"));
                        chars = rest;
                    } else {
                        out.push('\\');
                    }
                }
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('\\') => {
                    chars.next();
                    out.push('\\');
                }
                _ => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    out
}

/// What a terminal shows of a stream: in each line, text before a carriage return that more
/// text follows is overwritten (`10%\r20%\r100%\n` shows `100%\n`), as nbval reads streams.
pub(crate) fn collapse_carriage_returns(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        // The last `\r` with something after it on this line; one ending the line stays.
        let cut = body
            .char_indices()
            .rev()
            .find(|(i, c)| *c == '\r' && i + 1 < body.len())
            .map_or(0, |(i, _)| i + 1);
        out.push_str(&line[cut..]);
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_replacements_are_translated() {
        assert_eq!(replacement(r"\1-\g<year>"), "${1}-${year}");
        assert_eq!(replacement("cost: $5"), "cost: $$5");
        let s = Sanitizers::new(&[Sanitizer {
            regex: r"(\d+)-(\d+)".into(),
            replace: r"\2-\1".into(),
        }])
        .expect("valid");
        assert_eq!(s.apply("range 1-2"), "range 2-1");
    }

    #[test]
    fn sanitizers_apply_in_order() {
        let s = Sanitizers::new(&[
            Sanitizer {
                regex: "0x[0-9a-f]+".into(),
                replace: "ADDR".into(),
            },
            Sanitizer {
                regex: "ADDR".into(),
                replace: "<address>".into(),
            },
        ])
        .expect("valid");
        assert_eq!(s.apply("at 0xdeadbeef"), "at <address>");
        assert!(
            Sanitizers::new(&[Sanitizer {
                regex: "(".into(),
                replace: String::new()
            }])
            .is_err()
        );
    }

    #[test]
    fn carriage_returns_overwrite_their_line() {
        assert_eq!(collapse_carriage_returns("10%\r20%\r100%\n"), "100%\n");
        assert_eq!(collapse_carriage_returns("a\r\nb\n"), "a\r\nb\n");
        assert_eq!(collapse_carriage_returns("x\ra\rb\r"), "b\r");
        assert_eq!(collapse_carriage_returns("plain\n"), "plain\n");
    }
}
