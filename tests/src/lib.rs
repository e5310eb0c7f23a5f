//! Helpers for the privileged end-to-end tests: namespaces, bpffs pin directories, crafted
//! frames, the `__sk_buff` context of `BPF_PROG_TEST_RUN`, the agent process and an SMTP sink.
pub mod agent;
pub mod cgroup;
pub mod frames;
pub mod netns;
pub mod pins;
pub mod skb;
pub mod smtp;
pub mod traffic;
