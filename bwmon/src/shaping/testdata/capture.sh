#!/bin/sh
# Regenerates the tc fixtures in this directory: runs iproute2's tc in a throwaway netns on a veth
# end with ifindex 2 under strace, and writes each netlink message tc sends (or, for the dumps,
# receives) as hex, one file per command. Run as root from this directory: `sh capture.sh`.
set -eu
NS=bwcap$$
ip netns add $NS
trap 'ip netns del $NS' EXIT
ip -n $NS link add bwp type veth peer name bw0
ip -n $NS link set bwp up
ip -n $NS link set bw0 up
# hex FILE DIR TC-ARGS...: DIR is write (sendmsg) or read (recvmsg); keeps the dumped buffers.
hex() {
  out=$1; dir=$2; shift 2
  if [ "$dir" = write ]; then calls=sendmsg; else calls=recvmsg; fi
  ip netns exec $NS strace -f -e trace=$calls -e $dir=all tc "$@" 2>&1 >/dev/null \
    | awk '/^sendmsg|^recvmsg|^\[pid/ { if (buf != "") print buf; buf = "" }
           /^ \| [0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]  / { n = split(substr($0, 11, 49), b, " "); for (i = 1; i <= n; i++) buf = buf b[i] }
           END { if (buf != "") print buf }' > "$out"
}
hex qdisc_add_root.hex write qdisc add dev bw0 root handle 1: htb default 4
hex class_add.hex write class add dev bw0 parent 1: classid 1:1 htb rate 100mbit ceil 200mbit burst 15k cburst 20k quantum 1514 prio 1
hex class_change64.hex write class change dev bw0 parent 1: classid 1:1 htb rate 10gbit ceil 40gbit burst 150k cburst 150k quantum 60000 prio 0
hex class_add_small.hex write class add dev bw0 parent 1:1 classid 1:10 htb rate 8bit ceil 5mbit burst 200 cburst 1600 quantum 1000 prio 7
hex qdisc_add_nested.hex write qdisc add dev bw0 parent 1:10 handle 10: htb
hex class_add_leaf.hex write class add dev bw0 parent 1:1 classid 1:20 htb rate 1mbit ceil 2mbit burst 1600 cburst 1600 quantum 1514 prio 0
hex qdisc_add_pfifo.hex write qdisc add dev bw0 parent 1:20 handle 20: pfifo limit 1000
# Traffic so that the counters are not zero: ARP requests steered into 1:20 by a u32 filter (here
# only; bwmon itself steers by skb->priority).
tc -n $NS filter add dev bw0 parent 1: protocol all prio 1 u32 match u32 0 0 classid 1:20
ip -n $NS addr add 169.254.1.2/24 dev bw0
ip netns exec $NS ping -c 2 -w 2 169.254.1.1 >/dev/null 2>&1 || true
tc -n $NS filter del dev bw0 parent 1: prio 1
tc -n $NS -s class show dev bw0 > class_dump.txt
hex class_dump.hex read -s class show dev bw0
hex class_dump_request.hex write class show dev bw0 parent 1:
tc -n $NS -s qdisc show dev bw0 > qdisc_dump.txt
hex qdisc_dump.hex read -s qdisc show dev bw0
hex class_del.hex write class del dev bw0 classid 1:10
hex qdisc_del_root.hex write qdisc del dev bw0 root
