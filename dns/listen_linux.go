package dns

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// udpBuffer is the receive buffer asked for UDP sockets: room for bursts
// of queries while the reader is busy (a garbage collection, say), instead
// of the kernel dropping them.
const udpBuffer = 4 << 20

// freebindControl sets IP_FREEBIND (and IPV6_FREEBIND), so a socket binds
// an address the host does not have yet. For UDP (udp true) it also sets
// SO_REUSEPORT and a large receive buffer (beyond net.core.rmem_max when
// privileged).
func freebindControl(udp bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if network == "udp6" || network == "tcp6" {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
			} else {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
			}
			if serr == nil && udp {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
				if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, udpBuffer) != nil {
					unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, udpBuffer) // best effort
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
