// Package turnsecret holds the TURN shared secrets of a rotation: the
// current one, which mints new credentials, and optionally the previous
// one, still accepted until the credentials minted under it have expired.
// It reads them from files (the keys of a mounted Kubernetes Secret),
// reloads them when the files change, and keeps the secrets it has when the
// new content is invalid, so a bad update never takes working secrets away.
// No log line, metric or error shows a secret; logs name secrets by their
// turncred.KeyID.
package turnsecret

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
)

// MinLength is the shortest secret accepted, in bytes.
const MinLength = 16

// DefaultInterval is how often Watch reads the files. The kubelet updates a
// mounted Secret within about a minute of a change; a few seconds more do
// not matter.
const DefaultInterval = 5 * time.Second

// Which secret a credential was checked with, the values of the "secret"
// label of the TURN server's authentications metric.
const (
	// RoleCurrent is the secret that mints new credentials.
	RoleCurrent = "current"
	// RolePrevious is the secret replaced by the current one, still
	// accepted during the rotation.
	RolePrevious = "previous"
)

// Results of a reload, the values of the reloads metric's "result" label.
const (
	// ResultApplied: the files changed and the new secrets are in use.
	ResultApplied = "applied"
	// ResultRefused: the files changed, but the new content is invalid or
	// unreadable; the secrets in use stay.
	ResultRefused = "refused"
)

// Check returns an error when secret cannot be a shared secret: shorter
// than MinLength, or starting or ending with whitespace. The bytes are used
// as they are, by the operator, the TURN server and coturn alike; a newline
// that echo left at the end would make every credential fail where one
// side trimmed it, so it is refused rather than trimmed. The error never
// shows the secret.
func Check(secret []byte) error {
	if !bytes.Equal(bytes.TrimSpace(secret), secret) {
		return errors.New("the secret starts or ends with whitespace (a trailing newline?); write it with printf or kubectl create secret --from-literal")
	}
	if len(secret) < MinLength {
		return fmt.Errorf("the secret is shorter than %d bytes", MinLength)
	}
	return nil
}

// Secrets are the shared secrets in use at one moment. They never change;
// a reload makes new ones.
type Secrets struct {
	// Current mints new credentials and checks those minted under it.
	Current []byte
	// Previous, when set, checks the credentials minted under it before the
	// rotation.
	Previous []byte
}

// For returns the secret to check a credential with username against,
// and its role: the secret whose key id the username names, else Current
// (a username minted without a key id, or under a secret not held here,
// which then fails the check).
func (s *Secrets) For(username string) (secret []byte, role string) {
	if s.Previous != nil && !bytes.Equal(s.Previous, s.Current) {
		if id := turncred.KeyIDOf(username); id != "" && id == turncred.KeyID(s.Previous) && id != turncred.KeyID(s.Current) {
			return s.Previous, RolePrevious
		}
	}
	return s.Current, RoleCurrent
}

// String names the secrets by key id, for logs.
func (s *Secrets) String() string {
	if s.Previous == nil {
		return "current " + turncred.KeyID(s.Current)
	}
	return "current " + turncred.KeyID(s.Current) + ", previous " + turncred.KeyID(s.Previous)
}

// check checks both secrets.
func (s *Secrets) check() error {
	if err := Check(s.Current); err != nil {
		return fmt.Errorf("current secret: %w", err)
	}
	if s.Previous == nil {
		return nil
	}
	if err := Check(s.Previous); err != nil {
		return fmt.Errorf("previous secret: %w", err)
	}
	if !bytes.Equal(s.Previous, s.Current) && turncred.KeyID(s.Previous) == turncred.KeyID(s.Current) {
		return errors.New("the current and the previous secret have the same key id; make a new current secret")
	}
	return nil
}

// equal reports whether s and o hold the same secrets.
func (s *Secrets) equal(o *Secrets) bool {
	return bytes.Equal(s.Current, o.Current) && bytes.Equal(s.Previous, o.Previous) &&
		(s.Previous == nil) == (o.Previous == nil)
}

// Files names the files the secrets are read from.
type Files struct {
	// Current is the file of the current secret (the Secret's key
	// "secret"); required.
	Current string
	// Previous is the file of the previous secret (the key "previous");
	// optional. While it does not exist there is no previous secret.
	Previous string
}

// read reads the files once, without checking the content.
func (f Files) read() (*Secrets, error) {
	current, err := os.ReadFile(f.Current)
	if err != nil {
		return nil, fmt.Errorf("read the current secret: %w", err)
	}
	s := &Secrets{Current: current}
	if f.Previous == "" {
		return s, nil
	}
	previous, err := os.ReadFile(f.Previous)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read the previous secret: %w", err)
	default:
		s.Previous = previous
	}
	return s, nil
}

// readStable reads the files until two reads in a row agree, so that a
// reload never mixes the files from before and after the kubelet swapped a
// Secret volume's ..data link (at most three tries).
func (f Files) readStable() (*Secrets, error) {
	last, err := f.read()
	if err != nil {
		return nil, err
	}
	for range 2 {
		next, err := f.read()
		if err != nil {
			return nil, err
		}
		if next.equal(last) {
			return next, nil
		}
		last = next
	}
	return nil, errors.New("the secret files changed while being read")
}

// Options configure a Store.
type Options struct {
	// Logger receives a line for every change: the key ids in use, or why
	// new content was refused. nil means slog.Default().
	Logger *slog.Logger
}

// Store holds the secrets in use and reloads them from their files.
type Store struct {
	files   Files
	log     *slog.Logger
	secrets atomic.Pointer[Secrets]

	mu         sync.Mutex // serializes reloads; guards seen and unreadable
	seen       *Secrets   // the files' content when last read; nil after a failed read
	unreadable string     // why the files could not be read last time
	reloads    *prometheus.CounterVec
	refusing   prometheus.Gauge
}

// Open reads and checks the files and returns a Store that holds their
// secrets. Unlike a reload, it fails on invalid content: a process must
// not start without a working secret.
func Open(files Files, opts Options) (*Store, error) {
	if files.Current == "" {
		return nil, errors.New("no file for the current secret")
	}
	secrets, err := files.readStable()
	if err != nil {
		return nil, err
	}
	if err := secrets.check(); err != nil {
		return nil, err
	}
	s := &Store{files: files, log: opts.Logger, seen: secrets}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.secrets.Store(secrets)
	s.log.Info("TURN shared secrets loaded", "secrets", secrets.String())
	return s, nil
}

// Register creates the reload metrics and registers them with reg; prefix
// starts their names, e.g. "sprechzimmer_turn" for
// sprechzimmer_turn_secret_reloads_total. Call it once, before Watch.
func (s *Store) Register(reg prometheus.Registerer, prefix string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: prefix + "_secret_reloads_total",
		Help: "Changes of the TURN shared secret files, by result: applied, or refused (invalid or unreadable content; the secrets in use stay).",
	}, []string{"result"})
	s.refusing = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: prefix + "_secret_reload_refused",
		Help: "1 while the TURN shared secret files hold content that was refused, so older secrets are still in use; else 0.",
	})
	for _, r := range []string{ResultApplied, ResultRefused} {
		s.reloads.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{s.reloads, s.refusing} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register the secret reload metrics: %w", err)
		}
	}
	return nil
}

// Secrets returns the secrets in use.
func (s *Store) Secrets() *Secrets { return s.secrets.Load() }

// Current returns the secret that mints new credentials.
func (s *Store) Current() []byte { return s.secrets.Load().Current }

// Reload reads the files and, when their content changed, puts the new
// secrets in use. Invalid or unreadable content leaves the secrets in use
// as they are: Reload logs and counts it once per change of the files and
// returns the reason, which names the file but never shows its content.
// Content seen before returns nil.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := s.files.readStable()
	if err != nil {
		if s.seen == nil && s.unreadable == err.Error() {
			return err
		}
		s.seen, s.unreadable = nil, err.Error()
		return s.refuse(err)
	}
	if s.seen != nil && next.equal(s.seen) {
		return nil
	}
	s.seen, s.unreadable = next, ""
	if err := next.check(); err != nil {
		return s.refuse(err)
	}
	s.secrets.Store(next)
	s.count(ResultApplied)
	s.log.Info("TURN shared secrets reloaded", "secrets", next.String())
	return nil
}

// refuse logs and counts new content that cannot be used, and returns err.
func (s *Store) refuse(err error) error {
	s.count(ResultRefused)
	s.log.Error("TURN shared secret files refused; the secrets in use stay", "err", err, "secrets", s.Secrets().String())
	return err
}

// count counts a reload with result and sets the refused gauge.
func (s *Store) count(result string) {
	if s.reloads == nil {
		return
	}
	s.reloads.WithLabelValues(result).Inc()
	if result == ResultRefused {
		s.refusing.Set(1)
	} else {
		s.refusing.Set(0)
	}
}

// Watch reloads the secrets every interval (DefaultInterval when 0) until
// ctx ends. Reading the files' content, rather than waiting for file
// events, follows the kubelet's symlink swaps of Secret volumes and
// editors that replace a file alike.
func (s *Store) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = s.Reload() // logged and counted by Reload
		}
	}
}
