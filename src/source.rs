//! A user file read into memory, with the byte-offset to line:column mapping
//! that turns parser spans into `path:line:col` diagnostics.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::diag::Diagnostic;

/// Campaigns, templates and configs are hand-written; anything larger is a
/// mistake (a log or a binary dropped into the folder), not input.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Source {
    pub path: PathBuf,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path) -> Result<Source, Diagnostic> {
        Source::read_limited(path, MAX_FILE_BYTES)
    }

    /// Data files (lead CSVs) may be large; memory is the only limit.
    pub fn read_large(path: &Path) -> Result<Source, Diagnostic> {
        Source::read_limited(path, u64::MAX)
    }

    fn read_limited(path: &Path, limit: u64) -> Result<Source, Diagnostic> {
        let meta = std::fs::metadata(path).map_err(|e| Diagnostic::error(path, format!("cannot read: {e}")))?;
        if !meta.is_file() {
            return Err(Diagnostic::error(path, "is not a regular file"));
        }
        if meta.len() > limit {
            return Err(Diagnostic::error(
                path,
                format!("file is {} bytes; the limit is {limit}: is it the right file?", meta.len()),
            ));
        }
        let bytes = std::fs::read(path).map_err(|e| Diagnostic::error(path, format!("cannot read: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let (line, col) = line_col(&String::from_utf8_lossy(e.as_bytes()), e.utf8_error().valid_up_to());
            Diagnostic::error(path, "not UTF-8 text (is it a binary file?)").at(line, col)
        })?;
        Ok(Source { path: path.to_path_buf(), text })
    }

    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Source {
        Source { path: path.into(), text: text.into() }
    }

    /// An error pointing at the start of `span`.
    pub fn error_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let d = Diagnostic::error(&self.path, message);
        match span {
            Some(s) => {
                let (line, col) = line_col(&self.text, s.start);
                d.at(line, col)
            }
            None => d,
        }
    }

    pub fn warning_at(&self, span: Option<Range<usize>>, message: impl Into<String>) -> Diagnostic {
        let mut d = self.error_at(span, message);
        d.severity = crate::diag::Severity::Warning;
        d
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_one_based_line_and_column() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3));
        assert_eq!(line_col(text, 1000), (3, 1));
    }
}
