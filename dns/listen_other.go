//go:build !linux

package dns

import "syscall"

// freebindControl does nothing outside Linux: addresses must exist before
// they are bound, and each address gets one UDP socket.
func freebindControl(udp bool) func(network, address string, c syscall.RawConn) error {
	return nil
}
