//! Cutting a byte stream into lines, in bounded memory, each line read at its final state
//! and tagged with where it ends.
//!
//! - A line ends at `\n`; the stream's last line, without one, when the stream ends.
//! - `\r` inside a line is a redraw (a progress bar drawn again over itself): the line is
//!   its *final state*, the last of its `\r`-separated segments that is not blank (blank:
//!   only spaces, tabs and backspaces, which is what a bar's clearing leaves; a line of
//!   blank segments only is its last one). So
//!   `a\r\n` is `a`, `10%\r50%\r100%\n` is `100%`, and a bar cleared at its end
//!   (`…\r     \r\n`) keeps its last drawing.
//! - A segment longer than the cap is cut there (the line is flagged) and the rest of it,
//!   up to the next `\r` or `\n`, is skipped without being stored: at most two segments of
//!   at most the cap each are held at any time, whatever a run prints.
//! - Each line carries the offset just past its `\n` (for the last line, the stream's end):
//!   its position for resume.

use std::io::Read;

/// The longest segment kept, in bytes; the rest of a longer one is skipped (not buffered).
pub const MAX_LINE: usize = 64 * 1024;

/// A line from a [`LineSplitter`].
#[derive(Debug, PartialEq)]
pub struct SplitLine<'a> {
    /// The line's final state (without `\r` or `\n`), at most the cap.
    pub bytes: &'a [u8],
    /// Whether that segment was longer than the cap and cut.
    pub truncated: bool,
    /// The offset in the stream just past the line.
    pub end: u64,
}

/// Splits a byte stream into lines; see the module documentation.
#[derive(Debug)]
pub struct LineSplitter {
    /// The last complete non-blank segment of the pending line, then the current one.
    buf: Vec<u8>,
    /// Where the current segment starts in `buf`.
    cur: usize,
    /// Whether the kept segment and the current one were cut.
    prev_cut: bool,
    cur_cut: bool,
    /// Inside a segment that was cut: its rest is skipped.
    skipping: bool,
    /// The current segment has a byte that is not blank (counting a cut segment's skipped
    /// rest, so a cut segment is blank only if all of it is).
    cur_inked: bool,
    /// Bytes of a line were fed and its `\n` has not come yet.
    open: bool,
    cap: usize,
    /// Bytes fed so far.
    consumed: u64,
}

impl Default for LineSplitter {
    fn default() -> LineSplitter {
        LineSplitter::new()
    }
}

/// Whether a segment is blank: only spaces, tabs, vertical tabs, form feeds and backspaces.
fn blank(s: &[u8]) -> bool {
    s.iter()
        .all(|c| matches!(c, b' ' | b'\t' | 0x08 | 0x0b | 0x0c))
}

/// The final state of a whole line held in one slice: its last non-blank segment (else its
/// last one), cut to `cap`.
fn final_state(line: &[u8], cap: usize) -> (&[u8], bool) {
    let last = match memchr::memrchr(b'\r', line) {
        Some(i) => &line[i + 1..],
        None => line,
    };
    let mut seg = last;
    if blank(last) {
        let mut rest = line;
        while let Some(i) = memchr::memrchr(b'\r', rest) {
            rest = &rest[..i];
            let s = match memchr::memrchr(b'\r', rest) {
                Some(j) => &rest[j + 1..],
                None => rest,
            };
            if !blank(s) {
                seg = s;
                break;
            }
        }
    }
    if seg.len() > cap {
        (&seg[..cap], true)
    } else {
        (seg, false)
    }
}

impl LineSplitter {
    /// A splitter with the default cap [`MAX_LINE`].
    pub fn new() -> LineSplitter {
        LineSplitter::with_cap(MAX_LINE)
    }

    /// A splitter with a given cap (at least 1 byte).
    pub fn with_cap(cap: usize) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            cur: 0,
            prev_cut: false,
            cur_cut: false,
            skipping: false,
            cur_inked: false,
            open: false,
            cap: cap.max(1),
            consumed: 0,
        }
    }

    /// Bytes currently held for an unfinished line (at most twice the cap).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Bytes fed so far: the offset the next byte has in the stream.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Appends a piece of the current segment (no `\r` or `\n` in it), cutting at the cap.
    fn push(&mut self, piece: &[u8]) {
        if !self.cur_inked && !blank(piece) {
            self.cur_inked = true;
        }
        if self.skipping || piece.is_empty() {
            return;
        }
        let room = self.cap - (self.buf.len() - self.cur);
        if piece.len() > room {
            self.buf.extend_from_slice(&piece[..room]);
            self.cur_cut = true;
            self.skipping = true;
        } else {
            self.buf.extend_from_slice(piece);
        }
    }

    /// A `\r`: the current segment ends; it replaces the kept one unless it is blank.
    fn redraw(&mut self) {
        if !self.cur_inked {
            self.buf.truncate(self.cur);
        } else {
            self.buf.drain(..self.cur);
            self.prev_cut = self.cur_cut;
        }
        self.cur = self.buf.len();
        self.cur_cut = false;
        self.cur_inked = false;
        self.skipping = false;
    }

    /// The pending line ends at `end`: emits its final state and forgets it.
    fn emit(&mut self, end: u64, f: &mut impl FnMut(SplitLine<'_>)) {
        let (bytes, truncated) = if !self.cur_inked {
            if self.cur > 0 {
                (&self.buf[..self.cur], self.prev_cut)
            } else {
                (&self.buf[self.cur..], self.cur_cut)
            }
        } else {
            (&self.buf[self.cur..], self.cur_cut)
        };
        f(SplitLine {
            bytes,
            truncated,
            end,
        });
        self.buf.clear();
        self.cur = 0;
        self.prev_cut = false;
        self.cur_cut = false;
        self.cur_inked = false;
        self.skipping = false;
        self.open = false;
    }

    /// Feeds bytes, calling `f` for every complete line.
    pub fn feed(&mut self, data: &[u8], mut f: impl FnMut(SplitLine<'_>)) {
        let base = self.consumed;
        self.consumed += data.len() as u64;
        let mut at = 0;
        while at < data.len() {
            let rest = &data[at..];
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                self.partial(rest);
                return;
            };
            let end = base + (at + nl + 1) as u64;
            if !self.open {
                // The whole line is in this chunk: no copy.
                let (bytes, truncated) = final_state(&rest[..nl], self.cap);
                f(SplitLine {
                    bytes,
                    truncated,
                    end,
                });
            } else {
                self.partial(&rest[..nl]);
                self.emit(end, &mut f);
            }
            at += nl + 1;
        }
    }

    /// Takes bytes of the pending line (no `\n` in them).
    fn partial(&mut self, mut data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.open = true;
        while let Some(cr) = memchr::memchr(b'\r', data) {
            self.push(&data[..cr]);
            self.redraw();
            data = &data[cr + 1..];
        }
        self.push(data);
    }

    /// Ends the stream: a final line without a newline is emitted.
    pub fn finish(&mut self, mut f: impl FnMut(SplitLine<'_>)) {
        if self.open {
            let end = self.consumed;
            self.emit(end, &mut f);
        }
    }
}

/// Reads everything new from `r` into the splitter in fixed-size chunks; returns the number
/// of bytes read. Memory stays bounded by the chunk plus the splitter's buffer.
pub fn pump(
    r: &mut impl Read,
    chunk: &mut [u8],
    splitter: &mut LineSplitter,
    mut f: impl FnMut(SplitLine<'_>),
) -> std::io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = match r.read(chunk) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        splitter.feed(&chunk[..n], &mut f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Vec<(Vec<u8>, bool, u64)>;

    fn split(chunks: &[&[u8]], cap: usize) -> Got {
        let mut s = LineSplitter::with_cap(cap);
        let mut got = Vec::new();
        for c in chunks {
            s.feed(c, |l| got.push((l.bytes.to_vec(), l.truncated, l.end)));
            assert!(s.pending() <= 2 * cap);
        }
        s.finish(|l| got.push((l.bytes.to_vec(), l.truncated, l.end)));
        got
    }

    fn line(b: &[u8], cut: bool, end: u64) -> (Vec<u8>, bool, u64) {
        (b.to_vec(), cut, end)
    }

    #[test]
    fn lines_carry_their_end_and_lose_their_cr() {
        assert_eq!(
            split(&[b"ab\r\ncd\nlast"], 64),
            [
                line(b"ab", false, 4),
                line(b"cd", false, 7),
                line(b"last", false, 11)
            ]
        );
        assert_eq!(
            split(&[b"\n\r\n"], 64),
            [line(b"", false, 1), line(b"", false, 3)]
        );
    }

    #[test]
    fn redraws_collapse_to_the_last_drawing_in_any_chunking() {
        let text: &[u8] = b"10% a=1\r50% a=2\r100% a=3\r          \r\nnext\n";
        let whole = split(&[text], 64);
        assert_eq!(
            whole,
            [line(b"100% a=3", false, 37), line(b"next", false, 42)]
        );
        for cut in 0..text.len() {
            assert_eq!(
                split(&[&text[..cut], &text[cut..]], 64),
                whole,
                "cut at {cut}"
            );
        }
        // Keras 2 erases a drawing with backspaces, then `\r`: the last drawing is the line,
        // and a segment of backspaces only is blank.
        assert_eq!(
            split(&[b"1/2 a=1\x08\x08\x08\r2/2 a=2\r\x08\x08\n"], 64),
            [line(b"2/2 a=2", false, 22)]
        );
    }

    #[test]
    fn long_segments_are_cut_and_the_rest_skipped() {
        assert_eq!(
            split(&[b"ab\r\nabcdefgh", b"ijk\nxy", b"z\n"], 4),
            [
                line(b"ab", false, 4),
                line(b"abcd", true, 16),
                line(b"xyz", false, 20)
            ]
        );
        // A long drawing followed by a short one: the short one is the line.
        assert_eq!(split(&[b"abcdefgh\rxy\n"], 4), [line(b"xy", false, 12)]);
        assert_eq!(
            split(&[b"abcdef\nok\n"], 3),
            [line(b"abc", true, 7), line(b"ok", false, 10)]
        );
    }

    /// What a line is, written the obvious way.
    fn reference(raw: &[u8], cap: usize) -> (Vec<u8>, bool) {
        let segs: Vec<&[u8]> = raw.split(|&c| c == b'\r').collect();
        let seg = segs
            .iter()
            .rev()
            .find(|s| !blank(s))
            .copied()
            .unwrap_or(segs[segs.len() - 1]);
        if seg.len() > cap {
            (seg[..cap].to_vec(), true)
        } else {
            (seg.to_vec(), false)
        }
    }

    proptest::proptest! {
        #[test]
        fn any_chunking_gives_the_reference_lines_in_bounded_memory(
            chunks in proptest::collection::vec(proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just(b'\n'),
                    proptest::strategy::Just(b'\r'),
                    proptest::strategy::Just(b' '),
                    0u8..255
                ], 0..50), 0..20),
            cap in 1usize..16,
        ) {
            let refs: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let got = split(&refs, cap);
            let whole: Vec<u8> = chunks.concat();
            let mut want = Vec::new();
            let mut start = 0;
            for (i, &c) in whole.iter().enumerate() {
                if c == b'\n' {
                    let (b, cut) = reference(&whole[start..i], cap);
                    want.push((b, cut, i as u64 + 1));
                    start = i + 1;
                }
            }
            if start < whole.len() {
                let (b, cut) = reference(&whole[start..], cap);
                want.push((b, cut, whole.len() as u64));
            }
            proptest::prop_assert_eq!(got, want);
        }
    }
}
