//! The input file: a CSV with a header (`userId,avatarUrl` or
//! `userId,path`) or JSONL (`{"userId", "avatarUrl"}` or `{"userId",
//! "path"}` per line), read into rows numbered from 0.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::Value;

/// Where a row's picture is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A URL the service fetches: the row goes in an import.
    Url(String),
    /// A local file, uploaded as the bytes of a bulk PUT.
    File(PathBuf),
}

/// One row of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Its number, from 0, header not counted.
    pub number: usize,
    pub user: String,
    pub source: Source,
}

/// Reads every row of `path`; a relative `path` column is taken from the
/// input's folder.
pub fn read(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the input {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let jsonl = path
        .extension()
        .is_some_and(|e| e == "jsonl" || e == "ndjson")
        || text.trim_start().starts_with('{');
    if jsonl {
        read_jsonl(&text, base)
    } else {
        read_csv(&text, base)
    }
}

fn row(
    number: usize,
    user: &str,
    url: Option<&str>,
    file: Option<&str>,
    base: &Path,
) -> anyhow::Result<Row> {
    let user = user.trim();
    if user.is_empty() {
        bail!("row {} has no userId", number + 1);
    }
    let source = match (url.map(str::trim), file.map(str::trim)) {
        (Some(url), _) if !url.is_empty() => Source::Url(url.to_owned()),
        (_, Some(file)) if !file.is_empty() => Source::File(base.join(file)),
        _ => bail!("row {} has neither an avatarUrl nor a path", number + 1),
    };
    Ok(Row {
        number,
        user: user.to_owned(),
        source,
    })
}

fn read_csv(text: &str, base: &Path) -> anyhow::Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .context("the CSV has no header line")?
        .clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let Some(user) = column("userId") else {
        bail!("the CSV header must name a userId column (and avatarUrl or path); it is {header:?}");
    };
    let (url, file) = (column("avatarUrl"), column("path"));
    if url.is_none() && file.is_none() {
        bail!("the CSV header must name an avatarUrl or a path column; it is {header:?}");
    }
    let mut rows = Vec::new();
    for (number, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("row {} of the CSV", number + 1))?;
        let get = |i: Option<usize>| i.and_then(|i| record.get(i));
        rows.push(row(
            number,
            get(Some(user)).unwrap_or(""),
            get(url),
            get(file),
            base,
        )?);
    }
    Ok(rows)
}

fn read_jsonl(text: &str, base: &Path) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let number = rows.len();
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("line {} is not JSON", number + 1))?;
        let text = |name: &str| value.get(name).and_then(Value::as_str);
        rows.push(row(
            number,
            text("userId").unwrap_or(""),
            text("avatarUrl"),
            text("path"),
            base,
        )?);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_jsonl_rows_read_alike() {
        let base = Path::new("/data");
        let csv = read_csv(
            "userId,avatarUrl,path\nu1,https://a.example/1.png,\n\"u2\",,photos/u2.jpg\n",
            base,
        )
        .expect("reads");
        let jsonl = read_jsonl(
            "{\"userId\":\"u1\",\"avatarUrl\":\"https://a.example/1.png\"}\n\n{\"userId\":\"u2\",\"path\":\"photos/u2.jpg\"}\n",
            base,
        )
        .expect("reads");
        assert_eq!(csv, jsonl);
        assert_eq!(
            csv[1].source,
            Source::File(PathBuf::from("/data/photos/u2.jpg"))
        );
    }

    #[test]
    fn a_header_without_the_columns_says_which_it_needs() {
        let error = read_csv("user,url\nu1,x\n", Path::new(".")).expect_err("no columns");
        assert!(error.to_string().contains("userId"), "{error}");
    }
}
