//! The argument patterns of a host-process grant, shared by the host
//! (which enforces them) and drivers (whose tests check their own command
//! lines against the grant they document).

/// What `*` may stand for: letters, digits and `. _ - / + @`. Never a
/// comma, colon, space, quote or `;`, so a `*` cannot smuggle another
/// option into a QEMU argument (`file={dir}/*` is not
/// `file=…,driver=…`) or a command into one QEMU runs through a shell.
pub fn safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._-/+@".contains(c)
}

/// `*` matches a run of [`safe`] characters; everything else is literal.
pub fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((literal, rest)) => {
            let Some(after) = text.strip_prefix(literal) else {
                return false;
            };
            // Every split point of the safe run the star may cover.
            let run = after.find(|c: char| !safe(c)).unwrap_or(after.len());
            (0..=run)
                .rev()
                .filter(|i| after.is_char_boundary(*i))
                .any(|i| glob(rest, &after[i..]))
        }
    }
}
