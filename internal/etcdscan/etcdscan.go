// Package etcdscan looks into the etcd behind a test's API server for what
// a deleted object left behind: the keys whose current value still names
// it, and, once etcd's history is compacted and its database defragmented,
// whether the database file still holds any of given byte strings (a join
// token, a note). It talks to etcd with etcd's own client and reads the
// database file directly, below the API server.
package etcdscan

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Prefix is where kube-apiserver keeps its objects.
const Prefix = "/registry/"

// EventsPrefix is where it keeps Events, which name the object they are
// about and expire with the API server's event TTL.
const EventsPrefix = Prefix + "events/"

// Etcd is a connection to one etcd member.
type Etcd struct {
	client   *clientv3.Client
	endpoint string
	dataDir  string
}

// Dial connects to the etcd member at endpoint (a client URL) whose data
// directory is dataDir; Close ends the connection.
func Dial(endpoint, dataDir string) (*Etcd, error) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, fmt.Errorf("connecting to etcd: %w", err)
	}
	return &Etcd{client: c, endpoint: endpoint, dataDir: dataDir}, nil
}

// Close ends the connection.
func (e *Etcd) Close() error { return e.client.Close() }

// KeysContaining returns the keys under Prefix whose current value contains
// needle (an object's UID names it in its owners' references and in the
// Events about it), sorted.
func (e *Etcd) KeysContaining(ctx context.Context, needle []byte) ([]string, error) {
	resp, err := e.client.Get(ctx, Prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("listing etcd's keys: %w", err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		if bytes.Contains(kv.Value, needle) {
			keys = append(keys, string(kv.Key))
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// CompactAndDefragment drops every revision before the current one (deleted
// keys' values and overwritten ones) and then rewrites the database file
// with only what is left, as an operator's etcd maintenance does.
func (e *Etcd) CompactAndDefragment(ctx context.Context) error {
	resp, err := e.client.Get(ctx, "compact-revision-probe")
	if err != nil {
		return fmt.Errorf("reading etcd's revision: %w", err)
	}
	// The API server compacts too (--etcd-compaction-interval), but only
	// up to the revision it saw one interval earlier.
	if _, err := e.client.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		return fmt.Errorf("compacting etcd: %w", err)
	}
	if _, err := e.client.Defragment(ctx, e.endpoint); err != nil {
		return fmt.Errorf("defragmenting etcd: %w", err)
	}
	return nil
}

// DatabaseFile is the member's bbolt database: <data-dir>/member/snap/db.
func (e *Etcd) DatabaseFile() string {
	return filepath.Join(e.dataDir, "member", "snap", "db")
}

// WALFiles are the member's write-ahead log files: every write, kept until
// etcd has taken a snapshot after it (--snapshot-count writes) and dropped
// the older files (--max-wals).
func (e *Etcd) WALFiles() ([]string, error) {
	return filepath.Glob(filepath.Join(e.dataDir, "member", "wal", "*.wal"))
}

// FileContains returns the names of the needles that occur in the file at
// path, sorted.
func FileContains(path string, needles map[string][]byte) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var found []string
	for name, needle := range needles {
		if bytes.Contains(b, needle) {
			found = append(found, name)
		}
	}
	slices.Sort(found)
	return found, nil
}

// WithoutEvents drops the keys of Events from keys: Events name the object
// they are about (the operator deletes those about an expired session; the
// kubelet's and scheduler's about its Pod stay) and expire with the API
// server's event TTL (one hour by default), and they hold no more than
// names and reasons.
func WithoutEvents(keys []string) []string {
	var out []string
	for _, k := range keys {
		if !strings.HasPrefix(k, EventsPrefix) {
			out = append(out, k)
		}
	}
	return out
}
