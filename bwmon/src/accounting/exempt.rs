//! The exempt-prefix tries: kept equal to the configured list by inserting, updating and removing
//! only the prefixes that differ, so a reload never leaves a moment with an empty trie.
use std::collections::BTreeMap;

use aya::{
    Ebpf,
    maps::{
        MapError,
        lpm_trie::{Key, LpmTrie},
    },
};
use bwmon_common::{MAP_EXEMPT_V4, MAP_EXEMPT_V6};
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
    let a = sync_one(ebpf, MAP_EXEMPT_V4, &v4)?;
    let b = sync_one(ebpf, MAP_EXEMPT_V6, &v6)?;
    Ok(Change {
        added: a.added + b.added,
        removed: a.removed + b.removed,
    })
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
