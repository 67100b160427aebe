package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/devenv"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// TestLocalSetup runs the README's first command as a person would: it starts
// cmd/dev, reads the two links it prints, and brings two tabs (the therapist
// in Chromium, the client in Firefox) into one call through the front door,
// with relay-only ICE so that the media crosses the project's TURN server.
// The client types localhost where the link says 127.0.0.1, as the README
// allows: the room must not refuse that origin (the page would wait for
// ever). Ctrl-C must stop every process it started and leave no file in its
// temporary directory.
func TestLocalSetup(t *testing.T) {
	testbrowser.Require(t, chromium, firefox)
	tmp := t.TempDir() // the setup's TMPDIR: it must be empty again at the end
	dev, stdout, exited := startDev(t, []string{"TMPDIR=" + tmp}, "-listen", "127.0.0.1:0")
	links := readLinks(t, stdout, exited)
	descendants := descendantsOf(dev.Process.Pid)
	if len(descendants) < 3 {
		t.Errorf("cmd/dev runs %d child processes, want at least kube-apiserver, etcd and a signaling server", len(descendants))
	}
	clientLink := strings.Replace(links["client"], "http://127.0.0.1:", "http://localhost:", 1)
	if clientLink == links["client"] {
		t.Fatalf("the client's link %q is not on http://127.0.0.1", links["client"])
	}

	therapist := openPageIn(t, chromium, "therapist", links["therapist"], testbrowser.WithRelayOnly())
	client := openPageIn(t, firefox, "client", clientLink, testbrowser.WithRelayOnly())
	callThroughTURN(t, therapist, client)
	// What kubectl shows: the room reported the call to its session, through
	// the local pod runner's Pod-bound token and the room policy.
	kubeconfig, err := clientcmd.BuildConfigFromFlags("", links["kubeconfig"])
	if err != nil {
		t.Fatal(err)
	}
	api, err := ctrlclient.New(kubeconfig, ctrlclient.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the demo session shows the call", func() error {
		s := &videov1alpha1.VideoSession{}
		if err := api.Get(context.Background(), types.NamespacedName{Namespace: devenv.DemoNamespace, Name: devenv.DemoSession}, s); err != nil {
			return err
		}
		if s.Status.Phase != videov1alpha1.PhaseInProgress || s.Status.Participants != 2 || s.Status.StartedAt == nil {
			return fmt.Errorf("phase %s, %d participants, startedAt %v; want InProgress, 2, set", s.Status.Phase, s.Status.Participants, s.Status.StartedAt)
		}
		return nil
	})

	stopDev(t, dev, exited)
	for _, pid := range descendants {
		if alive(pid) {
			t.Errorf("process %d (%s) outlived cmd/dev", pid, commOf(pid))
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("cmd/dev left files in its TMPDIR: %v", names)
	}
}

// callThroughTURN brings the demo session's two tabs into the call: the
// client enters, the therapist enters and admits them (the demo session is
// like any other), and video flows both ways through the TURN server.
func callThroughTURN(t *testing.T, therapist, client *page) {
	t.Helper()
	client.EnterAsClient("")
	therapist.EnterByKeyboard()
	therapist.AdmitClient()
	therapist.WaitState("connected")
	client.WaitState("connected")
	therapist.AssertVideoFlows()
	client.AssertVideoFlows()
	therapist.AssertRelayed()
	client.AssertRelayed()
}

// startDev builds cmd/dev and starts it with args and env added to this
// process's environment; it returns its stdout and a channel of its exit.
// The test's cleanup kills it if it still runs.
func startDev(t *testing.T, env []string, args ...string) (*exec.Cmd, io.Reader, <-chan error) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "dev")
	build := exec.Command("go", "build", "-o", bin, "./cmd/dev")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building cmd/dev: %v\n%s", err, out)
	}
	dev := exec.Command(bin, args...)
	dev.Dir = root
	dev.Env = append(os.Environ(), env...)
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	dev.Stderr = os.Stderr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- dev.Wait() }()
	t.Cleanup(func() {
		_ = dev.Process.Kill()
	})
	return dev, stdout, exited
}

// stopDev presses Ctrl-C and waits for cmd/dev to end without an error.
func stopDev(t *testing.T, dev *exec.Cmd, exited <-chan error) {
	t.Helper()
	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("cmd/dev after Ctrl-C: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("cmd/dev did not stop within a minute of Ctrl-C")
	}
}

// readLinks reads cmd/dev's output until it has printed both links and the
// KUBECONFIG of its API server (under the key "kubeconfig"); with -lan also
// where a phone downloads the certificate authority (under the key "ca").
func readLinks(t *testing.T, out io.Reader, exited <-chan error) map[string]string {
	t.Helper()
	links := map[string]string{}
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			switch {
			case len(fields) == 2 && fields[0] == "export" && strings.HasPrefix(fields[1], "KUBECONFIG="):
				links["kubeconfig"] = strings.TrimPrefix(fields[1], "KUBECONFIG=")
			case len(fields) == 2 && (fields[0] == "therapist:" || fields[0] == "client:"):
				links[strings.TrimSuffix(fields[0], ":")] = fields[1]
			case len(fields) == 5 && strings.Join(fields[:4], " ") == "On the phone, open":
				links["ca"] = fields[4]
			}
			if links["therapist"] != "" && links["client"] != "" && links["kubeconfig"] != "" {
				close(found)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-found:
		return links
	case err := <-exited:
		t.Fatalf("cmd/dev exited before printing the links and the KUBECONFIG: %v", err)
	case <-time.After(5 * time.Minute):
		t.Fatal("cmd/dev printed no links within 5 minutes")
	}
	return nil
}

// descendantsOf lists the processes below pid, from /proc.
func descendantsOf(pid int) []int {
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		if f := strings.Fields(rest); len(f) > 1 {
			parent[p], _ = strconv.Atoi(f[1])
		}
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for child, pp := range parent {
			if pp == p {
				out = append(out, child)
				walk(child)
			}
		}
	}
	walk(pid)
	return out
}

func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
	return !strings.HasPrefix(rest, "Z")
}

func commOf(pid int) string {
	b, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	return strings.TrimSpace(string(b))
}
