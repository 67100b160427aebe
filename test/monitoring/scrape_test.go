package monitoring

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/devenv"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
	"github.com/sprechzimmer/sprechzimmer/internal/testlog"
	"github.com/sprechzimmer/sprechzimmer/internal/testpeer"
	"github.com/sprechzimmer/sprechzimmer/internal/turntest"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// allowedLabels are the label names a series of the product may carry:
// Prometheus' job and instance, and the metrics' own labels, each with a
// closed set of values (phases, outcomes, roles, reasons, routes, status
// codes, TURN listeners (udp, tcp, tls), the TURN secret a credential was
// checked with (current, previous: never the secret), histogram buckets, controller,
// work queue and webhook names, work queue priorities, the Go version).
// A label such as namespace, pod, session, room or therapist would name a
// session; none may appear.
var allowedLabels = []string{
	"__name__", "job", "instance",
	"phase", "outcome", "role", "reason", "route", "code", "direction", "listener", "secret", "le", "quantile",
	"controller", "webhook", "name", "priority", "result", "method", "host", "version",
}

// notScrapedLocally are the metrics the rules and the dashboard use that
// the local setup does not export: up is Prometheus' own, and the leader
// gauge exists only with leader election, which the local setup's single
// operator runs without; the TURN secret reload gauges exist only where the
// secret is read from a mounted Secret, and the local setup keeps its
// random one in memory.
var notScrapedLocally = []string{"up", "leader_election_master_status",
	"sprechzimmer_turn_secret_reload_refused", "sprechzimmer_operator_turn_secret_reload_refused"}

// TestDashboardQueriesReturnData runs the local setup of `make run` with
// its metrics served, scrapes it with a real Prometheus (Debian's, every
// second), takes the demo session through a call (both people join, a
// wrong link is refused, a page that does not exist is asked for, the TURN
// server relays) and to its expiry, and checks through Prometheus' HTTP API
// that every query of the Grafana dashboard returns data, that the panels
// show the call, that every metric the alerts and the dashboard use is
// exported, and that no series carries a label naming a session.
func TestDashboardQueriesReturnData(t *testing.T) {
	promBin := need(t, "prometheus", "Debian's prometheus package, .ci/run")
	if _, err := testenv.ControllerManager(); err != nil {
		t.Skipf("the local setup's garbage collector is not built: %v", err)
	}
	ctx := context.Background()
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	logs := &testlog.Buffer{}
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(logs, nil)))
	setup, err := devenv.Start(ctx, devenv.Options{Listen: "127.0.0.1:0", Out: io.Discard, Logs: logs, Clock: clk, Metrics: true})
	if err != nil {
		t.Fatalf("devenv.Start() = %v", err)
	}
	t.Cleanup(setup.Stop)
	targets := setup.MetricsTargets()
	for _, job := range []string{devenv.JobOperator, devenv.JobFrontDoor, devenv.JobTURN, devenv.JobRooms} {
		if len(targets[job]) == 0 {
			t.Fatalf("the local setup serves no metrics for %s: %v", job, targets)
		}
	}
	prom := startPrometheus(t, promBin, targets)
	// Counters count from what Prometheus saw first: every target is
	// scraped once before anything happens.
	prom.waitFor(t, fmt.Sprintf(`count(up{job=~"sprechzimmer-.+"} == 1) == %d`, len(targets)))

	// A page that does not exist, asked for before and during the call:
	// the front door counts a route at its first request, so the second
	// shows as a rate.
	therapistLink, clientLink := parseLink(t, setup.Links.Therapist), parseLink(t, setup.Links.Client)
	getNotFound(t, clientLink.base)
	prom.waitFor(t, `sprechzimmer_frontdoor_requests_total{route="not-found"}`)

	// The call: both people join through the front door, a wrong link is
	// refused.
	therapist, err := testpeer.Dial(ctx, therapistLink.ws, therapistLink.token, testpeer.WithLoopbackOnly())
	if err != nil {
		t.Fatalf("the therapist joins: %v", err)
	}
	t.Cleanup(func() { _ = therapist.Close() })
	patient, err := testpeer.Dial(ctx, clientLink.ws, clientLink.token, testpeer.WithLoopbackOnly())
	if err != nil {
		t.Fatalf("the client joins: %v", err)
	}
	t.Cleanup(func() { _ = patient.Close() })
	// The demo session lets the therapist admit the waiting client.
	if err := therapist.Admit(ctx); err != nil {
		t.Fatalf("the therapist admits the client: %v", err)
	}
	var refused *testpeer.ServerError
	if _, err := testpeer.Dial(ctx, clientLink.ws, strings.Repeat("A", len(clientLink.token))); !errors.As(err, &refused) || refused.Code != protocol.CodeLinkInvalid {
		t.Fatalf("a wrong link: %v, want the refusal %s", err, protocol.CodeLinkInvalid)
	}
	getNotFound(t, clientLink.base)
	// The TURN server relays, with the room's credential, from one relay to
	// another (as a relay-only call does).
	turnAddr, user, password := roomTURN(t, setup)
	turntest.CheckRelaysOnlyToRelays(t, turnAddr, user, password)

	dash := dashboard(t)
	want := map[string]func(float64) bool{
		"Rooms open":             func(v float64) bool { return v == 1 },
		"People in rooms":        func(v float64) bool { return v == 2 },
		"Joins per hour":         positive,
		"Join refusals per hour": positive,
		"TURN relayed bandwidth": positive,
		"Front door requests":    positive,
		"Front door refusals":    positive,
		"Components up":          func(v float64) bool { return v == 1 },
	}
	testenv.EventuallyWithin(t, "every dashboard query returns data, and the panels show the call", 2*time.Minute, func() error {
		return checkPanels(prom, dash, want, true)
	})

	// The session expires: it is deleted and counted as held, with its length.
	c, err := client.New(setup.Config, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	session := &videov1alpha1.VideoSession{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: devenv.DemoNamespace, Name: devenv.DemoSession}, session); err != nil {
		t.Fatal(err)
	}
	if session.Status.StartedAt == nil {
		testenv.Eventually(t, "the room reports that the call started", func() error {
			if err := c.Get(ctx, client.ObjectKeyFromObject(session), session); err != nil {
				return err
			}
			if session.Status.StartedAt == nil {
				return errors.New("no status.startedAt")
			}
			return nil
		})
	}
	testenv.SetQueueTime(t, clk, session.Status.ExpiresAt.Time)
	testenv.EventuallyWithin(t, "the dashboard shows the held session and its length", 2*time.Minute, func() error {
		// The room has gone with the session: its panels are empty now.
		return checkPanels(prom, dash, map[string]func(float64) bool{
			"Sessions per hour": positive,
			"Session length":    positive,
		}, false)
	})

	t.Run("every metric of the alerts and the dashboard is exported", func(t *testing.T) {
		_, alerts := rules(t)
		exprs := dash.exprs()
		for _, a := range alerts {
			exprs = append(exprs, a.Expr)
		}
		var names []string
		if err := prom.get("/api/v1/label/__name__/values", nil, &names); err != nil {
			t.Fatal(err)
		}
		for _, n := range metricNames(exprs...) {
			if !slices.Contains(names, n) && !slices.Contains(notScrapedLocally, n) {
				t.Errorf("%s is used but not exported by the local setup", n)
			}
		}
	})

	t.Run("no series names a session", func(t *testing.T) {
		var series []map[string]string
		if err := prom.get("/api/v1/series", url.Values{"match[]": {`{job=~"sprechzimmer-.+"}`}}, &series); err != nil {
			t.Fatal(err)
		}
		if len(series) == 0 {
			t.Fatal("no series")
		}
		secrets := []string{devenv.DemoNamespace, roomcontract.RoomName(session), roomcontract.RoomID(session), string(session.UID), therapistLink.token, clientLink.token, user}
		for _, s := range series {
			for name, value := range s {
				if !slices.Contains(allowedLabels, name) {
					t.Errorf("%s has the label %s=%q, which is not on the allow-list", s["__name__"], name, value)
				}
				for _, secret := range secrets {
					if strings.Contains(value, secret) {
						t.Errorf("%s has a label %s whose value names the session", s["__name__"], name)
					}
				}
			}
		}
	})
}

func positive(v float64) bool { return v > 0 }

// getNotFound asks the front door at base for a room that does not exist.
func getNotFound(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Get(base + "/r/no-such-room/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /r/no-such-room/: %s, want 404", resp.Status)
	}
}

// checkPanels runs the queries of the dashboard's panels, all of them or
// only those in want: each must return data; for the panels in want, some
// sample must satisfy want.
func checkPanels(prom *prometheusAPI, dash *grafanaDashboard, want map[string]func(float64) bool, all bool) error {
	var problems []string
	for _, p := range dash.Panels {
		if !all && want[p.Title] == nil {
			continue
		}
		satisfied := false
		for _, target := range p.Targets {
			expr := strings.ReplaceAll(target.Expr, "$__rate_interval", "5m")
			var result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			}
			if err := prom.get("/api/v1/query", url.Values{"query": {expr}}, &result); err != nil {
				return fmt.Errorf("%s: %w", p.Title, err)
			}
			if len(result) == 0 {
				problems = append(problems, fmt.Sprintf("%q: %s returns nothing", p.Title, target.Expr))
			}
			for _, r := range result {
				s, _ := r.Value[1].(string)
				if v, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(v) && want[p.Title] != nil && want[p.Title](v) {
					satisfied = true
				}
			}
		}
		if want[p.Title] != nil && !satisfied {
			problems = append(problems, fmt.Sprintf("%q does not show the call yet", p.Title))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// grafanaDashboard is what the test reads of config/grafana/sprechzimmer.json.
type grafanaDashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func (d *grafanaDashboard) exprs() []string {
	var exprs []string
	for _, p := range d.Panels {
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	return exprs
}

func dashboard(t *testing.T) *grafanaDashboard {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repo(t), "config", "grafana", "sprechzimmer.json"))
	if err != nil {
		t.Fatal(err)
	}
	d := &grafanaDashboard{}
	if err := json.Unmarshal(raw, d); err != nil {
		t.Fatalf("config/grafana/sprechzimmer.json: %v", err)
	}
	if len(d.Panels) == 0 {
		t.Fatal("the dashboard has no panels")
	}
	return d
}

// link is a personal link taken apart: the front door's base URL, the
// room's WebSocket URL and the token.
type link struct{ base, ws, token string }

func parseLink(t *testing.T, raw string) link {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	token, ok := strings.CutPrefix(u.Fragment, "t=")
	if !ok {
		t.Fatalf("a link without a token")
	}
	return link{base: "http://" + u.Host, ws: "ws://" + u.Host + u.Path + "ws", token: token}
}

// roomTURN returns the TURN server's address and the room's credential
// from the demo session's Secret.
func roomTURN(t *testing.T, setup *devenv.Setup) (*net.UDPAddr, string, string) {
	t.Helper()
	c, err := client.New(setup.Config, client.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	session := &videov1alpha1.VideoSession{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: devenv.DemoNamespace, Name: devenv.DemoSession}, session); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: devenv.DemoNamespace, Name: roomcontract.LinksSecretName(session)}, secret); err != nil {
		t.Fatal(err)
	}
	var servers []protocol.ICEServer
	if err := json.Unmarshal(secret.Data["ice-servers"], &servers); err != nil {
		t.Fatal(err)
	}
	for _, s := range servers {
		for _, u := range s.URLs {
			if hostPort, ok := strings.CutPrefix(strings.SplitN(u, "?", 2)[0], "turn:"); ok && s.Credential != "" {
				addr, err := net.ResolveUDPAddr("udp", hostPort)
				if err != nil {
					t.Fatal(err)
				}
				return addr, s.Username, s.Credential
			}
		}
	}
	t.Fatal("the room has no TURN server")
	return nil, "", ""
}

// prometheusAPI is a running Prometheus' HTTP API.
type prometheusAPI struct{ base string }

// get calls the API at path and decodes its data into out.
func (p *prometheusAPI) get(path string, query url.Values, out any) error {
	resp, err := http.Get(p.base + path + "?" + query.Encode())
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	if strings.HasSuffix(path, "/query") {
		var data struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(body.Data, &data); err != nil {
			return err
		}
		return json.Unmarshal(data.Result, out)
	}
	return json.Unmarshal(body.Data, out)
}

// waitFor waits until query returns data.
func (p *prometheusAPI) waitFor(t *testing.T, query string) {
	t.Helper()
	testenv.Eventually(t, "prometheus has "+query, func() error {
		var result []any
		if err := p.get("/api/v1/query", url.Values{"query": {query}}, &result); err != nil {
			return err
		}
		if len(result) == 0 {
			return errors.New("no data yet")
		}
		return nil
	})
}

// startPrometheus runs Prometheus on a free loopback port with a temporary
// storage directory, scraping the targets (by job) every second, and
// returns once it is ready.
func startPrometheus(t *testing.T, bin string, targets map[string][]string) *prometheusAPI {
	t.Helper()
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n")
	for _, job := range slices.Sorted(maps.Keys(targets)) {
		quoted, _ := json.Marshal(targets[job])
		fmt.Fprintf(&cfg, "- job_name: %s\n  static_configs:\n  - targets: %s\n", job, quoted)
	}
	config := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &testlog.Buffer{}
	cmd := exec.CommandContext(ctx, bin, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("prometheus' log:\n%s", out.String())
		}
	})
	prom := &prometheusAPI{base: "http://" + addr}
	testenv.Eventually(t, "prometheus is ready", func() error {
		select {
		case <-exited:
			t.Fatalf("prometheus exited:\n%s", out.String())
		default:
		}
		resp, err := http.Get(prom.base + "/-/ready")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return errors.New(resp.Status)
		}
		return nil
	})
	return prom
}
