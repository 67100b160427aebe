package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/internal/etcdscan"
	"github.com/sprechzimmer/sprechzimmer/internal/operator"
	"github.com/sprechzimmer/sprechzimmer/internal/roomcontract"
	"github.com/sprechzimmer/sprechzimmer/internal/testbrowser"
	"github.com/sprechzimmer/sprechzimmer/internal/testcluster"
	"github.com/sprechzimmer/sprechzimmer/internal/testenv"
)

const (
	// roomNamespace is where the portal creates sessions: restricted.
	roomNamespace = testcluster.RoomNamespace
	// lifetime is how long the test's session lives from its creation: the
	// shortest validFor (15m) with a start time that far in the past. The
	// call, its checks and the operator's restart must fit into it on a
	// busy machine (CI runs the browser suites beside this test): 4 minutes
	// did not, once.
	lifetime = 8 * time.Minute
	// note and displayName must not be found in etcd after expiry.
	note        = "Erstgespräch, Notiz-7c1e"
	displayName = "Mara Quendtberg"
)

// TestRealNode installs the product on the real node with Helm (a room
// opens, then it is uninstalled), then with kustomize, and holds one session
// from creation to expiry, checking what each person would notice.
func TestRealNode(t *testing.T) {
	needCluster(t)
	testbrowser.Require(t)
	ctx := context.Background()
	api, err := ctrlclient.New(cluster.Config, ctrlclient.Options{Scheme: operator.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	// First the Helm chart, installed and removed again; then the kustomize
	// install, which the rest of the test holds a session on.
	if !t.Run("helm", func(t *testing.T) { testHelm(t, api) }) {
		t.FailNow()
	}
	if err := cluster.Install(ctx); err != nil {
		t.Fatalf("installing as docs/install.md says: %v", err)
	}
	// TURN over TLS on 443 with cert-manager's certificate, renewed in place.
	t.Run("turn over TLS", func(t *testing.T) { testTURNOverTLS(t, api) })
	session := createSession(t, api)
	key := types.NamespacedName{Namespace: roomNamespace, Name: session.Name}

	// The room opens: a real Pod under the restricted profile, Ready.
	var pod corev1.Pod
	testenv.EventuallyWithin(t, "the room Pod is Ready", 3*time.Minute, func() error {
		if err := api.Get(ctx, types.NamespacedName{Namespace: roomNamespace, Name: roomcontract.RoomName(session)}, &pod); err != nil {
			return err
		}
		if !testcluster.PodReady(&pod) {
			return fmt.Errorf("phase %s", pod.Status.Phase)
		}
		return nil
	})
	links := &corev1.Secret{}
	if err := api.Get(ctx, types.NamespacedName{Namespace: roomNamespace, Name: roomcontract.LinksSecretName(session)}, links); err != nil {
		t.Fatal(err)
	}

	// Two browsers meet through the front door and the TURN server only.
	var frontdoor corev1.Service
	if err := api.Get(ctx, types.NamespacedName{Namespace: testcluster.FrontDoorNamespace, Name: testcluster.FrontDoorService}, &frontdoor); err != nil {
		t.Fatal(err)
	}
	browser, stop, err := testbrowser.Launch(testbrowser.LaunchOptions{
		FakeUI:            true,
		SecureOrigins:     []string{"http://" + testcluster.PublicHost},
		HostResolverRules: "MAP " + testcluster.PublicHost + " " + frontdoor.Spec.ClusterIP,
	})
	if err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	t.Cleanup(stop)
	therapist := testbrowser.Open(t, browser, "therapist", string(links.Data[roomcontract.SecretKeyTherapistLink]), testbrowser.WithRelayOnly())
	client := testbrowser.Open(t, browser, "client", string(links.Data[roomcontract.SecretKeyClientLink]), testbrowser.WithRelayOnly())
	client.EnterAsClient(displayName)
	therapist.EnterByKeyboard()
	// Sessions let the therapist admit the client (spec.admission's default).
	therapist.AdmitClient()
	therapist.WaitState("connected")
	client.WaitState("connected")
	therapist.AssertVideoFlows()
	client.AssertVideoFlows()
	therapist.AssertRelayed()
	client.AssertRelayed()

	// The room reports the call through its own bound token and the room
	// policy: what the portal and kubectl show.
	testenv.EventuallyWithin(t, "the session shows the call", time.Minute, func() error {
		s := &videov1alpha1.VideoSession{}
		if err := api.Get(ctx, key, s); err != nil {
			return err
		}
		if s.Status.Phase != videov1alpha1.PhaseInProgress || s.Status.Participants != 2 || s.Status.StartedAt == nil {
			return fmt.Errorf("phase %s, %d participants, startedAt %v; want InProgress, 2, set", s.Status.Phase, s.Status.Participants, s.Status.StartedAt)
		}
		return nil
	})
	before := &videov1alpha1.VideoSession{}
	if err := api.Get(ctx, key, before); err != nil {
		t.Fatal(err)
	}

	// The operator is killed and comes back: the call and the session go on
	// as they were.
	restartOperator(t)
	if left := time.Until(expiresAt(session)); left <= 0 {
		t.Fatalf("the call and the operator's restart took longer than the session's lifetime of %v (expired %v ago): raise lifetime", lifetime, -left.Round(time.Second))
	}
	after := &videov1alpha1.VideoSession{}
	if err := api.Get(ctx, key, after); err != nil {
		t.Fatal(err)
	}
	if after.Status.Phase != before.Status.Phase || after.Status.Participants != 2 || !after.Status.StartedAt.Equal(before.Status.StartedAt) {
		t.Errorf("after the operator's restart: phase %s, %d participants, startedAt %v; before: %s, 2, %v",
			after.Status.Phase, after.Status.Participants, after.Status.StartedAt, before.Status.Phase, before.Status.StartedAt)
	}
	var podAfter corev1.Pod
	if err := api.Get(ctx, types.NamespacedName{Namespace: roomNamespace, Name: pod.Name}, &podAfter); err != nil || podAfter.UID != pod.UID {
		t.Errorf("the room Pod was replaced by the operator's restart (err %v)", err)
	}
	for _, c := range podAfter.Status.ContainerStatuses {
		if c.RestartCount > 0 {
			t.Errorf("the room's container %s restarted %d times during the call (last: %+v)", c.Name, c.RestartCount, c.LastTerminationState.Terminated)
		}
	}
	therapist.AssertVideoFlows()
	client.AssertVideoFlows()

	// Expiry: the session and everything it owns are gone, collected by the
	// real garbage collector, and the room's container is gone from the node:
	// the kubelet removes a deleted Pod's stopped containers in its container
	// garbage collection, once a minute, so this may take two (CI saw more
	// than one on a busy machine).
	waitGone(t, api, lifetime+2*time.Minute, session, &pod, links, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: roomNamespace, Name: roomcontract.RoomName(session)}})
	testenv.EventuallyWithin(t, "the room's container is gone from containerd", 3*time.Minute, func() error {
		ids, err := testcluster.ContainersOf(ctx, pod.UID)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			return fmt.Errorf("%d containers of the room Pod left", len(ids))
		}
		return nil
	})
	scanEtcd(t, session, links)
}

// createSession creates the session as the portal would, with a start time
// so far in the past that it expires lifetime from now.
func createSession(t *testing.T, api ctrlclient.Client) *videov1alpha1.VideoSession {
	t.Helper()
	validFor := 15 * time.Minute
	s := &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: roomNamespace, GenerateName: "termin-"},
		Spec: videov1alpha1.VideoSessionSpec{
			StartTime: metav1.NewTime(time.Now().Add(lifetime - validFor).Truncate(time.Second)),
			ValidFor:  &metav1.Duration{Duration: validFor},
			Note:      note,
		},
	}
	// The webhook's CA is injected by cert-manager shortly after it is up.
	testenv.EventuallyWithin(t, "the webhook admits the session", 2*time.Minute, func() error {
		return api.Create(context.Background(), s)
	})
	return s
}

// expiresAt is when the session created by createSession expires.
func expiresAt(s *videov1alpha1.VideoSession) time.Time {
	return s.Spec.StartTime.Add(s.Spec.ValidFor.Duration)
}

// restartOperator deletes the operator's Pods and waits until its
// Deployment is available again.
func restartOperator(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{
		{"-n", "sprechzimmer-system", "delete", "pod", "-l", "control-plane=controller-manager", "--wait=true"},
		{"-n", "sprechzimmer-system", "rollout", "status", "deployment/sprechzimmer-controller-manager", "--timeout=180s"},
	} {
		if err := cluster.Kubectl(context.Background(), args...); err != nil {
			t.Fatal(err)
		}
	}
}

// waitGone waits until every object is deleted.
func waitGone(t *testing.T, api ctrlclient.Client, within time.Duration, objs ...ctrlclient.Object) {
	t.Helper()
	deadline := time.Now().Add(within)
	for _, o := range objs {
		testenv.EventuallyWithin(t, fmt.Sprintf("%T %s deleted", o, o.GetName()), time.Until(deadline), func() error {
			err := api.Get(context.Background(), ctrlclient.ObjectKeyFromObject(o), o)
			switch {
			case apierrors.IsNotFound(err):
				return nil
			case err != nil:
				return err
			}
			return errors.New("still there")
		})
	}
}

// scanEtcd compacts and defragments etcd and searches its database file
// for the session's note, its tokens and the client's display name.
func scanEtcd(t *testing.T, s *videov1alpha1.VideoSession, links *corev1.Secret) {
	t.Helper()
	e, err := etcdscan.Dial(testcluster.EtcdEndpoint(), testcluster.EtcdDataDir())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = e.Close() }()
	ctx := context.Background()
	keys, err := e.KeysContaining(ctx, []byte(s.UID))
	if err != nil {
		t.Fatal(err)
	}
	if left := etcdscan.WithoutEvents(keys); len(left) > 0 {
		t.Errorf("etcd keys still naming the session: %v", left)
	}
	if err := e.CompactAndDefragment(ctx); err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{"note": []byte(note), "display name": []byte(displayName)}
	for k, v := range links.Data {
		needles["links Secret's "+k] = v
	}
	// The write-ahead log keeps every write until etcd's next snapshot;
	// with encryption at rest (hack/cluster-up.sh, docs/install.md) it
	// holds none of this readable either.
	wal, err := e.WALFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range append([]string{e.DatabaseFile()}, wal...) {
		found, err := etcdscan.FileContains(file, needles)
		if err != nil {
			t.Fatal(err)
		}
		if len(found) > 0 {
			t.Errorf("%s still holds the session's %v", filepath.Base(file), found)
		}
	}
}
