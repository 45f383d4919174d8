//! Documentation generated from what the strategies declare of themselves.

use crate::catalog::Catalog;

/// The feature-parity matrix of the compiled strategies, as Markdown: one row per feature, one
/// column per strategy, from [`buildstrategy_api::BuildStrategy::capabilities`].
pub fn parity_matrix(catalog: &Catalog) -> String {
    let strategies: Vec<_> = catalog.registry().iter().collect();
    let columns: Vec<Vec<(&'static str, String)>> =
        strategies.iter().map(|s| s.capabilities().rows()).collect();
    let mut out = String::from(
        "<!-- Generated from the strategies' declarations by `cargo xtask codegen` (the test `generated`). -->\n\n",
    );
    out.push_str("| feature |");
    for strategy in &strategies {
        out.push_str(&format!(
            " {} ({}) |",
            strategy.info().name,
            strategy.info().tier
        ));
    }
    out.push_str("\n| --- |");
    out.push_str(&" --- |".repeat(strategies.len()));
    out.push('\n');
    let rows = columns.first().map_or(0, Vec::len);
    for row in 0..rows {
        out.push_str(&format!("| {} |", columns[0][row].0));
        for column in &columns {
            out.push_str(&format!(" {} |", column[row].1.replace('|', "/")));
        }
        out.push('\n');
    }
    out
}

/// The order `auto` tries the compiled strategies in, as a Markdown table: rank, strategy, what
/// the cluster must serve for it to be chosen, and what it builds with.
pub fn auto_order(catalog: &Catalog) -> String {
    let mut rows = String::from(
        "| rank | strategy | chosen when the cluster serves | builds with |\n| --- | --- | --- | --- |\n",
    );
    for strategy in crate::steps::select::auto_order(catalog.registry()) {
        let info = strategy.info();
        let rank = match info.auto {
            buildstrategy_api::AutoRank::Rank(rank) => rank.to_string(),
            _ => String::new(),
        };
        let kinds: Vec<String> = strategy
            .required_kinds()
            .iter()
            .map(|gvk| format!("{} {}", gvk.api_version(), gvk.kind))
            .collect();
        let needs = if kinds.is_empty() {
            "(pods only)".to_owned()
        } else {
            kinds.join(", ")
        };
        rows.push_str(&format!(
            "| {rank} | {} | {needs} | {} |\n",
            info.name, info.description
        ));
    }
    let never: Vec<&str> = catalog
        .registry()
        .iter()
        .map(|s| s.info())
        .filter(|info| info.auto == buildstrategy_api::AutoRank::Never)
        .map(|info| info.name)
        .collect();
    if !never.is_empty() {
        rows.push_str(&format!(
            "\nNever chosen by `auto` (name them in `buildConfig.strategy`): {}.\n",
            never.join(", ")
        ));
    }
    rows
}

/// The `strategyConfig` of a strategy as a Markdown table, from the JSON Schema of its config
/// struct ([`buildstrategy_api::BuildStrategy::config_schema`]): key, type, default, meaning.
pub fn config_table(schema: &serde_json::Value) -> String {
    use serde_json::Value;
    let definitions = schema.get("$defs");
    let mut out = String::from("| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
    let Some(Value::Object(properties)) = schema.get("properties") else {
        return "This strategy takes no `strategyConfig`.\n".to_owned();
    };
    for (key, property) in properties {
        // A `$ref` to an enum: its values.
        let resolved = property
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.rsplit('/').next())
            .and_then(|name| definitions?.get(name))
            .unwrap_or(property);
        let kind = if let Some(values) = resolved.get("oneOf").or(resolved.get("enum")) {
            let names: Vec<String> = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.get("const").or(Some(v)).and_then(Value::as_str))
                .map(|v| format!("`{v}`"))
                .collect();
            names.join(" or ")
        } else {
            let types: Vec<&str> = match &resolved["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|t| *t != "null")
                    .collect(),
                _ => Vec::new(),
            };
            match types.as_slice() {
                ["object"] => "object of strings".to_owned(),
                ["boolean"] => "true or false".to_owned(),
                other => other.join(", "),
            }
        };
        let default = match property.get("default") {
            Some(Value::Object(map)) if map.is_empty() => "none".to_owned(),
            Some(value) => format!("`{value}`").replace('"', ""),
            None => "none".to_owned(),
        };
        let meaning = property
            .get("description")
            .or(resolved.get("description"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .replace('\n', " ");
        out.push_str(&format!("| `{key}` | {kind} | {default} | {meaning} |\n"));
    }
    out
}
