//! The exempt-prefix tries: kept equal to the configured list by inserting, updating and removing
//! only the prefixes that differ, so a reload never leaves a moment with an empty trie.
use std::collections::BTreeMap;

use aya::maps::Array;
use aya::{
    Ebpf,
    maps::{
        MapError,
        lpm_trie::{Key, LpmTrie},
    },
};
use bwmon_common::{
    MAP_EXEMPT_V4, MAP_EXEMPT_V4_SUMMARY, MAP_EXEMPT_V6, SUMMARY_EXEMPT, SUMMARY_LOOKUP,
    SUMMARY_NOT_EXEMPT,
};
use ipnet::IpNet;

use super::{AccountingError, map_err};

/// What a sync changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Change {
    pub added: usize,
    pub removed: usize,
}

/// A prefix and whether it is exempt (`false`: an exception inside a shorter exempt prefix).
pub type ExemptRule = (IpNet, bool);

pub(super) fn sync(ebpf: &mut Ebpf, rules: &[ExemptRule]) -> Result<Change, AccountingError> {
    let mut v4 = BTreeMap::new();
    let mut v6 = BTreeMap::new();
    for &(net, exempt) in rules {
        let value = u8::from(exempt);
        match net.trunc() {
            IpNet::V4(n) => v4.insert((u32::from(n.prefix_len()), n.network().octets()), value),
            IpNet::V6(n) => v6.insert((u32::from(n.prefix_len()), n.network().octets()), value),
        };
    }
    // The /16 summary must never claim more than the trie knows: blocks that change go through
    // the trie ("lookup") while the trie changes, and get their final value afterwards.
    let want = summary(&v4);
    let have = read_summary(ebpf)?;
    let changed: Vec<usize> = (0..want.len()).filter(|&b| want[b] != have[b]).collect();
    write_summary(ebpf, changed.iter().map(|&b| (b, SUMMARY_LOOKUP)))?;
    let a = sync_one(ebpf, MAP_EXEMPT_V4, &v4)?;
    let b = sync_one(ebpf, MAP_EXEMPT_V6, &v6)?;
    write_summary(ebpf, changed.iter().map(|&b| (b, want[b])))?;
    Ok(Change {
        added: a.added + b.added,
        removed: a.removed + b.removed,
    })
}

/// The value of each IPv4 /16 block, from the IPv4 rules: rules of /16 or shorter paint whole
/// blocks (longer ones over shorter ones: longest prefix wins), a longer rule makes its block
/// ask the trie.
pub fn summary(v4: &BTreeMap<(u32, [u8; 4]), u8>) -> Vec<u8> {
    let mut blocks = vec![SUMMARY_NOT_EXEMPT; 1 << 16];
    let mut short: Vec<_> = v4.iter().filter(|((len, _), _)| *len <= 16).collect();
    short.sort_by_key(|((len, _), _)| *len);
    for ((len, addr), value) in short {
        let first = usize::from(u16::from_be_bytes([addr[0], addr[1]]));
        let count = 1usize << (16 - len);
        let paint = if *value != 0 {
            SUMMARY_EXEMPT
        } else {
            SUMMARY_NOT_EXEMPT
        };
        blocks[first..first + count].fill(paint);
    }
    for (len, addr) in v4.keys() {
        if *len > 16 {
            blocks[usize::from(u16::from_be_bytes([addr[0], addr[1]]))] = SUMMARY_LOOKUP;
        }
    }
    blocks
}

fn read_summary(ebpf: &Ebpf) -> Result<Vec<u8>, AccountingError> {
    let name = MAP_EXEMPT_V4_SUMMARY;
    let map = ebpf
        .map(name)
        .ok_or(AccountingError::Missing { kind: "map", name })?;
    let array: Array<_, u8> = Array::try_from(map).map_err(map_err(name))?;
    array
        .iter()
        .collect::<Result<_, MapError>>()
        .map_err(map_err(name))
}

fn write_summary(
    ebpf: &mut Ebpf,
    entries: impl Iterator<Item = (usize, u8)>,
) -> Result<(), AccountingError> {
    let name = MAP_EXEMPT_V4_SUMMARY;
    let map = ebpf
        .map_mut(name)
        .ok_or(AccountingError::Missing { kind: "map", name })?;
    let mut array: Array<_, u8> = Array::try_from(map).map_err(map_err(name))?;
    for (block, value) in entries {
        array.set(block as u32, value, 0).map_err(map_err(name))?;
    }
    Ok(())
}

fn sync_one<const N: usize>(
    ebpf: &mut Ebpf,
    name: &'static str,
    want: &BTreeMap<(u32, [u8; N]), u8>,
) -> Result<Change, AccountingError>
where
    [u8; N]: aya::Pod,
{
    let map = ebpf
        .map_mut(name)
        .ok_or(AccountingError::Missing { kind: "map", name })?;
    let mut trie: LpmTrie<_, [u8; N], u8> = LpmTrie::try_from(map).map_err(map_err(name))?;
    let have: BTreeMap<(u32, [u8; N]), u8> = trie
        .iter()
        .map(|kv| kv.map(|(k, v)| ((k.prefix_len(), k.data()), v)))
        .collect::<Result<_, MapError>>()
        .map_err(map_err(name))?;
    let mut change = Change::default();
    for (&(len, data), &value) in want {
        if have.get(&(len, data)) != Some(&value) {
            trie.insert(&Key::new(len, data), value, 0)
                .map_err(map_err(name))?;
            change.added += 1;
        }
    }
    for &(len, data) in have.keys().filter(|k| !want.contains_key(k)) {
        trie.remove(&Key::new(len, data)).map_err(map_err(name))?;
        change.removed += 1;
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[(&str, u8)]) -> BTreeMap<(u32, [u8; 4]), u8> {
        list.iter()
            .map(|(p, v)| {
                let n: ipnet::Ipv4Net = p.parse().expect("literal");
                ((u32::from(n.prefix_len()), n.network().octets()), *v)
            })
            .collect()
    }

    fn block(a: u8, b: u8) -> usize {
        usize::from(u16::from_be_bytes([a, b]))
    }

    #[test]
    fn summary_paints_short_rules_and_defers_long_ones() {
        let s = summary(&rules(&[
            ("100.64.0.0/10", 1),
            ("100.66.0.0/16", 0),
            ("100.65.5.0/24", 0),
            ("198.18.1.0/24", 1),
        ]));
        // 100.64.0.0/10 covers 100.64–100.127: 64 blocks.
        assert_eq!(s[block(100, 64)], SUMMARY_EXEMPT);
        assert_eq!(s[block(100, 127)], SUMMARY_EXEMPT);
        assert_eq!(s[block(100, 128)], SUMMARY_NOT_EXEMPT);
        assert_eq!(s[block(100, 63)], SUMMARY_NOT_EXEMPT);
        // The longer /16 wins over the /10.
        assert_eq!(s[block(100, 66)], SUMMARY_NOT_EXEMPT);
        // Blocks holding rules longer than /16 ask the trie.
        assert_eq!(s[block(100, 65)], SUMMARY_LOOKUP);
        assert_eq!(s[block(198, 18)], SUMMARY_LOOKUP);
        assert_eq!(s.iter().filter(|&&v| v == SUMMARY_EXEMPT).count(), 64 - 2);
    }

    #[test]
    fn default_route_rule_paints_everything() {
        let s = summary(&rules(&[("0.0.0.0/0", 1)]));
        assert!(s.iter().all(|&v| v == SUMMARY_EXEMPT));
        assert!(
            summary(&BTreeMap::new())
                .iter()
                .all(|&v| v == SUMMARY_NOT_EXEMPT)
        );
    }
}
