package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/shoal-dev/shoal/runtime"
)

// Containerd modes.
const (
	ContainerdOff       = "off"       // no container runtime: this node runs no pods
	ContainerdSupervise = "supervise" // run the node's own containerd under the data dir
	ContainerdAuto      = "auto"      // supervise when running as root with containerd installed
)

// resolveContainerdMode turns "auto" into what this machine can do.
func resolveContainerdMode(mode, socket string) string {
	if socket != "" {
		return "socket"
	}
	if mode != ContainerdAuto {
		return mode
	}
	if _, err := exec.LookPath("containerd"); err == nil && os.Geteuid() == 0 {
		return ContainerdSupervise
	}
	return ContainerdOff
}

// startRuntime connects to containerd: the node's own, started under
// <data-dir>/containerd with its state (tasks, shims) in <run-dir>, or an
// existing daemon given by --containerd-socket.
func (a *Agent) startRuntime(ctx context.Context) error {
	socket := a.cfg.ContainerdSocket
	switch resolveContainerdMode(a.cfg.Containerd, socket) {
	case ContainerdOff:
		if a.cfg.Containerd == ContainerdAuto {
			a.log.Warn("no container runtime: run the agent as root with containerd installed (apt-get install -y containerd runc), or pass --containerd-socket; this node runs no pods")
		}
		return nil
	case ContainerdSupervise:
		a.sup = runtime.NewSupervisor(filepath.Join(a.cfg.DataDir, "containerd"), a.log)
		a.sup.StateDir = filepath.Join(a.cfg.RunDir, "containerd")
		if err := a.sup.Start(ctx); err != nil {
			a.sup = nil
			return err
		}
		socket = a.sup.Socket()
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rt, err := runtime.NewContainerd(cctx, socket, a.log)
	if err != nil {
		if a.sup != nil {
			a.sup.Stop()
			a.sup = nil
		}
		return err
	}
	rt.LogDir = filepath.Join(a.cfg.DataDir, "logs")
	rt.CgroupParent = a.cfg.CgroupParent
	rt.Registry = a.cfg.registry()
	a.rt = rt
	a.log.Info("container runtime ready", "containerd", socket)
	return nil
}

// stopRuntime closes the connection and stops a supervised containerd.
// Containers keep running: their shims outlive containerd.
func (a *Agent) stopRuntime() {
	if a.rt != nil {
		a.rt.Close()
	}
	if a.sup != nil {
		if err := a.sup.Stop(); err != nil {
			a.log.Warn("stopping containerd", "err", err)
		}
	}
}

func errNoRuntime() error {
	return fmt.Errorf("this node runs no container runtime: start its agent as root with containerd installed, or with --containerd-socket")
}
