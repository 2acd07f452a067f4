//! The argument patterns of a host-process grant, shared by the host
//! (which enforces them) and drivers (whose tests check their own command
//! lines against the grant they generate).
//!
//! A grant lists *groups*: an option with the patterns of its values, in
//! order (`["-b", "{image}/*.qcow2"]`), or a whole command line. A
//! program's arguments must be a run of granted groups one after another,
//! each matched element for element: a pattern written for one position
//! (the value after `-b`) never matches an argument at another.

/// In a pattern: a directory the operator granted read-write (`dirs`,
/// where a driver keeps its state).
pub const STATE_DIR: &str = "{state}";
/// In a pattern: a directory the operator granted read-only as a source
/// of disk images (`image_dirs`).
pub const IMAGE_DIR: &str = "{image}";

/// What `*` may stand for: letters, digits and `. _ - / + @`. Never a
/// comma, colon, space, quote or `;`, so a `*` cannot smuggle another
/// option into a QEMU argument (`file={state}/*` is not
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

/// Whether `args` is a run of `groups`, each matched element for element
/// by `matches(pattern, argument)`; `Err(i)` names the first argument no
/// run of groups reaches past (the one to report).
pub fn match_groups(
    groups: &[Vec<String>],
    args: &[String],
    matches: impl Fn(&str, &str) -> bool,
) -> Result<(), usize> {
    // reached[i]: some run of groups covers exactly args[..i]. Each
    // position is tried once per group, so ambiguity costs no more than
    // arguments × groups.
    let mut reached = vec![false; args.len() + 1];
    reached[0] = true;
    for start in 0..args.len() {
        if !reached[start] {
            continue;
        }
        for group in groups {
            let end = start + group.len();
            if group.is_empty() || end > args.len() || reached[end] {
                continue;
            }
            if group
                .iter()
                .zip(&args[start..end])
                .all(|(pattern, arg)| matches(pattern, arg))
            {
                reached[end] = true;
            }
        }
    }
    if reached[args.len()] {
        Ok(())
    } else {
        Err(reached.iter().rposition(|r| *r).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(g: &[&[&str]]) -> Vec<Vec<String>> {
        g.iter()
            .map(|g| g.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn globs_match_runs_of_safe_characters() {
        assert!(glob("*", "anything"));
        assert!(!glob("*", "two words") && !glob("*", "a,b") && !glob("*", "a:b"));
        assert!(glob("vm-*", "vm-12"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("a*c*e", "abde"));
        assert!(!glob("vm-*", "xvm-1"));
        assert!(glob("exact", "exact") && !glob("exact", "exactly"));
    }

    #[test]
    fn a_pattern_matches_only_at_its_own_position() {
        let g = groups(&[
            &["create", "-f", "qcow2"],
            &["-b", "/img/*"],
            &["/state/*"],
            &["-S"],
        ]);
        let ok = |a: &[&str]| match_groups(&g, &args(a), glob);
        assert_eq!(
            ok(&["create", "-f", "qcow2", "-b", "/img/a", "/state/o"]),
            Ok(())
        );
        // Groups in another order, or repeated, are still runs of groups.
        assert_eq!(ok(&["-S", "-b", "/img/a", "-S"]), Ok(()));
        assert_eq!(ok(&[]), Ok(()));
        // The value after `-b` must be an image: a state path granted as a
        // positional argument does not match there.
        assert_eq!(ok(&["create", "-f", "qcow2", "-b", "/state/o"]), Err(3));
        // `qcow2` is granted only after `-f` inside its group.
        assert_eq!(ok(&["qcow2"]), Err(0));
        assert_eq!(ok(&["-f", "qcow2"]), Err(0));
        // A group cut short at the end.
        assert_eq!(ok(&["-S", "-b"]), Err(1));
    }

    #[test]
    fn overlapping_groups_are_tried_in_every_reading() {
        // `-a x` could be one group or `-a` then `x`; only one reading
        // leaves `-a y` matchable.
        let g = groups(&[&["-a"], &["-a", "x"], &["x", "-a", "y"]]);
        assert_eq!(
            match_groups(&g, &args(&["-a", "x", "-a", "y"]), glob),
            Ok(())
        );
        assert_eq!(match_groups(&g, &args(&["-a", "y"]), glob), Err(1));
    }
}
