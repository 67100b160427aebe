//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// netnsEnv marks the child that runs in its own network namespace.
const netnsEnv = "SPRECHZIMMER_E2E_NETNS"

// inOwnNetwork re-runs the test binary in a new network namespace that has
// only the loopback interface. It reports the child's exit code, and false
// when this process is the child already or a namespace cannot be made
// (not root, or not allowed); the tests then run here.
func inOwnNetwork() (int, bool) {
	if os.Getenv(netnsEnv) != "" || os.Geteuid() != 0 {
		return 0, false
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: no network namespace of our own (%v); running on the host's interfaces\n", err)
		return 0, false
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), true
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1, true
	}
	return 0, true
}

// setUpNetwork brings up the loopback interface in the child's namespace,
// and a veth pair with a default route that leads nowhere: Firefox gathers
// no ICE candidate at all, not even on lo, without a default route.
// Nothing leaves the namespace (the route's gateway does not exist).
func setUpNetwork() error {
	if os.Getenv(netnsEnv) == "" {
		return nil
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer func() { _ = unix.Close(fd) }()
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("ifreq: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("reading lo's flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing lo up: %w", err)
	}
	for _, args := range [][]string{
		{"link", "add", "sz0", "type", "veth", "peer", "name", "sz1"},
		{"address", "add", "198.18.0.1/24", "dev", "sz0"},
		{"link", "set", "sz0", "up"},
		{"link", "set", "sz1", "up"},
		{"route", "add", "default", "via", "198.18.0.2", "dev", "sz0"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v (iproute2): %w: %s", args, err, out)
		}
	}
	return nil
}
