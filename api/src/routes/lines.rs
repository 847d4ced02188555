//! `LineSplitter`: splits a body arriving in chunks into lines, holding at
//! most one line of a bounded length, so an NDJSON body of any size is read
//! in the memory of its longest accepted line.

/// One line of the body, without its end of line.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(Vec<u8>),
    /// A line longer than the limit; its bytes were dropped as they came.
    TooLong,
}

/// Splits chunks into lines of at most `max` bytes.
pub struct LineSplitter {
    max: usize,
    partial: Vec<u8>,
    too_long: bool,
}

impl LineSplitter {
    pub fn new(max: usize) -> Self {
        Self {
            max,
            partial: Vec::new(),
            too_long: false,
        }
    }

    /// The lines `chunk` ends; its unfinished last line is kept for the
    /// next chunk.
    pub fn push(&mut self, mut chunk: &[u8]) -> Vec<Line> {
        let mut lines = Vec::new();
        while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
            self.take(&chunk[..end]);
            lines.push(self.end_line());
            chunk = &chunk[end + 1..];
        }
        self.take(chunk);
        lines
    }

    /// The last line, if the body did not end with an end of line.
    pub fn finish(&mut self) -> Vec<Line> {
        if self.partial.is_empty() && !self.too_long {
            return Vec::new();
        }
        vec![self.end_line()]
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.too_long {
            return;
        }
        if self.partial.len() + bytes.len() > self.max {
            self.too_long = true;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self) -> Line {
        if std::mem::take(&mut self.too_long) {
            return Line::TooLong;
        }
        let mut line = std::mem::take(&mut self.partial);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Line::Text(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Line {
        Line::Text(s.as_bytes().to_vec())
    }

    #[test]
    fn lines_split_across_chunks_come_out_whole() {
        let mut lines = LineSplitter::new(100);
        assert_eq!(lines.push(b"ab"), vec![]);
        assert_eq!(lines.push(b"c\nde\r\nf"), vec![text("abc"), text("de")]);
        assert_eq!(lines.finish(), vec![text("f")]);
    }

    #[test]
    fn a_line_over_the_limit_is_dropped_as_it_comes_and_reported_once() {
        let mut lines = LineSplitter::new(4);
        assert_eq!(lines.push(b"abc"), vec![]);
        assert_eq!(lines.push(b"defgh"), vec![]);
        assert!(lines.partial.is_empty(), "the long line is not kept");
        assert_eq!(lines.push(b"i\nok\n"), vec![Line::TooLong, text("ok")]);
        assert_eq!(lines.finish(), vec![]);
    }
}
