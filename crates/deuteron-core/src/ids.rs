//! Ids a person can read and type: the shortest prefixes that tell a list's ids apart.
//! Deployment and rollout ids are UUIDv7s, whose first characters are a timestamp shared by
//! everything made in the same period, so a fixed short form (the first 8) would show the same
//! text for all of them.

/// For each id, its shortest prefix of at least `min` characters that no other id in `ids`
/// shares (the whole id when it is a prefix of another).
pub fn short_forms(ids: &[&str], min: usize) -> Vec<String> {
    let common = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|a, b| ids[*a].cmp(ids[*b]));
    let mut len = vec![min; ids.len()];
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let shared = common(ids[a], ids[b]);
        len[a] = len[a].max(shared + 1);
        len[b] = len[b].max(shared + 1);
    }
    ids.iter().zip(len).map(|(id, n)| id.chars().take(n).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_unique_and_as_short_as_allowed() {
        let ids = ["0193a1b2-c3d4-7e00-8000-000000000001", "0193a1b2-c3d5-7e00-8000-000000000002", "0193a1b2-ffff-7000-8000-0000000000aa"];
        let short = short_forms(&ids, 8);
        assert_eq!(short, ["0193a1b2-c3d4", "0193a1b2-c3d5", "0193a1b2-f"]);
        assert_eq!(short_forms(&["abcdef0123", "zz"], 4), ["abcd", "zz"]);
        assert_eq!(short_forms(&["same", "same"], 2), ["same", "same"], "equal ids stay whole");
        assert!(short_forms(&[], 8).is_empty());
    }
}
