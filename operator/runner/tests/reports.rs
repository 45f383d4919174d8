//! Reports for people and CI systems: JUnit XML (a test case per cell) and one HTML page (cells
//! side by side with their golden, images shown, differences highlighted, nothing rendered from
//! the notebook).

mod common;

use common::{code, notebook, path, validate, write};
use nbv_report::Outcome;
use serde_json::json;

#[test]
fn junit_xml_has_a_test_case_per_cell_with_its_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let cells = json!([code("print(1)"), code("1/0"), code("print(3)")]);
    let nb = write(dir.path(), "errors.ipynb", &notebook(cells, "python3"));
    let junit = dir.path().join("junit.xml");
    let (code, _, _) = validate(&[path(&nb), "--junit", path(&junit)]);
    assert_eq!(code, Outcome::NotebookFailed.exit_code());
    let xml = std::fs::read_to_string(&junit).expect("JUnit XML written");
    // Read back by a real XML parser: Python's.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as ET\n\
             suite = ET.parse(sys.argv[1]).getroot().find('testsuite')\n\
             print(suite.get('tests'), suite.get('failures'), suite.get('skipped'))\n\
             for case in suite.findall('testcase'):\n\
             \x20   kids = [k.tag for k in case if k.tag != 'system-out']\n\
             \x20   print(case.get('name'), case.get('classname'), ','.join(kids) or 'ok')",
        ])
        .arg(&junit)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "3 1 1\ncell 0 errors ok\ncell 1 errors failure\ncell 2 errors skipped\n",
        "{xml}"
    );
    assert!(xml.contains("ZeroDivisionError: division by zero"), "{xml}");
    assert_valid_junit(&junit);
}

/// Checks the file against the JUnit schema CI servers read (Jenkins' `junit-10.xsd`, as
/// shipped in pytest's sources, which test pytest's own JUnit output with it).
fn assert_valid_junit(file: &std::path::Path) {
    let tools = common::tools::setup();
    let schema = tools
        .sources
        .join("pytest-9.2.0/testing/example_scripts/junit-10.xsd");
    let out = std::process::Command::new(&tools.python)
        .args([
            "-c",
            "import sys, xmlschema\nxmlschema.XMLSchema(sys.argv[1]).validate(sys.argv[2])",
        ])
        .arg(&schema)
        .arg(file)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "not valid JUnit XML:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

#[test]
fn the_html_report_shows_both_sides_escaped_with_images() {
    // Two 1x1 PNGs: white and black.
    const WHITE: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAsTj2FAAAAABJRU5ErkJggg==";
    const BLACK: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGNgAAAAAgABSK+kcQAAAABJRU5ErkJggg==";
    let dir = tempfile::tempdir().unwrap();
    let show = format!(
        "import base64\nfrom IPython.display import HTML, Image, display\ndisplay(Image(data=base64.b64decode('{BLACK}')))\ndisplay(HTML('<script>alert(1)</script>'))"
    );
    let nb = write(
        dir.path(),
        "shows.ipynb",
        &notebook(json!([code("print('<b>42</b>')"), code(&show)]), "python3"),
    );
    let mut golden: serde_json::Value = serde_json::from_str(&notebook(
        json!([code("print('<b>42</b>')"), code(&show)]),
        "python3",
    ))
    .unwrap();
    golden["cells"][0]["outputs"] =
        json!([{"output_type": "stream", "name": "stdout", "text": "<b>41</b>\n"}]);
    golden["cells"][1]["outputs"] = json!([
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": WHITE, "text/plain": "<Image>"}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": "<script>alert(1)</script>", "text/plain": "<HTML>"}}
    ]);
    let golden = write(dir.path(), "golden.ipynb", &golden.to_string());
    let html = dir.path().join("report.html");
    let (code, report, _) =
        validate(&[path(&nb), "--golden", path(&golden), "--html", path(&html)]);
    assert_eq!(
        code,
        Outcome::OutputsDiffer.exit_code(),
        "{}",
        report.message
    );
    let page = std::fs::read_to_string(&html).expect("HTML written");
    assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
    // Both images, side by side; the black one differs from the white one by every pixel.
    assert!(
        page.contains(&format!("data:image/png;base64,{WHITE}")),
        "{page}"
    );
    assert!(
        page.contains(&format!("data:image/png;base64,{BLACK}")),
        "{page}"
    );
    assert!(
        report.comparison.as_ref().is_some_and(|c| c
            .mismatches
            .iter()
            .any(|m| m.mime_type.as_deref() == Some("image/png"))),
        "{:?}",
        report.comparison
    );
    // The notebook's text is escaped, its HTML never rendered, the diff highlighted.
    assert!(page.contains("&lt;b&gt;42&lt;/b&gt;"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    assert!(
        page.contains(r#"<span class="add">+&lt;b&gt;42&lt;/b&gt;</span>"#),
        "{page}"
    );
}

#[test]
fn every_report_and_the_executed_notebook_go_where_asked_in_fresh_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nb = write(
        dir.path(),
        "plain.ipynb",
        &notebook(json!([code("print(1)")]), "python3"),
    );
    let out = dir.path().join("job/pod-1");
    let file = |name: &str| out.join(name).to_str().expect("UTF-8").to_owned();
    let (code, _, _) = validate(&[
        path(&nb),
        "--report",
        &file("report.json"),
        "--html",
        &file("report.html"),
        "--junit",
        &file("junit.xml"),
        "--executed-notebook",
        &file("executed.ipynb"),
    ]);
    assert_eq!(code, Outcome::Passed.exit_code());
    for name in ["report.json", "report.html", "junit.xml", "executed.ipynb"] {
        assert!(out.join(name).is_file(), "{name} was not written");
    }
    assert_valid_junit(&out.join("junit.xml"));
    let executed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("executed.ipynb")).unwrap())
            .unwrap();
    assert_eq!(executed["cells"][0]["outputs"][0]["text"], json!(["1\n"]));
}
