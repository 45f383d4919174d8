//! pandas DataFrames compared by value. A DataFrame's `text/html` is a table pandas writes in one
//! shape (`<table class="dataframe">`, a header row of column names, a row per index label);
//! compared as text, a column moved or a float printed with one more digit fails the whole
//! output. Read back as a table, columns are matched by name, cells by value within the
//! tolerance, and a moved column, a changed index or a changed column kind is said as such.
//!
//! Only flat frames are read: a table with merged cells (a MultiIndex) stays text.

use std::sync::LazyLock;

use regex::Regex;

/// A DataFrame as its HTML shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Table {
    columns: Vec<String>,
    index: Vec<String>,
    /// One row per index label, one cell per column.
    rows: Vec<Vec<String>>,
}

static TABLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)<table[^>]*class="dataframe"[^>]*>(.*?)</table>"#).expect("table pattern")
});
static SECTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<thead>(.*?)</thead>\s*<tbody>(.*?)</tbody>").expect("section pattern")
});
static ROW: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<tr[^>]*>(.*?)</tr>").expect("row pattern"));
static CELL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)<(th|td)([^>]*)>(.*?)</t[hd]>").expect("cell pattern"));

/// One `<th>` or `<td>`: whether it is a header, and its text.
struct Cell {
    header: bool,
    text: String,
}

fn cells(row: &str) -> Option<Vec<Cell>> {
    CELL.captures_iter(row)
        .map(|c| {
            // Merged cells belong to a MultiIndex, which is not read.
            if c[2].contains("span=") {
                return None;
            }
            Some(Cell {
                header: &c[1] == "th",
                text: unescape(c[3].trim()),
            })
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The DataFrame of an HTML output: `None` unless it holds exactly one flat pandas table.
pub(crate) fn parse(html: &str) -> Option<Table> {
    let mut tables = TABLE.captures_iter(html);
    let table = tables.next()?;
    if tables.next().is_some() {
        return None;
    }
    let section = SECTION.captures(&table[1])?;
    let mut head = ROW.captures_iter(&section[1]).map(|r| cells(&r[1]));
    // The first header row names the columns after the index's corner cell; a second one, when
    // present, names the index and is otherwise empty. More rows are a MultiIndex.
    let names = head.next()??;
    let (_, columns) = names.split_first()?;
    if let Some(index_row) = head.next()
        && (index_row?.iter().skip(1).any(|c| !c.text.is_empty()) || head.next().is_some())
    {
        return None;
    }
    let columns: Vec<String> = columns.iter().map(|c| c.text.clone()).collect();
    let (mut index, mut rows) = (Vec::new(), Vec::new());
    for row in ROW.captures_iter(&section[2]) {
        let row = cells(&row[1])?;
        let (label, values) = row.split_first()?;
        if !label.header || values.iter().any(|c| c.header) || values.len() != columns.len() {
            return None;
        }
        index.push(label.text.clone());
        rows.push(values.iter().map(|c| c.text.clone()).collect());
    }
    Some(Table {
        columns,
        index,
        rows,
    })
}

/// What a column's printed values say its dtype is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Integers,
    Floats,
    Booleans,
    Text,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Integers => "integers",
            Kind::Floats => "floats",
            Kind::Booleans => "booleans",
            Kind::Text => "text",
        }
    }

    fn of(value: &str) -> Kind {
        let digits = value.strip_prefix('-').unwrap_or(value);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Kind::Integers
        } else if matches!(value, "NaN" | "inf" | "-inf") || value.parse::<f64>().is_ok() {
            Kind::Floats
        } else if matches!(value, "True" | "False") {
            Kind::Booleans
        } else {
            Kind::Text
        }
    }

    /// A column's kind: integers with a float among them are floats (as pandas prints them
    /// when a NaN joins), anything else mixed is text. `None` for a column whose cells are
    /// all elided (`...`).
    fn of_column<'a>(values: impl Iterator<Item = &'a str>) -> Option<Kind> {
        values
            .filter(|v| *v != "...")
            .map(Kind::of)
            .reduce(|a, b| match (a, b) {
                _ if a == b => a,
                (Kind::Integers, Kind::Floats) | (Kind::Floats, Kind::Integers) => Kind::Floats,
                _ => Kind::Text,
            })
    }
}

/// How two DataFrames differ, each difference as (kind, expected, actual).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TableDiff {
    /// Columns added, removed or in another order.
    Columns { expected: String, actual: String },
    /// Other index labels, or another number of rows.
    Index { expected: String, actual: String },
    /// A column whose values are now of another kind.
    Dtype {
        column: String,
        expected: &'static str,
        actual: &'static str,
    },
    /// Cells whose values differ: (row label, column, expected, actual), at most
    /// [`MAX_CELLS`] of them, and how many differ in all.
    Values {
        cells: Vec<(String, String, String, String)>,
        total: usize,
    },
}

/// Differing cells listed in one difference; the count says how many more there are.
pub(crate) const MAX_CELLS: usize = 10;

/// The differences between the `expected` and `actual` frames, cells compared with `equal`.
pub(crate) fn differences(
    expected: &Table,
    actual: &Table,
    equal: impl Fn(&str, &str) -> bool,
) -> Vec<TableDiff> {
    let mut diffs = Vec::new();
    if expected.columns != actual.columns {
        diffs.push(TableDiff::Columns {
            expected: list(&expected.columns),
            actual: list(&actual.columns),
        });
    }
    let same_labels = expected.index.len() == actual.index.len()
        && expected
            .index
            .iter()
            .zip(&actual.index)
            .all(|(e, a)| equal(e, a));
    if !same_labels {
        diffs.push(TableDiff::Index {
            expected: labels(&expected.index),
            actual: labels(&actual.index),
        });
    }
    let (mut cells, mut total) = (Vec::new(), 0);
    for (column, name) in expected.columns.iter().enumerate() {
        let Some(other) = actual.columns.iter().position(|c| c == name) else {
            continue;
        };
        let expected_values = expected.rows.iter().map(|r| r[column].as_str());
        let actual_values = actual.rows.iter().map(|r| r[other].as_str());
        let kinds = (
            Kind::of_column(expected_values.clone()),
            Kind::of_column(actual_values.clone()),
        );
        if let (Some(e), Some(a)) = kinds
            && e != a
        {
            diffs.push(TableDiff::Dtype {
                column: name.clone(),
                expected: e.name(),
                actual: a.name(),
            });
        }
        // Rows pair by position: a changed index is said above, and its cells still compare.
        for (row, (e, a)) in expected_values.zip(actual_values).enumerate() {
            if !equal(e, a) {
                total += 1;
                if cells.len() < MAX_CELLS {
                    let label = expected.index.get(row).cloned().unwrap_or_default();
                    cells.push((label, name.clone(), e.to_owned(), a.to_owned()));
                }
            }
        }
    }
    if total > 0 {
        diffs.push(TableDiff::Values { cells, total });
    }
    diffs
}

fn list(names: &[String]) -> String {
    format!("columns [{}]", names.join(", "))
}

/// The index, shortened to its first labels.
fn labels(index: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = index
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if index.len() > SHOWN {
        text.push_str(", ...");
    }
    format!("{} rows [{text}]", index.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pandas 2.3 writes for `DataFrame({'a': [1, 2, 3], 'b': [1.5, 2.25, None],
    /// 'c': ['x', 'y', '<z>']})`, its style block left out.
    const FRAME: &str = r#"<div>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;">
      <th></th>
      <th>a</th>
      <th>b</th>
      <th>c</th>
    </tr>
  </thead>
  <tbody>
    <tr>
      <th>0</th>
      <td>1</td>
      <td>1.50</td>
      <td>x</td>
    </tr>
    <tr>
      <th>1</th>
      <td>2</td>
      <td>2.25</td>
      <td>y</td>
    </tr>
    <tr>
      <th>2</th>
      <td>3</td>
      <td>NaN</td>
      <td>&lt;z&gt;</td>
    </tr>
  </tbody>
</table>
</div>"#;

    fn frame(columns: &[&str], rows: &[(&str, &[&str])]) -> String {
        let th = |t: &str| format!("<th>{t}</th>");
        let head: String = columns.iter().map(|c| th(c)).collect();
        let body: String = rows
            .iter()
            .map(|(label, values)| {
                let tds: String = values.iter().map(|v| format!("<td>{v}</td>")).collect();
                format!("<tr>{}{tds}</tr>", th(label))
            })
            .collect();
        format!(
            r#"<table border="1" class="dataframe"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>"#
        )
    }

    fn same(a: &str, b: &str) -> bool {
        a == b || crate::numbers::equal_within(a, b, 1e-6)
    }

    #[test]
    fn pandas_html_is_read_as_columns_index_and_cells() {
        let table = parse(FRAME).expect("a DataFrame");
        assert_eq!(table.columns, ["a", "b", "c"]);
        assert_eq!(table.index, ["0", "1", "2"]);
        assert_eq!(table.rows[2], ["3", "NaN", "<z>"]);
    }

    #[test]
    fn a_named_index_is_read_and_a_multi_index_or_other_html_is_not() {
        let named = FRAME.replace(
            "</tr>\n  </thead>",
            "</tr>\n    <tr><th>c</th><th></th><th></th><th></th></tr>\n  </thead>",
        );
        assert!(parse(&named).is_some());
        let merged = FRAME.replace("<th>0</th>", r#"<th rowspan="2">0</th>"#);
        assert_eq!(parse(&merged), None);
        assert_eq!(parse("<b>not a table</b>"), None);
        assert_eq!(parse(&format!("{FRAME}{FRAME}")), None);
    }

    #[test]
    fn cells_within_the_tolerance_match() {
        let golden = parse(&frame(&["x"], &[("0", &["0.1000001"])])).expect("frame");
        let actual = parse(&frame(&["x"], &[("0", &["0.1000002"])])).expect("frame");
        assert_eq!(differences(&golden, &actual, same), []);
    }

    #[test]
    fn differing_cells_are_named_by_row_and_column() {
        let golden = parse(&frame(
            &["x", "y"],
            &[("r0", &["1", "a"]), ("r1", &["2", "b"])],
        ));
        let actual = parse(&frame(
            &["x", "y"],
            &[("r0", &["1", "a"]), ("r1", &["3", "c"])],
        ));
        let diffs = differences(&golden.expect("frame"), &actual.expect("frame"), same);
        assert_eq!(
            diffs,
            [TableDiff::Values {
                cells: vec![
                    ("r1".into(), "x".into(), "2".into(), "3".into()),
                    ("r1".into(), "y".into(), "b".into(), "c".into()),
                ],
                total: 2,
            }]
        );
    }

    #[test]
    fn a_moved_column_is_said_and_its_cells_still_compare_by_name() {
        let golden = parse(&frame(&["x", "y"], &[("0", &["1", "a"])])).expect("frame");
        let actual = parse(&frame(&["y", "x"], &[("0", &["a", "1"])])).expect("frame");
        assert_eq!(
            differences(&golden, &actual, same),
            [TableDiff::Columns {
                expected: "columns [x, y]".into(),
                actual: "columns [y, x]".into(),
            }]
        );
    }

    #[test]
    fn a_changed_index_is_said() {
        let golden = parse(&frame(&["x"], &[("0", &["1"]), ("1", &["2"])])).expect("frame");
        let actual = parse(&frame(&["x"], &[("a", &["1"]), ("b", &["2"])])).expect("frame");
        assert_eq!(
            differences(&golden, &actual, same),
            [TableDiff::Index {
                expected: "2 rows [0, 1]".into(),
                actual: "2 rows [a, b]".into(),
            }]
        );
    }

    #[test]
    fn a_column_of_another_kind_is_said_even_when_its_values_match() {
        let golden = parse(&frame(&["n"], &[("0", &["1"]), ("1", &["2"])])).expect("frame");
        let actual = parse(&frame(&["n"], &[("0", &["1.0"]), ("1", &["2.0"])])).expect("frame");
        assert_eq!(
            differences(&golden, &actual, same),
            [TableDiff::Dtype {
                column: "n".into(),
                expected: "integers",
                actual: "floats",
            }]
        );
    }

    #[test]
    fn integers_with_a_missing_value_are_floats_and_elided_cells_have_no_kind() {
        assert_eq!(
            Kind::of_column(["1.0", "NaN"].into_iter()),
            Some(Kind::Floats)
        );
        assert_eq!(
            Kind::of_column(["1", "2.5"].into_iter()),
            Some(Kind::Floats)
        );
        assert_eq!(Kind::of_column(["True", "1"].into_iter()), Some(Kind::Text));
        assert_eq!(Kind::of_column(["..."].into_iter()), None);
    }

    #[test]
    fn many_differing_cells_are_counted_beyond_those_listed() {
        let rows: Vec<(String, [String; 1])> =
            (0..25).map(|i| (i.to_string(), [i.to_string()])).collect();
        let shifted: Vec<(String, [String; 1])> = (0..25)
            .map(|i| (i.to_string(), [(i + 1).to_string()]))
            .collect();
        let build = |rows: &[(String, [String; 1])]| {
            let rows: Vec<(&str, Vec<&str>)> = rows
                .iter()
                .map(|(l, v)| (l.as_str(), v.iter().map(String::as_str).collect()))
                .collect();
            let rows: Vec<(&str, &[&str])> = rows.iter().map(|(l, v)| (*l, v.as_slice())).collect();
            parse(&frame(&["x"], &rows)).expect("frame")
        };
        let diffs = differences(&build(&rows), &build(&shifted), same);
        let [TableDiff::Values { cells, total }] = diffs.as_slice() else {
            panic!("{diffs:?}");
        };
        assert_eq!((cells.len(), *total), (MAX_CELLS, 25));
    }
}
