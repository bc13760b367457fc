//! What commands print: a readable table by default, or the API's objects as
//! JSON or YAML (`--output`) for scripts.

use serde_json::Value;

use super::{args::OutputFormat, ClientError};

/// Prints `value`; a table shows `columns` of each item of a list (or the
/// fields of one object).
pub fn print(format: OutputFormat, value: &Value, columns: &[&str]) -> Result<(), ClientError> {
    let text = match format {
        OutputFormat::Json => serde_json::to_string_pretty(value).map_err(|e| ClientError::Failed(e.to_string()))? + "\n",
        OutputFormat::Yaml => serde_yaml_ng::to_string(value).map_err(|e| ClientError::Failed(e.to_string()))?,
        OutputFormat::Table => match value.get("items").and_then(Value::as_array) {
            Some(items) => table(items, columns),
            None => fields(value, columns),
        },
    };
    print!("{text}");
    Ok(())
}

/// Rows of `columns`, aligned, with a header.
pub fn table(items: &[Value], columns: &[&str]) -> String {
    let rows: Vec<Vec<String>> = items.iter().map(|item| columns.iter().map(|c| cell(item.get(*c))).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| rows.iter().map(|r| r[i].chars().count()).chain([c.len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in rows {
        out += &line(row);
    }
    out
}

/// `field: value` lines: the named fields first, then any other scalar ones.
fn fields(value: &Value, first: &[&str]) -> String {
    let Some(object) = value.as_object() else { return format!("{}\n", cell(Some(value))) };
    let mut names: Vec<&str> = first.iter().copied().filter(|f| object.contains_key(*f)).collect();
    names.extend(object.keys().map(String::as_str).filter(|k| !first.contains(k)));
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    names.iter().filter(|n| !object[**n].is_null()).map(|n| format!("{n:<width$}  {}\n", cell(object.get(*n)))).collect()
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}
