// Package report writes a room's state into its VideoSession's status
// through the Kubernetes API, with plain HTTP instead of client-go so the
// signaling server stays small and starts fast.
//
// Updates are coalesced: only the latest state is sent, failed sends are
// retried with backoff, and Update never blocks the room.
package report

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/room"
)

// Group, version and resource of the VideoSession API.
const (
	Group    = "video.sprechzimmer.dev"
	Version  = "v1alpha1"
	Resource = "videosessions"
)

// Options configure a Reporter.
type Options struct {
	// APIServer is the API server's base URL.
	APIServer string
	// Namespace and Name are the VideoSession's.
	Namespace, Name string
	// ServiceAccountDir holds token (read on every request: it rotates) and
	// ca.crt (read once).
	ServiceAccountDir string
	// MinBackoff and MaxBackoff bound the wait between retries; 200 ms and
	// 10 s when zero.
	MinBackoff, MaxBackoff time.Duration
	// Logger gets failures; slog.Default if nil.
	Logger *slog.Logger
	// RefusalInterval is the least time between two sends when the newer
	// state differs from the last one sent only in its refused joins; a
	// guesser's refused hellos thus cost the API server at most one patch
	// per interval. Changes of participants and times go at once (and take
	// the refusals counted so far along). DefaultRefusalInterval when zero.
	RefusalInterval time.Duration
	// Now and After are the clock; time.Now and time.After if nil.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// Restore, if set, gets what the session's status already holds (the
	// times and refused joins a room process before this one reported),
	// once, before any state is sent; the room merges it (room.Restore).
	Restore func(room.State)
}

// DefaultRefusalInterval is Options.RefusalInterval's default.
const DefaultRefusalInterval = 5 * time.Second

// FromConfig returns the options for the signaling server's configuration,
// its refusal report interval included.
// The API server is config.APIServer or, by default,
// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
func FromConfig(c *config.Config, getenv func(string) string) (Options, error) {
	api := c.APIServer
	if api == "" {
		host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
		if host == "" || port == "" {
			return Options{}, errors.New("no API server: set " + config.EnvAPIServer + " or run in a Pod")
		}
		api = "https://" + net.JoinHostPort(host, port)
	}
	return Options{APIServer: api, Namespace: c.SessionNamespace, Name: c.SessionName, ServiceAccountDir: c.ServiceAccountDir,
		RefusalInterval: c.RefusalReportInterval}, nil
}

// Reporter sends a room's state to its VideoSession's status.
type Reporter struct {
	opts   Options
	url    string
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	latest  *room.State // not sent yet; nil when everything is sent
	wake    chan struct{}
	sent    chan struct{} // closed and replaced whenever latest was sent
	lastErr error
	// lastSent is the state the status holds after the last successful
	// send, and sentAt its time; nil before the first.
	lastSent *room.State
	sentAt   time.Time
	// urgent is set by Flush: the pending state goes without waiting for
	// RefusalInterval.
	urgent bool
}

// New returns a reporter; it reads the CA now and fails if it cannot.
func New(opts Options) (*Reporter, error) {
	if opts.MinBackoff == 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = 10 * time.Second
	}
	if opts.RefusalInterval == 0 {
		opts.RefusalInterval = DefaultRefusalInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	base, err := url.Parse(opts.APIServer)
	if err != nil || base.Host == "" {
		return nil, errors.New("API server must be an absolute URL")
	}
	pem, err := os.ReadFile(filepath.Join(opts.ServiceAccountDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("reading the API server's CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("ca.crt holds no PEM certificate")
	}
	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 5 * time.Second,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Reporter{
		opts: opts,
		url: strings.TrimSuffix(opts.APIServer, "/") + "/apis/" + Group + "/" + Version +
			"/namespaces/" + url.PathEscape(opts.Namespace) + "/" + Resource + "/" + url.PathEscape(opts.Name) + "/status",
		client: &http.Client{Transport: transport, Timeout: 10 * time.Second},
		log:    opts.Logger,
		wake:   make(chan struct{}, 1),
		sent:   make(chan struct{}),
	}, nil
}

// Update records s as the state to send. It never blocks; a state not yet
// sent is replaced.
func (r *Reporter) Update(s room.State) {
	r.mu.Lock()
	r.latest = &s
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reads the stored status back (see Options.Restore), then sends
// states until ctx ends.
func (r *Reporter) Run(ctx context.Context) {
	if !r.restore(ctx) {
		return
	}
	backoff := r.opts.MinBackoff
	for {
		s, wait := r.next()
		if s == nil || wait > 0 {
			var timer <-chan time.Time
			if wait > 0 {
				timer = r.opts.After(wait)
			}
			select {
			case <-ctx.Done():
				return
			case <-r.wake:
			case <-timer:
			}
			continue
		}
		var err error
		changed := r.lastSent == nil || *s != *r.lastSent // only Run writes lastSent
		if changed {
			err = r.send(ctx, *s)
		}
		r.mu.Lock()
		r.lastErr = err
		if err == nil {
			if changed {
				r.sentAt = r.opts.Now()
			}
			r.lastSent = s
			if r.latest == s {
				r.latest = nil
				r.urgent = false
				close(r.sent)
				r.sent = make(chan struct{})
			}
		}
		r.mu.Unlock()
		if err == nil {
			backoff = r.opts.MinBackoff
			continue
		}
		r.log.Warn("status report failed", "error", err.Error(), "retryIn", backoff.String())
		if !r.pause(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, r.opts.MaxBackoff)
	}
}

// restore reads the stored status back, retrying with backoff, and hands
// it to Options.Restore. It reports false when ctx ended first.
func (r *Reporter) restore(ctx context.Context) bool {
	for backoff := r.opts.MinBackoff; ; backoff = min(2*backoff, r.opts.MaxBackoff) {
		stored, err := r.stored(ctx)
		if err == nil {
			if r.opts.Restore != nil {
				r.opts.Restore(stored)
			}
			return true
		}
		r.log.Warn("reading the stored status failed", "error", err.Error(), "retryIn", backoff.String())
		if !r.pause(ctx, backoff) {
			return false
		}
	}
}

// pause waits d on the reporter's clock; it reports false when ctx ended
// first.
func (r *Reporter) pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-r.opts.After(d):
		return true
	}
}

// next returns the state to send, nil if there is none, and how long it
// must wait first: a state that changes only the refused joins waits until
// RefusalInterval has passed since the last send, unless Flush asked.
// A state equal to the last one sent needs no patch; Run marks it sent.
func (r *Reporter) next() (*room.State, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.latest
	if s == nil || r.urgent || r.lastSent == nil || !onlyRefusals(*r.lastSent, *s) {
		return s, 0
	}
	return s, r.opts.RefusalInterval - r.opts.Now().Sub(r.sentAt)
}

// onlyRefusals reports whether b differs from a in its refused joins only.
func onlyRefusals(a, b room.State) bool {
	a.RefusedJoins = b.RefusedJoins
	return a == b
}

// Pending reports whether a state is waiting that differs from the one
// last sent, so that Flush will send a patch.
func (r *Reporter) Pending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.latest != nil && (r.lastSent == nil || *r.latest != *r.lastSent)
}

// Flush waits until the latest state has been sent or ctx ends; it returns
// the last send error in the latter case. A state waiting for
// RefusalInterval goes at once. Run must be running.
func (r *Reporter) Flush(ctx context.Context) error {
	r.mu.Lock()
	r.urgent = r.latest != nil
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	for {
		r.mu.Lock()
		pending, sent, lastErr := r.latest != nil, r.sent, r.lastErr
		r.mu.Unlock()
		if !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), lastErr)
		case <-sent:
		}
	}
}

// status is the merge patch's status: the fields the signaling server owns.
// An unset start is left out, never cleared (the room policy refuses that);
// an unset end is null, which clears it when both are back in the room.
type status struct {
	Participants int        `json:"participants"`
	StartedAt    *time.Time `json:"startedAt,omitempty"`
	EndedAt      *time.Time `json:"endedAt"`
	RefusedJoins int        `json:"refusedJoins"`
}

// storedStatus is what the room reads back of its session: the fields it
// owns, nothing else of the object.
type storedStatus struct {
	Status struct {
		StartedAt    *time.Time `json:"startedAt"`
		EndedAt      *time.Time `json:"endedAt"`
		RefusedJoins int        `json:"refusedJoins"`
	} `json:"status"`
}

// emptyPatch changes nothing; the answer to it is the session as stored.
var emptyPatch = []byte(`{"status":{}}`)

// stored reads the session's status back. A room may not get its session
// (it may only patch its status), but the answer to an empty patch is the
// stored object; only the room's own fields are decoded from it.
func (r *Reporter) stored(ctx context.Context) (room.State, error) {
	body, err := r.patch(ctx, emptyPatch)
	if err != nil {
		return room.State{}, err
	}
	var got storedStatus
	if err := json.Unmarshal(body, &got); err != nil {
		return room.State{}, fmt.Errorf("reading the stored status: %w", err)
	}
	st := room.State{RefusedJoins: got.Status.RefusedJoins}
	if got.Status.StartedAt != nil {
		st.StartedAt = *got.Status.StartedAt
	}
	if got.Status.EndedAt != nil {
		st.EndedAt = *got.Status.EndedAt
	}
	return st, nil
}

// Body returns the merge patch for s.
func Body(s room.State) ([]byte, error) {
	st := status{Participants: s.Participants, RefusedJoins: s.RefusedJoins}
	if !s.StartedAt.IsZero() {
		t := s.StartedAt.UTC().Truncate(time.Second)
		st.StartedAt = &t
	}
	if !s.EndedAt.IsZero() {
		t := s.EndedAt.UTC().Truncate(time.Second)
		st.EndedAt = &t
	}
	return json.Marshal(map[string]status{"status": st})
}

// send patches the status once.
func (r *Reporter) send(ctx context.Context, s room.State) error {
	body, err := Body(s)
	if err != nil {
		return fmt.Errorf("encoding status: %w", err)
	}
	_, err = r.patch(ctx, body)
	return err
}

// patch sends one merge patch of the status and returns the answer's body.
func (r *Reporter) patch(ctx context.Context, body []byte) ([]byte, error) {
	token, err := os.ReadFile(filepath.Join(r.opts.ServiceAccountDir, "token"))
	if err != nil {
		return nil, fmt.Errorf("reading the service account token: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, r.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("building the status request: %w", err)
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("patching status: %w", err)
	}
	defer func() { _ = resp.Body.Close() }() // read below; nothing to learn from closing
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("patching status: %s", resp.Status)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	return answer, nil
}
