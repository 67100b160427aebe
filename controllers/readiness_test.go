package controllers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	testingclock "k8s.io/utils/clock/testing"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

// TestPortalCanWaitForReady does what the README's portal example does: it
// creates a session and runs `kubectl wait --for=condition=Ready` on it.
// Until the room opens, Ready and RoomReady are False with reason Scheduled
// and kubectl get shows 0 participants; while the signaling Pod starts,
// Ready is False with reason Opening and kubectl keeps waiting; once the
// Pod is ready, kubectl wait returns.
func TestPortalCanWaitForReady(t *testing.T) {
	kubectl, err := testenv.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	startOperator(t, ns, clk)
	start := clk.Now().Add(2 * time.Hour)
	create(t, newSession(ns, "wait-for-ready", start))
	key := types.NamespacedName{Namespace: ns, Name: "wait-for-ready"}

	s := waitCondition(t, key, videov1alpha1.ConditionReady, metav1.ConditionFalse, videov1alpha1.ReasonScheduled)
	if c := meta.FindStatusCondition(s.Status.Conditions, videov1alpha1.ConditionRoomReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != videov1alpha1.ReasonScheduled {
		t.Errorf("RoomReady while Scheduled = %v, want False, reason Scheduled", c)
	}
	if got := printedColumn(t, key, "Participants"); got != float64(0) {
		t.Errorf("kubectl get shows participants %v, want 0", got)
	}

	wait := exec.Command(kubectl, "--kubeconfig", writeKubeconfig(t, cfg), "wait", "--for=condition=Ready", "--timeout=5m",
		"-n", ns, "videosession/"+key.Name)
	var out bytes.Buffer
	wait.Stdout, wait.Stderr = &out, &out
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- wait.Wait() }()
	// Kill fails harmlessly once kubectl has returned.
	t.Cleanup(func() { _ = wait.Process.Kill() })

	testenv.SetQueueTime(t, clk, start.Add(-15*time.Minute))
	s = waitCondition(t, key, videov1alpha1.ConditionReady, metav1.ConditionFalse, videov1alpha1.ReasonOpening)
	select {
	case err := <-done:
		t.Fatalf("kubectl wait returned while the room was opening (%v): %s", err, out.String())
	default:
	}

	pod := getPod(t, s)
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	if err := k8sClient.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("kubectl wait: %v: %s", err, out.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("kubectl wait did not return within 2m of the Pod's readiness: %s", out.String())
	}
	s = waitCondition(t, key, videov1alpha1.ConditionReady, metav1.ConditionTrue, videov1alpha1.ReasonRoomOpen)
	if c := meta.FindStatusCondition(s.Status.Conditions, videov1alpha1.ConditionRoomReady); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("RoomReady of an open room = %v, want True", c)
	}
}

// waitCondition waits until the session's condition of type has status
// and reason.
func waitCondition(t *testing.T, key types.NamespacedName, typ string, status metav1.ConditionStatus, reason string) *videov1alpha1.VideoSession {
	t.Helper()
	var s *videov1alpha1.VideoSession
	testenv.Eventually(t, typ+"="+string(status)+" ("+reason+")", func() error {
		var err error
		if s, err = getSession(key); err != nil {
			return err
		}
		if c := meta.FindStatusCondition(s.Status.Conditions, typ); c == nil || c.Status != status || c.Reason != reason {
			return fmt.Errorf("%s is %v", typ, c)
		}
		return nil
	})
	return s
}

// printedColumn is the cell of column that `kubectl get` prints for the
// session: the API server's Table rendering, from the CRD's printer
// columns; nil is what kubectl prints as <none>.
func printedColumn(t *testing.T, key types.NamespacedName, column string) any {
	t.Helper()
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u, _, err := rest.DefaultServerUrlFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = fmt.Sprintf("/apis/%s/namespaces/%s/videosessions/%s", videov1alpha1.GroupVersion, key.Namespace, key.Name)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var table metav1.Table
	if err := json.Unmarshal(body, &table); err != nil || resp.StatusCode != http.StatusOK || len(table.Rows) != 1 {
		t.Fatalf("table of %s: %s %v: %s", key, resp.Status, err, body)
	}
	for i, c := range table.ColumnDefinitions {
		if c.Name == column {
			return table.Rows[0].Cells[i]
		}
	}
	t.Fatalf("no column %s in %v", column, table.ColumnDefinitions)
	return nil
}

// writeKubeconfig writes a kubeconfig for c (the suite's admin user) for
// kubectl.
func writeKubeconfig(t *testing.T, c *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: c.Host, CertificateAuthorityData: c.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: c.CertData, ClientKeyData: c.KeyData, Token: c.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
