//! Normalized-mode text rewriting: volatile values are replaced by placeholders
//! and whitespace runs collapse to one space, so only meaningful changes remain.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::config::{CompareConfig, ConfigError};

const MONTH: &str = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?";
const WEEKDAY: &str = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,?";

/// Dates and times in the formats programs commonly print.
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    let time = r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s?[AaPp][Mm])?";
    let zone = r"(?:\s?(?:Z|UTC|GMT|[+-]\d{2}:?\d{2}))?";
    let patterns = [
        // ISO 8601 / RFC 3339 and `str(datetime)`: 2024-01-02T10:11:12.123+00:00
        format!(r"\d{{4}}-\d{{2}}-\d{{2}}(?:[T ]{time})?{zone}"),
        // ctime and RFC 2822: Tue Jan  2 10:11:12 2024, Tue, 02 Jan 2024 10:11:12 +0000
        format!(r"{WEEKDAY}\s+{MONTH}\s+\d{{1,2}}\s+{time}\s+\d{{4}}"),
        format!(r"(?:{WEEKDAY}\s+)?\d{{1,2}}\s+{MONTH}\s+\d{{4}}(?:\s+{time})?{zone}"),
        // January 2, 2024 (10:11:12)
        format!(r"{MONTH}\s+\d{{1,2}},?\s+\d{{4}}(?:,?\s+{time})?"),
        // 01/02/2024 and 2024/01/02, optionally with a time
        // (two-digit years only with slashes, so versions like 1.10.12 stay)
        format!(
            r"(?:\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{4}}|\d{{1,2}}/\d{{1,2}}/\d{{2}}|\d{{4}}/\d{{2}}/\d{{2}})(?:,?\s+{time})?"
        ),
        // A time on its own: 10:11:12, 10:11:12.5 PM
        r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s?[AaPp][Mm])?".to_owned(),
    ];
    compile(&format!(r"\b(?:{})", patterns.join("|")))
});

/// Unix time in seconds (2001–2033) or milliseconds, optionally fractional.
static EPOCH: LazyLock<Regex> = LazyLock::new(|| compile(r"\b1\d{9}(?:\d{3})?(?:\.\d+)?\b"));

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
});

/// Object addresses in reprs (`<Foo object at 0x7f3a…>`) and bare 64-bit heap addresses.
static ADDRESS: LazyLock<Regex> =
    LazyLock::new(|| compile(r"(?i)\bat 0x[0-9a-f]+\b|\b0x[0-9a-f]{12,16}\b"));

/// Paths under temporary directories, and names tempfile modules generate.
static TEMP_PATH: LazyLock<Regex> = LazyLock::new(|| {
    compile(concat!(
        // A trailing `.` or `:` is punctuation of the sentence, not of the path.
        r#"(?:/private)?(?:/tmp|/var/tmp|/var/folders|/dev/shm)/(?:[^\s'"<>()\[\]{},;]*[^\s'"<>()\[\]{},;.:])?"#,
        r#"|(?i:[a-z]:\\(?:[^\\\s'"<>]+\\)*?Temp\\[^\s'"<>()]*)"#,
        r"|\btmp[a-z0-9_]{6,}\b",
    ))
});

/// What IPython's `%time` and `%timeit` print: durations, and the loop and run counts
/// `%timeit` chooses by how fast the code ran.
static TIMING: LazyLock<Regex> = LazyLock::new(|| {
    let duration = r"[\d.,]+\s?(?:ns|[µμu]s|ms|s|min|h)";
    compile(&format!(
        r"(?m)(?:CPU times: user {duration}, sys: {duration}, total: {duration}|Wall time: {duration}|{duration} ± {duration} per loop \(mean ± std\. dev\. of [\d,]+ runs?, [\d,]+ loops? each\)|[\d,]+ loops?, best of [\d,]+: {duration} per loop)"
    ))
});

fn compile(pattern: &str) -> Regex {
    // The built-in patterns are constants; unit tests exercise each one.
    Regex::new(pattern).expect("built-in pattern compiles")
}

/// The masking rules of one comparison.
#[derive(Debug)]
pub(crate) struct Normalizer {
    timestamps: bool,
    custom: Vec<Regex>,
}

impl Normalizer {
    pub(crate) fn new(config: &CompareConfig) -> Result<Self, ConfigError> {
        let custom = config
            .custom_timestamp_patterns
            .iter()
            .map(|p| {
                Regex::new(p).map_err(|source| ConfigError::InvalidPattern {
                    pattern: p.clone(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            timestamps: config.ignore_timestamps,
            custom,
        })
    }

    /// Masks volatile values, then collapses whitespace.
    pub(crate) fn normalize(&self, text: &str) -> String {
        let mut text = Cow::Borrowed(text);
        // Custom patterns first: they are the user's precise knowledge of the output.
        for re in &self.custom {
            text = replace(text, re, "<TIMESTAMP>");
        }
        // UUIDs and paths before timestamps and epochs, which would eat their digits.
        text = replace(text, &UUID, "<UUID>");
        text = replace(text, &TEMP_PATH, "<TMPPATH>");
        text = replace(text, &ADDRESS, "<ADDRESS>");
        // Before numbers anywhere else are looked at: a timing is volatile as a whole.
        text = replace(text, &TIMING, "<TIMING>");
        if self.timestamps {
            text = replace(text, &TIMESTAMP, "<TIMESTAMP>");
            text = replace(text, &EPOCH, "<TIMESTAMP>");
        }
        collapse_whitespace(&text)
    }
}

fn replace<'a>(text: Cow<'a, str>, re: &Regex, with: &str) -> Cow<'a, str> {
    match re.replace_all(&text, with) {
        Cow::Borrowed(_) => text,
        Cow::Owned(replaced) => Cow::Owned(replaced),
    }
}

/// Every whitespace run becomes one space; leading and trailing whitespace goes.
pub(crate) fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_timeit_output_is_masked_whatever_the_durations() {
        let runs = [
            (
                "CPU times: user 427 µs, sys: 12 µs, total: 439 µs\nWall time: 442 µs",
                "CPU times: user 1.2 ms, sys: 0 ns, total: 1.2 ms\nWall time: 1.31 ms",
            ),
            (
                "1.23 ms ± 45.6 µs per loop (mean ± std. dev. of 7 runs, 1,000 loops each)",
                "812 µs ± 3.1 μs per loop (mean ± std. dev. of 7 runs, 10,000 loops each)",
            ),
            (
                "100 loops, best of 5: 2.1 ms per loop",
                "1000 loops, best of 5: 812 us per loop",
            ),
        ];
        for (first, second) in runs {
            assert_eq!(normalize(first), normalize(second), "{first}");
            assert!(normalize(first).contains("<TIMING>"), "{first}");
        }
        // Only IPython's own lines: a duration a notebook prints itself is compared.
        assert_eq!(normalize("took 3 ms"), "took 3 ms");
    }

    #[test]
    fn an_svgs_metadata_date_is_a_timestamp() {
        let svg = |date: &str| {
            format!(
                "<metadata><rdf:RDF><cc:Work><dc:date>{date}</dc:date></cc:Work></rdf:RDF></metadata><path d=\"M 0 0\"/>"
            )
        };
        assert_eq!(
            normalize(&svg("2024-01-02T10:11:12.123456")),
            normalize(&svg("2025-07-30T08:09:10.654321"))
        );
    }

    fn normalize(text: &str) -> String {
        Normalizer::new(&CompareConfig::default())
            .unwrap()
            .normalize(text)
    }

    #[test]
    fn masks_iso8601_timestamps() {
        for ts in [
            "2024-01-02T10:11:12",
            "2024-01-02T10:11:12.123456+00:00",
            "2024-01-02T10:11:12Z",
            "2024-01-02 10:11:12.5",
            "2024-01-02",
        ] {
            assert_eq!(
                normalize(&format!("at {ts} done")),
                "at <TIMESTAMP> done",
                "{ts}"
            );
        }
    }

    #[test]
    fn masks_common_date_and_time_formats() {
        for ts in [
            "Tue Jan  2 10:11:12 2024",
            "Tue, 02 Jan 2024 10:11:12 +0000",
            "2 January 2024",
            "January 2, 2024",
            "Jan 2, 2024, 10:11 PM",
            "01/02/2024 10:11:12",
            "2024/01/02",
            "10:11:12",
            "10:11:12.25 pm",
        ] {
            assert_eq!(normalize(&format!("t={ts};")), "t=<TIMESTAMP>;", "{ts}");
        }
    }

    #[test]
    fn masks_epoch_seconds_and_millis() {
        assert_eq!(normalize("now 1700000000.123456 s"), "now <TIMESTAMP> s");
        assert_eq!(normalize("ms 1700000000123"), "ms <TIMESTAMP>");
        // Ordinary numbers are left for the tolerance comparison.
        assert_eq!(normalize("n 123456789 0.5"), "n 123456789 0.5");
    }

    #[test]
    fn timestamps_kept_when_not_ignored() {
        let config = CompareConfig {
            ignore_timestamps: false,
            ..CompareConfig::default()
        };
        let n = Normalizer::new(&config).unwrap();
        assert_eq!(
            n.normalize("2024-01-02 1700000000"),
            "2024-01-02 1700000000"
        );
    }

    #[test]
    fn masks_custom_timestamp_patterns() {
        let config = CompareConfig {
            custom_timestamp_patterns: vec![r"run-\d+".into()],
            ..CompareConfig::default()
        };
        let n = Normalizer::new(&config).unwrap();
        assert_eq!(n.normalize("id run-42 ok"), "id <TIMESTAMP> ok");
    }

    #[test]
    fn invalid_custom_pattern_is_a_typed_error() {
        let config = CompareConfig {
            custom_timestamp_patterns: vec!["(".into()],
            ..CompareConfig::default()
        };
        assert!(matches!(
            Normalizer::new(&config),
            Err(ConfigError::InvalidPattern { .. })
        ));
    }

    #[test]
    fn masks_memory_addresses() {
        assert_eq!(
            normalize("<__main__.Foo object at 0x7f3a2b1c4d50>"),
            "<__main__.Foo object <ADDRESS>>"
        );
        assert_eq!(normalize("ptr 0x00007f3a2b1c4d50"), "ptr <ADDRESS>");
        // Short hex literals are data, not addresses.
        assert_eq!(normalize("mask 0xff"), "mask 0xff");
    }

    #[test]
    fn masks_uuids() {
        assert_eq!(
            normalize("id=3F2504E0-4F89-11D3-9A0C-0305E82C3301."),
            "id=<UUID>."
        );
    }

    #[test]
    fn masks_temp_paths() {
        assert_eq!(
            normalize("wrote /tmp/tmpa1b2c3d4/out.csv."),
            "wrote <TMPPATH>."
        );
        assert_eq!(
            normalize("File /tmp/ipykernel_123/4567.py, line 3"),
            "File <TMPPATH>, line 3"
        );
        assert_eq!(normalize("in /var/folders/xy/T/abc ok"), "in <TMPPATH> ok");
        assert_eq!(
            normalize(r"at C:\Users\me\AppData\Local\Temp\x.txt"),
            "at <TMPPATH>"
        );
        assert_eq!(normalize("name tmpk3j4h5l6"), "name <TMPPATH>");
        assert_eq!(normalize("/home/me/data.csv"), "/home/me/data.csv");
    }

    #[test]
    fn collapses_whitespace() {
        assert_eq!(collapse_whitespace("  a \t b\n\n  c  \n"), "a b c");
        assert_eq!(collapse_whitespace(""), "");
    }
}
