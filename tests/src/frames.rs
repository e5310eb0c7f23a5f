//! Ethernet frames built byte by byte (checksums are not checked on the egress path).
use std::net::{Ipv4Addr, Ipv6Addr};

const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
pub const ETH_LEN: usize = 14;
pub const IPV4_LEN: usize = 20;
pub const IPV6_LEN: usize = 40;
pub const UDP_LEN: usize = 8;
pub const TCP_LEN: usize = 20;
pub const ICMP_LEN: usize = 8;

fn eth(ethertype: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

fn ipv4(dst: Ipv4Addr, proto: u8, l4_len: usize) -> Vec<u8> {
    let mut f = eth(0x0800);
    let total = (IPV4_LEN + l4_len) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&Ipv4Addr::new(198, 18, 0, 1).octets());
    f.extend_from_slice(&dst.octets());
    f
}

fn ipv6(dst: Ipv6Addr, next: u8, l4_len: usize) -> Vec<u8> {
    let mut f = eth(0x86DD);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(l4_len as u16).to_be_bytes());
    f.extend_from_slice(&[next, 64]);
    f.extend_from_slice(&"fd00:b3::1".parse::<Ipv6Addr>().expect("literal").octets());
    f.extend_from_slice(&dst.octets());
    f
}

fn udp_header(payload: usize) -> [u8; UDP_LEN] {
    let len = ((UDP_LEN + payload) as u16).to_be_bytes();
    [0x30, 0x39, 0, 9, len[0], len[1], 0, 0]
}

fn tcp_header() -> [u8; TCP_LEN] {
    let mut h = [0u8; TCP_LEN];
    h[0..4].copy_from_slice(&[0x30, 0x39, 0x00, 0x50]);
    h[12] = 5 << 4;
    h[13] = 0x18;
    h
}

pub fn udp4(dst: Ipv4Addr, payload: usize) -> Vec<u8> {
    let mut f = ipv4(dst, 17, UDP_LEN + payload);
    f.extend_from_slice(&udp_header(payload));
    f.resize(f.len() + payload, 0xab);
    f
}

pub fn tcp4(dst: Ipv4Addr, payload: usize) -> Vec<u8> {
    let mut f = ipv4(dst, 6, TCP_LEN + payload);
    f.extend_from_slice(&tcp_header());
    f.resize(f.len() + payload, 0xcd);
    f
}

pub fn icmp4(dst: Ipv4Addr, payload: usize) -> Vec<u8> {
    let mut f = ipv4(dst, 1, ICMP_LEN + payload);
    f.extend_from_slice(&[8, 0, 0, 0, 0, 1, 0, 1]);
    f.resize(f.len() + payload, 0x11);
    f
}

pub fn udp6(dst: Ipv6Addr, payload: usize) -> Vec<u8> {
    let mut f = ipv6(dst, 17, UDP_LEN + payload);
    f.extend_from_slice(&udp_header(payload));
    f.resize(f.len() + payload, 0xab);
    f
}

pub fn tcp6(dst: Ipv6Addr, payload: usize) -> Vec<u8> {
    let mut f = ipv6(dst, 6, TCP_LEN + payload);
    f.extend_from_slice(&tcp_header());
    f.resize(f.len() + payload, 0xcd);
    f
}

pub fn icmp6(dst: Ipv6Addr, payload: usize) -> Vec<u8> {
    let mut f = ipv6(dst, 58, ICMP_LEN + payload);
    f.extend_from_slice(&[128, 0, 0, 0, 0, 1, 0, 1]);
    f.resize(f.len() + payload, 0x11);
    f
}

/// An ARP request (42 bytes, not IP).
pub fn arp() -> Vec<u8> {
    let mut f = eth(0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&[198, 18, 0, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[198, 18, 0, 2]);
    f
}
