//! What a command prints: a table or a sentence for people, the API's JSON with `--json`,
//! and the forms people read and write times, durations and sizes in.

use std::io::Read;

use serde_json::Value;

use super::client::AdminError;

/// A command's answer, in both forms.
pub struct Shown {
    /// The API's JSON (`--json`).
    pub json: Value,
    /// For people: a table or a sentence.
    pub human: String,
    /// A remark for standard error (e.g. that a secret is shown only once).
    pub note: Option<String>,
}

impl Shown {
    /// A sentence, with the JSON it stands for.
    pub fn said(human: impl Into<String>, json: Value) -> Shown {
        Shown { json, human: human.into(), note: None }
    }

    /// A table.
    pub fn table(table: Table, json: Value) -> Shown {
        Shown { json, human: table.render(), note: None }
    }

    /// With a remark for standard error.
    pub fn with_note(mut self, note: impl Into<String>) -> Shown {
        self.note = Some(note.into());
        self
    }

    /// Prints it as asked.
    pub fn print(&self, json: bool) {
        if json && !self.json.is_null() {
            println!("{}", serde_json::to_string_pretty(&self.json).unwrap_or_default());
        } else if !json && !self.human.is_empty() {
            println!("{}", self.human.trim_end_matches('\n'));
        }
        if let Some(note) = &self.note {
            eprintln!("{note}");
        }
    }
}

/// Columns aligned with spaces, a header in capitals.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these columns.
    pub fn new(header: &[&'static str]) -> Table {
        Table { header: header.to_vec(), rows: Vec::new() }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.iter().map(|c| printable(c)).collect());
    }

    /// Key-value lines: one row per field.
    pub fn fields(pairs: Vec<(&'static str, String)>) -> String {
        let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        pairs.into_iter().map(|(k, v)| format!("{k:<width$}  {}\n", printable(&v))).collect()
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            padded.join("  ").trim_end().to_owned() + "\n"
        };
        let mut out = line(self.header.iter().map(|h| h.to_uppercase()).collect());
        for row in &self.rows {
            out += &line(row.clone());
        }
        out
    }
}

/// A value other users chose (a full name, a description), without the control
/// characters that would drive the terminal.
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// Seconds since the epoch, as `2026-12-01 10:43 UTC`.
pub fn when(secs: u64) -> String {
    let format = time::format_description::parse_borrowed::<2>("[year]-[month]-[day] [hour]:[minute] UTC");
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .zip(format.ok())
        .and_then(|(t, format)| t.format(&format).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// An optional time, or `never`.
pub fn when_or(secs: Option<u64>, none: &str) -> String {
    secs.map_or_else(|| none.to_owned(), when)
}

/// Seconds since the epoch now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A duration as people write it (`90m`, `12h`, `30d`, `2w`, `45s`), in seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let wrong = || format!("{text:?}: a number and a unit: s, m, h, d or w (as in 30d)");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(wrong)?;
    let (number, unit) = text.split_at(split);
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(wrong()),
    };
    number.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)).filter(|secs| *secs > 0).ok_or_else(wrong)
}

/// A size as people write it (`500MB`, `10GiB`, `1TB`, `2048`), in bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let wrong = || format!("{text:?}: a number of bytes, or with a unit: KB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB");
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit: u64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "kB" => 1000,
        "MB" => 1000_u64.pow(2),
        "GB" => 1000_u64.pow(3),
        "TB" => 1000_u64.pow(4),
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return Err(wrong()),
    };
    number.parse::<u64>().ok().and_then(|n| n.checked_mul(unit)).ok_or_else(wrong)
}

/// A size as people read it.
pub fn size(bytes: u64) -> String {
    berth_core::bytes::human_bytes(bytes)
}

/// A password, read from standard input (never a flag: it would show in `ps`).
pub fn read_password() -> Result<String, AdminError> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).map_err(anyhow::Error::from)?;
    let password = text.trim_end_matches(['\n', '\r']).to_owned();
    if password.is_empty() {
        return Err(AdminError::Usage("no password on standard input".into()));
    }
    Ok(password)
}

/// `yes` or `no`.
pub fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_as_people_write_them() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration("90m"), Ok(5400));
        assert!(parse_duration("30").is_err() && parse_duration("0d").is_err() && parse_duration("1y").is_err());
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("lots").is_err() && parse_size("5PB").is_err());
    }

    #[test]
    fn tables_align_their_columns() {
        let mut table = Table::new(&["name", "role"]);
        table.row(vec!["administrator".into(), "admin".into()]);
        table.row(vec!["al".into(), "user".into()]);
        assert_eq!(table.render(), "NAME           ROLE\nadministrator  admin\nal             user\n");
    }
}
