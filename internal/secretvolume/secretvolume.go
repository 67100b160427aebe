// Package secretvolume writes a directory the way the kubelet writes a
// mounted Secret volume, for tests of programs that read one: every key is a
// symlink "<key>" -> "..data/<key>", "..data" is a symlink to a timestamped
// directory holding the files, and an update writes a new directory and
// swaps "..data" by rename, so a reader sees either all old or all new files
// through "..data" (the kubelet's AtomicWriter).
package secretvolume

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

const dataLink = "..data"

// Write makes dir hold exactly the keys of data. It creates dir if needed.
func Write(dir string, data map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	ts, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.")+strconv.Itoa(os.Getpid())+".")
	if err != nil {
		return err
	}
	for key, value := range data {
		if err := os.WriteFile(filepath.Join(ts, key), value, 0o400); err != nil {
			return err
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		return fmt.Errorf("swap %s: %w", dataLink, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if _, keep := data[name]; !keep && name[0] != '.' {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return err
			}
		}
	}
	for key := range data {
		link := filepath.Join(dir, key)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join(dataLink, key), link); err != nil {
			return err
		}
	}
	if old != "" {
		return os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}
