package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/devenv/resolver"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"

	"github.com/coder/websocket"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/frontdoor"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
)

var cfg *rest.Config

// TestMain starts a real kube-apiserver and etcd (envtest) for the tests
// that run the command.
func TestMain(m *testing.M) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	testenv.Main(m, env, func(_ context.Context, c *rest.Config) error {
		cfg = c
		return nil
	})
}

// TestShutdown runs the command with an open WebSocket and stops it: the
// readiness probe fails first while the room is still served, then the
// WebSocket is closed and run returns.
func TestShutdown(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := videov1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "fd-cmd-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	// The front door routes only to rooms whose session exists.
	session := &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Name: "anna", Namespace: ns.Name},
		Spec:       videov1alpha1.VideoSessionSpec{StartTime: metav1.Time{Time: time.Now()}},
	}
	if err := c.Create(ctx, session); err != nil {
		t.Fatal(err)
	}
	id := roomcontract.RoomID(session)
	svc := roomcontract.NewService(session, time.Now().Add(time.Hour))
	if err := c.Create(ctx, svc); err != nil {
		t.Fatal(err)
	}
	room := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ws" {
			_, _ = io.WriteString(w, "room page")
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer func() { _ = ws.CloseNow() }()
		_, _, _ = ws.Read(r.Context()) // until either side closes
	}))
	defer room.Close()
	hosts := resolver.NewStatic()
	hosts.Set(frontdoor.ServiceHost(svc.Name, svc.Namespace, frontdoor.DefaultClusterDomain), room.Listener.Addr().String())

	o, err := parseFlags(newFlagSet(), []string{"--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0", "--namespace=" + ns.Name, "--shutdown-delay=500ms", "--drain-timeout=2s"})
	if err != nil {
		t.Fatal(err)
	}
	o.dial = hosts.DialContext
	addrs := make(chan [2]string, 1)
	o.listening = func(addr, metricsAddr string) { addrs <- [2]string{addr, metricsAddr} }
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(runCtx, cfg, o, slog.New(slog.NewJSONHandler(io.Discard, nil))) }()
	var a [2]string
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("run returned before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("run did not start listening")
	}
	door, probes := "http://"+a[0], "http://"+a[1]

	testenv.Eventually(t, "ready", func() error { return wantStatus(probes+"/readyz", http.StatusOK) })
	testenv.Eventually(t, "room routed", func() error { return wantStatus(door+"/r/"+id+"/", http.StatusOK) })
	for _, series := range []string{`sprechzimmer_frontdoor_requests_total{code="2xx",route="room"}`, `sprechzimmer_frontdoor_ignored_services{reason="no-session"} 0`} {
		if err := wantBody(probes+"/metrics", series); err != nil {
			t.Error(err)
		}
	}
	wsCtx, cancelWS := context.WithTimeout(ctx, 20*time.Second)
	defer cancelWS()
	ws, _, err := websocket.Dial(wsCtx, door+"/r/"+id+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ws.CloseNow() }()
	wsEnded := make(chan error, 1)
	go func() { _, _, err := ws.Read(wsCtx); wsEnded <- err }()

	stop()
	testenv.Eventually(t, "not ready after SIGTERM", func() error { return wantStatus(probes+"/readyz", http.StatusServiceUnavailable) })
	// Still serving during the shutdown delay, so load balancers can catch up.
	if err := wantStatus(door+"/r/"+id+"/", http.StatusOK); err != nil {
		t.Errorf("during the shutdown delay: %v", err)
	}
	select {
	case err := <-wsEnded:
		if wsCtx.Err() != nil {
			t.Fatalf("the WebSocket was not closed by the shutdown: %v", err)
		}
	case <-wsCtx.Done():
		t.Fatal("the WebSocket stayed open")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return")
	}
}

// newFlagSet is a flag set of the test's own, quiet on errors.
func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("frontdoor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func wantStatus(url string, want int) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != want {
		return fmt.Errorf("GET %s: %d, want %d", url, resp.StatusCode, want)
	}
	return nil
}

func wantBody(url, substr string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if !strings.Contains(string(b), substr) {
		return fmt.Errorf("GET %s lacks %s", url, substr)
	}
	return nil
}
