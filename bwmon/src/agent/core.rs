//! The sync engine: counters → policy → shaping diff → steering map → ledger → notifications →
//! snapshot. It owns every kernel handle and runs on one OS thread (the one that entered the
//! shaped interfaces' network namespace), so no lock is needed.
use std::{
    collections::{BTreeMap, HashMap},
    time::Instant,
};

use bwmon_common::{Counters, SLOT_DEFAULT, SLOT_ROOT, SlotClass};

use super::{DEFAULT_XID, health::HealthBook, slots::Slots};
use crate::{
    accounting::Accounting,
    config::{Config, EmailConfig},
    ledger::Ledger,
    policy::{
        Attributes, DEFAULT_SLICE, Decisions, Notification, PerClass, Policy, PolicyConfig,
        ROOT_SLICE, SliceInput,
    },
    shaping::{
        AllocError, ClassAllocator, ClassRates, Shaper, SliceRates, alloc::DEFAULT_SHARD_SIZE,
        netlink::NetlinkBackend,
    },
    slices::{SliceList, SliceSource},
    status::{Node, SliceView, Snapshot},
};

/// One shaped interface.
pub struct Shaped {
    pub iface: String,
    pub shaper: Shaper<NetlinkBackend>,
}

/// A notification to deliver, with the slice's contacts.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub notification: Notification,
    pub contacts: Vec<String>,
}

/// Where decided notifications go (the mail queue; a recorder in tests).
pub trait Notifier: Send {
    /// Hands over one notice; must not block.
    fn notify(&mut self, email: &EmailConfig, hostname: &str, outgoing: Outgoing);
    /// Notices handed over and not yet delivered (`agent.mail_queue` in the status).
    fn pending(&self) -> u64 {
        0
    }
}

pub struct Core {
    pub config: Config,
    pub slices: SliceList,
    pub acc: Accounting,
    pub shaped: Vec<Shaped>,
    pub policy: Policy,
    pub ledger: Ledger,
    pub slots: Slots,
    pub health: HealthBook,
    pub notifier: Box<dyn Notifier>,
    pub hostname: String,
    /// Steering already written, per slot.
    steering: HashMap<u32, SlotClass>,
    /// Cgroup ids mapped in the kernel, to their xid.
    cgroups: BTreeMap<u64, u32>,
    /// Counter values at which a slice crosses a threshold: (slot, class, value).
    triggers: Vec<(u32, usize, u64)>,
    /// Counters at the last sync, per slot.
    last_counters: Vec<Counters>,
}

pub fn policy_config(config: &Config) -> PolicyConfig {
    PolicyConfig {
        node_cap_bps: config.node_cap.bits_per_sec(),
        hardware_max_bps: config.hardware_max.bits_per_sec(),
        period_secs: config.period.as_secs().max(1),
        defaults: config.defaults.clone(),
    }
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        slices: SliceList,
        acc: Accounting,
        shaped: Vec<Shaped>,
        policy: Policy,
        ledger: Ledger,
        slots: Slots,
        health: HealthBook,
        notifier: Box<dyn Notifier>,
        hostname: String,
    ) -> Self {
        Self {
            config,
            slices,
            acc,
            shaped,
            policy,
            ledger,
            slots,
            health,
            notifier,
            hostname,
            steering: HashMap::new(),
            cgroups: BTreeMap::new(),
            triggers: Vec::new(),
            last_counters: Vec::new(),
        }
    }

    /// Whether a slice has crossed a threshold since the last sync (cheap: one batch read).
    pub fn crossed_threshold(&mut self) -> bool {
        if self.triggers.is_empty() {
            return false;
        }
        match self.acc.read_counters(self.slots.span()) {
            Ok(now) => self.triggers.iter().any(|&(slot, class, at)| {
                now.get(slot as usize).is_some_and(|c| c.bytes[class] >= at)
            }),
            Err(error) => {
                self.health.error(format!("reading counters: {error}"));
                false
            }
        }
    }

    /// One full sync at `now` (Unix seconds).
    pub fn sync(&mut self, now: u64) -> Snapshot {
        let started = Instant::now();
        self.map_slices();
        let counters = match self.acc.read_counters(self.slots.span()) {
            Ok(c) => c,
            Err(error) => {
                self.health.error(format!("reading counters: {error}"));
                self.last_counters.clone()
            }
        };
        let decisions = self.decide(now, &counters);
        self.apply_shaping(&decisions);
        self.release_slots();
        if let Err(error) = self.ledger.save(self.policy.state()) {
            self.health.error(format!("saving the ledger: {error}"));
        }
        self.save_allocators();
        self.deliver(decisions.notifications);
        self.set_triggers(&counters);
        self.last_counters = counters;
        self.health.synced(now, started.elapsed());
        self.snapshot(now)
    }

    /// Gives every listed slice a slot (and, in cgroup mode, maps its cgroup).
    fn map_slices(&mut self) {
        let mut want_cgroups = BTreeMap::new();
        for slice in self.slices.slices() {
            match self.slots.assign(slice.xid) {
                Ok((slot, true)) => {
                    if let Err(error) = self.acc.set_xid_slot(slice.xid, slot) {
                        self.health.error(format!("slice {}: {error}", slice.name));
                    }
                }
                Ok(_) => {}
                Err(full) => self.health.error(format!("slice {}: {full}", slice.name)),
            }
            if let SliceSource::Cgroup { id, .. } = slice.source {
                want_cgroups.insert(id, slice.xid);
            }
        }
        for (&id, &xid) in &want_cgroups {
            if self.cgroups.get(&id) != Some(&xid)
                && let Err(error) = self.acc.set_cgroup(id, xid)
            {
                self.health.error(format!("cgroup {id}: {error}"));
            }
        }
        for id in self
            .cgroups
            .keys()
            .filter(|id| !want_cgroups.contains_key(id))
        {
            if let Err(error) = self.acc.remove_cgroup(*id) {
                self.health.error(format!("cgroup {id}: {error}"));
            }
        }
        self.cgroups = want_cgroups;
    }

    fn decide(&mut self, now: u64, counters: &[Counters]) -> Decisions {
        let none = Attributes::default();
        let at = |slot: u32| {
            let c = counters.get(slot as usize).copied().unwrap_or_default();
            PerClass::new(c.bytes[0], c.bytes[1])
        };
        let mut inputs = vec![
            SliceInput {
                name: DEFAULT_SLICE,
                xid: DEFAULT_XID,
                attributes: &none,
                counters: at(SLOT_DEFAULT),
            },
            SliceInput {
                name: ROOT_SLICE,
                xid: 0,
                attributes: &none,
                counters: at(SLOT_ROOT),
            },
        ];
        for slice in self.slices.slices() {
            let Some(slot) = self.slots.get(slice.xid) else {
                continue;
            };
            inputs.push(SliceInput {
                name: &slice.name,
                xid: slice.xid,
                attributes: &slice.attributes,
                counters: at(slot),
            });
        }
        let decisions = self.policy.sync(now, &inputs);
        for event in &decisions.events {
            tracing::info!("{event}");
        }
        decisions
    }

    fn apply_shaping(&mut self, decisions: &Decisions) {
        if self.shaped.is_empty() {
            return;
        }
        let rates: Vec<SliceRates> = decisions
            .ceilings
            .iter()
            .map(|d| SliceRates {
                xid: d.xid,
                normal: ClassRates {
                    min: d.classes.normal.rate_bps,
                    ceil: d.classes.normal.ceil_bps,
                },
                exempt: ClassRates {
                    min: d.classes.exempt.rate_bps,
                    ceil: d.classes.exempt.ceil_bps,
                },
                share: d.classes.normal.share.max(1),
            })
            .collect();
        for shaped in &mut self.shaped {
            match shaped.shaper.sync(&rates) {
                // Classes added or removed are news; capped ceilings move at every sync.
                Ok(report) if report.added + report.deleted > 0 => {
                    tracing::info!(iface = %shaped.iface, ?report, "shaping changed");
                }
                Ok(report) if report.ops() > 0 => {
                    tracing::debug!(iface = %shaped.iface, ?report, "ceilings adjusted");
                }
                Ok(_) => {}
                Err(error) => self
                    .health
                    .error(format!("shaping {}: {error}", shaped.iface)),
            }
        }
        // The steering map is shared by all interfaces: the first interface's class ids (all
        // interfaces allocate the same ids from the same slice order).
        let Some(first) = self.shaped.first() else {
            return;
        };
        let mut writes = Vec::new();
        for d in &decisions.ceilings {
            let slot = match d.name.as_str() {
                DEFAULT_SLICE => SLOT_DEFAULT,
                ROOT_SLICE => SLOT_ROOT,
                _ => match self.slots.get(d.xid) {
                    Some(slot) => slot,
                    None => continue,
                },
            };
            let class = first
                .shaper
                .classes(d.xid)
                .map_or_else(SlotClass::default, |c| SlotClass {
                    classid: [c.normal.0, c.exempt.0],
                });
            if self.steering.get(&slot) != Some(&class) {
                writes.push((slot, class));
            }
        }
        for (slot, class) in writes {
            match self.acc.set_slot_class(slot, class) {
                Ok(()) => {
                    self.steering.insert(slot, class);
                }
                Err(error) => self.health.error(format!("steering slot {slot}: {error}")),
            }
        }
    }

    /// Frees the slots of xids the policy no longer knows (neither live nor dead).
    fn release_slots(&mut self) {
        let state = self.policy.state();
        let known: std::collections::BTreeSet<u32> = state
            .live
            .values()
            .chain(state.dead.values())
            .map(|r| r.xid)
            .collect();
        let listed: std::collections::BTreeSet<u32> =
            self.slices.slices().iter().map(|s| s.xid).collect();
        for (xid, slot) in self
            .slots
            .retain(|x| known.contains(&x) || listed.contains(&x))
        {
            if let Err(error) = self.acc.clear_xid(xid) {
                self.health.error(format!("releasing xid {xid}: {error}"));
            }
            let _ = self.acc.set_slot_class(slot, SlotClass::default());
            self.steering.remove(&slot);
        }
    }

    fn save_allocators(&self) {
        for shaped in &self.shaped {
            let path = self
                .config
                .state_dir
                .join(format!("classes-{}.json", shaped.iface));
            if let Err(error) = super::state_files::save_json(&path, shaped.shaper.allocator()) {
                tracing::warn!(%error, path = %path.display(), "cannot save class ids");
            }
        }
    }

    fn deliver(&mut self, notifications: Vec<Notification>) {
        for notification in notifications {
            let contacts = self
                .slices
                .get(&notification.slice)
                .map(|s| s.contacts.clone())
                .unwrap_or_default();
            self.notifier.notify(
                &self.config.email,
                &self.hostname,
                Outgoing {
                    notification,
                    contacts,
                },
            );
        }
        self.health.mail_queue = self.notifier.pending();
    }

    /// Counter values at which each uncapped class crosses its threshold.
    fn set_triggers(&mut self, counters: &[Counters]) {
        self.triggers.clear();
        let status = self.policy.status();
        for s in status.iter().filter(|s| s.live) {
            let Some(slot) = self.slots.get(s.xid) else {
                continue;
            };
            let Some(c) = counters.get(slot as usize) else {
                continue;
            };
            for (class, used, threshold, capped) in [
                (0, s.bytes, s.threshold, s.capped),
                (1, s.exempt_bytes, s.exempt_threshold, s.exempt_capped),
            ] {
                if !capped && used < threshold {
                    self.triggers
                        .push((slot, class, c.bytes[class] + (threshold - used)));
                }
            }
        }
    }

    /// The status snapshot as of `now`.
    pub fn snapshot(&self, now: u64) -> Snapshot {
        let mut slices = Vec::new();
        let mut dead = Vec::new();
        for s in self.policy.status() {
            let slot = match s.name.as_str() {
                DEFAULT_SLICE => Some(SLOT_DEFAULT),
                ROOT_SLICE => Some(SLOT_ROOT),
                _ => self.slots.get(s.xid),
            };
            let sent = slot
                .and_then(|slot| self.last_counters.get(slot as usize))
                .map_or([0, 0], |c| c.bytes);
            let view = SliceView::new(&s, sent);
            if s.live {
                slices.push(view)
            } else {
                dead.push(view)
            }
        }
        Snapshot {
            schema: crate::status::SCHEMA_VERSION,
            now: crate::status::rfc3339(now),
            now_unix: now,
            node: node_view(&self.config, &self.hostname),
            agent: self.health.view(),
            slices,
            dead,
        }
    }

    /// Takes a new slice list (already validated).
    pub fn set_slices(&mut self, slices: SliceList) {
        tracing::info!(slices = slices.slices().len(), "slice list loaded");
        self.slices = slices;
    }

    /// Applies what can change without a restart: rates, period, defaults, exempt prefixes.
    pub fn set_config(&mut self, config: Config) {
        let rules: Vec<_> = config.exempt_prefixes.iter().map(|n| (*n, true)).collect();
        if let Err(error) = self.acc.set_exempt(&rules) {
            self.health.error(format!("exempt prefixes: {error}"));
        }
        self.policy.set_config(policy_config(&config));
        self.config = config;
    }
}

/// The node's parameters as the status shows them.
pub fn node_view(config: &Config, hostname: &str) -> Node {
    Node {
        hostname: hostname.to_owned(),
        interfaces: config.interfaces.clone(),
        node_cap_bps: config.node_cap.bits_per_sec(),
        hardware_max_bps: config.hardware_max.bits_per_sec(),
        period_secs: config.period.as_secs(),
        sync_interval_ms: config.sync_interval.as_millis() as u64,
        units: format!("{:?}", config.units).to_lowercase(),
        slice_id: format!("{:?}", config.slice_id).to_lowercase(),
    }
}

/// A fresh allocator or the one saved for `iface`.
pub fn load_allocator(config: &Config, iface: &str) -> Result<ClassAllocator, AllocError> {
    let path = config.state_dir.join(format!("classes-{iface}.json"));
    match super::state_files::load_json::<ClassAllocator>(&path) {
        Ok(Some(alloc)) => Ok(alloc),
        Ok(None) => ClassAllocator::new(DEFAULT_SHARD_SIZE),
        Err(error) => {
            tracing::error!(%error, path = %path.display(), "class ids unreadable; starting afresh");
            ClassAllocator::new(DEFAULT_SHARD_SIZE)
        }
    }
}
