//! `plant-care pumps-off`: the failsafe run after every exit of the controller. It
//! reads only what it needs from the config (the backend and each plant's pump line),
//! leniently, so that a typo anywhere else cannot disable it, and tries every pump line
//! even when one fails.

use toml::{Table, Value};

/// What the failsafe needs from a config file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PumpLines {
    /// Whether the config selects the linux backend (the simulated one has no pumps).
    pub linux: bool,
    /// Each plant's name and its pump's GPIO line, in the file's order.
    pub lines: Vec<(String, String)>,
    /// What could not be read, each a line for the operator; the lines found are still
    /// switched off.
    pub warnings: Vec<String>,
}

/// Reads the backend and the pump lines from a config file's text, and nothing else:
/// unknown or invalid settings elsewhere do not matter. A file that is not TOML at
/// all is scanned line by line for `backend = "linux"` and `pump_line = "…"`.
#[must_use]
pub fn pump_lines(text: &str) -> PumpLines {
    match text.parse::<Table>() {
        Ok(table) => from_table(&table),
        Err(error) => {
            let mut found = scan(text);
            found.warnings.insert(
                0,
                format!(
                    "the config is not valid TOML ({}): scanned it line by line",
                    error.message()
                ),
            );
            found
        }
    }
}

fn from_table(table: &Table) -> PumpLines {
    let mut found = PumpLines {
        linux: table.get("backend").and_then(Value::as_str) == Some("linux"),
        ..PumpLines::default()
    };
    let plants = match table.get("plants") {
        Some(Value::Array(plants)) => plants.as_slice(),
        Some(_) => {
            found
                .warnings
                .push("plants: not a list of plants".to_string());
            &[]
        }
        None => &[],
    };
    for (i, plant) in plants.iter().enumerate() {
        let id = plant
            .get("id")
            .and_then(Value::as_str)
            .map_or_else(|| format!("plant {}", i + 1), ToString::to_string);
        match plant.get("pump_line") {
            Some(Value::String(line)) => found.lines.push((id, line.clone())),
            Some(other) => found
                .warnings
                .push(format!("{id}: pump_line = {other}: not a line name")),
            None if found.linux => found
                .warnings
                .push(format!("{id}: no pump_line: nothing to switch off")),
            None => {}
        }
    }
    found
}

/// The settings found in a file that is not TOML: `key = "value"` (or `'value'`)
/// anywhere in a line, inline tables included. Every pump line found is switched off,
/// whatever the backend seems to be: a broken file is no proof of a simulated garden.
fn scan(text: &str) -> PumpLines {
    let mut found = PumpLines::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut rest = line;
        while let Some(at) = rest.find("pump_line") {
            rest = &rest[at + "pump_line".len()..];
            if let Some(value) = quoted_after_equals(rest) {
                found
                    .lines
                    .push((format!("pump {}", found.lines.len() + 1), value.to_string()));
            }
        }
    }
    found.linux = !found.lines.is_empty()
        || text
            .lines()
            .filter_map(|line| line.split_once('='))
            .any(|(key, value)| {
                key.trim() == "backend"
                    && quoted_after_equals(&format!("={value}")) == Some("linux")
            });
    found
}

/// The quoted value of `= "value"` (or `= 'value'`) at the start of `text`.
fn quoted_after_equals(text: &str) -> Option<&str> {
    let text = text.trim_start().strip_prefix('=')?.trim_start();
    let quote = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &text[1..];
    inner.find(quote).map(|end| &inner[..end])
}

/// Switches every line off with `off`, trying each even when one fails; returns one
/// line of report for each.
///
/// # Errors
///
/// Every line that could not be switched off, one a line; no lines at all on the linux
/// backend.
pub fn switch_off_all(
    found: &PumpLines,
    mut off: impl FnMut(&str) -> Result<(), String>,
) -> Result<Vec<String>, String> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (plant, line) in &found.lines {
        match off(line) {
            Ok(()) => done.push(format!("{plant}: {line} off")),
            Err(error) => failed.push(format!("{plant}: {line}: {error}")),
        }
    }
    if found.linux && found.lines.is_empty() {
        failed.push("no pump lines found in the config".to_string());
    }
    if failed.is_empty() {
        Ok(done)
    } else {
        done.extend(failed.iter().map(|failure| format!("FAILED {failure}")));
        Err(done.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PI: &str = r#"
backend = "linux"
read_every = "10m"

[[plants]]
id = "basil"
min_moisture = 40
pump_line = "GPIO17"
pump = { flow_ml_per_s = 1e-300, cooldown = "500000000000y" }

[[plants]]
id = "fern"
pump_line = "GPIO27"

[policies.retry.default]
retries = 3
"#;

    #[test]
    fn only_the_backend_and_the_lines_are_read() {
        // A policy typo, a pump setting that cannot work and missing plant settings:
        // the config is invalid, and the failsafe still finds every line.
        let found = pump_lines(PI);
        assert!(found.linux);
        assert_eq!(
            found.lines,
            [
                ("basil".to_string(), "GPIO17".to_string()),
                ("fern".to_string(), "GPIO27".to_string())
            ]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
    }

    #[test]
    fn a_file_that_is_not_toml_is_scanned_for_lines() {
        let broken = format!("{PI}\n[[plants]\nid = \"oops\npump_line = \"GPIO22\" # the third\n");
        let found = pump_lines(&broken);
        assert!(found.linux);
        let lines: Vec<&str> = found.lines.iter().map(|(_, line)| line.as_str()).collect();
        assert_eq!(lines, ["GPIO17", "GPIO27", "GPIO22"]);
        assert!(found.warnings[0].starts_with("the config is not valid TOML"));
    }

    #[test]
    fn a_broken_file_with_single_quotes_and_inline_tables_still_gives_its_lines() {
        let broken = "backend = 'linux'\nplants = [{ id = 'basil', pump_line = 'GPIO5' }, { pump_line = \"GPIO6\" }\n[oops\n# pump_line = \"GPIO9\"\n";
        let found = pump_lines(broken);
        assert!(found.linux);
        let lines: Vec<&str> = found.lines.iter().map(|(_, line)| line.as_str()).collect();
        assert_eq!(lines, ["GPIO5", "GPIO6"], "not the commented-out one");
        // Lines found in a broken file are switched off even without a backend line.
        let found = pump_lines("[[plants\npump_line = \"GPIO17\"\n");
        assert!(found.linux);
        assert_eq!(found.lines.len(), 1);
    }

    #[test]
    fn every_line_is_tried_even_when_one_fails() {
        let found = pump_lines(PI);
        let mut tried = Vec::new();
        let report = switch_off_all(&found, |line| {
            tried.push(line.to_string());
            if line == "GPIO17" {
                Err("line busy".to_string())
            } else {
                Ok(())
            }
        })
        .expect_err("one failed");
        assert_eq!(
            tried,
            ["GPIO17", "GPIO27"],
            "the second after the first failed"
        );
        assert_eq!(report, "fern: GPIO27 off\nFAILED basil: GPIO17: line busy");
        let report = switch_off_all(&found, |_| Ok(())).expect("all off");
        assert_eq!(report, ["basil: GPIO17 off", "fern: GPIO27 off"]);
    }

    #[test]
    fn a_linux_config_without_lines_is_a_failure_and_a_plant_without_one_a_warning() {
        let found = pump_lines("backend = \"linux\"\n[[plants]]\nid = \"basil\"\n");
        assert_eq!(
            found.warnings,
            ["basil: no pump_line: nothing to switch off"]
        );
        assert!(switch_off_all(&found, |_| Ok(())).is_err());
        let sim = pump_lines("seed = 3\n");
        assert!(!sim.linux);
        assert_eq!(switch_off_all(&sim, |_| Ok(())), Ok(Vec::new()));
    }
}
