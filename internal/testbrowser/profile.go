package testbrowser

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// tempProfile makes a fresh profile directory for a browser of engine e.
func tempProfile(e Engine) (string, error) {
	return os.MkdirTemp("", "sprechzimmer-e2e-"+string(e)+"-")
}

// removeProfile removes a profile directory; a browser that is still
// writing at exit may leave a file behind, which is not worth an error.
func removeProfile(dir string) { _ = os.RemoveAll(dir) }

// handProfile gives the profile directory dir to user id uid (its group
// the same number), for a browser that runs as uid (LaunchOptions.UID).
func handProfile(dir string, uid int) error {
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, uid) //nolint:gosec // G122: a fresh profile directory of ours, no one else writes there
	})
	if err != nil {
		return fmt.Errorf("handing the profile to uid %d: %w", uid, err)
	}
	return nil
}

// runAs makes attr start the process as uid (group the same number, no
// supplementary groups), when uid is not 0.
func runAs(attr *syscall.SysProcAttr, uid int) {
	if uid != 0 {
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid), NoSetGroups: true} //nolint:gosec // G115: a test's uid, small and positive
	}
}
