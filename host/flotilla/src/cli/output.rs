//! What the CLI prints and reads: aligned tables, state names, times,
//! permissions, JSON documents from files, stdin or `$EDITOR`.

use super::error::{CliError, Result};
use crate::service::state::{RoleState, ServiceState};
use serde_json::Value;
use std::io::Read as _;
use std::path::Path;

/// An aligned table with a header row and no borders, as OpenNebula's CLI
/// prints.
pub fn table<const N: usize>(
    header: [&str; N],
    rows: impl IntoIterator<Item = [String; N]>,
) -> String {
    columns(header.to_vec(), rows.into_iter().map(Vec::from))
}

/// A table whose columns are chosen at run time.
pub fn columns(header: Vec<&str>, rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    // comfy-table pads every cell; the first column's left padding and
    // the trailing spaces only get in the way of scripts and tests.
    table
        .lines()
        .map(|l| l.strip_prefix(' ').unwrap_or(&l).trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Print what the API answered: its JSON with `--json`, otherwise as
/// `human` renders it.
pub fn emit(json: bool, value: &Value, human: impl FnOnce(&Value) -> String) {
    if json {
        print_json(value);
    } else {
        outln!("{}", human(value));
    }
}

/// `NAME         : value` lines, as `oneflow show` prints a header.
pub fn fields(rows: &[(&str, String)]) -> String {
    rows.iter()
        .map(|(k, v)| format!("{k:<13}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The elements of a pool (`{"USER_POOL": {"USER": [...]}}`); none when
/// the pool is empty (`{"USER_POOL": {}}`).
pub fn pool_items(value: &Value, element: &str) -> Vec<Value> {
    value[format!("{element}_POOL")][element]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Write to stdout; a closed pipe ends the process with success (the
/// reader has what it wanted), any other failure with an error.
pub fn write_out(args: std::fmt::Arguments) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: writing the output: {e}");
        std::process::exit(1);
    }
}

pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `ID: 3` for people, the document for scripts.
pub fn print_created(created: &Value, json: bool) {
    if json {
        print_json(created);
    } else {
        let doc = created
            .as_object()
            .and_then(|o| o.values().next())
            .cloned()
            .unwrap_or_default();
        outln!("ID: {}", text(&doc, "ID"));
    }
}

pub fn print_json(value: &Value) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// A string attribute of a document (`"ID": "12"`).
pub fn text(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// A list of strings as `a,b`.
pub fn join(list: &Value) -> String {
    list.as_array()
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

pub fn service_state(n: &Value) -> String {
    n.as_u64()
        .and_then(|n| u8::try_from(n).ok())
        .and_then(|n| ServiceState::try_from(n).ok())
        .map_or_else(|| format!("state {n}"), |s| s.to_string())
}

pub fn role_state(n: &Value) -> String {
    n.as_u64()
        .and_then(|n| u8::try_from(n).ok())
        .and_then(|n| RoleState::try_from(n).ok())
        .map_or_else(|| format!("state {n}"), |s| s.to_string())
}

/// `um-u--u--` from a `PERMISSIONS` object, as `oneflow show` prints it.
pub fn permissions(p: &Value) -> String {
    let mut out = String::new();
    for who in ["OWNER", "GROUP", "OTHER"] {
        for (bit, letter) in [("U", 'u'), ("M", 'm'), ("A", 'a')] {
            let set = p.get(format!("{who}_{bit}")).and_then(Value::as_str) == Some("1");
            out.push(if set { letter } else { '-' });
        }
    }
    out
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn time(epoch: &Value) -> String {
    let Some(secs) = epoch
        .as_u64()
        .or_else(|| epoch.as_str().and_then(|s| s.parse().ok()))
    else {
        return "-".into();
    };
    let Some(t) = i64::try_from(secs)
        .ok()
        .and_then(|secs| time::OffsetDateTime::from_unix_timestamp(secs).ok())
    else {
        // Past the year 9999: not a time anyone set.
        return secs.to_string();
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A JSON document from a file, or from stdin when the path is `-`.
pub fn read_json(path: &Path) -> Result<Value> {
    let text = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading stdin: {e}"))?;
        text
    } else {
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?
    };
    serde_json::from_str(&text).map_err(|e| {
        CliError::Local(format!(
            "{} is not valid JSON: {e}",
            if path == Path::new("-") {
                "stdin".to_string()
            } else {
                path.display().to_string()
            }
        ))
    })
}

/// Let the user edit a JSON document in `$VISUAL` / `$EDITOR` (or `vi`).
/// Returns `None` when they saved it unchanged.
pub fn edit_json(current: &Value, what: &str) -> Result<Option<Value>> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        "flotilla-{}-{}.json",
        what.replace(' ', "-"),
        std::process::id()
    ));
    let original = serde_json::to_string_pretty(current).unwrap_or_default() + "\n";
    std::fs::write(&path, &original).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let result = (|| {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&path)
            .status()
            .map_err(|e| format!("starting the editor `{editor}`: {e}"))?;
        if !status.success() {
            return Err(CliError::Local(format!(
                "the editor `{editor}` exited with {status}; nothing was changed"
            )));
        }
        let edited = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        if edited == original {
            return Ok(None);
        }
        serde_json::from_str(&edited).map(Some).map_err(|e| {
            CliError::Local(format!(
                "the edited {what} is not valid JSON ({e}); nothing was changed"
            ))
        })
    })();
    let _ = std::fs::remove_file(&path);
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_times_and_permissions() {
        assert_eq!(time(&json!(0)), "1970-01-01 00:00:00");
        assert_eq!(time(&json!(1755680000)), "2025-08-20 08:53:20");
        assert_eq!(time(&json!("951782400")), "2000-02-29 00:00:00");
        assert_eq!(
            permissions(&json!({"OWNER_U": "1", "OWNER_M": "1", "GROUP_U": "1"})),
            "um-u-----"
        );
        assert_eq!(service_state(&json!(2)), "RUNNING");
        assert_eq!(role_state(&json!(11)), "HOLD");
        assert_eq!(service_state(&json!(99)), "state 99");
    }

    #[test]
    fn tables_are_aligned_without_trailing_spaces() {
        let t = table(
            ["ID", "NAME"],
            [
                ["1".to_string(), "web".to_string()],
                ["10".to_string(), "db".to_string()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
        let col = lines[0].find("NAME").unwrap();
        assert_eq!(lines[1].find("web"), Some(col));
        assert_eq!(lines[2].find("db"), Some(col));
    }
}
