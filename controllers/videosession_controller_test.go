package controllers_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sprechzimmer/sprechzimmer/internal/testenv"

	dto "github.com/prometheus/client_model/go"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	videov1alpha1 "github.com/sprechzimmer/sprechzimmer/api/v1alpha1"
	"github.com/sprechzimmer/sprechzimmer/controllers"
	"github.com/sprechzimmer/sprechzimmer/internal/jointoken"
	"github.com/sprechzimmer/sprechzimmer/internal/turncred"
	signalingconfig "github.com/sprechzimmer/sprechzimmer/signaling/config"
	"github.com/sprechzimmer/sprechzimmer/signaling/protocol"
)

// newSession makes a session that starts at start, with the defaults
// (opens 15m before, valid 4h after).
func newSession(ns, name string, start time.Time) *videov1alpha1.VideoSession {
	return &videov1alpha1.VideoSession{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: videov1alpha1.VideoSessionSpec{
			StartTime:    metav1.Time{Time: start},
			Note:         "private note: second session, topic sleep",
			TherapistRef: "th-4711",
		},
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8sClient.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
}

func getSession(key types.NamespacedName) (*videov1alpha1.VideoSession, error) {
	s := &videov1alpha1.VideoSession{}
	return s, k8sClient.Get(context.Background(), key, s)
}

// waitPhase waits until the session reports phase.
func waitPhase(t *testing.T, key types.NamespacedName, phase videov1alpha1.Phase) *videov1alpha1.VideoSession {
	t.Helper()
	var s *videov1alpha1.VideoSession
	testenv.Eventually(t, "phase "+string(phase), func() error {
		var err error
		if s, err = getSession(key); err != nil {
			return err
		}
		if s.Status.Phase != phase {
			return fmt.Errorf("phase is %q", s.Status.Phase)
		}
		return nil
	})
	return s
}

// waitGone waits until the session no longer exists.
func waitGone(t *testing.T, key types.NamespacedName) {
	t.Helper()
	testenv.Eventually(t, "session deleted", func() error {
		if _, err := getSession(key); !apierrors.IsNotFound(err) {
			return fmt.Errorf("session still there (err=%w)", err)
		}
		return nil
	})
}

// openRoom runs an operator and a session whose room is open now.
func openRoom(t *testing.T, name string) (*testOperator, *videov1alpha1.VideoSession) {
	t.Helper()
	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	op := startOperator(t, ns, clk)
	create(t, newSession(ns, name, clk.Now().Add(10*time.Minute)))
	s := waitPhase(t, types.NamespacedName{Namespace: ns, Name: name}, videov1alpha1.PhaseOpen)
	return op, s
}

func getPod(t *testing.T, s *videov1alpha1.VideoSession) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{}
	testenv.Eventually(t, "signaling pod", func() error {
		return k8sClient.Get(context.Background(), types.NamespacedName{Namespace: s.Namespace, Name: s.Name + "-room"}, pod)
	})
	return pod
}

func getLinks(t *testing.T, s *videov1alpha1.VideoSession) *corev1.Secret {
	t.Helper()
	secret := &corev1.Secret{}
	if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: s.Namespace, Name: s.Status.LinksSecretName}, secret); err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestRoomOpensOnTimeAndNotBefore(t *testing.T) {
	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	startOperator(t, ns, clk)
	start := clk.Now().Add(72 * time.Hour)
	create(t, newSession(ns, "in-three-days", start))
	key := types.NamespacedName{Namespace: ns, Name: "in-three-days"}

	s := waitPhase(t, key, videov1alpha1.PhaseScheduled)
	if !s.Status.OpensAt.Time.Equal(start.Add(-15 * time.Minute)) {
		t.Errorf("opensAt = %v, want 15m before the start", s.Status.OpensAt)
	}
	if !s.Status.ExpiresAt.Time.Equal(start.Add(4 * time.Hour)) {
		t.Errorf("expiresAt = %v, want 4h after the start", s.Status.ExpiresAt)
	}
	var pods corev1.PodList
	if err := k8sClient.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 0 {
		t.Fatalf("a session days away runs %d pods, want none", len(pods.Items))
	}

	testenv.SetQueueTime(t, clk, start.Add(-15*time.Minute))
	s = waitPhase(t, key, videov1alpha1.PhaseOpen)

	wantURL := "https://video.example.test/r/" + string(s.UID) + "/"
	if s.Status.URL != wantURL {
		t.Errorf("status.url = %q, want %q", s.Status.URL, wantURL)
	}
	if s.Status.LinksSecretName != "in-three-days-links" {
		t.Errorf("status.linksSecretName = %q", s.Status.LinksSecretName)
	}
	getPod(t, s)
	children := []struct {
		obj   client.Object
		name  string
		owned bool
	}{
		{&corev1.Secret{}, "in-three-days-links", true},
		{&corev1.Pod{}, "in-three-days-room", true},
		{&corev1.Service{}, "in-three-days-room", true},
		// The namespace's room account serves every room in it.
		{&corev1.ServiceAccount{}, controllers.RoomServiceAccount, false},
		{&rbacv1.Role{}, controllers.RoomServiceAccount, false},
		{&rbacv1.RoleBinding{}, controllers.RoomServiceAccount, false},
	}
	for _, c := range children {
		if err := k8sClient.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: c.name}, c.obj); err != nil {
			t.Fatalf("%T %s: %v", c.obj, c.name, err)
		}
		if metav1.IsControlledBy(c.obj, s) != c.owned {
			t.Errorf("%T %s: controlled by the session = %v, want %v", c.obj, c.name, !c.owned, c.owned)
		}
	}
	secret := getLinks(t, s)
	for _, role := range []string{"therapist", "client"} {
		token := string(secret.Data[role+"-token"])
		if got, want := string(secret.Data[role+"-link"]), wantURL+"#t="+token; got != want || len(token) < 43 {
			t.Errorf("%s link = %q, want the room URL with a 256-bit token in the fragment", role, got)
		}
	}
	if string(secret.Data["therapist-token"]) == string(secret.Data["client-token"]) {
		t.Error("therapist and client have the same token")
	}
}

func TestTURNCredentialsVerifyAndExpireWithTheSession(t *testing.T) {
	op, s := openRoom(t, "turn-creds")
	var servers []protocol.ICEServer
	if err := json.Unmarshal(getLinks(t, s).Data["ice-servers"], &servers); err != nil {
		t.Fatal(err)
	}
	var turn *protocol.ICEServer
	for i := range servers {
		if strings.HasPrefix(servers[i].URLs[0], "turn:") {
			turn = &servers[i]
		}
	}
	if turn == nil {
		t.Fatalf("no TURN server among %d ICE servers", len(servers))
	}
	expires := s.Status.ExpiresAt.Time
	tests := []struct {
		name    string
		at      time.Time
		wantErr error
	}{
		{"valid while the room is open", op.clock.Now(), nil},
		{"valid one second before expiry", expires.Add(-time.Second), nil},
		{"expired with the room", expires, turncred.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := turncred.Verify(turnSecret, turn.Username, turn.Credential, tt.at)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify() = %v, want %v", err, tt.wantErr)
			}
		})
	}
	if err := turncred.Verify([]byte("another secret"), turn.Username, turn.Credential, op.clock.Now()); err == nil {
		t.Error("credentials verify under another secret")
	}
}

func TestPodCarriesOnlyTokenHashesAndRunsRestricted(t *testing.T) {
	_, s := openRoom(t, "hashes")
	secret := getLinks(t, s)
	pod := getPod(t, s)

	env := map[string]corev1.EnvVar{}
	for _, e := range pod.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	for role, name := range map[string]string{"therapist": signalingconfig.EnvTherapistTokenHash, "client": signalingconfig.EnvClientTokenHash} {
		want := jointoken.Of(string(secret.Data[role+"-token"])).String()
		if got := env[name].Value; got != want {
			t.Errorf("%s = %q, want the SHA-256 of the %s token", name, got, role)
		}
	}
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"therapist-token", "client-token", "therapist-link", "client-link"} {
		if strings.Contains(string(raw), string(secret.Data[key])) {
			t.Errorf("the pod carries the raw %s", key)
		}
	}
	if strings.Contains(string(raw), s.Spec.Note) {
		t.Error("the pod carries the therapist's note")
	}
	if ref := env[signalingconfig.EnvICEServers].ValueFrom; ref == nil || ref.SecretKeyRef == nil {
		t.Error("ICE servers with TURN credentials are not taken from the Secret")
	}

	psc, sc := pod.Spec.SecurityContext, pod.Spec.Containers[0].SecurityContext
	checks := []struct {
		what string
		ok   bool
	}{
		{"runAsNonRoot", psc.RunAsNonRoot != nil && *psc.RunAsNonRoot},
		{"seccomp RuntimeDefault", psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"no privilege escalation", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"read-only root filesystem", sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		{"all capabilities dropped", sc.Capabilities != nil && len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL"},
		{"the room service account", pod.Spec.ServiceAccountName == controllers.RoomServiceAccount},
		{"image pulled only if not present", pod.Spec.Containers[0].ImagePullPolicy == corev1.PullIfNotPresent},
		{"deadline at expiry", pod.Spec.ActiveDeadlineSeconds != nil && *pod.Spec.ActiveDeadlineSeconds > 0},
		{"a CPU limit", !pod.Spec.Containers[0].Resources.Limits.Cpu().IsZero()},
		{"a memory limit", !pod.Spec.Containers[0].Resources.Limits.Memory().IsZero()},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("pod security: %s is not set", c.what)
		}
	}
}

// TestRoomMayPatchOnlyItsOwnStatus checks the status-reporting design with
// the tokens a kubelet would mount: Pod-bound tokens of the shared room
// ServiceAccount, minted by the real API server. RBAC allows status patches;
// the room policy (config/policy) narrows them to the room's own session and
// its own fields (videov1alpha1.RoomStatusFields). Every other status field
// is tried, set and removed, and must be refused.
func TestRoomMayPatchOnlyItsOwnStatus(t *testing.T) {
	op, s := openRoom(t, "reporter")
	create(t, newSession(s.Namespace, "neighbour", op.clock.Now().Add(10*time.Minute)))
	neighbour := waitPhase(t, types.NamespacedName{Namespace: s.Namespace, Name: "neighbour"}, videov1alpha1.PhaseOpen)

	own := roomClient(t, s.Namespace, getPod(t, s))
	neighbours := roomClient(t, s.Namespace, getPod(t, neighbour))
	unbound := roomClient(t, s.Namespace, nil)
	ctx := context.Background()
	patchStatus := func(c client.Client, target *videov1alpha1.VideoSession, patch string) func() error {
		return func() error {
			return c.Status().Patch(ctx, target.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch)))
		}
	}
	const report = `{"status":{"participants":1}}`
	// Why each is refused: the room policy, or RBAC.
	const notOwn, notItsField, rbac = "its own VideoSession", "a room may change only", "cannot"
	const notBackwards, endOnlyWhenBack = "may not clear or move status.startedAt", "may clear status.endedAt only"
	type attempt struct {
		name      string
		do        func() error
		wantAllow bool
		refusedBy string
	}
	tests := []attempt{
		{"report to its own session", patchStatus(own, s, report), true, ""},
		{"report the call's start and end", patchStatus(own, s, `{"status":{"participants":0,"startedAt":"2026-11-23T10:00:00Z","endedAt":"2026-11-23T10:50:00Z","refusedJoins":2}}`), true, ""},
		// Times never go backwards (the call above started at 10:00).
		{"clear the start", patchStatus(own, s, `{"status":{"participants":0,"startedAt":null}}`), false, notBackwards},
		{"move the start", patchStatus(own, s, `{"status":{"startedAt":"2026-11-23T10:30:00Z"}}`), false, notBackwards},
		{"clear the end while one is in the room", patchStatus(own, s, `{"status":{"participants":1,"endedAt":null}}`), false, endOnlyWhenBack},
		{"clear the end when both are back", patchStatus(own, s, `{"status":{"participants":2,"endedAt":null}}`), true, ""},
		{"end the call again", patchStatus(own, s, `{"status":{"participants":1,"endedAt":"2026-11-23T10:55:00Z"}}`), true, ""},
		{"report to a neighbour's session", patchStatus(own, neighbour, report), false, notOwn},
		{"a neighbour reports to this session", patchStatus(neighbours, s, report), false, notOwn},
		{"a token bound to no Pod", patchStatus(unbound, s, report), false, notOwn},
		// The status subresource keeps spec and metadata as they were; the
		// check after the table sees that nothing of it arrived.
		{"spec and labels through the status", patchStatus(own, s, `{"metadata":{"labels":{"forged":"yes"},"annotations":{"forged":"yes"}},"spec":{"note":"forged","therapistRef":"forged"},"status":{"participants":1}}`), true, ""},
		{"patch its own spec", func() error {
			return own.Patch(ctx, s.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"note":"x"}}`)))
		}, false, rbac},
		{"read its own session", func() error {
			return own.Get(ctx, client.ObjectKeyFromObject(s), &videov1alpha1.VideoSession{})
		}, false, rbac},
		{"read the links secret", func() error {
			return own.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Status.LinksSecretName}, &corev1.Secret{})
		}, false, rbac},
		{"list sessions", func() error {
			return own.List(ctx, &videov1alpha1.VideoSessionList{}, client.InNamespace(s.Namespace))
		}, false, rbac},
	}
	// Every field that is not the room's, set to another value and removed.
	// A status field added to the API without a row here fails the test.
	forged := map[string]string{
		"phase":              `"Scheduled"`,
		"conditions":         `[{"type":"RoomReady","status":"True","reason":"Forged","message":"forged","lastTransitionTime":"2026-11-23T10:00:00Z"}]`,
		"opensAt":            `"2030-01-01T00:00:00Z"`,
		"expiresAt":          `"2030-01-01T00:00:00Z"`,
		"openedAt":           `"2030-01-01T00:00:00Z"`,
		"url":                `"https://evil.example.test/"`,
		"linksSecretName":    `"other-links"`,
		"observedGeneration": `99`,
	}
	for _, f := range operatorStatusFields(t) {
		value, ok := forged[f]
		if !ok {
			t.Errorf("status.%s is the operator's, and this test does not try it: add it to forged", f)
			continue
		}
		tests = append(tests,
			attempt{"change status." + f, patchStatus(own, s, `{"status":{"`+f+`":`+value+`}}`), false, notItsField},
			attempt{"remove status." + f, patchStatus(own, s, `{"status":{"`+f+`":null}}`), false, notItsField},
			attempt{"change status." + f + " with a report", patchStatus(own, s, `{"status":{"participants":2,"`+f+`":`+value+`}}`), false, notItsField})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if tt.wantAllow && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.wantAllow && (!apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tt.refusedBy)) {
				t.Fatalf("err = %v, want forbidden: %q", err, tt.refusedBy)
			}
		})
	}
	after, err := getSession(client.ObjectKeyFromObject(s))
	if err != nil {
		t.Fatal(err)
	}
	if after.Status.URL != s.Status.URL || after.Status.Phase == videov1alpha1.PhaseScheduled || after.Status.RefusedJoins != 2 {
		t.Errorf("status after the room's attempts: url %q phase %s refusedJoins %d; want the operator's URL, not Scheduled, 2", after.Status.URL, after.Status.Phase, after.Status.RefusedJoins)
	}
	if !equality.Semantic.DeepEqual(after.Spec, s.Spec) || after.Labels["forged"] != "" || after.Annotations["forged"] != "" {
		t.Errorf("a room changed its session's spec or metadata through the status: spec %+v, labels %v, annotations %v", after.Spec, after.Labels, after.Annotations)
	}
}

// operatorStatusFields are the JSON names of the status fields that are not
// the room's.
func operatorStatusFields(t *testing.T) []string {
	t.Helper()
	var names []string
	for f := range reflect.TypeFor[videov1alpha1.VideoSessionStatus]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !slices.Contains(videov1alpha1.RoomStatusFields, name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("no operator status fields found")
	}
	return names
}

// roomClient is a client with a token of namespace's room ServiceAccount,
// bound to pod as the kubelet's would be; a nil pod gives an unbound token.
func roomClient(t *testing.T, namespace string, pod *corev1.Pod) client.Client {
	t.Helper()
	asRoom := rest.AnonymousClientConfig(cfg)
	asRoom.BearerToken = roomToken(t, namespace, pod)
	c, err := client.New(asRoom, client.Options{Scheme: k8sClient.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// roomToken is a token of the namespace's room ServiceAccount, bound to pod
// as the kubelet mounts it, or bound to nothing when pod is nil.
func roomToken(t *testing.T, namespace string, pod *corev1.Pod) string {
	t.Helper()
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)}}
	if pod != nil {
		if pod.Spec.ServiceAccountName != controllers.RoomServiceAccount {
			t.Fatalf("the room's Pod runs as %q, want %q", pod.Spec.ServiceAccountName, controllers.RoomServiceAccount)
		}
		req.Spec.BoundObjectRef = &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: controllers.RoomServiceAccount}}
	if err := k8sClient.SubResource("token").Create(context.Background(), sa, req); err != nil {
		t.Fatalf("requesting a room token: %v", err)
	}
	return req.Status.Token
}

func TestExpiryDeletesAtTheDeadline(t *testing.T) {
	tests := []struct {
		name    string
		restart bool
	}{
		{name: "operator running"},
		{name: "operator restarted in between", restart: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, s := openRoom(t, "expires")
			key := client.ObjectKeyFromObject(s)
			expires := s.Status.ExpiresAt.Time
			testenv.Eventually(t, "the RoomOpened event", func() error {
				if n := len(sessionEvents(t, s)); n == 0 {
					return errors.New("no event about the session")
				}
				return nil
			})

			testenv.SetQueueTime(t, op.clock, expires.Add(-time.Second))
			if _, err := getSession(key); err != nil {
				t.Fatalf("session gone before its deadline: %v", err)
			}
			operators := []*testOperator{op}
			if tt.restart {
				op.stop()
				op.clock.SetTime(expires.Add(time.Minute))
				op = startOperator(t, s.Namespace, op.clock)
				operators = append(operators, op)
			} else {
				testenv.SetQueueTime(t, op.clock, expires)
			}
			waitGone(t, key)
			// Counted exactly once, by whichever operator deleted it (just
			// after the deletion, which the test may see first), and then
			// its Events deleted: nothing of it may stay.
			testenv.Eventually(t, "the deletion counted and the session's events gone", func() error {
				deleted := 0.0
				for _, o := range operators {
					deleted += counter(t, o, "sprechzimmer_sessions_deleted_total")
				}
				if deleted != 1 {
					return fmt.Errorf("sessions_deleted_total = %v over the operators, want 1", deleted)
				}
				if left := sessionEvents(t, s); len(left) != 0 {
					return fmt.Errorf("%d events about the expired session remain, first %s", len(left), left[0].Reason)
				}
				return nil
			})
		})
	}
}

// sessionEvents lists the Events about session s (by UID).
func sessionEvents(t *testing.T, s *videov1alpha1.VideoSession) []eventsv1.Event {
	t.Helper()
	var events eventsv1.EventList
	if err := k8sClient.List(context.Background(), &events, client.InNamespace(s.Namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("regarding.uid", string(s.UID))}); err != nil {
		t.Fatalf("listing the session's events: %v", err)
	}
	return events.Items
}

func TestDeletedSignalingPodIsRecreatedWhileOpenOnly(t *testing.T) {
	op, s := openRoom(t, "recreate")
	first := getPod(t, s)
	if err := k8sClient.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "a new signaling pod", func() error {
		pod := &corev1.Pod{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(first), pod); err != nil {
			return err
		}
		if pod.UID == first.UID {
			return errors.New("still the old pod")
		}
		return nil
	})
	var pods corev1.PodList
	if err := k8sClient.List(context.Background(), &pods, client.InNamespace(s.Namespace)); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("%d signaling pods, want exactly one", len(pods.Items))
	}
	testenv.Eventually(t, "the recreation counted once", func() error {
		if got := counter(t, op, "sprechzimmer_signaling_pod_recreations_total"); got != 1 {
			return fmt.Errorf("signaling_pod_recreations_total = %v, want 1", got)
		}
		return nil
	})

	// After expiry the session is gone; envtest runs no garbage collector,
	// so the pod is still there to delete, and nothing may bring it back.
	testenv.SetQueueTime(t, op.clock, s.Status.ExpiresAt.Time)
	waitGone(t, client.ObjectKeyFromObject(s))
	if err := k8sClient.Delete(context.Background(), &pods.Items[0]); err != nil {
		t.Fatal(err)
	}
	consistently(t, "no pod after expiry", 2*time.Second, func() error {
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(first), &corev1.Pod{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("a pod exists after expiry (err=%w)", err)
	})
}

func TestDurationObservedOnceWithoutPersonalLabels(t *testing.T) {
	op, s := openRoom(t, "duration")
	key := client.ObjectKeyFromObject(s)
	started := op.clock.Now().Add(5 * time.Minute)
	ended := started.Add(50 * time.Minute)

	// What the room reports, the way the signaling server does it.
	reportRoom(t, s, fmt.Sprintf(`{"status":{"participants":2,"startedAt":%q,"refusedJoins":3}}`, started.UTC().Format(time.RFC3339)))
	if got := waitPhase(t, key, videov1alpha1.PhaseInProgress).Status.RefusedJoins; got != 3 {
		t.Errorf("status.refusedJoins = %d, want the 3 the room reported", got)
	}
	reportRoom(t, s, fmt.Sprintf(`{"status":{"participants":0,"endedAt":%q}}`, ended.UTC().Format(time.RFC3339)))
	waitPhase(t, key, videov1alpha1.PhaseEnded)

	testenv.SetQueueTime(t, op.clock, s.Status.ExpiresAt.Time)
	waitGone(t, key)

	h := awaitObserved(t, op, "sprechzimmer_session_duration_seconds")
	if h.GetSampleCount() != 1 || h.GetSampleSum() != (50*time.Minute).Seconds() {
		t.Errorf("duration histogram: %d samples summing to %vs, want 1 sample of 3000s", h.GetSampleCount(), h.GetSampleSum())
	}

	families, err := op.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		// Refused joins are counted once, by the room's own metric
		// (sprechzimmer_signaling_join_refusals_total); the operator only
		// keeps the room's status.refusedJoins, checked above.
		if strings.Contains(f.GetName(), "refus") {
			t.Errorf("the operator exports %s: refused joins are the room's to count", f.GetName())
		}
	}
	personal := []string{s.Name, s.Namespace, s.Spec.TherapistRef, string(s.UID)}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				for _, p := range personal {
					if strings.Contains(l.GetValue(), p) {
						t.Errorf("metric %s has label %s=%q, which names the session", f.GetName(), l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
}

func reportRoom(t *testing.T, s *videov1alpha1.VideoSession, patch string) {
	t.Helper()
	if err := k8sClient.Status().Patch(context.Background(), s.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func metric(t *testing.T, op *testOperator, name string) *dto.Metric {
	t.Helper()
	families, err := op.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0]
		}
	}
	return &dto.Metric{}
}

func counter(t *testing.T, op *testOperator, name string) float64 {
	t.Helper()
	return metric(t, op, name).GetCounter().GetValue()
}

// awaitObserved waits until the histogram name holds a sample (the
// operator observes it just after a deletion the test may see first) and
// returns it.
func awaitObserved(t *testing.T, op *testOperator, name string) *dto.Histogram {
	t.Helper()
	var h *dto.Histogram
	testenv.Eventually(t, name+" observed", func() error {
		if h = histogram(t, op, name); h.GetSampleCount() == 0 {
			return errors.New("no sample")
		}
		return nil
	})
	return h
}

func histogram(t *testing.T, op *testOperator, name string) *dto.Histogram {
	t.Helper()
	return metric(t, op, name).GetHistogram()
}

// consistently checks that cond holds for the whole period, like Gomega's
// Consistently: the way to see that something does not happen.
func consistently(t *testing.T, what string, period time.Duration, cond func() error) {
	t.Helper()
	for end := time.Now().Add(period); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err := cond(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
}

// TestPodTellsTheRoomItsAdmissionAndStart: the room learns from the
// operator who lets the client in (spec.admission, defaulted by the schema
// to the therapist) and when the appointment starts, for its waiting room.
func TestPodTellsTheRoomItsAdmissionAndStart(t *testing.T) {
	ns := newNamespace(t)
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	startOperator(t, ns, clk)
	start := clk.Now().Add(10 * time.Minute)
	tests := []struct {
		name      string
		admission videov1alpha1.Admission
		want      string
	}{
		{"default: the therapist admits", "", "Therapist"},
		{"automatic", videov1alpha1.AdmissionAutomatic, "Automatic"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession(ns, fmt.Sprintf("admission-%d", i), start)
			s.Spec.Admission = tt.admission
			create(t, s)
			s = waitPhase(t, types.NamespacedName{Namespace: ns, Name: s.Name}, videov1alpha1.PhaseOpen)
			if s.Spec.Admission != videov1alpha1.Admission(tt.want) {
				t.Errorf("spec.admission = %q, want %q", s.Spec.Admission, tt.want)
			}
			env := map[string]string{}
			for _, e := range getPod(t, s).Spec.Containers[0].Env {
				env[e.Name] = e.Value
			}
			if got := env[signalingconfig.EnvAdmission]; got != tt.want {
				t.Errorf("%s = %q, want %q", signalingconfig.EnvAdmission, got, tt.want)
			}
			if got := env[signalingconfig.EnvStartsAt]; got != start.UTC().Format(time.RFC3339) {
				t.Errorf("%s = %q, want the session's start %s", signalingconfig.EnvStartsAt, got, start.UTC().Format(time.RFC3339))
			}
		})
	}
}
